//! `levqor worker`: a worker process on the shared database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use levqor_core::{Error, Levqor, Result};

use crate::cli::WorkerArgs;

/// Runs workers until SIGINT or SIGTERM, then stops claiming, finishes or
/// releases the jobs in hand, and returns.
pub fn run(l: &Levqor, args: WorkerArgs) -> Result<()> {
    let threads = args.threads.unwrap_or(l.config.workers).max(1);
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, term.clone())
            .map_err(|e| Error::Internal(format!("cannot install signal handler: {e}")))?;
    }
    let pool = l.start_workers(threads);
    eprintln!(
        "{{\"level\":\"info\",\"msg\":\"worker started\",\"worker_id\":\"{}\",\"threads\":{threads},\"pid\":{}}}",
        pool.worker_id(),
        std::process::id()
    );
    while !term.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("{{\"level\":\"info\",\"msg\":\"worker stopping\"}}");
    pool.shutdown();
    Ok(())
}
