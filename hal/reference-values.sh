#!/bin/bash
# The reference values of a HAL image: what a verifier expects a CVM booted from it to report, each
# computed with the covirt CLI from the published inputs (docs/hal.md, "Reference values").
#
#   hal/reference-values.sh --covirt PATH --kernel FILE --initrd FILE --output FILE
#       [--cmdline TEXT] [--memory SIZE] [--hal-version TEXT]
#       [--snp-ovmf FILE] [--snp-vcpus "1 2 4"] [--snp-vcpu-type TYPE] [--snp-guest-features VALUE]
#       [--tdx-ovmf FILE]
#
# vtpm: the PCR 4 and 9 event digests (covirt policy vtpm); sev-snp: the launch digest for each vCPU count
# (covirt measure sev-snp, the kernel hashes of this kernel, initrd and command line); tdx: MRTD in both page
# orders (covirt measure tdx). A platform whose firmware is not given, or cannot be measured, is recorded
# with the reason instead of a value.
set -euo pipefail

COVIRT= KERNEL= INITRD= OUT= CMDLINE="console=null quiet" MEMORY=2G HAL_VERSION=
SNP_OVMF= SNP_VCPUS="1 2 4" SNP_TYPE=EPYC-v4 SNP_FEATURES=0x1 TDX_OVMF=

die() { echo "reference-values: $*" >&2; exit 1; }
usage() { sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --covirt) COVIRT=${2:?}; shift 2 ;;
        --kernel) KERNEL=${2:?}; shift 2 ;;
        --initrd) INITRD=${2:?}; shift 2 ;;
        --output) OUT=${2:?}; shift 2 ;;
        --cmdline) CMDLINE=${2?}; shift 2 ;;
        --memory) MEMORY=${2:?}; shift 2 ;;
        --hal-version) HAL_VERSION=${2?}; shift 2 ;;
        --snp-ovmf) SNP_OVMF=${2?}; shift 2 ;;
        --snp-vcpus) SNP_VCPUS=${2:?}; shift 2 ;;
        --snp-vcpu-type) SNP_TYPE=${2:?}; shift 2 ;;
        --snp-guest-features) SNP_FEATURES=${2:?}; shift 2 ;;
        --tdx-ovmf) TDX_OVMF=${2?}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done
[ -x "$COVIRT" ] || die "--covirt PATH (the covirt CLI of a build) is required"
[ -r "$KERNEL" ] && [ -r "$INITRD" ] || die "--kernel and --initrd must be readable files"
[ -n "$OUT" ] || die "--output FILE is required"

W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
# Each value into its own file: the value, or "error: REASON" when it cannot be computed
"$COVIRT" policy vtpm --kernel "$KERNEL" --initrd "$INITRD" --cmdline "$CMDLINE" --memory "$MEMORY" \
    >"$W/vtpm.json" 2>"$W/vtpm.err" || die "covirt policy vtpm: $(cat "$W/vtpm.err")"
for n in $SNP_VCPUS; do
    if [ -z "$SNP_OVMF" ]; then
        echo "error: no --snp-ovmf given" >"$W/snp-$n"
    elif ! "$COVIRT" measure sev-snp --ovmf "$SNP_OVMF" --vcpus "$n" --vcpu-type "$SNP_TYPE" \
            --guest-features "$SNP_FEATURES" --kernel "$KERNEL" --initrd "$INITRD" --append "$CMDLINE" \
            >"$W/snp-$n" 2>"$W/err"; then
        echo "error: $(sed 's/^covirt: //' "$W/err")" >"$W/snp-$n"
    fi
done
for order in single-pass two-pass; do
    if [ -z "$TDX_OVMF" ]; then
        echo "error: no --tdx-ovmf given" >"$W/tdx-$order"
    elif ! "$COVIRT" measure tdx --ovmf "$TDX_OVMF" --page-order $order >"$W/tdx-$order" 2>"$W/err"; then
        echo "error: $(sed 's/^covirt: //' "$W/err")" >"$W/tdx-$order"
    fi
done

python3 - "$W" "$OUT" "$KERNEL" "$INITRD" "$CMDLINE" "$MEMORY" "$HAL_VERSION" "$SNP_OVMF" "$SNP_TYPE" \
    "$SNP_FEATURES" "$TDX_OVMF" $SNP_VCPUS <<'PY'
import hashlib, json, os, sys
w, out, kernel, initrd, cmdline, memory, hal, snp_ovmf, snp_type, features, tdx_ovmf, *vcpus = sys.argv[1:]

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

def value(name):
    text = open(os.path.join(w, name)).read().strip().splitlines()[-1]
    return {"error": text[len("error: "):]} if text.startswith("error: ") else text

def firmware(path):
    return {"file": os.path.basename(path), "sha256": sha256(path)} if path else None

vtpm = json.load(open(os.path.join(w, "vtpm.json")))
doc = {
    "hal_version": hal,
    "inputs": {"kernel": {"file": os.path.basename(kernel), "sha256": sha256(kernel)},
               "initrd": {"file": os.path.basename(initrd), "sha256": sha256(initrd)},
               "cmdline": cmdline},
    "vtpm": {"memory": memory, "events": vtpm["events"]},
    "sev-snp": {"ovmf": firmware(snp_ovmf), "vcpu_type": snp_type, "guest_features": features, "vmm_type": "QEMU",
                "measurement": {n: value("snp-" + n) for n in vcpus}},
    "tdx": {"ovmf": firmware(tdx_ovmf),
            "mrtd": {o: value("tdx-" + o) for o in ("single-pass", "two-pass")}},
}
with open(out + ".tmp", "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
os.replace(out + ".tmp", out)
PY
