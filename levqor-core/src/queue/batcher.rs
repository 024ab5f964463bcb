//! Group commit: one writer thread per server process takes the enqueues of
//! many request threads *and* the outcome-and-claim round trips of the
//! in-process workers, and commits everything that has gathered in one
//! transaction before answering each caller. Every caller returns only after
//! its change is committed, so durability is per job while the fsync (with
//! `LEVQOR_SQLITE_SYNC=FULL`) is shared by everything in the batch.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::job::{Completion, Enqueued, Job, NewJob};
use super::notify::Notifier;
use super::store::{JobStore, WorkRequest};
use crate::clock::SharedClock;
use crate::error::{Error, Result};

type Claimed = (Vec<bool>, Vec<Job>);

enum Op {
    Enqueue(NewJob, SyncSender<Result<Enqueued>>),
    Work(WorkRequest, SyncSender<Result<Claimed>>),
}

/// Most operations committed in one transaction.
const MAX_BATCH: usize = 512;

/// Handle to the writer thread. Dropping every handle stops the thread.
#[derive(Debug, Clone)]
pub struct EnqueueBatcher {
    tx: SyncSender<Op>,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Enqueue(..) => "Enqueue",
            Op::Work(..) => "Work",
        })
    }
}

fn stopped() -> Error {
    Error::Unavailable("the queue writer has stopped".into())
}

impl EnqueueBatcher {
    /// Starts the writer thread.
    pub fn start(
        store: Arc<dyn JobStore>,
        notifier: Arc<Notifier>,
        clock: SharedClock,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = sync_channel::<Op>(4096);
        let handle = std::thread::Builder::new()
            .name("levqor-writer".into())
            .spawn(move || writer(store, notifier, clock, rx))
            .expect("spawn queue writer thread");
        (EnqueueBatcher { tx }, handle)
    }

    /// Enqueues one job and waits until it is committed.
    ///
    /// # Errors
    /// Storage errors, or [`Error::Unavailable`] when the writer has stopped.
    pub fn enqueue(&self, job: NewJob) -> Result<Enqueued> {
        let (rtx, rrx) = sync_channel(1);
        self.tx.send(Op::Enqueue(job, rtx)).map_err(|_| stopped())?;
        rrx.recv().map_err(|_| stopped())?
    }

    /// Records a worker's outcomes and claims its next batch, committed
    /// together with whatever else is in the writer's current batch.
    ///
    /// # Errors
    /// Storage errors, or [`Error::Unavailable`] when the writer has stopped.
    pub fn complete_and_claim(
        &self,
        completions: Vec<Completion>,
        worker_id: &str,
        max: usize,
        lease_ms: i64,
    ) -> Result<Claimed> {
        let (rtx, rrx) = sync_channel(1);
        let req = WorkRequest {
            completions,
            worker_id: worker_id.to_string(),
            max,
            lease_ms,
        };
        self.tx.send(Op::Work(req, rtx)).map_err(|_| stopped())?;
        rrx.recv().map_err(|_| stopped())?
    }
}

fn writer(store: Arc<dyn JobStore>, notifier: Arc<Notifier>, clock: SharedClock, rx: Receiver<Op>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut jobs = Vec::new();
        let mut job_replies = Vec::new();
        let mut work = Vec::new();
        let mut work_replies = Vec::new();
        for op in batch {
            match op {
                Op::Enqueue(j, r) => {
                    jobs.push(j);
                    job_replies.push(r);
                }
                Op::Work(w, r) => {
                    work.push(w);
                    work_replies.push(r);
                }
            }
        }
        match store.write_combined(&jobs, &work, clock.now_ms()) {
            Ok((enqueued, claimed)) => {
                if !jobs.is_empty() {
                    notifier.notify_one();
                }
                for (reply, res) in job_replies.into_iter().zip(enqueued) {
                    let _ = reply.send(Ok(res));
                }
                for (reply, res) in work_replies.into_iter().zip(claimed) {
                    let _ = reply.send(Ok(res));
                }
            }
            Err(e) if jobs.len() + work.len() == 1 => {
                if let Some(r) = job_replies.into_iter().next() {
                    let _ = r.send(Err(e));
                } else if let Some(r) = work_replies.into_iter().next() {
                    let _ = r.send(Err(e));
                }
            }
            Err(_) => {
                // One bad operation must not fail its neighbours: one by one.
                let now = clock.now_ms();
                for (job, reply) in jobs.into_iter().zip(job_replies) {
                    let res = store
                        .enqueue_batch(std::slice::from_ref(&job))
                        .and_then(|mut v| {
                            v.pop().ok_or_else(|| Error::Internal("empty batch".into()))
                        });
                    let _ = reply.send(res);
                }
                for (w, reply) in work.into_iter().zip(work_replies) {
                    let res = store.complete_and_claim(
                        &w.completions,
                        &w.worker_id,
                        w.max,
                        now,
                        w.lease_ms,
                    );
                    let _ = reply.send(res);
                }
                notifier.notify_one();
            }
        }
    }
}
