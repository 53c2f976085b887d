#!/bin/bash
# Checks on a staged HAL tree, run on the build host with chroot (seconds, not a boot):
# every ELF file's libraries resolve inside the tree, the init parses, crun and umoci run,
# python3 runs its data-work standard library from the precompiled byte code, the
# datascience variant fits a logistic regression over a CSV with pandas + scikit-learn and pip
# sees those packages as installed, and the wasm variant runs a WASI module through the agent's
# launcher with Node.js.
#   hal/check-tree.sh TREE minimal|datascience|wasm
set -euo pipefail
TREE=${1:?tree} VARIANT=${2:?variant}
die() { echo "check-tree: $*" >&2; exit 1; }
say() { echo "check-tree: $*"; }
run() { env -i PATH=/usr/sbin:/usr/bin HOME=/root LANG=C.UTF-8 /usr/sbin/chroot "$TREE" "$@"; }

# /proc as the image has it (a sanitizer build of the agent and python's multiprocessing read it);
# unmounted whatever happens, before the caller packs or removes the tree.
mount -t proc -o nosuid,nodev,noexec proc "$TREE/proc"
mkdir -p "$TREE/dev/shm"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$TREE/dev/shm"
trap 'umount "$TREE/dev/shm"; rmdir "$TREE/dev/shm"; umount "$TREE/proc"' EXIT

run /usr/bin/busybox sh -n /init || die "/init does not parse"

# ld.so --list in the tree reports each library it cannot find as "not found".
mapfile -t elves < <(cd "$TREE" && find usr -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
    xargs -0 -r -n 200 python3 -c '
import sys
for p in sys.argv[1:]:
    with open(p, "rb") as f:
        h = f.read(64)
    # ET_DYN or ET_EXEC with a PT_INTERP/dynamic section; static busybox is skipped below
    if h[:4] == b"\x7fELF":
        print("/" + p)')
missing=$(printf '%s\n' "${elves[@]}" | grep -v '^/usr/bin/busybox$' |
    run /usr/bin/busybox xargs -n 1 /usr/lib64/ld-linux-x86-64.so.2 --list 2>&1 | grep 'not found' || true)
[ -z "$missing" ] || die "unresolved libraries: $missing"
say "${#elves[@]} ELF files, every library resolves in the tree"

if head -c 4 "$TREE/usr/sbin/covirt-agent" | grep -q ELF; then
    run /usr/sbin/covirt-agent --help >/dev/null || die "covirt-agent --help fails inside the tree"
    run /usr/sbin/covirt-agent-archive --help >/dev/null || die "covirt-agent-archive --help fails inside the tree"
    say "covirt-agent and covirt-agent-archive run"
fi

# the docker runner's tools start (no container here: the build host's cgroups need not be what
# crun accepts; the e2e test computation-docker runs one in a CVM)
crun=$(run /usr/bin/crun --version) || die "crun does not run inside the tree"
umoci=$(run /usr/bin/umoci --version) || die "umoci does not run inside the tree"
say "${crun%%$'\n'*}, $umoci"

# The wasm runner: a 136-byte WASI command (wat2wasm of: memory; data "wasi ok\n" at 16; _start stores the
# iovec {16, 8} at 0 and calls fd_write(1, 0, 1, 8)) run by node through the agent's own launcher.
if [ "$VARIANT" = wasm ]; then
    node=$(run /usr/bin/node --version) || die "node does not run inside the tree"
    mkdir -p "$TREE/tmp/wasi/datasets" "$TREE/tmp/wasi/results"
    python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' \
        0061736d01000000010c0260047f7f7f7f017f60000002230116776173695f736e617073686f745f70726576696577310866645f77726974650000030201010503010001071302066d656d6f72790200065f737461727400010a1d011b004100411036020041044108360200410141004101410810001a0b0b0e010041100b0877617369206f6b0a >"$TREE/tmp/wasi/ok.wasm"
    out=$(run /usr/bin/node --experimental-wasi-unstable-preview1 --no-warnings /usr/sbin/covirt-agent-wasi.mjs \
        /tmp/wasi/datasets /tmp/wasi/results /tmp/wasi/ok.wasm) || die "the WASI launcher fails inside the tree"
    rm -rf "$TREE/tmp/wasi"
    [ "$out" = "wasi ok" ] || die "the WASI module printed '$out', not 'wasi ok'"
    say "node $node runs a WASI module through covirt-agent-wasi.mjs"
fi

marker=$(mktemp)
run /usr/bin/python3 -c '
import csv, json, statistics, math, decimal, fractions, random, datetime, collections, itertools
import io, os, sys, zipfile, gzip, bz2, lzma, tarfile, sqlite3, hashlib, ssl, ctypes, uuid
import multiprocessing, subprocess, tempfile, argparse, logging, pathlib, re, struct, unittest
rows = [{"x": i, "y": 2 * i + 1} for i in range(100)]
buf = io.StringIO()
w = csv.DictWriter(buf, fieldnames=["x", "y"]); w.writeheader(); w.writerows(rows)
back = list(csv.DictReader(io.StringIO(buf.getvalue())))
ys = [int(r["y"]) for r in back]
assert statistics.mean(ys) == 100, statistics.mean(ys)
assert json.loads(json.dumps({"m": statistics.median(ys)}))["m"] == 100.0
assert hashlib.sha3_256(b"").hexdigest().startswith("a7ffc6f8")
db = sqlite3.connect(":memory:"); db.execute("create table t(v)"); db.execute("insert into t values (7)")
assert db.execute("select v from t").fetchone()[0] == 7
assert lzma.decompress(lzma.compress(b"covirt")) == b"covirt"
print("python", sys.version.split()[0], "stdlib ok,", ssl.OPENSSL_VERSION)
'
run /usr/bin/python3 -m pip --version >/dev/null || die "python3 -m pip does not run"
if [ "$VARIANT" = datascience ]; then
    run /usr/bin/python3 -c '
import numpy as np, pandas as pd, io, joblib
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
rng = np.random.default_rng(1)
x = rng.normal(size=(400, 2))
y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
csv = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": y}).to_csv(index=False)
df = pd.read_csv(io.StringIO(csv))
tr, te = train_test_split(df, test_size=0.25, random_state=0)
m = LogisticRegression().fit(tr[["a", "b"]], tr["label"])
acc = m.score(te[["a", "b"]], te["label"])
assert acc > 0.9, acc
print("numpy", np.__version__, "pandas", pd.__version__, "logistic regression accuracy", acc)
'
fi
stale=$(find "$TREE/usr" -name '*.pyc' -newer "$marker" | head -n 3)
rm -f "$marker"
[ -z "$stale" ] || die "python rewrote byte code in the tree (not precompiled?): $stale"
say "python smoke test passed ($VARIANT)"
