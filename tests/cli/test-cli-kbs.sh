#!/bin/bash
# `covirt kbs encrypt` as an owner runs it: --new-key writes a 32-byte key 0600; the output opens with
# python3-cryptography's AESGCM as Cocos's agent opens it (nonce = the first 12 bytes, tag the last 16)
# and gives the input back; the printed sha3_256 is the input's; a short key, an existing key with
# --new-key and an existing output are refused with a non-zero exit.
set -uo pipefail
covirt=$1 python=$2
fails=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

head -c 300001 /dev/urandom >"$tmp/in"
out=$("$covirt" kbs encrypt --key "$tmp/key" --new-key "$tmp/in" "$tmp/in.enc") || fail "encrypt exited $?"
[ "$(stat -c '%a %s' "$tmp/key")" = "600 32" ] || fail "key file: $(stat -c '%a %s' "$tmp/key")"
[ "$(stat -c %s "$tmp/in.enc")" = $((300001 + 28)) ] || fail "output size $(stat -c %s "$tmp/in.enc")"
want=$("$python" -c "import hashlib,sys; print(hashlib.sha3_256(open(sys.argv[1],'rb').read()).hexdigest())" "$tmp/in")
grep -q "^sha3_256: *$want " <<<"$out" || fail "printed hash: $out (want $want)"
"$python" - "$tmp/key" "$tmp/in.enc" "$tmp/in" <<'PY' || fail "AESGCM does not give the input back"
import sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key, enc, plain = (open(p, "rb").read() for p in sys.argv[1:])
assert AESGCM(key).decrypt(enc[:12], enc[12:], None) == plain
PY
# the same key again: another nonce, another file
"$covirt" kbs encrypt --key "$tmp/key" "$tmp/in" "$tmp/in2.enc" >/dev/null || fail "encrypt with a key file"
cmp -s "$tmp/in.enc" "$tmp/in2.enc" && fail "two encryptions are identical (nonce reused)"

err() {   # CODE TEXT ARGS…: exit CODE, TEXT on stderr
    local code=$1 text=$2; shift 2
    "$covirt" kbs encrypt "$@" >/dev/null 2>"$tmp/err"; local rc=$?
    [ $rc -eq "$code" ] || fail "kbs encrypt $*: exit $rc, want $code"
    grep -qF -- "$text" "$tmp/err" || fail "kbs encrypt $*: stderr '$(cat "$tmp/err")' lacks '$text'"
}
head -c 31 /dev/urandom >"$tmp/short"
err 2 "a key file holds 32 raw bytes" --key "$tmp/short" "$tmp/in" "$tmp/x"
err 5 "not overwriting a key" --key "$tmp/key" --new-key "$tmp/in" "$tmp/y"
err 5 "cannot create $tmp/in.enc" --key "$tmp/key" "$tmp/in" "$tmp/in.enc"
err 2 "--key, IN and OUT are required" "$tmp/in" "$tmp/z"
[ -e "$tmp/x" ] || [ -e "$tmp/y" ] && fail "a refused call left an output"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "cli-kbs ok"
