#!/bin/bash
# `covirt domain render` as a user runs it: XML on stdout and exit 0, or the message on stderr and non-zero.
set -uo pipefail
covirt=$1 data=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

MANAGER_DOMAIN_TYPE=qemu "$covirt" domain render "$data/vtpm-basic.json" --libvirt-version 9.0.0 >"$tmp/out" 2>"$tmp/err" \
    || fail "render of a good spec failed: $(cat "$tmp/err")"
cmp -s "$tmp/out" "$data/vtpm-basic.xml" || fail "CLI output differs from the golden file"
[ -s "$tmp/err" ] && fail "stderr not empty on success"

MANAGER_DOMAIN_TYPE=qemu "$covirt" domain render "$data/err-memory-unit.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -ne 0 ] || fail "bad spec exited 0"
[ -s "$tmp/out" ] && fail "bad spec printed XML"
grep -q '^covirt: memory:' "$tmp/err" || fail "message does not name the field: $(cat "$tmp/err")"

"$covirt" domain render "$tmp/nonexistent.json" >/dev/null 2>"$tmp/err" && fail "missing file exited 0"
grep -q 'cannot read' "$tmp/err" || fail "missing file message: $(cat "$tmp/err")"

MANAGER_DOMAIN_TYPE=qemu "$covirt" domain render - --libvirt-version 9.0.0 <"$data/vtpm-basic.json" >"$tmp/out" \
    || fail "render from stdin failed"
cmp -s "$tmp/out" "$data/vtpm-basic.xml" || fail "stdin output differs"

"$covirt" domain render "$data/vtpm-basic.json" --libvirt-version nine >/dev/null 2>"$tmp/err" && fail "bad version exited 0"
MANAGER_QEMU_MEMORY_SIZE=lots "$covirt" domain render "$data/vtpm-basic.json" >/dev/null 2>"$tmp/err" && fail "bad env exited 0"
grep -q MANAGER_QEMU_MEMORY_SIZE "$tmp/err" || fail "env message does not name the variable"
echo "cli-domain-render ok"
