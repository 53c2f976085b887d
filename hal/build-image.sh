#!/bin/bash
# Build the covirt HAL: a kernel and an initramfs that holds covirt-agent as its only
# service, made from the build host's Debian 12 packages (no network).  Same inputs give
# the same bytes; docs/hal.md says how and what the inputs are.
#
#   hal/build-image.sh --agent PATH [--variant minimal|datascience|wasm] [--output DIR]
#                      [--kernel-version KVER] [--hal-version TEXT] [--no-check] [--keep-tree]
#                      [--covirt PATH] [--snp-ovmf FILE] [--snp-vcpus "1 2 4"] [--tdx-ovmf FILE]
#
# Writes DIR/vmlinuz, DIR/initramfs.cpio.gz, DIR/hal-version, DIR/SHA256SUMS and
# DIR/reference-values.json (hal/reference-values.sh, with the covirt CLI beside the agent's
# build or --covirt), and prints the image's SHA-256.  DIR (default build-hal/VARIANT in the source tree) is made
# world-searchable: QEMU runs as libvirt-qemu and must read both files.
set -euo pipefail

HAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(dirname "$HAL_DIR")
AGENT= VARIANT=minimal OUT= KVER= HAL_VERSION= CHECK=1 KEEP=0
COVIRT= REF_ARGS=()

die() { echo "build-image: $*" >&2; exit 1; }
say() { echo "build-image: $*"; }
usage() { sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --agent) AGENT=${2:?}; shift 2 ;;
        --variant) VARIANT=${2:?}; shift 2 ;;
        --output) OUT=${2:?}; shift 2 ;;
        --kernel-version) KVER=${2:?}; shift 2 ;;
        --hal-version) HAL_VERSION=${2:?}; shift 2 ;;
        --no-check) CHECK=0; shift ;;
        --keep-tree) KEEP=1; shift ;;
        --covirt) COVIRT=${2:?}; shift 2 ;;
        --snp-ovmf|--snp-vcpus|--tdx-ovmf) REF_ARGS+=("$1" "${2:?}"); shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done

[ -n "$AGENT" ] || die "--agent PATH is required (build-*/agent/covirt-agent)"
[ -f "$AGENT" ] && [ -x "$AGENT" ] || die "$AGENT is not an executable file"
case "$VARIANT" in minimal|datascience|wasm) ;; *) die "unknown variant '$VARIANT' (minimal, datascience, wasm)" ;; esac
if [ -z "$KVER" ]; then
    KVER=$(find /boot -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
    [ -n "$KVER" ] || die "no /boot/vmlinuz-*: install linux-image-amd64"
fi
[ -r "/boot/vmlinuz-$KVER" ] || die "/boot/vmlinuz-$KVER is not readable"
[ -d "/lib/modules/$KVER" ] || die "/lib/modules/$KVER is missing"
for tool in cpio gzip /usr/bin/python3.11 sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is missing: install the packages in scripts/deps.txt"
done
[ -x /bin/busybox ] || die "/bin/busybox is missing: install busybox-static"

# Every file in the image gets this time; 0 unless the caller pins another.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
VERSION=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$SRC_DIR/meson.build" | head -n 1)
HAL_VERSION=${HAL_VERSION:-"covirt-hal $VERSION $VARIANT linux-$KVER"}
OUT=${OUT:-$SRC_DIR/build-hal/$VARIANT}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
chmod 755 "$OUT"
d=$OUT
while [ "$d" != / ]; do
    [ "$(stat -c %A "$d" | cut -c10)" != - ] || die "$d is not world-searchable; QEMU (libvirt-qemu) could not read the image"
    d=$(dirname "$d")
done

TREE=$OUT/rootfs
rm -rf "$TREE"
mkdir -p "$TREE"
t0=$(date +%s)
say "staging $VARIANT image for linux $KVER with $AGENT"
/usr/bin/python3.11 "$HAL_DIR/stage-tree.py" --root "$TREE" --variant "$VARIANT" --agent "$AGENT" \
    --init "$HAL_DIR/init" --kernel-version "$KVER" --hal-version "$HAL_VERSION"

if [ "$CHECK" = 1 ]; then
    [ "$(id -u)" = 0 ] || die "the checks chroot into the tree: run as root, or pass --no-check"
    "$HAL_DIR/check-tree.sh" "$TREE" "$VARIANT"
fi

for m in proc dev/shm; do ! mountpoint -q "$TREE/$m" || die "$TREE/$m is still mounted"; done

# Reproducibility: fixed times, owners and modes, sorted names, no device or inode
# numbers from the build host (cpio --reproducible), no name or time in the gzip header.
find "$TREE" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$TREE" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
    cpio -o -H newc --reproducible -R 0:0 --quiet) | gzip -n -6 >"$OUT/initramfs.cpio.gz.tmp"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
install -m 0644 "/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
echo "$HAL_VERSION" >"$OUT/hal-version"
chmod 0644 "$OUT/initramfs.cpio.gz" "$OUT/hal-version"
tree_size=$(du -sh --apparent-size "$TREE" | cut -f1)
[ "$KEEP" = 1 ] || rm -rf "$TREE"
(cd "$OUT" && sha256sum vmlinuz initramfs.cpio.gz >SHA256SUMS)
# What a verifier expects of a CVM booted from this image (docs/hal.md, "Reference values")
COVIRT=${COVIRT:-$(dirname "$AGENT")/../src/cli/covirt}
if [ -x "$COVIRT" ]; then
    case " ${REF_ARGS[*]:-} " in *" --tdx-ovmf "*) ;; *) [ -r /usr/share/ovmf/OVMF.fd ] && REF_ARGS+=(--tdx-ovmf /usr/share/ovmf/OVMF.fd) ;; esac
    "$HAL_DIR/reference-values.sh" --covirt "$COVIRT" --kernel "$OUT/vmlinuz" --initrd "$OUT/initramfs.cpio.gz" \
        --hal-version "$HAL_VERSION" --output "$OUT/reference-values.json" ${REF_ARGS[@]+"${REF_ARGS[@]}"}
    chmod 0644 "$OUT/reference-values.json"
    say "reference values $OUT/reference-values.json"
else
    say "no covirt CLI at $COVIRT (a build with -Dcli=enabled, or --covirt PATH): no reference-values.json"
fi
say "$HAL_VERSION: tree $tree_size, initramfs $(du -h "$OUT/initramfs.cpio.gz" | cut -f1), $(($(date +%s) - t0)) s"
say "kernel    $OUT/vmlinuz"
say "initramfs $OUT/initramfs.cpio.gz"
echo "sha256 $(cut -d' ' -f1 <(grep initramfs "$OUT/SHA256SUMS"))  initramfs.cpio.gz"
echo "sha256 $(cut -d' ' -f1 <(grep vmlinuz "$OUT/SHA256SUMS"))  vmlinuz"
