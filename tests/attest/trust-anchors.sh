#!/bin/bash
# Each policies/trust/amd/*.pem holds ASK (or ASVK) then ARK: the ARK signs itself and the ASK,
# both with RSA-PSS, and names the product it belongs to.
set -euo pipefail
dir=$1 n=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in "$dir"/*.pem; do
    rm -f "$tmp"/c-*
    csplit -s -z -f "$tmp/c-" "$f" '/-----BEGIN CERTIFICATE-----/' '{*}'
    certs=("$tmp"/c-*)
    [ ${#certs[@]} -eq 2 ] || { echo "FAIL: $f holds ${#certs[@]} certificates, not ASK + ARK"; exit 1; }
    ask=${certs[0]} ark=${certs[1]}
    openssl x509 -in "$ark" -noout -subject | grep 'CN = ARK-' >/dev/null || { echo "FAIL: $f: second is not an ARK"; exit 1; }
    openssl verify -CAfile "$ark" "$ark" >/dev/null || { echo "FAIL: $f: ARK does not sign itself"; exit 1; }
    openssl verify -CAfile "$ark" "$ask" >/dev/null || { echo "FAIL: $f: ASK not signed by the ARK"; exit 1; }
    n=$((n + 1))
done
[ $n -ge 5 ] || { echo "FAIL: only $n anchors"; exit 1; }
# Turin's ASK and ARK were taken from a copy of AMD's KDS cert_chain answer; their DER SHA-256 values are
# the ones two unrelated projects recorded for it, and the VLEK bundle from go-sev-guest names the same ARK.
fp() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
csplit -s -z -f "$tmp/t-" "$dir/ask_ark_turin.pem" '/-----BEGIN CERTIFICATE-----/' '{*}'
csplit -s -z -f "$tmp/v-" "$dir/ask_ark_turin_vlek.pem" '/-----BEGIN CERTIFICATE-----/' '{*}'
[ "$(fp "$tmp/t-00")" = 5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185 ] || { echo "FAIL: SEV-Turin fingerprint"; exit 1; }
[ "$(fp "$tmp/t-01")" = 1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a ] || { echo "FAIL: ARK-Turin fingerprint"; exit 1; }
[ "$(fp "$tmp/v-01")" = "$(fp "$tmp/t-01")" ] || { echo "FAIL: the Turin VLEK bundle names another ARK"; exit 1; }
echo "$n AMD trust anchors verify"
