//! The audit log: an append-only record of security-relevant facts (tokens
//! issued and refreshed, refresh-token reuse, keys created and revoked,
//! users changed and erased, feature flags changed). Events hold ids and
//! facts, never PII, so they can outlive an erased user under a pseudonym.

use serde_json::{Value, json};

use crate::app::Levqor;
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::error::{Error, Result};
use crate::queue::service::{Page, check_limit, paginate};

/// What happened. The wire names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// A user was created (signup, admin upsert, CLI).
    UserCreated,
    /// An admin or the user changed a profile.
    UserUpdated,
    /// A user erased their account.
    UserErased,
    /// A user exported their data.
    UserExported,
    /// An API key was created.
    KeyCreated,
    /// An API key was revoked.
    KeyRevoked,
    /// A token pair was issued for an API key.
    TokenIssued,
    /// A refresh token was rotated.
    TokenRefreshed,
    /// A spent refresh token was presented again; its family was revoked.
    TokenReuseDetected,
    /// A token was revoked by its owner.
    TokenRevoked,
    /// A feature flag was changed.
    FlagChanged,
    /// A feature flag change was rolled back.
    FlagRolledBack,
    /// PII was re-encrypted under a new key.
    KeysRotated,
}

impl Action {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::UserCreated => "user.created",
            Action::UserUpdated => "user.updated",
            Action::UserErased => "user.erased",
            Action::UserExported => "user.exported",
            Action::KeyCreated => "key.created",
            Action::KeyRevoked => "key.revoked",
            Action::TokenIssued => "token.issued",
            Action::TokenRefreshed => "token.refreshed",
            Action::TokenReuseDetected => "token.reuse_detected",
            Action::TokenRevoked => "token.revoked",
            Action::FlagChanged => "flag.changed",
            Action::FlagRolledBack => "flag.rolled_back",
            Action::KeysRotated => "keys.rotated",
        }
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// `aud_…` id (time ordered).
    pub id: String,
    /// Who acted (user id), `None` for the system or an anonymous caller.
    pub actor_id: Option<String>,
    /// Whom or what it concerns (user id, flag name).
    pub subject_id: Option<String>,
    /// Wire name of the action.
    pub action: String,
    /// Facts, a JSON object without PII.
    pub details: Value,
    /// Epoch ms.
    pub created_at: i64,
}

impl AuditEvent {
    /// A new event stamped `now_ms`.
    pub fn new(
        action: Action,
        actor_id: Option<&str>,
        subject_id: Option<&str>,
        details: Value,
        now_ms: i64,
    ) -> Self {
        AuditEvent {
            id: crate::ids::new_id("aud", now_ms),
            actor_id: actor_id.map(str::to_string),
            subject_id: subject_id.map(str::to_string),
            action: action.as_str().to_string(),
            details,
            created_at: now_ms,
        }
    }

    /// JSON form for APIs and exports.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "actor_id": self.actor_id,
            "subject_id": self.subject_id,
            "action": self.action,
            "details": self.details,
            "created_at": rfc3339(self.created_at),
        })
    }
}

/// Filter of an audit listing.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events about this subject.
    pub subject_id: Option<String>,
    /// Only events with this action.
    pub action: Option<String>,
    /// Events older than this id (exclusive).
    pub cursor: Option<String>,
    /// Most rows to return.
    pub limit: usize,
}

/// Durable audit storage.
pub trait AuditStore: Send + Sync {
    /// Appends an event.
    ///
    /// # Errors
    /// Storage errors.
    fn record(&self, event: &AuditEvent) -> Result<()>;

    /// Events newest first.
    ///
    /// # Errors
    /// Storage errors.
    fn list_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>>;

    /// Every event whose actor or subject is `user_id`, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    fn events_about(&self, user_id: &str) -> Result<Vec<AuditEvent>>;
}

/// Options of [`Levqor::list_audit`].
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Page size (default 50, 1..=200).
    pub limit: Option<i64>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Only events about this subject.
    pub subject_id: Option<String>,
    /// Only this action.
    pub action: Option<String>,
}

impl Levqor {
    /// Appends an audit event stamped with the current time.
    ///
    /// # Errors
    /// Storage errors.
    pub fn audit(
        &self,
        action: Action,
        actor_id: Option<&str>,
        subject_id: Option<&str>,
        details: Value,
    ) -> Result<()> {
        // The CLI's operator principal has no user id: record it as the system.
        let actor_id = actor_id.filter(|a| !a.is_empty());
        let ev = AuditEvent::new(action, actor_id, subject_id, details, self.clock.now_ms());
        self.stores.audit.record(&ev)
    }

    /// Lists audit events, newest first (admin only).
    ///
    /// # Errors
    /// [`Error::Forbidden`] for non-admins; a bad limit or cursor is a
    /// validation error; storage errors.
    pub fn list_audit(&self, who: &Principal, q: &AuditQuery) -> Result<Page<AuditEvent>> {
        if !who.is_admin() {
            return Err(Error::Forbidden("admin role required".into()));
        }
        let limit = check_limit(q.limit)?;
        if let Some(c) = &q.cursor
            && !crate::ids::is_valid("aud", c)
        {
            return Err(Error::invalid("/cursor", "is not a valid cursor"));
        }
        let filter = AuditFilter {
            subject_id: q.subject_id.clone(),
            action: q.action.clone(),
            cursor: q.cursor.clone(),
            limit: limit + 1,
        };
        Ok(paginate(
            self.stores.audit.list_events(&filter)?,
            limit,
            |e| e.id.clone(),
        ))
    }
}
