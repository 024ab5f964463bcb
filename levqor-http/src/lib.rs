//! levqor-http as a library: the server, router and handlers, so tests and
//! embedding programs can start the HTTP front end in-process.

pub mod error;
pub mod http;
pub mod router;
pub mod routes;
pub mod server;
