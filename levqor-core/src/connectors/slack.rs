//! `slack`: posts a message with Slack's Web API `chat.postMessage`.
//!
//! Slack answers HTTP 200 with `{"ok": false, "error": ...}` for most failures:
//! `invalid_auth`, `not_authed`, `account_inactive`, `token_revoked` map to
//! unauthorized, `ratelimited` to rate limited, anything else to a
//! non-retryable 4xx-like error. Slack has no idempotency key for
//! `chat.postMessage`; the context's key is not sent (see docs/connectors.md).

use serde_json::{Value, json};

use super::http_client::{HttpClient, ReqBody, str_at};
use super::params::Params;
use super::settings::{ConnectorSettings, Secret};
use super::{Connector, ConnectorError, ConnectorErrorKind, ParamSpec, ParamType, TaskContext};

const PARAMS: &[ParamSpec] = &[
    ParamSpec::required("channel", ParamType::String, "Channel id or name (#sales)"),
    ParamSpec::required(
        "text",
        ParamType::String,
        "Message text (fallback when blocks are given)",
    ),
    ParamSpec::optional("blocks", ParamType::Array, "Block Kit blocks"),
];

/// The Slack connector.
#[derive(Debug, Clone)]
pub struct Slack {
    token: Option<Secret>,
    base_url: String,
    client: HttpClient,
}

impl Slack {
    /// Builds it from settings (`LEVQOR_SLACK_BOT_TOKEN`, `LEVQOR_SLACK_BASE_URL`).
    pub fn new(settings: &ConnectorSettings) -> Self {
        let token = settings.slack_bot_token.clone();
        let client = HttpClient::new("slack", settings.limits).scrub_secret(token.as_ref());
        Slack {
            token,
            base_url: settings.slack_base_url.clone(),
            client,
        }
    }
}

impl Connector for Slack {
    fn name(&self) -> &str {
        "slack"
    }

    fn params(&self) -> &[ParamSpec] {
        PARAMS
    }

    fn run_task(&self, ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError> {
        let p = Params::new("slack", PARAMS, params)?;
        let Some(token) = &self.token else {
            return Err(self.client.err(
                ConnectorErrorKind::NotConfigured {
                    setting: "LEVQOR_SLACK_BOT_TOKEN".into(),
                },
                "not configured: set LEVQOR_SLACK_BOT_TOKEN",
            ));
        };
        let mut body = json!({"channel": p.str("channel")?, "text": p.str("text")?});
        if let Some(blocks) = p.get("blocks") {
            body["blocks"] = blocks.clone();
        }
        let headers = [(
            "authorization".to_string(),
            format!("Bearer {}", token.expose()),
        )];
        let url = format!("{}/chat.postMessage", self.base_url);
        let reply = self
            .client
            .send(ctx, "POST", &url, &headers, ReqBody::Json(body))?;
        if !reply.is_success() {
            let detail = serde_json::from_slice::<Value>(&reply.body)
                .ok()
                .and_then(|v| str_at(&v, "/error").map(str::to_string))
                .unwrap_or_default();
            return Err(self.client.status_error(&reply, &detail, None));
        }
        let v = self.client.json(&reply)?;
        match v.get("ok").and_then(Value::as_bool) {
            Some(true) => {}
            Some(false) => {
                let code = str_at(&v, "/error").unwrap_or("unknown_error");
                let kind = match code {
                    "invalid_auth" | "not_authed" | "account_inactive" | "token_revoked"
                    | "token_expired" => ConnectorErrorKind::Unauthorized,
                    "ratelimited" | "rate_limited" => ConnectorErrorKind::RateLimited {
                        retry_after: reply.retry_after(),
                    },
                    "internal_error"
                    | "fatal_error"
                    | "service_unavailable"
                    | "request_timeout" => ConnectorErrorKind::Upstream5xx {
                        status: reply.status,
                    },
                    _ => ConnectorErrorKind::Upstream4xx {
                        status: reply.status,
                    },
                };
                return Err(self.client.err(kind, format!("slack error: {code}")));
            }
            None => {
                return Err(self.client.err(
                    ConnectorErrorKind::BadResponse,
                    "answer without a boolean `ok`",
                ));
            }
        }
        match (str_at(&v, "/ts"), str_at(&v, "/channel")) {
            (Some(ts), Some(channel)) => Ok(json!({"ts": ts, "channel": channel})),
            _ => Err(self.client.err(
                ConnectorErrorKind::BadResponse,
                "answer lacks `ts` or `channel`",
            )),
        }
    }
}
