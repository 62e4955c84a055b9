//! All integration tests, compiled into one binary.

mod common;

mod core;
mod csr;
mod handshake;
mod inspect;
mod refusals;
mod trust;
mod trust_bundle;
mod trust_nginx;
mod trust_targets;
mod trust_verify;
