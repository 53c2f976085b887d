#!/bin/bash
# `covirt verify` as a user runs it: real test vectors, a swtpm quote made with tpm2-tools;
# exit 0 only on a full pass, 3 and the failing check named otherwise.
set -u
COVIRT=$(readlink -f "$1")
V=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d /tmp/covirt-cli-verify-XXXXXX)
SWTPM_PID=
cleanup() { [ -n "$SWTPM_PID" ] && kill "$SWTPM_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
fails=0; passes=0
# expect RC PATTERN -- command...: exit code and a line of output matching PATTERN
expect() {
    local rc=$1 pat=$2; shift 3
    local out got
    out=$("$@" 2>&1); got=$?
    if [ "$got" != "$rc" ] || ! grep -Eq -- "$pat" <<<"$out"; then
        echo "FAIL: $* → rc $got (want $rc), pattern '$pat'"; echo "$out" | head -30; fails=$((fails+1))
    else
        passes=$((passes+1))
    fi
}
S=$V/sev-snp
expect 3 '^FAIL +snp.policy.debug' -- "$COVIRT" verify sev-snp --report $S/milan-report.bin --ca $S/ask_ark_milan.pem --vcek $S/milan-vcek.der
echo '{"platform":"sev-snp","allow_debug":true}' > $W/dbg.json
expect 0 '^verdict: PASSED' -- "$COVIRT" verify sev-snp --report $S/milan-report.bin --ca $S/ask_ark_milan.pem --vcek $S/milan-vcek.der --policy $W/dbg.json
# the trust anchors in policies/trust, named by the policy instead of --ca
echo "{\"platform\":\"sev-snp\",\"allow_debug\":true,\"ca_file\":[\"$SRC/policies/trust/amd/ask_ark_milan.pem\",\"$SRC/policies/trust/amd/ask_ark_genoa.pem\"]}" > $W/trust.json
expect 0 '^PASS +snp.chain' -- "$COVIRT" verify sev-snp --report $S/milan-report.bin --vcek $S/milan-vcek.der --policy $W/trust.json
expect 3 '^FAIL +snp.measurement' -- "$COVIRT" verify sev-snp --report $S/milan-report.bin --vcek $S/milan-vcek.der --policy $SRC/policies/sev-snp-example.json
expect 3 '^PASS +tdx.pck_chain' -- "$COVIRT" verify tdx --quote $V/tdx/spr-e4-quote-v4.dat --policy $SRC/policies/tdx-example.json
expect 0 '"passed" : true' -- "$COVIRT" verify sev-snp --report $S/milan-report.bin --ca $S/ask_ark_milan.pem --vcek $S/milan-vcek.der --policy $W/dbg.json --json
expect 3 '^FAIL +snp.chain' -- "$COVIRT" verify sev-snp --report $S/milan-report.bin --ca $S/ask_ark_genoa.pem --vcek $S/milan-vcek.der --policy $W/dbg.json
expect 3 '^FAIL +snp.chain' -- "$COVIRT" verify sev-snp --report $S/milan-report.bin --ca $SRC/policies/trust/amd/ask_ark_turin.pem --vcek $S/milan-vcek.der --policy $W/dbg.json
expect 0 '^PASS +snp.signature +ECDSA P-384 by VLEK' -- "$COVIRT" verify sev-snp --report $S/milan-vlek-report.bin --ca $S/ask_ark_milan_vlek.pem --vcek $S/milan-vlek.der --at 2025-06-01T00:00:00Z
expect 3 '^FAIL +snp.chain .*expired' -- "$COVIRT" verify sev-snp --report $S/milan-vlek-report.bin --ca $S/ask_ark_milan_vlek.pem --vcek $S/milan-vlek.der --at 2025-12-11T00:00:00Z
# a flipped byte of the measurement
cp $S/milan-report.bin $W/flipped.bin; printf '\x55' | dd of=$W/flipped.bin bs=1 seek=$((0x95)) conv=notrunc 2>/dev/null
expect 3 '^FAIL +snp.signature' -- "$COVIRT" verify sev-snp --report $W/flipped.bin --ca $S/ask_ark_milan.pem --vcek $S/milan-vcek.der --policy $W/dbg.json
echo '{"platform":"sev-snp","allow_debug":true,"measurement":"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"}' > $W/meas.json
expect 3 '^FAIL +snp.measurement' -- "$COVIRT" verify sev-snp --report $S/milan-report.bin --ca $S/ask_ark_milan.pem --vcek $S/milan-vcek.der --policy $W/meas.json
echo '{"platform":"sev-snp","measurment":"00"}' > $W/typo.json
expect 2 'unknown member' -- "$COVIRT" verify sev-snp --report $S/milan-report.bin --ca $S/ask_ark_milan.pem --vcek $S/milan-vcek.der --policy $W/typo.json
expect 2 'not an RFC 3339' -- "$COVIRT" verify sev-snp --report $S/milan-report.bin --ca $S/ask_ark_milan.pem --at yesterday
head -c 100 $S/milan-report.bin > $W/short.bin
expect 2 'SNP report is 1184 bytes' -- "$COVIRT" verify sev-snp --report $W/short.bin --ca $S/ask_ark_milan.pem --vcek $S/milan-vcek.der

# an evidence bundle around a real report: everything verifies but its report data, which is not
# the binding of this nonce, TLS key and manifest
N=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
printf '{"version":1,"platform":"sev-snp","nonce":"%s","tls_key_sha256":"%s","sev_snp":{"report":"%s","vcek":"%s"}}' \
    $N $N "$(base64 -w0 $S/milan-vlek-report.bin)" "$(base64 -w0 $S/milan-vlek.der)" > $W/bundle.json
echo "{\"platform\":\"sev-snp\",\"ca_file\":\"$SRC/policies/trust/amd/ask_ark_milan_vlek.pem\"}" > $W/vlek.json
expect 3 '^FAIL +snp.report_data' -- "$COVIRT" verify evidence --bundle $W/bundle.json --policy $W/vlek.json --nonce $N --at 2025-06-01T00:00:00Z
expect 3 '^PASS +snp.signature' -- "$COVIRT" verify evidence --bundle $W/bundle.json --policy $W/vlek.json --nonce $N --at 2025-06-01T00:00:00Z
expect 3 '^FAIL +evidence.nonce' -- "$COVIRT" verify evidence --bundle $W/bundle.json --policy $W/vlek.json --nonce ${N%ff}00 --at 2025-06-01T00:00:00Z
expect 3 'policy for tdx' -- "$COVIRT" verify evidence --bundle $W/bundle.json --policy $SRC/policies/tdx-example.json --nonce $N

T=$V/tdx
expect 0 '^NOT-CHECKED +tdx.tcb_status' -- "$COVIRT" verify tdx --quote $T/spr-e4-quote-v4.dat --root $T/intel_sgx_root_ca.pem
expect 3 '^FAIL +tdx.pck_chain' -- "$COVIRT" verify tdx --quote $T/spr-e4-quote-v4.dat --root $S/ask_ark_milan.pem
echo '{"platform":"tdx","rtmr2":"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"}' > $W/tdx.json
expect 3 '^FAIL +tdx.rtmr2' -- "$COVIRT" verify tdx --quote $T/spr-e4-quote-v4.dat --root $T/intel_sgx_root_ca.pem --policy $W/tdx.json
# the embedded PCK certificates expire in 2029 and 2033: as of 2040 the chain fails
expect 3 '^FAIL +tdx.pck_chain .*expired' -- "$COVIRT" verify tdx --quote $T/spr-e4-quote-v4.dat --root $T/intel_sgx_root_ca.pem --at 2040-01-01T00:00:00Z
expect 3 '^FAIL +snp.chain .*not yet valid' -- "$COVIRT" verify sev-snp --report $S/milan-report.bin --ca $S/ask_ark_milan.pem --vcek $S/milan-vcek.der --policy $W/dbg.json --at 2020-01-01T00:00:00Z
expect 0 '"name" : "tdx.signature"' -- "$COVIRT" verify tdx --quote $T/spr-e4-quote-v4.dat --root $T/intel_sgx_root_ca.pem --json

# policies: the shipped examples load; a vtpm policy from a kernel, initrd and command line
expect 0 'sev-snp policy, ok' -- "$COVIRT" policy check $SRC/policies/sev-snp-example.json $SRC/policies/tdx-example.json
expect 2 'unknown member' -- "$COVIRT" policy check $W/typo.json
KERNEL=$(ls /boot/vmlinuz-* 2>/dev/null | head -1)
if [ -n "$KERNEL" ]; then
    echo initrd > $W/initrd
    expect 0 '"9" : \[' -- "$COVIRT" policy vtpm --kernel $KERNEL --initrd $W/initrd --cmdline 'console=ttyS0' --memory 512M
    expect 2 'not a Linux bzImage' -- "$COVIRT" policy vtpm --kernel $W/initrd --initrd $W/initrd --memory 512M
fi

# TPM: a swtpm on a free loopback port, a quote from tpm2-tools
PORT=$(python3 -c 'import socket
for _ in range(50):
    a=socket.socket(); a.bind(("127.0.0.1",0)); p=a.getsockname()[1]
    b=socket.socket()
    try:
        b.bind(("127.0.0.1",p+1)); print(p); break
    except OSError: pass')
mkdir $W/tpm
swtpm socket --tpm2 --server type=tcp,port=$PORT,bindaddr=127.0.0.1 --ctrl type=tcp,port=$((PORT+1)),bindaddr=127.0.0.1 \
  --tpmstate dir=$W/tpm --flags not-need-init,startup-clear --daemon --pid file=$W/swtpm.pid
SWTPM_PID=$(cat $W/swtpm.pid)
export TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=$PORT
for i in $(seq 50); do tpm2_getrandom 4 >/dev/null 2>&1 && break; sleep 0.1; done
cd $W
tpm2_createprimary -Q -C o -g sha256 -G ecc256 -c primary.ctx && tpm2_flushcontext -t &&
tpm2_create -Q -C primary.ctx -g sha256 -G ecc256:ecdsa-sha256:null -a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign' -u ak.pub -r ak.priv && tpm2_flushcontext -t &&
tpm2_load -Q -C primary.ctx -u ak.pub -r ak.priv -c ak.ctx && tpm2_flushcontext -t &&
tpm2_readpublic -Q -c ak.ctx -o ak.pem -f pem &&
tpm2_pcrextend 16:sha256=$(echo -n manifest | sha256sum | cut -d' ' -f1) &&
tpm2_quote -Q -c ak.ctx -l sha256:0,1,2,3,4,5,6,7,8,9,16 -q 00112233445566778899aabbccddeeff -m q.msg -s q.sig -o q.pcrs -g sha256 || { echo "tpm2-tools failed"; exit 1; }
expect 0 '^PASS +tpm.signature +ECDSA' -- "$COVIRT" verify tpm --ak ak.pem --message q.msg --signature q.sig --pcrs q.pcrs --nonce 00112233445566778899aabbccddeeff
expect 3 '^FAIL +tpm.nonce' -- "$COVIRT" verify tpm --ak ak.pem --message q.msg --signature q.sig --pcrs q.pcrs --nonce 00112233445566778899aabbccddeef0
# a tampered PCR 16 value in the PCR file
python3 - <<'PY'
d = bytearray(open('q.pcrs','rb').read())
# serialized: TPML_PCR_SELECTION (132) + count (4) + TPML_DIGEST{count(4), {size(2), buffer(64)}...}
first = 132 + 4 + 4 + 2
d[first + 5] ^= 0xff
open('q-tampered.pcrs','wb').write(d)
PY
expect 3 '^FAIL +tpm.pcr_digest' -- "$COVIRT" verify tpm --ak ak.pem --message q.msg --signature q.sig --pcrs q-tampered.pcrs --nonce 00112233445566778899aabbccddeeff
PCR16=$(tpm2_pcrread sha256:16 | awk '$1 == "16:" {print tolower(substr($2,3))}')
echo "{\"platform\":\"vtpm\",\"pcrs\":{\"16\":\"$PCR16\"}}" > pcr16.json
expect 0 '^PASS +tpm.pcr.16' -- "$COVIRT" verify tpm --ak ak.pem --message q.msg --signature q.sig --pcrs q.pcrs --policy pcr16.json
echo '{"platform":"vtpm","pcrs":{"16":"0000000000000000000000000000000000000000000000000000000000000000"}}' > pcr16bad.json
expect 3 '^FAIL +tpm.pcr.16' -- "$COVIRT" verify tpm --ak ak.pem --message q.msg --signature q.sig --pcrs q.pcrs --policy pcr16bad.json
expect 2 'TPMS_ATTEST' -- "$COVIRT" verify tpm --ak ak.pem --message q.sig --signature q.sig --pcrs q.pcrs

# usage mistakes of each form: exit 2 and what is missing or wrong
expect 2 '--report is required' -- "$COVIRT" verify sev-snp --ca $S/ask_ark_milan.pem
expect 2 '--quote is required' -- "$COVIRT" verify tdx
expect 2 '--ak, --message, --signature and --pcrs are required' -- "$COVIRT" verify tpm --ak ak.pem
expect 2 '--bundle, --policy and --nonce are required' -- "$COVIRT" verify evidence --bundle x.json
expect 2 'Unknown option --frobnicate' -- "$COVIRT" verify tdx --frobnicate
echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
