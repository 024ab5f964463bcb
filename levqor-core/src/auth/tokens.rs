//! Access and refresh tokens.
//!
//! Access tokens are HS256 JWTs with a pinned algorithm: the verifier accepts
//! HS256 only, so `alg: none`, other HMAC sizes and asymmetric algorithms are
//! all refused. Every claim of [`AccessClaims`] is required; `exp` and `iat`
//! are checked against the [`crate::clock::Clock`] with [`LEEWAY_S`] seconds
//! of leeway.
//!
//! Refresh tokens are random strings (`lvr_…`) stored only as SHA-256
//! hashes, single use, grouped in families: one family per login. The
//! storage contract is [`TokenStore`].

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::crypto::sha256_hex;
use crate::error::{Error, Result};
use crate::users::Role;

/// Lifetime of an access token in seconds.
pub const ACCESS_TTL_S: i64 = 900;
/// Lifetime of a refresh token in seconds (7 days).
pub const REFRESH_TTL_S: i64 = 604_800;
/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY_S: i64 = 60;
/// The `iss` claim.
pub const ISSUER: &str = "levqor";
/// The `aud` claim.
pub const AUDIENCE: &str = "levqor-api";
/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "lvr_";
/// Longest device id accepted.
pub const MAX_DEVICE_ID: usize = 128;

/// The claims of an access token. All are required except `did`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    /// User id.
    pub sub: String,
    /// Role when issued (authentication uses the current role).
    pub role: String,
    /// Token id, the key of the revocation table.
    pub jti: String,
    /// Issued at, epoch seconds.
    pub iat: i64,
    /// Expiry, epoch seconds (`iat + 900`).
    pub exp: i64,
    /// Always [`ISSUER`].
    pub iss: String,
    /// Always [`AUDIENCE`].
    pub aud: String,
    /// Always `access`.
    pub typ: String,
    /// Bound device id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did: Option<String>,
}

impl AccessClaims {
    /// Claims for a new access token issued at `now_ms`.
    pub fn new(user_id: &str, role: Role, device_id: Option<&str>, now_ms: i64) -> Self {
        let iat = now_ms.div_euclid(1000);
        AccessClaims {
            sub: user_id.to_string(),
            role: role.as_str().to_string(),
            jti: crate::ids::random_token(16),
            iat,
            exp: iat + ACCESS_TTL_S,
            iss: ISSUER.to_string(),
            aud: AUDIENCE.to_string(),
            typ: "access".to_string(),
            did: device_id.map(str::to_string),
        }
    }
}

/// Signs and verifies access tokens with one HS256 secret.
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner { .. }")
    }
}

fn unauthorized() -> Error {
    Error::Unauthorized("invalid, expired or revoked token".into())
}

impl TokenSigner {
    /// A signer for `secret` (`LEVQOR_JWT_SECRET`).
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        // Time is checked against our Clock in `verify`, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        TokenSigner {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs claims as an HS256 JWT.
    ///
    /// # Errors
    /// [`Error::Internal`] if serialisation fails (it does not for these claims).
    pub fn sign(&self, claims: &AccessClaims) -> Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| Error::Internal(format!("cannot sign token: {e}")))
    }

    /// Verifies signature, algorithm, issuer, audience, type and time.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] for anything wrong; never panics on any input.
    pub fn verify(&self, token: &str, now_ms: i64) -> Result<AccessClaims> {
        let claims = self.verify_signature(token)?;
        let now = now_ms.div_euclid(1000);
        if claims.exp.saturating_add(LEEWAY_S) < now
            || claims.iat > now.saturating_add(LEEWAY_S)
            || claims.exp.saturating_sub(claims.iat) > ACCESS_TTL_S
        {
            return Err(unauthorized());
        }
        Ok(claims)
    }

    /// Verifies everything but time (used to revoke an expired token).
    ///
    /// # Errors
    /// [`Error::Unauthorized`] for a bad signature, algorithm or claim set.
    pub fn verify_signature(&self, token: &str) -> Result<AccessClaims> {
        if token.is_empty() || token.len() > 4096 {
            return Err(unauthorized());
        }
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| unauthorized())?;
        if data.header.alg != Algorithm::HS256 || data.claims.typ != "access" {
            return Err(unauthorized());
        }
        Ok(data.claims)
    }
}

/// A new refresh token: the secret goes to the client, the hash to storage.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// `lvr_…`, shown once.
    pub secret: String,
    /// SHA-256 of the secret, hex.
    pub hash: String,
}

/// Mints a random refresh token.
pub fn mint_refresh_token() -> NewRefreshToken {
    let secret = format!("{REFRESH_PREFIX}{}", crate::ids::random_token(32));
    let hash = sha256_hex(secret.as_bytes());
    NewRefreshToken { secret, hash }
}

/// The hash under which a presented refresh token would be stored, or
/// `None` when it cannot be one.
pub fn refresh_hash(presented: &str) -> Option<String> {
    let rest = presented.strip_prefix(REFRESH_PREFIX)?;
    (rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| sha256_hex(presented.as_bytes()))
}

/// Checks a device id from a body or header: 1 to 128 printable ASCII
/// characters without spaces.
pub fn valid_device_id(d: &str) -> bool {
    !d.is_empty() && d.len() <= MAX_DEVICE_ID && d.bytes().all(|b| b.is_ascii_graphic())
}

/// A login session: the family of every token issued from one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFamily {
    /// `tfm_…` id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// SHA-256 (hex) of the device id the family is bound to; the device
    /// id itself is not stored.
    pub device_hash: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms when the family was revoked.
    pub revoked_at: Option<i64>,
}

/// What storage records for one issued pair.
#[derive(Debug, Clone)]
pub struct IssuedPair {
    /// Family the pair belongs to.
    pub family_id: String,
    /// Owner.
    pub user_id: String,
    /// Hash of the refresh token.
    pub refresh_hash: String,
    /// Epoch ms when the refresh token expires.
    pub refresh_expires_at: i64,
    /// jti of the access token.
    pub jti: String,
    /// Epoch ms when the access token expires.
    pub access_expires_at: i64,
}

/// The result of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was spent and the new pair stored; the owner's current role.
    Rotated(TokenFamily, Role),
    /// No such token, or it expired, or its family was revoked.
    Invalid,
    /// The family is bound to another device; nothing was spent.
    DeviceMismatch,
    /// The token had been spent already: its family is now revoked.
    Reused(TokenFamily),
}

/// What storage knows about an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessStatus {
    /// Owner.
    pub user_id: String,
    /// Owner's current role.
    pub role: Role,
    /// Family.
    pub family_id: String,
    /// Whether the token or its family is revoked.
    pub revoked: bool,
}

/// Durable storage of token families, refresh tokens and access-token ids.
pub trait TokenStore: Send + Sync {
    /// Creates a family and stores its first pair, atomically.
    ///
    /// # Errors
    /// Storage errors.
    fn start_family(&self, family: &TokenFamily, pair: &IssuedPair) -> Result<()>;

    /// Spends the refresh token with `old_hash` (presented from the device
    /// whose id hashes to `device_hash`) and stores `next` in its
    /// family, in one transaction with one guarded UPDATE, so that of two
    /// concurrent calls at most one rotates. A token already spent revokes
    /// its family. `next.family_id` and `next.user_id` are filled in by the
    /// store from the spent token's family.
    ///
    /// # Errors
    /// Storage errors.
    fn rotate(
        &self,
        old_hash: &str,
        device_hash: Option<&str>,
        next: &IssuedPair,
        now_ms: i64,
    ) -> Result<RefreshOutcome>;

    /// The state of an access token by jti.
    ///
    /// # Errors
    /// Storage errors.
    fn access_status(&self, jti: &str) -> Result<Option<AccessStatus>>;

    /// Revokes an access token of `user_id`; false when it is unknown or
    /// belongs to someone else. Revoking twice succeeds.
    ///
    /// # Errors
    /// Storage errors.
    fn revoke_access(&self, jti: &str, user_id: &str, now_ms: i64) -> Result<bool>;

    /// Revokes the family of a refresh token of `user_id` (logout); false
    /// when the token is unknown or belongs to someone else.
    ///
    /// # Errors
    /// Storage errors.
    fn revoke_refresh(&self, hash: &str, user_id: &str, now_ms: i64) -> Result<bool>;

    /// A user's families (sessions), oldest first.
    ///
    /// # Errors
    /// Storage errors.
    fn families(&self, user_id: &str) -> Result<Vec<TokenFamily>>;

    /// Revokes every family of a user.
    ///
    /// # Errors
    /// Storage errors.
    fn revoke_user(&self, user_id: &str, now_ms: i64) -> Result<usize>;

    /// Deletes access-token rows and refresh tokens that expired before
    /// `now_ms` (minus the leeway), and families left empty; returns rows removed.
    ///
    /// # Errors
    /// Storage errors.
    fn prune(&self, now_ms: i64) -> Result<usize>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    #[test]
    fn sign_verify_round_trip_and_time_checks() {
        let s = TokenSigner::new(&[9u8; 32]);
        let c = AccessClaims::new("usr_1", Role::User, Some("dev-1"), T0);
        let t = s.sign(&c).unwrap();
        assert_eq!(s.verify(&t, T0).unwrap(), c);
        assert!(s.verify(&t, T0 + (ACCESS_TTL_S + LEEWAY_S) * 1000).is_ok());
        assert!(
            s.verify(&t, T0 + (ACCESS_TTL_S + LEEWAY_S + 1) * 1000)
                .is_err()
        );
        assert!(
            s.verify(&t, T0 - (LEEWAY_S + 1) * 1000).is_err(),
            "issued in the future"
        );
        assert!(
            TokenSigner::new(&[8u8; 32]).verify(&t, T0).is_err(),
            "another key"
        );
    }

    #[test]
    fn refresh_hashes_only_for_well_formed_tokens() {
        let r = mint_refresh_token();
        assert_eq!(refresh_hash(&r.secret).as_deref(), Some(r.hash.as_str()));
        assert!(refresh_hash("lvr_xyz").is_none());
        assert!(refresh_hash("eyJhbGciOi").is_none());
        assert!(valid_device_id("phone-1") && !valid_device_id("a b") && !valid_device_id(""));
    }
}
