//! certsmith: a private certificate authority for mutual TLS. The library
//! holds all the work; the binary (`main.rs`, `cli.rs`, `commands/`) only
//! turns flags into calls and results into output.

pub mod batch;
pub mod ca;
pub mod certinfo;
pub mod clock;
pub mod csr;
pub mod error;
pub mod inspect;
pub mod keys;
pub mod leaf;
pub mod ledger;
pub mod manifest;
pub mod names;
pub mod passphrase;
pub mod pki;
pub mod profile;
pub mod serial;
pub mod store;
pub mod validity;

pub use error::{Error, Result};
