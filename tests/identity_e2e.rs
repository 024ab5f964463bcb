//! Identity end to end against the real `levqor-http` binary: bearer tokens
//! (forged, expired, wrong claims, reused refresh), device binding, users
//! and /me, erasure, rate-limit headers, and a raw-file PII scan.

mod util;

use levqor_core::auth::TokenSigner;
use levqor_core::auth::tokens::AccessClaims;
use serde_json::{Value, json};

/// The JWT secret the server is started with.
const JWT_SECRET: &str = "e2e-jwt-secret-e2e-jwt-secret-e2e-jwt-secret";

/// An answer with its body parsed (a string when not JSON).
struct Answer {
    status: u16,
    resp: util::Resp,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.resp.header(name)
    }
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// `util::Server` with arbitrary headers and JSON bodies.
struct Server {
    srv: util::Server,
    db: std::path::PathBuf,
}

impl Server {
    fn start(env: &[(&str, &str)]) -> Server {
        let mut all = vec![("LEVQOR_JWT_SECRET", JWT_SECRET), ("LEVQOR_WORKERS", "0")];
        all.extend_from_slice(env);
        let srv = util::Server::start(&all);
        let db = srv.db.clone();
        Server { srv, db }
    }

    fn api_key(&self, email: &str, role: &str) -> String {
        util::api_key(&self.db, email, role)
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
        let mut h = headers.to_vec();
        if bytes.is_some() {
            h.push(("Content-Type", "application/json"));
        }
        let resp = self.srv.req(method, path, &h, bytes.as_deref());
        let body =
            serde_json::from_slice(&resp.body).unwrap_or_else(|_| Value::String(resp.text()));
        Answer {
            status: resp.status,
            resp,
            body,
        }
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.call("GET", path, headers, None)
    }

    fn post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
        self.call("POST", path, headers, Some(body))
    }
}

/// Base64url without padding (enough to craft tokens by hand).
fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn claims_of(token: &str) -> AccessClaims {
    let part = token.split('.').nth(1).unwrap();
    // Decode base64url by round-tripping through the alphabet.
    let bytes = decode_b64url(part);
    serde_json::from_slice(&bytes).unwrap()
}

fn decode_b64url(s: &str) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let vals: Vec<u32> = s
        .bytes()
        .map(|c| A.iter().position(|a| *a == c).unwrap() as u32)
        .collect();
    let mut out = Vec::new();
    for chunk in vals.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, v)| n | (v << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[test]
fn bearer_tokens_forged_expired_reused_and_bound() {
    let s = Server::start(&[]);
    let key = s.api_key("ada@example.com", "user");
    let k = [("X-API-Key", key.as_str())];
    let pair = s.post("/api/v1/auth/token", &k, &json!({}));
    assert_eq!(pair.status, 200, "{}", pair.body);
    assert_eq!(pair.body["token_type"], "Bearer");
    assert_eq!(pair.body["expires_in"], 900);
    assert_eq!(pair.body["refresh_expires_in"], 604_800);
    let access = pair.body["access_token"].as_str().unwrap().to_string();
    let refresh = pair.body["refresh_token"].as_str().unwrap().to_string();
    let auth = |t: &str| format!("Bearer {t}");
    let me = s.get("/api/v1/me", &[("Authorization", &auth(&access))]);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["email"], "ada@example.com");

    // Crafted tokens.
    let good = claims_of(&access);
    let signer = TokenSigner::new(JWT_SECRET.as_bytes());
    let sign = |c: &AccessClaims| signer.sign(c).unwrap();
    let mut expired = good.clone();
    expired.iat -= 2000;
    expired.exp -= 2000;
    let mut aud = good.clone();
    aud.aud = "other-api".into();
    let mut iss = good.clone();
    iss.iss = "evil".into();
    let mut typ = good.clone();
    typ.typ = "refresh".into();
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(serde_json::to_string(&good).unwrap().as_bytes())
    );
    let other_key = TokenSigner::new(b"another-secret-another-secret-another")
        .sign(&good)
        .unwrap();
    let cases = [
        ("alg none", none),
        ("another key", other_key),
        ("expired", sign(&expired)),
        ("wrong aud", sign(&aud)),
        ("wrong iss", sign(&iss)),
        ("wrong typ", sign(&typ)),
        ("refresh as access", refresh.clone()),
        ("garbage", "x.y.z".to_string()),
    ];
    assert_eq!(
        s.get("/api/v1/me", &[("Authorization", &auth(&sign(&good)))])
            .status,
        200
    );
    for (name, t) in &cases {
        let a = s.get("/api/v1/me", &[("Authorization", &auth(t))]);
        assert_eq!(
            (a.status, a.code()),
            (401, "unauthorized"),
            "{name}: {}",
            a.body
        );
        assert_eq!(
            a.body["error"]["request_id"].as_str(),
            a.header("x-request-id")
        );
    }
    assert_eq!(
        s.get("/api/v1/me", &[("Authorization", "Basic abc")])
            .status,
        401
    );
    assert_eq!(s.get("/api/v1/me", &[]).status, 401);

    // Rotation, then reuse of the spent token revokes the family.
    let r2 = s.post(
        "/api/v1/auth/refresh",
        &[],
        &json!({"refresh_token": refresh}),
    );
    assert_eq!(r2.status, 200, "{}", r2.body);
    let access2 = r2.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        s.get("/api/v1/me", &[("Authorization", &auth(&access2))])
            .status,
        200
    );
    let again = s.post(
        "/api/v1/auth/refresh",
        &[],
        &json!({"refresh_token": refresh}),
    );
    assert_eq!((again.status, again.code()), (401, "unauthorized"));
    assert_eq!(
        s.get("/api/v1/me", &[("Authorization", &auth(&access2))])
            .status,
        401
    );
    assert_eq!(
        s.get("/api/v1/me", &[("Authorization", &auth(&access))])
            .status,
        401
    );
    assert_eq!(
        s.get("/api/v1/me", &k).status,
        200,
        "the API key keeps working"
    );

    // Device binding.
    let bound = s.post("/api/v1/auth/token", &k, &json!({"device_id": "phone-1"}));
    let bt = bound.body["access_token"].as_str().unwrap().to_string();
    let h = auth(&bt);
    assert_eq!(s.get("/api/v1/me", &[("Authorization", &h)]).status, 401);
    assert_eq!(
        s.get(
            "/api/v1/me",
            &[("Authorization", &h), ("X-Device-Id", "phone-2")]
        )
        .status,
        401
    );
    assert_eq!(
        s.get(
            "/api/v1/me",
            &[("Authorization", &h), ("X-Device-Id", "phone-1")]
        )
        .status,
        200
    );
    let br = bound.body["refresh_token"].as_str().unwrap();
    let wrong = s.post(
        "/api/v1/auth/refresh",
        &[],
        &json!({"refresh_token": br, "device_id": "phone-2"}),
    );
    assert_eq!(wrong.status, 401);
    let right = s.post(
        "/api/v1/auth/refresh",
        &[],
        &json!({"refresh_token": br, "device_id": "phone-1"}),
    );
    assert_eq!(right.status, 200, "not spent by the refused attempt");

    // Revoke: own token twice 200, unknown 404.
    let rv = |t: &str| s.post("/api/v1/auth/revoke", &k, &json!({"token": t}));
    let at = right.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(rv(&at).status, 200);
    assert_eq!(rv(&at).body, json!({"revoked": true}));
    assert_eq!(rv("nope").status, 404);
    assert_eq!(
        s.get(
            "/api/v1/me",
            &[("Authorization", &auth(&at)), ("X-Device-Id", "phone-1")]
        )
        .status,
        401
    );
}

#[test]
fn users_me_admin_and_erasure_over_http() {
    let s = Server::start(&[]);
    let admin = s.api_key("root@example.com", "admin");
    let a = [("X-API-Key", admin.as_str())];
    let up = s.post(
        "/api/v1/signup",
        &[],
        &json!({"email": " Kim@Example.com ", "name": "Kim"}),
    );
    assert_eq!(up.status, 201, "{}", up.body);
    assert_eq!(up.body["user"]["credits"], 100);
    let id = up.body["user"]["id"].as_str().unwrap().to_string();
    let key = up.body["api_key"].as_str().unwrap().to_string();
    let u = [("X-API-Key", key.as_str())];
    assert_eq!(
        s.post("/api/v1/signup", &[], &json!({"email": "kim@example.com"}))
            .status,
        409
    );
    let bad = s.post("/api/v1/signup", &[], &json!({"email": "not-an-email"}));
    assert_eq!(
        (bad.status, bad.body["error"]["details"][0]["path"].as_str()),
        (422, Some("/email"))
    );
    // PATCH /me refuses privileged fields.
    let p = s.call(
        "PATCH",
        "/api/v1/me",
        &u,
        Some(&json!({"name": "K", "role": "admin", "credits": 1})),
    );
    assert_eq!(p.status, 422);
    let paths: Vec<&str> = p.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["path"].as_str())
        .collect();
    assert_eq!(paths, ["/credits", "/role"]);
    assert_eq!(
        s.call("PATCH", "/api/v1/me", &u, Some(&json!({"locale": "de"})))
            .body["locale"],
        "de"
    );
    // Admin routes.
    assert_eq!(
        s.get("/api/v1/users?email=KIM%40example.com", &u).status,
        403
    );
    let found = s.get("/api/v1/users?email=KIM%40example.com", &a);
    assert_eq!(
        (found.status, found.body["id"].as_str()),
        (200, Some(id.as_str()))
    );
    let c1 = s.post("/api/v1/users", &a, &json!({"email": "new@example.com"}));
    let c2 = s.post(
        "/api/v1/users",
        &a,
        &json!({"email": "NEW@example.com", "role": "partner"}),
    );
    assert_eq!((c1.status, c2.status), (201, 200));
    assert_eq!(c1.body["id"], c2.body["id"]);
    assert_eq!(c2.body["role"], "partner");
    let patched = s.call(
        "PATCH",
        &format!("/api/v1/users/{id}"),
        &a,
        Some(&json!({"email": "x@y.io"})),
    );
    assert_eq!(patched.status, 422);
    // Export, then erase.
    let ex = s.get("/api/v1/me/export", &u);
    assert_eq!(ex.status, 200);
    assert_eq!(ex.body["ledger"][0]["amount"], 100);
    let del = s.call("DELETE", "/api/v1/me", &u, None);
    assert_eq!(del.status, 200, "{}", del.body);
    assert_eq!(s.get(&format!("/api/v1/users/{id}"), &a).status, 404);
    assert_eq!(s.get("/api/v1/me", &u).status, 401);
    // Admin views of audit and flags.
    let audit = s.get("/api/v1/admin/audit?action=user.erased", &a);
    assert_eq!(audit.status, 200);
    assert_eq!(audit.body["events"].as_array().unwrap().len(), 1);
    let f = s.call(
        "PUT",
        "/api/v1/admin/flags",
        &a,
        Some(&json!({"name": "beta", "enabled": true, "rollout_pct": 10})),
    );
    assert_eq!(f.status, 200, "{}", f.body);
    assert_eq!(
        s.get("/api/v1/admin/flags", &a).body["flags"][0]["rollout_pct"],
        10
    );
    assert_eq!(
        s.call("POST", "/api/v1/admin/flags/rollback", &a, None)
            .status,
        200
    );
    assert_eq!(s.get("/api/v1/admin/flags", &a).body["flags"], json!([]));
    assert_eq!(s.get("/api/v1/admin/audit?limit=500", &a).status, 422);
}

#[test]
fn rate_limits_answer_429_with_headers() {
    let s = Server::start(&[("LEVQOR_RATE_LIMIT", "3"), ("LEVQOR_IP_RATE_LIMIT", "2")]);
    let key = s.api_key("rl@example.com", "user");
    let k = [("X-API-Key", key.as_str())];
    for i in 0..3 {
        let a = s.get("/api/v1/me", &k);
        assert_eq!(a.status, 200, "{i}");
        assert_eq!(a.header("ratelimit-policy"), Some("\"default\";q=3;w=60"));
        assert!(
            a.header("ratelimit")
                .unwrap()
                .starts_with(&format!("\"default\";r={}", 2 - i))
        );
    }
    let a = s.get("/api/v1/me", &k);
    assert_eq!((a.status, a.code()), (429, "rate_limited"));
    let retry: u64 = a.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert!(
        a.header("ratelimit")
            .unwrap()
            .starts_with("\"default\";r=0;t=")
    );
    assert_eq!(s.get("/health", &k).status, 200, "probes are not limited");
    // Anonymous /api/ requests per IP.
    let anon = |i: usize| {
        s.post(
            "/api/v1/auth/refresh",
            &[],
            &json!({"refresh_token": format!("x{i}")}),
        )
    };
    assert_eq!(anon(0).status, 401);
    assert_eq!(anon(1).status, 401);
    let third = anon(2);
    assert_eq!(third.status, 429);
    assert_eq!(third.header("ratelimit-policy"), Some("\"ip\";q=2;w=60"));
}

#[test]
fn no_pii_in_clear_in_the_server_database_files() {
    let s = Server::start(&[]);
    let mut secrets: Vec<String> = Vec::new();
    for i in 0..5 {
        let email = format!("scan.{i}.qzvx@pii-e2e.org");
        let name = format!("Quintessa Zubrowka {i}");
        let a = s.post(
            "/api/v1/signup",
            &[],
            &json!({"email": email, "name": name}),
        );
        assert_eq!(a.status, 201, "{}", a.body);
        secrets.extend([email, name]);
    }
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(format!("{}{suffix}", s.db.display())) {
            bytes.extend(b);
        }
    }
    let hay = String::from_utf8_lossy(&bytes);
    assert!(hay.contains("usr_"), "the scan sees stored rows");
    for secret in &secrets {
        assert!(!hay.contains(secret.as_str()), "{secret} in clear");
    }
    assert!(!hay.contains("pii-e2e.org"));
}
