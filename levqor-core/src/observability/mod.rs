//! Observability: in-process metrics rendered in the Prometheus text format.

mod metrics;
pub mod prometheus;

pub use metrics::{LATENCY_BUCKETS, Metrics};
