//! Cryptographic helpers: AES-128-GCM for PII at rest, an HMAC-SHA256 blind
//! index for equality lookups, SHA-256 digests and constant-time comparison.
//!
//! A ciphertext is stored as text `v1:KEYID:NONCE_B64:DATA_B64`; the key id
//! lets keys rotate (`levqor keys rotate` re-encrypts under a new key).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Encrypts and decrypts PII with AES-128-GCM under a current key, while
/// still decrypting values written under older keys.
#[derive(Clone)]
pub struct Cipher {
    current: (String, [u8; 16]),
    older: Vec<(String, [u8; 16])>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cipher {{ key_id: {} }}", self.current.0)
    }
}

/// The id of a key: the first 8 hex chars of SHA-256 of the key.
pub fn key_id(key: &[u8; 16]) -> String {
    hex::encode(&Sha256::digest(key)[..4])
}

impl Cipher {
    /// A cipher whose current key is `key`.
    pub fn new(key: [u8; 16]) -> Self {
        Cipher {
            current: (key_id(&key), key),
            older: Vec::new(),
        }
    }

    /// Adds a key that can still decrypt old values.
    pub fn with_old_key(mut self, key: [u8; 16]) -> Self {
        self.older.push((key_id(&key), key));
        self
    }

    /// Id of the current key.
    pub fn current_key_id(&self) -> &str {
        &self.current.0
    }

    /// Encrypts `plain` under the current key with a fresh 96-bit nonce.
    pub fn encrypt(&self, plain: &str) -> String {
        let cipher = Aes128Gcm::new((&self.current.1).into());
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for in-memory data.
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .unwrap_or_default();
        format!(
            "v1:{}:{}:{}",
            self.current.0,
            B64.encode(nonce),
            B64.encode(ct)
        )
    }

    /// Decrypts a value written by [`Cipher::encrypt`] under any known key.
    ///
    /// # Errors
    /// [`Error::Internal`] for a malformed, tampered or unknown-key value; never panics.
    pub fn decrypt(&self, stored: &str) -> Result<String> {
        let bad = || Error::Internal("stored ciphertext is malformed or was tampered with".into());
        let mut parts = stored.split(':');
        let (Some("v1"), Some(kid), Some(nonce), Some(data), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let key = std::iter::once(&self.current)
            .chain(self.older.iter())
            .find(|(id, _)| id == kid)
            .map(|(_, k)| k)
            .ok_or_else(|| {
                Error::Internal(format!("no key with id {kid} to decrypt a stored value"))
            })?;
        let nonce = B64.decode(nonce).map_err(|_| bad())?;
        let data = B64.decode(data).map_err(|_| bad())?;
        if nonce.len() != 12 {
            return Err(bad());
        }
        let plain = Aes128Gcm::new(key.into())
            .decrypt(Nonce::from_slice(&nonce), data.as_ref())
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }

    /// The key id a stored value was written under.
    pub fn key_id_of(stored: &str) -> Option<&str> {
        stored.split(':').nth(1)
    }
}

/// HMAC-SHA256 of `data` under `key`, hex encoded.
pub fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// SHA-256 of `data`, hex encoded.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_fresh_nonces_and_tamper_detection() {
        let c = Cipher::new([7u8; 16]);
        let a = c.encrypt("ada@example.com");
        let b = c.encrypt("ada@example.com");
        assert_ne!(a, b, "nonces must differ");
        assert_eq!(c.decrypt(&a).unwrap(), "ada@example.com");
        let mut t = a.clone().into_bytes();
        let last = t.len() - 2;
        t[last] = if t[last] == b'A' { b'B' } else { b'A' };
        assert!(c.decrypt(std::str::from_utf8(&t).unwrap()).is_err());
        assert!(c.decrypt("garbage").is_err());
        assert!(c.decrypt("v1:zz:AAAA:AAAA").is_err());
    }

    #[test]
    fn old_keys_still_decrypt() {
        let old = Cipher::new([1u8; 16]);
        let v = old.encrypt("x");
        let new = Cipher::new([2u8; 16]).with_old_key([1u8; 16]);
        assert_eq!(new.decrypt(&v).unwrap(), "x");
        assert!(Cipher::new([2u8; 16]).decrypt(&v).is_err());
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
