//! Group commit for enqueues: many request threads hand their jobs to one
//! writer thread, which commits whatever has gathered in one transaction and
//! then answers every caller. Each caller returns only after its job is
//! committed, so durability is per job while the fsync cost is shared.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::job::{Enqueued, NewJob};
use super::notify::Notifier;
use super::store::JobStore;
use crate::error::{Error, Result};

type Reply = SyncSender<Result<Enqueued>>;

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 512;

/// Handle to the writer thread. Dropping every handle stops the thread.
#[derive(Debug, Clone)]
pub struct EnqueueBatcher {
    tx: SyncSender<(NewJob, Reply)>,
}

impl EnqueueBatcher {
    /// Starts the writer thread.
    pub fn start(store: Arc<dyn JobStore>, notifier: Arc<Notifier>) -> (Self, JoinHandle<()>) {
        let (tx, rx) = sync_channel::<(NewJob, Reply)>(4096);
        let handle = std::thread::Builder::new()
            .name("levqor-enqueue".into())
            .spawn(move || writer(store, notifier, rx))
            .expect("spawn enqueue writer thread");
        (EnqueueBatcher { tx }, handle)
    }

    /// Enqueues one job and waits until it is committed.
    ///
    /// # Errors
    /// Storage errors, or [`Error::Unavailable`] when the writer has stopped.
    pub fn enqueue(&self, job: NewJob) -> Result<Enqueued> {
        let (rtx, rrx) = sync_channel(1);
        self.tx
            .send((job, rtx))
            .map_err(|_| Error::Unavailable("the queue writer has stopped".into()))?;
        rrx.recv()
            .map_err(|_| Error::Unavailable("the queue writer has stopped".into()))?
    }
}

fn writer(store: Arc<dyn JobStore>, notifier: Arc<Notifier>, rx: Receiver<(NewJob, Reply)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let jobs: Vec<NewJob> = batch.iter().map(|(j, _)| j.clone()).collect();
        match store.enqueue_batch(&jobs) {
            Ok(results) => {
                notifier.notify_one();
                for ((_, reply), res) in batch.into_iter().zip(results) {
                    let _ = reply.send(Ok(res));
                }
            }
            Err(_) if batch.len() > 1 => {
                // One bad job must not fail its neighbours: commit one by one.
                for (job, reply) in batch {
                    let res = store
                        .enqueue_batch(std::slice::from_ref(&job))
                        .and_then(|mut v| {
                            v.pop().ok_or_else(|| Error::Internal("empty batch".into()))
                        });
                    let _ = reply.send(res);
                }
                notifier.notify_one();
            }
            Err(e) => {
                if let Some((_, reply)) = batch.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}
