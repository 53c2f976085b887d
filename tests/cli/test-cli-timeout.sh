#!/bin/bash
# covirt --timeout and COVIRT_TIMEOUT (issue 14): against a peer that accepts and never answers, over http
# and over https (a TLS/plain mismatch: the handshake waits for a ServerHello that never comes), every
# manager request exits 7 within the timeout and a few seconds, naming the timeout; `cvm events` bounds
# the head only and keeps a quiet stream; bad values are usage errors (2).
set -uo pipefail
covirt=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# the slack over the timeout: process start and the CA store (~1 s each under ASan on a loaded host)
slack=4

# peer NAME MODE ARGS…: starts tests/cli/peer.py, its port into $port
peer() {
    local name=$1; shift
    python3 "$here/peer.py" "$@" >"$tmp/$name.port" 2>"$tmp/$name.err" &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$tmp/$name.port" ] && break; sleep 0.1; done
    port=$(head -1 "$tmp/$name.port")
    [ -n "$port" ] || { echo "peer $name did not start:"; cat "$tmp/$name.err"; exit 1; }
}

# bounded T RC PATTERN ARGS…: covirt ARGS exits RC within T + slack seconds with PATTERN (if any) on stderr
bounded() {
    local t=$1 rc=$2 pat=$3; shift 3
    local start end got
    start=$(date +%s%N)
    timeout 60 "$covirt" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    got=$?
    end=$(date +%s%N)
    local ms=$(((end - start) / 1000000))
    echo "covirt $* → rc $got in ${ms} ms"
    [ "$got" = "$rc" ] || fail "covirt $*: rc $got, want $rc"
    [ "$ms" -le $(((t + slack) * 1000)) ] || fail "covirt $*: ${ms} ms, over ${t} s + ${slack} s"
    [ -z "$pat" ] || grep -Eq -- "$pat" "$tmp/err" || { fail "covirt $*: stderr lacks '$pat':"; sed 's/^/    /' "$tmp/err"; }
}

peer silent silent
silent=$port
named='timeout of [0-9]+ s \(covirt --timeout'
bounded 2 7 "$named" --timeout 2 cvm list --manager "http://127.0.0.1:$silent"
bounded 2 7 "$named" --timeout=2 cvm show x --manager "http://127.0.0.1:$silent"
bounded 2 7 "$named" --timeout 2 cvm create - --manager "http://127.0.0.1:$silent"
bounded 2 7 "$named" --timeout 2 cvm rm x --manager "http://127.0.0.1:$silent"
# TLS to a plain server: covirt waits in the handshake
bounded 2 7 "$named" --timeout 2 cvm list --manager "https://127.0.0.1:$silent"
# the events stream's head is bounded too
bounded 2 7 "$named" --timeout 2 cvm events x --manager "http://127.0.0.1:$silent"
# the environment, and the option over it
COVIRT_TIMEOUT=1 bounded 1 7 "timeout of 1 s" cvm list --manager "http://127.0.0.1:$silent"
COVIRT_TIMEOUT=50 bounded 1 7 "timeout of 1 s" --timeout 1 cvm list --manager "http://127.0.0.1:$silent"
# the agent's client: covirt attest goes through the same bound
bounded 2 7 "$named" --timeout 2 attest --agent "https://127.0.0.1:$silent" --policy "$here/../../policies/vtpm-example.json"

# plain HTTP to a TLS server: refused at once, not a hang
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 -days 1 \
        -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null; then
    peer tls tls "$tmp/cert.pem" "$tmp/key.pem"
    bounded 2 7 "cannot reach the manager" --timeout 2 cvm list --manager "http://127.0.0.1:$port"
else
    fail "openssl could not make a certificate"
fi

# a stream quiet for longer than the timeout is kept: the event after 4 s arrives, exit 0
peer slow sse-slow 4
bounded 4 0 "" --timeout 1 cvm events x --manager "http://127.0.0.1:$port"
grep -q "started" "$tmp/out" || { fail "cvm events: the event after the quiet time was not printed"; cat "$tmp/out"; }

# bad values: usage errors, before any connection
for bad in abc -1 1.5 10x 90000 ""; do
    "$covirt" --timeout "$bad" cvm list --manager "http://127.0.0.1:$silent" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" = 2 ] || fail "--timeout '$bad': rc $rc, want 2"
    grep -q "^covirt: --timeout: " "$tmp/err" && grep -Fqx "Try 'covirt --help'." "$tmp/err" ||
        { fail "--timeout '$bad': no usage message"; cat "$tmp/err"; }
done
COVIRT_TIMEOUT=abc "$covirt" cvm list >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" = 2 ] && grep -q "^covirt: COVIRT_TIMEOUT: 'abc'" "$tmp/err" || fail "COVIRT_TIMEOUT=abc: rc $rc, $(cat "$tmp/err")"
"$covirt" --timeout >/dev/null 2>"$tmp/err"; rc=$?
[ "$rc" = 2 ] || fail "--timeout without a value: rc $rc"
# 0 is no bound, and a valid value changes nothing else
"$covirt" --timeout 0 --version | grep -q '^covirt ' || fail "--timeout 0 --version"
"$covirt" --timeout 5m cvm --help >/dev/null || fail "--timeout 5m cvm --help"
"$covirt" --help | grep -q -- "--timeout SECONDS" || fail "covirt --help does not show --timeout"

[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all timeout cases passed"
