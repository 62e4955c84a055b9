# certsmith developer tasks (`just --list`).
# The lead owns the recipes outside the "benchmarks" section; they are
# placeholders here, to be merged with main's justfile.

default:
    @just --list

# Placeholder (lead): build, test, lint
test:
    cargo test --test integration

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
