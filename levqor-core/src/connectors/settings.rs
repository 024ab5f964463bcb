//! Connector settings: credentials, base URLs and outbound-call limits, read
//! from the environment (or any lookup function, for tests).
//!
//! Secrets are held in [`Secret`], whose `Debug` never shows the value, so a
//! `{:?}` of [`ConnectorSettings`] is safe to log.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Result};

/// A credential. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; only for putting it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Limits applied to every outbound call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time allowed to resolve and connect (`LEVQOR_CONNECTOR_CONNECT_TIMEOUT_MS`, default 5000).
    pub connect_timeout: Duration,
    /// Time allowed for the whole call, body included (`LEVQOR_CONNECTOR_TIMEOUT_MS`,
    /// default 30000). A shorter [`TaskContext`](super::TaskContext) timeout wins.
    pub total_timeout: Duration,
    /// Largest response body read (`LEVQOR_CONNECTOR_MAX_RESPONSE_BYTES`, default 2 MiB).
    pub max_response_bytes: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connect_timeout: Duration::from_millis(5_000),
            total_timeout: Duration::from_millis(30_000),
            max_response_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Everything the standard connectors need from configuration.
#[derive(Debug, Clone)]
pub struct ConnectorSettings {
    /// `LEVQOR_SLACK_BOT_TOKEN`.
    pub slack_bot_token: Option<Secret>,
    /// `LEVQOR_SLACK_BASE_URL` (default `https://slack.com/api`).
    pub slack_base_url: String,
    /// `LEVQOR_TELEGRAM_BOT_TOKEN`.
    pub telegram_bot_token: Option<Secret>,
    /// `LEVQOR_TELEGRAM_BASE_URL` (default `https://api.telegram.org`).
    pub telegram_base_url: String,
    /// `LEVQOR_RESEND_API_KEY`.
    pub resend_api_key: Option<Secret>,
    /// `LEVQOR_RESEND_BASE_URL` (default `https://api.resend.com`).
    pub resend_base_url: String,
    /// `LEVQOR_EMAIL_FROM`: sender when a step gives no `from`.
    pub email_from: Option<String>,
    /// `LEVQOR_NOTION_TOKEN`.
    pub notion_token: Option<Secret>,
    /// `LEVQOR_NOTION_BASE_URL` (default `https://api.notion.com`).
    pub notion_base_url: String,
    /// `LEVQOR_GOOGLE_SERVICE_ACCOUNT_FILE`: path of the service account JSON key.
    pub google_service_account_file: Option<PathBuf>,
    /// `LEVQOR_SHEETS_BASE_URL` (default `https://sheets.googleapis.com`).
    pub sheets_base_url: String,
    /// `LEVQOR_GOOGLE_TOKEN_URL` (default `https://oauth2.googleapis.com/token`).
    pub google_token_url: String,
    /// `LEVQOR_HTTP_ALLOW_HOSTS`: hosts (or `host:port`) that bypass the
    /// private-address guard of the `http` connector.
    pub http_allow_hosts: Vec<String>,
    /// Timeouts and response cap of every outbound call.
    pub limits: HttpLimits,
}

impl Default for ConnectorSettings {
    /// No credentials, real service URLs, default limits.
    fn default() -> Self {
        // Without variables nothing can be malformed, so this cannot fail.
        Self::from_lookup(|_| None).expect("default connector settings are valid")
    }
}

impl ConnectorSettings {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`Error::Config`] when a numeric limit is not a positive integer.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `lookup` (a variable name to its value). Empty
    /// values count as unset; base URLs lose any trailing `/`.
    ///
    /// # Errors
    /// [`Error::Config`] when a numeric limit is not a positive integer.
    ///
    /// # Example
    /// ```
    /// use levqor_core::connectors::settings::ConnectorSettings;
    /// let s = ConnectorSettings::from_lookup(|k| {
    ///     (k == "LEVQOR_SLACK_BASE_URL").then(|| "http://127.0.0.1:9/api/".to_string())
    /// })
    /// .unwrap();
    /// assert_eq!(s.slack_base_url, "http://127.0.0.1:9/api");
    /// assert!(s.slack_bot_token.is_none());
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let secret = |k: &str| get(k).map(Secret::new);
        let url = |k: &str, default: &str| {
            get(k)
                .unwrap_or_else(|| default.to_string())
                .trim_end_matches('/')
                .to_string()
        };
        let number = |k: &str, default: u64| -> Result<u64> {
            match get(k) {
                None => Ok(default),
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(Error::Config(format!(
                        "{k} must be a positive integer, got {v:?}"
                    ))),
                },
            }
        };
        let d = HttpLimits::default();
        let limits = HttpLimits {
            connect_timeout: Duration::from_millis(number(
                "LEVQOR_CONNECTOR_CONNECT_TIMEOUT_MS",
                d.connect_timeout.as_millis() as u64,
            )?),
            total_timeout: Duration::from_millis(number(
                "LEVQOR_CONNECTOR_TIMEOUT_MS",
                d.total_timeout.as_millis() as u64,
            )?),
            max_response_bytes: number(
                "LEVQOR_CONNECTOR_MAX_RESPONSE_BYTES",
                d.max_response_bytes,
            )?,
        };
        let http_allow_hosts = get("LEVQOR_HTTP_ALLOW_HOSTS")
            .map(|v| {
                v.split(',')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(ConnectorSettings {
            slack_bot_token: secret("LEVQOR_SLACK_BOT_TOKEN"),
            slack_base_url: url("LEVQOR_SLACK_BASE_URL", "https://slack.com/api"),
            telegram_bot_token: secret("LEVQOR_TELEGRAM_BOT_TOKEN"),
            telegram_base_url: url("LEVQOR_TELEGRAM_BASE_URL", "https://api.telegram.org"),
            resend_api_key: secret("LEVQOR_RESEND_API_KEY"),
            resend_base_url: url("LEVQOR_RESEND_BASE_URL", "https://api.resend.com"),
            email_from: get("LEVQOR_EMAIL_FROM"),
            notion_token: secret("LEVQOR_NOTION_TOKEN"),
            notion_base_url: url("LEVQOR_NOTION_BASE_URL", "https://api.notion.com"),
            google_service_account_file: get("LEVQOR_GOOGLE_SERVICE_ACCOUNT_FILE")
                .map(PathBuf::from),
            sheets_base_url: url("LEVQOR_SHEETS_BASE_URL", "https://sheets.googleapis.com"),
            google_token_url: url(
                "LEVQOR_GOOGLE_TOKEN_URL",
                "https://oauth2.googleapis.com/token",
            ),
            http_allow_hosts,
            limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_debug_hide_secrets() {
        let s = ConnectorSettings::from_lookup(|k| match k {
            "LEVQOR_SLACK_BOT_TOKEN" => Some("xoxb-very-secret".into()),
            "LEVQOR_HTTP_ALLOW_HOSTS" => Some(" Example.com , 127.0.0.1:8080,".into()),
            "LEVQOR_CONNECTOR_TIMEOUT_MS" => Some("300".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.telegram_base_url, "https://api.telegram.org");
        assert_eq!(s.google_token_url, "https://oauth2.googleapis.com/token");
        assert_eq!(s.http_allow_hosts, vec!["example.com", "127.0.0.1:8080"]);
        assert_eq!(s.limits.total_timeout, Duration::from_millis(300));
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("very-secret"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
    }

    #[test]
    fn bad_number_is_config_error() {
        let e = ConnectorSettings::from_lookup(|k| {
            (k == "LEVQOR_CONNECTOR_MAX_RESPONSE_BYTES").then(|| "lots".to_string())
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("LEVQOR_CONNECTOR_MAX_RESPONSE_BYTES")
        );
    }
}
