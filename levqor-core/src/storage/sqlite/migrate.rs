//! Numbered migrations, applied in order at open, each in its own
//! transaction and recorded in `schema_migrations`. Idempotent; a database
//! whose newest migration is unknown to this binary is refused.

use rusqlite::Connection;

use super::sql_err;
use crate::error::{Error, Result};

/// `(version, name, sql)` of every migration this binary knows.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../../../migrations/0001_foundation.sql"),
    ),
    (
        2,
        "ledger",
        include_str!("../../../migrations/0002_ledger.sql"),
    ),
    (
        3,
        "identity",
        include_str!("../../../migrations/0003_identity.sql"),
    ),
    (
        4,
        "pipelines",
        include_str!("../../../migrations/0004_pipelines.sql"),
    ),
];

/// The highest migration version applied to this database (0 when new).
///
/// # Errors
/// Storage errors.
pub fn schema_version(conn: &Connection) -> Result<i64> {
    ensure_table(conn)?;
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )
    .map_err(sql_err)
}

fn ensure_table(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .map_err(sql_err)
}

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let latest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    // Take the write lock first so two processes starting together do not
    // both apply the same migration.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    let current = schema_version(&tx)?;
    if current > latest {
        return Err(Error::Config(format!(
            "database schema version {current} is newer than this binary supports ({latest}); \
             upgrade Levqor"
        )));
    }
    // Apply every known migration not yet recorded, in order, so a
    // migration numbered below one already applied (branches merged in
    // another order) is not skipped.
    let applied: Vec<i64> = {
        let mut stmt = tx
            .prepare("SELECT version FROM schema_migrations")
            .map_err(sql_err)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(sql_err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql_err)?
    };
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| !applied.contains(&m.0)) {
        tx.execute_batch(sql).map_err(sql_err)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                version,
                name,
                crate::clock::rfc3339(chrono::Utc::now().timestamp_millis())
            ],
        )
        .map_err(sql_err)?;
    }
    tx.commit().map_err(sql_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skipped_lower_migration_is_still_applied() {
        let mut c = Connection::open_in_memory().unwrap();
        ensure_table(&c).unwrap();
        let last = MIGRATIONS.len() - 1;
        // Everything but the one before the newest, as a database migrated by
        // a build whose branches merged in another order would be.
        for (i, (version, name, sql)) in MIGRATIONS.iter().enumerate() {
            if i + 1 == last {
                continue;
            }
            c.execute_batch(sql).unwrap();
            c.execute(
                "INSERT INTO schema_migrations VALUES (?1, ?2, 'x')",
                rusqlite::params![version, name],
            )
            .unwrap();
        }
        migrate(&mut c).unwrap();
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n as usize, MIGRATIONS.len());
    }

    #[test]
    fn migrate_is_idempotent_and_refuses_newer_schema() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        migrate(&mut c).unwrap();
        assert_eq!(schema_version(&c).unwrap(), MIGRATIONS.last().unwrap().0);
        c.execute(
            "INSERT INTO schema_migrations VALUES (9999, 'future', 'x')",
            [],
        )
        .unwrap();
        let e = migrate(&mut c).unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
    }
}
