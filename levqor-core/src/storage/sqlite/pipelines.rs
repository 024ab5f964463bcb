//! `PipelineStore` on SQLite: pipelines, runs with their definition
//! snapshot, and one `run_steps` row per finished step. Run creation and
//! settlement share their transaction with the credits ledger.

use rusqlite::{OptionalExtension, Row, params};

use super::ledger::apply_in;
use super::{SqliteStore, json_col, sql_err};
use crate::billing::NewEntry;
use crate::error::{Error, Result};
use crate::pipeline::{
    Pipeline, PipelineDef, PipelineStore, Run, RunStatus, StepRecord, StepStatus,
};

fn def_text(def: &PipelineDef) -> String {
    def.to_json().to_string()
}

fn pipeline_row(r: &Row<'_>) -> rusqlite::Result<(String, String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_pipeline((id, user_id, def, created_at): (String, String, String, i64)) -> Result<Pipeline> {
    Ok(Pipeline {
        id,
        user_id,
        def: PipelineDef::from_stored(&def)?,
        created_at,
    })
}

const RUN_COLS: &str = "id, user_id, pipeline_id, job_id, status, definition, input, \
    credits_reserved, credits_charged, credits_remaining, created_at, started_at, finished_at";

struct RawRun {
    id: String,
    user_id: String,
    pipeline_id: Option<String>,
    job_id: Option<String>,
    status: String,
    def: String,
    input: String,
    reserved: i64,
    charged: i64,
    remaining: Option<i64>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

fn run_row(r: &Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        id: r.get(0)?,
        user_id: r.get(1)?,
        pipeline_id: r.get(2)?,
        job_id: r.get(3)?,
        status: r.get(4)?,
        def: r.get(5)?,
        input: r.get(6)?,
        reserved: r.get(7)?,
        charged: r.get(8)?,
        remaining: r.get(9)?,
        created_at: r.get(10)?,
        started_at: r.get(11)?,
        finished_at: r.get(12)?,
    })
}

fn load_run(c: &rusqlite::Connection, where_col: &str, key: &str) -> Result<Option<Run>> {
    let raw = c
        .prepare_cached(&format!(
            "SELECT {RUN_COLS} FROM runs WHERE {where_col} = ?1"
        ))
        .map_err(sql_err)?
        .query_row([key], run_row)
        .optional()
        .map_err(sql_err)?;
    let Some(raw) = raw else { return Ok(None) };
    let def = PipelineDef::from_stored(&raw.def)?;
    let mut steps: Vec<StepRecord> = def
        .steps
        .iter()
        .map(|s| StepRecord::pending(&s.id))
        .collect();
    let mut stmt = c
        .prepare_cached(
            "SELECT idx, status, attempts, duration_ms, output, error FROM run_steps WHERE run_id = ?1",
        )
        .map_err(sql_err)?;
    let rows = stmt
        .query_map([&raw.id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .map_err(sql_err)?;
    for row in rows {
        let (idx, status, attempts, duration, output, error) = row.map_err(sql_err)?;
        if let Some(rec) = usize::try_from(idx).ok().and_then(|i| steps.get_mut(i)) {
            rec.status = status.parse::<StepStatus>()?;
            rec.attempts = attempts as u32;
            rec.duration_ms = duration as u64;
            rec.output = json_col(output);
            rec.error = error;
        }
    }
    Ok(Some(Run {
        id: raw.id,
        user_id: raw.user_id,
        pipeline_id: raw.pipeline_id,
        job_id: raw.job_id,
        status: raw.status.parse::<RunStatus>()?,
        def,
        input: serde_json::from_str(&raw.input)
            .map_err(|e| Error::Internal(format!("stored run input is unreadable: {e}")))?,
        steps,
        credits_reserved: raw.reserved,
        credits_charged: raw.charged,
        credits_remaining: raw.remaining,
        created_at: raw.created_at,
        started_at: raw.started_at,
        finished_at: raw.finished_at,
    }))
}

impl PipelineStore for SqliteStore {
    fn insert_pipeline(&self, p: &Pipeline) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO pipelines (id, user_id, name, definition, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(sql_err)?
            .execute(params![p.id, p.user_id, p.def.name, def_text(&p.def), p.created_at])
            .map_err(sql_err)?;
            Ok(())
        })
    }

    fn get_pipeline(&self, id: &str) -> Result<Option<Pipeline>> {
        let row = self.read(|c| {
            c.prepare_cached(
                "SELECT id, user_id, definition, created_at FROM pipelines WHERE id = ?1",
            )
            .map_err(sql_err)?
            .query_row([id], pipeline_row)
            .optional()
            .map_err(sql_err)
        })?;
        row.map(to_pipeline).transpose()
    }

    fn list_pipelines(
        &self,
        user_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Pipeline>> {
        let rows = self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, user_id, definition, created_at FROM pipelines \
                     WHERE user_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![user_id, cursor, limit as i64], pipeline_row)
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })?;
        rows.into_iter().map(to_pipeline).collect()
    }

    fn create_run(&self, run: &Run, reserve: Option<&NewEntry>, now_ms: i64) -> Result<()> {
        self.write(|tx| {
            if let Some(e) = reserve {
                apply_in(tx, std::slice::from_ref(e), now_ms)?;
            }
            tx.prepare_cached(&format!(
                "INSERT INTO runs ({RUN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))
            .map_err(sql_err)?
            .execute(params![
                run.id,
                run.user_id,
                run.pipeline_id,
                run.job_id,
                run.status.as_str(),
                def_text(&run.def),
                run.input.to_string(),
                run.credits_reserved,
                run.credits_charged,
                run.credits_remaining,
                run.created_at,
                run.started_at,
                run.finished_at
            ])
            .map_err(sql_err)?;
            Ok(())
        })
    }

    fn get_run(&self, id: &str) -> Result<Option<Run>> {
        self.read(|c| load_run(c, "id", id))
    }

    fn run_for_job(&self, job_id: &str) -> Result<Option<Run>> {
        self.read(|c| load_run(c, "job_id", job_id))
    }

    fn start_run(&self, id: &str, at: i64) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?2) \
                 WHERE id = ?1 AND status IN ('queued', 'running')",
            )
            .map_err(sql_err)?
            .execute(params![id, at])
            .map_err(sql_err)?;
            Ok(())
        })
    }

    fn set_run_job(&self, id: &str, job_id: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE runs SET job_id = ?2 WHERE id = ?1",
                params![id, job_id],
            )
            .map_err(sql_err)?;
            Ok(())
        })
    }

    fn save_step(&self, run_id: &str, index: usize, rec: &StepRecord) -> Result<()> {
        self.write(|tx| save_step_in(tx, run_id, index, rec))
    }

    fn finish_run(
        &self,
        run: &Run,
        status: RunStatus,
        credits_charged: i64,
        settle: Option<&NewEntry>,
        finished_at: i64,
    ) -> Result<Option<i64>> {
        self.write(|tx| {
            // Every step record, in the same commit as the end of the run:
            // sync runs record their steps only here.
            for (index, rec) in run.steps.iter().enumerate() {
                save_step_in(tx, &run.id, index, rec)?;
            }
            if let Some(e) = settle {
                apply_in(tx, std::slice::from_ref(e), finished_at)?;
            }
            let balance: Option<i64> = tx
                .prepare_cached("SELECT credits FROM users WHERE id = ?1")
                .map_err(sql_err)?
                .query_row([&run.user_id], |r| r.get(0))
                .optional()
                .map_err(sql_err)?;
            tx.prepare_cached(
                "UPDATE runs SET status = ?2, credits_charged = ?3, credits_remaining = ?4, \
                 finished_at = ?5 WHERE id = ?1",
            )
            .map_err(sql_err)?
            .execute(params![
                run.id,
                status.as_str(),
                credits_charged,
                balance,
                finished_at
            ])
            .map_err(sql_err)?;
            Ok(balance)
        })
    }
}

/// Inserts or replaces one step record inside an open transaction.
fn save_step_in(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    index: usize,
    rec: &StepRecord,
) -> Result<()> {
    let output = rec.output.as_ref().map(|v| v.to_string());
    tx.prepare_cached(
        "INSERT OR REPLACE INTO run_steps \
         (run_id, idx, step_id, status, attempts, duration_ms, output, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .map_err(sql_err)?
    .execute(params![
        run_id,
        index as i64,
        rec.id,
        rec.status.as_str(),
        rec.attempts,
        rec.duration_ms as i64,
        output,
        rec.error
    ])
    .map_err(sql_err)?;
    Ok(())
}
