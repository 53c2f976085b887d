#!/bin/bash
# The README's second command: installs what is missing, builds (plain and under ASan+UBSan, and the agent
# alone without libvirt's development files), starts virtlogd/libvirtd when they are not running, runs every
# suite under the sanitizers, runs each fuzz target, and stops what it started — also on failure.
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
echo "==> build (the guest's agent where libvirt's development files are hidden: no libvirt configured or linked)"
"$top/tests/build/agent-without-libvirt.sh"

trap covirt_daemons_stop EXIT
covirt_daemons_start

echo "==> tests"
rc=0
meson test -C "$top/build-san" --setup=sanitize --print-errorlogs --num-processes 2 "$@" || rc=$?
# one closing line any CI reader understands: "N passed, N failed, N skipped"
summary=$(python3 - "$top/build-san/meson-logs/testlog-sanitize.json" <<'PY'
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    key = {"OK": "passed", "EXPECTEDFAIL": "passed", "SKIP": "skipped"}.get(r, "failed")
    counts[key] += 1
print(f"tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
PY
)
echo "$summary"
[ $rc -eq 0 ] || exit $rc

if [ -x "$top/tests/fuzz/run.sh" ] && [ $# -eq 0 ]; then
    echo "==> fuzz targets, ${COVIRT_FUZZ_SECONDS:-40} s each"
    "$top/tests/fuzz/run.sh" "${COVIRT_FUZZ_SECONDS:-40}"
fi
echo "$summary"
