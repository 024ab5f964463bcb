//! `levqor dlq list|retry` and `levqor queue health`.

use levqor_core::{Levqor, Result};
use serde_json::{Value, json};

use crate::cli::{DlqCmd, QueueCmd};
use crate::output::{job_line, print};

/// Runs a dlq subcommand.
pub fn dlq(l: &Levqor, cmd: DlqCmd, as_json: bool) -> Result<()> {
    match cmd {
        DlqCmd::List { limit } => {
            let page = l.queue.dead_letters(limit, None)?;
            let jobs: Vec<Value> = page.items.iter().map(|j| j.to_json()).collect();
            let v = json!({"jobs": jobs, "next_cursor": page.next_cursor});
            print(&v, as_json, |_| {
                jobs.iter()
                    .map(|j| format!("{}  {}", job_line(j), j["error"].as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        DlqCmd::Retry { job_ids } => {
            let ids = (!job_ids.is_empty()).then_some(job_ids);
            let n = l.queue.retry_dead(ids.as_deref())?;
            print(&json!({"requeued": n}), as_json, |_| {
                format!("requeued {n}")
            });
        }
    }
    Ok(())
}

/// Runs a queue subcommand.
pub fn queue(l: &Levqor, cmd: QueueCmd, as_json: bool) -> Result<()> {
    match cmd {
        QueueCmd::Health => {
            let c = l.queue.health()?;
            let v = serde_json::to_value(&c).unwrap_or_default();
            print(&v, as_json, |v| {
                v.as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| format!("{k:<20} {v}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default()
            });
        }
    }
    Ok(())
}
