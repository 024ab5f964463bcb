//! `sheets`: appends rows to a Google Sheet
//! (`POST /v4/spreadsheets/{id}/values/{range}:append?valueInputOption=USER_ENTERED`),
//! authenticated as a service account.
//!
//! The service account's JSON key (`client_email`, `private_key`) is read from
//! `LEVQOR_GOOGLE_SERVICE_ACCOUNT_FILE`; an RS256 JWT (scope
//! `https://www.googleapis.com/auth/spreadsheets`, audience the token URL,
//! one hour of life) is exchanged at `LEVQOR_GOOGLE_TOKEN_URL` for an access
//! token, which is cached until a minute before it expires. The cache is
//! behind a mutex, so concurrent calls fetch one token. The Sheets API has no
//! idempotency key: a retried append may append twice.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::http_client::{HttpClient, Reply, ReqBody, encode_component, str_at};
use super::params::Params;
use super::settings::{ConnectorSettings, Secret};
use super::{Connector, ConnectorError, ConnectorErrorKind, ParamSpec, ParamType, TaskContext};

/// OAuth scope requested for the access token.
pub const SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets";
const SETTING: &str = "LEVQOR_GOOGLE_SERVICE_ACCOUNT_FILE";
/// A cached token is renewed this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

const PARAMS: &[ParamSpec] = &[
    ParamSpec::required("spreadsheet_id", ParamType::String, "Spreadsheet id"),
    ParamSpec::required(
        "range",
        ParamType::String,
        "A1 range to append after (Sheet1!A1)",
    ),
    ParamSpec::required(
        "values",
        ParamType::Array,
        "Rows: an array of arrays of cells",
    ),
];

#[derive(Debug)]
struct CachedToken {
    token: Secret,
    expires_at: Instant,
}

/// The Google Sheets connector.
#[derive(Debug)]
pub struct Sheets {
    key_file: Option<PathBuf>,
    base_url: String,
    token_url: String,
    client: HttpClient,
    cache: Mutex<Option<CachedToken>>,
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

fn not_configured(client: &HttpClient, why: &str) -> ConnectorError {
    client.err(
        ConnectorErrorKind::NotConfigured {
            setting: SETTING.into(),
        },
        format!("not configured: {why}; set {SETTING} to a service account JSON key file"),
    )
}

impl Sheets {
    /// Builds it from settings (`LEVQOR_GOOGLE_SERVICE_ACCOUNT_FILE`,
    /// `LEVQOR_SHEETS_BASE_URL`, `LEVQOR_GOOGLE_TOKEN_URL`).
    pub fn new(settings: &ConnectorSettings) -> Self {
        Sheets {
            key_file: settings.google_service_account_file.clone(),
            base_url: settings.sheets_base_url.clone(),
            token_url: settings.google_token_url.clone(),
            client: HttpClient::new("sheets", settings.limits),
            cache: Mutex::new(None),
        }
    }

    /// A signed assertion for the token exchange.
    fn assertion(&self) -> Result<String, ConnectorError> {
        let Some(path) = &self.key_file else {
            return Err(not_configured(&self.client, "no service account key"));
        };
        let raw = std::fs::read(path)
            .map_err(|_| not_configured(&self.client, "the key file cannot be read"))?;
        let key: Value = serde_json::from_slice(&raw)
            .map_err(|_| not_configured(&self.client, "the key file is not JSON"))?;
        let (Some(email), Some(pem)) =
            (str_at(&key, "/client_email"), str_at(&key, "/private_key"))
        else {
            return Err(not_configured(
                &self.client,
                "the key lacks client_email or private_key",
            ));
        };
        let enc = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|_| not_configured(&self.client, "the key's private_key is not an RSA PEM"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let claims = Claims {
            iss: email,
            scope: SCOPE,
            aud: &self.token_url,
            iat: now,
            exp: now + 3600,
        };
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &claims, &enc)
            .map_err(|_| not_configured(&self.client, "signing the assertion failed"))
    }

    /// A valid access token, from the cache or a fresh exchange.
    fn access_token(&self, ctx: &TaskContext) -> Result<Secret, ConnectorError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.as_ref()
            && Instant::now() + EXPIRY_MARGIN < c.expires_at
        {
            return Ok(c.token.clone());
        }
        let assertion = self.assertion()?;
        let form = format!(
            "grant_type={}&assertion={}",
            encode_component("urn:ietf:params:oauth:grant-type:jwt-bearer"),
            encode_component(&assertion)
        );
        let reply = self
            .client
            .send(ctx, "POST", &self.token_url, &[], ReqBody::Form(form))?;
        if !reply.is_success() {
            let v = serde_json::from_slice::<Value>(&reply.body).ok();
            let code = v.as_ref().and_then(|v| str_at(v, "/error")).unwrap_or("");
            let desc = v
                .as_ref()
                .and_then(|v| str_at(v, "/error_description"))
                .unwrap_or("");
            let detail = format!("token exchange: {code} {desc}");
            let refused = matches!(
                code,
                "invalid_grant" | "invalid_client" | "unauthorized_client"
            );
            if matches!(reply.status, 400 | 403) && refused {
                return Err(self.client.err(ConnectorErrorKind::Unauthorized, detail));
            }
            return Err(self.client.status_error(&reply, &detail, None));
        }
        let v = self.client.json(&reply)?;
        let (Some(token), Some(expires_in)) = (
            str_at(&v, "/access_token"),
            v.get("expires_in").and_then(Value::as_u64),
        ) else {
            return Err(self.client.err(
                ConnectorErrorKind::BadResponse,
                "token answer lacks `access_token` or `expires_in`",
            ));
        };
        let token = Secret::new(token);
        *cache = Some(CachedToken {
            token: token.clone(),
            expires_at: Instant::now() + Duration::from_secs(expires_in),
        });
        Ok(token)
    }

    fn api_error(&self, reply: &Reply) -> ConnectorError {
        if reply.status == 401 {
            // The cached token was refused: forget it so a retry gets a new one.
            *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        let v = serde_json::from_slice::<Value>(&reply.body).ok();
        let status = v
            .as_ref()
            .and_then(|v| str_at(v, "/error/status"))
            .unwrap_or("");
        let msg = v
            .as_ref()
            .and_then(|v| str_at(v, "/error/message"))
            .unwrap_or("");
        let detail = if status.is_empty() {
            String::new()
        } else {
            format!("{status}: {msg}")
        };
        self.client.status_error(reply, &detail, None)
    }
}

impl Connector for Sheets {
    fn name(&self) -> &str {
        "sheets"
    }

    fn params(&self) -> &[ParamSpec] {
        PARAMS
    }

    fn run_task(&self, ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError> {
        let p = Params::new("sheets", PARAMS, params)?;
        let id = p.str("spreadsheet_id")?;
        let range = p.str("range")?;
        let rows = p
            .get("values")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if rows.is_empty() || !rows.iter().all(Value::is_array) {
            return Err(p.invalid("param `values` must be a non-empty array of rows (arrays)"));
        }
        let token = self.access_token(ctx)?;
        let url = format!(
            "{}/v4/spreadsheets/{}/values/{}:append?valueInputOption=USER_ENTERED",
            self.base_url,
            encode_component(id),
            encode_component(range)
        );
        let headers = [(
            "authorization".to_string(),
            format!("Bearer {}", token.expose()),
        )];
        let body = json!({"range": range, "majorDimension": "ROWS", "values": rows});
        let reply = self
            .client
            .send(ctx, "POST", &url, &headers, ReqBody::Json(body))?;
        if !reply.is_success() {
            return Err(self.api_error(&reply));
        }
        let v = self.client.json(&reply)?;
        match str_at(&v, "/updates/updatedRange") {
            Some(r) => Ok(json!({"updatedRange": r})),
            None => Err(self.client.err(
                ConnectorErrorKind::BadResponse,
                "answer lacks `updates.updatedRange`",
            )),
        }
    }
}
