//! Feature flags: on/off, a percentage rollout decided by a stable hash of
//! the user id, and per-user overrides. Every change is recorded (who, when,
//! state before, state after) and the last change can be rolled back in one
//! call, which is what the SLO watchdog does when latency degrades.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::Levqor;
use crate::audit::Action;
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::error::{Error, Result};
use crate::json::Fields;

/// The state of one flag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagState {
    /// Master switch: off means off for everyone without an override.
    pub enabled: bool,
    /// Share of users (0..=100) that see the flag when enabled.
    pub rollout_pct: u8,
    /// Per-user decisions that win over everything else.
    #[serde(default)]
    pub overrides: BTreeMap<String, bool>,
}

impl FlagState {
    /// JSON form.
    pub fn to_json(&self) -> Value {
        json!({"enabled": self.enabled, "rollout_pct": self.rollout_pct, "overrides": self.overrides})
    }
}

/// A recorded change of a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    /// `flc_…` id (time ordered).
    pub id: String,
    /// Flag name.
    pub flag: String,
    /// Who changed it.
    pub actor_id: Option<String>,
    /// State before (`None`: the flag was created).
    pub before: Option<FlagState>,
    /// State after.
    pub after: FlagState,
    /// Epoch ms.
    pub created_at: i64,
}

impl FlagChange {
    /// JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "flag": self.flag,
            "actor_id": self.actor_id,
            "before": self.before.as_ref().map(FlagState::to_json),
            "after": self.after.to_json(),
            "created_at": rfc3339(self.created_at),
        })
    }
}

/// Durable flag storage.
pub trait FlagStore: Send + Sync {
    /// Every flag by name.
    ///
    /// # Errors
    /// Storage errors.
    fn list_flags(&self) -> Result<Vec<(String, FlagState)>>;

    /// One flag.
    ///
    /// # Errors
    /// Storage errors.
    fn get_flag(&self, name: &str) -> Result<Option<FlagState>>;

    /// Reads the flag, computes its new state with `update` and records the
    /// change, atomically.
    ///
    /// # Errors
    /// Whatever `update` returns; storage errors.
    fn set_flag(
        &self,
        name: &str,
        update: &dyn Fn(Option<FlagState>) -> Result<FlagState>,
        actor_id: Option<&str>,
        now_ms: i64,
    ) -> Result<FlagChange>;

    /// Restores the state before the newest change not yet rolled back
    /// (deleting a flag that change created); `None` when there is none.
    ///
    /// # Errors
    /// Storage errors.
    fn rollback_last(&self, actor_id: Option<&str>, now_ms: i64) -> Result<Option<FlagChange>>;

    /// Changes of one flag, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    fn flag_history(&self, name: &str) -> Result<Vec<FlagChange>>;
}

/// The bucket (0..100) of a user for a flag: stable across processes.
pub fn bucket(flag: &str, user_id: &str) -> u8 {
    let digest = crate::crypto::sha256_hex(format!("{flag}:{user_id}").as_bytes());
    let n = u32::from_str_radix(&digest[..8], 16).unwrap_or(0);
    (n % 100) as u8
}

/// Whether `state` is on for `user_id`.
pub fn evaluate(flag: &str, state: &FlagState, user_id: &str) -> bool {
    if let Some(v) = state.overrides.get(user_id) {
        return *v;
    }
    state.enabled && bucket(flag, user_id) < state.rollout_pct
}

/// Checks a flag name: 1 to 64 of `a-z 0-9 _ . -`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

fn admin(who: &Principal) -> Result<()> {
    if who.is_admin() {
        Ok(())
    } else {
        Err(Error::Forbidden("admin role required".into()))
    }
}

/// A parsed `PUT /admin/flags` body: `{"name","enabled"?,"rollout_pct"?,"overrides"?}`.
/// Absent members keep their current value; in `overrides` a `null` value
/// removes a user's override.
#[derive(Debug, Clone, Default)]
pub struct FlagUpdate {
    /// Flag name.
    pub name: String,
    /// New switch.
    pub enabled: Option<bool>,
    /// New rollout.
    pub rollout_pct: Option<u8>,
    /// Overrides to set (`Some`) or remove (`None`).
    pub overrides: BTreeMap<String, Option<bool>>,
}

impl FlagUpdate {
    /// Reads a request body strictly.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] for a non-object; [`Error::Validation`] with paths.
    pub fn from_json(body: &Value) -> Result<FlagUpdate> {
        let mut f = Fields::body(body)?;
        let name = f.string("name", true, 64);
        if name.as_deref().is_some_and(|n| !valid_name(n)) {
            f.error("name", "must be 1 to 64 of a-z, 0-9, _ . -");
        }
        let enabled = f.bool("enabled", false);
        let rollout_pct = f.int("rollout_pct", false, 0, 100).map(|n| n as u8);
        let mut overrides = BTreeMap::new();
        if let Some(v) = f.value("overrides", false) {
            match v.as_object() {
                Some(map) => {
                    for (user, val) in map {
                        let path = format!("/overrides/{}", crate::json::pointer_escape(user));
                        if !crate::ids::is_valid("usr", user) {
                            f.push(crate::error::FieldError::new(path, "must be a user id"));
                        } else if val.is_null() {
                            overrides.insert(user.clone(), None);
                        } else if let Some(b) = val.as_bool() {
                            overrides.insert(user.clone(), Some(b));
                        } else {
                            f.push(crate::error::FieldError::new(
                                path,
                                "must be a boolean or null",
                            ));
                        }
                    }
                }
                None => f.error("overrides", "must be an object"),
            }
        }
        f.finish()?;
        Ok(FlagUpdate {
            name: name.unwrap_or_default(),
            enabled,
            rollout_pct,
            overrides,
        })
    }

    fn apply(&self, before: Option<FlagState>) -> FlagState {
        let mut s = before.unwrap_or_default();
        if let Some(e) = self.enabled {
            s.enabled = e;
        }
        if let Some(p) = self.rollout_pct {
            s.rollout_pct = p;
        }
        for (user, v) in &self.overrides {
            match v {
                Some(b) => s.overrides.insert(user.clone(), *b),
                None => s.overrides.remove(user),
            };
        }
        s
    }
}

impl Levqor {
    /// Every flag (admin only).
    ///
    /// # Errors
    /// [`Error::Forbidden`] for non-admins; storage errors.
    pub fn list_flags(&self, who: &Principal) -> Result<Vec<(String, FlagState)>> {
        admin(who)?;
        self.stores.flags.list_flags()
    }

    /// Changes a flag from a JSON body (admin only); the change is recorded
    /// with its before and after states and audited.
    ///
    /// # Errors
    /// [`Error::Forbidden`]; validation errors; storage errors.
    pub fn set_flag(&self, who: &Principal, body: &Value) -> Result<FlagChange> {
        admin(who)?;
        let upd = FlagUpdate::from_json(body)?;
        let change = self.stores.flags.set_flag(
            &upd.name,
            &|before| Ok(upd.apply(before)),
            Some(who.user_id.as_str()).filter(|a| !a.is_empty()),
            self.clock.now_ms(),
        )?;
        self.audit(
            Action::FlagChanged,
            Some(&who.user_id),
            Some(&upd.name),
            change.to_json(),
        )?;
        Ok(change)
    }

    /// Rolls back the newest flag change (admin, or `None` for the system's
    /// watchdog). Returns the change undone, `None` when there was none.
    ///
    /// # Errors
    /// [`Error::Forbidden`] for a non-admin principal; storage errors.
    pub fn rollback_flag_change(&self, who: Option<&Principal>) -> Result<Option<FlagChange>> {
        if let Some(w) = who {
            admin(w)?;
        }
        let actor = who.map(|w| w.user_id.as_str()).filter(|a| !a.is_empty());
        let undone = self
            .stores
            .flags
            .rollback_last(actor, self.clock.now_ms())?;
        if let Some(c) = &undone {
            self.audit(Action::FlagRolledBack, actor, Some(&c.flag), c.to_json())?;
        }
        Ok(undone)
    }

    /// Whether flag `name` is on for `user_id` (unknown flags are off).
    ///
    /// # Errors
    /// Storage errors.
    pub fn flag_enabled(&self, name: &str, user_id: &str) -> Result<bool> {
        Ok(self
            .stores
            .flags
            .get_flag(name)?
            .is_some_and(|s| evaluate(name, &s, user_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_is_stable_and_roughly_proportional() {
        let s = FlagState {
            enabled: true,
            rollout_pct: 30,
            overrides: BTreeMap::new(),
        };
        let on = (0..2000)
            .filter(|i| evaluate("f", &s, &format!("usr_{i}")))
            .count();
        assert!((450..750).contains(&on), "{on}");
        assert_eq!(bucket("f", "usr_1"), bucket("f", "usr_1"));
        let mut o = s.clone();
        o.overrides.insert("usr_x".into(), true);
        o.enabled = false;
        assert!(evaluate("f", &o, "usr_x") && !evaluate("f", &o, "usr_y"));
    }

    #[test]
    fn update_bodies_are_strict() {
        let e = FlagUpdate::from_json(&json!({"name": "Bad Name", "rollout_pct": 101, "x": 1}))
            .unwrap_err();
        let paths: Vec<_> = e.details().iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/name", "/rollout_pct", "/x"]);
    }
}
