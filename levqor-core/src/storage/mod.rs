//! Storage: the one place that speaks SQL.
//!
//! Each domain declares its store trait beside itself (`queue::JobStore`,
//! `users::UserStore`...). The traits name no backend type; [`sqlite`]
//! implements them all on one SQLite file. A PostgreSQL implementation of the
//! same traits is the path past one machine.

pub mod sqlite;

pub use sqlite::SqliteStore;
