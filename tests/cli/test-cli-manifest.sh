#!/bin/bash
# `covirt manifest` as a user builds a manifest: each file's SHA3-256 and each key's PEM in place, the
# progress it prints, the refusals, and the manifest hash it prints against an independent reference
# (Python's json with sorted keys, which is RFC 8785 for what a manifest holds: docs/manifest.md), also
# for docs/manifest.md's examples (covirt's form and Cocos's) and a manifest with the old `userKey`.
#   test-cli-manifest.sh COVIRT SOURCE_ROOT
set -uo pipefail
covirt=$(realpath "$1") src=$(realpath "$2")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run EXPECTED_RC ARGS…: stdout in $tmp/out, stderr in $tmp/err
run() {
    local rc=$1; shift
    "$covirt" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local got=$?
    [ "$got" = "$rc" ] || { fail "covirt $* → rc $got (want $rc)"; sed 's/^/    /' "$tmp/err" | head -3; }
}
has() { grep -Fq -- "$2" "$tmp/$1" || { fail "$1 of the last command lacks '$2':"; sed 's/^/    /' "$tmp/$1" | head -3; }; }
reference() {   # the manifest hash, computed without covirt
    python3 -c 'import hashlib, json, sys
m = json.load(open(sys.argv[1]))
print(hashlib.sha256(json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest())' "$1"
}
sha3() { python3 -c 'import hashlib, sys; print(hashlib.sha3_256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"; }

cd "$tmp" || exit 1
for k in alice:ed25519 bob:ecdsa carol:rsa; do
    "$covirt" keys --type "${k#*:}" --out "${k%:*}" >/dev/null || fail "covirt keys ${k#*:}"
done
printf 'import sys\nprint(sys.argv)\n' > mean.py
printf 'x\n1\n2\n' > a.csv
printf 'x\n3\n' > b.csv

run 0 manifest new m.json --id c1 --name "mean of x" --description "é ✓"
has out "incomplete: algorithm: missing"
run 5 manifest new m.json --id c2 --name other
has err "m.json exists (--force overwrites it)"
run 0 manifest set-algorithm m.json mean.py --key alice.pub --arg --column --arg x
has out "incomplete: result_consumers: must be a non-empty array"
run 0 manifest add-dataset m.json a.csv --key bob.pub
run 0 manifest add-dataset m.json b.csv --key bob.pub --filename b-part.csv --decompress
run 0 manifest add-consumer m.json --key carol.pub
grep -Eq '^manifest hash [0-9a-f]{64}$' out || fail "add-consumer printed no manifest hash: $(cat out)"
built=$(awk '{print $3}' out)
[ "$built" = "$(reference m.json)" ] || fail "manifest hash $built, the reference says $(reference m.json)"
run 0 manifest hash m.json
[ "$(cat out)" = "$(reference m.json)  m.json" ] || fail "covirt manifest hash printed '$(cat out)'"
run 0 checksum --manifest m.json --algorithm mean.py a.csv
has out "manifest hash $built "
has out "SKIP     dataset b-part.csv"

# what the file holds: the agent's SHA3-256 of each file, the keys' PEM, covirt's spelling
python3 - "$(sha3 mean.py)" "$(sha3 a.csv)" "$(sha3 b.csv)" <<'PY' || fail "the manifest's content"
import json, sys
m = json.load(open("m.json"))
assert list(m) == ["id", "name", "description", "datasets", "algorithm", "result_consumers"], list(m)
assert m["description"] == "é ✓"
assert m["algorithm"] == {"hash": sys.argv[1], "user_key": open("alice.pub").read(), "algo_type": "python",
                          "algo_args": ["--column", "x"]}, m["algorithm"]
assert m["datasets"] == [{"hash": sys.argv[2], "user_key": open("bob.pub").read(), "filename": "a.csv"},
                         {"hash": sys.argv[3], "user_key": open("bob.pub").read(), "filename": "b-part.csv",
                          "decompress": True}], m["datasets"]
assert m["result_consumers"] == [{"user_key": open("carol.pub").read()}]
assert "userKey" not in open("m.json").read()
PY

# a dataset of the same name replaces the old one: a changed file is another hash, another manifest hash
printf 'x\n1\n2\n5\n' > a.csv
run 0 manifest add-dataset m.json a.csv --key bob.pub
[ "$(python3 -c 'import json; print(len(json.load(open("m.json"))["datasets"]))')" = 2 ] || fail "a.csv added twice"
grep -q "$(sha3 a.csv)" m.json || fail "a.csv's new hash is not in the manifest"
has out "manifest hash $(reference m.json)"
[ "$(reference m.json)" != "$built" ] || fail "the manifest hash did not change with a dataset"
# refusals: a consumer twice, a private key, a key type the agent refuses, an incomplete manifest
run 5 manifest add-consumer m.json --key carol.pub
has err "carol.pub is already a result consumer of m.json"
run 2 manifest add-consumer m.json --key carol.key
has err "carol.key: not a PEM public key"
openssl genpkey -algorithm ed448 2>/dev/null | openssl pkey -pubout > ed448.pub 2>/dev/null
run 2 manifest add-consumer m.json --key ed448.pub
run 0 manifest new n.json --id c1 --name n --force
run 2 manifest hash n.json
has err "n.json: manifest: algorithm: missing"

# docs/manifest.md's examples, in covirt's form and in Cocos's, and a manifest with the older userKey
awk '/^```json$/ {f = 1; n++; next} /^```$/ {f = 0} f {print > ("doc" n ".json")}' "$src/docs/manifest.md"
[ -s doc1.json ] && [ -s doc2.json ] || fail "docs/manifest.md has no two examples"
sed 's/"user_key"/"userKey"/g' doc1.json > old.json
for f in doc1.json doc2.json old.json; do
    run 0 manifest hash "$f"
    [ "$(cat out)" = "$(reference "$f")  $f" ] || fail "covirt manifest hash $f printed '$(cat out)', the reference $(reference "$f")"
done
[ "$(reference doc1.json)" != "$(reference old.json)" ] || fail "userKey and user_key gave one hash"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "cli-manifest ok"
