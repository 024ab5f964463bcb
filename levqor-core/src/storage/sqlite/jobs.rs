//! `JobStore` on SQLite.

use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, json_col, sql_err};
use crate::error::{Error, Result};
use crate::queue::{
    CancelOutcome, Completion, Enqueued, Job, JobFilter, JobStatus, JobStore, NewJob, Outcome,
    QueueCounts, WorkerInfo,
};

const COLS: &str = "id, user_id, kind, status, priority, payload, result, error, attempts, \
    max_attempts, timeout_ms, idempotency_key, created_at, run_at, started_at, finished_at, \
    lease_owner, lease_expires_at";

fn row_to_job(r: &Row<'_>) -> rusqlite::Result<Job> {
    let status: String = r.get(3)?;
    let payload: String = r.get(5)?;
    Ok(Job {
        id: r.get(0)?,
        user_id: r.get(1)?,
        kind: r.get(2)?,
        status: status.parse().unwrap_or(JobStatus::Dead),
        priority: r.get(4)?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        result: json_col(r.get(6)?),
        error: r.get(7)?,
        attempts: r.get(8)?,
        max_attempts: r.get(9)?,
        timeout_ms: r.get(10)?,
        idempotency_key: r.get(11)?,
        created_at: r.get(12)?,
        run_at: r.get(13)?,
        started_at: r.get(14)?,
        finished_at: r.get(15)?,
        lease_owner: r.get(16)?,
        lease_expires_at: r.get(17)?,
    })
}

/// Inserts jobs inside an open transaction (see `JobStore::enqueue_batch`).
fn enqueue_in(tx: &rusqlite::Transaction<'_>, jobs: &[NewJob]) -> Result<Vec<Enqueued>> {
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO jobs (id, user_id, kind, status, priority, payload, attempts, \
             max_attempts, timeout_ms, idempotency_key, created_at, run_at) \
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5, 0, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT DO NOTHING",
        )
        .map_err(sql_err)?;
    let mut existing = tx
        .prepare_cached("SELECT id, status FROM jobs WHERE user_id = ?1 AND idempotency_key = ?2")
        .map_err(sql_err)?;
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        let payload =
            serde_json::to_string(&j.payload).map_err(|e| Error::Internal(e.to_string()))?;
        let n = insert
            .execute(params![
                j.id,
                j.user_id,
                j.kind,
                j.priority,
                payload,
                j.max_attempts,
                j.timeout_ms,
                j.idempotency_key,
                j.created_at,
                j.run_at
            ])
            .map_err(sql_err)?;
        if n == 1 {
            out.push(Enqueued {
                job_id: j.id.clone(),
                created: true,
                status: JobStatus::Queued,
            });
            continue;
        }
        let key = j
            .idempotency_key
            .as_deref()
            .ok_or_else(|| Error::Internal(format!("job id collision on {}", j.id)))?;
        let (id, status): (String, String) = existing
            .query_row(params![j.user_id, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql_err)?;
        out.push(Enqueued {
            job_id: id,
            created: false,
            status: status.parse()?,
        });
    }
    Ok(out)
}

/// Applies completions inside an open transaction.
fn complete_in(tx: &rusqlite::Transaction<'_>, completions: &[Completion]) -> Result<Vec<bool>> {
    let mut ok_stmt = tx
        .prepare_cached(
            "UPDATE jobs SET status = 'succeeded', result = ?3, error = NULL, \
               finished_at = ?4, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'",
        )
        .map_err(sql_err)?;
    let mut fail_stmt = tx
        .prepare_cached(
            "UPDATE jobs SET status = ?3, error = ?4, run_at = COALESCE(?5, run_at), \
               finished_at = ?6, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'",
        )
        .map_err(sql_err)?;
    let mut out = Vec::with_capacity(completions.len());
    for c in completions {
        let n = match &c.outcome {
            Outcome::Succeeded(v) => {
                let text = serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))?;
                ok_stmt.execute(params![c.job_id, c.worker_id, text, c.at])
            }
            Outcome::Failed { error, retry_at } => {
                let (status, finished) = match retry_at {
                    Some(_) => ("failed", None),
                    None => ("dead", Some(c.at)),
                };
                fail_stmt.execute(params![
                    c.job_id,
                    c.worker_id,
                    status,
                    error,
                    retry_at,
                    finished
                ])
            }
        }
        .map_err(sql_err)?;
        out.push(n == 1);
    }
    Ok(out)
}

/// Expires lost leases (when `reap`) and claims up to `max` ready jobs,
/// inside an open transaction.
fn claim_in(
    tx: &rusqlite::Transaction<'_>,
    reap: bool,
    worker_id: &str,
    max: usize,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Vec<Job>> {
    if reap {
        // Expire lost leases: the worker holding them is gone.
        tx.prepare_cached(
            "UPDATE jobs INDEXED BY jobs_leases SET \
               status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'failed' END, \
               finished_at = CASE WHEN attempts >= max_attempts THEN ?1 ELSE NULL END, \
               error = 'lease expired: the worker running this attempt was lost', \
               lease_owner = NULL, lease_expires_at = NULL, run_at = ?1 \
             WHERE status = 'running' AND lease_expires_at <= ?1",
        )
        .map_err(sql_err)?
        .execute([now_ms])
        .map_err(sql_err)?;
    }
    if max == 0 {
        return Ok(Vec::new());
    }
    let sql = format!(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?1, \
           lease_expires_at = ?2, started_at = ?3 \
         WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_ready \
           WHERE status IN ('queued', 'failed') \
           AND run_at <= ?3 ORDER BY priority, run_at, id LIMIT ?4) \
         RETURNING {COLS}"
    );
    let mut stmt = tx.prepare_cached(&sql).map_err(sql_err)?;
    let rows = stmt
        .query_map(
            params![worker_id, now_ms + lease_ms, now_ms, max as i64],
            row_to_job,
        )
        .map_err(sql_err)?;
    let mut jobs = rows
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql_err)?;
    jobs.sort_by(|a, b| (a.priority, a.run_at, &a.id).cmp(&(b.priority, b.run_at, &b.id)));
    Ok(jobs)
}

/// How often a claim also expires lost leases. Expired leases are therefore
/// reclaimed at most this long after they run out, which is far below any
/// sensible lease (the default is 30 s).
const REAP_EVERY_MS: i64 = 250;

impl SqliteStore {
    /// Whether this claim should reap expired leases (at most every
    /// [`REAP_EVERY_MS`] per store, and whenever the clock moved backwards).
    fn reap_due(&self, now_ms: i64) -> bool {
        use std::sync::atomic::Ordering;
        let last = self.last_reap_ms.load(Ordering::Relaxed);
        if now_ms >= last && now_ms.saturating_sub(last) < REAP_EVERY_MS {
            return false;
        }
        self.last_reap_ms
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether any job is ready to run (a read: no write lock).
    fn has_ready(&self, now_ms: i64) -> Result<bool> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_due \
                 WHERE status IN ('queued', 'failed') AND run_at <= ?1)",
            )
            .map_err(sql_err)?
            .query_row([now_ms], |r| r.get(0))
            .map_err(sql_err)
        })
    }
}

impl JobStore for SqliteStore {
    fn enqueue_batch(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|tx| enqueue_in(tx, jobs))
    }

    fn write_combined(
        &self,
        jobs: &[NewJob],
        work: &[crate::queue::WorkRequest],
        now_ms: i64,
    ) -> Result<(Vec<Enqueued>, Vec<(Vec<bool>, Vec<Job>)>)> {
        let reap = self.reap_due(now_ms);
        self.write(|tx| {
            let enqueued = if jobs.is_empty() {
                Vec::new()
            } else {
                enqueue_in(tx, jobs)?
            };
            let mut claimed = Vec::with_capacity(work.len());
            for (i, w) in work.iter().enumerate() {
                let applied = complete_in(tx, &w.completions)?;
                let jobs = claim_in(tx, reap && i == 0, &w.worker_id, w.max, now_ms, w.lease_ms)?;
                claimed.push((applied, jobs));
            }
            Ok((enqueued, claimed))
        })
    }

    fn get(&self, id: &str) -> Result<Option<Job>> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {COLS} FROM jobs WHERE id = ?1"))
                .map_err(sql_err)?
                .query_row([id], row_to_job)
                .optional()
                .map_err(sql_err)
        })
    }

    fn list(&self, f: &JobFilter) -> Result<Vec<Job>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {COLS} FROM jobs WHERE (?1 IS NULL OR user_id = ?1) \
                 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR id < ?3) \
                 ORDER BY id DESC LIMIT ?4"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(sql_err)?;
            let rows = stmt
                .query_map(
                    params![
                        f.user_id,
                        f.status.map(JobStatus::as_str),
                        f.cursor,
                        f.limit as i64
                    ],
                    row_to_job,
                )
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })
    }

    fn cancel(&self, id: &str, now_ms: i64) -> Result<CancelOutcome> {
        self.write(|tx| {
            let n = tx
                .execute(
                    "UPDATE jobs SET status = 'cancelled', finished_at = ?2 \
                     WHERE id = ?1 AND status IN ('queued', 'failed')",
                    params![id, now_ms],
                )
                .map_err(sql_err)?;
            if n == 1 {
                return Ok(CancelOutcome::Cancelled);
            }
            let exists: Option<i64> = tx
                .query_row("SELECT 1 FROM jobs WHERE id = ?1", [id], |r| r.get(0))
                .optional()
                .map_err(sql_err)?;
            Ok(if exists.is_some() {
                CancelOutcome::NotCancellable
            } else {
                CancelOutcome::NotFound
            })
        })
    }

    fn claim(&self, worker_id: &str, max: usize, now_ms: i64, lease_ms: i64) -> Result<Vec<Job>> {
        let reap = self.reap_due(now_ms);
        // Most idle looks find nothing: answer those from a read, without
        // taking the write lock.
        if !reap && !self.has_ready(now_ms)? {
            return Ok(Vec::new());
        }
        self.write(|tx| claim_in(tx, reap, worker_id, max, now_ms, lease_ms))
    }

    fn complete_and_claim(
        &self,
        completions: &[Completion],
        worker_id: &str,
        max: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<(Vec<bool>, Vec<Job>)> {
        let reap = self.reap_due(now_ms);
        self.write(|tx| {
            let applied = complete_in(tx, completions)?;
            let jobs = claim_in(tx, reap, worker_id, max, now_ms, lease_ms)?;
            Ok((applied, jobs))
        })
    }

    fn heartbeat(
        &self,
        worker_id: &str,
        job_ids: &[String],
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<usize> {
        if job_ids.is_empty() {
            return Ok(0);
        }
        self.write(|tx| {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE jobs SET lease_expires_at = ?3 \
                     WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'",
                )
                .map_err(sql_err)?;
            let mut n = 0;
            for id in job_ids {
                n += stmt
                    .execute(params![id, worker_id, now_ms + lease_ms])
                    .map_err(sql_err)?;
            }
            Ok(n)
        })
    }

    fn complete(&self, completions: &[Completion]) -> Result<Vec<bool>> {
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|tx| complete_in(tx, completions))
    }

    fn release(&self, worker_id: &str, job_ids: &[String]) -> Result<usize> {
        if job_ids.is_empty() {
            return Ok(0);
        }
        self.write(|tx| {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE jobs SET status = CASE WHEN error IS NULL THEN 'queued' ELSE 'failed' END, \
                       attempts = MAX(attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL \
                     WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'",
                )
                .map_err(sql_err)?;
            let mut n = 0;
            for id in job_ids {
                n += stmt.execute(params![id, worker_id]).map_err(sql_err)?;
            }
            Ok(n)
        })
    }

    fn counts(&self, now_ms: i64, worker_ttl_ms: i64) -> Result<QueueCounts> {
        self.read(|c| {
            let mut out = QueueCounts::default();
            let mut stmt = c
                .prepare_cached("SELECT status, COUNT(*) FROM jobs GROUP BY status")
                .map_err(sql_err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(sql_err)?;
            for row in rows {
                let (status, n) = row.map_err(sql_err)?;
                match status.as_str() {
                    "queued" => out.queued = n,
                    "running" => out.running = n,
                    "failed" => out.failed = n,
                    "dead" => out.dead = n,
                    "succeeded" => out.succeeded = n,
                    "cancelled" => out.cancelled = n,
                    _ => {}
                }
            }
            let oldest: Option<i64> = c
                .query_row(
                    "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_due \
                     WHERE status IN ('queued', 'failed') AND run_at <= ?1",
                    [now_ms],
                    |r| r.get(0),
                )
                .map_err(sql_err)?;
            out.oldest_queued_age_s = oldest.map(|t| ((now_ms - t) / 1000).max(0)).unwrap_or(0);
            out.workers = c
                .query_row(
                    "SELECT COUNT(*) FROM workers WHERE last_seen_at > ?1",
                    [now_ms - worker_ttl_ms],
                    |r| r.get(0),
                )
                .map_err(sql_err)?;
            Ok(out)
        })
    }

    fn retry_dead(&self, ids: Option<&[String]>, now_ms: i64) -> Result<usize> {
        self.write(|tx| {
            let sql = "UPDATE jobs SET status = 'queued', attempts = 0, run_at = ?1, \
                       finished_at = NULL, started_at = NULL WHERE status = 'dead'";
            match ids {
                None => tx.execute(sql, [now_ms]).map_err(sql_err),
                Some(ids) => {
                    let mut stmt = tx
                        .prepare_cached(&format!("{sql} AND id = ?2"))
                        .map_err(sql_err)?;
                    let mut n = 0;
                    for id in ids {
                        n += stmt.execute(params![now_ms, id]).map_err(sql_err)?;
                    }
                    Ok(n)
                }
            }
        })
    }

    fn next_run_at(&self) -> Result<Option<i64>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_due WHERE status IN ('queued', 'failed')",
            )
                .map_err(sql_err)?
                .query_row([], |r| r.get(0))
                .map_err(sql_err)
        })
    }

    fn worker_seen(&self, w: &WorkerInfo, now_ms: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO workers (id, hostname, pid, threads, started_at, last_seen_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT(id) DO UPDATE SET last_seen_at = excluded.last_seen_at",
                params![w.id, w.hostname, w.pid, w.threads, w.started_at, now_ms],
            )
            .map_err(sql_err)?;
            Ok(())
        })
    }

    fn worker_gone(&self, worker_id: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM workers WHERE id = ?1", [worker_id])
                .map_err(sql_err)?;
            Ok(())
        })
    }
}
