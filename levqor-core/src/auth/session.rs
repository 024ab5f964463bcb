//! Authentication of requests and the token endpoints' logic:
//! `POST /auth/token`, `/auth/refresh`, `/auth/revoke`, as methods of
//! [`Levqor`] taking JSON bodies and returning domain values.

use serde_json::{Value, json};

use super::Principal;
use super::tokens::{
    ACCESS_TTL_S, AccessClaims, IssuedPair, REFRESH_PREFIX, REFRESH_TTL_S, RefreshOutcome,
    TokenFamily, TokenSigner, mint_refresh_token, refresh_hash, valid_device_id,
};
use crate::app::Levqor;
use crate::audit::Action;
use crate::crypto::sha256_hex;
use crate::error::{Error, Result};
use crate::json::Fields;
use crate::users::Role;

/// The credentials a request carries, as the HTTP layer found them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// `X-API-Key` header.
    pub api_key: Option<&'a str>,
    /// The token of an `Authorization: Bearer` header (see [`parse_bearer`]).
    pub bearer: Option<&'a str>,
    /// `X-Device-Id` header.
    pub device_id: Option<&'a str>,
}

/// Extracts the token from an `Authorization` header value: scheme
/// `Bearer` (any case), one space or more, a token of visible ASCII.
pub fn parse_bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_start();
    (!token.is_empty() && token.len() <= 4096 && token.bytes().all(|b| b.is_ascii_graphic()))
        .then_some(token)
}

/// A token pair as `POST /auth/token` and `/auth/refresh` answer it.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// HS256 JWT.
    pub access_token: String,
    /// `lvr_…`, single use.
    pub refresh_token: String,
    /// Family (session) id.
    pub family_id: String,
}

impl TokenPair {
    /// API.md's answer.
    pub fn to_json(&self) -> Value {
        json!({
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TTL_S,
            "refresh_expires_in": REFRESH_TTL_S,
        })
    }
}

fn unauthorized(msg: &str) -> Error {
    Error::Unauthorized(msg.to_string())
}

fn device_member(f: &mut Fields<'_>) -> Option<String> {
    let d = f.string("device_id", false, super::tokens::MAX_DEVICE_ID)?;
    if valid_device_id(&d) {
        Some(d)
    } else {
        f.error("device_id", "must be 1 to 128 visible ASCII characters");
        None
    }
}

impl Levqor {
    /// The signer of access tokens.
    pub fn token_signer(&self) -> TokenSigner {
        TokenSigner::new(&self.secrets.jwt_secret)
    }

    /// Authenticates a request: the API key when one is given, else the
    /// bearer token (with its device binding checked against `device_id`).
    ///
    /// # Errors
    /// [`Error::Unauthorized`] when no credential is given or it is bad,
    /// expired or revoked; storage errors.
    pub fn authenticate(&self, c: &Credentials<'_>) -> Result<Principal> {
        match (c.api_key, c.bearer) {
            (Some(key), _) => self.authenticate_key(key),
            (None, Some(token)) => self.authenticate_bearer(token, c.device_id),
            (None, None) => Err(unauthorized(
                "missing credentials: send X-API-Key or a Bearer token",
            )),
        }
    }

    /// Authenticates an access token: signature, claims, time, the
    /// revocation table, and the device binding.
    ///
    /// # Errors
    /// [`Error::Unauthorized`]; storage errors.
    pub fn authenticate_bearer(&self, token: &str, device_id: Option<&str>) -> Result<Principal> {
        let claims = self.token_signer().verify(token, self.clock.now_ms())?;
        let status = self
            .stores
            .tokens
            .access_status(&claims.jti)?
            .ok_or_else(|| unauthorized("invalid, expired or revoked token"))?;
        if status.revoked || status.user_id != claims.sub {
            return Err(unauthorized("invalid, expired or revoked token"));
        }
        if let Some(bound) = &claims.did
            && device_id != Some(bound.as_str())
        {
            return Err(unauthorized(
                "token is bound to another device (X-Device-Id)",
            ));
        }
        Ok(Principal {
            user_id: status.user_id,
            role: status.role,
            key_id: None,
        })
    }

    fn new_pair(
        &self,
        user_id: &str,
        role: Role,
        device: Option<&str>,
    ) -> Result<(TokenPair, IssuedPair)> {
        let now = self.clock.now_ms();
        let claims = AccessClaims::new(user_id, role, device, now);
        let access_token = self.token_signer().sign(&claims)?;
        let refresh = mint_refresh_token();
        let issued = IssuedPair {
            family_id: String::new(),
            user_id: user_id.to_string(),
            refresh_hash: refresh.hash,
            refresh_expires_at: now + REFRESH_TTL_S * 1000,
            jti: claims.jti,
            access_expires_at: claims.exp * 1000,
        };
        let pair = TokenPair {
            access_token,
            refresh_token: refresh.secret,
            family_id: String::new(),
        };
        Ok((pair, issued))
    }

    /// `POST /auth/token`: a new token family for a caller authenticated by
    /// API key; body `{"device_id"?}` binds it to a device.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] when the caller did not use an API key;
    /// validation errors; storage errors.
    pub fn issue_tokens(&self, who: &Principal, body: &Value) -> Result<TokenPair> {
        let Some(key_id) = &who.key_id else {
            return Err(unauthorized("an API key is required to obtain tokens"));
        };
        let mut f = Fields::body(body)?;
        let device = device_member(&mut f);
        f.finish()?;
        let now = self.clock.now_ms();
        let family = TokenFamily {
            id: crate::ids::new_id("tfm", now),
            user_id: who.user_id.clone(),
            device_hash: device.as_deref().map(|d| sha256_hex(d.as_bytes())),
            created_at: now,
            revoked_at: None,
        };
        let (mut pair, mut issued) = self.new_pair(&who.user_id, who.role, device.as_deref())?;
        issued.family_id = family.id.clone();
        pair.family_id = family.id.clone();
        self.stores.tokens.start_family(&family, &issued)?;
        self.audit(
            Action::TokenIssued,
            Some(&who.user_id),
            Some(&who.user_id),
            json!({"family_id": family.id, "key_id": key_id, "device_bound": device.is_some()}),
        )?;
        Ok(pair)
    }

    /// `POST /auth/refresh`: body `{"refresh_token","device_id"?}`; spends the
    /// token and answers a new pair in the same family.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] for an unknown, expired, revoked or spent
    /// token (a spent one revokes its whole family) or another device (the
    /// token is not spent); validation errors; storage errors.
    pub fn refresh_tokens(&self, body: &Value) -> Result<TokenPair> {
        let mut f = Fields::body(body)?;
        let token = f.string("refresh_token", true, 256);
        let device = device_member(&mut f);
        f.finish()?;
        let bad = || unauthorized("invalid, expired or revoked refresh token");
        let hash = token.as_deref().and_then(refresh_hash).ok_or_else(bad)?;
        // The access token's claims need the user: rotate first with a
        // placeholder pair, then sign for the family's owner.
        let now = self.clock.now_ms();
        let refresh = mint_refresh_token();
        let claims_jti = crate::ids::random_token(16);
        let next = IssuedPair {
            family_id: String::new(),
            user_id: String::new(),
            refresh_hash: refresh.hash.clone(),
            refresh_expires_at: now + REFRESH_TTL_S * 1000,
            jti: claims_jti.clone(),
            access_expires_at: (now.div_euclid(1000) + ACCESS_TTL_S) * 1000,
        };
        let device_hash = device.as_deref().map(|d| sha256_hex(d.as_bytes()));
        match self
            .stores
            .tokens
            .rotate(&hash, device_hash.as_deref(), &next, now)?
        {
            RefreshOutcome::Rotated(family, role) => {
                // A bound family only rotates for its device: the presented id is the bound one.
                let did = family.device_hash.as_ref().and(device.as_deref());
                let mut claims = AccessClaims::new(&family.user_id, role, did, now);
                claims.jti = claims_jti;
                let access_token = self.token_signer().sign(&claims)?;
                self.audit(
                    Action::TokenRefreshed,
                    Some(&family.user_id),
                    Some(&family.user_id),
                    json!({"family_id": family.id}),
                )?;
                Ok(TokenPair {
                    access_token,
                    refresh_token: refresh.secret,
                    family_id: family.id,
                })
            }
            RefreshOutcome::Reused(family) => {
                self.audit(
                    Action::TokenReuseDetected,
                    None,
                    Some(&family.user_id),
                    json!({"family_id": family.id, "family_revoked": true}),
                )?;
                Err(unauthorized(
                    "refresh token already used; its session has been revoked",
                ))
            }
            RefreshOutcome::DeviceMismatch => {
                Err(unauthorized("refresh token is bound to another device"))
            }
            RefreshOutcome::Invalid => Err(bad()),
        }
    }

    /// `POST /auth/revoke`: body `{"token"}`, an access token or a refresh
    /// token of the caller. Revoking a refresh token ends its whole session
    /// (family); revoking an access token revokes that token. Idempotent.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown token or someone else's;
    /// validation errors; storage errors.
    pub fn revoke_token(&self, who: &Principal, body: &Value) -> Result<Value> {
        let mut f = Fields::body(body)?;
        let token = f.string("token", true, 4096);
        f.finish()?;
        let token = token.unwrap_or_default();
        let now = self.clock.now_ms();
        let (found, kind) = if token.starts_with(REFRESH_PREFIX) {
            let ok = match refresh_hash(&token) {
                Some(h) => self.stores.tokens.revoke_refresh(&h, &who.user_id, now)?,
                None => false,
            };
            (ok, "refresh")
        } else {
            let ok = match self.token_signer().verify_signature(&token) {
                Ok(c) if c.sub == who.user_id => {
                    self.stores
                        .tokens
                        .revoke_access(&c.jti, &who.user_id, now)?
                }
                _ => false,
            };
            (ok, "access")
        };
        if !found {
            return Err(Error::NotFound("token"));
        }
        self.audit(
            Action::TokenRevoked,
            Some(&who.user_id),
            Some(&who.user_id),
            json!({"kind": kind}),
        )?;
        Ok(json!({"revoked": true}))
    }

    /// Deletes expired token rows; a timer calls this (hourly is plenty).
    ///
    /// # Errors
    /// Storage errors.
    pub fn prune_tokens(&self) -> Result<usize> {
        self.stores.tokens.prune(self.clock.now_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(parse_bearer("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(parse_bearer("bearer   x"), Some("x"));
        assert_eq!(parse_bearer("Basic abc"), None);
        assert_eq!(parse_bearer("Bearer"), None);
        assert_eq!(parse_bearer("Bearer a b"), None);
        assert_eq!(parse_bearer("Bearer ẞ"), None);
    }
}
