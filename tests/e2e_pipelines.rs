//! End-to-end: pipelines over the real `levqor-http` binary — plan, create,
//! sync and async runs, credits, ownership and validation.

mod util;

use serde_json::json;
use util::{Server, api_key, wait_until};

#[test]
fn plan_create_run_and_read_back() {
    let dir = util::temp_dir("pipelines");
    let db = dir.join("levqor.db");
    let alice = api_key(&db, "alice@example.com", "user");
    let bob = api_key(&db, "bob@example.com", "user");
    let s = Server::start_in(&dir, &[("LEVQOR_WORKERS", "1")]);

    let r = s.post(
        "/api/v1/plan",
        &alice,
        &json!({"description": "summarise and post to Slack #sales"}),
    );
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["planner"], "rules");
    assert_eq!(r.json()["credits_estimate"], 2);

    let body = json!({"name": "echo", "steps": [
        {"id": "a", "connector": "echo", "params": {"v": "{{input.v}}"}},
        {"id": "b", "connector": "echo", "params": {"w": "got {{steps.a.output.v}}"}}]});
    let r = s.post("/api/v1/pipelines", &alice, &body);
    assert_eq!(r.status, 201);
    let pid = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.get(&format!("/api/v1/pipelines/{pid}"), &alice).status,
        200
    );
    assert_eq!(s.get(&format!("/api/v1/pipelines/{pid}"), &bob).status, 404);
    assert_eq!(
        s.get("/api/v1/pipelines?limit=1", &alice).json()["pipelines"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let r = s.post(
        "/api/v1/run",
        &alice,
        &json!({"pipeline_id": pid, "input": {"v": 1}}),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    let run = r.json();
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["steps"][1]["output"], json!({"w": "got 1"}));
    assert_eq!(
        (
            run["credits_charged"].as_i64(),
            run["credits_remaining"].as_i64()
        ),
        (Some(2), Some(98))
    );

    let r = s.post(
        "/api/v1/run",
        &alice,
        &json!({"pipeline_id": pid, "input": {"v": 2}, "async": true}),
    );
    assert_eq!(r.status, 202);
    let run_id = r.json()["run_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/runs/{run_id}");
    assert!(wait_until(10, || s.get(&path, &alice).json()["status"] == "succeeded"));
    assert_eq!(s.get(&path, &bob).status, 404);

    let r = s.post(
        "/api/v1/pipelines",
        &alice,
        &json!({"name": "x", "steps": [{"id": "a", "connector": "nope", "params": {}}]}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["error"]["details"][0]["path"],
        "/steps/0/connector"
    );
    let many: Vec<_> = (0..50)
        .map(|i| json!({"id": format!("s{i}"), "connector": "echo", "params": {}}))
        .collect();
    // 100 free credits pay for two 50-step runs; the third is refused.
    let big = json!({"pipeline": {"name": "big", "steps": many}});
    for _ in 0..2 {
        assert_eq!(s.post("/api/v1/run", &bob, &big).status, 200);
    }
    let r = s.post("/api/v1/run", &bob, &big);
    assert_eq!(r.status, 402);
    assert_eq!(r.json()["error"]["code"], "insufficient_credits");
}

/// A fake HTTP service on loopback that counts the requests it receives.
fn counting_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = r#"{"delivered":true}"#;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, hits)
}

#[test]
fn async_run_resumes_after_its_worker_is_killed_without_repeating_delivered_steps() {
    let dir = util::temp_dir("pipeline-crash");
    let db = dir.join("levqor.db");
    let alice = api_key(&db, "alice@example.com", "user");
    let (port, hits) = counting_server();
    let allow = format!("127.0.0.1:{port}");
    // The server runs no workers; a separate worker process runs the job.
    let s = Server::start_in(
        &dir,
        &[("LEVQOR_WORKERS", "0"), ("LEVQOR_LEASE_MS", "1500")],
    );
    let pipeline = json!({"name": "deliver then wait", "steps": [
        {"id": "deliver", "connector": "http",
         "params": {"method": "POST", "url": format!("http://127.0.0.1:{port}/hook"), "body": {"n": 1}}},
        {"id": "wait", "connector": "delay", "params": {"ms": 4000}},
        {"id": "done", "connector": "echo", "params": {"status": "{{steps.deliver.output.status}}"}}]});
    let r = s.post(
        "/api/v1/run",
        &alice,
        &json!({"pipeline": pipeline, "async": true}),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let run_id = r.json()["run_id"].as_str().unwrap().to_string();
    let worker = |db: &std::path::Path| {
        std::process::Command::new(util::bin("levqor"))
            .args(["worker", "--threads", "1"])
            .env("LEVQOR_DB", db)
            .env("LEVQOR_LEASE_MS", "1500")
            .env("LEVQOR_POLL_MS", "20")
            .env("LEVQOR_HTTP_ALLOW_HOSTS", &allow)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut w1 = worker(&db);
    let step = |name: usize| {
        s.get(&format!("/api/v1/runs/{run_id}"), &alice).json()["steps"][name]["status"].clone()
    };
    assert!(
        wait_until(20, || step(0) == "succeeded"),
        "first step never finished"
    );
    // Kill the worker while it sits in the delay step.
    w1.kill().unwrap();
    w1.wait().unwrap();
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let mut w2 = worker(&db);
    let finished = wait_until(30, || {
        s.get(&format!("/api/v1/runs/{run_id}"), &alice).json()["status"] == "succeeded"
    });
    let _ = w2.kill();
    let _ = w2.wait();
    let run = s.get(&format!("/api/v1/runs/{run_id}"), &alice).json();
    assert!(finished, "run did not finish after the restart: {run}");
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the delivered step ran again"
    );
    assert_eq!(run["steps"][2]["output"]["status"], 200);
    assert_eq!(run["credits_charged"], 3);
}
