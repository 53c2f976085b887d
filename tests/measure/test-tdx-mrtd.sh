#!/bin/bash
# `covirt measure tdx` against tdx-mrtd-ref.py, a second implementation of the TDX module's MRTD rules, on a
# TDVF image built here (each section attribute: MR.EXTEND, raw data shorter than memory, PAGE.ADD only,
# PAGE.AUG) and on the real TDVF image at hand (Debian's OVMF.fd); both page orders.
# No public TDVF image with its published MRTD was found (see docs/measure.md).
set -uo pipefail
covirt=$1 ref=$2 vectors=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

python3 "$ref" build "$tmp/tdvf.bin" || { echo "cannot build the image"; exit 1; }
images=("$tmp/tdvf.bin")
[ -r /usr/share/ovmf/OVMF.fd ] && images+=(/usr/share/ovmf/OVMF.fd)
for img in "${images[@]}"; do
    for order in single-pass two-pass; do
        want=$(python3 "$ref" mrtd "$img" $order)
        got=$("$covirt" measure tdx --ovmf "$img" --page-order $order | tail -n 1)
        [ "$got" = "$want" ] || fail "$img $order: covirt $got, reference $want"
    done
done
# the orders differ where a section is extended
[ "$("$covirt" measure tdx --ovmf "$tmp/tdvf.bin")" != "$("$covirt" measure tdx --ovmf "$tmp/tdvf.bin" --page-order two-pass)" ] ||
    fail "single-pass and two-pass gave the same MRTD"
want=$(python3 "$ref" mrtd "$tmp/tdvf.bin" single-pass)
[ "$("$covirt" measure tdx --ovmf "$tmp/tdvf.bin" --output-format base64)" = "$(printf '%s' "$want" | xxd -r -p | base64 -w0)" ] ||
    fail "base64"
"$covirt" measure tdx --ovmf "$tmp/tdvf.bin" --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
assert d['platform'] == 'tdx' and d['mrtd'] == '$want' and d['inputs']['page_order'] == 'single-pass', d" ||
    fail "--json"

# covirt policy tdx: MRTD computed (or given), RTMRs and MRCONFIGID given; a policy `covirt policy check` accepts
cfg=$(printf '%096d' 5)
"$covirt" policy tdx --ovmf "$tmp/tdvf.bin" --mrconfigid "$cfg" >"$tmp/policy.json" || fail "policy tdx exited $?"
"$covirt" policy check "$tmp/policy.json" >/dev/null || fail "policy check refused policy tdx's output"
python3 -c "
import json, sys
p = json.load(open('$tmp/policy.json'))
assert p['platform'] == 'tdx' and p['mrtd'] == '$want' and p['mrconfigid'] == '$cfg' and p['allow_debug'] is False, p" ||
    fail "policy tdx output"
"$covirt" policy tdx --mrtd "$want" --rtmr2 "$cfg" | grep -q "\"rtmr2\" : \"$cfg\"" || fail "policy tdx --mrtd --rtmr2"

# hostile images: each an error naming the file, nothing on stdout
err() {
    local pat=$1 img=$2
    "$covirt" measure tdx --ovmf "$img" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ $rc -ne 0 ] && grep -Eq -- "$pat" "$tmp/err" && [ ! -s "$tmp/out" ] ||
        fail "$img → rc $rc, stderr '$(cat "$tmp/err")' (want /$pat/)"
}
head -c 65536 /dev/zero >"$tmp/plain.fd"
err "$tmp/plain.fd has no TDX metadata" "$tmp/plain.fd"
# section 1's data offset (metadata at 0xE000, + 16 header + 32) past the image's end
cp "$tmp/tdvf.bin" "$tmp/outside.bin"
printf '\xf0\xff\x00\x00' | dd of="$tmp/outside.bin" bs=1 seek=$((0xE000 + 48)) conv=notrunc status=none
err "$tmp/outside.bin: TDVF section 1 has data outside the image" "$tmp/outside.bin"
# a section count far beyond the table
cp "$tmp/tdvf.bin" "$tmp/count.bin"
printf '\xff\xff\xff\x0f' | dd of="$tmp/count.bin" bs=1 seek=$((0xE000 + 12)) conv=notrunc status=none
err "no \"TDVF\" version 1 table that fits" "$tmp/count.bin"
err "cannot open $tmp/none" "$tmp/none"
# COCONUT's OVMF is the code half of a split image: its TDX metadata describes variables it does not hold
err "svsm_ovmf.fd: TDVF section 0 has data outside the image" "$vectors/sev-snp-measure/svsm_ovmf.fd"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "tdx-mrtd ok"
