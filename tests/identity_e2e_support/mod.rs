//! Starts the real `levqor-http` binary on a free loopback port with a fresh
//! database, and talks to it with ureq. Prints the server's stderr when a
//! test fails (the child is killed on drop).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The JWT secret the server is started with.
pub const JWT_SECRET: &str = "e2e-jwt-secret-e2e-jwt-secret-e2e-jwt-secret";

fn bin(name: &str) -> PathBuf {
    // target/debug/deps/<test> -> target/debug/<name>
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let path = dir.join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "levqor-http", "-p", "levqor-cli"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "building the binaries failed");
    }
    path
}

/// A running server.
pub struct Server {
    child: Child,
    pub base: String,
    pub dir: PathBuf,
    pub db: PathBuf,
    agent: ureq::Agent,
}

/// An answer.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Server {
    /// Starts the server with extra `LEVQOR_*` settings.
    pub fn start(tag: &str, env: &[(&str, &str)]) -> Server {
        let dir = std::env::temp_dir().join(format!(
            "levqor-e2e-{tag}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let db = dir.join("levqor.db");
        let mut cmd = Command::new(bin("levqor-http"));
        cmd.env("LEVQOR_ADDR", format!("127.0.0.1:{port}"))
            .env("LEVQOR_DB", &db)
            .env("LEVQOR_WORKERS", "0")
            .env("LEVQOR_JWT_SECRET", JWT_SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("stderr.log")).unwrap(),
            ));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let s = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            db,
            agent,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let health = format!("{}/health", s.base);
        while !s
            .agent
            .get(&health)
            .call()
            .is_ok_and(|r| r.status().as_u16() == 200)
        {
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// `levqor apikey create --email E --role R` against the same database.
    pub fn api_key(&self, email: &str, role: &str) -> String {
        let out = Command::new(bin("levqor"))
            .args(["apikey", "create", "--email", email, "--role", role])
            .env("LEVQOR_DB", &self.db)
            .env("LEVQOR_JWT_SECRET", JWT_SECRET)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines().last().unwrap().trim().to_string()
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut b = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let result = match body {
            Some(v) => {
                let req = b
                    .header("Content-Type", "application/json")
                    .body(v.to_string())
                    .unwrap();
                self.agent.run(req)
            }
            None => self.agent.run(b.body(()).unwrap()),
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.call("GET", path, headers, None)
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
        self.call("POST", path, headers, Some(body))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
            eprintln!("--- levqor-http stderr ---\n{log}");
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Base64url without padding (enough to craft tokens by hand).
pub fn b64url(data: &[u8]) -> String {
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
