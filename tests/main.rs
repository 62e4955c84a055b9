//! All integration tests, compiled into one binary.

mod common;

mod core;
mod export;
mod keys;
mod keys_import;
mod keys_renew;
mod wizard;
