//! Fake services on 127.0.0.1 for the connector tests: a tiny_http server on
//! an ephemeral port, in a thread, that records every request and answers
//! with whatever the test's handler says.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use levqor_core::connectors::{
    Connector, ConnectorError, ConnectorErrorKind, ConnectorSettings, TaskContext,
};
use serde_json::Value;

/// The idempotency key every test call carries.
pub const IDEM_KEY: &str = "run_TEST_step1";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path and query, as sent.
    pub url: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// What the fake answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, v: Value) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: v.to_string().into_bytes(),
            delay: Duration::ZERO,
        }
    }
    pub fn raw(status: u16, content_type: &str, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

pub type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// A running fake; stops accepting when dropped.
pub struct Fake {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    server: Arc<tiny_http::Server>,
}

impl Fake {
    pub fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Fake {
        Self::start_handler(Arc::new(handler))
    }

    pub fn fixed(reply: Reply) -> Fake {
        Self::start(move |_| reply.clone())
    }

    pub fn start_handler(handler: Handler) -> Fake {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind fake"));
        let addr = server.server_addr().to_ip().expect("ip addr").to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (server.clone(), requests.clone());
        thread::spawn(move || {
            while let Ok(mut req) = s.recv() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let rec = Recorded {
                    method: req.method().as_str().to_string(),
                    url: req.url().to_string(),
                    headers: req
                        .headers()
                        .iter()
                        .map(|h| {
                            (
                                h.field.as_str().as_str().to_ascii_lowercase(),
                                h.value.to_string(),
                            )
                        })
                        .collect(),
                    body,
                };
                r.lock().unwrap().push(rec.clone());
                let reply = handler(&rec);
                thread::sleep(reply.delay);
                let mut resp =
                    tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
                for (k, v) in reply.headers {
                    if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                        resp.add_header(h);
                    }
                }
                let _ = req.respond(resp);
            }
        });
        Fake {
            url: format!("http://{addr}"),
            addr,
            requests,
            server,
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// Settings from a list of variables (everything else unset).
pub fn settings(vars: &[(&str, String)]) -> ConnectorSettings {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    ConnectorSettings::from_lookup(|k| map.get(k).cloned()).expect("settings")
}

pub fn ctx() -> TaskContext {
    TaskContext::new(IDEM_KEY)
}

/// Describes a connector under test for the shared failure matrix.
pub struct Subject<'a> {
    /// Builds the connector from settings.
    pub make: fn(&ConnectorSettings) -> Box<dyn Connector>,
    /// Variables the connector needs, given the fake's base URL.
    pub vars: &'a dyn Fn(&str) -> Vec<(&'static str, String)>,
    /// Wraps the reply under test into the fake's handler (to route token calls).
    pub handler: &'a dyn Fn(Reply) -> Handler,
    /// Valid params.
    pub params: Value,
    /// Secrets that must never show up.
    pub secrets: &'a [&'a str],
}

impl Subject<'_> {
    /// Runs one call against a fake answering `reply`, with extra variables.
    pub fn call(
        &self,
        reply: Reply,
        extra: &[(&'static str, String)],
    ) -> (Result<Value, ConnectorError>, Fake) {
        let fake = Fake::start_handler((self.handler)(reply));
        let mut vars = (self.vars)(&fake.url);
        vars.extend(extra.iter().cloned());
        if !extra
            .iter()
            .any(|(k, _)| *k == "LEVQOR_CONNECTOR_TIMEOUT_MS")
        {
            vars.push(("LEVQOR_CONNECTOR_TIMEOUT_MS", "3000".into()));
        }
        let c = (self.make)(&settings(&vars));
        let r = c.run_task(&ctx(), &self.params);
        if let Err(e) = &r {
            self.assert_clean(&format!("{e} {e:?}"));
        }
        (r, fake)
    }

    pub fn assert_clean(&self, text: &str) {
        for s in self.secrets {
            assert!(!text.contains(s), "secret leaked in: {text}");
        }
    }

    /// 401, 429 + Retry-After, 5xx, malformed JSON, slow answer and
    /// oversized answer, each classed right.
    pub fn standard_failures(&self, unauthorized_body: Value) {
        let (r, _f) = self.call(Reply::json(401, unauthorized_body), &[]);
        let e = r.expect_err("401 must fail");
        assert_eq!(e.kind, ConnectorErrorKind::Unauthorized, "{e}");
        assert!(!e.is_retryable());

        let (r, _f) = self.call(
            Reply::json(429, serde_json::json!({})).header("Retry-After", "7"),
            &[],
        );
        let e = r.expect_err("429 must fail");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)), "{e:?}");
        assert!(e.is_retryable());

        let (r, _f) = self.call(Reply::raw(503, "text/html", "<h1>down</h1>"), &[]);
        let e = r.expect_err("503 must fail");
        assert_eq!(e.kind, ConnectorErrorKind::Upstream5xx { status: 503 });
        assert!(e.is_retryable());

        let (r, _f) = self.call(Reply::raw(200, "application/json", "{\"ok\": tru"), &[]);
        let e = r.expect_err("malformed JSON must fail");
        assert_eq!(e.kind, ConnectorErrorKind::BadResponse, "{e}");

        let slow = Reply::json(200, serde_json::json!({})).delayed(Duration::from_millis(1200));
        let started = std::time::Instant::now();
        let (r, _f) = self.call(slow, &[("LEVQOR_CONNECTOR_TIMEOUT_MS", "300".into())]);
        let e = r.expect_err("slow answer must time out");
        assert_eq!(e.kind, ConnectorErrorKind::Timeout, "{e}");
        assert!(e.is_retryable());
        assert!(started.elapsed() < Duration::from_millis(1100));

        let big = Reply::raw(
            200,
            "application/json",
            &format!("{{\"pad\": \"{}\"}}", "x".repeat(8192)),
        );
        let (r, _f) = self.call(
            big,
            &[("LEVQOR_CONNECTOR_MAX_RESPONSE_BYTES", "1024".into())],
        );
        let e = r.expect_err("oversized answer must fail");
        assert_eq!(e.kind, ConnectorErrorKind::BadResponse, "{e}");
        assert!(e.message.contains("1024"), "{e}");
    }
}

/// The default handler: always `reply`.
pub fn always(reply: Reply) -> Handler {
    Arc::new(move |_| reply.clone())
}
