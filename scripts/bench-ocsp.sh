#!/usr/bin/env bash
# OCSP responses per second: `certsmith serve` next to `openssl ocsp -index …
# -port`, on the same CA and the same OpenSSL-made request, with ApacheBench
# (POST, -c CONC, -n N, 127.0.0.1 only). certsmith answers a nonce-less
# request from its cache (signed once per CertID until the ledger changes);
# openssl signs every response.
#
# Needs: ab (Debian apache2-utils), openssl (3.0+), cargo. Output (v1): one
# result per line, `key  value  unit`, for docs/performance.md:
#   ocsp.certsmith.rps / .failed / .p99   and   ocsp.openssl.rps / .failed / .p99
#
# Environment: N (100000 requests per run), CONC (32), CERTSMITH (a release
# binary; built when absent), PORT_CERTSMITH (18580), PORT_OPENSSL (18581),
# SIGN_WITH_CA=1 to have serve sign with the CA key (the default: a delegated
# responder, as openssl's -rsigner below is the CA itself either way).
set -euo pipefail

N=${N:-100000}
CONC=${CONC:-32}
P1=${PORT_CERTSMITH:-18580}
P2=${PORT_OPENSSL:-18581}
cd "$(dirname "$0")/.."
BIN=${CERTSMITH:-$PWD/target/release/certsmith}

for tool in ab openssl; do
    command -v "$tool" >/dev/null || { echo "bench-ocsp: '$tool' is not installed (apt-get install ${tool/ab/apache2-utils})" >&2; exit 2; }
done
if [ ! -x "$BIN" ]; then
    cargo build --release --quiet
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/certsmith-bench-ocsp.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT

PKI=$W/pki
cs() { "$BIN" --pki "$PKI" -q "$@"; }
cs init --cn "Bench Root" --no-passphrase
cs intermediate issuing --cn "Bench Issuing" --no-passphrase --ocsp-url "http://127.0.0.1:$P1/ocsp"
cs issue device-1
ISSUER=$PKI/cas/issuing/ca.pem
CERT=$PKI/certs/device-1/cert.pem

# One request, made by OpenSSL, without a nonce (as RFC 5019 clients send them).
openssl ocsp -issuer "$ISSUER" -cert "$CERT" -no_nonce -reqout "$W/req.der" >/dev/null

# openssl's index file (ca(1) format): V, notAfter (YYMMDDHHMMSSZ), no revocation date, serial, unknown, subject.
serial=$(openssl x509 -in "$CERT" -noout -serial | cut -d= -f2)
enddate=$(date -u -d "$(openssl x509 -in "$CERT" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
subject=$(openssl x509 -in "$CERT" -noout -subject -nameopt compat | sed 's/^subject=//')
printf 'V\t%s\t\t%s\tunknown\t%s\n' "$enddate" "$serial" "$subject" > "$W/index.txt"

serve_args=(serve --listen "127.0.0.1:$P1")
[ "${SIGN_WITH_CA:-0}" = 1 ] && serve_args+=(--ocsp-sign-with-ca)
"$BIN" --pki "$PKI" "${serve_args[@]}" 2>"$W/serve.log" &
pids+=($!)
# openssl takes only a port number here (it listens on every address).
openssl ocsp -index "$W/index.txt" -port "$P2" -rsigner "$ISSUER" \
    -rkey "$PKI/cas/issuing/ca.key.pem" -CA "$ISSUER" -nmin 60 -ignore_err >"$W/openssl.log" 2>&1 &
pids+=($!)

# Ready once each says so in its log (a probe connection would cost the
# single-threaded openssl responder a request of its own).
wait_log() { # file text
    for _ in $(seq 1 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench-ocsp: no '$2' in $1:" >&2
    cat "$1" >&2
    exit 1
}
wait_log "$W/serve.log" "listening on"
wait_log "$W/openssl.log" "ACCEPT"

# Both must answer `good` before they are timed.
for p in "$P1" "$P2"; do
    cat "$ISSUER" "$PKI/cas/root/ca.pem" > "$W/chain.pem"
    out=$(openssl ocsp -issuer "$ISSUER" -cert "$CERT" -no_nonce -url "http://127.0.0.1:$p/ocsp" -CAfile "$W/chain.pem" 2>&1) || true
    grep -q ': good' <<<"$out" || { echo "bench-ocsp: port $p did not answer good:" >&2; echo "$out" >&2; exit 1; }
done

run() { # name port
    local out rps failed p99
    out=$(ab -q -r -s 5 -n "$N" -c "$CONC" -p "$W/req.der" -T application/ocsp-request "http://127.0.0.1:$2/ocsp" 2>&1)
    rps=$(awk '/^Requests per second:/ { print $4 }' <<<"$out")
    # ab counts a response of another length than the first as failed; an
    # ECDSA signature's length varies, so only connect/receive/exception
    # failures and non-2xx answers count here.
    failed=$(awk -F'[:,)]' '/\(Connect:/ { print $2 + $4 + $8 }' <<<"$out")
    non2xx=$(awk '/^Non-2xx responses:/ { print $3 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    echo "ocsp.$1.rps  ${rps:-0}  req/s"
    echo "ocsp.$1.failed  $(( ${failed:-0} + ${non2xx:-0} ))  requests"
    echo "ocsp.$1.p99  ${p99:-NA}  ms"
}
run certsmith "$P1"
run openssl "$P2"
