//! One file per command family: each builds its inputs, calls levqor-core,
//! and formats the answer.

pub mod apikey;
pub mod bench;
pub mod connector;
pub mod identity;
pub mod job;
pub mod ops;
pub mod pipeline;
pub mod worker;
