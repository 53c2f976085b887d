#!/bin/bash
# The README's first command: installs what is missing, builds covirt, starts virtlogd/libvirtd when they
# are not running, and runs the sample computation end to end in a vtpm CVM through libvirt
# (scripts/demo-computation.sh: HAL image, manager, attestation, uploads, result); it stops what it started.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/setup.sh"
. "$top/scripts/daemons.sh"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "installing missing Debian packages"
covirt_install_deps
step "building covirt"
covirt_build "$top/build"
trap covirt_daemons_stop EXIT
step "starting virtlogd and libvirtd (when not running)"
covirt_daemons_start

step "the sample computation in a vtpm CVM (scripts/demo-computation.sh)"
COVIRT_BUILD="$top/build" "$top/scripts/demo-computation.sh"
