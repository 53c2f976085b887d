#!/bin/bash
# `covirt measure sev-snp --igvm` against igvm-ref.py, a second implementation of the IGVM format and the
# SEV-SNP PAGE_INFO chain, on an IGVM file it builds (two platforms; page data with and without data,
# unmeasured, secrets, CPUID, 2 MiB; a parameter area inserted; the VMSA), then hostile files: each an error
# naming the file. No public IGVM file published with its launch digest was found (tests/measure/data/README.md).
set -uo pipefail
covirt=$1 ref=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

python3 "$ref" build "$tmp/a.igvm" || { echo "cannot build the IGVM file"; exit 1; }
want=$(python3 "$ref" measure "$tmp/a.igvm")
got=$("$covirt" measure sev-snp --igvm "$tmp/a.igvm" | tail -n 1)
[ "$got" = "$want" ] || fail "digest: covirt $got, reference $want"
[ "$("$covirt" measure sev-snp --igvm "$tmp/a.igvm" --output-format base64)" = \
  "$(printf '%s' "$want" | xxd -r -p | base64 -w0)" ] || fail "base64"
"$covirt" measure sev-snp --igvm "$tmp/a.igvm" --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
assert d['platform'] == 'sev-snp' and d['measurement'] == '$want' and d['inputs']['igvm'] == '$tmp/a.igvm', d" ||
    fail "--json"

# one byte of a measured page (file data: the checksum covers headers only) changes the digest, in both
cp "$tmp/a.igvm" "$tmp/b.igvm"
size=$(stat -c %s "$tmp/b.igvm")
# the first data page sits 4 pages (3 data + VMSA) before the end
printf '\xaa' | dd of="$tmp/b.igvm" bs=1 seek=$((size - 4 * 4096 + 5)) conv=notrunc status=none
want_b=$(python3 "$ref" measure "$tmp/b.igvm")
got_b=$("$covirt" measure sev-snp --igvm "$tmp/b.igvm")
[ "$got_b" = "$want_b" ] && [ "$got_b" != "$got" ] || fail "changed page: covirt $got_b, reference $want_b, before $got"

# policy sev-snp --igvm: the same measurement in a policy `covirt policy check` accepts
"$covirt" policy sev-snp --igvm "$tmp/a.igvm" >"$tmp/policy.json" || fail "policy sev-snp --igvm exited $?"
"$covirt" policy check "$tmp/policy.json" >/dev/null || fail "policy check refused policy sev-snp --igvm's output"
grep -q "\"measurement\" : \"$want\"" "$tmp/policy.json" || fail "policy measurement: $(cat "$tmp/policy.json")"

err() {
    local pat=$1; shift
    "$covirt" measure sev-snp "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ $rc -ne 0 ] && grep -Eq -- "$pat" "$tmp/err" && [ ! -s "$tmp/out" ] ||
        fail "$* → rc $rc, stderr '$(cat "$tmp/err")' (want /$pat/)"
}
head -c -100 "$tmp/a.igvm" >"$tmp/short.igvm"
err "short.igvm: not a valid IGVM file: its header says [0-9]+ bytes, the file has" --igvm "$tmp/short.igvm"
head -c 10 "$tmp/a.igvm" >"$tmp/tiny.igvm"
err "tiny.igvm: not a valid IGVM file: 10 bytes" --igvm "$tmp/tiny.igvm"
cp "$tmp/a.igvm" "$tmp/crc.igvm"
printf '\x07' | dd of="$tmp/crc.igvm" bs=1 seek=40 conv=notrunc status=none
err "crc.igvm: not a valid IGVM file: header checksum" --igvm "$tmp/crc.igvm"
head -c 65536 /dev/zero >"$tmp/zero.igvm"
err "zero.igvm: not a valid IGVM file: no IGVM magic" --igvm "$tmp/zero.igvm"
python3 "$ref" build "$tmp/native.igvm" --no-snp
err "native.igvm: the IGVM file supports no SEV-SNP platform" --igvm "$tmp/native.igvm"
for t in "vmsa-gpa:KVM measures it at 0xfffffffff000" "data-offset:not in the file data section" \
         "unknown-type:required variable header type 0x399" "undeclared-area:inserted but not declared" \
         "vmsa-first:after the VMSA"; do
    python3 "$ref" tamper "$tmp/a.igvm" "${t%%:*}" "$tmp/${t%%:*}.igvm"
    err "${t%%:*}.igvm: not a valid IGVM file: .*${t#*:}" --igvm "$tmp/${t%%:*}.igvm"
done
err "cannot open $tmp/none" --igvm "$tmp/none"
err "give it alone" --igvm "$tmp/a.igvm" --ovmf "$tmp/a.igvm"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "igvm ok"
