//! Durability and money: async runs through the queue, resume after a crash
//! without repeating delivered steps, settlement exactly once, and many
//! parallel runs against a balance that covers only some.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Act, Scripted, system, user};
use levqor_core::billing::EntryKind;
use levqor_core::connectors::Connector;
use levqor_core::pipeline::{NewRun, PipelineDef, RunOutcome, RunStatus, StepRecord, StepStatus};
use levqor_core::queue::{IntakeRequest, JobStatus};
use levqor_core::users::Role;
use levqor_core::{Error, Levqor};
use serde_json::json;

fn wait_run(
    lq: &Levqor,
    who: &levqor_core::auth::Principal,
    id: &str,
) -> levqor_core::pipeline::Run {
    let t = Instant::now();
    loop {
        let r = lq.pipelines.get_run(who, id).unwrap();
        if r.status.is_terminal() {
            return r;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "run {id} stuck in {:?}",
            r.status
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn async_run_and_intake_jobs_execute_on_workers() {
    let lq = system(100, vec![], &[]);
    let who = user(&lq, "a@example.com", Role::User);
    let pipeline = json!({"name": "a", "steps": [
        {"id": "a", "connector": "echo", "params": {"v": "{{input.v}}"}},
        {"id": "b", "connector": "echo", "params": {"w": "{{steps.a.output.v}}"}}]});
    let out = lq
        .pipelines
        .run(
            &who,
            &json!({"pipeline": pipeline, "input": {"v": 5}, "async": true}),
        )
        .unwrap();
    let RunOutcome::Queued { run_id, job_id } = out else {
        panic!("expected async")
    };
    // Reserved at once, before any worker runs.
    assert_eq!(lq.stores.ledger.balance(&who.user_id).unwrap(), 98);
    let queued = lq.pipelines.get_run(&who, &run_id).unwrap();
    assert_eq!(
        (queued.status, queued.job_id.as_deref()),
        (RunStatus::Queued, Some(job_id.as_str()))
    );

    // API.md's payload, submitted through intake.
    let intake = lq
        .queue
        .submit(
            &who.user_id,
            IntakeRequest::from_json(
                &json!({"kind": "pipeline.run", "payload": {"pipeline": pipeline, "input": {"v": 6}}}),
                None,
            )
            .unwrap(),
        )
        .unwrap();
    let bad = IntakeRequest::from_json(
        &json!({"kind": "pipeline.run", "payload": {"input": {}}}),
        None,
    )
    .unwrap();
    assert!(
        lq.queue.submit(&who.user_id, bad).is_err(),
        "a payload without a pipeline is refused at intake"
    );

    let pool = lq.start_workers(2);
    let run = wait_run(&lq, &who, &run_id);
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.steps[1].output, Some(json!({"w": 5})));
    let t = Instant::now();
    let job = loop {
        let j = lq.queue.get(&who, &intake.job_id).unwrap();
        if j.status == JobStatus::Succeeded || t.elapsed() > Duration::from_secs(10) {
            break j;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    pool.shutdown();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);
    let result = job.result.unwrap();
    assert_eq!(result["steps"][1]["output"], json!({"w": 6}));
    let r2 = lq.stores.pipelines.run_for_job(&job.id).unwrap().unwrap();
    assert_eq!(r2.id, result["id"].as_str().unwrap());
    assert_eq!(lq.stores.ledger.balance(&who.user_id).unwrap(), 96);
}

#[test]
fn a_resumed_run_skips_delivered_steps_and_settles_once() {
    let deliver = Scripted::new("deliver", vec![Act::Ok]);
    let notify = Scripted::new("notify", vec![Act::Ok]);
    let extra: Vec<Arc<dyn Connector>> = vec![deliver.clone(), notify.clone()];
    let lq = system(100, extra, &[]);
    let who = user(&lq, "a@example.com", Role::User);
    let def: PipelineDef = serde_json::from_value(json!({"name": "r", "steps": [
        {"id": "deliver", "connector": "deliver", "params": {"x": "{{input.x}}"}},
        {"id": "notify", "connector": "notify", "params": {"ref": "{{steps.deliver.output.params.x}}"}}]}))
    .unwrap();
    let engine = lq.pipelines.engine().clone();
    let mut run = engine
        .create_run(NewRun {
            user_id: who.user_id.clone(),
            pipeline_id: None,
            def,
            input: json!({"x": "lead-1"}),
            job_id: None,
            status: RunStatus::Running,
        })
        .unwrap();
    assert_eq!(lq.stores.ledger.balance(&who.user_id).unwrap(), 98);
    // The process delivered step 1, persisted it, and died before step 2.
    let done = StepRecord {
        id: "deliver".into(),
        status: StepStatus::Succeeded,
        output: Some(json!({"ok": true, "params": {"x": "lead-1"}})),
        error: None,
        attempts: 1,
        duration_ms: 3,
    };
    lq.stores.pipelines.save_step(&run.id, 0, &done).unwrap();
    drop(run);

    // A worker picks the job up again: it reloads the run and resumes.
    let pool = lq.start_workers(1);
    lq.queue
        .submit(
            &who.user_id,
            IntakeRequest::from_json(
                &json!({"kind": "pipeline.run", "payload": {"run_id": runid(&lq, &who)}}),
                None,
            )
            .unwrap(),
        )
        .unwrap();
    run = wait_run(&lq, &who, &runid(&lq, &who));
    pool.shutdown();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(deliver.calls(), 0, "a delivered step must not run again");
    assert_eq!(notify.calls(), 1);
    assert_eq!(notify.params.lock().unwrap()[0], json!({"ref": "lead-1"}));
    assert_eq!((run.credits_charged, run.credits_remaining), (2, Some(98)));

    // Executing it again changes nothing: no step, no second settlement.
    let mut again = lq.stores.pipelines.get_run(&run.id).unwrap().unwrap();
    engine.execute(&mut again).unwrap();
    assert_eq!(notify.calls(), 1);
    assert_eq!(lq.stores.ledger.balance(&who.user_id).unwrap(), 98);
}

/// The one run of the test user (the resume test creates exactly one).
fn runid(lq: &Levqor, who: &levqor_core::auth::Principal) -> String {
    let entries = lq.stores.ledger.entries(&who.user_id).unwrap();
    entries
        .iter()
        .find(|e| e.kind == EntryKind::Reserve)
        .and_then(|e| e.reference.clone())
        .unwrap()
}

#[test]
fn parallel_runs_never_overdraw_and_charge_exactly() {
    // 3-step runs cost 3; 10 credits pay for 3 of them.
    let lq = Arc::new(system(10, vec![], &[]));
    let who = user(&lq, "a@example.com", Role::User);
    let body = json!({"pipeline": {"name": "p", "steps": [
        {"id": "a", "connector": "echo", "params": {}},
        {"id": "b", "connector": "echo", "params": {}},
        {"id": "c", "connector": "echo", "params": {}}]}});
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (lq, who, body) = (lq.clone(), who.clone(), body.clone());
            std::thread::spawn(move || lq.pipelines.run(&who, &body))
        })
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    for h in handles {
        match h.join().unwrap() {
            Ok(RunOutcome::Finished(r)) => {
                assert_eq!((r.status, r.credits_charged), (RunStatus::Succeeded, 3));
                ok += 1;
            }
            Err(Error::InsufficientCredits { .. }) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, refused), (3, 13));
    assert_eq!(lq.stores.ledger.balance(&who.user_id).unwrap(), 1);
    let entries = lq.stores.ledger.entries(&who.user_id).unwrap();
    assert!(entries.iter().all(|e| e.balance_after >= 0));
    assert_eq!(entries.iter().map(|e| e.amount).sum::<i64>(), 1);
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.kind == EntryKind::Reserve)
            .count(),
        3
    );
}
