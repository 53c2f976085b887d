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
    openssl x509 -in "$ark" -noout -subject | grep -q 'CN = ARK-' || { echo "FAIL: $f: second is not an ARK"; exit 1; }
    openssl verify -CAfile "$ark" "$ark" >/dev/null || { echo "FAIL: $f: ARK does not sign itself"; exit 1; }
    openssl verify -CAfile "$ark" "$ask" >/dev/null || { echo "FAIL: $f: ASK not signed by the ARK"; exit 1; }
    n=$((n + 1))
done
[ $n -ge 4 ] || { echo "FAIL: only $n anchors"; exit 1; }
echo "$n AMD trust anchors verify"
