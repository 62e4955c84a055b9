#!/usr/bin/env bash
# OCSP responses per second: `certsmith serve` next to `openssl ocsp -index …
# -port`, on the same CA and the same OpenSSL-made request, with ApacheBench
# (POST, -c CONC, -n N, 127.0.0.1 only). certsmith answers a nonce-less
# request from its cache (signed once per CertID until the ledger changes);
# openssl signs every response.
#
# Needs: ab (Debian apache2-utils), openssl (3.0+), curl, cargo. Output (v2): one
# result per line, `key  value  unit`, for docs/performance.md:
#   ocsp.certsmith.rps / .failed / .p99   and   ocsp.openssl.rps / .failed / .p99,
#   and the same with keep-alive: ocsp.certsmith.keepalive.* / ocsp.openssl.keepalive.*
# `failed` counts connection errors, non-2xx answers and OCSP-level failures
# (certsmith: every non-successful response in its log; both: a sample of 20
# answers checked with `openssl ocsp -respin` after each run).
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

for tool in ab openssl curl; do
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

# A sample of answers checked at the OCSP level after each run: each must
# verify and say `good` (an OCSP error status is HTTP 200, so ab alone cannot
# tell). certsmith's own count comes from its log (one line per request,
# with `ocsp=<responseStatus>`).
sample_failures() { # port
    local bad=0 i
    for i in $(seq 1 20); do
        curl -s -m 5 --http1.0 --data-binary @"$W/req.der" -H 'Content-Type: application/ocsp-request' \
            -o "$W/resp.der" "http://127.0.0.1:$1/ocsp" || { bad=$((bad + 1)); continue; }
        openssl ocsp -respin "$W/resp.der" -issuer "$ISSUER" -cert "$CERT" -CAfile "$W/chain.pem" \
            -no_nonce 2>&1 | grep -q ': good' || bad=$((bad + 1))
    done
    echo "$bad"
}

run() { # name port keepalive(-k or empty)
    local out rps failed non2xx p99 key=$1 before after ocsp_bad=0
    [ -n "$3" ] && key=$1.keepalive
    before=$(grep -c ' /ocsp ' "$W/serve.log" || true)
    # -l: an ECDSA signature's length varies, so responses of other lengths are not failures.
    out=$(ab -q -r -l $3 -s 5 -n "$N" -c "$CONC" -p "$W/req.der" -T application/ocsp-request "http://127.0.0.1:$2/ocsp" 2>&1)
    rps=$(awk '/^Requests per second:/ { print $4 }' <<<"$out")
    failed=$(awk '/^Failed requests:/ { print $3 }' <<<"$out")
    non2xx=$(awk '/^Non-2xx responses:/ { print $3 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    if [ "$1" = certsmith ]; then
        after=$(grep -c ' /ocsp ' "$W/serve.log" || true)
        ocsp_bad=$(sed -n "$((before + 1)),\$p" "$W/serve.log" | grep ' /ocsp ' | grep -vc 'ocsp=successful' || true)
        [ "$((after - before))" -ge "$N" ] || echo "bench-ocsp: serve logged $((after - before)) of $N requests" >&2
    fi
    ocsp_bad=$(( ocsp_bad + $(sample_failures "$2") ))
    echo "ocsp.$key.rps  ${rps:-0}  req/s"
    echo "ocsp.$key.failed  $(( ${failed:-0} + ${non2xx:-0} + ocsp_bad ))  requests"
    echo "ocsp.$key.p99  ${p99:-NA}  ms"
}
# Without and with keep-alive (-k) for both: openssl's responder closes after
# each answer whatever the client asks, so -k only helps the servers that keep
# connections, and both figures are given.
for k in "" -k; do
    run certsmith "$P1" "$k"
    run openssl "$P2" "$k"
done
