//! `levqor-http`: the Levqor HTTP server with its in-process worker pool.
//!
//! Configuration comes from `LEVQOR_*` variables (see docs/configuration.md).
//! SIGINT/SIGTERM stop it cleanly: stop accepting, let workers finish or
//! release their jobs, exit 0.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use levqor_core::{Config, LevqorBuilder};
use levqor_http::server::{Ctx, Server};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("levqor-http: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> levqor_core::Result<()> {
    let config = Config::from_env()?;
    let (addr, workers, threads) = (config.addr.clone(), config.workers, config.http_threads);
    let levqor = Arc::new(LevqorBuilder::new(config).group_commit(true).open()?);
    let pool = (workers > 0).then(|| levqor.start_workers(workers));
    let maintenance =
        levqor_core::maintenance::Maintenance::start(levqor.clone(), Duration::from_secs(60));
    let ctx = Arc::new(Ctx {
        levqor: levqor.clone(),
        shutting_down: AtomicBool::new(false),
    });
    let server = Server::start(ctx.clone(), &addr, threads)?;
    eprintln!(
        "{{\"level\":\"info\",\"msg\":\"levqor-http listening\",\"addr\":\"{}\",\"db\":{},\"workers\":{workers}}}",
        server.addr,
        serde_json::json!(levqor.config.db.display().to_string())
    );
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, term.clone()).map_err(|e| {
            levqor_core::Error::Internal(format!("cannot install signal handler: {e}"))
        })?;
    }
    while !term.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("{{\"level\":\"info\",\"msg\":\"shutting down\"}}");
    ctx.shutting_down.store(true, Ordering::SeqCst);
    server.shutdown();
    if let Some(pool) = pool {
        pool.shutdown();
    }
    maintenance.shutdown();
    Ok(())
}
