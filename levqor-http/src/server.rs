//! The server: a pool of threads pulling requests from tiny_http, each
//! request taken through the contract's checks in order — route, auth, rate
//! limit, body size, content type — then the handler. Every response gets
//! the request id, the security headers and `Cache-Control`; a panicking
//! handler becomes a 500 and the thread lives on.

use std::io::Read;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use levqor_core::Levqor;
use levqor_core::auth::Principal;
use levqor_core::ratelimit::Decision;
use levqor_core::{Error, Result};

use crate::error::{error_body, error_response};
use crate::http::{Req, Resp};
use crate::router::{self, Access, Match, Route};

/// What handlers share.
pub struct Ctx {
    /// The assembled core.
    pub levqor: Arc<Levqor>,
    /// Set when the process is shutting down.
    pub shutting_down: AtomicBool,
}

const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "Strict-Transport-Security",
        "max-age=63072000; includeSubDomains",
    ),
    (
        "Content-Security-Policy",
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
];

/// A running server.
pub struct Server {
    http: Arc<tiny_http::Server>,
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// The bound address.
    pub addr: std::net::SocketAddr,
}

impl Server {
    /// Binds `addr` and starts `threads` request threads.
    ///
    /// # Errors
    /// [`Error::Config`] when the address cannot be bound.
    pub fn start(ctx: Arc<Ctx>, addr: &str, threads: usize) -> Result<Server> {
        let http = tiny_http::Server::http(addr)
            .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
        let bound = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| Error::Config(format!("{addr} is not an IP address")))?;
        let http = Arc::new(http);
        let stop = Arc::new(AtomicBool::new(false));
        let routes = Arc::new(crate::routes::table());
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            let (http, stop, ctx, routes) =
                (http.clone(), stop.clone(), ctx.clone(), routes.clone());
            handles.push(
                std::thread::Builder::new()
                    .name(format!("levqor-http-{i}"))
                    .spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            match http.recv_timeout(Duration::from_millis(200)) {
                                Ok(Some(rq)) => serve(&ctx, &routes, rq),
                                Ok(None) => {}
                                Err(_) => std::thread::sleep(Duration::from_millis(10)),
                            }
                        }
                    })
                    .map_err(|e| Error::Internal(format!("cannot spawn thread: {e}")))?,
            );
        }
        Ok(Server {
            http,
            threads: handles,
            stop,
            addr: bound,
        })
    }

    /// Stops accepting, finishes requests in hand, joins the threads.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.http.unblock();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn sane_request_id(v: &str) -> bool {
    (1..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

fn serve(ctx: &Ctx, routes: &[Route], mut rq: tiny_http::Request) {
    let started = Instant::now();
    let headers: Vec<(String, String)> = rq
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let request_id = headers
        .iter()
        .find(|(k, _)| k == "x-request-id")
        .map(|(_, v)| v.as_str())
        .filter(|v| sane_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(|| levqor_core::ids::random_token(12));
    let method = rq.method().as_str().to_ascii_uppercase();
    let url = rq.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let remote_ip = rq.remote_addr().map(|a| a.ip());
    let mut req = Req {
        method,
        path: path.to_string(),
        query: parse_query(query),
        params: Vec::new(),
        headers,
        body: Vec::new(),
        principal: None,
        request_id: request_id.clone(),
        remote_ip,
    };
    let (label, resp) = match router::find(routes, &req.method, &req.path) {
        Match::NotFound => (
            "unmatched",
            error_body(404, "not_found", "no such route", &request_id),
        ),
        Match::MethodNotAllowed(allowed) => (
            "unmatched",
            error_body(
                405,
                "method_not_allowed",
                "method not allowed on this path",
                &request_id,
            )
            .with_header("Allow", allowed.join(", ")),
        ),
        Match::Found(route, params) => {
            req.params = params;
            let resp = match prepare(ctx, route, &mut req, &mut rq) {
                Err(resp) => resp,
                Ok(decision) => call_handler(ctx, route, &req).with_rate_limit(decision.as_ref()),
            };
            (route.pattern, resp)
        }
    };
    ctx.levqor
        .metrics
        .observe_request(label, resp.status, started.elapsed().as_secs_f64());
    respond(rq, resp, &request_id, req.method == "HEAD");
}

/// Paths the rate limits never count (probes and scrapers).
const UNLIMITED: &[&str] = &["/health", "/ready", "/ops/uptime", "/metrics"];

/// The rate-limit step: per user when authenticated, per IP for anonymous
/// requests under `/api/`. `None` when the path is not limited.
fn rate_limit(ctx: &Ctx, req: &Req) -> Option<Decision> {
    if UNLIMITED.contains(&req.path.as_str()) {
        return None;
    }
    let limits = &ctx.levqor.limits;
    match &req.principal {
        Some(p) => Some(limits.check_user(&p.user_id)),
        None if req.path.starts_with("/api/") => {
            let ip = req.remote_ip.map(|i| i.to_string()).unwrap_or_default();
            Some(limits.check_ip(&ip))
        }
        None => None,
    }
}

trait WithRateLimit {
    fn with_rate_limit(self, d: Option<&Decision>) -> Resp;
}

impl WithRateLimit for Resp {
    /// Adds `RateLimit-Policy` and `RateLimit` (and `Retry-After` once).
    fn with_rate_limit(self, d: Option<&Decision>) -> Resp {
        let Some(d) = d else { return self };
        let mut r = self
            .with_header("RateLimit-Policy", d.policy_header())
            .with_header("RateLimit", d.header());
        if let Some(v) = d.retry_after()
            && !r.headers.iter().any(|(k, _)| k == "Retry-After")
        {
            r = r.with_header("Retry-After", v);
        }
        r
    }
}

/// Runs a route's handler; an error becomes the contract's body, a panic a
/// 500 `internal` (the thread and the server live on).
pub fn call_handler(ctx: &Ctx, route: &Route, req: &Req) -> Resp {
    let handler = route.handler;
    match std::panic::catch_unwind(AssertUnwindSafe(|| handler(ctx, req))) {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => error_response(&e, &req.request_id),
        Err(_) => {
            eprintln!(
                "{{\"level\":\"error\",\"request_id\":\"{}\",\"error\":\"handler panicked\",\"route\":\"{}\"}}",
                req.request_id, route.pattern
            );
            error_body(500, "internal", "internal error", &req.request_id)
        }
    }
}

/// Runs the checks between routing and the handler, in the contract's
/// order: auth (401/403), rate limit (429), body size (413), content type
/// (415). Returns the rate-limit decision for the response headers.
fn prepare(
    ctx: &Ctx,
    route: &Route,
    req: &mut Req,
    rq: &mut tiny_http::Request,
) -> std::result::Result<Option<Decision>, Resp> {
    let rid = req.request_id.clone();
    if ctx.shutting_down.load(Ordering::Relaxed) && route.json_body {
        return Err(error_body(
            503,
            "unavailable",
            "server is shutting down",
            &rid,
        ));
    }
    let principal = authenticate(ctx, req).map_err(|e| error_response(&e, &rid))?;
    match route.access {
        Access::Public => {}
        Access::User => {
            if principal.is_none() {
                return Err(error_response(
                    &Error::Unauthorized(
                        "missing credentials: send X-API-Key or Authorization: Bearer".into(),
                    ),
                    &rid,
                ));
            }
        }
        Access::Admin => match &principal {
            None => {
                return Err(error_response(
                    &Error::Unauthorized(
                        "missing credentials: send X-API-Key or Authorization: Bearer".into(),
                    ),
                    &rid,
                ));
            }
            Some(p) if !p.is_admin() => {
                return Err(error_response(
                    &Error::Forbidden("admin role required".into()),
                    &rid,
                ));
            }
            Some(_) => {}
        },
        Access::AdminOrLoopback => {
            let loopback = req.remote_ip.is_some_and(|ip: IpAddr| ip.is_loopback());
            match &principal {
                Some(p) if p.is_admin() => {}
                Some(_) if !loopback => {
                    return Err(error_response(
                        &Error::Forbidden("admin role required".into()),
                        &rid,
                    ));
                }
                None if !loopback => {
                    return Err(error_response(
                        &Error::Unauthorized("missing credentials".into()),
                        &rid,
                    ));
                }
                _ => {}
            }
        }
    }
    req.principal = principal;
    let decision = rate_limit(ctx, req);
    if let Some(d) = &decision
        && let Err(e) = d.check()
    {
        return Err(error_response(&e, &rid).with_rate_limit(Some(d)));
    }
    let max = ctx.levqor.config.max_body;
    if let Some(len) = rq.body_length()
        && len > max
    {
        return Err(error_body(
            413,
            "payload_too_large",
            &format!("body exceeds {max} bytes"),
            &rid,
        ));
    }
    let mut body = Vec::new();
    let read = rq.as_reader().take(max as u64 + 1).read_to_end(&mut body);
    if read.is_err() {
        return Err(error_body(
            400,
            "invalid_json",
            "could not read the request body",
            &rid,
        ));
    }
    if body.len() > max {
        return Err(error_body(
            413,
            "payload_too_large",
            &format!("body exceeds {max} bytes"),
            &rid,
        ));
    }
    // "A JSON endpoint given a body without Content-Type: application/json
    // is 415": an empty body (POST /ops/dlq/retry with no ids) needs none.
    if route.json_body && !body.is_empty() {
        let ct = req.header("content-type").unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(error_body(
                415,
                "unsupported_media_type",
                "send the body as Content-Type: application/json",
                &rid,
            ));
        }
    }
    req.body = body;
    Ok(decision)
}

/// Finds the caller from `X-API-Key` or `Authorization: Bearer`. Absent
/// credentials are `None`; present but bad ones are 401.
fn authenticate(ctx: &Ctx, req: &Req) -> Result<Option<Principal>> {
    if let Some(key) = req.header("x-api-key") {
        return ctx.levqor.authenticate_key(key.trim()).map(Some);
    }
    if let Some(auth) = req.header("authorization") {
        return match levqor_core::auth::parse_bearer(auth) {
            Some(t) => ctx
                .levqor
                .authenticate_bearer(t, req.header("x-device-id"))
                .map(Some),
            _ => Err(Error::Unauthorized(
                "Authorization must be `Bearer <token>`".into(),
            )),
        };
    }
    Ok(None)
}

fn respond(rq: tiny_http::Request, resp: Resp, request_id: &str, head: bool) {
    let mut headers = Vec::with_capacity(12 + resp.headers.len());
    let mut push = |k: &str, v: &str| {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            headers.push(h);
        }
    };
    push("Content-Type", resp.content_type);
    push("X-Request-Id", request_id);
    for (k, v) in SECURITY_HEADERS {
        push(k, v);
    }
    for (k, v) in &resp.headers {
        push(k, v);
    }
    let len = resp.body.len();
    let body = if head { Vec::new() } else { resp.body };
    let response = tiny_http::Response::new(
        tiny_http::StatusCode(resp.status),
        headers,
        std::io::Cursor::new(body),
        Some(len),
        None,
    );
    let _ = rq.respond(response);
}

/// Splits and percent-decodes a query string.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boom(_: &Ctx, _: &Req) -> Result<Resp> {
        panic!("handler bug")
    }

    #[test]
    fn a_panicking_handler_becomes_a_500() {
        let dir = std::env::temp_dir().join(format!(
            "levqor-http-unit-{}",
            levqor_core::ids::random_token(6)
        ));
        let db = dir.join("l.db").display().to_string();
        let cfg =
            levqor_core::Config::from_lookup(&|k| (k == "LEVQOR_DB").then(|| db.clone())).unwrap();
        let ctx = Ctx {
            levqor: Arc::new(levqor_core::Levqor::open(cfg).unwrap()),
            shutting_down: AtomicBool::new(false),
        };
        let route = Route {
            method: "GET",
            pattern: "/boom",
            access: Access::Public,
            json_body: false,
            handler: boom,
        };
        let req = Req {
            method: "GET".into(),
            path: "/boom".into(),
            query: vec![],
            params: vec![],
            headers: vec![],
            body: vec![],
            principal: None,
            request_id: "rid-1".into(),
            remote_ip: None,
        };
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let resp = call_handler(&ctx, &route, &req);
        std::panic::set_hook(prev);
        assert_eq!(resp.status, 500);
        let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(v["error"]["code"], "internal");
        assert_eq!(v["error"]["request_id"], "rid-1");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn query_decoding_and_request_ids() {
        assert_eq!(
            parse_query("status=queued&limit=5&x=a%20b+c&bad=%zz&end=%4"),
            vec![
                ("status".into(), "queued".into()),
                ("limit".into(), "5".into()),
                ("x".into(), "a b c".into()),
                ("bad".into(), "%zz".into()),
                ("end".into(), "%4".into()),
            ]
        );
        assert_eq!(parse_query("q=%C3%A9%"), vec![("q".into(), "é%".into())]);
        assert!(sane_request_id("abc-123_x.y"));
        assert!(!sane_request_id("a b"));
        assert!(!sane_request_id(&"a".repeat(129)));
        assert!(!sane_request_id(""));
    }
}
