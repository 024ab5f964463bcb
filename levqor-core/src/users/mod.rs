//! Users: identity, role and credit balance. Email and name are PII: stored
//! encrypted, found through a keyed blind index.

pub mod pii;
pub mod service;

pub use service::Signup;

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::error::{Error, Result};

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A customer.
    User,
    /// A referral partner.
    Partner,
    /// An operator with access to everything.
    Admin,
}

impl Role {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Partner => "partner",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "user" => Ok(Role::User),
            "partner" => Ok(Role::Partner),
            "admin" => Ok(Role::Admin),
            _ => Err(Error::invalid(
                "/role",
                "role must be one of user, partner, admin",
            )),
        }
    }
}

/// A user, decrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// `usr_…` id.
    pub id: String,
    /// Normalised email.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// Role.
    pub role: Role,
    /// Credit balance.
    pub credits: i64,
    /// Code others sign up with.
    pub referral_code: String,
    /// Preferred locale.
    pub locale: Option<String>,
    /// Consent to marketing email.
    pub marketing_opt_in: bool,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

impl User {
    /// API.md's user object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role.as_str(),
            "credits": self.credits,
            "referral_code": self.referral_code,
            "locale": self.locale,
            "marketing_opt_in": self.marketing_opt_in,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        })
    }
}

/// Trims and lower-cases an email and checks its shape.
///
/// # Errors
/// A validation error at `/email`.
pub fn normalize_email(raw: &str) -> Result<String> {
    let e = raw.trim().to_lowercase();
    let bad = || Error::invalid("/email", "must be a valid email address");
    if e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.len() > 64
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad());
    }
    Ok(e)
}

/// Input for creating a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Normalised email.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// Role.
    pub role: Role,
    /// Starting credit balance.
    pub credits: i64,
}

/// Facts recorded about a self-service signup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignupFacts {
    /// The referrer's user id, when a valid referral code was given.
    pub referred_by: Option<String>,
    /// SHA-256 of the device id given at signup.
    pub device_hash: Option<String>,
}

/// Changes to a profile; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// New display name.
    pub name: Option<String>,
    /// New locale.
    pub locale: Option<String>,
    /// New marketing consent.
    pub marketing_opt_in: Option<bool>,
    /// New role (admins only).
    pub role: Option<Role>,
}

impl UserPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == UserPatch::default()
    }
}

/// Durable storage of users. PII handling (encryption, blind index) is the
/// implementation's duty, with the keys it was built with.
pub trait UserStore: Send + Sync {
    /// Returns the user with this email, creating it if absent; the bool says
    /// whether it was created.
    ///
    /// # Errors
    /// Storage errors.
    fn upsert_by_email(&self, new: &NewUser, now_ms: i64) -> Result<(User, bool)>;

    /// A user by id.
    ///
    /// # Errors
    /// Storage errors; a stored value that fails to decrypt.
    fn get_user(&self, id: &str) -> Result<Option<User>>;

    /// A user by (normalised) email, through the blind index.
    ///
    /// # Errors
    /// Storage errors.
    fn find_user_by_email(&self, email: &str) -> Result<Option<User>>;

    /// Creates a user unless the email is taken (`None` then), with the
    /// starting credits as a ledger entry.
    ///
    /// # Errors
    /// Storage errors.
    fn create_user(&self, new: &NewUser, facts: &SignupFacts, now_ms: i64) -> Result<Option<User>>;

    /// Applies a patch; `None` when the user does not exist.
    ///
    /// # Errors
    /// Storage errors.
    fn patch_user(&self, id: &str, patch: &UserPatch, now_ms: i64) -> Result<Option<User>>;

    /// What was recorded at signup (`None` for an unknown user).
    ///
    /// # Errors
    /// Storage errors.
    fn signup_facts(&self, id: &str) -> Result<Option<SignupFacts>>;

    /// Ids of the user's pipeline runs, oldest first (for exports).
    ///
    /// # Errors
    /// Storage errors.
    fn run_ids(&self, user_id: &str) -> Result<Vec<String>>;

    /// The user whose referral code is `code`.
    ///
    /// # Errors
    /// Storage errors.
    fn find_user_by_referral_code(&self, code: &str) -> Result<Option<User>>;

    /// Users newest first, older than `cursor` (an id), at most `limit`.
    ///
    /// # Errors
    /// Storage errors.
    fn list_users(&self, cursor: Option<&str>, limit: usize) -> Result<Vec<User>>;

    /// Erases a user in one transaction: the profile row, API keys, tokens,
    /// jobs, pipelines and runs are deleted; ledger entries and audit events are kept under
    /// `pseudonym`. Returns whether the user existed.
    ///
    /// # Errors
    /// Storage errors.
    fn erase_user(&self, id: &str, pseudonym: &str, now_ms: i64) -> Result<bool>;

    /// Re-encrypts every PII value not written under the current key;
    /// returns how many rows changed.
    ///
    /// # Errors
    /// A value no known key decrypts; storage errors.
    fn reencrypt_pii(&self) -> Result<usize>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.com",
            "a b@x.com",
            "ada@x",
            "ada@x..com",
            "a@b@c.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
