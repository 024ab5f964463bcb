//! `http`: a plain HTTP request to a public address, behind the
//! private-address guard ([`super::guard`]).
//!
//! Redirects are followed here, not by ureq: at most 5, each hop checked by
//! the guard again (its literal host here, its resolved addresses in the
//! agent's resolver), `Authorization` dropped when the origin changes, 303
//! (and 301/302 after a POST) turned into a GET without body. Non-2xx final
//! answers are errors classed like every connector's (401, 429, 4xx, 5xx).
//! For methods other than GET/HEAD/OPTIONS the context's idempotency key is
//! sent as `Idempotency-Key`, unless the step sets that header itself.

use serde_json::{Map, Value, json};
use url::{Host, Url};

use super::guard::{AllowList, GuardResolver, forbidden_reason, parse_ipv4_loose};
use super::http_client::{HttpClient, Reply, ReqBody};
use super::params::Params;
use super::settings::ConnectorSettings;
use super::{Connector, ConnectorError, ConnectorErrorKind, ParamSpec, ParamType, TaskContext};

/// Most redirects followed.
pub const MAX_REDIRECTS: usize = 5;
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

const PARAMS: &[ParamSpec] = &[
    ParamSpec::required(
        "method",
        ParamType::String,
        "GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS",
    ),
    ParamSpec::required("url", ParamType::String, "http(s) URL of a public host"),
    ParamSpec::optional(
        "headers",
        ParamType::Object,
        "Request headers (string values)",
    ),
    ParamSpec::optional(
        "body",
        ParamType::Any,
        "JSON value (sent as JSON) or string (sent as is)",
    ),
];

/// The HTTP connector.
#[derive(Debug, Clone)]
pub struct Http {
    allow: AllowList,
    client: HttpClient,
}

impl Http {
    /// Builds it from settings (`LEVQOR_HTTP_ALLOW_HOSTS` and the limits).
    pub fn new(settings: &ConnectorSettings) -> Self {
        let allow = AllowList::new(&settings.http_allow_hosts);
        let client =
            HttpClient::with_resolver("http", settings.limits, GuardResolver::new(allow.clone()));
        Http { allow, client }
    }

    /// Refuses a URL before any connection: scheme, credentials, and a
    /// literal address host. Named hosts are checked after resolution.
    fn precheck(&self, url: &Url) -> Result<(), ConnectorError> {
        let forbidden = |m: String| self.client.err(ConnectorErrorKind::Forbidden, m);
        if !matches!(url.scheme(), "http" | "https") {
            return Err(forbidden(format!(
                "scheme `{}` is not allowed",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.client.err(
                ConnectorErrorKind::InvalidPayload,
                "credentials in the URL are not supported; use an Authorization header",
            ));
        }
        let port = url.port_or_known_default().unwrap_or(80);
        let ip = match url.host() {
            None => return Err(forbidden("URL has no host".into())),
            Some(Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            Some(Host::Domain(d)) => parse_ipv4_loose(d).map(std::net::IpAddr::V4),
        };
        let host = url.host_str().unwrap_or_default();
        if let Some(ip) = ip
            && !self.allow.allows(host, port)
            && let Some(reason) = forbidden_reason(ip)
        {
            return Err(forbidden(format!("destination {host} refused: {reason}")));
        }
        Ok(())
    }
}

fn headers_object(reply: &Reply) -> Value {
    let mut map = Map::new();
    for (k, v) in &reply.headers {
        match map.get_mut(k) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(v);
            }
            _ => {
                map.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    Value::Object(map)
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

impl Connector for Http {
    fn name(&self) -> &str {
        "http"
    }

    fn params(&self) -> &[ParamSpec] {
        PARAMS
    }

    fn run_task(&self, ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError> {
        let p = Params::new("http", PARAMS, params)?;
        let mut method = p.str("method")?.trim().to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(p.invalid(format!("method must be one of {}", METHODS.join(", "))));
        }
        let mut url =
            Url::parse(p.str("url")?).map_err(|_| p.invalid("param `url` is not a valid URL"))?;
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(h) = p.get("headers").and_then(Value::as_object) {
            for (k, v) in h {
                let v = v
                    .as_str()
                    .ok_or_else(|| p.invalid(format!("header `{k}` must be a string")))?;
                headers.push((k.to_ascii_lowercase(), v.to_string()));
            }
        }
        let has_header = |hs: &[(String, String)], n: &str| hs.iter().any(|(k, _)| k == n);
        if !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS")
            && !has_header(&headers, "idempotency-key")
            && !ctx.idempotency_key.is_empty()
        {
            headers.push(("idempotency-key".into(), ctx.idempotency_key.clone()));
        }
        let mut body = match p.get("body") {
            None => ReqBody::Empty,
            Some(Value::String(s)) => {
                if !has_header(&headers, "content-type") {
                    headers.push(("content-type".into(), "text/plain; charset=utf-8".into()));
                }
                ReqBody::Raw(s.clone().into_bytes())
            }
            Some(v) if has_header(&headers, "content-type") => {
                ReqBody::Raw(serde_json::to_vec(v).unwrap_or_default())
            }
            Some(v) => ReqBody::Json(v.clone()),
        };
        let mut hops = 0;
        let reply = loop {
            self.precheck(&url)?;
            let reply = self
                .client
                .send(ctx, &method, url.as_str(), &headers, body.clone())?;
            let location = reply.header("location").map(str::to_string);
            let (true, Some(location)) = (
                matches!(reply.status, 301 | 302 | 303 | 307 | 308),
                location,
            ) else {
                break reply;
            };
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(self.client.err(
                    ConnectorErrorKind::BadResponse,
                    format!("more than {MAX_REDIRECTS} redirects"),
                ));
            }
            let next = url.join(&location).map_err(|_| {
                self.client.err(
                    ConnectorErrorKind::BadResponse,
                    "redirect to an invalid URL",
                )
            })?;
            if reply.status == 303 || (matches!(reply.status, 301 | 302) && method == "POST") {
                method = "GET".into();
                body = ReqBody::Empty;
                headers.retain(|(k, _)| k != "content-type" && k != "idempotency-key");
            }
            if !same_origin(&url, &next) {
                headers.retain(|(k, _)| k != "authorization" && k != "cookie");
            }
            url = next;
        };
        if !reply.is_success() {
            let snippet: String = String::from_utf8_lossy(&reply.body)
                .chars()
                .take(200)
                .collect();
            return Err(self.client.status_error(&reply, snippet.trim(), None));
        }
        let is_json = reply
            .header("content-type")
            .map(|c| c.to_ascii_lowercase())
            .is_some_and(|c| c.starts_with("application/json") || c.contains("+json"));
        let body = if reply.body.is_empty() {
            Value::String(String::new())
        } else if is_json {
            self.client.json(&reply)?
        } else {
            Value::String(String::from_utf8_lossy(&reply.body).into_owned())
        };
        Ok(json!({"status": reply.status, "headers": headers_object(&reply), "body": body}))
    }
}
