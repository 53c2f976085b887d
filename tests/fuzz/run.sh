#!/bin/bash
# Builds the libFuzzer targets in their own clang build directory and runs each for N seconds
# (default 60) on a corpus seeded from the test vectors. Exits non-zero on the first crash.
#   tests/fuzz/run.sh [SECONDS [TARGET...]]      FUZZ_BUILD_DIR overrides the build directory
set -euo pipefail
SECONDS_EACH=${1:-60}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=${FUZZ_BUILD_DIR:-$SRC/build-fuzz}
V=$SRC/../shared/testvectors
# fuzz-cvm-spec renders with this checkout's templates (a build's programs read no source tree unless told)
export COVIRT_TEMPLATE_DIR=$SRC/domain-templates
# clang, unlike gcc, calls a g_autofree variable that is only set "unused": not an error here
if [ ! -f "$B/build.ninja" ]; then
    CC=clang meson setup "$B" "$SRC" -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
        -Dbuildtype=debugoptimized "-Dc_args=-Wno-unused-variable -fsanitize=fuzzer-no-link" >/dev/null
fi
TARGETS=${*:2}
[ -n "$TARGETS" ] || TARGETS=$(cd "$SRC/tests/fuzz" && ls fuzz-*.c | sed 's/\.c$//')
ninja -C "$B" $(for t in $TARGETS; do echo tests/fuzz/$t; done) >/dev/null
W=$(mktemp -d /tmp/covirt-fuzz-XXXXXX)
trap 'rm -rf "$W"' EXIT
seed() {   # target → seed files
    case $1 in
    fuzz-snp-report) cat "$V/sev-snp/milan-report.bin" "$V/sev-snp/milan-vcek.der" > "$W/$1/s1" 2>/dev/null || true ;;
    fuzz-firmware) cp "$V"/sev-snp-measure/ovmf_*_suffix.bin "$W/$1/" 2>/dev/null || true
                   # the last 64 KiB of whole images: Debian's OVMF and the SVSM's (the TDX metadata is there too)
                   for f in /usr/share/ovmf/OVMF.fd "$V/sev-snp-measure/svsm_ovmf.fd" "$V/sev-snp-measure/svsm.bin"; do
                       [ -r "$f" ] && tail -c 65536 "$f" > "$W/$1/$(basename "$f").tail"
                   done
                   python3 "$SRC/tests/measure/tdx-mrtd-ref.py" build "$W/$1/tdvf.bin" || true ;;
    fuzz-igvm) python3 "$SRC/tests/measure/igvm-ref.py" build "$W/$1/a.igvm" || true
               for k in vmsa-gpa data-offset unknown-type undeclared-area vmsa-first; do
                   python3 "$SRC/tests/measure/igvm-ref.py" tamper "$W/$1/a.igvm" $k "$W/$1/$k.igvm" || true
               done ;;
    fuzz-tdx-quote) cp "$V/tdx/spr-e4-quote-v4.dat" "$W/$1/s1" 2>/dev/null || true ;;
    fuzz-cvm-spec) cp "$SRC"/tests/conf/data/*.json "$W/$1/" ;;
    fuzz-domain-live) cp "$SRC"/tests/conf/data/*.xml "$SRC"/tests/conf/domcaps/*.xml "$W/$1/" ;;
    fuzz-evidence) cp "$V/tpm/tpm_evidence.json" "$W/$1/s1" 2>/dev/null || true
                   cp "$SRC"/policies/*.json "$W/$1/" 2>/dev/null || true ;;
    fuzz-oci-config) printf '%s' '{"ociVersion":"1.0.2","process":{"terminal":true,"args":["/bin/sh"],"cwd":"/"},"root":{"path":"rootfs"},"mounts":[{"destination":"/proc","type":"proc","source":"proc"}]}' > "$W/$1/s1" ;;
    fuzz-requirements) cp "$SRC/tests/agent/data/requirements.txt" "$W/$1/s1"
                       printf '%s' '{"version":"1","install":[{"download_info":{"url":"file:///w/algo/wheels/c-1.0-py3-none-any.whl"},"metadata":{"name":"c"}}]}' > "$W/$1/s2" ;;
    fuzz-kbs-reply) printf '%s' '{"nonce":"ZmFrZW5vbmNl","extra-params":""}' > "$W/$1/s1"
                    printf '%s' '{"token":"eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}' > "$W/$1/s2"
                    # Trustee's JWE layout (header bytes as its serde writes them) for a key no one holds
                    printf '%s' '{"protected":"eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJlcGsiOnsiY3J2IjoiUC0yNTYiLCJrdHkiOiJFQyIsIngiOiJBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIiwieSI6IkFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUEifX0","encrypted_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","iv":"AAAAAAAAAAAAAAAA","ciphertext":"AAAA","tag":"AAAAAAAAAAAAAAAAAAAAAA"}' > "$W/$1/s3"
                    cp "$V/sev-snp/milan-report.bin" "$W/$1/s4" 2>/dev/null || true ;;
    fuzz-oci-layout) D=sha256:$(printf '%064d' 0)
                     printf '%s' '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"'$D'","size":10,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' > "$W/$1/s1"
                     printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'$D'","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"'$D'","size":3}]}' > "$W/$1/s2"
                     printf '%s' '{"rootfs":{"type":"layers","diff_ids":["'$D'"]}}' > "$W/$1/s3" ;;
    fuzz-agent-reply) printf '%s' '{"sha3_256":"00ff","state":"ReceivingData"}' > "$W/$1/s1"
                      printf '%s' '{"error":{"code":"conflict","message":"no"}}' > "$W/$1/s2" ;;
    fuzz-manager-reply) printf '%s' '{"cvms":[{"id":"a","name":"n","agent":{"host":"h","port":1},"expires_at":null}]}' > "$W/$1/s1"
                        printf '%s' '{"error":{"code":"conflict","message":"no"}}' > "$W/$1/s2"
                        printf '%s' '{"time":"t","event":"started","detail":"booted","state":"running"}' > "$W/$1/s3"
                        printf '%s' '{"id":"a","state":"running","computation":{"state":"Failed","error":"e","result_available":false}}' > "$W/$1/s4"
                        printf '%s' '{"time":"t","event":"agent-event","agent_kind":"state","message":"A -> B"}' > "$W/$1/s5"
                        printf '%s' '{"time":"t","event":"manifest-sent","bytes":12}' > "$W/$1/s6" ;;
    fuzz-json) cp "$SRC"/tests/conf/data/*.json "$SRC"/policies/*.json "$W/$1/" 2>/dev/null || true
               cp "$V/tpm/tpm_evidence.json" "$W/$1/" 2>/dev/null || true
               # json-glib's extensions, what it changes (\u0000, numbers past 64 bits), nesting at the bound
               # and one over it, and deep nesting hidden behind a '"' in a single-quoted string or a comment
               n=0
               for s in "{'a':'b'}" '/* c */ [1]' '[1, // c' 'var x = [1]' '[1] [2]' '["a\u0000b"]' '["\ud800"]' \
                        '["\ud83d\ude00 \u00e9 \/ \t"]' '[18446744073709551615, 1e999, -0, -0.0, 0.1, 012, 0x1F, .5, 1.]' \
                        '{"a":1,"a":[true,false,null]}' "$(printf '[%.0s' $(seq 32))$(printf ']%.0s' $(seq 32))" \
                        "$(printf '{"a":%.0s' $(seq 33))1$(printf '}%.0s' $(seq 33))"; do
                   printf '%s' "$s" > "$W/$1/x$((n++))"
               done
               for p in "['\"'," "{'\"':" "[/* \" */"; do
                   { printf '%s' "$p"; head -c 30000 /dev/zero | tr '\0' '['; head -c 30000 /dev/zero | tr '\0' ']'
                     printf ']'; } > "$W/$1/x$((n++))"
               done ;;
    fuzz-manifest) # docs/manifest.md's examples: covirt's form and Cocos's
                   awk -v d="$W/$1" '/^```json$/ {f = 1; n++; next} /^```$/ {f = 0} f {print > (d "/doc" n)}' \
                       "$SRC/docs/manifest.md" ;;
    fuzz-jcs) cp "$SRC"/tests/conf/data/*.json "$SRC"/policies/*.json "$W/$1/" 2>/dev/null || true
              n=0   # RFC 8785's samples (§3.2.2, §3.2.3) and numbers at its Appendix B edges
              for s in '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'"'"'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}' \
                       '{"\u20ac":"Euro Sign","\r":"CR","\ufb33":"Dalet","1":"One","\ud83d\ude00":"Emoji","\u0080":"Control","\u00f6":"o"}' \
                       '[5e-324,-5e-324,1.7976931348623157e308,9007199254740993,9.999999999999997e22,1e21,1e-7,9223372036854775807,1e19]'; do
                  printf '%s' "$s" > "$W/$1/x$((n++))"
              done ;;
    fuzz-event-log) cp "$SRC/tests/attest/data/ovmf-event-log.bin" "$W/$1/s0" 2>/dev/null || true
                    [ -r /sys/kernel/security/tpm0/binary_bios_measurements ] &&
                    cp /sys/kernel/security/tpm0/binary_bios_measurements "$W/$1/s1" || true ;;
    fuzz-archive) D=$SRC/tests/agent/data
                  { printf a; tar -cf - -C "$D" a.csv b.csv; } > "$W/$1/s1"
                  { printf a; tar --format=pax -czf - -C "$D" a.csv; } > "$W/$1/s2"
                  { printf s; gzip -n -c "$D/a.csv"; } > "$W/$1/s3"
                  { printf s; head -c 600 /dev/zero | gzip -n -c; } > "$W/$1/s4" ;;
    esac
}
status=0
for t in $TARGETS; do
    mkdir -p "$W/$t"
    seed "$t"
    echo "== $t: ${SECONDS_EACH}s"
    if ! TSS2_LOG=all+NONE ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
         LSAN_OPTIONS=suppressions=$SRC/tests/lsan.supp \
         "$B/tests/fuzz/$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -max_len=65536 \
         -artifact_prefix="$SRC/build-fuzz-crash-$t-" "$W/$t" > "$W/$t.log" 2>&1; then
        echo "FAIL: $t crashed; log tail and artifact:"; tail -40 "$W/$t.log"; ls "$SRC"/build-fuzz-crash-$t-* 2>/dev/null
        status=1
    else
        grep -E '^(Done|#[0-9]+ *DONE)' "$W/$t.log" | tail -1 || true
    fi
done
exit $status
