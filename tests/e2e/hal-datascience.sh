#!/bin/bash
# The datascience HAL builds from Debian's packages and, in a chroot of its tree, pandas reads a
# CSV and scikit-learn fits a logistic regression offline (hal/check-tree.sh). No boot: that is
# computation.py with COVIRT_E2E_VARIANT=datascience.
#   hal-datascience.sh SOURCE_ROOT AGENT WORK_DIR
set -uo pipefail
src=$1 agent=$2 work=$3
# QEMU needs no access here, but hal/build-image.sh insists on a world-searchable output folder
d=$work
while [ "$d" != / ]; do
    [ -d "$d" ] && [ "$(stat -c %A "$d" | cut -c10)" = - ] && { work=$(mktemp -d /tmp/covirt-hal-test-XXXXXX); chmod 755 "$work"; tmpwork=$work; break; }
    d=$(dirname "$d")
done
trap '[ -n "${tmpwork:-}" ] && rm -rf "$tmpwork"' EXIT
[ -n "${COVIRT_PLAIN_BUILD:-}" ] && [ -x "$COVIRT_PLAIN_BUILD/agent/covirt-agent" ] &&
    agent=$COVIRT_PLAIN_BUILD/agent/covirt-agent
[ -x "$agent" ] || { echo "SKIP: $agent is not built yet"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: the tree checks chroot: needs root"; exit 77; }
out=$work/hal-datascience
trap 'rm -rf "$out"; [ -n "${tmpwork:-}" ] && rm -rf "$tmpwork"' EXIT
"$src/hal/build-image.sh" --variant datascience --agent "$agent" --output "$out" || exit 1
[ -s "$out/initramfs.cpio.gz" ] || { echo "FAIL: no image"; exit 1; }
echo "datascience image: $(du -h "$out/initramfs.cpio.gz" | cut -f1), checks passed"
