#!/usr/bin/env bash
# certsmith vs openssl, side by side, on this machine, in one run:
#   1. certsmith batch --count N (unencrypted P-256 intermediate)
#   2. the same N certificates from `openssl req -x509 -CA` run by xargs -P <cores>
#   3. S single `certsmith issue` processes vs S single `openssl req -x509 -CA` processes
# plus the crypto floor (criterion's in-process issue_one_leaf/ecdsa-p256), and
# for fleets (issue 13):
#   4. certsmith batch --count N --archive FILE.tar (one streamed tar, no directories)
#   5. the filesystem's own cost of the directory layout: the same N directories
#      and files (tmp dir + rename per device, chain.pem hard-linked, one sync at
#      the end) made with no crypto at all, by a small python3 script
#   6. N factory CSRs (made once, untimed, from a few keys of each type):
#      certsmith batch --csr-dir vs `openssl x509 -req -CA` per CSR under xargs -P
#   7. the single-process loops again as ROUNDS rounds: median and spread
#   8. peak RSS of `batch --archive -` for RSS_N certificates (/usr/bin/time)
#
# Needs: hyperfine, openssl (3.0+), cargo. Output format is stable (v1): one
# result per line, `key  value  unit`, for diffing runs and for docs/performance.md.
#
# Environment: N (10000), SINGLES (200), RUNS (3, for certsmith batch and the
# single-issue loops), OPENSSL_BATCH_RUNS (1), JOBS (nproc), CERTSMITH (path to a
# release binary; built when absent), SKIP_FLOOR=1 to skip the criterion run,
# ROUNDS (5, rounds of the single-process loops for median and spread),
# RSS_N (100000, certificates of the peak-RSS run).
set -euo pipefail

N=${N:-10000}
SINGLES=${SINGLES:-200}
RUNS=${RUNS:-3}
OPENSSL_BATCH_RUNS=${OPENSSL_BATCH_RUNS:-1}
ROUNDS=${ROUNDS:-5}
RSS_N=${RSS_N:-100000}
JOBS=${JOBS:-$(nproc)}
cd "$(dirname "$0")/.."
BIN=${CERTSMITH:-$PWD/target/release/certsmith}

for tool in hyperfine openssl python3 /usr/bin/time; do
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
# Each --prepare ends with `sync`: no timed run (least of all a single
# `issue`, whose fsyncs would wait behind it) pays for the writeback of what
# an earlier step or the previous run left dirty (10,000 CSRs, certificates).
fresh_pki="$NEXT; cp -a $W/base $W/run-\$n; sync"
fresh_dir="$NEXT; mkdir $W/run-\$n; sync"

hf --runs "$RUNS" --prepare "$fresh_pki" --export-json "$W/batch-certsmith.json" \
    "$BIN --pki $CUR batch --count $N --jobs $JOBS -q"
hf --runs "$OPENSSL_BATCH_RUNS" --prepare "$fresh_dir" --export-json "$W/batch-openssl.json" \
    "d=$CUR; seq -f 'dev-%06g' 1 $N | xargs -P $JOBS -I@ $OSSL -subj /CN=@ -keyout \$d/@.key -out \$d/@.crt 2>/dev/null"
hf --runs "$RUNS" --prepare "$fresh_pki" --export-json "$W/single-certsmith.json" \
    "d=$CUR; for i in \$(seq $SINGLES); do $BIN --pki \$d issue dev-\$i -q; done"
hf --runs "$RUNS" --prepare "$fresh_dir" --export-json "$W/single-openssl.json" \
    "d=$CUR; for i in \$(seq $SINGLES); do $OSSL -subj /CN=dev-\$i -keyout \$d/dev-\$i.key -out \$d/dev-\$i.crt 2>/dev/null; done"

# 4. The archive: one tar file, no directories.
hf --runs "$RUNS" --prepare "$fresh_pki" --export-json "$W/archive-certsmith.json" \
    "$BIN --pki $CUR batch --count $N --jobs $JOBS --archive $CUR.tar -q"

# 5. The filesystem's cost of the directory layout, no crypto: per device a
# temporary directory with key.pem (0600), cert.pem, fullchain.pem and a hard
# link to the one chain.pem, renamed into place; one sync at the end (certsmith
# does one syncfs per chunk). Same sizes as a P-256 device.
cat >"$W/fs-layout.py" <<'PY'
import os, sys, tempfile
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, mode=0o700, exist_ok=True)
key, cert, chain = b"k" * 241, b"c" * 619, b"i" * 623
first = None
for i in range(1, n + 1):
    tmp = tempfile.mkdtemp(prefix=".certsmith-", dir=out)
    for name, data, mode in (("key.pem", key, 0o600), ("cert.pem", cert, 0o644), ("fullchain.pem", cert + chain, 0o644)):
        fd = os.open(os.path.join(tmp, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        os.write(fd, data)
        os.close(fd)
    if first is None:
        fd = os.open(os.path.join(tmp, "chain.pem"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, chain)
        os.close(fd)
    else:
        os.link(first, os.path.join(tmp, "chain.pem"))
    dest = os.path.join(out, "device-%06d" % i)
    os.rename(tmp, dest)
    if first is None:
        first = os.path.join(dest, "chain.pem")
os.sync()
PY
hf --runs "$RUNS" --prepare "$fresh_dir" --export-json "$W/fs-layout.json" \
    "python3 $W/fs-layout.py $CUR/out $N"

# 6. Factory CSRs, made once (untimed) from two keys of each type.
mkdir -p "$W/csrs" "$W/fkeys"
k=0
for alg in "EC -pkeyopt ec_paramgen_curve:P-256" "EC -pkeyopt ec_paramgen_curve:P-384" \
           "RSA -pkeyopt rsa_keygen_bits:2048" "ED25519"; do
    for j in 1 2; do
        # shellcheck disable=SC2086
        openssl genpkey -algorithm $alg -out "$W/fkeys/k$k.pem" 2>/dev/null
        k=$((k + 1))
    done
done
seq -f '%06g' 1 "$N" | xargs -P "$JOBS" -I@ sh -c \
    'openssl req -new -key "'"$W"'/fkeys/k$(( 1@ % 8 )).pem" -subj /CN=unit-@ -out "'"$W"'/csrs/unit-@.csr"'
hf --runs "$RUNS" --prepare "$fresh_pki" --export-json "$W/csr-certsmith.json" \
    "$BIN --pki $CUR batch --csr-dir $W/csrs --jobs $JOBS -q"
hf --runs "$OPENSSL_BATCH_RUNS" --prepare "$fresh_dir" --export-json "$W/csr-openssl.json" \
    "d=$CUR; ls $W/csrs | xargs -P $JOBS -I@ openssl x509 -req -in $W/csrs/@ -CA $CA -CAkey $CAKEY -days 365 -extfile $W/leaf.cnf -extensions leaf -out \$d/@.crt 2>/dev/null"

# 7. Single processes, ROUNDS rounds each: median and spread (min, max).
hf --runs "$ROUNDS" --prepare "$fresh_pki" --export-json "$W/rounds-certsmith.json" \
    "d=$CUR; for i in \$(seq $SINGLES); do $BIN --pki \$d issue dev-\$i -q; done"
hf --runs "$ROUNDS" --prepare "$fresh_dir" --export-json "$W/rounds-openssl.json" \
    "d=$CUR; for i in \$(seq $SINGLES); do $OSSL -subj /CN=dev-\$i -keyout \$d/dev-\$i.key -out \$d/dev-\$i.crt 2>/dev/null; done"

# 8. Peak RSS of an archive batch of RSS_N (the tar goes to /dev/null).
cp -a "$W/base" "$W/rss"
/usr/bin/time -f '%M' -o "$W/rss.kb" "$BIN" --pki "$W/rss" batch --count "$RSS_N" --jobs "$JOBS" --archive - -q >/dev/null

stat_of() { sed -E "s/.*\"$2\": *([0-9.eE+-]+).*/\1/;t;d" "$1" | head -n1; }
ac_s=$(mean "$W/archive-certsmith.json")
fs_s=$(mean "$W/fs-layout.json")
cc_s=$(mean "$W/csr-certsmith.json")
co_s=$(mean "$W/csr-openssl.json")
rc_med=$(stat_of "$W/rounds-certsmith.json" median)
rc_min=$(stat_of "$W/rounds-certsmith.json" min)
rc_max=$(stat_of "$W/rounds-certsmith.json" max)
ro_med=$(stat_of "$W/rounds-openssl.json" median)
ro_min=$(stat_of "$W/rounds-openssl.json" min)
ro_max=$(stat_of "$W/rounds-openssl.json" max)
rss_kb=$(cat "$W/rss.kb")

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
awk -v n="$N" -v s="$SINGLES" -v j="$JOBS" -v floor="$floor_us" -v r="$ROUNDS" -v rn="$RSS_N" \
    -v bc="$bc_s" -v bo="$bo_s" -v ac="$ac_s" -v fs="$fs_s" -v cc="$cc_s" -v co="$co_s" \
    -v rcm="$rc_med" -v rcl="$rc_min" -v rch="$rc_max" -v rom="$ro_med" -v rol="$ro_min" -v roh="$ro_max" \
    -v rss="$rss_kb" 'BEGIN {
    printf "fleet_archive_certsmith     %10.1f us/cert   (%d certs in %.3f s, --archive, --jobs %d)\n", ac / n * 1e6, n, ac, j
    printf "fleet_fs_layout_no_crypto   %10.1f us/cert   (%d device dirs, same files, chain linked, python3)\n", fs / n * 1e6, n
    printf "fleet_csr_dir_certsmith     %10.1f us/cert   (%d CSRs in %.3f s, --jobs %d)\n", cc / n * 1e6, n, cc, j
    printf "fleet_csr_openssl_xargs     %10.1f us/cert   (%d CSRs in %.3f s, xargs -P %d)\n", co / n * 1e6, n, co, j
    printf "fleet_single_certsmith_median %8.2f ms/cert   (%d rounds of %d, min %.2f, max %.2f)\n", rcm / s * 1e3, r, s, rcl / s * 1e3, rch / s * 1e3
    printf "fleet_single_openssl_median   %8.2f ms/cert   (%d rounds of %d, min %.2f, max %.2f)\n", rom / s * 1e3, r, s, rol / s * 1e3, roh / s * 1e3
    printf "fleet_archive_peak_rss      %10.1f MB        (batch --archive - of %d)\n", rss / 1024, rn
    printf "ratio_archive_openssl_over_certsmith %7.1fx   (target >= 100x)\n", bo / ac
    printf "ratio_dirs_over_fs_layout           %8.2fx   (directory batch / its filesystem cost)\n", bc / fs
    if (floor != "") printf "ratio_archive_over_floor            %8.2fx   (archive batch / crypto floor)\n", (ac / n * 1e6) / floor
    printf "ratio_csr_openssl_over_certsmith    %8.1fx   (target >= 100x)\n", co / cc
    printf "ratio_single_median_certsmith_over_openssl %5.2fx   (target <= 1.0x)\n", rcm / rom
    printf "ratio_archive_rss_mb                %8.1f    (target < 50 MB)\n", rss / 1024
}'
