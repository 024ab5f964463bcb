//! The users endpoints' logic as methods of [`Levqor`]: signup, admin
//! upsert, lookup, get, list and patch, `/me`, export and erasure. Each takes
//! the calling [`Principal`] (where one is needed) and a JSON body, and
//! returns domain values; bodies are read strictly with [`Fields`], so any
//! member a caller may not set is a 422 with its JSON pointer.

use serde_json::{Value, json};

use super::{NewUser, Role, SignupFacts, User, UserPatch, normalize_email};
use crate::app::Levqor;
use crate::audit::Action;
use crate::auth::tokens::valid_device_id;
use crate::auth::{Principal, mint_api_key};
use crate::clock::rfc3339;
use crate::error::{Error, Result};
use crate::json::Fields;
use crate::queue::JobFilter;
use crate::queue::service::{Page, check_limit, paginate};
use crate::ratelimit::Decision;

/// Longest display name.
pub const MAX_NAME: usize = 200;

/// A completed signup: the user and their first API key (shown once).
#[derive(Debug, Clone)]
pub struct Signup {
    /// The new user.
    pub user: User,
    /// `lvq_…`.
    pub api_key: String,
}

impl Signup {
    /// API.md's answer: `{"user":{...},"api_key":"lvq_..."}`.
    pub fn to_json(&self) -> Value {
        json!({"user": self.user.to_json(), "api_key": self.api_key})
    }
}

fn admin(who: &Principal) -> Result<()> {
    if who.is_admin() {
        Ok(())
    } else {
        Err(Error::Forbidden("admin role required".into()))
    }
}

/// Whether `email`'s domain (or a parent domain) is in `domains`.
pub fn is_disposable(email: &str, domains: &[String]) -> bool {
    let Some((_, dom)) = email.rsplit_once('@') else {
        return false;
    };
    domains.iter().any(|d| {
        dom == d
            || dom
                .strip_suffix(d.as_str())
                .is_some_and(|p| p.ends_with('.'))
    })
}

/// Checks a locale tag such as `en`, `pt-BR`, `zh-Hant-TW`.
pub fn valid_locale(s: &str) -> bool {
    let mut parts = s.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && s.len() <= 35
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn read_email(f: &mut Fields<'_>) -> Option<String> {
    let raw = f.string("email", true, 320)?;
    match normalize_email(&raw) {
        Ok(e) => Some(e),
        Err(_) => {
            f.error("email", "must be a valid email address");
            None
        }
    }
}

fn read_name(f: &mut Fields<'_>) -> Option<String> {
    let n = f.string("name", false, MAX_NAME)?;
    if n.chars().any(char::is_control) {
        f.error("name", "must not contain control characters");
        return None;
    }
    Some(n)
}

fn read_role(f: &mut Fields<'_>) -> Option<Role> {
    let r = f.string("role", false, 16)?;
    match r.parse() {
        Ok(role) => Some(role),
        Err(_) => {
            f.error("role", "must be one of user, partner, admin");
            None
        }
    }
}

/// Reads a patch body; `role` is accepted only when `allow_role`.
fn read_patch(body: &Value, allow_role: bool) -> Result<UserPatch> {
    let mut f = Fields::body(body)?;
    let name = read_name(&mut f);
    let locale = f.string("locale", false, 35);
    if locale.as_deref().is_some_and(|l| !valid_locale(l)) {
        f.error("locale", "must be a language tag such as en or pt-BR");
    }
    let marketing_opt_in = f.bool("marketing_opt_in", false);
    let role = if allow_role { read_role(&mut f) } else { None };
    f.finish()?;
    Ok(UserPatch {
        name,
        locale,
        marketing_opt_in,
        role,
    })
}

impl Levqor {
    /// The signup rate-limit decision for a request from `ip`, counting the
    /// body's `device_id` too when it is a plausible one. The HTTP layer
    /// calls this in its rate-limit step, before the body is validated.
    pub fn signup_rate_check(&self, ip: &str, body: Option<&Value>) -> Decision {
        let device = body
            .and_then(|b| b.get("device_id"))
            .and_then(Value::as_str)
            .filter(|d| valid_device_id(d));
        self.limits.check_signup(ip, device)
    }

    /// `POST /signup`: body `{"email","name"?,"referral_code"?,"device_id"?}`.
    ///
    /// # Errors
    /// Validation errors (bad or disposable email, unknown referral code,
    /// unknown members); [`Error::Conflict`] when the email is taken;
    /// storage errors.
    pub fn signup(&self, body: &Value) -> Result<Signup> {
        let mut f = Fields::body(body)?;
        let email = read_email(&mut f);
        if email
            .as_deref()
            .is_some_and(|e| is_disposable(e, &self.config.disposable_domains))
        {
            f.error("email", "disposable email addresses are not accepted");
        }
        let name = read_name(&mut f);
        let code = f.string("referral_code", false, 32);
        let device = f.string("device_id", false, 128);
        if device.as_deref().is_some_and(|d| !valid_device_id(d)) {
            f.error("device_id", "must be 1 to 128 visible ASCII characters");
        }
        let referrer = match code.as_deref() {
            Some(c) => {
                let r = self
                    .stores
                    .users
                    .find_user_by_referral_code(&c.to_uppercase())?;
                if r.is_none() {
                    f.error("referral_code", "unknown referral code");
                }
                r
            }
            None => None,
        };
        f.finish()?;
        let email = email.ok_or_else(|| Error::invalid("/email", "is required"))?;
        let now = self.clock.now_ms();
        let new = NewUser {
            email,
            name,
            role: Role::User,
            credits: self.config.free_credits,
        };
        let facts = SignupFacts {
            referred_by: referrer.map(|r| r.id),
            device_hash: device.map(|d| crate::crypto::sha256_hex(d.as_bytes())),
        };
        let user = self
            .stores
            .users
            .create_user(&new, &facts, now)?
            .ok_or_else(|| Error::Conflict("email is already registered".into()))?;
        let key = mint_api_key(&user.id, now);
        self.stores.keys.insert_key(&key.record)?;
        let uid = Some(user.id.as_str());
        let referred = facts.referred_by.is_some();
        self.audit(
            Action::UserCreated,
            uid,
            uid,
            json!({"via": "signup", "referred": referred}),
        )?;
        self.audit(
            Action::KeyCreated,
            uid,
            uid,
            json!({"key_id": key.record.id}),
        )?;
        Ok(Signup {
            user,
            api_key: key.secret,
        })
    }

    /// `POST /users` (admin): upsert by email, body `{"email","name"?,"role"?}`.
    /// Returns the user and whether it was created (201) or existed (200);
    /// an existing user gets the fields the body names.
    ///
    /// # Errors
    /// [`Error::Forbidden`]; validation errors; storage errors.
    pub fn upsert_user(&self, who: &Principal, body: &Value) -> Result<(User, bool)> {
        admin(who)?;
        let mut f = Fields::body(body)?;
        let email = read_email(&mut f);
        let name = read_name(&mut f);
        let role = read_role(&mut f);
        f.finish()?;
        let email = email.ok_or_else(|| Error::invalid("/email", "is required"))?;
        let now = self.clock.now_ms();
        let new = NewUser {
            email,
            name: name.clone(),
            role: role.unwrap_or(Role::User),
            credits: self.config.free_credits,
        };
        let (user, created) = self.stores.users.upsert_by_email(&new, now)?;
        let actor = Some(who.user_id.as_str());
        if created {
            self.audit(
                Action::UserCreated,
                actor,
                Some(&user.id),
                json!({"via": "admin"}),
            )?;
            return Ok((user, true));
        }
        let patch = UserPatch {
            name,
            role,
            ..UserPatch::default()
        };
        if patch.is_empty() {
            return Ok((user, false));
        }
        let user = self.apply_patch(who, &user.id, &patch)?;
        Ok((user, false))
    }

    fn apply_patch(&self, who: &Principal, id: &str, patch: &UserPatch) -> Result<User> {
        let user = self
            .stores
            .users
            .patch_user(id, patch, self.clock.now_ms())?
            .ok_or(Error::NotFound("user"))?;
        let mut fields = Vec::new();
        for (name, set) in [
            ("name", patch.name.is_some()),
            ("locale", patch.locale.is_some()),
            ("marketing_opt_in", patch.marketing_opt_in.is_some()),
            ("role", patch.role.is_some()),
        ] {
            if set {
                fields.push(name);
            }
        }
        let details = json!({"fields": fields, "role": patch.role.map(Role::as_str)});
        self.audit(Action::UserUpdated, Some(&who.user_id), Some(id), details)?;
        Ok(user)
    }

    /// `GET /users?email=E` (admin).
    ///
    /// # Errors
    /// [`Error::Forbidden`]; a validation error for a malformed email;
    /// [`Error::NotFound`]; storage errors.
    pub fn find_user(&self, who: &Principal, email: &str) -> Result<User> {
        admin(who)?;
        let email = normalize_email(email)?;
        self.stores
            .users
            .find_user_by_email(&email)?
            .ok_or(Error::NotFound("user"))
    }

    /// `GET /users/{id}` (admin).
    ///
    /// # Errors
    /// [`Error::Forbidden`]; [`Error::NotFound`]; storage errors.
    pub fn user_by_id(&self, who: &Principal, id: &str) -> Result<User> {
        admin(who)?;
        if !crate::ids::is_valid("usr", id) {
            return Err(Error::NotFound("user"));
        }
        self.stores
            .users
            .get_user(id)?
            .ok_or(Error::NotFound("user"))
    }

    /// Users newest first (admin; CLI `levqor user list`).
    ///
    /// # Errors
    /// [`Error::Forbidden`]; validation errors for limit and cursor; storage errors.
    pub fn list_users(
        &self,
        who: &Principal,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Page<User>> {
        admin(who)?;
        let limit = check_limit(limit)?;
        if cursor.is_some_and(|c| !crate::ids::is_valid("usr", c)) {
            return Err(Error::invalid("/cursor", "is not a valid cursor"));
        }
        let users = self.stores.users.list_users(cursor, limit + 1)?;
        Ok(paginate(users, limit, |u| u.id.clone()))
    }

    /// `PATCH /users/{id}` (admin): `name`, `locale`, `marketing_opt_in`, `role`.
    ///
    /// # Errors
    /// [`Error::Forbidden`]; validation errors (any other member is one);
    /// [`Error::NotFound`]; storage errors.
    pub fn patch_user(&self, who: &Principal, id: &str, body: &Value) -> Result<User> {
        admin(who)?;
        let patch = read_patch(body, true)?;
        if !crate::ids::is_valid("usr", id) {
            return Err(Error::NotFound("user"));
        }
        self.apply_patch(who, id, &patch)
    }

    /// `GET /me`.
    ///
    /// # Errors
    /// [`Error::NotFound`] once erased; storage errors.
    pub fn me(&self, who: &Principal) -> Result<User> {
        self.stores
            .users
            .get_user(&who.user_id)?
            .ok_or(Error::NotFound("user"))
    }

    /// `PATCH /me`: `name`, `locale`, `marketing_opt_in` only.
    ///
    /// # Errors
    /// Validation errors (`role`, `credits`, `email`... are refused);
    /// [`Error::NotFound`]; storage errors.
    pub fn patch_me(&self, who: &Principal, body: &Value) -> Result<User> {
        let patch = read_patch(body, false)?;
        self.apply_patch(who, &who.user_id, &patch)
    }

    /// `GET /me/export`: everything held about the caller: profile, signup
    /// facts, API keys (prefixes and dates, never the keys), sessions (token
    /// families), jobs, pipelines, runs, ledger and audit events.
    ///
    /// # Errors
    /// [`Error::NotFound`]; storage errors.
    pub fn export_me(&self, who: &Principal) -> Result<Value> {
        let user = self.me(who)?;
        let keys: Vec<Value> = self
            .stores
            .keys
            .list_keys(&user.id)?
            .iter()
            .map(|k| {
                json!({"id": k.id, "prefix": k.prefix, "created_at": rfc3339(k.created_at),
                       "revoked_at": k.revoked_at.map(rfc3339)})
            })
            .collect();
        let mut jobs = Vec::new();
        let mut cursor = None;
        loop {
            let filter = JobFilter {
                user_id: Some(user.id.clone()),
                status: None,
                cursor,
                limit: 200,
            };
            let page = self.stores.jobs.list(&filter)?;
            let last = page.last().map(|j| j.id.clone());
            let full = page.len() == 200;
            jobs.extend(page.iter().map(|j| j.to_json()));
            match (full, last) {
                (true, Some(id)) => cursor = Some(id),
                _ => break,
            }
        }
        let mut pipelines = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .stores
                .pipelines
                .list_pipelines(&user.id, cursor.as_deref(), 200)?;
            let full = page.len() == 200;
            cursor = page.last().map(|p| p.id.clone());
            pipelines.extend(page.iter().map(|p| p.to_json()));
            if !full {
                break;
            }
        }
        let mut runs = Vec::new();
        for id in self.stores.users.run_ids(&user.id)? {
            if let Some(run) = self.stores.pipelines.get_run(&id)? {
                runs.push(run.to_json());
            }
        }
        let facts = self
            .stores
            .users
            .signup_facts(&user.id)?
            .unwrap_or_default();
        let sessions: Vec<Value> = self
            .stores
            .tokens
            .families(&user.id)?
            .iter()
            .map(|f| {
                json!({"id": f.id, "device_bound": f.device_hash.is_some(),
                       "created_at": rfc3339(f.created_at), "revoked_at": f.revoked_at.map(rfc3339)})
            })
            .collect();
        let ledger: Vec<Value> = self
            .stores
            .ledger
            .entries(&user.id)?
            .iter()
            .map(|e| e.to_json())
            .collect();
        let events: Vec<Value> = self
            .stores
            .audit
            .events_about(&user.id)?
            .iter()
            .map(|e| e.to_json())
            .collect();
        self.audit(
            Action::UserExported,
            Some(&user.id),
            Some(&user.id),
            json!({}),
        )?;
        Ok(json!({
            "user": user.to_json(),
            "signup": {"referred_by": facts.referred_by, "device_id_sha256": facts.device_hash},
            "api_keys": keys,
            "sessions": sessions,
            "jobs": jobs,
            "pipelines": pipelines,
            "runs": runs,
            "ledger": ledger,
            "events": events,
            "exported_at": rfc3339(self.clock.now_ms()),
        }))
    }

    /// `DELETE /me`: erases the caller. Profile, keys, tokens, jobs,
    /// pipelines and runs are deleted; the ledger and audit trail stay under a random pseudonym.
    /// Afterwards the user is 404 for everyone and every credential fails.
    ///
    /// # Errors
    /// [`Error::NotFound`] when already erased; storage errors.
    pub fn erase_me(&self, who: &Principal) -> Result<Value> {
        let pseudonym = format!("anon_{}", crate::ids::random_token(12));
        let now = self.clock.now_ms();
        self.stores.tokens.revoke_user(&who.user_id, now)?;
        if !self
            .stores
            .users
            .erase_user(&who.user_id, &pseudonym, now)?
        {
            return Err(Error::NotFound("user"));
        }
        self.audit(Action::UserErased, None, Some(&pseudonym), json!({}))?;
        Ok(json!({"erased": true}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposable_domains_match_subdomains_only_on_a_dot() {
        let d = vec!["mailinator.com".to_string()];
        assert!(is_disposable("a@mailinator.com", &d));
        assert!(is_disposable("a@x.mailinator.com", &d));
        assert!(!is_disposable("a@notmailinator.com", &d));
        assert!(!is_disposable("a@example.com", &d));
    }

    #[test]
    fn locales() {
        for ok in ["en", "pt-BR", "zh-Hant-TW", "ast"] {
            assert!(valid_locale(ok), "{ok}");
        }
        for bad in ["", "e", "english", "en_US", "en-", "en-a", "12"] {
            assert!(!valid_locale(bad), "{bad}");
        }
    }
}
