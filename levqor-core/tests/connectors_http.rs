//! The `http` connector: requests to fakes reached through the allow-list,
//! the private-address guard on every address form, redirects re-checked.

mod support;

use std::time::Duration;

use levqor_core::connectors::http::Http;
use levqor_core::connectors::{Connector, ConnectorErrorKind};
use serde_json::{Value, json};
use support::{Fake, IDEM_KEY, Reply, ctx, settings};

fn http_allowing(allow: &str, extra: &[(&'static str, &str)]) -> Http {
    let mut vars = vec![("LEVQOR_HTTP_ALLOW_HOSTS", allow.to_string())];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Http::new(&settings(&vars))
}

fn get(url: &str) -> Value {
    json!({"method": "GET", "url": url})
}

#[test]
fn requests_through_the_allow_list() {
    let fake = Fake::start(|r| {
        if r.method == "POST" {
            Reply::json(201, json!({"created": true})).header("X-Trace", "abc")
        } else {
            Reply::raw(200, "text/plain", "pong")
        }
    });
    let c = http_allowing(&fake.addr, &[]);
    let out = c
        .run_task(
            &ctx(),
            &json!({"method": "post", "url": format!("{}/items?x=1", fake.url),
                    "headers": {"X-Api": "k"}, "body": {"name": "n"}}),
        )
        .unwrap();
    assert_eq!(out["status"], 201);
    assert_eq!(out["body"], json!({"created": true}));
    assert_eq!(out["headers"]["x-trace"], "abc");
    assert!(
        out["headers"]["content-type"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    let out = c
        .run_task(&ctx(), &get(&format!("{}/ping", fake.url)))
        .unwrap();
    assert_eq!(out["body"], "pong");
    let reqs = fake.requests();
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].url.as_str()),
        ("POST", "/items?x=1")
    );
    assert_eq!(reqs[0].header("x-api"), Some("k"));
    assert_eq!(reqs[0].header("idempotency-key"), Some(IDEM_KEY));
    assert_eq!(reqs[0].json(), json!({"name": "n"}));
    assert_eq!(
        reqs[1].header("idempotency-key"),
        None,
        "GET carries no idempotency key"
    );
}

#[test]
fn guard_refuses_every_private_form() {
    let c = http_allowing("", &[]);
    for url in [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/x",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[fd00::1]/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://localhost/",
        "https://localhost:9/",
    ] {
        let e = c.run_task(&ctx(), &get(url)).unwrap_err();
        assert_eq!(e.kind, ConnectorErrorKind::Forbidden, "{url}: {e}");
        assert!(!e.is_retryable());
    }
    let e = c.run_task(&ctx(), &get("file:///etc/passwd")).unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::Forbidden);
    let e = c
        .run_task(
            &ctx(),
            &json!({"method": "TRACE", "url": "http://example.com/"}),
        )
        .unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::InvalidPayload);
}

#[test]
fn guard_checks_resolved_addresses() {
    // `localhost` resolves to loopback: refused after resolution even though
    // a server listens there, unless `localhost` itself is allowed.
    let fake = Fake::fixed(Reply::raw(200, "text/plain", "secret internal data"));
    let port = fake.addr.rsplit(':').next().unwrap().to_string();
    let url = format!("http://localhost:{port}/");
    let e = http_allowing(&fake.addr, &[])
        .run_task(&ctx(), &get(&url))
        .unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::Forbidden, "{e}");
    assert!(fake.requests().is_empty());
    let out = http_allowing(&format!("localhost:{port}"), &[]).run_task(&ctx(), &get(&url));
    assert_eq!(out.unwrap()["status"], 200);
}

#[test]
fn redirects_are_followed_and_rechecked() {
    let inner = Fake::fixed(Reply::raw(200, "text/plain", "internal"));
    let target = format!("{}/admin", inner.url);
    let outer = Fake::start(move |r| match r.url.as_str() {
        "/to-internal" => Reply::raw(302, "text/plain", "").header("Location", &target),
        "/to-metadata" => {
            Reply::raw(301, "text/plain", "").header("Location", "http://169.254.169.254/latest")
        }
        "/relative" => Reply::raw(307, "text/plain", "").header("Location", "/final"),
        "/final" => Reply::json(200, json!({"done": true})),
        _ => Reply::raw(302, "text/plain", "").header("Location", "/loop"),
    });
    let c = http_allowing(&outer.addr, &[]);
    for path in ["/to-internal", "/to-metadata"] {
        let e = c
            .run_task(&ctx(), &get(&format!("{}{path}", outer.url)))
            .unwrap_err();
        assert_eq!(e.kind, ConnectorErrorKind::Forbidden, "{path}: {e}");
    }
    assert!(
        inner.requests().is_empty(),
        "the forbidden hop was never reached"
    );
    let out = c
        .run_task(&ctx(), &get(&format!("{}/relative", outer.url)))
        .unwrap();
    assert_eq!(out["body"], json!({"done": true}));
    let before = outer.requests().len();
    let e = c
        .run_task(&ctx(), &get(&format!("{}/loop", outer.url)))
        .unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::BadResponse, "{e}");
    assert_eq!(
        outer.requests().len() - before,
        6,
        "first request plus 5 redirects"
    );
}

#[test]
fn upstream_failures_are_classed() {
    let fake = Fake::start(|r| match r.url.as_str() {
        "/401" => Reply::json(401, json!({"error": "no"})),
        "/404" => Reply::raw(404, "text/plain", "nope"),
        "/429" => Reply::raw(429, "text/plain", "slow down").header("Retry-After", "9"),
        "/503" => Reply::raw(503, "text/plain", "down"),
        "/bad-json" => Reply::raw(200, "application/json", "{not json"),
        "/slow" => Reply::raw(200, "text/plain", "late").delayed(Duration::from_millis(1200)),
        _ => Reply::raw(200, "text/plain", &"x".repeat(8192)),
    });
    let c = http_allowing(
        &fake.addr,
        &[
            ("LEVQOR_CONNECTOR_TIMEOUT_MS", "300"),
            ("LEVQOR_CONNECTOR_MAX_RESPONSE_BYTES", "1024"),
        ],
    );
    let run = |p: &str| {
        c.run_task(&ctx(), &get(&format!("{}{p}", fake.url)))
            .unwrap_err()
    };
    assert_eq!(run("/401").kind, ConnectorErrorKind::Unauthorized);
    let e = run("/404");
    assert_eq!(e.kind, ConnectorErrorKind::Upstream4xx { status: 404 });
    assert!(!e.is_retryable());
    assert_eq!(run("/429").retry_after(), Some(Duration::from_secs(9)));
    let e = run("/503");
    assert_eq!(e.kind, ConnectorErrorKind::Upstream5xx { status: 503 });
    assert!(e.is_retryable());
    assert_eq!(run("/bad-json").kind, ConnectorErrorKind::BadResponse);
    assert_eq!(run("/big").kind, ConnectorErrorKind::BadResponse);
    // Last: the single-threaded fake stays busy with this one.
    assert_eq!(run("/slow").kind, ConnectorErrorKind::Timeout);
}
