#!/usr/bin/env bash
# certsmith vs openssl, side by side, on this machine, in one run:
#   1. certsmith batch --count N (unencrypted P-256 intermediate)
#   2. the same N certificates from `openssl req -x509 -CA` run by xargs -P <cores>
#   3. S single `certsmith issue` processes vs S single `openssl req -x509 -CA` processes
# plus the crypto floor (criterion's in-process issue_one_leaf/ecdsa-p256).
#
# Needs: hyperfine, openssl (3.0+), cargo. Output format is stable (v1): one
# result per line, `key  value  unit`, for diffing runs and for docs/performance.md.
#
# Environment: N (10000), SINGLES (200), RUNS (3, for certsmith batch and the
# single-issue loops), OPENSSL_BATCH_RUNS (1), JOBS (nproc), CERTSMITH (path to a
# release binary; built when absent), SKIP_FLOOR=1 to skip the criterion run.
set -euo pipefail

N=${N:-10000}
SINGLES=${SINGLES:-200}
RUNS=${RUNS:-3}
OPENSSL_BATCH_RUNS=${OPENSSL_BATCH_RUNS:-1}
JOBS=${JOBS:-$(nproc)}
cd "$(dirname "$0")/.."
BIN=${CERTSMITH:-$PWD/target/release/certsmith}

for tool in hyperfine openssl; do
    command -v "$tool" >/dev/null || { echo "bench-compare: '$tool' is not installed (apt-get install $tool)" >&2; exit 2; }
done
if [ ! -x "$BIN" ]; then
    cargo build --release --quiet
fi

floor_us=""
if [ "${SKIP_FLOOR:-0}" != 1 ]; then
    cargo bench --quiet --bench issuance -- --noplot '^issue_one_leaf/ecdsa-p256$' >/dev/null 2>&1
    est=target/criterion/issue_one_leaf/ecdsa-p256/new/estimates.json
    # The mean's point estimate, in nanoseconds.
    floor_us=$(sed -E 's/^\{"mean":\{"confidence_interval":\{[^}]*\},"point_estimate":([0-9.eE+-]+).*/\1/' "$est" | awk '{ printf "%.1f", $1 / 1000 }')
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/certsmith-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
"$BIN" --pki "$W/base" init --cn "Bench Root" --no-passphrase -q
"$BIN" --pki "$W/base" intermediate issuing --cn "Bench Issuing" --no-passphrase -q
CA="$W/base/cas/issuing/ca.pem"
CAKEY="$W/base/cas/issuing/ca.key.pem"
# The same leaf profile as certsmith's `device`: clientAuth, CA:FALSE, SKI/AKI.
cat >"$W/leaf.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
OSSL="openssl req -x509 -new -config $W/leaf.cnf -extensions leaf -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -CA $CA -CAkey $CAKEY -days 365"

mean() { sed -E 's/.*"mean": *([0-9.eE+-]+).*/\1/;t;d' "$1" | head -n1; }
hf() { hyperfine --style none --shell=bash "$@" >/dev/null; }

# Each timed run gets a fresh directory and nothing is deleted until the end:
# ext4 allocates inodes slowly for a minute or more after mass deletion,
# which would penalise whichever command ran right after a clean-up.
echo 0 >"$W/ctr"
NEXT="n=\$((\$(cat $W/ctr) + 1)); echo \$n >$W/ctr"
CUR="$W/run-\$(cat $W/ctr)"
fresh_pki="$NEXT; cp -a $W/base $W/run-\$n"
fresh_dir="$NEXT; mkdir $W/run-\$n"

hf --runs "$RUNS" --prepare "$fresh_pki" --export-json "$W/batch-certsmith.json" \
    "$BIN --pki $CUR batch --count $N --jobs $JOBS -q"
hf --runs "$OPENSSL_BATCH_RUNS" --prepare "$fresh_dir" --export-json "$W/batch-openssl.json" \
    "d=$CUR; seq -f 'dev-%06g' 1 $N | xargs -P $JOBS -I@ $OSSL -subj /CN=@ -keyout \$d/@.key -out \$d/@.crt 2>/dev/null"
hf --runs "$RUNS" --prepare "$fresh_pki" --export-json "$W/single-certsmith.json" \
    "d=$CUR; for i in \$(seq $SINGLES); do $BIN --pki \$d issue dev-\$i -q; done"
hf --runs "$RUNS" --prepare "$fresh_dir" --export-json "$W/single-openssl.json" \
    "d=$CUR; for i in \$(seq $SINGLES); do $OSSL -subj /CN=dev-\$i -keyout \$d/dev-\$i.key -out \$d/dev-\$i.crt 2>/dev/null; done"

bc_s=$(mean "$W/batch-certsmith.json")
bo_s=$(mean "$W/batch-openssl.json")
sc_s=$(mean "$W/single-certsmith.json")
so_s=$(mean "$W/single-openssl.json")

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
echo "# certsmith bench-compare v1"
echo "machine         ${cpu:-unknown cpu}, $(nproc) cores, $(uname -sr), $(df -T "$W" | awk 'NR==2 {print $2}')"
echo "openssl         $(openssl version | cut -d' ' -f1-2)"
echo "certsmith       $("$BIN" --version 2>/dev/null | cut -d' ' -f2)"
awk -v n="$N" -v s="$SINGLES" -v j="$JOBS" -v floor="$floor_us" \
    -v bc="$bc_s" -v bo="$bo_s" -v sc="$sc_s" -v so="$so_s" 'BEGIN {
    if (floor != "") printf "floor_issue_one_leaf_p256   %10.1f us/cert   (criterion, in-process, 1 thread)\n", floor
    printf "batch_certsmith             %10.1f us/cert   (%d certs in %.3f s, --jobs %d)\n", bc / n * 1e6, n, bc, j
    printf "batch_openssl_xargs         %10.1f us/cert   (%d certs in %.3f s, xargs -P %d)\n", bo / n * 1e6, n, bo, j
    printf "single_certsmith_issue      %10.2f ms/cert   (%d processes in %.3f s)\n", sc / s * 1e3, s, sc
    printf "single_openssl_req          %10.2f ms/cert   (%d processes in %.3f s)\n", so / s * 1e3, s, so
    printf "ratio_batch_openssl_over_certsmith  %8.1fx   (target >= 100x)\n", (bo / n) / (bc / n)
    if (floor != "") printf "ratio_batch_over_floor              %8.2fx   (target <= 2.5x)\n", (bc / n * 1e6) / floor
    printf "ratio_single_certsmith_over_openssl %8.2fx   (target <= 1.0x)\n", sc / so
}'
