# certsmith tasks. `just --list` shows them.

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
