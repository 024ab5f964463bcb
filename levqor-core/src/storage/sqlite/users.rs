//! `UserStore` and `ApiKeyStore` on SQLite. Email and name are encrypted
//! here with the store's [`PiiKeys`]; lookups go through the blind index.

use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, sql_err};
use crate::auth::{ApiKeyRecord, ApiKeyStore};
use crate::crypto::{Cipher, hmac_hex};
use crate::error::{Error, Result};
use crate::users::{NewUser, Role, User, UserStore};

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

impl UserStore for SqliteStore {
    fn upsert_by_email(&self, new: &NewUser, now_ms: i64) -> Result<(User, bool)> {
        let bidx = self.pii.email_index(&new.email);
        let id = crate::ids::new_id("usr", now_ms);
        let email_ct = self.pii.cipher.encrypt(&new.email);
        let name_ct = new.name.as_deref().map(|n| self.pii.cipher.encrypt(n));
        let referral = crate::ids::random_token(5).to_uppercase();
        let created = self.write(|tx| {
            let n = tx
                .execute(
                    "INSERT INTO users (id, email_bidx, email_ct, name_ct, role, credits, \
                     referral_code, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?7) ON CONFLICT(email_bidx) DO NOTHING",
                    params![
                        id,
                        bidx,
                        email_ct,
                        name_ct,
                        new.role.as_str(),
                        referral,
                        now_ms
                    ],
                )
                .map_err(sql_err)?;
            if n == 1 && new.credits > 0 {
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
            Ok(n == 1)
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
