//! `UserStore` and `ApiKeyStore` on SQLite. Email and name are encrypted
//! here with the store's [`PiiKeys`]; lookups go through the blind index.

use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, sql_err};
use crate::auth::{ApiKeyRecord, ApiKeyStore};
use crate::crypto::{Cipher, hmac_hex};
use crate::error::{Error, Result};
use crate::users::{NewUser, Role, SignupFacts, User, UserPatch, UserStore};

/// Keys protecting PII at rest.
#[derive(Clone, Debug)]
pub struct PiiKeys {
    /// AES-128-GCM cipher (current key plus older ones).
    pub cipher: Cipher,
    /// HMAC key of the email blind index.
    pub blind_index_key: Vec<u8>,
}

impl PiiKeys {
    /// Blind index of a normalised email.
    pub fn email_index(&self, email: &str) -> String {
        hmac_hex(&self.blind_index_key, email.as_bytes())
    }
}

const USER_COLS: &str = "id, email_ct, name_ct, role, credits, referral_code, locale, \
    marketing_opt_in, created_at, updated_at";

struct RawUser {
    id: String,
    email_ct: String,
    name_ct: Option<String>,
    role: String,
    credits: i64,
    referral_code: String,
    locale: Option<String>,
    marketing_opt_in: bool,
    created_at: i64,
    updated_at: i64,
}

fn raw_user(r: &Row<'_>) -> rusqlite::Result<RawUser> {
    Ok(RawUser {
        id: r.get(0)?,
        email_ct: r.get(1)?,
        name_ct: r.get(2)?,
        role: r.get(3)?,
        credits: r.get(4)?,
        referral_code: r.get(5)?,
        locale: r.get(6)?,
        marketing_opt_in: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

impl SqliteStore {
    fn decrypt_user(&self, raw: RawUser) -> Result<User> {
        let c = &self.pii.cipher;
        Ok(User {
            email: c.decrypt(&raw.email_ct)?,
            name: raw.name_ct.as_deref().map(|n| c.decrypt(n)).transpose()?,
            role: raw.role.parse()?,
            id: raw.id,
            credits: raw.credits,
            referral_code: raw.referral_code,
            locale: raw.locale,
            marketing_opt_in: raw.marketing_opt_in,
            created_at: raw.created_at,
            updated_at: raw.updated_at,
        })
    }

    fn user_where(&self, clause: &str, arg: &str) -> Result<Option<User>> {
        let raw = self.read(|c| {
            c.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE {clause}"))
                .map_err(sql_err)?
                .query_row([arg], raw_user)
                .optional()
                .map_err(sql_err)
        })?;
        raw.map(|r| self.decrypt_user(r)).transpose()
    }
}

fn insert_user(
    tx: &rusqlite::Transaction<'_>,
    pii: &PiiKeys,
    new: &NewUser,
    facts: &SignupFacts,
    now_ms: i64,
) -> Result<Option<String>> {
    let id = crate::ids::new_id("usr", now_ms);
    let referral = crate::ids::random_token(5).to_uppercase();
    let n = tx
        .execute(
            "INSERT INTO users (id, email_bidx, email_ct, name_ct, role, credits, \
             referral_code, created_at, updated_at, referred_by, signup_device) \
             VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?7, ?8, ?9) ON CONFLICT(email_bidx) DO NOTHING",
            params![
                id,
                pii.email_index(&new.email),
                pii.cipher.encrypt(&new.email),
                new.name.as_deref().map(|n| pii.cipher.encrypt(n)),
                new.role.as_str(),
                referral,
                now_ms,
                facts.referred_by,
                facts.device_hash
            ],
        )
        .map_err(sql_err)?;
    if n == 0 {
        return Ok(None);
    }
    if new.credits > 0 {
        // The starting balance is a ledger entry like any other.
        super::ledger::apply_in(
            tx,
            &[crate::billing::NewEntry {
                user_id: id.clone(),
                kind: crate::billing::EntryKind::Grant,
                amount: new.credits,
                reference: Some("signup".into()),
                idempotency_key: Some(format!("signup:{id}")),
            }],
            now_ms,
        )?;
    }
    Ok(Some(id))
}

impl UserStore for SqliteStore {
    fn upsert_by_email(&self, new: &NewUser, now_ms: i64) -> Result<(User, bool)> {
        let bidx = self.pii.email_index(&new.email);
        let created = self.write(|tx| {
            Ok(insert_user(tx, &self.pii, new, &SignupFacts::default(), now_ms)?.is_some())
        })?;
        let user = self
            .user_where("email_bidx = ?1", &bidx)?
            .ok_or_else(|| Error::Internal("user vanished after upsert".into()))?;
        Ok((user, created))
    }

    fn get_user(&self, id: &str) -> Result<Option<User>> {
        self.user_where("id = ?1", id)
    }

    fn find_user_by_email(&self, email: &str) -> Result<Option<User>> {
        self.user_where("email_bidx = ?1", &self.pii.email_index(email))
    }

    fn create_user(&self, new: &NewUser, facts: &SignupFacts, now_ms: i64) -> Result<Option<User>> {
        let id = self.write(|tx| insert_user(tx, &self.pii, new, facts, now_ms))?;
        match id {
            Some(id) => self.get_user(&id),
            None => Ok(None),
        }
    }

    fn patch_user(&self, id: &str, p: &UserPatch, now_ms: i64) -> Result<Option<User>> {
        let name_ct = p.name.as_deref().map(|n| self.pii.cipher.encrypt(n));
        let n = self.write(|tx| {
            tx.execute(
                "UPDATE users SET name_ct = COALESCE(?2, name_ct), locale = COALESCE(?3, locale), \
                 marketing_opt_in = COALESCE(?4, marketing_opt_in), role = COALESCE(?5, role), \
                 updated_at = ?6 WHERE id = ?1",
                params![
                    id,
                    name_ct,
                    p.locale,
                    p.marketing_opt_in,
                    p.role.map(Role::as_str),
                    now_ms
                ],
            )
            .map_err(sql_err)
        })?;
        if n == 0 { Ok(None) } else { self.get_user(id) }
    }

    fn signup_facts(&self, id: &str) -> Result<Option<SignupFacts>> {
        self.read(|c| {
            c.query_row(
                "SELECT referred_by, signup_device FROM users WHERE id = ?1",
                [id],
                |r| {
                    Ok(SignupFacts {
                        referred_by: r.get(0)?,
                        device_hash: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(sql_err)
        })
    }

    fn run_ids(&self, user_id: &str) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT id FROM runs WHERE user_id = ?1 ORDER BY id")
                .map_err(sql_err)?;
            let rows = stmt.query_map([user_id], |r| r.get(0)).map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })
    }

    fn find_user_by_referral_code(&self, code: &str) -> Result<Option<User>> {
        self.user_where("referral_code = ?1", code)
    }

    fn list_users(&self, cursor: Option<&str>, limit: usize) -> Result<Vec<User>> {
        let raw = self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {USER_COLS} FROM users WHERE (?1 IS NULL OR id < ?1) \
                     ORDER BY id DESC LIMIT ?2"
                ))
                .map_err(sql_err)?;
            let rows = stmt
                .query_map(params![cursor, limit as i64], raw_user)
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })?;
        raw.into_iter().map(|r| self.decrypt_user(r)).collect()
    }

    fn erase_user(&self, id: &str, pseudonym: &str, _now_ms: i64) -> Result<bool> {
        self.write(|tx| {
            let exists = tx
                .query_row("SELECT 1 FROM users WHERE id = ?1", [id], |_| Ok(()))
                .optional()
                .map_err(sql_err)?
                .is_some();
            if !exists {
                return Ok(false);
            }
            let both = params![id, pseudonym];
            for sql in [
                "UPDATE ledger_entries SET user_id = ?2 WHERE user_id = ?1",
                "UPDATE audit_events SET actor_id = ?2 WHERE actor_id = ?1",
                "UPDATE audit_events SET subject_id = ?2 WHERE subject_id = ?1",
                "UPDATE flag_changes SET actor_id = ?2 WHERE actor_id = ?1",
                "UPDATE feature_flags SET updated_by = ?2 WHERE updated_by = ?1",
            ] {
                tx.execute(sql, both).map_err(sql_err)?;
            }
            for sql in [
                "DELETE FROM jobs WHERE user_id = ?1",
                "DELETE FROM runs WHERE user_id = ?1",
                "DELETE FROM pipelines WHERE user_id = ?1",
            ] {
                tx.execute(sql, [id]).map_err(sql_err)?;
            }
            // api_keys, token families, refresh and access tokens cascade.
            tx.execute("DELETE FROM users WHERE id = ?1", [id])
                .map_err(sql_err)?;
            Ok(true)
        })
    }

    fn reencrypt_pii(&self) -> Result<usize> {
        let cipher = &self.pii.cipher;
        let current = cipher.current_key_id().to_string();
        self.write(|tx| {
            let rows: Vec<(String, String, Option<String>)> = {
                let mut stmt = tx
                    .prepare("SELECT id, email_ct, name_ct FROM users")
                    .map_err(sql_err)?;
                let it = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(sql_err)?;
                it.collect::<rusqlite::Result<_>>().map_err(sql_err)?
            };
            let stale = |ct: &str| Cipher::key_id_of(ct) != Some(current.as_str());
            let mut changed = 0;
            for (id, email_ct, name_ct) in rows {
                if !stale(&email_ct) && !name_ct.as_deref().is_some_and(stale) {
                    continue;
                }
                let email = cipher.encrypt(&cipher.decrypt(&email_ct)?);
                let name = name_ct.as_deref().map(|n| cipher.decrypt(n)).transpose()?;
                let name = name.as_deref().map(|n| cipher.encrypt(n));
                tx.execute(
                    "UPDATE users SET email_ct = ?2, name_ct = ?3 WHERE id = ?1",
                    params![id, email, name],
                )
                .map_err(sql_err)?;
                changed += 1;
            }
            Ok(changed)
        })
    }
}

fn key_row(r: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.get(0)?,
        user_id: r.get(1)?,
        key_hash: r.get(2)?,
        prefix: r.get(3)?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

impl ApiKeyStore for SqliteStore {
    fn insert_key(&self, k: &ApiKeyRecord) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO api_keys (id, user_id, key_hash, prefix, created_at, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    k.id,
                    k.user_id,
                    k.key_hash,
                    k.prefix,
                    k.created_at,
                    k.revoked_at
                ],
            )
            .map_err(sql_err)?;
            Ok(())
        })
    }

    fn find_key(&self, key_hash: &str) -> Result<Option<(ApiKeyRecord, Role)>> {
        let found = self.read(|c| {
            c.prepare_cached(
                "SELECT k.id, k.user_id, k.key_hash, k.prefix, k.created_at, k.revoked_at, u.role \
                 FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?1",
            )
            .map_err(sql_err)?
            .query_row([key_hash], |r| Ok((key_row(r)?, r.get::<_, String>(6)?)))
            .optional()
            .map_err(sql_err)
        })?;
        found.map(|(k, role)| Ok((k, role.parse()?))).transpose()
    }

    fn revoke_key(&self, key_id: &str, now_ms: i64) -> Result<bool> {
        self.write(|tx| {
            let n = tx
                .execute(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![key_id, now_ms],
                )
                .map_err(sql_err)?;
            Ok(n == 1)
        })
    }

    fn list_keys(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, user_id, key_hash, prefix, created_at, revoked_at FROM api_keys \
                     WHERE user_id = ?1 ORDER BY id",
                )
                .map_err(sql_err)?;
            let rows = stmt.query_map([user_id], key_row).map_err(sql_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
        })
    }
}
