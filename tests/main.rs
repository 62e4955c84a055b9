//! All integration tests, compiled into one binary.

mod common;

mod batch;
mod core;
