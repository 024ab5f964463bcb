//! `email`: sends an email through Resend's `POST /emails`.
//!
//! The context's idempotency key goes out as Resend's `Idempotency-Key`
//! header, so a retried step never sends the same email twice. Resend error
//! bodies are `{"statusCode", "name", "message"}`.

use serde_json::{Value, json};

use super::http_client::{HttpClient, ReqBody, str_at};
use super::params::Params;
use super::settings::{ConnectorSettings, Secret};
use super::{Connector, ConnectorError, ConnectorErrorKind, ParamSpec, ParamType, TaskContext};

const PARAMS: &[ParamSpec] = &[
    ParamSpec::required(
        "to",
        ParamType::Any,
        "Recipient address, or an array of them",
    ),
    ParamSpec::required("subject", ParamType::String, "Subject line"),
    ParamSpec::optional("text", ParamType::String, "Plain-text body"),
    ParamSpec::optional("html", ParamType::String, "HTML body"),
    ParamSpec::optional(
        "from",
        ParamType::String,
        "Sender; default LEVQOR_EMAIL_FROM",
    ),
];

/// The email (Resend) connector.
#[derive(Debug, Clone)]
pub struct Email {
    key: Option<Secret>,
    from: Option<String>,
    base_url: String,
    client: HttpClient,
}

impl Email {
    /// Builds it from settings (`LEVQOR_RESEND_API_KEY`, `LEVQOR_RESEND_BASE_URL`,
    /// `LEVQOR_EMAIL_FROM`).
    pub fn new(settings: &ConnectorSettings) -> Self {
        let key = settings.resend_api_key.clone();
        let client = HttpClient::new("email", settings.limits).scrub_secret(key.as_ref());
        Email {
            key,
            from: settings.email_from.clone(),
            base_url: settings.resend_base_url.clone(),
            client,
        }
    }
}

fn recipients(p: &Params<'_>) -> Result<Vec<String>, ConnectorError> {
    let bad = || p.invalid("param `to` must be an address or a non-empty array of addresses");
    let list: Vec<String> = match p.get("to") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        _ => return Err(bad()),
    };
    if list.is_empty() || list.iter().any(|a| !a.contains('@') || a.trim() != a) {
        return Err(bad());
    }
    Ok(list)
}

impl Connector for Email {
    fn name(&self) -> &str {
        "email"
    }

    fn params(&self) -> &[ParamSpec] {
        PARAMS
    }

    fn run_task(&self, ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError> {
        let p = Params::new("email", PARAMS, params)?;
        let Some(key) = &self.key else {
            return Err(self.client.err(
                ConnectorErrorKind::NotConfigured {
                    setting: "LEVQOR_RESEND_API_KEY".into(),
                },
                "not configured: set LEVQOR_RESEND_API_KEY",
            ));
        };
        let Some(from) = p.opt_str("from").or(self.from.as_deref()) else {
            return Err(self.client.err(
                ConnectorErrorKind::NotConfigured {
                    setting: "LEVQOR_EMAIL_FROM".into(),
                },
                "no sender: give `from` or set LEVQOR_EMAIL_FROM",
            ));
        };
        let to = recipients(&p)?;
        let mut body = json!({"from": from, "to": to, "subject": p.str("subject")?});
        match (p.opt_str("text"), p.opt_str("html")) {
            (None, None) => return Err(p.invalid("give `text` or `html`")),
            (text, html) => {
                if let Some(t) = text {
                    body["text"] = json!(t);
                }
                if let Some(h) = html {
                    body["html"] = json!(h);
                }
            }
        }
        let mut headers = vec![(
            "authorization".to_string(),
            format!("Bearer {}", key.expose()),
        )];
        if !ctx.idempotency_key.is_empty() {
            headers.push(("idempotency-key".to_string(), ctx.idempotency_key.clone()));
        }
        let url = format!("{}/emails", self.base_url);
        let reply = self
            .client
            .send(ctx, "POST", &url, &headers, ReqBody::Json(body))?;
        if !reply.is_success() {
            let detail = serde_json::from_slice::<Value>(&reply.body)
                .ok()
                .map(|v| {
                    let name = str_at(&v, "/name").unwrap_or("");
                    let msg = str_at(&v, "/message").unwrap_or("");
                    format!("{name}: {msg}")
                })
                .unwrap_or_default();
            return Err(self.client.status_error(&reply, &detail, None));
        }
        let v = self.client.json(&reply)?;
        match str_at(&v, "/id") {
            Some(id) if !id.is_empty() => Ok(json!({"id": id})),
            _ => Err(self
                .client
                .err(ConnectorErrorKind::BadResponse, "answer lacks `id`")),
        }
    }
}
