# certsmith tasks. `just --list` shows them.

default:
    @just --list

# Build the release binary
build:
    cargo build --release

# Run every test (the README's test command)
test:
    cargo test

# fmt --check and clippy with warnings as errors
lint:
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings

# End-to-end tests with real peers (OpenSSL, rustls, nginx + curl)
e2e:
    cargo test --test integration -- handshake:: csr:: core::

# Run every cargo-fuzz target for SECONDS each (needs nightly + cargo-fuzz; skips loudly otherwise)
fuzz seconds="60":
    fuzz/run.sh {{seconds}}

# Regenerate the hostile-input corpus in tests/data/hostile (needs openssl and python3-cryptography)
hostile-corpus:
    cd tests/data/hostile && python3 make.py

# Man pages into target/man/ (view: man -l target/man/certsmith.1); the binary writes them: certsmith man --dir DIR
man dir="target/man":
    cargo run --quiet -- man --dir {{dir}}

# Shell completions into target/completions/
completions dir="target/completions":
    mkdir -p {{dir}}
    for sh in bash zsh fish; do cargo run --quiet -- completions $sh > {{dir}}/certsmith.$sh; done

# --- benchmarks (docs/performance.md) ---

# Criterion benchmarks: issue one leaf per key type, sign a CSR, CRL with 10k/100k entries, verify a chain
bench *ARGS:
    nice cargo bench --bench issuance -- {{ARGS}}

# certsmith vs openssl side by side (batch of 10,000 and 200 single processes); needs hyperfine
bench-compare:
    cargo build --release
    nice scripts/bench-compare.sh

# 1,000,000-certificate ledger: issue, list --expiring-within, crl; peak RSS of batch --count 100000
bench-scale:
    cargo build --release
    nice scripts/bench-scale.sh
