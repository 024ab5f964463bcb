//! Loopback HTTP load generator for `levqor-http` (no wrk needed).
//!
//! Starts `target/release/levqor-http` on a fresh database, creates an API
//! key with `target/release/levqor`, then measures:
//! - closed loop (CONNS keep-alive connections, as fast as possible) on
//!   `GET /health` and `POST /api/v1/intake`: requests/s and latency;
//! - open loop at a fixed RATE on intake: latency measured from each
//!   request's scheduled send time (no coordinated omission).
//!
//! ```sh
//! cargo build --release -p levqor-http -p levqor-cli
//! cargo bench --bench http_load            # CONNS=16 SECS=10 RATE=1000 by default
//! ```
//! Prints `RESULT {json}` lines like the peer harness.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const BODY: &str = r#"{"kind":"echo","payload":{"customer":"c-42","amount":1999,"tags":["a","b"],"meta":{"source":"wrk"}},"priority":3}"#;

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).unwrap();
        Conn {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    /// Sends one request and reads the whole response; returns the status.
    fn call(&mut self, req: &[u8]) -> u16 {
        self.w.write_all(req).expect("write");
        let mut line = String::new();
        self.r.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = 0usize;
        loop {
            line.clear();
            self.r.read_line(&mut line).expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((_, v)) = line
                .split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        self.r.read_exact(&mut body).expect("body");
        status
    }
}

fn request(method: &str, path: &str, key: &str, body: Option<&str>) -> Vec<u8> {
    let mut s = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n");
    if let Some(b) = body {
        s.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        s.push_str("\r\n");
    }
    s.into_bytes()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn closed_loop(name: &str, port: u16, req: Vec<u8>, conns: usize, secs: u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let req = Arc::new(req);
    let handles: Vec<_> = (0..conns)
        .map(|_| {
            let (stop, req) = (stop.clone(), req.clone());
            std::thread::spawn(move || {
                let mut c = Conn::open(port);
                let (mut lat, mut errors) = (Vec::new(), 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let st = c.call(&req);
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                    if !(200..300).contains(&st) {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().unwrap();
        all.extend(l);
        errors += e;
    }
    let dur = t0.elapsed().as_secs_f64();
    let n = all.len();
    println!(
        "RESULT {{\"bench\":\"{name}\",\"conns\":{conns},\"requests\":{n},\"rps\":{:.1},\"p50_ms\":{:.3},\"p95_ms\":{:.3},\"p99_ms\":{:.3},\"non_2xx\":{errors}}}",
        n as f64 / dur,
        pct(&mut all, 50.0),
        pct(&mut all, 95.0),
        pct(&mut all, 99.0)
    );
}

fn open_loop(name: &str, port: u16, req: Vec<u8>, rate: f64, secs: u64, conns: usize) {
    let per_conn = rate / conns as f64;
    let req = Arc::new(req);
    // Connect everything first, so connection set-up is not counted as
    // request latency; the schedule starts once all are open.
    // One request on each before the next is opened: tiny_http 0.12 hands a
    // burst of simultaneous new connections to too few threads and queues
    // the rest for seconds (see docs/benchmarks.md).
    let warm = request("GET", "/health", "none", None);
    let conns_open: Vec<Conn> = (0..conns)
        .map(|_| {
            let mut c = Conn::open(port);
            c.call(&warm);
            c
        })
        .collect();
    let start = Instant::now() + Duration::from_millis(50);
    let handles: Vec<_> = conns_open
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let req = req.clone();
            std::thread::spawn(move || {
                let interval = Duration::from_secs_f64(1.0 / per_conn);
                let offset = interval.mul_f64(i as f64 / conns as f64);
                let total = (per_conn * secs as f64) as u32;
                let (mut lat, mut errors) = (Vec::with_capacity(total as usize), 0u64);
                for k in 0..total {
                    let due = start + offset + interval * k;
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let st = c.call(&req);
                    lat.push(due.elapsed().as_secs_f64() * 1e3);
                    if !(200..300).contains(&st) {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().unwrap();
        all.extend(l);
        errors += e;
    }
    println!(
        "RESULT {{\"bench\":\"{name}\",\"rate\":{rate},\"requests\":{},\"p50_ms\":{:.3},\"p95_ms\":{:.3},\"p99_ms\":{:.3},\"non_2xx\":{errors}}}",
        all.len(),
        pct(&mut all, 50.0),
        pct(&mut all, 95.0),
        pct(&mut all, 99.0)
    );
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` / `--list` probes
    }
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release");
    let (http, cli) = (bin.join("levqor-http"), bin.join("levqor"));
    if !http.exists() || !cli.exists() {
        eprintln!("build first: cargo build --release -p levqor-http -p levqor-cli");
        return;
    }
    let conns = env_or("CONNS", 16usize);
    let secs = env_or("SECS", 10u64);
    let rate = env_or("RATE", 1000.0f64);
    let dir = std::env::temp_dir().join(format!("levqor-http-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("levqor.db");
    let out = Command::new(&cli)
        .args([
            "apikey",
            "create",
            "--email",
            "bench@example.com",
            "--role",
            "user",
        ])
        .env("LEVQOR_DB", &db)
        .output()
        .expect("levqor apikey create");
    let key = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        Command::new(&http)
            .env("LEVQOR_DB", &db)
            .env("LEVQOR_ADDR", format!("127.0.0.1:{port}"))
            .env("LEVQOR_RATE_LIMIT", "1000000000")
            .stderr(Stdio::null())
            .spawn()
            .expect("start levqor-http"),
    );
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let health = request("GET", "/health", &key, None);
    let intake = request("POST", "/api/v1/intake", &key, Some(BODY));
    if std::env::var_os("ONLY_RATE").is_none() {
        closed_loop("levqor.http.health", port, health.clone(), conns, 2); // warm-up
        closed_loop("levqor.http.health", port, health, conns, secs);
        closed_loop("levqor.http.intake", port, intake.clone(), conns, secs);
    }
    open_loop(
        &format!("levqor.http.intake_at{rate}rps"),
        port,
        intake,
        rate,
        secs,
        conns,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
