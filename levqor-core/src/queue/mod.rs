//! The durable job queue.
//!
//! - [`job`]: domain types; [`store`]: the storage contract.
//! - [`service::Queue`]: intake validation, ownership checks, listing,
//!   cancellation and the dead-letter queue, over any [`JobStore`].
//! - [`batcher`]: group commit of enqueues; [`worker`]: the worker pool;
//!   [`handlers`]: the kind → handler registry; [`retry`]: backoff.

pub mod batcher;
pub mod bench;
pub mod handlers;
pub mod job;
pub mod notify;
pub mod retry;
pub mod service;
pub mod store;
pub mod worker;

pub use handlers::{EchoHandler, HandlerRegistry, JobContext, JobError, JobHandler};
pub use job::{
    Completion, Enqueued, Job, JobFilter, JobStatus, NewJob, Outcome, QueueCounts, WorkerInfo,
};
pub use notify::Notifier;
pub use service::{IntakeRequest, Page, Queue, QueueSettings};
pub use store::{CancelOutcome, JobStore, WorkRequest};
pub use worker::{WorkerOptions, WorkerPool, WorkerStats};
