//! # levqor-core
//!
//! Every rule of Levqor lives here: domain types, storage traits and their
//! SQLite implementation, the durable job queue and its workers, connectors,
//! auth and configuration. The crate is synchronous, uses threads, and knows
//! nothing of HTTP or command lines: `levqor-http` and `levqor-cli` are thin
//! front ends onto it.
#![warn(missing_docs)]

pub mod clock;
pub mod connectors;
pub mod error;
pub mod ids;

pub use error::{Error, ErrorKind, FieldError, Result};
