//! `LedgerStore` on SQLite.

use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, sql_err};
use crate::billing::{LedgerEntry, LedgerStore, NewEntry};
use crate::error::{Error, Result};

fn entry_row(r: &Row<'_>) -> rusqlite::Result<(LedgerEntry, String)> {
    let kind: String = r.get(2)?;
    Ok((
        LedgerEntry {
            id: r.get(0)?,
            user_id: r.get(1)?,
            kind: crate::billing::EntryKind::Grant,
            amount: r.get(3)?,
            balance_after: r.get(4)?,
            reference: r.get(5)?,
            idempotency_key: r.get(6)?,
            created_at: r.get(7)?,
        },
        kind,
    ))
}

fn finish(pair: (LedgerEntry, String)) -> Result<LedgerEntry> {
    let (mut e, kind) = pair;
    e.kind = kind.parse()?;
    Ok(e)
}

const COLS: &str =
    "id, user_id, kind, amount, balance_after, reference, idempotency_key, created_at";

/// Applies entries inside an open transaction (also used by user creation).
pub(crate) fn apply_in(
    tx: &rusqlite::Transaction<'_>,
    entries: &[NewEntry],
    now_ms: i64,
) -> Result<Vec<LedgerEntry>> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        if let Some(key) = &e.idempotency_key {
            let prior = tx
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM ledger_entries WHERE idempotency_key = ?1"
                ))
                .map_err(sql_err)?
                .query_row([key], entry_row)
                .optional()
                .map_err(sql_err)?;
            if let Some(p) = prior {
                out.push(finish(p)?);
                continue;
            }
        }
        // One guarded UPDATE: the balance can never go below zero, whatever
        // runs concurrently (SQLite serialises writers).
        let balance: Option<i64> = tx
            .prepare_cached(
                "UPDATE users SET credits = credits + ?2 \
                 WHERE id = ?1 AND (?2 >= 0 OR credits + ?2 >= 0) RETURNING credits",
            )
            .map_err(sql_err)?
            .query_row(params![e.user_id, e.amount], |r| r.get(0))
            .optional()
            .map_err(sql_err)?;
        let Some(balance) = balance else {
            let available: Option<i64> = tx
                .query_row(
                    "SELECT credits FROM users WHERE id = ?1",
                    [&e.user_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql_err)?;
            return Err(match available {
                Some(available) => Error::InsufficientCredits {
                    needed: -e.amount,
                    available,
                },
                None => Error::NotFound("user"),
            });
        };
        let entry = LedgerEntry {
            id: crate::ids::new_id("led", now_ms),
            user_id: e.user_id.clone(),
            kind: e.kind,
            amount: e.amount,
            balance_after: balance,
            reference: e.reference.clone(),
            idempotency_key: e.idempotency_key.clone(),
            created_at: now_ms,
        };
        tx.prepare_cached(&format!(
            "INSERT INTO ledger_entries ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        ))
        .map_err(sql_err)?
        .execute(params![
            entry.id,
            entry.user_id,
            entry.kind.as_str(),
            entry.amount,
            entry.balance_after,
            entry.reference,
            entry.idempotency_key,
            entry.created_at
        ])
        .map_err(sql_err)?;
        out.push(entry);
    }
    Ok(out)
}

impl LedgerStore for SqliteStore {
    fn apply(&self, entries: &[NewEntry], now_ms: i64) -> Result<Vec<LedgerEntry>> {
        self.write(|tx| apply_in(tx, entries, now_ms))
    }

    fn entries(&self, user_id: &str) -> Result<Vec<LedgerEntry>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM ledger_entries WHERE user_id = ?1 ORDER BY id"
                ))
                .map_err(sql_err)?;
            let rows = stmt.query_map([user_id], entry_row).map_err(sql_err)?;
            let raw = rows
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql_err)?;
            raw.into_iter().map(finish).collect()
        })
    }

    fn balance(&self, user_id: &str) -> Result<i64> {
        self.read(|c| {
            c.query_row("SELECT credits FROM users WHERE id = ?1", [user_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql_err)?
            .ok_or(Error::NotFound("user"))
        })
    }
}
