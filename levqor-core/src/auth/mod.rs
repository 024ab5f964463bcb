//! Authentication: API keys (stored as SHA-256 hashes), access and refresh
//! tokens ([`tokens`]), request authentication and the token endpoints
//! ([`session`]), and the principal a request acts as.

pub mod session;
pub mod tokens;

pub use session::{Credentials, TokenPair, parse_bearer};
pub use tokens::{TokenSigner, TokenStore};

use crate::crypto::{ct_eq, sha256_hex};
use crate::error::Result;
use crate::users::Role;

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User id.
    pub user_id: String,
    /// Role at authentication time.
    pub role: Role,
    /// The API key used, if any.
    pub key_id: Option<String>,
}

impl Principal {
    /// The local operator (CLI, maintenance): an admin that is no user. The
    /// audit log records it as the system.
    pub fn operator() -> Principal {
        Principal {
            user_id: String::new(),
            role: Role::Admin,
            key_id: None,
        }
    }

    /// Whether this principal may see a resource owned by `owner`.
    pub fn can_access(&self, owner: &str) -> bool {
        self.role == Role::Admin || self.user_id == owner
    }
    /// Whether this principal is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A stored API key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// `key_…` id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// First characters of the key, for display.
    pub prefix: String,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms, when revoked.
    pub revoked_at: Option<i64>,
}

/// A newly minted key: the secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The full key (`lvq_…`).
    pub secret: String,
    /// What gets stored.
    pub record: ApiKeyRecord,
}

/// Mints a new API key for `user_id`.
pub fn mint_api_key(user_id: &str, now_ms: i64) -> NewApiKey {
    let secret = format!("lvq_{}", crate::ids::random_token(24));
    let record = ApiKeyRecord {
        id: crate::ids::new_id("key", now_ms),
        user_id: user_id.to_string(),
        key_hash: sha256_hex(secret.as_bytes()),
        prefix: secret[..12].to_string(),
        created_at: now_ms,
        revoked_at: None,
    };
    NewApiKey { secret, record }
}

/// Whether `presented` hashes to `record`'s hash (constant time).
pub fn key_matches(presented: &str, record: &ApiKeyRecord) -> bool {
    ct_eq(
        sha256_hex(presented.as_bytes()).as_bytes(),
        record.key_hash.as_bytes(),
    )
}

/// Durable storage of API keys.
pub trait ApiKeyStore: Send + Sync {
    /// Stores a key record.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_key(&self, record: &ApiKeyRecord) -> Result<()>;

    /// Finds a key by hash, with its owner's current role.
    ///
    /// # Errors
    /// Storage errors.
    fn find_key(&self, key_hash: &str) -> Result<Option<(ApiKeyRecord, Role)>>;

    /// Revokes a key by id; returns whether it existed and was active.
    ///
    /// # Errors
    /// Storage errors.
    fn revoke_key(&self, key_id: &str, now_ms: i64) -> Result<bool>;

    /// A user's keys.
    ///
    /// # Errors
    /// Storage errors.
    fn list_keys(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>>;
}
