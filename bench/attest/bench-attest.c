/* Verification throughput against OpenSSL's own, in the same run on the same machine:
 * SNP reports (chain cached) vs `openssl speed ecdsap384` verify/s, TPM quotes (RSA-2048) vs
 * `openssl speed rsa2048` verify/s. Prints figures and ratios; not a pass/fail test. */
#include <stdio.h>
#include <string.h>
#include "snp-report.h"
#include "tpm-quote.h"
#include "cv-util.h"
#include "cv-autoptr.h"

#define RUN_SECONDS 3.0

static GBytes *
load(const char *vectors, const char *name)
{
    g_autofree char *path = g_build_filename(vectors, name, NULL);
    g_autoptr(GError) error = NULL;
    GBytes *b = cv_read_file(path, 1 << 20, &error);

    if (!b) {
        g_printerr("bench: %s\n", error->message);
        exit(1);
    }
    return b;
}

/* the verify/s column of `openssl speed -seconds 3 ALG` for the line that contains `match` */
static double
openssl_verify_per_s(const char *alg, const char *match)
{
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;
    const char *argv[] = { "openssl", "speed", "-seconds", "3", alg, NULL };
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                      NULL, &status, NULL))
        return 0;
    lines = g_strsplit(out, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) cols = NULL;
        guint n;
        if (!strstr(*l, match) || strstr(*l, "Doing"))
            continue;
        cols = g_strsplit_set(g_strstrip(*l), " \t", -1);
        n = g_strv_length(cols);
        while (n > 0 && !*cols[n - 1])
            n--;
        if (n > 0)
            return g_ascii_strtod(cols[n - 1], NULL);
    }
    return 0;
}

static double
bench_snp(const char *vectors)
{
    g_autoptr(GBytes) pem = load(vectors, "sev-snp/ask_ark_milan.pem");
    g_autoptr(GBytes) report = load(vectors, "sev-snp/milan-report.bin");
    g_autoptr(GBytes) vcek = load(vectors, "sev-snp/milan-vcek.der");
    g_autoptr(CvAttestSnpTrust) trust = cv_attest_snp_trust_new(g_bytes_get_data(pem, NULL), g_bytes_get_size(pem), NULL);
    g_autoptr(JsonNode) policy = cv_json_parse("{\"allow_debug\":true}", -1, NULL);
    g_autoptr(GTimer) timer = NULL;
    guint64 n = 0;

    /* the first verification checks and caches the chain */
    for (;;) {
        g_autoptr(CvAttestVerdict) v = cv_attest_snp_verify(trust, g_bytes_get_data(report, NULL), g_bytes_get_size(report),
                                                            g_bytes_get_data(vcek, NULL), g_bytes_get_size(vcek),
                                                            json_node_get_object(policy), 0, NULL);
        if (!v || !cv_attest_verdict_passed(v)) {
            g_printerr("bench: the SNP vector does not verify\n");
            exit(1);
        }
        if (!timer)
            timer = g_timer_new();
        else
            n++;
        if (g_timer_elapsed(timer, NULL) >= RUN_SECONDS)
            break;
    }
    return n / g_timer_elapsed(timer, NULL);
}

static double
bench_tpm(const char *vectors)
{
    g_autoptr(GBytes) text = load(vectors, "tpm/tpm_evidence.json");
    g_autoptr(JsonNode) root = cv_json_parse(g_bytes_get_data(text, NULL), g_bytes_get_size(text), NULL);
    JsonObject *q = json_object_get_object_member(json_node_get_object(root), "tpm_quote");
    g_autoptr(GBytes) ak_der = cv_base64_decode_strict(json_object_get_string_member(json_node_get_object(root), "ak_public"), NULL);
    g_autoptr(GBytes) msg = cv_base64_decode_strict(json_object_get_string_member(q, "message"), NULL);
    g_autoptr(GBytes) sig = cv_base64_decode_strict(json_object_get_string_member(q, "signature"), NULL);
    g_autoptr(EVP_PKEY) ak = cv_attest_pkey_from_pem_or_der(g_bytes_get_data(ak_der, NULL), g_bytes_get_size(ak_der), NULL);
    CvAttestPcrs pcrs;
    CvAttestTpmInput in = { 0 };
    g_autoptr(GTimer) timer = g_timer_new();
    guint64 n = 0;

    if (!ak || !cv_attest_pcrs_from_json(json_object_get_member(q, "pcrs"), &pcrs, NULL)) {
        g_printerr("bench: cannot read the TPM vector\n");
        exit(1);
    }
    in.ak = ak;
    in.pcrs = &pcrs;
    while (g_timer_elapsed(timer, NULL) < RUN_SECONDS) {
        g_autoptr(CvAttestVerdict) v = cv_attest_verdict_new("vtpm");
        if (!cv_attest_tpm_verify(v, g_bytes_get_data(msg, NULL), g_bytes_get_size(msg), g_bytes_get_data(sig, NULL),
                                  g_bytes_get_size(sig), &in, NULL) || !cv_attest_verdict_passed(v)) {
            g_printerr("bench: the TPM vector does not verify\n");
            exit(1);
        }
        n++;
    }
    return n / g_timer_elapsed(timer, NULL);
}

int
main(int argc, char **argv)
{
    const char *vectors = argc > 1 ? argv[1] : g_getenv("COVIRT_TESTVECTORS");
    double snp, ecdsa, tpm, rsa;

    if (!vectors) {
        g_printerr("usage: bench-attest TESTVECTORS_DIR\n");
        return 2;
    }
    g_setenv("TSS2_LOG", "all+NONE", FALSE);
    /* ours before and after openssl's, averaged: the machine is shared and its load drifts */
    snp = bench_snp(vectors);
    ecdsa = openssl_verify_per_s("ecdsap384", "nistp384");
    snp = (snp + bench_snp(vectors)) / 2;
    tpm = bench_tpm(vectors);
    rsa = openssl_verify_per_s("rsa2048", "rsa 2048");
    tpm = (tpm + bench_tpm(vectors)) / 2;
    printf("SNP report verifications/s (chain cached): %10.1f\n", snp);
    printf("openssl speed ecdsap384 verify/s:          %10.1f\n", ecdsa);
    printf("ratio SNP / ECDSA P-384:                   %10.2f  (goal >= 0.5)\n", ecdsa > 0 ? snp / ecdsa : 0);
    printf("TPM quote verifications/s (RSA-2048):      %10.1f\n", tpm);
    printf("openssl speed rsa2048 verify/s:            %10.1f\n", rsa);
    printf("ratio TPM / RSA-2048 verify:               %10.2f\n", rsa > 0 ? tpm / rsa : 0);
    return 0;
}
