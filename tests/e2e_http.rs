//! End-to-end: the real `levqor-http` binary over loopback — conventions,
//! authentication, the jobs API and bad input of every kind.

mod util;

use serde_json::json;
use util::{Server, api_key, wait_until};

const SECURITY: &[&str] = &[
    "strict-transport-security",
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "cross-origin-embedder-policy",
    "cross-origin-resource-policy",
];

fn setup() -> (Server, String, String, String) {
    let dir = util::temp_dir("http");
    let db = dir.join("levqor.db");
    let admin = api_key(&db, "admin@example.com", "admin");
    let alice = api_key(&db, "alice@example.com", "user");
    let bob = api_key(&db, "bob@example.com", "user");
    let s = Server::start_in(
        &dir,
        &[("LEVQOR_WORKERS", "1"), ("LEVQOR_RETRY_BASE_MS", "10")],
    );
    (s, admin, alice, bob)
}

#[test]
fn conventions_headers_request_ids_404_405() {
    let (s, _admin, alice, _) = setup();
    let r = s.req("GET", "/health", &[("X-Request-Id", "abc-123.x_y")], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"status": "ok"}));
    assert_eq!(r.header("x-request-id"), Some("abc-123.x_y"));
    for h in SECURITY {
        assert!(r.header(h).is_some(), "missing {h}");
    }
    let r = s.req(
        "GET",
        "/health",
        &[("X-Request-Id", "bad id with spaces")],
        None,
    );
    let rid = r.header("x-request-id").unwrap();
    assert!(!rid.contains(' ') && !rid.is_empty());

    let r = s.get("/api/v1/nope", &alice);
    r.assert_error(404, "not_found");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    for h in SECURITY {
        assert!(r.header(h).is_some(), "error response missing {h}");
    }
    let r = s.req("DELETE", "/api/v1/intake", &[("X-API-Key", &alice)], None);
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("POST"));

    assert_eq!(s.req("GET", "/ready", &[], None).status, 200);
    let up = s.req("GET", "/ops/uptime", &[], None).json();
    assert!(up["uptime_s"].is_i64() && up["version"].is_string() && up["started_at"].is_string());
}

#[test]
fn authentication_and_roles() {
    let (s, admin, alice, _) = setup();
    s.req("GET", "/api/v1/jobs", &[], None)
        .assert_error(401, "unauthorized");
    s.get("/api/v1/jobs", "lvq_not_a_real_key")
        .assert_error(401, "unauthorized");
    s.req(
        "GET",
        "/api/v1/jobs",
        &[("Authorization", "Basic abc")],
        None,
    )
    .assert_error(401, "unauthorized");
    s.get("/ops/queue_health", &alice)
        .assert_error(403, "forbidden");
    let h = s.get("/ops/queue_health", &admin);
    assert_eq!(h.status, 200);
    let v = h.json();
    for k in [
        "queued",
        "running",
        "failed",
        "dead",
        "succeeded",
        "oldest_queued_age_s",
        "workers",
    ] {
        assert!(v[k].is_i64(), "{k} not an integer: {v}");
    }
    assert_eq!(v["workers"], 1);
    // Route checks come before auth: unknown path without credentials is 404.
    s.req("GET", "/api/v1/unknown", &[], None)
        .assert_error(404, "not_found");
    // Auth comes before body checks: no credentials + bad body is 401.
    s.req(
        "POST",
        "/api/v1/intake",
        &[("Content-Type", "text/plain")],
        Some(b"x"),
    )
    .assert_error(401, "unauthorized");
}

#[test]
fn intake_get_list_cancel_and_ownership() {
    let (s, admin, alice, bob) = setup();
    let r = s.post(
        "/api/v1/intake",
        &alice,
        &json!({"kind": "echo", "payload": {"x": 1}, "priority": 2}),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["status"], "queued");
    let id = r.json()["job_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("job_"));
    assert!(wait_until(10, || s
        .get(&format!("/api/v1/jobs/{id}"), &alice)
        .json()["status"]
        == "succeeded"));
    let j = s.get(&format!("/api/v1/jobs/{id}"), &alice).json();
    assert_eq!(j["result"], json!({"x": 1}));
    assert_eq!(j["priority"], 2);
    for k in [
        "id",
        "kind",
        "status",
        "priority",
        "attempts",
        "max_attempts",
        "payload",
        "result",
        "error",
        "created_at",
        "run_at",
        "started_at",
        "finished_at",
    ] {
        assert!(j.get(k).is_some(), "job object lacks {k}");
    }
    // Others' jobs are 404, admins see them, nonsense ids are 404.
    s.get(&format!("/api/v1/jobs/{id}"), &bob)
        .assert_error(404, "not_found");
    assert_eq!(s.get(&format!("/api/v1/jobs/{id}"), &admin).status, 200);
    s.get("/api/v1/jobs/job_..%2F..%2Fetc", &alice)
        .assert_error(404, "not_found");
    s.get("/api/v1/jobs/12345", &alice)
        .assert_error(404, "not_found");
    s.req(
        "POST",
        &format!("/api/v1/jobs/{id}/cancel"),
        &[("X-API-Key", &bob)],
        None,
    )
    .assert_error(404, "not_found");

    // Idempotency: body key and header key, per user.
    let body = json!({"kind": "echo", "idempotency_key": "order-7"});
    let a = s.post("/api/v1/intake", &alice, &body);
    let b = s.post("/api/v1/intake", &alice, &body);
    assert_eq!((a.status, b.status), (202, 200));
    assert_eq!(a.json()["job_id"], b.json()["job_id"]);
    let c = s.post("/api/v1/intake", &bob, &body);
    assert_eq!(c.status, 202);
    assert_ne!(c.json()["job_id"], a.json()["job_id"]);
    let hb = serde_json::to_vec(&json!({"kind": "echo"})).unwrap();
    let hdr = [
        ("X-API-Key", alice.as_str()),
        ("Content-Type", "application/json"),
        ("Idempotency-Key", "hdr-1"),
    ];
    let h1 = s.req("POST", "/api/v1/intake", &hdr, Some(&hb));
    let h2 = s.req("POST", "/api/v1/intake", &hdr, Some(&hb));
    assert_eq!((h1.status, h2.status), (202, 200));
    assert_eq!(h1.json()["job_id"], h2.json()["job_id"]);

    // Delayed job: queued until run_at; cancel works once, then 409.
    let later = s.post(
        "/api/v1/intake",
        &alice,
        &json!({"kind": "echo", "run_at": "2099-01-01T00:00:00+02:00"}),
    );
    let lid = later.json()["job_id"].as_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        s.get(&format!("/api/v1/jobs/{lid}"), &alice).json()["status"],
        "queued"
    );
    let c1 = s.req(
        "POST",
        &format!("/api/v1/jobs/{lid}/cancel"),
        &[("X-API-Key", &alice)],
        None,
    );
    assert_eq!(c1.status, 200);
    assert_eq!(c1.json()["status"], "cancelled");
    s.req(
        "POST",
        &format!("/api/v1/jobs/{lid}/cancel"),
        &[("X-API-Key", &alice)],
        None,
    )
    .assert_error(409, "conflict");
    s.req(
        "POST",
        &format!("/api/v1/jobs/{id}/cancel"),
        &[("X-API-Key", &alice)],
        None,
    )
    .assert_error(409, "conflict");

    // Listing: own jobs only, newest first, paginated.
    let page1 = s.get("/api/v1/jobs?limit=2", &alice).json();
    assert_eq!(page1["jobs"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap().to_string();
    let page2 = s
        .get(&format!("/api/v1/jobs?limit=2&cursor={cursor}"), &alice)
        .json();
    let all: Vec<_> = page1["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["jobs"].as_array().unwrap())
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all.len(), 4);
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(all, sorted, "newest first");
    assert!(page2["next_cursor"].is_null());
    let bobs = s.get("/api/v1/jobs", &bob).json();
    assert_eq!(bobs["jobs"].as_array().unwrap().len(), 1);
    let cancelled = s.get("/api/v1/jobs?status=cancelled", &alice).json();
    assert_eq!(cancelled["jobs"].as_array().unwrap().len(), 1);
    s.get("/api/v1/jobs?limit=0", &alice)
        .assert_error(422, "validation_failed");
    s.get("/api/v1/jobs?limit=201", &alice)
        .assert_error(422, "validation_failed");
    s.get("/api/v1/jobs?limit=abc", &alice)
        .assert_error(422, "validation_failed");
    s.get("/api/v1/jobs?status=sleeping", &alice)
        .assert_error(422, "validation_failed");
    s.get("/api/v1/jobs?cursor=garbage", &alice)
        .assert_error(422, "validation_failed");
}

#[test]
fn bad_input_is_answered_in_the_contract_format() {
    let (s, _, alice, _) = setup();
    let key = alice.as_str();
    let json_hdr = [("X-API-Key", key), ("Content-Type", "application/json")];
    s.req("POST", "/api/v1/intake", &json_hdr, Some(b"{not json"))
        .assert_error(400, "invalid_json");
    s.req("POST", "/api/v1/intake", &json_hdr, Some(b"[1,2]"))
        .assert_error(400, "invalid_json");
    s.req("POST", "/api/v1/intake", &json_hdr, Some(b""))
        .assert_error(400, "invalid_json");
    s.req(
        "POST",
        "/api/v1/intake",
        &[("X-API-Key", key), ("Content-Type", "text/plain")],
        Some(b"{}"),
    )
    .assert_error(415, "unsupported_media_type");
    s.req("POST", "/api/v1/intake", &[("X-API-Key", key)], Some(b"{}"))
        .assert_error(415, "unsupported_media_type");
    let huge = vec![b' '; 2 * 1024 * 1024];
    s.req("POST", "/api/v1/intake", &json_hdr, Some(&huge))
        .assert_error(413, "payload_too_large");

    let r = s.post(
        "/api/v1/intake",
        key,
        &json!({"kind": 5, "priority": "high", "max_attempts": 99, "surprise": true}),
    );
    r.assert_error(422, "validation_failed");
    let paths: Vec<String> = r.json()["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect();
    for p in ["/kind", "/priority", "/max_attempts", "/surprise"] {
        assert!(paths.contains(&p.to_string()), "{p} missing in {paths:?}");
    }
    let r = s.post("/api/v1/intake", key, &json!({}));
    r.assert_error(422, "validation_failed");
    assert_eq!(r.json()["error"]["details"][0]["path"], "/kind");
    s.post("/api/v1/intake", key, &json!({"kind": "no.such.kind"}))
        .assert_error(422, "validation_failed");
    s.post(
        "/api/v1/intake",
        key,
        &json!({"kind": "echo", "payload": "str"}),
    )
    .assert_error(422, "validation_failed");
    s.post(
        "/api/v1/intake",
        key,
        &json!({"kind": "echo", "run_at": "tomorrow"}),
    )
    .assert_error(422, "validation_failed");
    s.post(
        "/api/v1/intake",
        key,
        &json!({"kind": "echo", "payload": {"fail_attempts": -1}}),
    )
    .assert_error(422, "validation_failed");
    // The server is still healthy after all that.
    assert_eq!(s.req("GET", "/health", &[], None).status, 200);
}

#[test]
fn retries_dead_letters_dlq_retry_and_metrics() {
    let (s, admin, alice, _) = setup();
    let r = s.post(
        "/api/v1/intake",
        &alice,
        &json!({"kind": "echo", "payload": {"fail_attempts": 2}, "max_attempts": 2}),
    );
    let id = r.json()["job_id"].as_str().unwrap().to_string();
    assert!(wait_until(15, || s
        .get(&format!("/api/v1/jobs/{id}"), &alice)
        .json()["status"]
        == "dead"));
    let j = s.get(&format!("/api/v1/jobs/{id}"), &alice).json();
    assert_eq!(j["attempts"], 2);
    assert!(j["error"].as_str().unwrap().contains("simulated failure"));
    let dlq = s.get("/ops/dlq", &admin).json();
    assert!(
        dlq["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == id.as_str())
    );
    s.get("/ops/dlq", &alice).assert_error(403, "forbidden");
    s.post("/ops/dlq/retry", &admin, &json!({"job_ids": "nope"}))
        .assert_error(422, "validation_failed");
    let rr = s.post(
        "/ops/dlq/retry",
        &admin,
        &json!({"job_ids": [id, "job_unknown"]}),
    );
    assert_eq!(rr.json(), json!({"requeued": 1}));
    // attempts were reset to 0, so attempt 1 and 2 fail again... then the job is dead again
    // with attempts 2 — but it ran again, which is what we check:
    assert!(wait_until(15, || {
        let j = s.get(&format!("/api/v1/jobs/{id}"), &alice).json();
        j["status"] == "dead" && j["attempts"] == 2
    }));
    // No body at all (and so no content type) means every dead job.
    let all = s.req("POST", "/ops/dlq/retry", &[("X-API-Key", &admin)], None);
    assert_eq!(all.status, 200, "{}", all.text());
    assert_eq!(all.json()["requeued"], 1);

    let m = s.req("GET", "/metrics", &[], None);
    assert_eq!(m.status, 200);
    let text = m.text();
    assert!(
        text.contains("levqor_http_requests_total{route=\"/api/v1/jobs/{id}\",status=\"200\"}"),
        "{text}"
    );
    assert!(text.contains("levqor_http_request_duration_seconds_bucket{route=\"/api/v1/intake\""));
    assert!(text.contains("levqor_queue_jobs{status=\"dead\"}"));
    assert!(
        !text.contains(&id),
        "metrics must label by pattern, not raw id"
    );
}

#[test]
fn sigterm_exits_cleanly() {
    let (mut s, _, alice, _) = setup();
    s.post("/api/v1/intake", &alice, &json!({"kind": "echo"}));
    assert_eq!(s.terminate(), Some(0), "log: {}", s.log_text());
}

#[test]
fn connector_task_jobs_run_connectors_and_fail_closed() {
    let (s, _, alice, _) = setup();
    let ok = s.post("/api/v1/intake", &alice, &json!({"kind": "connector.task", "payload": {"connector": "echo", "payload": {"hello": "world"}}}));
    assert_eq!(ok.status, 202, "{}", ok.text());
    let id = ok.json()["job_id"].as_str().unwrap().to_string();
    assert!(wait_until(10, || s
        .get(&format!("/api/v1/jobs/{id}"), &alice)
        .json()["status"]
        == "succeeded"));
    assert_eq!(
        s.get(&format!("/api/v1/jobs/{id}"), &alice).json()["result"],
        json!({"hello": "world"})
    );
    // Slack without a token: not retried, dead at once, and the error names the setting.
    let r = s.post("/api/v1/intake", &alice, &json!({"kind": "connector.task", "max_attempts": 5, "payload": {"connector": "slack", "payload": {"channel": "#sales", "text": "hi"}}}));
    let sid = r.json()["job_id"].as_str().unwrap().to_string();
    assert!(wait_until(10, || s
        .get(&format!("/api/v1/jobs/{sid}"), &alice)
        .json()["status"]
        == "dead"));
    let j = s.get(&format!("/api/v1/jobs/{sid}"), &alice).json();
    assert_eq!(
        j["attempts"], 1,
        "a not-configured connector must not be retried: {j}"
    );
    assert!(
        j["error"]
            .as_str()
            .unwrap()
            .contains("LEVQOR_SLACK_BOT_TOKEN"),
        "{j}"
    );
    s.post(
        "/api/v1/intake",
        &alice,
        &json!({"kind": "connector.task", "payload": {"connector": "nope"}}),
    )
    .assert_error(422, "validation_failed");
    s.post("/api/v1/intake", &alice, &json!({"kind": "connector.task", "payload": {"connector": "slack", "payload": {"text": 1}}})).assert_error(422, "validation_failed");
    let m = s.req("GET", "/metrics", &[], None).text();
    assert!(
        m.contains("levqor_connector_calls_total{connector=\"slack\"}"),
        "{m}"
    );
}
