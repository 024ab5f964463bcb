//! End-to-end crash safety: `kill -9` of a worker process in the middle of a
//! batch, and of the server in the middle of intake, loses no accepted job.

mod util;

use std::process::{Child, Command, Stdio};

use serde_json::json;
use util::{Server, api_key, bin, wait_until};

/// A worker process, killed when dropped (also when a test fails).
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_worker(db: &std::path::Path, lease_ms: &str) -> Worker {
    Worker(
        Command::new(bin("levqor"))
            .args(["worker", "--threads", "2"])
            .env("LEVQOR_DB", db)
            .env("LEVQOR_LEASE_MS", lease_ms)
            .env("LEVQOR_POLL_MS", "20")
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(
                    db.with_extension(format!("worker-{}.log", util::free_port())),
                )
                .unwrap(),
            )
            .spawn()
            .expect("start levqor worker"),
    )
}

fn count(s: &Server, admin: &str, status: &str) -> i64 {
    s.get("/ops/queue_health", admin).json()[status]
        .as_i64()
        .unwrap()
}

#[test]
fn killing_a_worker_mid_batch_loses_no_job() {
    let dir = util::temp_dir("crash-worker");
    let db = dir.join("levqor.db");
    let admin = api_key(&db, "admin@example.com", "admin");
    // The server runs no workers: only the separate worker processes do.
    let s = Server::start_in(
        &dir,
        &[("LEVQOR_WORKERS", "0"), ("LEVQOR_LEASE_MS", "1500")],
    );
    let n = 120;
    let mut ids = Vec::new();
    for i in 0..n {
        let r = s.post(
            "/api/v1/intake",
            &admin,
            &json!({"kind": "echo", "payload": {"i": i, "sleep_ms": 20}, "max_attempts": 5}),
        );
        assert_eq!(r.status, 202);
        ids.push(r.json()["job_id"].as_str().unwrap().to_string());
    }
    let mut w1 = start_worker(&db, "1500");
    // Kill while the worker holds leases on a batch, after it made progress.
    assert!(
        wait_until(30, || {
            let h = s.get("/ops/queue_health", &admin).json();
            h["succeeded"].as_i64().unwrap() >= 20 && h["running"].as_i64().unwrap() > 0
        }),
        "worker made no progress: {} {:?}",
        s.get("/ops/queue_health", &admin).json(),
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().to_string_lossy().contains("worker"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<Vec<_>>()
    );
    w1.0.kill().unwrap(); // SIGKILL
    w1.0.wait().unwrap();
    let done_at_kill = count(&s, &admin, "succeeded");
    assert!(done_at_kill < n, "the batch finished before the kill");
    let _w2 = start_worker(&db, "1500");
    // Jobs the dead worker held come back after their lease (1.5 s).
    assert!(
        wait_until(60, || count(&s, &admin, "succeeded") == n),
        "not every job finished: {}",
        s.get("/ops/queue_health", &admin).json()
    );
    for id in &ids {
        let j = s.get(&format!("/api/v1/jobs/{id}"), &admin).json();
        assert_eq!(j["status"], "succeeded", "{j}");
    }
    assert_eq!(count(&s, &admin, "running"), 0);
}

#[test]
fn killing_the_server_loses_no_accepted_job() {
    let dir = util::temp_dir("crash-server");
    let db = dir.join("levqor.db");
    let admin = api_key(&db, "admin@example.com", "admin");
    let mut s = Server::start_in(&dir, &[("LEVQOR_WORKERS", "0")]);
    let port = s.port;
    // Several clients keep submitting while the server is killed.
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (key, acc) = (admin.clone(), accepted.clone());
            std::thread::spawn(move || {
                for i in 0..10_000 {
                    let body =
                        serde_json::to_vec(&json!({"kind": "echo", "payload": {"t": t, "i": i}}))
                            .unwrap();
                    let hdr = [
                        ("X-API-Key", key.as_str()),
                        ("Content-Type", "application/json"),
                    ];
                    match util::try_request(port, "POST", "/api/v1/intake", &hdr, Some(&body)) {
                        Ok(r) if r.status == 202 => acc
                            .lock()
                            .unwrap()
                            .push(r.json()["job_id"].as_str().unwrap().to_string()),
                        _ => return,
                    }
                }
            })
        })
        .collect();
    assert!(wait_until(30, || accepted.lock().unwrap().len() >= 200));
    s.kill9();
    for h in handles {
        h.join().unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    let s2 = Server::start_in(&dir, &[("LEVQOR_WORKERS", "2")]);
    for id in &accepted {
        let r = s2.get(&format!("/api/v1/jobs/{id}"), &admin);
        assert_eq!(r.status, 200, "accepted job {id} was lost");
    }
    assert!(wait_until(60, || count(&s2, &admin, "queued") == 0
        && count(&s2, &admin, "running") == 0));
}
