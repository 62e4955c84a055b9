#!/usr/bin/env bash
# certsmith's ledger backends side by side: `issue` and `batch` rates on the
# SQLite ledger and on a PostgreSQL ledger, on one host and on two hosts (two
# PKI directories sharing the PostgreSQL ledger; for SQLite, two processes on
# one PKI directory, the nearest it has) at once.
#
# Needs: PostgreSQL's server binaries (/usr/lib/postgresql/*/bin: a cluster
# of its own is started in $BENCH_DIR on port $PGPORT, as the postgres user
# when run as root, and stopped at the end) or LEDGER_URL=postgres://… of an
# existing server (with $PGPASSWORD), cargo. N `issue` processes and a batch
# of BATCH certificates per measurement. Everything lives in $BENCH_DIR
# (default /tmp/certsmith-bench-ledger), removed at the end.
# Output format is stable (v1): `key  value  unit  (detail)`.
set -euo pipefail

N=${N:-200}
BATCH=${BATCH:-20000}
PGPORT=${PGPORT:-54329}
cd "$(dirname "$0")/.."
BIN=${CERTSMITH:-$PWD/target/release/certsmith}
W=${BENCH_DIR:-/tmp/certsmith-bench-ledger}

[ -x "$BIN" ] || cargo build --release --quiet
rm -rf "$W"
mkdir -p "$W"
chmod 755 "$W"

own_cluster=0
if [ -z "${LEDGER_URL:-}" ]; then
    pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    [ -x "$pgbin/initdb" ] || { echo "bench-ledger: PostgreSQL is not installed (or set LEDGER_URL)" >&2; exit 2; }
    as_pg=()
    if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi
    mkdir -p "$W/pg"
    [ ${#as_pg[@]} -eq 0 ] || chown postgres: "$W/pg"
    "${as_pg[@]}" "$pgbin/initdb" -D "$W/pg/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 --no-sync >/dev/null
    # Durable commits as in production: fsync stays on.
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w \
        -o "-p $PGPORT -k $W/pg -c listen_addresses=127.0.0.1" start >/dev/null
    own_cluster=1
    psql_admin() { "$pgbin/psql" -h "$W/pg" -p "$PGPORT" -U postgres -qAt -c "$1" >/dev/null; }
    psql_admin "CREATE ROLE bench LOGIN PASSWORD 'bench' CREATEDB"
    export PGPASSWORD=bench
fi
cleanup() {
    if [ "$own_cluster" = 1 ]; then
        "${as_pg[@]}" "$pgbin/pg_ctl" -D "$W/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$W"
}
trap cleanup EXIT

n_db=0
# url=…: a fresh, empty PostgreSQL ledger for one measurement (with
# LEDGER_URL, that database: give it an empty one each run).
new_pg_url() {
    n_db=$((n_db + 1))
    if [ "$own_cluster" = 1 ]; then
        psql_admin "CREATE DATABASE bench_$n_db OWNER bench"
        url="postgres://bench@127.0.0.1:$PGPORT/bench_$n_db"
    else
        url="$LEDGER_URL"
    fi
}

# new_pki DIR URL: a root and an issuing CA on ledger URL ("" = SQLite).
new_pki() {
    local l=()
    [ -z "$2" ] || l=(--ledger "$2")
    "$BIN" --pki "$1" "${l[@]}" init --cn "Bench Root" --no-passphrase -q
    "$BIN" --pki "$1" "${l[@]}" intermediate issuing --cn "Bench Issuing" --no-passphrase -q
}
# second_host FROM TO: an empty PKI directory holding a copy of the issuing key.
second_host() {
    mkdir -p "$2/cas/issuing"
    chmod -R 700 "$2"
    cp "$1/cas/issuing/ca.key.pem" "$2/cas/issuing/"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# issue_loop DIR URL PREFIX: N sequential `issue` processes.
issue_loop() {
    local l=()
    [ -z "$2" ] || l=(--ledger "$2")
    for i in $(seq "$N"); do "$BIN" --pki "$1" "${l[@]}" issue "$3-$i" --ca issuing -q; done
}
batch_run() {
    local l=()
    [ -z "$2" ] || l=(--ledger "$2")
    "$BIN" --pki "$1" "${l[@]}" batch --count "$BATCH" --name-pattern "$3-{:07}" --ca issuing -q
}
# rate KEY COUNT START_MS DETAIL: prints certificates per second.
rate() {
    local ms=$(($(now_ms) - $3))
    [ "$ms" -gt 0 ] || ms=1
    printf '%s  %s  cert/s  (%s certificates in %s ms; %s)\n' "$1" $(($2 * 1000 / ms)) "$2" "$ms" "$4"
}

for backend in sqlite postgres; do
    # One host.
    url=""
    [ "$backend" = sqlite ] || new_pg_url
    new_pki "$W/$backend-1" "$url"
    t=$(now_ms); issue_loop "$W/$backend-1" "$url" one
    rate "issue_${backend}_one_host" "$N" "$t" "sequential issue processes"
    t=$(now_ms); batch_run "$W/$backend-1" "$url" b1
    rate "batch_${backend}_one_host" "$BATCH" "$t" "one batch --count"
    rm -rf "$W/$backend-1"

    # Two hosts at once.
    url=""
    [ "$backend" = sqlite ] || new_pg_url
    new_pki "$W/$backend-a" "$url"
    if [ "$backend" = sqlite ]; then
        b="$W/$backend-a"
        detail="SQLite: two processes on one PKI directory"
    else
        b="$W/$backend-b"
        second_host "$W/$backend-a" "$b"
        detail="two PKI directories on one ledger"
    fi
    t=$(now_ms)
    issue_loop "$W/$backend-a" "$url" ia & p1=$!
    issue_loop "$b" "$url" ib & p2=$!
    wait "$p1" "$p2"
    rate "issue_${backend}_two_hosts" $((2 * N)) "$t" "$detail"
    t=$(now_ms)
    batch_run "$W/$backend-a" "$url" ba & p1=$!
    batch_run "$b" "$url" bb & p2=$!
    wait "$p1" "$p2"
    rate "batch_${backend}_two_hosts" $((2 * BATCH)) "$t" "$detail"
    rm -rf "$W/$backend-a" "$W/$backend-b"
done
