//! Google Sheets connector against a fake of Google's token endpoint and the
//! Sheets API. The RSA key in `fixtures/` is a test-only key (see
//! `fixtures/README.md`).

mod support;

use std::path::PathBuf;

use levqor_core::connectors::sheets::Sheets;
use levqor_core::connectors::{Connector, ConnectorErrorKind, ConnectorSettings};
use serde_json::{Value, json};
use support::{Fake, Handler, Reply, Subject, ctx, settings};

const ACCESS_TOKEN: &str = "ya29.TEST-SECRET-access";
const EMAIL: &str = "levqor-test@levqor-test.iam.gserviceaccount.com";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Writes a service-account key file (test key) and returns its path.
fn key_file() -> PathBuf {
    let pem = std::fs::read_to_string(fixture("test_service_account_key.pem")).unwrap();
    let key = json!({
        "type": "service_account",
        "project_id": "levqor-test",
        "private_key_id": "test",
        "private_key": pem,
        "client_email": EMAIL,
        "token_uri": "https://oauth2.googleapis.com/token"
    });
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("levqor-sa-{}-{n}.json", std::process::id());
    let path = std::env::temp_dir().join(name);
    std::fs::write(&path, key.to_string()).unwrap();
    path
}

fn vars(url: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "LEVQOR_GOOGLE_SERVICE_ACCOUNT_FILE",
            key_file().display().to_string(),
        ),
        ("LEVQOR_SHEETS_BASE_URL", url.into()),
        ("LEVQOR_GOOGLE_TOKEN_URL", format!("{url}/token")),
    ]
}

fn token_reply() -> Reply {
    Reply::json(
        200,
        json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
    )
}

/// Token calls succeed; everything else gets `reply`.
fn routed(reply: Reply) -> Handler {
    std::sync::Arc::new(move |r| {
        if r.url == "/token" {
            token_reply()
        } else {
            reply.clone()
        }
    })
}

fn append_reply() -> Reply {
    Reply::json(
        200,
        json!({
            "spreadsheetId": "sheet123",
            "tableRange": "Sheet1!A1:C3",
            "updates": {"spreadsheetId": "sheet123", "updatedRange": "Sheet1!A4:C4", "updatedRows": 1}
        }),
    )
}

fn form(body: &str) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

#[test]
fn exchanges_token_appends_and_caches_token() {
    let fake = Fake::start_handler(routed(append_reply()));
    let s = settings(&vars(&fake.url));
    let c = Sheets::new(&s);
    let params =
        json!({"spreadsheet_id": "sheet123", "range": "Sheet1!A1", "values": [["a", 1, true]]});
    assert_eq!(
        c.run_task(&ctx(), &params).unwrap(),
        json!({"updatedRange": "Sheet1!A4:C4"})
    );
    assert_eq!(
        c.run_task(&ctx(), &params).unwrap()["updatedRange"],
        "Sheet1!A4:C4"
    );

    let reqs = fake.requests();
    let token_calls: Vec<_> = reqs.iter().filter(|r| r.url == "/token").collect();
    assert_eq!(token_calls.len(), 1, "the token is cached");
    let t = token_calls[0];
    assert_eq!(t.method, "POST");
    assert!(
        t.header("content-type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let f = form(&t.body);
    assert_eq!(
        f["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let public = std::fs::read(fixture("test_service_account_key.pub.pem")).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[format!("{}/token", fake.url)]);
    v.set_required_spec_claims(&["exp", "aud", "iss"]);
    let claims = jsonwebtoken::decode::<Value>(
        &f["assertion"],
        &jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap(),
        &v,
    )
    .expect("assertion signed with the service account key")
    .claims;
    assert_eq!(claims["iss"], EMAIL);
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/spreadsheets"
    );
    let life = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert!(life <= 3600);

    let appends: Vec<_> = reqs.iter().filter(|r| r.url != "/token").collect();
    assert_eq!(appends.len(), 2);
    assert_eq!(appends[0].method, "POST");
    assert_eq!(
        appends[0].url,
        "/v4/spreadsheets/sheet123/values/Sheet1%21A1:append?valueInputOption=USER_ENTERED"
    );
    assert_eq!(
        appends[0].header("authorization"),
        Some(&*format!("Bearer {ACCESS_TOKEN}"))
    );
    assert_eq!(appends[0].json()["values"], json!([["a", 1, true]]));
}

#[test]
fn token_endpoint_failures() {
    let fake = Fake::start(|r| {
        if r.url == "/token" {
            Reply::json(
                400,
                json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
            )
        } else {
            append_reply()
        }
    });
    let c = Sheets::new(&settings(&vars(&fake.url)));
    let params = json!({"spreadsheet_id": "s", "range": "A1", "values": [[1]]});
    let e = c.run_task(&ctx(), &params).unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::Unauthorized, "{e}");
    assert!(
        fake.requests().iter().all(|r| r.url == "/token"),
        "no append without a token"
    );

    let fake = Fake::start(|_| Reply::json(200, json!({"token_type": "Bearer"})));
    let c = Sheets::new(&settings(&vars(&fake.url)));
    assert_eq!(
        c.run_task(&ctx(), &params).unwrap_err().kind,
        ConnectorErrorKind::BadResponse
    );
}

#[test]
fn sheets_errors() {
    let params = json!({"spreadsheet_id": "s", "range": "A1", "values": [[1]]});
    let s = Subject {
        make: |s| Box::new(Sheets::new(s)),
        vars: &vars,
        handler: &routed,
        params,
        secrets: &[ACCESS_TOKEN],
    };
    let body = json!({"error": {"code": 400, "message": "Unable to parse range: Nope!A1", "status": "INVALID_ARGUMENT"}});
    let (r, _f) = s.call(Reply::json(400, body), &[]);
    let e = r.unwrap_err();
    assert_eq!(e.kind, ConnectorErrorKind::Upstream4xx { status: 400 });
    assert!(e.message.contains("INVALID_ARGUMENT"), "{e}");
    let (r, _f) = s.call(Reply::json(200, json!({"updates": {}})), &[]);
    assert_eq!(r.unwrap_err().kind, ConnectorErrorKind::BadResponse);
    s.standard_failures(json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}));
}

#[test]
fn missing_or_bad_key_file_is_not_configured() {
    let params = json!({"spreadsheet_id": "s", "range": "A1", "values": [[1]]});
    let c = Sheets::new(&ConnectorSettings::default());
    let e = c.run_task(&ctx(), &params).unwrap_err();
    let want = ConnectorErrorKind::NotConfigured {
        setting: "LEVQOR_GOOGLE_SERVICE_ACCOUNT_FILE".into(),
    };
    assert_eq!(e.kind, want);
    assert!(e.message.contains("LEVQOR_GOOGLE_SERVICE_ACCOUNT_FILE"));
    let c = Sheets::new(&settings(&[(
        "LEVQOR_GOOGLE_SERVICE_ACCOUNT_FILE",
        "/nonexistent/sa.json".into(),
    )]));
    assert_eq!(c.run_task(&ctx(), &params).unwrap_err().kind, want);
    let bad = Sheets::new(&ConnectorSettings::default()).run_task(
        &ctx(),
        &json!({"spreadsheet_id": "s", "range": "A1", "values": [1]}),
    );
    assert_eq!(bad.unwrap_err().kind, ConnectorErrorKind::InvalidPayload);
}
