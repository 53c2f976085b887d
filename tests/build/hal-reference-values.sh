#!/bin/bash
# hal/reference-values.sh (what hal/build-image.sh writes as reference-values.json) on a small fixture: a
# kernel from /boot, an initrd and firmware made here; each value recomputed from the published inputs the
# way docs/hal.md tells a user to, and a firmware that cannot be measured recorded with its reason.
set -uo pipefail
src=$1 covirt=$2 vectors=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[ -n "$kernel" ] && [ -r "$kernel" ] || { echo "SKIP: no readable /boot/vmlinuz-*"; exit 77; }
head -c 300000 /dev/urandom >"$tmp/initramfs.cpio.gz"
cp "$vectors/sev-snp-measure/ovmf_AmdSev_suffix.bin" "$tmp/OVMF-AmdSev.fd"
python3 "$src/tests/measure/tdx-mrtd-ref.py" build "$tmp/tdvf.fd"
cmdline="console=null quiet"

"$src/hal/reference-values.sh" --covirt "$covirt" --kernel "$kernel" --initrd "$tmp/initramfs.cpio.gz" \
    --hal-version "covirt-hal test" --snp-ovmf "$tmp/OVMF-AmdSev.fd" --snp-vcpus "1 4" --tdx-ovmf "$tmp/tdvf.fd" \
    --output "$tmp/reference-values.json" || { echo "FAIL: reference-values.sh exited $?"; exit 1; }

# docs/hal.md's recomputation, command by command
"$covirt" policy vtpm --kernel "$kernel" --initrd "$tmp/initramfs.cpio.gz" --cmdline "$cmdline" --memory 2G \
    >"$tmp/vtpm.json" || fail "policy vtpm"
for n in 1 4; do
    "$covirt" measure sev-snp --ovmf "$tmp/OVMF-AmdSev.fd" --vcpus $n --vcpu-type EPYC-v4 --guest-features 0x1 \
        --kernel "$kernel" --initrd "$tmp/initramfs.cpio.gz" --append "$cmdline" | tail -n 1 >"$tmp/snp-$n"
done
for o in single-pass two-pass; do
    "$covirt" measure tdx --ovmf "$tmp/tdvf.fd" --page-order $o | tail -n 1 >"$tmp/tdx-$o"
done
python3 - "$tmp" "$kernel" <<'PY' || fail "reference-values.json does not hold the recomputed values"
import hashlib, json, sys
t, kernel = sys.argv[1:]
r = json.load(open(t + "/reference-values.json"))
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
line = lambda n: open(t + "/" + n).read().strip()
assert r["hal_version"] == "covirt-hal test", r["hal_version"]
assert r["inputs"]["kernel"]["sha256"] == sha(kernel) and r["inputs"]["initrd"]["sha256"] == sha(t + "/initramfs.cpio.gz")
assert r["inputs"]["cmdline"] == "console=null quiet"
assert r["vtpm"]["events"] == json.load(open(t + "/vtpm.json"))["events"], r["vtpm"]
assert r["sev-snp"]["ovmf"]["sha256"] == sha(t + "/OVMF-AmdSev.fd")
for n in ("1", "4"):
    assert len(r["sev-snp"]["measurement"][n]) == 96 and r["sev-snp"]["measurement"][n] == line("snp-" + n), n
assert r["sev-snp"]["measurement"]["1"] != r["sev-snp"]["measurement"]["4"]
for o in ("single-pass", "two-pass"):
    assert r["tdx"]["mrtd"][o] == line("tdx-" + o), o
PY

# a firmware without kernel hashes, and none given for TDX: the reasons, not values
"$src/hal/reference-values.sh" --covirt "$covirt" --kernel "$kernel" --initrd "$tmp/initramfs.cpio.gz" \
    --snp-ovmf "$vectors/sev-snp-measure/ovmf_OvmfX64_suffix.bin" --snp-vcpus 2 --output "$tmp/partial.json" ||
    fail "reference-values.sh with a plain OVMF exited $?"
python3 - "$tmp/partial.json" <<'PY' || fail "partial.json"
import json, sys
r = json.load(open(sys.argv[1]))
assert "no SNP kernel hashes section" in r["sev-snp"]["measurement"]["2"]["error"], r["sev-snp"]
assert r["tdx"]["mrtd"]["single-pass"] == {"error": "no --tdx-ovmf given"}, r["tdx"]
PY

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "hal-reference-values ok"
