//! `levqor job submit|status|list|cancel`. The CLI acts as an operator: it
//! sees every user's jobs.

use levqor_core::auth::Principal;
use levqor_core::queue::IntakeRequest;
use levqor_core::{Error, Levqor, Result};
use serde_json::{Value, json};

use crate::cli::JobCmd;
use crate::output::{job_line, print};

/// Runs a job subcommand.
pub fn run(l: &Levqor, cmd: JobCmd, as_json: bool) -> Result<()> {
    match cmd {
        JobCmd::Submit(a) => {
            let payload: Value = serde_json::from_str(&a.payload)
                .map_err(|e| Error::invalid("/payload", format!("--payload is not JSON: {e}")))?;
            let mut body = json!({"kind": a.kind, "payload": payload});
            let set = |body: &mut Value, k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    body[k] = v;
                }
            };
            set(&mut body, "priority", a.priority.map(Value::from));
            set(&mut body, "run_at", a.run_at.map(Value::from));
            set(&mut body, "max_attempts", a.max_attempts.map(Value::from));
            set(&mut body, "timeout_ms", a.timeout_ms.map(Value::from));
            set(
                &mut body,
                "idempotency_key",
                a.idempotency_key.map(Value::from),
            );
            let req = IntakeRequest::from_json(&body, None)?;
            let (user, _) = l.ensure_user(&a.email)?;
            let out = l.queue.submit(&user, req)?;
            let v = json!({"job_id": out.job_id, "status": out.status.as_str(), "created": out.created});
            print(&v, as_json, |_| out.job_id.clone());
        }
        JobCmd::Status { job_id } => {
            let j = l.queue.get(&Principal::operator(), &job_id)?.to_json();
            print(&j, as_json, |j| {
                serde_json::to_string_pretty(j).unwrap_or_default()
            });
        }
        JobCmd::List {
            status,
            limit,
            cursor,
        } => {
            let page = l
                .queue
                .list_all(status.as_deref(), limit, cursor.as_deref())?;
            let jobs: Vec<Value> = page.items.iter().map(|j| j.to_json()).collect();
            let v = json!({"jobs": jobs, "next_cursor": page.next_cursor});
            print(&v, as_json, |v| {
                let mut lines: Vec<String> = jobs.iter().map(job_line).collect();
                if let Some(c) = v["next_cursor"].as_str() {
                    lines.push(format!("next page: --cursor {c}"));
                }
                lines.join("\n")
            });
        }
        JobCmd::Cancel { job_id } => {
            let j = l.queue.cancel(&Principal::operator(), &job_id)?.to_json();
            print(&j, as_json, |j| {
                format!(
                    "{} {}",
                    j["id"].as_str().unwrap_or(""),
                    j["status"].as_str().unwrap_or("")
                )
            });
        }
    }
    Ok(())
}
