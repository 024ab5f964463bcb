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
