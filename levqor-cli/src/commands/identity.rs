//! `levqor user|keys|audit|flags`: identity administration as the operator
//! (an admin principal without a user id, recorded as the system in the
//! audit log).

use levqor_core::audit::AuditQuery;
use levqor_core::auth::Principal;
use levqor_core::{Error, Levqor, Result};
use serde_json::{Value, json};

use crate::cli::{AuditCmd, FlagsCmd, KeysCmd, UserCmd};
use crate::output::print;

fn user_line(u: &Value) -> String {
    format!(
        "{}  {:<7}  {:>6} credits  {}  {}",
        u["id"].as_str().unwrap_or(""),
        u["role"].as_str().unwrap_or(""),
        u["credits"],
        u["email"].as_str().unwrap_or(""),
        u["name"].as_str().unwrap_or("")
    )
}

fn with(mut body: Value, k: &str, v: Option<Value>) -> Value {
    if let Some(v) = v {
        body[k] = v;
    }
    body
}

/// Runs a user subcommand.
pub fn user(l: &Levqor, cmd: UserCmd, as_json: bool) -> Result<()> {
    let op = Principal::operator();
    match cmd {
        UserCmd::Create { email, name, role } => {
            let body = with(json!({"email": email}), "name", name.map(Value::from));
            let body = with(body, "role", role.map(Value::from));
            let (u, created) = l.upsert_user(&op, &body)?;
            let v = json!({"user": u.to_json(), "created": created});
            print(&v, as_json, |v| {
                let verb = if created { "created" } else { "updated" };
                format!("{verb} {}", user_line(&v["user"]))
            });
        }
        UserCmd::Get { id, email } => {
            let u = match (id, email) {
                (_, Some(e)) => l.find_user(&op, &e)?,
                (Some(id), None) => l.user_by_id(&op, &id)?,
                (None, None) => {
                    return Err(Error::Config("give a user id or --email".into()));
                }
            };
            print(&u.to_json(), as_json, user_line);
        }
        UserCmd::List { limit, cursor } => {
            let page = l.list_users(&op, limit, cursor.as_deref())?;
            let users: Vec<Value> = page.items.iter().map(|u| u.to_json()).collect();
            let v = json!({"users": users, "next_cursor": page.next_cursor});
            print(&v, as_json, |v| {
                let mut lines: Vec<String> = users.iter().map(user_line).collect();
                if let Some(c) = v["next_cursor"].as_str() {
                    lines.push(format!("next: --cursor {c}"));
                }
                lines.join("\n")
            });
        }
        UserCmd::Patch {
            id,
            name,
            locale,
            marketing_opt_in,
            role,
        } => {
            let body = with(json!({}), "name", name.map(Value::from));
            let body = with(body, "locale", locale.map(Value::from));
            let body = with(body, "marketing_opt_in", marketing_opt_in.map(Value::from));
            let body = with(body, "role", role.map(Value::from));
            let u = l.patch_user(&op, &id, &body)?;
            print(&u.to_json(), as_json, user_line);
        }
    }
    Ok(())
}

/// Runs a keys subcommand.
pub fn keys(l: &Levqor, cmd: KeysCmd, as_json: bool) -> Result<()> {
    match cmd {
        KeysCmd::Rotate => {
            let r = l.rotate_pii_keys(None)?;
            let v = json!({"rows": r.rows, "key_id": r.key_id});
            print(&v, as_json, |_| {
                format!("re-encrypted {} users under key {}", r.rows, r.key_id)
            });
        }
    }
    Ok(())
}

/// Runs an audit subcommand.
pub fn audit(l: &Levqor, cmd: AuditCmd, as_json: bool) -> Result<()> {
    match cmd {
        AuditCmd::List {
            limit,
            cursor,
            action,
            subject,
        } => {
            let q = AuditQuery {
                limit,
                cursor,
                action,
                subject_id: subject,
            };
            let page = l.list_audit(&Principal::operator(), &q)?;
            let events: Vec<Value> = page.items.iter().map(|e| e.to_json()).collect();
            let v = json!({"events": events, "next_cursor": page.next_cursor});
            print(&v, as_json, |v| {
                let mut lines: Vec<String> = events
                    .iter()
                    .map(|e| {
                        format!(
                            "{}  {:<22}  actor {}  subject {}  {}",
                            e["created_at"].as_str().unwrap_or(""),
                            e["action"].as_str().unwrap_or(""),
                            e["actor_id"].as_str().unwrap_or("-"),
                            e["subject_id"].as_str().unwrap_or("-"),
                            e["details"]
                        )
                    })
                    .collect();
                if let Some(c) = v["next_cursor"].as_str() {
                    lines.push(format!("next: --cursor {c}"));
                }
                lines.join("\n")
            });
        }
    }
    Ok(())
}

/// Runs a flags subcommand.
pub fn flags(l: &Levqor, cmd: FlagsCmd, as_json: bool) -> Result<()> {
    let op = Principal::operator();
    match cmd {
        FlagsCmd::List => {
            let flags: Vec<Value> = l
                .list_flags(&op)?
                .into_iter()
                .map(|(name, s)| {
                    let mut v = s.to_json();
                    v["name"] = json!(name);
                    v
                })
                .collect();
            print(&json!({"flags": flags}), as_json, |_| {
                flags
                    .iter()
                    .map(|f| {
                        format!(
                            "{}  enabled={}  rollout={}%  overrides={}",
                            f["name"].as_str().unwrap_or(""),
                            f["enabled"],
                            f["rollout_pct"],
                            f["overrides"].as_object().map_or(0, |o| o.len())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        FlagsCmd::Set {
            name,
            enabled,
            rollout,
        } => {
            let body = with(json!({"name": name}), "enabled", enabled.map(Value::from));
            let body = with(body, "rollout_pct", rollout.map(Value::from));
            let c = l.set_flag(&op, &body)?;
            print(&c.to_json(), as_json, |v| {
                format!("{} is now {}", name, v["after"])
            });
        }
        FlagsCmd::Rollback => {
            let undone = l.rollback_flag_change(None)?;
            let v = json!({"rolled_back": undone.as_ref().map(|c| c.to_json())});
            print(&v, as_json, |_| match &undone {
                Some(c) => format!("rolled back {} on {}", c.id, c.flag),
                None => "no flag change to roll back".to_string(),
            });
        }
    }
    Ok(())
}
