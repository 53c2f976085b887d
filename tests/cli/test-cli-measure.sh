#!/bin/bash
# `covirt measure sev-snp` as a user of sev-snp-measure would run it: the same options give the digests of
# ../shared/testvectors/sev-snp-measure/README.md alone on the last line; base64 and --json carry the same
# value; a wrong file is an error naming it.
set -uo pipefail
covirt=$1 vectors=$2/sev-snp-measure
fails=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# check WANT ARGS…: the last line of stdout is WANT, exit 0
check() {
    local want=$1; shift
    "$covirt" measure sev-snp "$@" >"$tmp/out" 2>"$tmp/err" || { fail "measure sev-snp $* exited $?: $(cat "$tmp/err")"; return; }
    [ "$(tail -n 1 "$tmp/out")" = "$want" ] || fail "measure sev-snp $*: got '$(tail -n 1 "$tmp/out")', want $want"
}

amd=$vectors/ovmf_AmdSev_suffix.bin
check 803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977 \
    --mode snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$amd" --guest-features 0x21 \
    --kernel /dev/null --initrd /dev/null --append "console=ttyS0 loglevel=7"
check e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b \
    --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$amd" --guest-features 0x21
# EPYC-v4 is family 23, model 1, stepping 2: signature 0x800f12
check 4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942 \
    --vcpus 4 --vcpu-family 23 --vcpu-model 1 --vcpu-stepping 2 --ovmf "$amd" --guest-features 0x21 \
    --kernel /dev/null --initrd /dev/null --append ""
check 5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5 \
    --vcpus 4 --vcpu-sig 0x800f12 --ovmf "$amd" --kernel /dev/null --initrd /dev/null
ovmf_hash=086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74
check $ovmf_hash --mode snp:ovmf-hash --ovmf "$amd"
check 803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977 \
    --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$amd" --guest-features 0x21 --snp-ovmf-hash $ovmf_hash \
    --kernel /dev/null --initrd /dev/null --append "console=ttyS0 loglevel=7"
# COCONUT-SVSM: the variable store's size given, or taken from a file of that size
head -c 540672 /dev/zero >"$tmp/vars.fd"
check 27d154c27b7b359c935e250ec6fee72aa0ae8c1225e3b0e1cf46a9567e938066d7d6f94bbdc4a857818bdb79277a44b2 \
    --mode snp:svsm --vcpus 4 --vcpu-type EPYC-v4 --ovmf "$vectors/svsm_ovmf.fd" --svsm "$vectors/svsm.bin" \
    --vars-size 540672
check 9b94745036aafddf4f7f8b00c7513abb5b7703178cb95aaa57928bd963d68d3bfcb715d6019b9167ee2517b11b0d9be7 \
    --vcpus 2 --vcpu-type EPYC-v4 --ovmf "$vectors/svsm_ovmf.fd" --svsm "$vectors/svsm.bin" --vars-file "$tmp/vars.fd"

# base64 is the same 48 bytes
hex=e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b
b64=$(printf '%s' $hex | xxd -r -p | base64 -w0)
check "$b64" --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$amd" --guest-features 0x21 --output-format base64

# --json: the measurement and the inputs it came from
"$covirt" measure sev-snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$amd" --guest-features 0x21 --json >"$tmp/json" ||
    fail "--json exited $?"
python3 - "$tmp/json" "$hex" "$amd" <<'PY' || fail "--json output"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["platform"] == "sev-snp" and d["measurement"] == sys.argv[2], d
i = d["inputs"]
assert i["vcpus"] == 1 and i["vcpu_sig"] == "0x00800f12" and i["guest_features"] == "0x21", i
assert i["ovmf"] == sys.argv[3] and i["vmm_type"] == "QEMU" and "kernel" not in i, i
PY

# covirt policy sev-snp: a policy `covirt policy check` accepts, expecting what measure printed
"$covirt" policy sev-snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$amd" --guest-features 0x21 \
    --host-data "$(printf '%064d' 7)" --minimum-tcb bootloader=3,tee=0,snp=20,microcode=209 >"$tmp/policy.json" ||
    fail "policy sev-snp exited $?"
"$covirt" policy check "$tmp/policy.json" >/dev/null || fail "policy check refused policy sev-snp's output"
python3 - "$tmp/policy.json" "$hex" <<'PY' || fail "policy sev-snp output"
import json, sys
p = json.load(open(sys.argv[1]))
assert p["platform"] == "sev-snp" and p["measurement"] == sys.argv[2] and p["allow_debug"] is False, p
assert p["host_data"] == "0" * 63 + "7" and p["minimum_tcb"]["microcode"] == 209, p
PY
"$covirt" policy sev-snp --measurement $hex >"$tmp/given.json" && grep -q "\"measurement\" : \"$hex\"" "$tmp/given.json" ||
    fail "policy sev-snp --measurement"

# errors name what is wrong; nothing is printed on stdout
err() {
    local rc=$1 pat=$2; shift 2
    "$covirt" measure sev-snp "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    [ "$got" = "$rc" ] && grep -Eq -- "$pat" "$tmp/err" && [ ! -s "$tmp/out" ] ||
        fail "measure sev-snp $* → rc $got (want $rc), stderr '$(cat "$tmp/err")' (want /$pat/)"
}
head -c 8192 /dev/zero >"$tmp/plain.fd"
err 2 "$tmp/plain.fd has no SEV metadata" --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$tmp/plain.fd"
head -c 1000 "$amd" >"$tmp/cut.fd"
err 2 "$tmp/cut.fd is 1000 bytes" --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$tmp/cut.fd"
err 2 "ovmf_OvmfX64_suffix.bin has no SNP kernel hashes" --vcpus 1 --vcpu-type EPYC-v4 \
    --ovmf "$vectors/ovmf_OvmfX64_suffix.bin" --kernel /dev/null
err 4 "cannot open $tmp/none" --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$amd" --kernel "$tmp/none"
err 2 "unknown --vcpu-type 'EPYC-v9'" --vcpus 1 --vcpu-type EPYC-v9 --ovmf "$amd"
err 2 "--vcpus N is required" --vcpu-type EPYC-v4 --ovmf "$amd"
err 2 "--initrd and --append need --kernel" --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$amd" --initrd /dev/null
err 2 "only snp, snp:svsm and snp:ovmf-hash" --mode seves --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$amd"
err 2 "96 hex digits" --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$amd" --snp-ovmf-hash 00
err 2 "--svsm needs --vars-size or --vars-file" --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$amd" --svsm "$vectors/svsm.bin"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "cli-measure ok"
