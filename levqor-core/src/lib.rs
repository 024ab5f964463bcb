//! # levqor-core
//!
//! Every rule of Levqor lives here: domain types, storage traits and their
//! SQLite implementation, the durable job queue and its workers, connectors,
//! auth and configuration. The crate is synchronous, uses threads, and knows
//! nothing of HTTP or command lines: `levqor-http` and `levqor-cli` are thin
//! front ends onto it.
//!
//! Start with [`LevqorBuilder`] (or [`Levqor::open`]) to assemble a system
//! from a [`Config`].
#![warn(missing_docs)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod crypto;
pub mod error;
pub mod flags;
pub mod ids;
pub mod json;
pub mod maintenance;
pub mod observability;
pub mod pipeline;
pub mod queue;
pub mod ratelimit;
pub mod storage;
pub mod users;

pub use app::{Levqor, LevqorBuilder, Stores};
pub use config::Config;
pub use error::{Error, ErrorKind, FieldError, Result};
