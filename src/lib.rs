//! Levqor workspace suite: examples, benches and end-to-end tests.
