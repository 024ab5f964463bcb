//! `telegram`: sends a message with the Bot API's `sendMessage`.
//!
//! The bot token sits in the URL path (`/bot{token}/sendMessage`), so the URL
//! never appears in an error: the shared client builds messages from error
//! classes only, and scrubs the token from anything else. Telegram has no
//! idempotency key; the context's key is not sent.

use std::time::Duration;

use serde_json::{Value, json};

use super::http_client::{HttpClient, ReqBody, str_at};
use super::params::Params;
use super::settings::{ConnectorSettings, Secret};
use super::{Connector, ConnectorError, ConnectorErrorKind, ParamSpec, ParamType, TaskContext};

const PARAMS: &[ParamSpec] = &[
    ParamSpec::required(
        "chat_id",
        ParamType::StringOrInteger,
        "Chat id or @channelusername",
    ),
    ParamSpec::required("text", ParamType::String, "Message text"),
    ParamSpec::optional(
        "parse_mode",
        ParamType::String,
        "MarkdownV2, HTML or Markdown",
    ),
];

/// The Telegram connector.
#[derive(Debug, Clone)]
pub struct Telegram {
    token: Option<Secret>,
    base_url: String,
    client: HttpClient,
}

impl Telegram {
    /// Builds it from settings (`LEVQOR_TELEGRAM_BOT_TOKEN`, `LEVQOR_TELEGRAM_BASE_URL`).
    pub fn new(settings: &ConnectorSettings) -> Self {
        let token = settings.telegram_bot_token.clone();
        let client = HttpClient::new("telegram", settings.limits).scrub_secret(token.as_ref());
        Telegram {
            token,
            base_url: settings.telegram_base_url.clone(),
            client,
        }
    }
}

impl Connector for Telegram {
    fn name(&self) -> &str {
        "telegram"
    }

    fn params(&self) -> &[ParamSpec] {
        PARAMS
    }

    fn run_task(&self, ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError> {
        let p = Params::new("telegram", PARAMS, params)?;
        let Some(token) = &self.token else {
            return Err(self.client.err(
                ConnectorErrorKind::NotConfigured {
                    setting: "LEVQOR_TELEGRAM_BOT_TOKEN".into(),
                },
                "not configured: set LEVQOR_TELEGRAM_BOT_TOKEN",
            ));
        };
        let chat_id = p.get("chat_id").cloned().unwrap_or(Value::Null);
        if chat_id.as_str().is_some_and(|s| s.trim().is_empty()) {
            return Err(p.invalid("param `chat_id` must not be empty"));
        }
        let mut body = json!({"chat_id": chat_id, "text": p.str("text")?});
        if let Some(mode) = p.opt_str("parse_mode") {
            body["parse_mode"] = json!(mode);
        }
        let url = format!("{}/bot{}/sendMessage", self.base_url, token.expose());
        let reply = self
            .client
            .send(ctx, "POST", &url, &[], ReqBody::Json(body))?;
        let parsed = serde_json::from_slice::<Value>(&reply.body).ok();
        if !reply.is_success() {
            let detail = parsed
                .as_ref()
                .and_then(|v| str_at(v, "/description").map(str::to_string))
                .unwrap_or_default();
            let retry_after = parsed
                .as_ref()
                .and_then(|v| v.pointer("/parameters/retry_after"))
                .and_then(Value::as_u64)
                .map(Duration::from_secs);
            return Err(self.client.status_error(&reply, &detail, retry_after));
        }
        let v = self.client.json(&reply)?;
        if v.get("ok").and_then(Value::as_bool) != Some(true) {
            let detail = str_at(&v, "/description").unwrap_or("answer without `ok: true`");
            return Err(self.client.err(
                ConnectorErrorKind::BadResponse,
                format!("telegram error: {detail}"),
            ));
        }
        match v.pointer("/result/message_id").and_then(Value::as_i64) {
            Some(id) => Ok(json!({"message_id": id})),
            None => Err(self.client.err(
                ConnectorErrorKind::BadResponse,
                "answer lacks `result.message_id`",
            )),
        }
    }
}
