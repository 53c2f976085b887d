#!/bin/bash
# The README's second command: installs what is missing, builds (plain and under ASan+UBSan), starts
# virtlogd/libvirtd when they are not running, runs every suite under the sanitizers, runs each fuzz
# target, and stops what it started — also on failure.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/setup.sh"
. "$top/scripts/daemons.sh"

covirt_install_deps
echo "==> build (plain: the guest image's agent, the demo)"
covirt_build "$top/build"
echo "==> build (AddressSanitizer + UndefinedBehaviorSanitizer: every test suite)"
covirt_build "$top/build-san" -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug
export COVIRT_PLAIN_BUILD="$top/build"

trap covirt_daemons_stop EXIT
covirt_daemons_start

echo "==> tests"
meson test -C "$top/build-san" --setup=sanitize --print-errorlogs --num-processes 2 "$@"

if [ -x "$top/tests/fuzz/run.sh" ] && [ $# -eq 0 ]; then
    echo "==> fuzz targets, ${COVIRT_FUZZ_SECONDS:-60} s each"
    "$top/tests/fuzz/run.sh" "${COVIRT_FUZZ_SECONDS:-60}"
fi
