//! Wake-ups for idle in-process workers: an enqueue bumps a generation
//! counter and wakes every waiter, so a new job is picked up at once instead
//! of after a poll interval.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// A generation counter with a condition variable.
#[derive(Debug, Default)]
pub struct Notifier {
    generation: Mutex<u64>,
    cond: Condvar,
}

impl Notifier {
    /// Current generation; read it before looking for work.
    pub fn generation(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Signals new work to every waiter (shutdown, bulk requeues).
    pub fn notify(&self) {
        let mut g = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        *g = g.wrapping_add(1);
        self.cond.notify_all();
    }

    /// Signals new work to one waiter: a worker that finds a full batch wakes
    /// the next, so a trickle of jobs does not wake (and send to the write
    /// lock) every idle worker at once.
    pub fn notify_one(&self) {
        let mut g = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        *g = g.wrapping_add(1);
        self.cond.notify_one();
    }

    /// Waits until the generation moves past `seen` or `timeout` passes.
    pub fn wait(&self, seen: u64, timeout: Duration) {
        let g = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        let result = self.cond.wait_timeout_while(g, timeout, |g| *g == seen);
        drop(result);
    }
}
