//! `FlagStore` on SQLite: flag states as JSON, and every change with its
//! before and after states. "Newest change" is insertion order (rowid), not
//! the id, whose random tail does not order changes within a millisecond.

use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, sql_err};
use crate::error::{Error, Result};
use crate::flags::{FlagChange, FlagState, FlagStore};

fn state_of(text: &str) -> Result<FlagState> {
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("stored flag is corrupt: {e}")))
}

fn to_text(s: &FlagState) -> Result<String> {
    serde_json::to_string(s).map_err(|e| Error::Internal(e.to_string()))
}

fn change_row(r: &Row<'_>) -> rusqlite::Result<(FlagChange, Option<String>, String)> {
    Ok((
        FlagChange {
            id: r.get(0)?,
            flag: r.get(1)?,
            actor_id: r.get(2)?,
            before: None,
            after: FlagState::default(),
            created_at: r.get(5)?,
        },
        r.get(3)?,
        r.get(4)?,
    ))
}

fn finish_change(raw: (FlagChange, Option<String>, String)) -> Result<FlagChange> {
    let (mut c, before, after) = raw;
    c.before = before.as_deref().map(state_of).transpose()?;
    c.after = state_of(&after)?;
    Ok(c)
}

impl FlagStore for SqliteStore {
    fn list_flags(&self) -> Result<Vec<(String, FlagState)>> {
        let raw: Vec<(String, String)> = self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT name, state FROM feature_flags ORDER BY name")
                .map_err(sql_err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })?;
        raw.into_iter()
            .map(|(n, s)| Ok((n, state_of(&s)?)))
            .collect()
    }

    fn get_flag(&self, name: &str) -> Result<Option<FlagState>> {
        let raw: Option<String> = self.read(|c| {
            c.query_row(
                "SELECT state FROM feature_flags WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql_err)
        })?;
        raw.as_deref().map(state_of).transpose()
    }

    fn set_flag(
        &self,
        name: &str,
        update: &dyn Fn(Option<FlagState>) -> Result<FlagState>,
        actor_id: Option<&str>,
        now_ms: i64,
    ) -> Result<FlagChange> {
        self.write(|tx| {
            let before: Option<String> = tx
                .query_row("SELECT state FROM feature_flags WHERE name = ?1", [name], |r| r.get(0))
                .optional()
                .map_err(sql_err)?;
            let before = before.as_deref().map(state_of).transpose()?;
            let after = update(before.clone())?;
            tx.execute(
                "INSERT INTO feature_flags (name, state, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(name) DO UPDATE SET state = ?2, updated_at = ?3, updated_by = ?4",
                params![name, to_text(&after)?, now_ms, actor_id],
            )
            .map_err(sql_err)?;
            let change = FlagChange {
                id: crate::ids::new_id("flc", now_ms),
                flag: name.to_string(),
                actor_id: actor_id.map(str::to_string),
                before,
                after,
                created_at: now_ms,
            };
            tx.execute(
                "INSERT INTO flag_changes (id, flag, actor_id, before, after, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    change.id,
                    change.flag,
                    change.actor_id,
                    change.before.as_ref().map(to_text).transpose()?,
                    to_text(&change.after)?,
                    now_ms
                ],
            )
            .map_err(sql_err)?;
            Ok(change)
        })
    }

    fn rollback_last(&self, actor_id: Option<&str>, now_ms: i64) -> Result<Option<FlagChange>> {
        self.write(|tx| {
            let last = tx
                .query_row(
                    "SELECT id, flag, actor_id, before, after, created_at FROM flag_changes \
                     WHERE rolled_back = 0 ORDER BY rowid DESC LIMIT 1",
                    [],
                    change_row,
                )
                .optional()
                .map_err(sql_err)?;
            let Some(last) = last.map(finish_change).transpose()? else { return Ok(None) };
            tx.execute("UPDATE flag_changes SET rolled_back = 1 WHERE id = ?1", [&last.id])
                .map_err(sql_err)?;
            match &last.before {
                Some(prev) => tx.execute(
                    "UPDATE feature_flags SET state = ?2, updated_at = ?3, updated_by = ?4 WHERE name = ?1",
                    params![last.flag, to_text(prev)?, now_ms, actor_id],
                ),
                None => tx.execute("DELETE FROM feature_flags WHERE name = ?1", [&last.flag]),
            }
            .map_err(sql_err)?;
            Ok(Some(last))
        })
    }

    fn flag_history(&self, name: &str) -> Result<Vec<FlagChange>> {
        let raw = self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, flag, actor_id, before, after, created_at FROM flag_changes \
                     WHERE flag = ?1 ORDER BY rowid",
                )
                .map_err(sql_err)?;
            let rows = stmt.query_map([name], change_row).map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })?;
        raw.into_iter().map(finish_change).collect()
    }
}
