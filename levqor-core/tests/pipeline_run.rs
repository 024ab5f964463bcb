//! Pipelines end to end through the service: validation, templates,
//! retries, timeouts, skipped steps, credits, ownership.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Act, Scripted, system, user};
use levqor_core::connectors::{Connector, ConnectorErrorKind};
use levqor_core::pipeline::{RunOutcome, RunStatus, StepStatus};
use levqor_core::users::Role;
use levqor_core::{Error, ErrorKind};
use serde_json::{Value, json};

fn finished(o: RunOutcome) -> levqor_core::pipeline::Run {
    match o {
        RunOutcome::Finished(r) => *r,
        RunOutcome::Queued { .. } => panic!("expected a sync run"),
    }
}

fn paths(e: &Error) -> Vec<String> {
    e.details().iter().map(|d| d.path.clone()).collect()
}

#[test]
fn sync_run_passes_outputs_through_templates_and_charges_each_step() {
    let lq = system(100, vec![], &[]);
    let who = user(&lq, "a@example.com", Role::User);
    let p = lq
        .pipelines
        .create_pipeline(
            &who,
            &json!({"name": "greet", "steps": [
                {"id": "first", "connector": "echo", "params": {"who": "{{input.lead.name}}", "n": "{{input.n}}"}},
                {"id": "second", "connector": "echo", "params": {"text": "Hi {{steps.first.output.who}} #{{steps.first.output.n}}", "n": "{{steps.first.output.n}}"}}
            ]}),
        )
        .unwrap();
    assert!(p.id.starts_with("pl_"));
    let run = finished(
        lq.pipelines
            .run(
                &who,
                &json!({"pipeline_id": p.id, "input": {"lead": {"name": "Ana"}, "n": 7}}),
            )
            .unwrap(),
    );
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(
        run.steps[1].output.as_ref().unwrap(),
        &json!({"text": "Hi Ana #7", "n": 7})
    );
    assert_eq!((run.credits_charged, run.credits_remaining), (2, Some(98)));
    let v = run.to_json();
    for k in [
        "id",
        "pipeline_id",
        "status",
        "steps",
        "credits_charged",
        "credits_remaining",
        "started_at",
        "finished_at",
    ] {
        assert!(v.get(k).is_some(), "run object lacks {k}");
    }
    assert_eq!(v["steps"][0]["attempts"], 1);
    // Stored and readable by the owner and an admin, not by others.
    let again = lq.pipelines.get_run(&who, &run.id).unwrap();
    assert_eq!(again.steps, run.steps);
    let admin = user(&lq, "root@example.com", Role::Admin);
    assert!(lq.pipelines.get_run(&admin, &run.id).is_ok());
    let other = user(&lq, "b@example.com", Role::User);
    assert_eq!(
        lq.pipelines.get_run(&other, &run.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        lq.pipelines.get_pipeline(&other, &p.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let e = lq
        .pipelines
        .run(&other, &json!({"pipeline_id": p.id}))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn retries_skips_timeouts_and_idempotency_keys() {
    let flaky = Scripted::new(
        "flaky",
        vec![
            Act::Fail(ConnectorErrorKind::Upstream5xx { status: 503 }),
            Act::Fail(ConnectorErrorKind::RateLimited {
                retry_after: Some(Duration::from_millis(300)),
            }),
            Act::Ok,
        ],
    );
    let broken = Scripted::new(
        "broken",
        vec![Act::Fail(ConnectorErrorKind::Upstream4xx { status: 400 })],
    );
    let slow = Scripted::new("slow", vec![Act::Sleep(Duration::from_millis(1500))]);
    let extra: Vec<Arc<dyn Connector>> = vec![flaky.clone(), broken.clone(), slow.clone()];
    let lq = system(100, extra, &[]);
    let who = user(&lq, "a@example.com", Role::User);

    let t = Instant::now();
    let run = finished(
        lq.pipelines
            .run(
                &who,
                &json!({"pipeline": {"name": "retry", "steps": [
                    {"id": "f", "connector": "flaky", "params": {}, "max_attempts": 3},
                    {"id": "b", "connector": "broken", "params": {}, "max_attempts": 5},
                    {"id": "after", "connector": "echo", "params": {}}
                ]}}),
            )
            .unwrap(),
    );
    // 5xx then 429 (Retry-After 300 ms) then success.
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(run.steps[0].status, StepStatus::Succeeded);
    assert_eq!(run.steps[0].attempts, 3);
    let keys = flaky.keys.lock().unwrap().clone();
    assert_eq!(
        keys,
        vec![format!("{}:f", run.id); 3],
        "one stable key per (run, step)"
    );
    // A 400 is not retried, and later steps are skipped and refunded.
    assert_eq!(
        (run.steps[1].status, run.steps[1].attempts),
        (StepStatus::Failed, 1)
    );
    assert!(
        run.steps[1]
            .error
            .as_deref()
            .unwrap()
            .contains("scripted failure")
    );
    assert_eq!(run.steps[2].status, StepStatus::Skipped);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.pipeline_id, None);
    assert_eq!((run.credits_charged, run.credits_remaining), (2, Some(98)));

    let t = Instant::now();
    let run = finished(
        lq.pipelines
            .run(&who, &json!({"pipeline": {"name": "slow", "steps": [
                {"id": "s", "connector": "slow", "params": {}, "timeout_ms": 100, "max_attempts": 1}
            ]}}))
            .unwrap(),
    );
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "timeout not enforced: {:?}",
        t.elapsed()
    );
    assert_eq!(run.steps[0].status, StepStatus::Failed);
    assert!(
        run.steps[0].error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        run.steps[0].error
    );
}

#[test]
fn a_missing_template_value_fails_the_step_naming_it_and_is_not_charged() {
    let lq = system(100, vec![], &[]);
    let who = user(&lq, "a@example.com", Role::User);
    let run = finished(
        lq.pipelines
            .run(
                &who,
                &json!({"pipeline": {"name": "m", "steps": [
                {"id": "a", "connector": "echo", "params": {"x": "{{input.lead.email}}"}},
                {"id": "b", "connector": "echo", "params": {}}
            ]}, "input": {"lead": {}}}),
            )
            .unwrap(),
    );
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.steps[0].attempts, 0);
    assert!(
        run.steps[0]
            .error
            .as_deref()
            .unwrap()
            .contains("{{input.lead.email}}")
    );
    assert_eq!(run.steps[1].status, StepStatus::Skipped);
    assert_eq!((run.credits_charged, run.credits_remaining), (0, Some(100)));
}

#[test]
fn insufficient_credits_is_402_and_nothing_is_charged_or_stored() {
    let lq = system(2, vec![], &[("LEVQOR_STEP_COSTS", "echo=2")]);
    let who = user(&lq, "a@example.com", Role::User);
    let body = json!({"pipeline": {"name": "x", "steps": [
        {"id": "a", "connector": "echo", "params": {}},
        {"id": "b", "connector": "echo", "params": {}}]}});
    let e = lq.pipelines.run(&who, &body).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InsufficientCredits {
                needed: 4,
                available: 2
            }
        ),
        "{e:?}"
    );
    assert_eq!(lq.stores.ledger.balance(&who.user_id).unwrap(), 2);
    let kinds: Vec<_> = lq
        .stores
        .ledger
        .entries(&who.user_id)
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.len(), 1, "only the sign-up grant: {kinds:?}");
    let e = lq
        .pipelines
        .run(&who, &json!({"pipeline": body["pipeline"], "async": true}))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InsufficientCredits);
}

#[test]
fn validation_reports_pointers_and_connector_required_params() {
    let slack = Scripted::with_params("slack", &["channel", "text"]);
    let lq = system(100, vec![slack], &[]);
    let who = user(&lq, "a@example.com", Role::User);
    let e = lq
        .pipelines
        .create_pipeline(
            &who,
            &json!({"id": "pl_x", "name": "v", "steps": [
            {"id": "s", "connector": "slack", "params": {"channel": "#sales"}},
            {"id": "t", "connector": "echo", "params": {"a": "{{steps.later.output}}"}},
            {"id": "later", "connector": "echo", "params": {}}]}),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert_eq!(
        paths(&e),
        ["/steps/0/params/text", "/steps/1/params/a", "/id"]
    );
    let e = lq
        .pipelines
        .create_pipeline(&who, &json!("nope"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidJson);
    let e = lq.pipelines.run(&who, &json!({"pipeline": {"name": "n", "steps": [{"id": "a", "connector": "zz", "params": {}}]}, "bogus": 1})).unwrap_err();
    assert_eq!(paths(&e), ["/pipeline/steps/0/connector", "/bogus"]);
    let e = lq.pipelines.run(&who, &json!({"input": {}})).unwrap_err();
    assert_eq!(paths(&e), ["/pipeline_id"]);
    let steps: Vec<Value> = (0..51)
        .map(|i| json!({"id": format!("s{i}"), "connector": "echo", "params": {}}))
        .collect();
    let e = lq
        .pipelines
        .create_pipeline(&who, &json!({"name": "big", "steps": steps}))
        .unwrap_err();
    assert_eq!(paths(&e), ["/steps"]);
}

#[test]
fn list_pipelines_pages_newest_first_for_the_owner_only() {
    let lq = system(100, vec![], &[]);
    let who = user(&lq, "a@example.com", Role::User);
    let other = user(&lq, "b@example.com", Role::User);
    let mut ids = vec![];
    for i in 0..5 {
        let body = json!({"name": format!("p{i}"), "steps": [{"id": "a", "connector": "echo", "params": {}}]});
        ids.push(lq.pipelines.create_pipeline(&who, &body).unwrap().id);
        std::thread::sleep(Duration::from_millis(2));
    }
    lq.pipelines
        .create_pipeline(
            &other,
            &json!({"name": "o", "steps": [{"id": "a", "connector": "echo", "params": {}}]}),
        )
        .unwrap();
    let page = lq.pipelines.list_pipelines(&who, Some(2), None).unwrap();
    assert_eq!(
        page.items.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        [ids[4].clone(), ids[3].clone()]
    );
    let page2 = lq
        .pipelines
        .list_pipelines(&who, Some(2), page.next_cursor.as_deref())
        .unwrap();
    assert_eq!(page2.items[0].id, ids[2]);
    let last = lq.pipelines.list_pipelines(&who, Some(10), None).unwrap();
    assert_eq!((last.items.len(), last.next_cursor), (5, None));
    assert_eq!(
        lq.pipelines
            .list_pipelines(&who, Some(0), None)
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
    assert_eq!(
        lq.pipelines
            .list_pipelines(&who, None, Some("zz"))
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
}
