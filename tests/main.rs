//! All integration tests, compiled into one binary.

mod common;

mod core;
mod csr;
mod handshake;
mod hardening;
mod inspect;
mod refusals;
