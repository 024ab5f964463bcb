//! Queue behaviour on the real SQLite store with a manual clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use levqor_core::clock::ManualClock;
use levqor_core::queue::*;
use levqor_core::storage::SqliteStore;
use serde_json::json;

fn new_job(user: &str, key: Option<&str>, now: i64) -> NewJob {
    NewJob {
        id: levqor_core::ids::new_id("job", now),
        user_id: user.into(),
        kind: "echo".into(),
        payload: json!({"n": 1}),
        priority: 5,
        run_at: now,
        max_attempts: 2,
        timeout_ms: None,
        idempotency_key: key.map(str::to_string),
        created_at: now,
    }
}

#[test]
fn idempotency_key_is_per_user() {
    let s = SqliteStore::open_temp().unwrap();
    let a = s
        .enqueue_batch(&[new_job("u1", Some("k"), 1)])
        .unwrap()
        .remove(0);
    let b = s
        .enqueue_batch(&[new_job("u1", Some("k"), 2)])
        .unwrap()
        .remove(0);
    let c = s
        .enqueue_batch(&[new_job("u2", Some("k"), 3)])
        .unwrap()
        .remove(0);
    assert!(a.created && !b.created && c.created);
    assert_eq!(a.job_id, b.job_id);
    assert_ne!(a.job_id, c.job_id);
}

#[test]
fn lease_expiry_reclaims_and_lost_lease_completion_is_refused() {
    let s = SqliteStore::open_temp().unwrap();
    let id = s
        .enqueue_batch(&[new_job("u", None, 1_000)])
        .unwrap()
        .remove(0)
        .job_id;
    let claimed = s.claim("w1", 10, 1_000, 500).unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        s.claim("w2", 10, 1_200, 500).unwrap().is_empty(),
        "lease still held"
    );
    // w1 dies; after the lease, w2 gets the job again.
    let again = s.claim("w2", 10, 1_600, 500).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    let late = Completion {
        job_id: id.clone(),
        worker_id: "w1".into(),
        outcome: Outcome::Succeeded(json!(1)),
        at: 1_700,
    };
    assert_eq!(s.complete(&[late]).unwrap(), vec![false]);
    // w2 dies too: attempts (2) are spent, so the job goes dead.
    assert!(s.claim("w3", 10, 2_200, 500).unwrap().is_empty());
    let j = s.get(&id).unwrap().unwrap();
    assert_eq!(j.status, JobStatus::Dead);
    assert_eq!(s.retry_dead(None, 2_300).unwrap(), 1);
    let j = s.get(&id).unwrap().unwrap();
    assert_eq!((j.status, j.attempts), (JobStatus::Queued, 0));
}

#[test]
fn priority_then_run_at_order_and_delayed_jobs_wait() {
    let s = SqliteStore::open_temp().unwrap();
    let mut low = new_job("u", None, 10);
    low.priority = 9;
    let mut high = new_job("u", None, 10);
    high.priority = 0;
    let mut later = new_job("u", None, 10);
    later.priority = 0;
    later.run_at = 5_000;
    s.enqueue_batch(&[low.clone(), high.clone(), later.clone()])
        .unwrap();
    let got = s.claim("w", 10, 100, 1000).unwrap();
    let ids: Vec<_> = got.iter().map(|j| j.id.clone()).collect();
    assert_eq!(ids, vec![high.id, low.id]);
    assert_eq!(s.next_run_at().unwrap(), Some(5_000));
}

#[test]
fn cancel_only_waiting_jobs() {
    let s = SqliteStore::open_temp().unwrap();
    let a = s
        .enqueue_batch(&[new_job("u", None, 1)])
        .unwrap()
        .remove(0)
        .job_id;
    assert_eq!(s.cancel(&a, 2).unwrap(), CancelOutcome::Cancelled);
    assert_eq!(s.cancel(&a, 3).unwrap(), CancelOutcome::NotCancellable);
    assert_eq!(s.cancel("job_nope", 3).unwrap(), CancelOutcome::NotFound);
}

#[test]
fn worker_pool_retries_then_succeeds_and_exhausts_to_dead() {
    let store = Arc::new(SqliteStore::open_temp().unwrap());
    let clock = ManualClock::new(1_000_000);
    let notifier = Arc::new(Notifier::default());
    let opts = WorkerOptions {
        threads: 2,
        lease_ms: 30_000,
        poll_ms: 10,
        claim_batch: 4,
        backoff: levqor_core::queue::retry::Backoff {
            base_ms: 0,
            max_ms: 0,
        },
        on_complete: None,
        writer: None,
    };
    let pool = WorkerPool::start(
        store.clone(),
        Arc::new(HandlerRegistry::with_builtins()),
        clock.clone(),
        notifier.clone(),
        opts,
    );
    let mut ok = new_job("u", None, 1_000_000);
    ok.payload = json!({"fail_attempts": 1});
    let mut dead = new_job("u", None, 1_000_000);
    dead.payload = json!({"fail_attempts": 5});
    store.enqueue_batch(&[ok.clone(), dead.clone()]).unwrap();
    notifier.notify();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = store.get(&ok.id).unwrap().unwrap();
        let b = store.get(&dead.id).unwrap().unwrap();
        if a.status == JobStatus::Succeeded && b.status == JobStatus::Dead {
            assert_eq!(a.attempts, 2);
            assert_eq!(a.result, Some(json!({"fail_attempts": 1})));
            assert_eq!(b.attempts, 2);
            assert!(b.error.unwrap().contains("simulated failure"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs did not finish: {a:?} {b:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    pool.shutdown();
}
