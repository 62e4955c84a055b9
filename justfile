# Recipes for certsmith developers (https://github.com/casey/just).

# Run every cargo-fuzz target for SECONDS each (needs nightly + cargo-fuzz; skips loudly otherwise)
fuzz seconds="60":
    fuzz/run.sh {{seconds}}

# Regenerate the hostile-input corpus (needs openssl and python3-cryptography)
hostile-corpus:
    cd tests/data/hostile && python3 make.py
