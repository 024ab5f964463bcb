//! `AuditStore` on SQLite.

use rusqlite::{Row, params};

use super::{SqliteStore, sql_err};
use crate::audit::{AuditEvent, AuditFilter, AuditStore};
use crate::error::Result;

fn event_row(r: &Row<'_>) -> rusqlite::Result<AuditEvent> {
    let details: String = r.get(4)?;
    Ok(AuditEvent {
        id: r.get(0)?,
        actor_id: r.get(1)?,
        subject_id: r.get(2)?,
        action: r.get(3)?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        created_at: r.get(5)?,
    })
}

const EVENT_COLS: &str = "id, actor_id, subject_id, action, details, created_at";

impl AuditStore for SqliteStore {
    fn record(&self, e: &AuditEvent) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(&format!(
                "INSERT INTO audit_events ({EVENT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))
            .map_err(sql_err)?
            .execute(params![
                e.id,
                e.actor_id,
                e.subject_id,
                e.action,
                e.details.to_string(),
                e.created_at
            ])
            .map_err(sql_err)?;
            Ok(())
        })
    }

    fn list_events(&self, f: &AuditFilter) -> Result<Vec<AuditEvent>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLS} FROM audit_events \
                     WHERE (?1 IS NULL OR subject_id = ?1) AND (?2 IS NULL OR action = ?2) \
                     AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
                ))
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(
                    params![f.subject_id, f.action, f.cursor, f.limit as i64],
                    event_row,
                )
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })
    }

    fn events_about(&self, user_id: &str) -> Result<Vec<AuditEvent>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLS} FROM audit_events \
                     WHERE actor_id = ?1 OR subject_id = ?1 ORDER BY id"
                ))
                .map_err(sql_err)?;
            let rows = stmt.query_map([user_id], event_row).map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })
    }
}
