/* Evidence end to end on a real swtpm provisioned by swtpm_setup (EK certificate from a local CA):
 * the collector makes a bundle, the verifier checks it; credential activation round trip. */
#include <stdlib.h>
#include <string.h>
#include "collector.h"
#include "evidence.h"
#include "policy.h"
#include "tpm-quote.h"
#include "cv-util.h"
#include "attest-test.h"
#include "swtpm-fixture.h"
#include "tdx-builder.h"
#include <openssl/evp.h>

static SwtpmFixture fx;
static CvAgentCollector *collector;
static const guint8 nonce[32] = "0123456789abcdef0123456789abcde";
static const guint8 tls[32] = "TLS-KEY-SHA256-TLS-KEY-SHA256-x";
static const guint8 manifest[32] = "MANIFEST-SHA256-MANIFEST-SHA256";

static JsonNode *
policy_full(const char *ca_dir, gboolean credential)
{
    g_autofree char *json = g_strdup_printf("{\"platform\":\"vtpm\",\"ca_file\":[\"%s/ca/swtpm-localca-rootca-cert.pem\","
                                            "\"%s/ca/issuercert.pem\"],\"require_credential\":%s}", ca_dir, ca_dir,
                                            credential ? "true" : "false");
    g_autoptr(GError) error = NULL;
    JsonNode *p = cv_attest_policy_parse(json, -1, "vtpm", NULL, &error);

    g_assert_no_error(error);
    return p;
}

/* the offline part of a bundle's verification: credential activation is tested below */
static JsonNode *
policy(const char *ca_dir)
{
    return policy_full(ca_dir, FALSE);
}

typedef enum { STRICT_POLICY, OTHER_NONCE, OTHER_TLS_KEY, OTHER_MANIFEST, OTHER_PCR9, OTHER_EK_CA, NO_POLICY } BundleChange;

/* The swtpm bundle, changed or verified otherwise, and the checks that must fail for it. */
static const struct {
    const char *what;
    BundleChange change;
    const char *fails[2];
} bundle_cases[] = {
    { "credential activation required (the default): the bundle alone does not pass", STRICT_POLICY,
      { "tpm.credential" } },
    { "a replayed bundle for another nonce", OTHER_NONCE, { "evidence.nonce", "tpm.nonce" } },
    { "another TLS key claimed in the bundle: the report data no longer matches", OTHER_TLS_KEY, { "tpm.nonce" } },
    { "another manifest expected by the user", OTHER_MANIFEST, { "evidence.manifest", "tpm.pcr16.manifest" } },
    { "a PCR value changed in the bundle", OTHER_PCR9, { "tpm.pcr_digest" } },
    { "an EK CA that did not issue this EK", OTHER_EK_CA, { "tpm.ek_chain" } },
    { "a policy without an EK CA cannot pass a vtpm bundle", NO_POLICY, { "tpm.ek_chain" } },
};

static void
check_bundle_case(const typeof(bundle_cases[0]) *c, JsonNode *bundle, JsonNode *pol)
{
    g_autoptr(JsonNode) copy = json_node_copy(bundle);
    JsonObject *o = json_node_get_object(copy);
    g_autoptr(JsonNode) p = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    guint8 n[32], m[32];

    g_test_message("%s", c->what);
    memcpy(n, nonce, 32);
    memcpy(m, manifest, 32);
    if (c->change == STRICT_POLICY) {
        p = policy_full(fx.dir, TRUE);
    } else if (c->change == OTHER_EK_CA) {
        const char *other_ca = "{\"platform\":\"vtpm\",\"ca_file\":\"@V@/tdx/intel_sgx_root_ca.pem\"}";
        g_autofree char *json = attest_test_fill(other_ca, "V", g_getenv("COVIRT_TESTVECTORS"), NULL);
        p = cv_attest_policy_parse(json, -1, "vtpm", NULL, &error);
        g_assert_no_error(error);
    } else if (c->change != NO_POLICY) {
        p = json_node_ref(pol);
    }
    if (c->change == OTHER_NONCE)
        n[0] ^= 1;
    else if (c->change == OTHER_TLS_KEY)
        json_object_set_string_member(o, "tls_key_sha256",
                                      "00000000000000000000000000000000000000000000000000000000000000ff");
    else if (c->change == OTHER_MANIFEST)
        memset(m, 0, 32), m[0] = 1;
    else if (c->change == OTHER_PCR9)
        json_object_set_string_member(json_object_get_object_member(json_object_get_object_member(o, "tpm"), "pcrs"),
                                      "9", "1111111111111111111111111111111111111111111111111111111111111111");
    v = cv_attest_evidence_verify(copy, p, n, sizeof(n), m, 0, &error);
    g_assert_no_error(error);
    for (gsize i = 0; i < G_N_ELEMENTS(c->fails) && c->fails[i]; i++)
        attest_test_assert_status(v, c->fails[i], CV_ATTEST_FAIL);
    g_assert_false(cv_attest_verdict_passed(v));
}

static void
test_bundle(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) bundle = cv_agent_collector_collect(collector, nonce, sizeof(nonce), tls, manifest, &error);
    g_autoptr(JsonNode) pol = policy(fx.dir);
    g_autoptr(CvAttestVerdict) v = NULL;
    g_autofree char *tls_hex = NULL;

    g_assert_no_error(error);
    v = cv_attest_evidence_verify(bundle, pol, nonce, sizeof(nonce), manifest, 0, &error);
    g_assert_no_error(error);
    attest_test_assert_status(v, "evidence.nonce", CV_ATTEST_PASS);
    attest_test_assert_status(v, "evidence.manifest", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.ek_chain", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.signature", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.ak", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.nonce", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.pcr_digest", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.pcr16.manifest", CV_ATTEST_PASS);
    g_assert_true(cv_attest_verdict_passed(v));
    tls_hex = cv_attest_evidence_tls_key_sha256(bundle, &error);
    g_assert_cmpstr(tls_hex, ==, "544c532d4b45592d5348413235362d544c532d4b45592d5348413235362d7800");
    for (gsize i = 0; i < G_N_ELEMENTS(bundle_cases); i++)
        check_bundle_case(&bundle_cases[i], bundle, pol);

    /* hostile bundles: wrong types and sizes are errors, not crashes */
    {
        static const char *const bad[] = {
            "[]", "{}", "{\"platform\":\"vtpm\"}", "{\"platform\":\"vtpm\",\"nonce\":12}",
            "{\"platform\":\"vtpm\",\"nonce\":\"00\",\"tls_key_sha256\":\"00\"}",
            "{\"platform\":\"vtpm\",\"nonce\":\"00\",\"tls_key_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"tpm\":{}}",
            "{\"platform\":\"vtpm\",\"nonce\":\"00\",\"tls_key_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"tpm\":{\"ak_public\":\"AAAA\",\"quote\":\"AAAA\",\"signature\":\"AAAA\",\"pcrs\":{}}}",
            "{\"platform\":\"vtpm\",\"nonce\":\"00\",\"tls_key_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"tpm\":{\"ak_public\":\"AAAA\",\"quote\":\"AAAA\",\"signature\":\"AAAA\"}}",
        };
        for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
            g_autoptr(GError) e = NULL;
            g_autoptr(JsonNode) n = cv_json_parse(bad[i], -1, NULL);
            g_autoptr(CvAttestVerdict) r = cv_attest_evidence_verify(n, pol, nonce, sizeof(nonce), NULL, 0, &e);
            g_assert_null(r);
            g_assert_error(e, CV_ERROR, CV_ERROR_INVALID);
        }
    }
}

static void
test_credential(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) bundle = cv_agent_collector_collect(collector, nonce, sizeof(nonce), tls, manifest, &error);
    JsonObject *tpm = json_object_get_object_member(json_node_get_object(bundle), "tpm");
    g_autoptr(GBytes) ek = cv_base64_decode_strict(json_object_get_string_member(tpm, "ek_certificate"), NULL);
    g_autoptr(GBytes) akpub = cv_base64_decode_strict(json_object_get_string_member(tpm, "ak_public"), NULL);
    TPM2B_PUBLIC pub;
    g_autoptr(GBytes) name = NULL, secret = NULL, blob = NULL, enc = NULL, got = NULL;

    g_assert_no_error(error);
    g_assert_true(cv_attest_tpm2b_public_parse(g_bytes_get_data(akpub, NULL), g_bytes_get_size(akpub), &pub, &error));
    name = cv_attest_tpm_public_name(&pub.publicArea, &error);
    g_assert_true(cv_attest_make_credential(ek, name, &secret, &blob, &enc, &error));
    g_assert_no_error(error);
    got = cv_agent_collector_activate_credential(collector, blob, enc, &error);
    g_assert_no_error(error);
    g_assert_true(g_bytes_equal(got, secret));

    /* sealed for another AK name: the TPM refuses */
    {
        g_autoptr(GBytes) s2 = NULL, b2 = NULL, e2 = NULL, got2 = NULL;
        g_autoptr(GError) err2 = NULL;
        guint8 other[34];
        memcpy(other, g_bytes_get_data(name, NULL), 34);
        other[20] ^= 1;
        g_autoptr(GBytes) other_name = g_bytes_new(other, 34);
        g_assert_true(cv_attest_make_credential(ek, other_name, &s2, &b2, &e2, &error));
        got2 = cv_agent_collector_activate_credential(collector, b2, e2, &err2);
        g_assert_null(got2);
        g_assert_error(err2, CV_ERROR, CV_ERROR_INVALID);
    }
    /* garbage blobs */
    {
        g_autoptr(GBytes) junk = g_bytes_new("\x00\x05zzzzz", 7);
        g_autoptr(GError) err3 = NULL;
        g_autoptr(GBytes) got3 = cv_agent_collector_activate_credential(collector, junk, enc, &err3);
        g_assert_null(got3);
        g_assert_error(err3, CV_ERROR, CV_ERROR_INVALID);
    }
}

static char *
vector_b64(const char *rel)
{
    g_autoptr(GBytes) b = attest_test_vector(rel);

    return g_base64_encode(g_bytes_get_data(b, NULL), g_bytes_get_size(b));
}

/* Real SNP and TDX evidence wrapped in bundles: signatures and chains verify, but their report data
 * is not this request's binding, so the verdict fails on exactly that check. */
static void
test_tee_bundles(void)
{
    g_autofree char *nonce_hex = cv_hex_encode(nonce, sizeof(nonce));
    g_autofree char *tls_hex = cv_hex_encode(tls, sizeof(tls));
    g_autofree char *report = vector_b64("sev-snp/milan-vlek-report.bin");
    g_autofree char *vlek = vector_b64("sev-snp/milan-vlek.der");
    g_autofree char *quote = vector_b64("tdx/spr-e4-quote-v4.dat");
    g_autofree char *snp_json = g_strdup_printf("{\"version\":1,\"platform\":\"sev-snp\",\"nonce\":\"%s\",\"tls_key_sha256\":\"%s\","
                                                "\"sev_snp\":{\"report\":\"%s\",\"vcek\":\"%s\"}}", nonce_hex, tls_hex, report, vlek);
    g_autofree char *tdx_json = g_strdup_printf("{\"version\":1,\"platform\":\"tdx\",\"nonce\":\"%s\",\"tls_key_sha256\":\"%s\","
                                                "\"tdx\":{\"quote\":\"%s\"}}", nonce_hex, tls_hex, quote);
    g_autofree char *snp_pol = g_strdup_printf("{\"platform\":\"sev-snp\",\"ca_file\":\"%s/sev-snp/ask_ark_milan_vlek.pem\"}",
                                               g_getenv("COVIRT_TESTVECTORS"));
    g_autofree char *tdx_pol = g_strdup_printf("{\"platform\":\"tdx\",\"ca_file\":\"%s/tdx/intel_sgx_root_ca.pem\"}",
                                               g_getenv("COVIRT_TESTVECTORS"));
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) snp = cv_json_parse(snp_json, -1, &error);
    g_autoptr(JsonNode) tdx = cv_json_parse(tdx_json, -1, &error);
    g_autoptr(JsonNode) sp = cv_attest_policy_parse(snp_pol, -1, "sev-snp", NULL, &error);
    g_autoptr(JsonNode) tp = cv_attest_policy_parse(tdx_pol, -1, "tdx", NULL, &error);
    g_autoptr(GDateTime) june = g_date_time_new_utc(2025, 6, 1, 0, 0, 0);
    g_autoptr(CvAttestVerdict) sv = NULL, tv = NULL;
    g_autofree char *sfailed = NULL, *tfailed = NULL;

    g_assert_no_error(error);
    sv = cv_attest_evidence_verify(snp, sp, nonce, sizeof(nonce), NULL, g_date_time_to_unix(june), &error);
    g_assert_no_error(error);
    attest_test_assert_status(sv, "snp.signature", CV_ATTEST_PASS);
    attest_test_assert_status(sv, "snp.chain", CV_ATTEST_PASS);
    sfailed = cv_attest_verdict_failed_names(sv);
    g_assert_cmpstr(sfailed, ==, "snp.report_data");
    tv = cv_attest_evidence_verify(tdx, tp, nonce, sizeof(nonce), NULL, 0, &error);
    g_assert_no_error(error);
    attest_test_assert_status(tv, "tdx.signature", CV_ATTEST_PASS);
    tfailed = cv_attest_verdict_failed_names(tv);
    g_assert_cmpstr(tfailed, ==, "tdx.report_data");
    /* with a manifest expected, RTMR 3 of this real quote (never extended: zero) does not hold it */
    {
        g_autoptr(CvAttestVerdict) mv = cv_attest_evidence_verify(tdx, tp, nonce, sizeof(nonce), manifest, 0, &error);
        g_autofree char *mfailed = NULL;
        const CvAttestCheck *c;
        g_assert_no_error(error);
        mfailed = cv_attest_verdict_failed_names(mv);
        g_assert_cmpstr(mfailed, ==, "evidence.manifest, tdx.report_data, tdx.rtmr3.manifest");
        c = cv_attest_verdict_find(mv, "tdx.rtmr3.manifest");
        g_assert_nonnull(strstr(c->detail, "RTMR 3 is 000000000000"));
    }

    /* evidence of one platform against a policy of another is refused outright */
    {
        g_autoptr(GError) e = NULL;
        g_autoptr(CvAttestVerdict) x = cv_attest_evidence_verify(snp, tp, nonce, sizeof(nonce), NULL, 0, &e);
        g_assert_null(x);
        g_assert_error(e, CV_ERROR, CV_ERROR_VERIFY);
    }
}

/* SEV-SNP under COCONUT-SVSM: the vTPM quote (made here by swtpm) rides with the SNP report, and
 * the report must bind the quote's AK. The real Milan report binds something else, so exactly
 * snp.report_data fails, expecting SHA-512(report_data ‖ SHA-256(AK)); the vTPM checks pass. */
static void
test_snp_vtpm_bundle(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) vbundle = cv_agent_collector_collect(collector, nonce, sizeof(nonce), tls, manifest, &error);
    g_autofree char *report = vector_b64("sev-snp/milan-vlek-report.bin");
    g_autofree char *vlek = vector_b64("sev-snp/milan-vlek.der");
    g_autofree char *snp_pol = g_strdup_printf("{\"platform\":\"sev-snp\",\"ca_file\":\"%s/sev-snp/ask_ark_milan_vlek.pem\"}",
                                               g_getenv("COVIRT_TESTVECTORS"));
    g_autoptr(JsonNode) sp = cv_attest_policy_parse(snp_pol, -1, "sev-snp", NULL, &error);
    g_autoptr(GDateTime) june = g_date_time_new_utc(2025, 6, 1, 0, 0, 0);
    g_autoptr(JsonNode) bundle = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    g_autofree char *failed = NULL, *want_hex = NULL;
    g_autofree guint8 *ak = NULL;
    gsize ak_len = 0;
    guint8 rd[64], want[64];
    JsonObject *o, *snp;
    const CvAttestCheck *c;

    g_assert_no_error(error);
    bundle = json_node_copy(vbundle);
    o = json_node_get_object(bundle);
    json_object_set_string_member(o, "platform", "sev-snp");
    snp = json_object_new();
    json_object_set_string_member(snp, "report", report);
    json_object_set_string_member(snp, "vcek", vlek);
    json_object_set_object_member(o, "sev_snp", snp);
    v = cv_attest_evidence_verify(bundle, sp, nonce, sizeof(nonce), manifest, g_date_time_to_unix(june), &error);
    g_assert_no_error(error);
    attest_test_assert_status(v, "tpm.signature", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.pcr16.manifest", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.ak_binding", CV_ATTEST_PASS);
    attest_test_assert_status(v, "snp.signature", CV_ATTEST_PASS);
    attest_test_assert_status(v, "snp.chain", CV_ATTEST_PASS);
    g_assert_null(cv_attest_verdict_find(v, "tpm.ek_chain"));
    failed = cv_attest_verdict_failed_names(v);
    g_assert_cmpstr(failed, ==, "snp.report_data");
    ak = g_base64_decode(json_object_get_string_member(json_object_get_object_member(o, "tpm"), "ak_public"), &ak_len);
    g_assert_true(cv_attest_report_data(nonce, sizeof(nonce), tls, manifest, rd, &error));
    g_assert_true(cv_attest_tee_vtpm_report_data(rd, ak, ak_len, want, &error));
    want_hex = cv_hex_encode(want, sizeof(want));
    c = cv_attest_verdict_find(v, "snp.report_data");
    g_assert_nonnull(strstr(c->detail, want_hex));

    /* a tampered nonce in the vTPM part fails there too */
    {
        g_autoptr(CvAttestVerdict) w = NULL;
        guint8 other[32];
        memcpy(other, nonce, sizeof(other));
        other[0] ^= 1;
        w = cv_attest_evidence_verify(bundle, sp, other, sizeof(other), manifest, g_date_time_to_unix(june), &error);
        g_assert_no_error(error);
        g_assert_cmpint(cv_attest_verdict_find(w, "evidence.nonce")->status, ==, CV_ATTEST_FAIL);
        g_assert_cmpint(cv_attest_verdict_find(w, "tpm.nonce")->status, ==, CV_ATTEST_FAIL);
    }
}

/* A TDX bundle that passes: a v5 quote (built under the test's own chain) whose REPORTDATA is this
 * request's binding and whose RTMR 3 holds the manifest extended once, as the tdx agent leaves it;
 * then the same quote with RTMR 3 as it would be for another manifest. */
static void
test_tdx_bundle_passes(void)
{
    g_autoptr(GBytes) real = attest_test_vector("tdx/spr-e4-quote-v4.dat");
    g_autofree char *nonce_hex = cv_hex_encode(nonce, sizeof(nonce));
    g_autofree char *tls_hex = cv_hex_encode(tls, sizeof(tls));
    g_autofree char *manifest_hex = cv_hex_encode(manifest, sizeof(manifest));
    g_autofree char *root_text = NULL, *root_escaped = NULL;
    guint8 rd[64], buf[96] = { 0 }, rtmr3[48];
    unsigned int n = 0;
    TdxTestChain t;

    g_assert_nonnull(real);
    tdx_test_chain_init(&t);
    root_text = g_strndup(g_bytes_get_data(t.root_pem, NULL), g_bytes_get_size(t.root_pem));
    root_escaped = g_strescape(root_text, NULL);
    g_assert_true(cv_attest_report_data(nonce, sizeof(nonce), tls, manifest, rd, NULL));
    cv_attest_rtmr3_manifest_value(manifest, buf + 48);
    EVP_Digest(buf, sizeof(buf), rtmr3, &n, EVP_sha384(), NULL);
    for (int round = 0; round < 2; round++) {
        g_autoptr(GBytes) q = NULL;
        g_autofree char *q64 = NULL, *json = NULL, *pol = NULL, *failed = NULL;
        g_autoptr(JsonNode) bundle = NULL, tp = NULL;
        g_autoptr(CvAttestVerdict) v = NULL;
        g_autoptr(GError) error = NULL;
        if (round == 1)
            rtmr3[0] ^= 1;
        q = tdx_test_build_quote(&t, real, 5, 3, rtmr3, rd);
        q64 = g_base64_encode(g_bytes_get_data(q, NULL), g_bytes_get_size(q));
        json = g_strdup_printf("{\"version\":1,\"platform\":\"tdx\",\"nonce\":\"%s\",\"tls_key_sha256\":\"%s\","
                               "\"manifest_sha256\":\"%s\",\"tdx\":{\"quote\":\"%s\"}}", nonce_hex, tls_hex,
                               manifest_hex, q64);
        pol = g_strdup_printf("{\"platform\":\"tdx\",\"ca_pem\":\"%s\"}", root_escaped);
        bundle = cv_json_parse(json, -1, &error);
        g_assert_no_error(error);
        tp = cv_attest_policy_parse(pol, -1, "tdx", NULL, &error);
        g_assert_no_error(error);
        v = cv_attest_evidence_verify(bundle, tp, nonce, sizeof(nonce), manifest, 0, &error);
        g_assert_no_error(error);
        failed = cv_attest_verdict_failed_names(v);
        if (round == 0) {
            g_assert_cmpstr(failed, ==, "");
            attest_test_assert_status(v, "tdx.report_data", CV_ATTEST_PASS);
            attest_test_assert_status(v, "tdx.rtmr3.manifest", CV_ATTEST_PASS);
            g_assert_true(cv_attest_verdict_passed(v));
        } else {
            g_assert_cmpstr(failed, ==, "tdx.rtmr3.manifest");
        }
    }
    tdx_test_chain_clear(&t);
}

static char *
make_kernel_root(const guint8 *rtmr3, gsize len)
{
    g_autofree char *root = g_dir_make_tmp("covirt-kroot-XXXXXX", NULL);
    g_autofree char *tsm = g_build_filename(root, "sys/kernel/config/tsm/report", NULL);
    g_autofree char *mr = g_build_filename(root, "sys/class/misc/tdx_guest/measurements", NULL);
    g_autofree char *rtmr = g_build_filename(mr, "rtmr3:sha384", NULL);

    g_assert_cmpint(g_mkdir_with_parents(tsm, 0700), ==, 0);
    g_assert_cmpint(g_mkdir_with_parents(mr, 0700), ==, 0);
    if (rtmr3)
        g_assert_true(g_file_set_contents(rtmr, (const char *)rtmr3, len, NULL));
    return g_steal_pointer(&root);
}

static GBytes *
read_rtmr3(const char *root)
{
    g_autofree char *rtmr = g_build_filename(root, "sys/class/misc/tdx_guest/measurements/rtmr3:sha384", NULL);
    return cv_read_file(rtmr, 4096, NULL);
}

/* The tdx collector's RTMR 3 extension, against a directory standing in for Linux 6.16's
 * measurement attributes (no TDX guest here): what it writes is the 48 bytes the kernel would
 * extend with, once; a non-zero RTMR 3 or a second manifest is refused; no attribute, a clear error. */
static void
test_rtmr3_extension(void)
{
    static const guint8 zero[48], other[32] = "ANOTHER-MANIFEST-ANOTHER-MANIFE";
    guint8 want[48] = { 0 }, value[48];
    g_autofree char *root = make_kernel_root(zero, sizeof(zero));
    g_autofree char *dirty = make_kernel_root((const guint8 *)"x", 1);
    g_autofree char *bare = make_kernel_root(NULL, 0);
    g_autoptr(GError) error = NULL;
    g_autoptr(CvAgentCollector) c = cv_agent_collector_new_at("tdx", NULL, NULL, root, &error);
    g_autoptr(CvAgentCollector) d = cv_agent_collector_new_at("tdx", NULL, NULL, dirty, &error);
    g_autoptr(CvAgentCollector) b = cv_agent_collector_new_at("tdx", NULL, NULL, bare, &error);
    g_autoptr(GBytes) after = NULL, again = NULL;

    g_assert_no_error(error);
    memcpy(want, manifest, 32);
    cv_attest_rtmr3_manifest_value(manifest, value);
    g_assert_cmpmem(value, 48, want, 48);
    g_assert_true(cv_agent_collector_extend_manifest(c, manifest, &error));
    g_assert_no_error(error);
    after = read_rtmr3(root);
    g_assert_cmpmem(g_bytes_get_data(after, NULL), g_bytes_get_size(after), want, 48);
    g_assert_true(cv_agent_collector_extend_manifest(c, manifest, &error));
    g_assert_false(cv_agent_collector_extend_manifest(c, other, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_CONFLICT);
    g_clear_error(&error);
    again = read_rtmr3(root);
    g_assert_true(g_bytes_equal(after, again));

    g_assert_false(cv_agent_collector_extend_manifest(d, manifest, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_CONFLICT);
    g_clear_error(&error);
    g_assert_false(cv_agent_collector_extend_manifest(b, manifest, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE);
    g_assert_nonnull(strstr(error->message, "6.16"));
    g_clear_error(&error);

    /* no configfs-tsm at all: the collector says which interface is missing */
    {
        g_autoptr(CvAgentCollector) none = cv_agent_collector_new_at("tdx", NULL, NULL, "/nonexistent", &error);
        g_assert_null(none);
        g_assert_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE);
        g_assert_nonnull(strstr(error->message, "configfs-tsm"));
        g_clear_error(&error);
    }
    for (const char *r = root; r; r = r == root ? dirty : r == dirty ? bare : NULL) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", r);
        g_assert_cmpint(system(cmd), ==, 0);
    }
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    int rc;

    g_test_init(&argc, &argv, NULL);
    if (!swtpm_fixture_start(&fx, TRUE, &error)) {
        g_printerr("swtpm: %s\n", error->message);
        swtpm_fixture_stop(&fx);
        return 1;
    }
    collector = cv_agent_collector_new("vtpm", fx.tcti, "/nonexistent/event-log", &error);
    if (!collector) {
        g_printerr("collector: %s\n", error->message);
        swtpm_fixture_stop(&fx);
        return 1;
    }
    g_test_add_func("/attest/evidence/bundle", test_bundle);
    g_test_add_func("/attest/evidence/credential", test_credential);
    g_test_add_func("/attest/evidence/tee-bundles", test_tee_bundles);
    g_test_add_func("/attest/evidence/rtmr3-extension", test_rtmr3_extension);
    g_test_add_func("/attest/evidence/snp-vtpm-bundle", test_snp_vtpm_bundle);
    g_test_add_func("/attest/evidence/tdx-bundle-passes", test_tdx_bundle_passes);
    rc = g_test_run();
    cv_agent_collector_free(collector);
    swtpm_fixture_stop(&fx);
    return rc;
}
