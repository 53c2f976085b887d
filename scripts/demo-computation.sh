#!/bin/bash
# The sample computation, step by step for a human: builds the HAL, starts covirt-manager,
# creates a vtpm CVM with a manifest, uploads a Python algorithm and two CSV datasets as their
# owners, downloads and shows the result as its consumer, shows the operator's event stream,
# and removes the CVM.  Needs libvirtd running (scripts/demo.sh starts it) and root.
#   COVIRT_BUILD=build scripts/demo-computation.sh      (COVIRT_DEMO_VARIANT=datascience: pandas
#                                                         + scikit-learn logistic regression)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${COVIRT_BUILD:-$top/build}" && pwd)
variant=${COVIRT_DEMO_VARIANT:-minimal}
covirt=$build/src/cli/covirt
agent_bin=$build/agent/covirt-agent
manager_bin=$build/src/manager/covirt-manager
# the build's programs render from this checkout's templates (installed ones use their data dir)
export COVIRT_TEMPLATE_DIR=$top/domain-templates

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*" | sed "s|$work/||g; s|$build/src/cli/||g"; "$@"; }
die() { echo "demo-computation: $*" >&2; exit 1; }
for f in "$covirt" "$agent_bin" "$manager_bin"; do [ -x "$f" ] || die "$f is not built (ninja -C $build)"; done

work=$(mktemp -d /tmp/covirt-demo-computation-XXXXXX); chmod 755 "$work"
mkdir -m 755 "$work/log"
image=$work/hal-$variant   # under /tmp, world-searchable, whatever the checkout's folder allows
manager_pid= cvm_id= name=covirt-demo-$$
cleanup() {
    set +e
    [ -n "$cvm_id" ] && "$covirt" cvm rm --manager "$MANAGER_URL" "$cvm_id" >/dev/null 2>&1
    virsh -c qemu:///system destroy "$name" >/dev/null 2>&1
    virsh -c qemu:///system undefine "$name" --nvram --tpm >/dev/null 2>&1
    [ -n "$manager_pid" ] && kill "$manager_pid" 2>/dev/null && wait "$manager_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# the computation's state as the operator sees it: the manager has it from the agent's control channel
wait_state() {  # STATE: until the computation is there (covirt cvm wait fails at once if it failed)
    "$covirt" cvm wait "$cvm_id" --state "$1" --timeout 600 ||
        die "the computation did not reach $1 (covirt cvm events $cvm_id)"
    show "$covirt" cvm show "$cvm_id"
}

step "building the $variant HAL image (kernel + initramfs from Debian packages, with covirt-agent)"
"$top/hal/build-image.sh" --variant "$variant" --agent "$agent_bin" --output "$image"

step "starting covirt-manager (libvirt qemu:///system, domain type qemu)"
port=$(free_port)
export MANAGER_URL=http://127.0.0.1:$port COVIRT_MANAGER_URL=http://127.0.0.1:$port
base=$(( $(free_port) / 10 * 10 ))
MANAGER_HTTP_PORT=$port MANAGER_LIBVIRT_URI=qemu:///system MANAGER_DOMAIN_TYPE=qemu \
MANAGER_QEMU_DISK_IMG_KERNEL_FILE=$image/vmlinuz MANAGER_QEMU_DISK_IMG_ROOTFS_FILE=$image/initramfs.cpio.gz \
MANAGER_QEMU_HOST_FWD_RANGE=$base-$((base + 9)) MANAGER_QEMU_SMP_COUNT=1 \
MANAGER_QEMU_MEMORY_SIZE=$([ "$variant" = datascience ] && echo 2G || echo 1G) MANAGER_LOG_DIR=$work/log \
    "$manager_bin" >"$work/manager.log" 2>&1 &
manager_pid=$!
for _ in $(seq 100); do curl -sf "$MANAGER_URL/health" >/dev/null && break; sleep 0.2; done
curl -sf "$MANAGER_URL/health" || die "the manager does not answer: $(cat "$work/manager.log")"
echo

step "the users make their key pairs (algorithm owner, two data owners, result consumer)"
cd "$work"
show "$covirt" keys --type ed25519 --out algo
show "$covirt" keys --type ecdsa --out data1
show "$covirt" keys --type rsa --out data2
show "$covirt" keys --type ed25519 --out consumer

step "the algorithm and two CSV datasets"
if [ "$variant" = datascience ]; then
    cp "$top/tests/e2e/data/logreg.py" algorithm.py
    python3 -c '
import random
r = random.Random(1)
for name, n in (("part1.csv", 300), ("part2.csv", 200)):
    with open(name, "w") as f:
        f.write("a,b,label\n")
        for _ in range(n):
            a, b = r.gauss(0, 1), r.gauss(0, 1)
            f.write("%.6f,%.6f,%d\n" % (a, b, a + 0.5 * b > 0))'
else
    cp "$top/tests/e2e/data/linreg.py" algorithm.py
    python3 -c '
import random
r = random.Random(1)
for name, n, x0 in (("part1.csv", 200, 0), ("part2.csv", 150, 100)):
    with open(name, "w") as f:
        f.write("x,y\n")
        for i in range(n):
            x = x0 + i * 0.5
            f.write("%.3f,%.6f\n" % (x, 3.25 * x - 7.5 + r.gauss(0, 2)))'
fi
head -n 3 part1.csv
show "$covirt" checksum algorithm.py part1.csv part2.csv

step "the computation manifest (hashes and public keys of every party)"
python3 - <<'PY'
import hashlib, json
h = lambda p: hashlib.sha3_256(open(p, "rb").read()).hexdigest()
k = lambda n: open(n + ".pub").read()
m = {"id": "demo-1", "name": "covirt demo", "description": "regression over two parties' CSV files",
     "datasets": [{"hash": h("part1.csv"), "user_key": k("data1"), "filename": "part1.csv"},
                  {"hash": h("part2.csv"), "user_key": k("data2"), "filename": "part2.csv"}],
     "algorithm": {"hash": h("algorithm.py"), "user_key": k("algo"), "algo_type": "python", "algo_args": []},
     "result_consumers": [{"user_key": k("consumer")}]}
json.dump(m, open("manifest.json", "w"), indent=1)
PY
show "$covirt" checksum --manifest manifest.json --algorithm algorithm.py part1.csv part2.csv
python3 -c "
import json, sys
m = json.load(open('manifest.json'))
json.dump({'name': '$name', 'platform': 'vtpm', 'vcpus': 1, 'ttl': '1h', 'computation': m}, open('spec.json', 'w'))"

step "the operator creates the CVM through the manager's API"
show "$covirt" cvm create spec.json | tee create.txt
cvm_id=$("$covirt" cvm list --json | python3 -c "
import json, sys
d = json.load(sys.stdin); d = d.get('cvms', d) if isinstance(d, dict) else d
print(next(c['id'] for c in d if c['name'] == '$name'))")
agent_url=https://$("$covirt" cvm show --json "$cvm_id" | python3 -c "
import json, sys; a = json.load(sys.stdin)['agent']; print('%s:%d' % (a['host'], a['port']))")
export COVIRT_AGENT_URL=$agent_url   # covirt attest, algo, data and result take it for --agent
show virsh -c qemu:///system list

step "waiting for the CVM to boot and its agent to receive the manifest (software emulation: ~1 min)"
wait_state ReceivingAlgorithm

step "the users attest the CVM (vTPM quote, measured boot of the HAL, manifest) and pin its TLS key"
"$covirt" cvm policy "$cvm_id" >policy.json
echo "policy: the manager's vtpm policy for this CVM (docs/policy.md); a user can compute it with covirt policy vtpm"
show "$covirt" attest --policy policy.json --manifest manifest.json | tee attest.txt
pin=$(sed -n 's/.*TLS key \([0-9a-f]\{64\}\) is the attested key.*/\1/p' attest.txt | head -n 1)
[ -n "$pin" ] || die "no attested TLS key in covirt attest's output"
echo "pinned: $pin"

step "the algorithm owner uploads the algorithm"
show "$covirt" algo --pin "$pin" --key algo.key algorithm.py
step "the data owners upload their datasets"
show "$covirt" data --pin "$pin" --key data1.key part1.csv
show "$covirt" data --pin "$pin" --key data2.key part2.csv

step "the computation runs inside the CVM"
wait_state ConsumingResults

step "the result consumer downloads the result"
show "$covirt" result --pin "$pin" --key consumer.key --out result
find result -type f -name '*.json' -exec sh -c 'echo "--- $1"; cat "$1"; echo' _ {} \;

step "what the operator saw: covirt cvm events"
show "$covirt" cvm events --no-follow "$cvm_id"

step "the operator removes the CVM"
show "$covirt" cvm rm "$cvm_id"
cvm_id=
show virsh -c qemu:///system list --all
echo
echo "demo complete"
