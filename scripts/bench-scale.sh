#!/usr/bin/env bash
# certsmith at scale: `issue` on an empty ledger and on one holding 1,000,000
# certificates (100,000 revoked), `list --expiring-within 30d` and `crl` on
# that ledger, and the peak RSS of `batch --count 100000`.
#
# Needs: hyperfine, sqlite3 (to fill the ledger in seconds), GNU time
# (/usr/bin/time), cargo. Everything lives in $SCALE_DIR (default
# /tmp/certsmith-scale, about 2 GB while the 100k batch runs), removed at the end.
# Output format is stable (v1): `key  value  unit  (detail)`.
set -euo pipefail

ROWS=${ROWS:-1000000}
BATCH=${BATCH:-100000}
cd "$(dirname "$0")/.."
BIN=${CERTSMITH:-$PWD/target/release/certsmith}
W=${SCALE_DIR:-/tmp/certsmith-scale}

for tool in hyperfine sqlite3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench-scale: '$tool' is not installed" >&2; exit 2; }
done
[ -x "$BIN" ] || cargo build --release --quiet
rm -rf "$W"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT

new_pki() {
    "$BIN" --pki "$1" init --cn "Scale Root" --no-passphrase -q
    "$BIN" --pki "$1" intermediate issuing --cn "Scale Issuing" --no-passphrase -q
}
mean() { sed -E 's/.*"mean": *([0-9.eE+-]+).*/\1/;t;d' "$1" | head -n1; }
hf() { hyperfine --style none --shell=bash "$@" >/dev/null; }
# 20 `issue` processes per run, with names unique across runs.
issue20() {
    hf --warmup 1 --runs 5 --export-json "$2" \
        "p=\$(date +%s%N); for i in \$(seq 20); do $BIN --pki $1 issue s-\$p-\$i -q; done"
}

new_pki "$W/pki"
issue20 "$W/pki" "$W/issue-empty.json"

now=$(date +%s)
sqlite3 "$W/pki/ledger.db" >/dev/null <<SQL
PRAGMA busy_timeout = 60000;
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $ROWS)
INSERT INTO certificates (name, kind, issuer, serial, subject, sans, profile, key_type,
    not_before, not_after, fingerprint, state, revoked_at, revocation_reason, dir, has_key, created_at)
SELECT 'fill-' || i, 'leaf', 'issuing', printf('7%039x', i), 'CN=fill-' || i, '[]', 'device', 'ecdsa-p256',
    $now - 86400, $now + (i % 3650) * 86400 + 3600, printf('%064x', i), 'active',
    CASE WHEN i % 10 = 0 THEN $now - 3600 END, CASE WHEN i % 10 = 0 THEN 'key-compromise' END,
    'certs/fill-' || i, 1, $now
FROM c;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
total=$(sqlite3 "$W/pki/ledger.db" "SELECT COUNT(*) FROM certificates")
revoked=$(sqlite3 "$W/pki/ledger.db" "SELECT COUNT(*) FROM certificates WHERE revoked_at IS NOT NULL")

issue20 "$W/pki" "$W/issue-full.json"
hf --warmup 1 --runs 5 --export-json "$W/list.json" "$BIN --pki $W/pki list --expiring-within 30d >/dev/null"
listed=$("$BIN" --pki "$W/pki" list --expiring-within 30d | wc -l)
crl_s=""
if "$BIN" --pki "$W/pki" crl --ca issuing -q >/dev/null 2>&1; then
    hf --warmup 1 --runs 5 --export-json "$W/crl.json" "$BIN --pki $W/pki crl --ca issuing -q"
    crl_s=$(mean "$W/crl.json")
fi
# The ledger side of a CRL on its own: the revoked entries of one CA, by index.
hf --warmup 1 --runs 5 --export-json "$W/crl-query.json" \
    "sqlite3 $W/pki/ledger.db \"SELECT serial, revoked_at, revocation_reason FROM certificates WHERE issuer = 'issuing' AND revoked_at IS NOT NULL\" >/dev/null"
cq=$(mean "$W/crl-query.json")
ie=$(mean "$W/issue-empty.json")
if_=$(mean "$W/issue-full.json")
ls_=$(mean "$W/list.json")
db_mb=$(du -m "$W/pki/ledger.db" | cut -f1)
rm -rf "$W/pki"

new_pki "$W/batch"
/usr/bin/time -v "$BIN" --pki "$W/batch" batch --count "$BATCH" -q 2>"$W/time.txt"
rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$W/time.txt")
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$W/time.txt")

echo "# certsmith bench-scale v1"
echo "ledger          $total certificates ($revoked revoked), ${db_mb} MB"
awk -v ie="$ie" -v if_="$if_" -v ls="$ls_" -v crl="$crl_s" -v listed="$listed" \
    -v cq="$cq" -v rss="$rss_kb" -v batch="$BATCH" -v wall="$wall" 'BEGIN {
    printf "issue_empty_ledger          %8.2f ms/process\n", ie / 20 * 1e3
    printf "issue_full_ledger           %8.2f ms/process\n", if_ / 20 * 1e3
    printf "ratio_issue_full_over_empty %8.2fx   (target <= 1.5x)\n", if_ / ie
    printf "list_expiring_within_30d    %8.3f s          (%d lines printed, target < 2 s)\n", ls, listed
    if (crl != "") printf "crl_100k_revoked            %8.3f s          (target < 2 s)\n", crl
    else printf "crl_100k_revoked                 n/a          (no crl command in this build)\n"
    printf "crl_ledger_query_100k       %8.3f s          (sqlite3 CLI, revoked rows of one CA)\n", cq
    printf "batch_peak_rss              %8.1f MB         (batch --count %d in %s, target < 150 MB)\n", rss / 1024, batch, wall
}'
