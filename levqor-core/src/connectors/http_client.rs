//! Shared ureq plumbing of the connectors: one agent per connector with a
//! connect timeout, a total timeout and a response size cap, transport errors
//! mapped onto [`ConnectorErrorKind`], and secrets scrubbed from every message.
//!
//! **Invariant**: no ureq error text reaches a [`ConnectorError`] (some carry
//! the URL, and Telegram's URL holds the bot token); messages are built here
//! from the error's class only.

use std::time::Duration;

use serde_json::Value;
use ureq::unversioned::resolver::Resolver;
use ureq::unversioned::transport::DefaultConnector;

use super::guard::GuardError;
use super::settings::HttpLimits;
use super::{ConnectorError, ConnectorErrorKind, TaskContext};

/// A request body.
#[derive(Debug, Clone)]
pub(crate) enum ReqBody {
    /// No body.
    Empty,
    /// `application/json`.
    Json(Value),
    /// `application/x-www-form-urlencoded`, already encoded.
    Form(String),
    /// Raw bytes; the caller sets any content type in the headers.
    Raw(Vec<u8>),
}

/// A response read in full (within the cap).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers, names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// First header of this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Retry-After` as whole seconds (HTTP dates are not honoured: `None`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")?
            .trim()
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One connector's HTTP client.
#[derive(Clone)]
pub(crate) struct HttpClient {
    name: &'static str,
    agent: ureq::Agent,
    limits: HttpLimits,
    secrets: Vec<String>,
}

impl std::fmt::Debug for HttpClient {
    /// Never shows the secrets it scrubs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("name", &self.name)
            .field("limits", &self.limits)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .finish_non_exhaustive()
    }
}

fn config(limits: &HttpLimits, guarded: bool) -> ureq::config::Config {
    let mut b = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(limits.connect_timeout))
        .timeout_resolve(Some(limits.connect_timeout))
        .timeout_global(Some(limits.total_timeout))
        .user_agent(concat!("levqor/", env!("CARGO_PKG_VERSION")));
    if guarded {
        // A proxy would resolve the target itself, past the guard.
        b = b.proxy(None);
    }
    b.build()
}

impl HttpClient {
    /// A client for a fixed, configured service.
    pub fn new(name: &'static str, limits: HttpLimits) -> Self {
        let agent = ureq::Agent::new_with_config(config(&limits, false));
        HttpClient {
            name,
            agent,
            limits,
            secrets: Vec::new(),
        }
    }

    /// A client whose every connection goes through `resolver`, with no proxy.
    pub fn with_resolver(name: &'static str, limits: HttpLimits, resolver: impl Resolver) -> Self {
        let agent =
            ureq::Agent::with_parts(config(&limits, true), DefaultConnector::default(), resolver);
        HttpClient {
            name,
            agent,
            limits,
            secrets: Vec::new(),
        }
    }

    /// Registers a secret to scrub from every error message.
    pub fn scrub(mut self, secret: &str) -> Self {
        if !secret.is_empty() {
            self.secrets.push(secret.to_string());
        }
        self
    }

    /// [`HttpClient::scrub`] for a configured credential, if there is one.
    pub fn scrub_secret(self, secret: Option<&super::settings::Secret>) -> Self {
        match secret {
            Some(s) => self.scrub(s.expose()),
            None => self,
        }
    }

    /// Builds an error of this connector, with secrets scrubbed and the
    /// message bounded.
    pub fn err(&self, kind: ConnectorErrorKind, message: impl Into<String>) -> ConnectorError {
        let mut m: String = message.into();
        for s in &self.secrets {
            m = m.replace(s.as_str(), "[redacted]");
        }
        if m.len() > 300 {
            let mut cut = 300;
            while !m.is_char_boundary(cut) {
                cut -= 1;
            }
            m.truncate(cut);
            m.push_str("...");
        }
        ConnectorError::new(self.name, kind, m)
    }

    /// Sends one request and reads the whole answer (within the size cap).
    ///
    /// # Errors
    /// `Timeout`, `Network`, `Forbidden` (guard) or `BadResponse` (oversized
    /// or unreadable body). HTTP error statuses are *not* errors here.
    pub fn send(
        &self,
        ctx: &TaskContext,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: ReqBody,
    ) -> Result<Reply, ConnectorError> {
        let mut b = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let built = match body {
            ReqBody::Empty => b.body(Vec::new()).map(|r| (r, false)),
            ReqBody::Json(v) => b
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&v).unwrap_or_default())
                .map(|r| (r, true)),
            ReqBody::Form(s) => b
                .header("content-type", "application/x-www-form-urlencoded")
                .body(s.into_bytes())
                .map(|r| (r, true)),
            ReqBody::Raw(bytes) => b.body(bytes).map(|r| (r, true)),
        };
        let (req, has_body) = built.map_err(|_| {
            self.err(
                ConnectorErrorKind::InvalidPayload,
                "invalid request (method, URL or header)",
            )
        })?;
        let total = match ctx.timeout {
            Some(t) => t.min(self.limits.total_timeout),
            None => self.limits.total_timeout,
        };
        let result = if has_body {
            let req = self
                .agent
                .configure_request(req)
                .timeout_global(Some(total))
                .build();
            self.agent.run(req)
        } else {
            let (parts, _) = req.into_parts();
            let req = ureq::http::Request::from_parts(parts, ());
            let req = self
                .agent
                .configure_request(req)
                .timeout_global(Some(total))
                .build();
            self.agent.run(req)
        };
        let mut resp = result.map_err(|e| self.map_error(e))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp
            .body_mut()
            .with_config()
            .limit(self.limits.max_response_bytes)
            .read_to_vec()
            .map_err(|e| self.map_error(e))?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Maps a transport error to a class, never echoing its text.
    fn map_error(&self, e: ureq::Error) -> ConnectorError {
        use ConnectorErrorKind as K;
        match e {
            ureq::Error::Timeout(_) => self.err(K::Timeout, "timed out"),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                self.err(K::Timeout, "timed out")
            }
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                self.err(K::Timeout, "timed out")
            }
            ureq::Error::BodyExceedsLimit(n) => self.err(
                K::BadResponse,
                format!("response larger than the {n}-byte cap"),
            ),
            ureq::Error::HostNotFound => self.err(K::Network, "host not found"),
            ureq::Error::ConnectionFailed => self.err(K::Network, "connection failed"),
            ureq::Error::Io(_) => self.err(K::Network, "connection error"),
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
                self.err(K::InvalidPayload, "invalid URL or header")
            }
            ureq::Error::Other(inner) => match inner.downcast::<GuardError>() {
                Ok(g) => self.err(K::Forbidden, g.to_string()),
                Err(_) => self.err(K::Network, "request failed"),
            },
            _ => self.err(K::Network, "request failed (protocol or TLS error)"),
        }
    }

    /// Parses a JSON body; anything else is `BadResponse`.
    pub fn json(&self, reply: &Reply) -> Result<Value, ConnectorError> {
        serde_json::from_slice(&reply.body).map_err(|_| {
            self.err(
                ConnectorErrorKind::BadResponse,
                format!("malformed JSON from upstream (HTTP {})", reply.status),
            )
        })
    }

    /// The error for a non-success reply: 401 unauthorized, 429 rate limited
    /// (with the service's `Retry-After` unless `retry_after` overrides it),
    /// 5xx retryable, other 4xx not, anything else a bad response.
    pub fn status_error(
        &self,
        reply: &Reply,
        detail: &str,
        retry_after: Option<Duration>,
    ) -> ConnectorError {
        use ConnectorErrorKind as K;
        let s = reply.status;
        let msg = if detail.is_empty() {
            format!("upstream answered HTTP {s}")
        } else {
            format!("upstream answered HTTP {s}: {detail}")
        };
        let kind = match s {
            401 => K::Unauthorized,
            429 => K::RateLimited {
                retry_after: retry_after.or_else(|| reply.retry_after()),
            },
            500..=599 => K::Upstream5xx { status: s },
            400..=499 => K::Upstream4xx { status: s },
            _ => K::BadResponse,
        };
        self.err(kind, msg)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for one
/// path segment or query value).
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A string member of a JSON object, for pulling fields out of answers.
pub(crate) fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_components() {
        assert_eq!(encode_component("Sheet 1!A1:C1"), "Sheet%201%21A1%3AC1");
        assert_eq!(encode_component("a-b_c.d~"), "a-b_c.d~");
    }

    #[test]
    fn scrubs_secrets_and_bounds_messages() {
        let c = HttpClient::new("t", HttpLimits::default()).scrub("tok123");
        let e = c.err(
            ConnectorErrorKind::Network,
            "failed at /bottok123/sendMessage",
        );
        assert!(!e.message.contains("tok123"));
        let e = c.err(ConnectorErrorKind::Network, "é".repeat(400));
        assert!(e.message.len() <= 304);
    }
}
