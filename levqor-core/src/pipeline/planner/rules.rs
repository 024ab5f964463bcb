//! The offline rules planner.
//!
//! Grammar (case-insensitive keywords, parameters taken as written):
//!
//! | intent | recognised by | step |
//! | --- | --- | --- |
//! | summarise | `summarise`, `summarize`, `summary` | `transform` (or `echo`) with `{"from": {"summary": "{{input}}"}}` |
//! | transform | `transform`, `reshape`, `extract` | `transform` (or `echo`) with `{"from": "{{input}}"}` |
//! | Slack | a `#channel` (with `slack`, or alone) | `slack` `{channel, text}` |
//! | email | an address `a@b.c` | `email` `{to, subject, text}` |
//! | HTTP | an `http://` or `https://` URL | `http` `{method, url, body}`: GET after `fetch`/`get`/`download`, else POST |
//! | Telegram | `telegram` and a chat id (integer or `@name`) | `telegram` `{chat_id, text}` |
//! | Notion | `notion` and a 32-hex database id (dashes allowed) | `notion` `{database_id, title, content}` |
//! | Sheets | `sheet`/`spreadsheet`, a quoted name or id, an optional `A1:C9` range | `sheets` `{spreadsheet_id, range, values}` |
//!
//! Summaries and transforms come first; deliveries follow in the order the
//! description names them, and carry the summary (or the input) as text.
//! A description that maps to no step is refused with what was understood.

use serde_json::{Value, json};

use super::{PlanContext, PlanDraft, Planner, Usage};
use crate::error::{Error, FieldError, Result};
use crate::pipeline::validate::check_pipeline;

/// The offline, deterministic planner.
#[derive(Debug, Clone, Copy, Default)]
pub struct RulesPlanner;

fn trim_punct(s: &str) -> &str {
    s.trim_matches(|c: char| {
        matches!(
            c,
            ',' | '.' | ';' | ':' | '!' | '?' | '(' | ')' | '"' | '\''
        )
    })
}

fn is_email(t: &str) -> bool {
    let Some((local, domain)) = t.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-@".contains(c))
}

fn is_notion_id(t: &str) -> bool {
    let hex: String = t.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn is_range(t: &str) -> bool {
    let cell = |s: &str| {
        let s = s.rsplit('!').next().unwrap_or(s);
        !s.is_empty()
            && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric())
    };
    matches!(t.split_once(':'), Some((a, b)) if cell(a) && cell(b))
}

fn quoted(desc: &str) -> Option<(usize, String)> {
    for q in ['"', '\'', '“'] {
        if let Some(start) = desc.find(q) {
            let rest = &desc[start + q.len_utf8()..];
            let end_q = if q == '“' { '”' } else { q };
            if let Some(end) = rest.find(end_q) {
                let name = rest[..end].trim();
                if !name.is_empty() {
                    return Some((start, name.to_string()));
                }
            }
        }
    }
    None
}

struct Found {
    pos: usize,
    kind: &'static str,
    params: Value,
}

impl RulesPlanner {
    /// Reads the description: steps found (with their position) and what was understood.
    fn read(&self, desc: &str, transform: &str) -> (Vec<Found>, Vec<String>, Vec<String>) {
        let lower = desc.to_lowercase();
        let mut found = Vec::new();
        let mut understood = Vec::new();
        let mut missing = Vec::new();
        let has = |w: &str| lower.contains(w);
        let tokens: Vec<(usize, &str)> = desc
            .split_whitespace()
            .map(|t| (t.as_ptr() as usize - desc.as_ptr() as usize, t))
            .collect();
        let summarise = has("summarise") || has("summarize") || has("summary");
        let text = if summarise {
            "{{steps.summarise.output.summary}}"
        } else {
            "{{input}}"
        };
        if summarise {
            understood.push("summarise".to_string());
            let params = if transform == "transform" {
                json!({"from": {"summary": "{{input}}"}})
            } else {
                json!({"summary": "{{input}}"})
            };
            found.push(Found {
                pos: 0,
                kind: "summarise",
                params,
            });
        } else if has("transform") || has("reshape") || has("extract") {
            understood.push("transform".to_string());
            let params = if transform == "transform" {
                json!({"from": "{{input}}"})
            } else {
                json!({"value": "{{input}}"})
            };
            found.push(Found {
                pos: 0,
                kind: "transform",
                params,
            });
        }
        let subject = format!(
            "Levqor: {}",
            desc.chars().take(60).collect::<String>().trim()
        );
        let get = ["fetch", "get ", "download"].iter().any(|w| has(w));
        let mut slack_seen = false;
        for (pos, raw) in &tokens {
            let t = trim_punct(raw);
            if let Some(ch) = t.strip_prefix('#').filter(|c| {
                !c.is_empty()
                    && c.chars()
                        .all(|x| x.is_ascii_alphanumeric() || "_-".contains(x))
            }) {
                slack_seen = true;
                understood.push(format!("Slack channel #{ch}"));
                found.push(Found {
                    pos: *pos,
                    kind: "slack",
                    params: json!({"channel": format!("#{ch}"), "text": text}),
                });
            } else if is_email(t) && !t.starts_with('@') {
                understood.push(format!("email to {t}"));
                found.push(Found {
                    pos: *pos,
                    kind: "email",
                    params: json!({"to": t, "subject": subject, "text": text}),
                });
            } else if t.starts_with("http://") || t.starts_with("https://") {
                let method = if get { "GET" } else { "POST" };
                understood.push(format!("HTTP {method} {t}"));
                let params = if get {
                    json!({"method": method, "url": t})
                } else {
                    json!({"method": method, "url": t, "body": "{{input}}"})
                };
                found.push(Found {
                    pos: *pos,
                    kind: "http",
                    params,
                });
            }
        }
        if has("slack") && !slack_seen {
            missing.push("Slack needs a channel, written as #name".to_string());
        }
        if let Some(tpos) = lower.find("telegram") {
            let chat = tokens
                .iter()
                .filter(|(p, _)| *p >= tpos)
                .map(|(p, t)| (*p, trim_punct(t)))
                .find(|(_, t)| {
                    t.parse::<i64>().is_ok()
                        || (t.starts_with('@') && t.len() > 1 && !t[1..].contains('@'))
                });
            match chat {
                Some((pos, t)) => {
                    understood.push(format!("Telegram chat {t}"));
                    let chat_id = t.parse::<i64>().map_or_else(|_| json!(t), |n| json!(n));
                    found.push(Found {
                        pos: pos.min(tpos),
                        kind: "telegram",
                        params: json!({"chat_id": chat_id, "text": text}),
                    });
                }
                None => missing.push("Telegram needs a chat id (a number or @channel)".to_string()),
            }
        }
        if let Some(npos) = lower.find("notion") {
            match tokens
                .iter()
                .map(|(_, t)| trim_punct(t))
                .find(|t| is_notion_id(t))
            {
                Some(id) => {
                    understood.push(format!("Notion database {id}"));
                    found.push(Found {
                        pos: npos,
                        kind: "notion",
                        params: json!({"database_id": id, "title": subject, "content": text}),
                    });
                }
                None => missing.push("Notion needs a database id (32 hex characters)".to_string()),
            }
        }
        if let Some(spos) = lower.find("sheet").or_else(|| lower.find("spreadsheet")) {
            match quoted(desc) {
                Some((_, name)) => {
                    let range = tokens
                        .iter()
                        .map(|(_, t)| trim_punct(t))
                        .find(|t| is_range(t))
                        .unwrap_or("A1");
                    understood.push(format!("Google Sheet \"{name}\" range {range}"));
                    found.push(Found {
                        pos: spos,
                        kind: "sheets",
                        params: json!({"spreadsheet_id": name, "range": range, "values": [[text]]}),
                    });
                }
                None => missing.push("Google Sheets needs a quoted sheet name or id".to_string()),
            }
        }
        if has("when ") || has("whenever") {
            understood.push("a trigger (its data is the run input)".to_string());
        }
        found.sort_by_key(|f| f.pos);
        (found, understood, missing)
    }
}

impl Planner for RulesPlanner {
    fn name(&self) -> &'static str {
        "rules"
    }

    fn plan(&self, description: &str, ctx: &PlanContext<'_>) -> Result<PlanDraft> {
        let transform = if ctx.connectors.get("transform").is_some() {
            "transform"
        } else {
            "echo"
        };
        let (found, understood, missing) = self.read(description, transform);
        let has_delivery = found
            .iter()
            .any(|f| !matches!(f.kind, "summarise" | "transform"));
        if found.is_empty() || (!has_delivery && !missing.is_empty()) {
            let mut msg = String::from("could not turn the description into steps");
            if !understood.is_empty() {
                msg.push_str(&format!("; understood: {}", understood.join(", ")));
            }
            if !missing.is_empty() {
                msg.push_str(&format!("; missing: {}", missing.join("; ")));
            }
            msg.push_str(
                "; name a destination such as Slack #channel, an email address, a URL, \
                 Telegram chat id, Notion database id or a quoted Google Sheet",
            );
            return Err(Error::Validation(vec![FieldError::new(
                "/description",
                msg,
            )]));
        }
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        let steps: Vec<Value> = found
            .into_iter()
            .map(|f| {
                let n = counts.entry(f.kind).or_default();
                *n += 1;
                let id = if *n == 1 {
                    f.kind.to_string()
                } else {
                    format!("{}_{n}", f.kind)
                };
                let connector = match f.kind {
                    "summarise" | "transform" => transform,
                    k => k,
                };
                json!({"id": id, "connector": connector, "params": f.params})
            })
            .collect();
        let name: String = description.trim().chars().take(80).collect();
        let body =
            json!({"name": if name.is_empty() { "pipeline".into() } else { name }, "steps": steps});
        let (def, errors) = check_pipeline(&body, "", ctx.limits, ctx.connectors);
        match def {
            Some(def) if errors.is_empty() => Ok(PlanDraft {
                def,
                planner: "rules",
                cost_usd: 0.0,
                usage: Usage::default(),
                model: None,
            }),
            _ => Err(Error::Validation(
                errors
                    .into_iter()
                    .map(|e| {
                        FieldError::new(
                            "/description",
                            format!("planned step invalid at {}: {}", e.path, e.message),
                        )
                    })
                    .collect(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognisers() {
        assert!(is_email("ops@example.com") && !is_email("a@b") && !is_email("@chan"));
        assert!(is_notion_id("0123456789abcdef0123456789ABCDEF"));
        assert!(is_notion_id("01234567-89ab-cdef-0123-456789abcdef"));
        assert!(is_range("A1:C10") && is_range("Leads!A:C") && !is_range("10:30"));
        assert_eq!(
            quoted("to sheet 'Leads 2024' now").map(|q| q.1).as_deref(),
            Some("Leads 2024")
        );
    }
}
