//! All integration tests, compiled into one binary.

mod common;

mod batch;
mod bounds;
mod core;
mod crl_life;
mod csr;
mod docs_run;
mod export;
mod fleet;
mod handshake;
mod hardening;
mod harness;
mod hsm;
mod inspect;
mod json_contract;
mod keys;
mod keys_import;
mod keys_renew;
mod ledger_core;
mod refusals;
mod revocation_urls;
mod rotation;
mod serve;
mod team;
mod term;
mod trust;
mod trust_bundle;
mod trust_constraints;
mod trust_nginx;
mod trust_policy;
mod trust_targets;
mod trust_verify;
mod verify_limbo;
mod verify_rules;
mod wizard;

mod bundle_manifest;
mod trust_haproxy;
