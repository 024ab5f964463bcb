//! `TokenStore` on SQLite: token families, single-use refresh tokens and the
//! access-token table that doubles as the revocation list.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{SqliteStore, sql_err};
use crate::auth::tokens::{
    AccessStatus, IssuedPair, LEEWAY_S, RefreshOutcome, TokenFamily, TokenStore,
};
use crate::error::Result;
use crate::users::Role;

fn insert_pair(tx: &Transaction<'_>, p: &IssuedPair, now_ms: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(sql_err)?
    .execute(params![
        p.refresh_hash,
        p.family_id,
        p.user_id,
        now_ms,
        p.refresh_expires_at
    ])
    .map_err(sql_err)?;
    tx.prepare_cached(
        "INSERT INTO access_tokens (jti, family_id, user_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .map_err(sql_err)?
    .execute(params![p.jti, p.family_id, p.user_id, p.access_expires_at])
    .map_err(sql_err)?;
    Ok(())
}

fn revoke_family(tx: &Transaction<'_>, family_id: &str, why: &str, now_ms: i64) -> Result<()> {
    tx.execute(
        "UPDATE token_families SET revoked_at = ?2, revoked_why = ?3 \
         WHERE id = ?1 AND revoked_at IS NULL",
        params![family_id, now_ms, why],
    )
    .map_err(sql_err)?;
    tx.execute(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
        params![family_id, now_ms],
    )
    .map_err(sql_err)?;
    tx.execute(
        "UPDATE access_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
        params![family_id, now_ms],
    )
    .map_err(sql_err)?;
    Ok(())
}

struct Found {
    family: TokenFamily,
    role: String,
    expires_at: i64,
    spent: bool,
    revoked: bool,
}

impl TokenStore for SqliteStore {
    fn start_family(&self, family: &TokenFamily, pair: &IssuedPair) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO token_families (id, user_id, device_hash, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    family.id,
                    family.user_id,
                    family.device_hash,
                    family.created_at
                ],
            )
            .map_err(sql_err)?;
            insert_pair(tx, pair, family.created_at)
        })
    }

    fn rotate(
        &self,
        old_hash: &str,
        device_hash: Option<&str>,
        next: &IssuedPair,
        now_ms: i64,
    ) -> Result<RefreshOutcome> {
        self.write(|tx| {
            let found = tx
                .prepare_cached(
                    "SELECT f.id, f.user_id, f.device_hash, f.created_at, f.revoked_at, \
                     u.role, r.expires_at, r.spent_at IS NOT NULL, r.revoked_at IS NOT NULL \
                     FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id \
                     JOIN users u ON u.id = f.user_id WHERE r.token_hash = ?1",
                )
                .map_err(sql_err)?
                .query_row([old_hash], |r| {
                    Ok(Found {
                        family: TokenFamily {
                            id: r.get(0)?,
                            user_id: r.get(1)?,
                            device_hash: r.get(2)?,
                            created_at: r.get(3)?,
                            revoked_at: r.get(4)?,
                        },
                        role: r.get(5)?,
                        expires_at: r.get(6)?,
                        spent: r.get(7)?,
                        revoked: r.get(8)?,
                    })
                })
                .optional()
                .map_err(sql_err)?;
            let Some(f) = found else {
                return Ok(RefreshOutcome::Invalid);
            };
            if f.family.revoked_at.is_some() || f.revoked {
                return Ok(RefreshOutcome::Invalid);
            }
            if f.family.device_hash.is_some() && f.family.device_hash.as_deref() != device_hash {
                return Ok(RefreshOutcome::DeviceMismatch);
            }
            if f.spent {
                revoke_family(tx, &f.family.id, "refresh token reused", now_ms)?;
                return Ok(RefreshOutcome::Reused(f.family));
            }
            if f.expires_at <= now_ms {
                return Ok(RefreshOutcome::Invalid);
            }
            // The one guarded UPDATE that makes a refresh token single use.
            let n = tx
                .prepare_cached(
                    "UPDATE refresh_tokens SET spent_at = ?2 \
                     WHERE token_hash = ?1 AND spent_at IS NULL AND revoked_at IS NULL",
                )
                .map_err(sql_err)?
                .execute(params![old_hash, now_ms])
                .map_err(sql_err)?;
            if n != 1 {
                revoke_family(tx, &f.family.id, "refresh token reused", now_ms)?;
                return Ok(RefreshOutcome::Reused(f.family));
            }
            let pair = IssuedPair {
                family_id: f.family.id.clone(),
                user_id: f.family.user_id.clone(),
                ..next.clone()
            };
            insert_pair(tx, &pair, now_ms)?;
            let role: Role = f.role.parse()?;
            Ok(RefreshOutcome::Rotated(f.family, role))
        })
    }

    fn access_status(&self, jti: &str) -> Result<Option<AccessStatus>> {
        let row = self.read(|c| {
            c.prepare_cached(
                "SELECT a.user_id, u.role, a.family_id, \
                 a.revoked_at IS NOT NULL OR f.revoked_at IS NOT NULL \
                 FROM access_tokens a JOIN token_families f ON f.id = a.family_id \
                 JOIN users u ON u.id = a.user_id WHERE a.jti = ?1",
            )
            .map_err(sql_err)?
            .query_row([jti], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })
            .optional()
            .map_err(sql_err)
        })?;
        row.map(|(user_id, role, family_id, revoked)| {
            Ok(AccessStatus {
                user_id,
                role: role.parse()?,
                family_id,
                revoked,
            })
        })
        .transpose()
    }

    fn revoke_access(&self, jti: &str, user_id: &str, now_ms: i64) -> Result<bool> {
        self.write(|tx| {
            let owner: Option<String> = tx
                .query_row(
                    "SELECT user_id FROM access_tokens WHERE jti = ?1",
                    [jti],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql_err)?;
            if owner.as_deref() != Some(user_id) {
                return Ok(false);
            }
            tx.execute(
                "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE jti = ?1",
                params![jti, now_ms],
            )
            .map_err(sql_err)?;
            Ok(true)
        })
    }

    fn revoke_refresh(&self, hash: &str, user_id: &str, now_ms: i64) -> Result<bool> {
        self.write(|tx| {
            let found: Option<(String, String)> = tx
                .query_row(
                    "SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = ?1",
                    [hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(sql_err)?;
            match found {
                Some((family, owner)) if owner == user_id => {
                    revoke_family(tx, &family, "revoked by owner", now_ms)?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn families(&self, user_id: &str) -> Result<Vec<TokenFamily>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, user_id, device_hash, created_at, revoked_at FROM token_families \
                     WHERE user_id = ?1 ORDER BY rowid",
                )
                .map_err(sql_err)?;
            let rows = stmt
                .query_map([user_id], |r| {
                    Ok(TokenFamily {
                        id: r.get(0)?,
                        user_id: r.get(1)?,
                        device_hash: r.get(2)?,
                        created_at: r.get(3)?,
                        revoked_at: r.get(4)?,
                    })
                })
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })
    }

    fn revoke_user(&self, user_id: &str, now_ms: i64) -> Result<usize> {
        self.write(|tx| {
            let ids: Vec<String> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT id FROM token_families WHERE user_id = ?1 AND revoked_at IS NULL",
                    )
                    .map_err(sql_err)?;
                let rows = stmt.query_map([user_id], |r| r.get(0)).map_err(sql_err)?;
                rows.collect::<rusqlite::Result<_>>().map_err(sql_err)?
            };
            for id in &ids {
                revoke_family(tx, id, "all sessions revoked", now_ms)?;
            }
            Ok(ids.len())
        })
    }

    fn prune(&self, now_ms: i64) -> Result<usize> {
        let cutoff = now_ms - LEEWAY_S * 1000;
        self.write(|tx| {
            let mut n = tx
                .execute("DELETE FROM access_tokens WHERE expires_at < ?1", [cutoff])
                .map_err(sql_err)?;
            n += tx
                .execute("DELETE FROM refresh_tokens WHERE expires_at < ?1", [cutoff])
                .map_err(sql_err)?;
            n += tx
                .execute(
                    "DELETE FROM token_families WHERE created_at < ?1 \
                     AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = token_families.id) \
                     AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.family_id = token_families.id)",
                    [cutoff],
                )
                .map_err(sql_err)?;
            Ok(n)
        })
    }
}
