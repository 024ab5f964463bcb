//! Keys of PII at rest: building the cipher from configuration (current key
//! plus retired ones) and re-encrypting every stored value under the
//! current key (`levqor keys rotate`).
//!
//! Rotation, step by step: set `LEVQOR_ENCRYPTION_KEY` to the new key and
//! `LEVQOR_OLD_ENCRYPTION_KEYS` to the old one, run `levqor keys rotate`,
//! then drop the old key from the settings. Until the rotation has run,
//! values under the old key still decrypt; afterwards none needs it.

use serde_json::json;

use crate::app::Levqor;
use crate::audit::Action;
use crate::auth::Principal;
use crate::config::{Config, Secrets};
use crate::crypto::Cipher;
use crate::error::{Error, Result};

/// The PII cipher: the current key from `secrets`, plus every key of
/// `LEVQOR_OLD_ENCRYPTION_KEYS` for decryption only.
///
/// # Errors
/// [`Error::Config`] when an old key is not 32 hex characters.
pub fn cipher(cfg: &Config, secrets: &Secrets) -> Result<Cipher> {
    let mut c = Cipher::new(secrets.encryption_key);
    for (i, k) in cfg.old_encryption_keys.iter().enumerate() {
        let bytes = hex::decode(k)
            .ok()
            .filter(|b| b.len() == 16)
            .ok_or_else(|| {
                Error::Config(format!(
                    "LEVQOR_OLD_ENCRYPTION_KEYS entry {} must be 32 hex characters (AES-128)",
                    i + 1
                ))
            })?;
        let mut key = [0u8; 16];
        key.copy_from_slice(&bytes);
        c = c.with_old_key(key);
    }
    Ok(c)
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Rows re-encrypted.
    pub rows: usize,
    /// Id of the key everything is now under.
    pub key_id: String,
}

impl Levqor {
    /// Re-encrypts every stored PII value under the current key. `who` is
    /// `None` for the operator's CLI, else it must be an admin.
    ///
    /// # Errors
    /// [`Error::Forbidden`]; an internal error when a value decrypts under
    /// no configured key (nothing is changed then); storage errors.
    pub fn rotate_pii_keys(&self, who: Option<&Principal>) -> Result<Rotation> {
        if who.is_some_and(|w| !w.is_admin()) {
            return Err(Error::Forbidden("admin role required".into()));
        }
        let rows = self.stores.users.reencrypt_pii()?;
        let key_id = self.stores.sqlite.pii().cipher.current_key_id().to_string();
        let actor = who.map(|w| w.user_id.as_str());
        self.audit(
            Action::KeysRotated,
            actor,
            None,
            json!({"rows": rows, "key_id": key_id}),
        )?;
        Ok(Rotation { rows, key_id })
    }
}
