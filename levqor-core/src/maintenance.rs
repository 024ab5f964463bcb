//! Housekeeping on a timer: expired token revocations are pruned. One
//! thread per process; it checks its stop flag every 100 ms so shutdown is
//! prompt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::app::Levqor;

/// A running maintenance thread.
#[derive(Debug)]
pub struct Maintenance {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Maintenance {
    /// Starts the timer: every `every`, prune expired token rows.
    pub fn start(levqor: Arc<Levqor>, every: Duration) -> Maintenance {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("levqor-maintenance".into())
            .spawn(move || {
                let mut next = Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    if Instant::now() >= next {
                        next = Instant::now() + every;
                        if let Err(e) = levqor.prune_tokens() {
                            eprintln!(
                                "{{\"level\":\"warn\",\"msg\":\"token pruning failed\",\"error\":{}}}",
                                serde_json::json!(e.to_string())
                            );
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .ok();
        Maintenance { stop, thread }
    }

    /// Stops the timer and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
