//! Slack, Telegram, email (Resend) and Notion connectors against fakes of
//! their services speaking the real wire format.

mod support;

use levqor_core::connectors::email::Email;
use levqor_core::connectors::notion::Notion;
use levqor_core::connectors::slack::Slack;
use levqor_core::connectors::telegram::Telegram;
use levqor_core::connectors::{Connector, ConnectorErrorKind, ConnectorSettings};
use serde_json::{Value, json};
use support::{Fake, IDEM_KEY, Reply, Subject, always, ctx, settings};

const SLACK_TOKEN: &str = "xoxb-test-SECRET-slack";
const TG_TOKEN: &str = "123456:TEST-SECRET-telegram";
const RESEND_KEY: &str = "re_TEST_SECRET_resend";
const NOTION_TOKEN: &str = "secret_TEST_notion";

fn slack_vars(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LEVQOR_SLACK_BOT_TOKEN", SLACK_TOKEN.into()),
        ("LEVQOR_SLACK_BASE_URL", format!("{url}/api")),
    ]
}

#[test]
fn slack_posts_message() {
    let fake = Fake::fixed(Reply::json(
        200,
        json!({"ok": true, "channel": "C024BE91L", "ts": "1503435956.000247", "message": {}}),
    ));
    let c = Slack::new(&settings(&slack_vars(&fake.url)));
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]);
    let out = c
        .run_task(
            &ctx(),
            &json!({"channel": "#sales", "text": "hi", "blocks": blocks}),
        )
        .unwrap();
    assert_eq!(
        out,
        json!({"ts": "1503435956.000247", "channel": "C024BE91L"})
    );
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].url, "/api/chat.postMessage");
    assert_eq!(
        reqs[0].header("authorization"),
        Some(&*format!("Bearer {SLACK_TOKEN}"))
    );
    assert!(
        reqs[0]
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = reqs[0].json();
    assert_eq!(
        (body["channel"].as_str(), body["text"].as_str()),
        (Some("#sales"), Some("hi"))
    );
    assert_eq!(body["blocks"], blocks);
}

#[test]
fn slack_ok_false_is_an_error() {
    let s = Subject {
        make: |s| Box::new(Slack::new(s)),
        vars: &slack_vars,
        handler: &always,
        params: json!({"channel": "C1", "text": "x"}),
        secrets: &[SLACK_TOKEN],
    };
    let (r, _f) = s.call(
        Reply::json(200, json!({"ok": false, "error": "invalid_auth"})),
        &[],
    );
    assert_eq!(r.unwrap_err().kind, ConnectorErrorKind::Unauthorized);
    let (r, _f) = s.call(
        Reply::json(200, json!({"ok": false, "error": "channel_not_found"})),
        &[],
    );
    let e = r.unwrap_err();
    assert!(
        matches!(e.kind, ConnectorErrorKind::Upstream4xx { .. }) && !e.is_retryable(),
        "{e:?}"
    );
    assert!(e.message.contains("channel_not_found"));
    let (r, _f) = s.call(
        Reply::json(200, json!({"ok": false, "error": "ratelimited"})).header("Retry-After", "3"),
        &[],
    );
    assert_eq!(
        r.unwrap_err().retry_after(),
        Some(std::time::Duration::from_secs(3))
    );
    let (r, _f) = s.call(Reply::json(200, json!({"ok": true})), &[]);
    assert_eq!(
        r.unwrap_err().kind,
        ConnectorErrorKind::BadResponse,
        "missing ts must fail"
    );
    let (r, _f) = s.call(Reply::json(200, json!({"channel": "C1", "ts": "1"})), &[]);
    assert_eq!(
        r.unwrap_err().kind,
        ConnectorErrorKind::BadResponse,
        "missing ok must fail"
    );
    s.standard_failures(json!({"ok": false, "error": "not_authed"}));
}

#[test]
fn unconfigured_connectors_name_their_variable() {
    let s = ConnectorSettings::default();
    let cases: Vec<(Box<dyn Connector>, Value, &str)> = vec![
        (
            Box::new(Slack::new(&s)),
            json!({"channel": "c", "text": "t"}),
            "LEVQOR_SLACK_BOT_TOKEN",
        ),
        (
            Box::new(Telegram::new(&s)),
            json!({"chat_id": 1, "text": "t"}),
            "LEVQOR_TELEGRAM_BOT_TOKEN",
        ),
        (
            Box::new(Email::new(&s)),
            json!({"to": "a@b.c", "subject": "s", "text": "t"}),
            "LEVQOR_RESEND_API_KEY",
        ),
        (
            Box::new(Notion::new(&s)),
            json!({"database_id": "d", "title": "t"}),
            "LEVQOR_NOTION_TOKEN",
        ),
    ];
    for (c, params, var) in cases {
        let e = c.run_task(&ctx(), &params).unwrap_err();
        assert_eq!(
            e.kind,
            ConnectorErrorKind::NotConfigured {
                setting: var.into()
            }
        );
        assert!(e.message.contains(var), "{e}");
        assert!(!e.is_retryable());
    }
    let bad = Slack::new(&s)
        .run_task(&ctx(), &json!({"channel": 5}))
        .unwrap_err();
    assert_eq!(bad.kind, ConnectorErrorKind::InvalidPayload);
}

fn tg_vars(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LEVQOR_TELEGRAM_BOT_TOKEN", TG_TOKEN.into()),
        ("LEVQOR_TELEGRAM_BASE_URL", url.into()),
    ]
}

#[test]
fn telegram_sends_message() {
    let fake = Fake::fixed(Reply::json(
        200,
        json!({"ok": true, "result": {"message_id": 42, "chat": {"id": -100}}}),
    ));
    let c = Telegram::new(&settings(&tg_vars(&fake.url)));
    let out = c
        .run_task(
            &ctx(),
            &json!({"chat_id": -100123, "text": "hello", "parse_mode": "HTML"}),
        )
        .unwrap();
    assert_eq!(out, json!({"message_id": 42}));
    let out = c
        .run_task(&ctx(), &json!({"chat_id": "@channel", "text": "hello"}))
        .unwrap();
    assert_eq!(out["message_id"], 42);
    let reqs = fake.requests();
    assert_eq!(reqs[0].url, format!("/bot{TG_TOKEN}/sendMessage"));
    assert_eq!(
        reqs[0].json(),
        json!({"chat_id": -100123, "text": "hello", "parse_mode": "HTML"})
    );
    assert_eq!(reqs[1].json()["chat_id"], "@channel");
}

#[test]
fn telegram_errors() {
    let make: fn(&ConnectorSettings) -> Box<dyn Connector> = |s| Box::new(Telegram::new(s));
    let s = Subject {
        make,
        vars: &tg_vars,
        handler: &always,
        params: json!({"chat_id": 1, "text": "x"}),
        secrets: &[TG_TOKEN],
    };
    let body =
        json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"});
    let (r, _f) = s.call(Reply::json(400, body), &[]);
    let e = r.unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::Upstream4xx { status: 400 });
    assert!(e.message.contains("chat not found"));
    let body = json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 11", "parameters": {"retry_after": 11}});
    let (r, _f) = s.call(Reply::json(429, body), &[]);
    assert_eq!(
        r.unwrap_err().retry_after(),
        Some(std::time::Duration::from_secs(11))
    );
    let (r, _f) = s.call(
        Reply::json(200, json!({"ok": false, "description": "weird"})),
        &[],
    );
    assert_eq!(r.unwrap_err().kind, ConnectorErrorKind::BadResponse);
    let (r, _f) = s.call(Reply::json(200, json!({"ok": true, "result": {}})), &[]);
    assert_eq!(r.unwrap_err().kind, ConnectorErrorKind::BadResponse);
    s.standard_failures(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    // The token sits in the URL path: a refused connection must not show it.
    let c = Telegram::new(&settings(&tg_vars("http://127.0.0.1:1")));
    let e = c
        .run_task(&ctx(), &json!({"chat_id": 1, "text": "x"}))
        .unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::Network);
    s.assert_clean(&format!("{e} {e:?} {:?}", c));
}

fn email_vars(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LEVQOR_RESEND_API_KEY", RESEND_KEY.into()),
        ("LEVQOR_RESEND_BASE_URL", url.into()),
        ("LEVQOR_EMAIL_FROM", "Levqor <noreply@levqor.test>".into()),
    ]
}

#[test]
fn email_sends_with_idempotency_key() {
    let fake = Fake::fixed(Reply::json(
        200,
        json!({"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}),
    ));
    let c = Email::new(&settings(&email_vars(&fake.url)));
    let out = c
        .run_task(
            &ctx(),
            &json!({"to": "a@example.com", "subject": "Hi", "html": "<p>x</p>"}),
        )
        .unwrap();
    assert_eq!(out, json!({"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}));
    c.run_task(&ctx(), &json!({"to": ["a@example.com", "b@example.com"], "subject": "S", "text": "t", "from": "me@x.test"})).unwrap();
    let reqs = fake.requests();
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].url.as_str()),
        ("POST", "/emails")
    );
    assert_eq!(
        reqs[0].header("authorization"),
        Some(&*format!("Bearer {RESEND_KEY}"))
    );
    assert_eq!(reqs[0].header("idempotency-key"), Some(IDEM_KEY));
    assert_eq!(
        reqs[0].json(),
        json!({"from": "Levqor <noreply@levqor.test>", "to": ["a@example.com"], "subject": "Hi", "html": "<p>x</p>"})
    );
    assert_eq!(
        reqs[1].json()["to"],
        json!(["a@example.com", "b@example.com"])
    );
    assert_eq!(reqs[1].json()["from"], "me@x.test");
    let e = c
        .run_task(&ctx(), &json!({"to": "a@example.com", "subject": "Hi"}))
        .unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::InvalidPayload);
    let e = c
        .run_task(&ctx(), &json!({"to": [], "subject": "Hi", "text": "x"}))
        .unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::InvalidPayload);
}

#[test]
fn email_errors() {
    let make: fn(&ConnectorSettings) -> Box<dyn Connector> = |s| Box::new(Email::new(s));
    let params = json!({"to": "a@example.com", "subject": "s", "text": "t"});
    let s = Subject {
        make,
        vars: &email_vars,
        handler: &always,
        params,
        secrets: &[RESEND_KEY],
    };
    let body =
        json!({"statusCode": 422, "name": "validation_error", "message": "Invalid `to` field."});
    let (r, _f) = s.call(Reply::json(422, body), &[]);
    let e = r.unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::Upstream4xx { status: 422 });
    assert!(e.message.contains("validation_error"), "{e}");
    let (r, _f) = s.call(Reply::json(200, json!({"object": "email"})), &[]);
    assert_eq!(r.unwrap_err().kind, ConnectorErrorKind::BadResponse);
    s.standard_failures(
        json!({"statusCode": 401, "name": "missing_api_key", "message": "Missing API key"}),
    );
    let no_from = Email::new(&settings(&[("LEVQOR_RESEND_API_KEY", RESEND_KEY.into())]));
    let e = no_from
        .run_task(&ctx(), &json!({"to": "a@b.c", "subject": "s", "text": "t"}))
        .unwrap_err();
    assert_eq!(
        e.kind,
        ConnectorErrorKind::NotConfigured {
            setting: "LEVQOR_EMAIL_FROM".into()
        }
    );
}

fn notion_vars(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LEVQOR_NOTION_TOKEN", NOTION_TOKEN.into()),
        ("LEVQOR_NOTION_BASE_URL", url.into()),
    ]
}

fn notion_page() -> Value {
    json!({"object": "page", "id": "59833787-2cf9-4fdf-8782-e53db20768a5", "url": "https://www.notion.so/Lead-598337872cf94fdf8782e53db20768a5"})
}

#[test]
fn notion_creates_page_and_appends_long_content() {
    let fake = Fake::start(|r| {
        if r.method == "POST" {
            Reply::json(200, notion_page())
        } else {
            Reply::json(200, json!({"object": "list", "results": []}))
        }
    });
    let c = Notion::new(&settings(&notion_vars(&fake.url)));
    let content: Vec<String> = (0..250).map(|i| format!("line {i}")).collect();
    let params = json!({"database_id": "db1", "title": "Lead", "properties": {"Status": {"select": {"name": "New"}}}, "content": content.join("\n")});
    let out = c.run_task(&ctx(), &params).unwrap();
    assert_eq!(
        out,
        json!({"id": notion_page()["id"], "url": notion_page()["url"]})
    );
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3, "one create, two appends");
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].url.as_str()),
        ("POST", "/v1/pages")
    );
    for r in &reqs {
        assert_eq!(r.header("notion-version"), Some("2022-06-28"));
        assert_eq!(
            r.header("authorization"),
            Some(&*format!("Bearer {NOTION_TOKEN}"))
        );
    }
    let body = reqs[0].json();
    assert_eq!(body["parent"], json!({"database_id": "db1"}));
    assert_eq!(
        body["properties"]["Name"]["title"][0]["text"]["content"],
        "Lead"
    );
    assert_eq!(
        body["properties"]["Status"],
        json!({"select": {"name": "New"}})
    );
    assert_eq!(body["children"].as_array().unwrap().len(), 100);
    assert_eq!(
        body["children"][0]["paragraph"]["rich_text"][0]["text"]["content"],
        "line 0"
    );
    assert_eq!(reqs[1].method, "PATCH");
    assert_eq!(
        reqs[1].url,
        "/v1/blocks/59833787-2cf9-4fdf-8782-e53db20768a5/children"
    );
    assert_eq!(reqs[1].json()["children"].as_array().unwrap().len(), 100);
    assert_eq!(reqs[2].json()["children"].as_array().unwrap().len(), 50);
    assert_eq!(
        reqs[2].json()["children"][49]["paragraph"]["rich_text"][0]["text"]["content"],
        "line 249"
    );
}

#[test]
fn notion_errors() {
    let make: fn(&ConnectorSettings) -> Box<dyn Connector> = |s| Box::new(Notion::new(s));
    let s = Subject {
        make,
        vars: &notion_vars,
        handler: &always,
        params: json!({"database_id": "d", "title": "t", "content": "x"}),
        secrets: &[NOTION_TOKEN],
    };
    let body = json!({"object": "error", "status": 400, "code": "validation_error", "message": "Name is not a property that exists."});
    let (r, _f) = s.call(Reply::json(400, body), &[]);
    let e = r.unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::Upstream4xx { status: 400 });
    assert!(e.message.contains("validation_error"), "{e}");
    let (r, _f) = s.call(Reply::json(200, json!({"object": "page", "id": "x"})), &[]);
    assert_eq!(r.unwrap_err().kind, ConnectorErrorKind::BadResponse);
    s.standard_failures(json!({"object": "error", "status": 401, "code": "unauthorized", "message": "API token is invalid."}));
}

#[test]
fn standard_registry_runs_instrumented() {
    use levqor_core::connectors::{ConnectorMetrics, ConnectorRegistry, run_one};
    let fake = Fake::fixed(Reply::raw(502, "text/html", "bad gateway"));
    let reg = ConnectorRegistry::standard(&settings(&slack_vars(&fake.url)));
    let names: Vec<&str> = reg.names().collect();
    let want = [
        "delay",
        "echo",
        "email",
        "http",
        "log",
        "notion",
        "sheets",
        "slack",
        "telegram",
        "transform",
    ];
    assert_eq!(names, want);
    let m = ConnectorMetrics::new();
    let e = reg
        .run("slack", &ctx(), &json!({"channel": "c", "text": "t"}), &m)
        .unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::Upstream5xx { status: 502 });
    let e = reg.run("nope", &ctx(), &json!({}), &m).unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::InvalidPayload);
    let mut out = String::new();
    m.render_prometheus(&mut out);
    assert!(
        out.contains("levqor_connector_upstream_5xx_total{connector=\"slack\"} 1"),
        "{out}"
    );
    assert!(
        out.contains("levqor_connector_errors_total{connector=\"slack\",class=\"upstream_5xx\"} 1")
    );
    assert!(!out.contains(SLACK_TOKEN));
    let dbg = format!("{reg:?} {:?}", settings(&slack_vars(&fake.url)));
    assert!(!dbg.contains(SLACK_TOKEN), "{dbg}");
    let t = json!({"merge": [{"a": 1}, {"b": 2}], "pick": ["b"]});
    assert_eq!(
        run_one(&ConnectorSettings::default(), "transform", &t).unwrap(),
        json!({"b": 2})
    );
}
