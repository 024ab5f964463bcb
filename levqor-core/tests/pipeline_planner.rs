//! Planners: the offline rules planner's grammar, and the LLM planner
//! against a fake OpenAI-compatible server on loopback.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::{Scripted, system, user};
use levqor_core::connectors::Connector;
use levqor_core::users::Role;
use levqor_core::{ErrorKind, Levqor};
use serde_json::{Value, json};

fn connectors() -> Vec<Arc<dyn Connector>> {
    vec![
        Scripted::with_params("slack", &["channel", "text"]),
        Scripted::with_params("email", &["to", "subject"]),
        Scripted::with_params("telegram", &["chat_id", "text"]),
        Scripted::with_params("notion", &["database_id", "title"]),
        Scripted::with_params("sheets", &["spreadsheet_id", "range", "values"]),
        Scripted::with_params("http", &["method", "url"]),
        Scripted::with_params("transform", &[]),
    ]
}

fn step_summary(v: &Value) -> Vec<(String, String)> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["connector"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn rules_planner_maps_intents_and_parameters() {
    let lq = system(100, connectors(), &[]);
    let who = user(&lq, "a@example.com", Role::User);
    let r = lq
        .pipelines
        .plan(&who, &json!({"description": "When a lead arrives, summarise it and post it to Slack #sales, then email ops@example.com"}))
        .unwrap();
    let v = r.to_json();
    assert_eq!(v["planner"], "rules");
    assert_eq!(v["cost_usd"], 0.0);
    assert_eq!(v["credits_estimate"], 3);
    let p = &v["pipeline"];
    assert!(p["id"].as_str().unwrap().starts_with("pl_"));
    assert_eq!(
        step_summary(p),
        [
            ("summarise".into(), "transform".into()),
            ("slack".into(), "slack".into()),
            ("email".into(), "email".into())
        ]
    );
    assert_eq!(p["steps"][1]["params"]["channel"], "#sales");
    assert_eq!(
        p["steps"][1]["params"]["text"],
        "{{steps.summarise.output.summary}}"
    );
    assert_eq!(p["steps"][2]["params"]["to"], "ops@example.com");
    // Stored: the owner can read it back.
    assert!(
        lq.pipelines
            .get_pipeline(&who, p["id"].as_str().unwrap())
            .is_ok()
    );

    let r = lq
        .pipelines
        .plan_description(
            &who,
            "Send to telegram -1001234 and add a page to Notion 0123456789abcdef0123456789abcdef, \
             append to the sheet \"Leads\" range A1:C1, then POST to https://hooks.example.com/x",
        )
        .unwrap();
    let p = r.pipeline.to_json();
    assert_eq!(
        step_summary(&p)
            .into_iter()
            .map(|s| s.1)
            .collect::<Vec<_>>(),
        ["telegram", "notion", "sheets", "http"]
    );
    assert_eq!(p["steps"][0]["params"]["chat_id"], -1001234);
    assert_eq!(
        p["steps"][1]["params"]["database_id"],
        "0123456789abcdef0123456789abcdef"
    );
    assert_eq!(p["steps"][2]["params"]["range"], "A1:C1");
    assert_eq!(p["steps"][2]["params"]["spreadsheet_id"], "Leads");
    assert_eq!(p["steps"][3]["params"]["method"], "POST");
    assert_eq!(
        p["steps"][3]["params"]["url"],
        "https://hooks.example.com/x"
    );
}

#[test]
fn rules_planner_refuses_what_it_cannot_map_and_says_what_it_understood() {
    let lq = system(100, connectors(), &[]);
    let who = user(&lq, "a@example.com", Role::User);
    let e = lq
        .pipelines
        .plan_description(&who, "when a lead arrives, post it to slack")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    let msg = &e.details()[0].message;
    assert_eq!(e.details()[0].path, "/description");
    assert!(
        msg.contains("understood: a trigger") && msg.contains("Slack needs a channel"),
        "{msg}"
    );
    let e = lq
        .pipelines
        .plan_description(&who, "make coffee")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    let e = lq
        .pipelines
        .plan(&who, &json!({"description": "x", "extra": 1}))
        .unwrap_err();
    assert_eq!(e.details()[0].path, "/extra");
    // With the standard registry's real connectors, the plan passes their own schemas.
    let std = system(100, vec![], &[]);
    let who = user(&std, "a@example.com", Role::User);
    let r = std
        .pipelines
        .plan_description(&who, "summarise and post to #sales")
        .unwrap();
    assert_eq!(r.pipeline.def.steps[0].connector, "transform");
    assert_eq!(r.pipeline.def.steps[1].connector, "slack");
}

/// A fake chat-completions server: answers each request with the next
/// scripted `(status, body)` and records the requests.
struct FakeOpenAi {
    url: String,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

fn fake_openai(script: Vec<(u16, Value)>) -> FakeOpenAi {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    std::thread::spawn(move || {
        for (status, body) in script {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let (mut len, mut auth) = (0usize, String::new());
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap(),
                    "authorization" => auth = v.trim().to_string(),
                    _ => {}
                }
            }
            let mut buf = vec![0; len];
            reader.read_exact(&mut buf).unwrap();
            assert!(line.starts_with("POST /v1/chat/completions "), "{line}");
            log.lock()
                .unwrap()
                .push((auth, serde_json::from_slice(&buf).unwrap()));
            let text = body.to_string();
            let extra = if status == 429 {
                "Retry-After: 0\r\n"
            } else {
                ""
            };
            let mut out = stream;
            write!(
                out,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            )
            .unwrap();
        }
    });
    FakeOpenAi { url, requests }
}

fn completion(content: &str, prompt: u64, completion: u64) -> (u16, Value) {
    (
        200,
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        }),
    )
}

const GOOD: &str = r##"{"name": "Leads to Slack", "steps": [{"id": "post", "connector": "slack", "params": {"channel": "#sales", "text": "{{input.text}}"}}]}"##;

fn llm_system(fake: &FakeOpenAi) -> Levqor {
    system(
        100,
        connectors(),
        &[
            ("LEVQOR_OPENAI_API_KEY", "sk-test"),
            ("LEVQOR_OPENAI_BASE_URL", fake.url.as_str()),
            ("LEVQOR_LLM_PRICES", "gpt-4o-mini=1/2"),
        ],
    )
}

#[test]
fn llm_planner_asks_for_json_and_prices_usage() {
    let fake = fake_openai(vec![completion(GOOD, 1000, 500)]);
    let lq = llm_system(&fake);
    let who = user(&lq, "a@example.com", Role::User);
    let r = lq
        .pipelines
        .plan_description(&who, "post leads to #sales")
        .unwrap();
    assert_eq!(r.draft.planner, "llm");
    assert!(
        (r.draft.cost_usd - 0.002).abs() < 1e-12,
        "{}",
        r.draft.cost_usd
    );
    assert_eq!(r.draft.usage.prompt_tokens, 1000);
    assert_eq!(r.pipeline.def.steps[0].connector, "slack");
    assert_eq!(r.credits_estimate, 1);
    let reqs = fake.requests.lock().unwrap();
    let (auth, body) = &reqs[0];
    assert_eq!(auth, "Bearer sk-test");
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(body["messages"][1]["content"], "post leads to #sales");
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("slack: params {channel, text}")
    );
}

#[test]
fn llm_planner_retries_once_with_the_validation_errors() {
    let fake = fake_openai(vec![
        completion("this is not json", 100, 10),
        completion(GOOD, 200, 50),
    ]);
    let lq = llm_system(&fake);
    let who = user(&lq, "a@example.com", Role::User);
    let r = lq
        .pipelines
        .plan_description(&who, "post leads to #sales")
        .unwrap();
    assert_eq!(r.draft.usage.prompt_tokens, 300);
    assert!((r.draft.cost_usd - (300.0 + 120.0) / 1e6).abs() < 1e-12);
    let reqs = fake.requests.lock().unwrap();
    let msgs = reqs[1].1["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 4);
    assert!(
        msgs[3]["content"].as_str().unwrap().contains("not JSON"),
        "{}",
        msgs[3]
    );

    // Two invalid answers: a validation error listing the problems.
    let bad = r#"{"name": "x", "steps": [{"id": "a", "connector": "nope", "params": {}}]}"#;
    let fake = fake_openai(vec![completion(bad, 1, 1), completion(bad, 1, 1)]);
    let lq = llm_system(&fake);
    let who = user(&lq, "a@example.com", Role::User);
    let e = lq.pipelines.plan_description(&who, "anything").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(
        e.details()
            .iter()
            .any(|d| d.message.contains("/steps/0/connector")),
        "{e}"
    );
    let second = &fake.requests.lock().unwrap()[1].1;
    assert!(
        second["messages"][3]["content"]
            .as_str()
            .unwrap()
            .contains("unknown connector")
    );
}

#[test]
fn llm_planner_retries_429_and_500_once_then_is_unavailable() {
    let fake = fake_openai(vec![
        (429, json!({"error": {"message": "slow down"}})),
        completion(GOOD, 10, 10),
    ]);
    let lq = llm_system(&fake);
    let who = user(&lq, "a@example.com", Role::User);
    assert!(
        lq.pipelines
            .plan_description(&who, "post leads to #sales")
            .is_ok()
    );
    assert_eq!(fake.requests.lock().unwrap().len(), 2);

    let err = json!({"error": {"message": "boom", "type": "server_error"}});
    let fake = fake_openai(vec![(500, err.clone()), (500, err)]);
    let lq = llm_system(&fake);
    let who = user(&lq, "a@example.com", Role::User);
    let e = lq
        .pipelines
        .plan_description(&who, "post leads to #sales")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.to_string().contains("500"), "{e}");
    assert!(
        lq.pipelines
            .list_pipelines(&who, None, None)
            .unwrap()
            .items
            .is_empty(),
        "nothing stored"
    );
}
