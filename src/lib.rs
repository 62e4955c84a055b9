//! certsmith: a private certificate authority for mutual TLS. The library
//! holds all the work; the binary (`main.rs`, `cli.rs`, `commands/`) only
//! turns flags into calls and results into output.

pub mod alb_header;
pub mod archive;
pub mod batch;
pub mod bundle;
pub mod ca;
pub mod ca_urls;
pub mod certinfo;
pub mod clock;
pub mod conformance;
pub mod constraints;
pub mod crl;
pub mod crl_settings;
pub mod csr;
pub mod doctor;
pub mod durability;
pub mod error;
pub mod export;
pub mod import;
pub mod input;
pub mod inspect;
pub mod issuing;
pub mod json;
pub mod keys;
pub mod keystore;
pub mod layout;
pub mod leaf;
pub mod ledger;
pub mod lock;
pub mod manifest;
pub mod names;
pub mod ocsp;
pub mod ops;
pub mod passphrase;
pub mod percent;
pub mod perms;
pub mod pki;
pub mod profile;
pub mod renew;
pub mod revoke;
pub mod serial;
pub mod serve;
pub mod store;
pub mod validity;
pub mod verify;

pub use error::{Error, Result};
