#!/bin/bash
# The HAL build is reproducible: two builds of the same inputs in different folders give the
# same initramfs bytes, and a changed input (SOURCE_DATE_EPOCH) gives other bytes.
#   hal-reproducible.sh SOURCE_ROOT AGENT WORK_DIR
set -uo pipefail
src=$1 agent=$2 work=$3
# QEMU needs no access here, but hal/build-image.sh insists on a world-searchable output folder
d=$work
while [ "$d" != / ]; do
    [ -d "$d" ] && [ "$(stat -c %A "$d" | cut -c10)" = - ] && { work=$(mktemp -d /tmp/covirt-hal-test-XXXXXX); chmod 755 "$work"; tmpwork=$work; break; }
    d=$(dirname "$d")
done
trap '[ -n "${tmpwork:-}" ] && rm -rf "$tmpwork"' EXIT
# scripts/test.sh names the plain build, whose agent goes into images
[ -n "${COVIRT_PLAIN_BUILD:-}" ] && [ -x "$COVIRT_PLAIN_BUILD/agent/covirt-agent" ] &&
    agent=$COVIRT_PLAIN_BUILD/agent/covirt-agent
[ -x "$agent" ] || { echo "SKIP: $agent is not built yet"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
out=$work/hal-reproducible
rm -rf "$out"; mkdir -p "$out"; chmod 755 "$out"
build() {  # variant dir epoch → prints the image's sha256
    SOURCE_DATE_EPOCH=$3 "$src/hal/build-image.sh" --no-check --variant "$1" --agent "$agent" \
        --output "$out/$2" >"$out/$2.log" 2>&1 || { cat "$out/$2.log"; fail "build $2 failed"; }
    sed -n 's/^sha256 \([0-9a-f]\{64\}\)  initramfs.cpio.gz$/\1/p' "$out/$2.log"
}
a=$(build minimal a 0)
b=$(build minimal b 0)
c=$(build minimal c 1700000000)
[ -n "$a" ] || fail "no hash printed"
[ "$a" = "$(sha256sum <"$out/a/initramfs.cpio.gz" | cut -d' ' -f1)" ] || fail "printed hash is not the file's"
[ "$a" = "$b" ] || fail "same inputs, different images: $a $b"
[ "$a" != "$c" ] || fail "SOURCE_DATE_EPOCH does not reach the image"
cmp -s "$out/a/vmlinuz" "$out/b/vmlinuz" || fail "kernels differ"
rm -rf "$out"
echo "reproducible: two builds gave $a; another SOURCE_DATE_EPOCH gave $c"
