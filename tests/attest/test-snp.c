/* SEV-SNP verification on real reports (../shared/testvectors/sev-snp). */
#include <string.h>
#include "snp-report.h"
#include "cv-util.h"
#include "attest-test.h"

static const char *vectors;

static CvAttestSnpTrust *
trust(const char *name)
{
    g_autofree char *rel = g_strconcat("sev-snp/", name, NULL);
    g_autoptr(GBytes) pem = attest_test_vector(rel);
    g_autoptr(GError) error = NULL;
    CvAttestSnpTrust *t = cv_attest_snp_trust_new(g_bytes_get_data(pem, NULL), g_bytes_get_size(pem), &error);

    g_assert_no_error(error);
    return t;
}

static CvAttestVerdict *
verify(CvAttestSnpTrust *t, const guint8 *report, gsize len, GBytes *cert, JsonObject *policy, gint64 at)
{
    g_autoptr(GError) error = NULL;
    CvAttestVerdict *v = cv_attest_snp_verify(t, report, len, g_bytes_get_data(cert, NULL),
                                              g_bytes_get_size(cert), policy, at, &error);
    g_assert_no_error(error);
    g_assert_nonnull(v);
    return v;
}

static gint64
rfc3339(const char *text)
{
    g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601(text, NULL);
    return g_date_time_to_unix(dt);
}

static void
test_milan_vcek(void)
{
    g_autoptr(CvAttestSnpTrust) t = trust("ask_ark_milan.pem");
    g_autoptr(GBytes) report = attest_test_vector("sev-snp/milan-report.bin");
    g_autoptr(GBytes) vcek = attest_test_vector("sev-snp/milan-vcek.der");
    g_autoptr(JsonObject) allow = attest_test_policy_object("{\"allow_debug\": true}");
    g_autoptr(CvAttestVerdict) def = verify(t, g_bytes_get_data(report, NULL), g_bytes_get_size(report), vcek, NULL, 0);
    g_autoptr(CvAttestVerdict) dbg = NULL;
    g_autofree char *failed = NULL;

    /* signature, chain and TCB verify, yet the default policy refuses a debuggable guest */
    attest_test_assert_status(def, "snp.chain", CV_ATTEST_PASS);
    attest_test_assert_status(def, "snp.signature", CV_ATTEST_PASS);
    attest_test_assert_status(def, "snp.tcb_extensions", CV_ATTEST_PASS);
    attest_test_assert_status(def, "snp.chip_id", CV_ATTEST_PASS);
    attest_test_assert_status(def, "snp.signing_key", CV_ATTEST_PASS);
    attest_test_assert_status(def, "snp.policy.debug", CV_ATTEST_FAIL);
    failed = cv_attest_verdict_failed_names(def);
    g_assert_cmpstr(failed, ==, "snp.policy.debug");
    g_assert_false(cv_attest_verdict_passed(def));

    dbg = verify(t, g_bytes_get_data(report, NULL), g_bytes_get_size(report), vcek, allow, 0);
    g_assert_true(cv_attest_verdict_passed(dbg));
}

static void
test_vlek_at(void)
{
    g_autoptr(CvAttestSnpTrust) t = trust("ask_ark_milan_vlek.pem");
    g_autoptr(GBytes) report = attest_test_vector("sev-snp/milan-vlek-report.bin");
    g_autoptr(GBytes) vlek = attest_test_vector("sev-snp/milan-vlek.der");
    g_autoptr(CvAttestVerdict) before = verify(t, g_bytes_get_data(report, NULL), g_bytes_get_size(report), vlek,
                                               NULL, rfc3339("2025-06-01T00:00:00Z"));
    g_autoptr(CvAttestVerdict) after = verify(t, g_bytes_get_data(report, NULL), g_bytes_get_size(report), vlek,
                                              NULL, rfc3339("2025-12-11T00:00:00Z"));

    g_assert_true(cv_attest_verdict_passed(before));
    attest_test_assert_status(before, "snp.signing_key", CV_ATTEST_PASS);
    attest_test_assert_status(before, "snp.chip_id", CV_ATTEST_NOT_CHECKED);
    /* expired VLEK */
    attest_test_assert_status(after, "snp.chain", CV_ATTEST_FAIL);
    g_assert_false(cv_attest_verdict_passed(after));
}

static void
test_flip_signed_region(void)
{
    g_autoptr(CvAttestSnpTrust) t = trust("ask_ark_milan.pem");
    g_autoptr(GBytes) report = attest_test_vector("sev-snp/milan-report.bin");
    g_autoptr(GBytes) vcek = attest_test_vector("sev-snp/milan-vcek.der");
    g_autoptr(JsonObject) allow = attest_test_policy_object("{\"allow_debug\": true}");
    gsize len = g_bytes_get_size(report);
    g_autofree guint8 *copy = g_memdup2(g_bytes_get_data(report, NULL), len);
    guint tested = 0;

    /* every offset of the signed part and of r and s */
    for (gsize off = 0; off < CV_ATTEST_SNP_SIGNED_SIZE + 144; off++) {
        g_autoptr(CvAttestVerdict) v = NULL;
        g_autoptr(GError) error = NULL;

        copy[off] ^= 0x01;
        v = cv_attest_snp_verify(t, copy, len, g_bytes_get_data(vcek, NULL), g_bytes_get_size(vcek), allow, 0,
                                 &error);
        copy[off] ^= 0x01;
        if (!v) {
            /* a flipped version or key field may make the report unreadable: refused too */
            g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
            continue;
        }
        g_assert_false(cv_attest_verdict_passed(v));
        attest_test_assert_status(v, "snp.signature", CV_ATTEST_FAIL);
        tested++;
    }
    g_assert_cmpuint(tested, >, CV_ATTEST_SNP_SIGNED_SIZE);
}

static void
test_wrong_chain(void)
{
    g_autoptr(CvAttestSnpTrust) t = trust("ask_ark_genoa.pem");
    g_autoptr(GBytes) report = attest_test_vector("sev-snp/milan-report.bin");
    g_autoptr(GBytes) vcek = attest_test_vector("sev-snp/milan-vcek.der");
    g_autoptr(JsonObject) allow = attest_test_policy_object("{\"allow_debug\": true}");
    g_autoptr(CvAttestVerdict) v = verify(t, g_bytes_get_data(report, NULL), g_bytes_get_size(report), vcek,
                                          allow, 0);

    attest_test_assert_status(v, "snp.chain", CV_ATTEST_FAIL);
    attest_test_assert_status(v, "snp.signature", CV_ATTEST_FAIL);
    g_assert_false(cv_attest_verdict_passed(v));
}

static void
test_vlek_as_vcek(void)
{
    /* a VLEK certificate presented for a VCEK-signed report must not pass, even with its chain */
    g_autoptr(CvAttestSnpTrust) t = trust("ask_ark_milan_vlek.pem");
    g_autoptr(GBytes) report = attest_test_vector("sev-snp/milan-report.bin");
    g_autoptr(GBytes) vlek = attest_test_vector("sev-snp/milan-vlek.der");
    g_autoptr(JsonObject) allow = attest_test_policy_object("{\"allow_debug\": true}");
    g_autoptr(CvAttestVerdict) v = verify(t, g_bytes_get_data(report, NULL), g_bytes_get_size(report), vlek,
                                          allow, rfc3339("2025-06-01T00:00:00Z"));

    attest_test_assert_status(v, "snp.signing_key", CV_ATTEST_FAIL);
    attest_test_assert_status(v, "snp.signature", CV_ATTEST_FAIL);
    g_assert_false(cv_attest_verdict_passed(v));
}

static void
test_policy_values(void)
{
    g_autoptr(CvAttestSnpTrust) t = trust("ask_ark_milan.pem");
    g_autoptr(GBytes) report = attest_test_vector("sev-snp/milan-report.bin");
    g_autoptr(GBytes) vcek = attest_test_vector("sev-snp/milan-vcek.der");
    const guint8 *d = g_bytes_get_data(report, NULL);
    g_autofree char *meas = cv_hex_encode(d + 0x90, 48);
    g_autofree char *rd = cv_hex_encode(d + 0x50, 64);
    g_autofree char *good_json = g_strdup_printf("{\"allow_debug\":true,\"measurement\":[\"%s\"],\"report_data\":\"%s\","
                                                 "\"vmpl\":%u,\"minimum_tcb\":{\"bootloader\":2,\"snp\":5,\"microcode\":68}}",
                                                 meas, rd, d[0x30]);
    g_autoptr(JsonObject) good = attest_test_policy_object(good_json);
    g_autoptr(CvAttestVerdict) ok = verify(t, d, g_bytes_get_size(report), vcek, good, 0);
    g_autoptr(JsonObject) bad_meas = NULL, bad_rd = NULL, bad_tcb = NULL, bad_vmpl = NULL;
    g_autoptr(CvAttestVerdict) v1 = NULL, v2 = NULL, v3 = NULL, v4 = NULL;
    g_autofree char *m2 = g_strdup(meas), *r2 = g_strdup(rd);
    g_autofree char *j1 = NULL, *j2 = NULL;

    g_assert_true(cv_attest_verdict_passed(ok));
    attest_test_assert_status(ok, "snp.measurement", CV_ATTEST_PASS);
    attest_test_assert_status(ok, "snp.report_data", CV_ATTEST_PASS);
    attest_test_assert_status(ok, "snp.minimum_tcb", CV_ATTEST_PASS);
    attest_test_assert_status(ok, "snp.vmpl", CV_ATTEST_PASS);

    m2[0] = m2[0] == '0' ? '1' : '0';
    r2[127] = r2[127] == '0' ? '1' : '0';
    j1 = g_strdup_printf("{\"allow_debug\":true,\"measurement\":\"%s\"}", m2);
    j2 = g_strdup_printf("{\"allow_debug\":true,\"report_data\":\"%s\"}", r2);
    bad_meas = attest_test_policy_object(j1);
    bad_rd = attest_test_policy_object(j2);
    bad_tcb = attest_test_policy_object("{\"allow_debug\":true,\"minimum_tcb\":{\"microcode\":69}}");
    bad_vmpl = attest_test_policy_object("{\"allow_debug\":true,\"vmpl\":3}");
    v1 = verify(t, d, g_bytes_get_size(report), vcek, bad_meas, 0);
    v2 = verify(t, d, g_bytes_get_size(report), vcek, bad_rd, 0);
    v3 = verify(t, d, g_bytes_get_size(report), vcek, bad_tcb, 0);
    v4 = verify(t, d, g_bytes_get_size(report), vcek, bad_vmpl, 0);
    attest_test_assert_status(v1, "snp.measurement", CV_ATTEST_FAIL);
    attest_test_assert_status(v2, "snp.report_data", CV_ATTEST_FAIL);
    attest_test_assert_status(v3, "snp.minimum_tcb", CV_ATTEST_FAIL);
    attest_test_assert_status(v4, "snp.vmpl", CV_ATTEST_FAIL);
    g_assert_false(cv_attest_verdict_passed(v1) || cv_attest_verdict_passed(v2) ||
                   cv_attest_verdict_passed(v3) || cv_attest_verdict_passed(v4));
}

static void
test_hostile_input(void)
{
    g_autoptr(CvAttestSnpTrust) t = trust("ask_ark_milan.pem");
    g_autoptr(GBytes) report = attest_test_vector("sev-snp/milan-report.bin");
    g_autoptr(GBytes) vcek = attest_test_vector("sev-snp/milan-vcek.der");
    g_autoptr(JsonObject) bad_policy = attest_test_policy_object("{\"measurement\": 12}");
    const guint8 *d = g_bytes_get_data(report, NULL);
    gsize lens[] = { 0, 1, 0x2A0, 0x49F, 0x4A1 };
    g_autofree guint8 *big = g_malloc0(0x4A1);
    g_autoptr(CvAttestVerdict) v = NULL;

    memcpy(big, d, 0x4A0);
    for (gsize i = 0; i < G_N_ELEMENTS(lens); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CvAttestVerdict) bad = cv_attest_snp_verify(t, big, lens[i], g_bytes_get_data(vcek, NULL),
                                                              g_bytes_get_size(vcek), NULL, 0, &error);
        g_assert_null(bad);
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    }
    /* a truncated certificate and a policy value of the wrong type fail their checks */
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(CvAttestVerdict) bad = cv_attest_snp_verify(t, d, 0x4A0, g_bytes_get_data(vcek, NULL), 100,
                                                              NULL, 0, &error);
        g_assert_no_error(error);
        attest_test_assert_status(bad, "snp.chain", CV_ATTEST_FAIL);
        attest_test_assert_status(bad, "snp.signature", CV_ATTEST_FAIL);
    }
    v = verify(t, d, 0x4A0, vcek, bad_policy, 0);
    attest_test_assert_status(v, "snp.measurement", CV_ATTEST_FAIL);
}

/* A certificate table as the host hands it with an extended report: ARK, then the VCEK */
static void
test_cert_table(void)
{
    static const guint8 ark_guid[16] = { 0xa6, 0x04, 0xb4, 0xc0, 0x03, 0xa8, 0x52, 0x49,
                                         0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae };
    static const guint8 vcek_guid[16] = { 0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45,
                                          0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd };
    g_autoptr(GBytes) vcek = attest_test_vector("sev-snp/milan-vcek.der");
    g_autoptr(GByteArray) t = g_byte_array_new();
    guint32 off = 3 * 24, n = g_bytes_get_size(vcek), le;
    guint8 zero[24] = { 0 };
    g_autoptr(GBytes) table = NULL, found = NULL;
    g_autoptr(GError) error = NULL;

    g_byte_array_append(t, ark_guid, 16);
    le = GUINT32_TO_LE(off + n); g_byte_array_append(t, (guint8 *)&le, 4);
    le = GUINT32_TO_LE(4); g_byte_array_append(t, (guint8 *)&le, 4);
    g_byte_array_append(t, vcek_guid, 16);
    le = GUINT32_TO_LE(off); g_byte_array_append(t, (guint8 *)&le, 4);
    le = GUINT32_TO_LE(n); g_byte_array_append(t, (guint8 *)&le, 4);
    g_byte_array_append(t, zero, 24);
    g_byte_array_append(t, g_bytes_get_data(vcek, NULL), n);
    g_byte_array_append(t, (const guint8 *)"ARK!", 4);
    table = g_byte_array_free_to_bytes(g_steal_pointer(&t));
    found = cv_attest_snp_cert_table_find(table, &error);
    g_assert_no_error(error);
    g_assert_true(g_bytes_equal(found, vcek));

    /* an entry pointing past the table, and a table without a VCEK */
    for (gsize l = 0; l < g_bytes_get_size(table) - 4; l += 37) {
        g_autoptr(GBytes) part = g_bytes_new_from_bytes(table, 0, l);
        g_autoptr(GError) e = NULL;
        g_autoptr(GBytes) f = cv_attest_snp_cert_table_find(part, &e);
        g_assert_null(f);
        g_assert_nonnull(e);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    vectors = g_getenv("COVIRT_TESTVECTORS");
    if (!vectors) {
        g_printerr("COVIRT_TESTVECTORS is not set\n");
        return 1;
    }
    g_test_add_func("/attest/snp/milan-vcek", test_milan_vcek);
    g_test_add_func("/attest/snp/vlek-at", test_vlek_at);
    g_test_add_func("/attest/snp/flip-signed-region", test_flip_signed_region);
    g_test_add_func("/attest/snp/wrong-chain", test_wrong_chain);
    g_test_add_func("/attest/snp/vlek-as-vcek", test_vlek_as_vcek);
    g_test_add_func("/attest/snp/policy-values", test_policy_values);
    g_test_add_func("/attest/snp/hostile-input", test_hostile_input);
    g_test_add_func("/attest/snp/cert-table", test_cert_table);
    return g_test_run();
}
