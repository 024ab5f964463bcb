//! End-to-end: the real `levqor` CLI on a database shared with the server.

mod util;

use serde_json::Value;
use util::{Server, api_key, cli, cli_env, wait_until};

#[test]
fn cli_drives_the_queue_and_reports_errors_with_exit_codes() {
    let dir = util::temp_dir("cli");
    let db = dir.join("levqor.db");
    let (code, out, _) = cli(&db, &["--json", "init"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["db"].as_str().unwrap().ends_with("levqor.db"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("secrets.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let admin = api_key(&db, "ops@example.com", "admin");
    assert!(admin.starts_with("lvq_"));

    // Submit from the CLI, run it with the server's workers, read it back.
    let (code, out, err) = cli(
        &db,
        &[
            "--json",
            "job",
            "submit",
            "--kind",
            "echo",
            "--payload",
            r#"{"n":7}"#,
            "--priority",
            "1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let job_id = serde_json::from_str::<Value>(&out).unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = Server::start_in(&dir, &[("LEVQOR_WORKERS", "1")]);
    assert!(wait_until(10, || {
        let (_, out, _) = cli(&db, &["--json", "job", "status", &job_id]);
        serde_json::from_str::<Value>(&out)
            .map(|v| v["status"] == "succeeded")
            .unwrap_or(false)
    }));
    let (_, out, _) = cli(&db, &["job", "list", "--status", "succeeded"]);
    assert!(out.contains(&job_id), "{out}");
    let (code, out, _) = cli(&db, &["--json", "queue", "health"]);
    assert_eq!(code, 0);
    let h: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(h["succeeded"], 1);
    assert_eq!(h["workers"], 1);

    // Dead-letter round trip.
    let (_, out, _) = cli(
        &db,
        &[
            "--json",
            "job",
            "submit",
            "--kind",
            "echo",
            "--payload",
            r#"{"fail_attempts":9}"#,
            "--max-attempts",
            "1",
        ],
    );
    let dead_id = serde_json::from_str::<Value>(&out).unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(wait_until(10, || cli(&db, &["dlq", "list"])
        .1
        .contains(&dead_id)));
    let (code, out, _) = cli(&db, &["--json", "dlq", "retry", &dead_id]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["requeued"], 1);

    // Cancel a delayed job; cancelling again is a conflict (exit 1).
    let (_, out, _) = cli(
        &db,
        &[
            "--json",
            "job",
            "submit",
            "--kind",
            "echo",
            "--run-at",
            "2099-01-01T00:00:00Z",
        ],
    );
    let later = serde_json::from_str::<Value>(&out).unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(cli(&db, &["job", "cancel", &later]).0, 0);
    let (code, _, err) = cli(&db, &["--json", "job", "cancel", &later]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&err).unwrap()["error"]["code"],
        "conflict"
    );

    // Errors: validation and not found exit 1, bad configuration exits 2.
    let (code, _, err) = cli(&db, &["job", "submit", "--kind", "nope"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unknown job kind"), "{err}");
    assert_eq!(cli(&db, &["job", "status", "job_missing"]).0, 1);
    assert_eq!(
        cli(&db, &["apikey", "create", "--email", "not-an-email"]).0,
        1
    );
    assert_eq!(
        cli(
            &db,
            &["apikey", "create", "--email", "a@b.co", "--role", "root"]
        )
        .0,
        1
    );
    assert_eq!(
        cli_env(&db, &["queue", "health"], &[("LEVQOR_WORKERS", "lots")]).0,
        2
    );
    assert_eq!(
        cli_env(&db, &["queue", "health"], &[("LEVQOR_ENV", "production")]).0,
        2
    );

    // A revoked key stops working at once.
    let user_key = api_key(&db, "u@example.com", "user");
    assert_eq!(s.get("/api/v1/jobs", &user_key).status, 200);
    let (_, out, _) = cli(
        &db,
        &["--json", "apikey", "create", "--email", "u@example.com"],
    );
    let v: Value = serde_json::from_str(
        out.lines()
            .take_while(|l| !l.starts_with("lvq_"))
            .collect::<Vec<_>>()
            .join("\n")
            .as_str(),
    )
    .unwrap();
    let key_id = v["key_id"].as_str().unwrap();
    let second = out.lines().last().unwrap().trim().to_string();
    assert_eq!(cli(&db, &["apikey", "revoke", key_id]).0, 0);
    s.get("/api/v1/jobs", &second)
        .assert_error(401, "unauthorized");
    assert_eq!(
        s.get("/api/v1/jobs", &user_key).status,
        200,
        "other keys keep working"
    );
    assert_eq!(cli(&db, &["apikey", "revoke", key_id]).0, 1);
}

#[test]
fn cli_plans_and_runs_pipelines() {
    let dir = util::temp_dir("cli-pipe");
    let db = dir.join("levqor.db");
    let (code, out, err) = cli(
        &db,
        &["--json", "plan", "post the weekly report to Slack #ops"],
    );
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["planner"], "rules");
    assert!(plan["pipeline"]["id"].as_str().unwrap().starts_with("pl_"));
    let p = dir.join("p.json");
    std::fs::write(&p, r#"{"name":"t","steps":[{"id":"a","connector":"echo","params":{"x":"{{input.name}}"}},{"id":"b","connector":"echo","params":{"y":"{{steps.a.output.x}}!"}}]}"#).unwrap();
    let input = dir.join("in.json");
    std::fs::write(&input, r#"{"name":"Ada"}"#).unwrap();
    let (code, out, err) = cli(
        &db,
        &[
            "--json",
            "run",
            p.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["steps"][1]["output"]["y"], "Ada!");
    assert_eq!(run["credits_charged"], 2);
    // A reference to a later step is refused with its path.
    std::fs::write(&p, r#"{"name":"t","steps":[{"id":"a","connector":"echo","params":{"x":"{{steps.b.output}}"}},{"id":"b","connector":"echo","params":{}}]}"#).unwrap();
    let (code, _, err) = cli(&db, &["--json", "run", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("/steps/0/params/x"), "{err}");
    let (code, out, _) = cli(&db, &["bench", "--runs", "20", "--steps", "2"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().filter(|l| l.starts_with("RESULT ")).count(), 2);
}
