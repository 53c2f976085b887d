/* SEV-SNP verification on real reports (../shared/testvectors/sev-snp). */
#include <string.h>
#include "snp-report.h"
#include "cv-util.h"
#include "attest-test.h"

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

#define ALLOW_DEBUG "{\"allow_debug\": true}"

/* One report with one endorsement certificate under one trust, and what its verdict must say. */
typedef struct {
    const char *name;
    const char *trust, *report, *cert;   /* under sev-snp/ */
    const char *policy;                  /* NULL: the default */
    const char *at;                      /* RFC 3339; NULL: now */
    gboolean passed;
    const char *failed;                  /* the failed checks, when the case names them all */
    struct {
        const char *check;
        CvAttestStatus status;
    } expect[6];
} VerdictCase;

static const VerdictCase verdict_cases[] = {
    /* signature, chain and TCB verify, yet the default policy refuses a debuggable guest */
    { "milan-vcek", "ask_ark_milan.pem", "milan-report.bin", "milan-vcek.der", NULL, NULL, FALSE, "snp.policy.debug",
      { { "snp.chain", CV_ATTEST_PASS }, { "snp.signature", CV_ATTEST_PASS },
        { "snp.tcb_extensions", CV_ATTEST_PASS }, { "snp.chip_id", CV_ATTEST_PASS },
        { "snp.signing_key", CV_ATTEST_PASS }, { "snp.policy.debug", CV_ATTEST_FAIL } } },
    { "milan-vcek-allow-debug", "ask_ark_milan.pem", "milan-report.bin", "milan-vcek.der", ALLOW_DEBUG, NULL, TRUE,
      "" },
    { "vlek", "ask_ark_milan_vlek.pem", "milan-vlek-report.bin", "milan-vlek.der", NULL, "2025-06-01T00:00:00Z", TRUE,
      "", { { "snp.signing_key", CV_ATTEST_PASS }, { "snp.chip_id", CV_ATTEST_NOT_CHECKED } } },
    { "vlek-expired", "ask_ark_milan_vlek.pem", "milan-vlek-report.bin", "milan-vlek.der", NULL,
      "2025-12-11T00:00:00Z", FALSE, NULL, { { "snp.chain", CV_ATTEST_FAIL } } },
    { "wrong-chain", "ask_ark_genoa.pem", "milan-report.bin", "milan-vcek.der", ALLOW_DEBUG, NULL, FALSE, NULL,
      { { "snp.chain", CV_ATTEST_FAIL }, { "snp.signature", CV_ATTEST_FAIL } } },
    /* a VLEK certificate presented for a VCEK-signed report must not pass, even with its chain */
    { "vlek-as-vcek", "ask_ark_milan_vlek.pem", "milan-report.bin", "milan-vlek.der", ALLOW_DEBUG,
      "2025-06-01T00:00:00Z", FALSE, NULL,
      { { "snp.signing_key", CV_ATTEST_FAIL }, { "snp.signature", CV_ATTEST_FAIL } } },
};

static void
test_verdict(gconstpointer data)
{
    const VerdictCase *c = data;
    g_autofree char *report_path = g_strconcat("sev-snp/", c->report, NULL);
    g_autofree char *cert_path = g_strconcat("sev-snp/", c->cert, NULL);
    g_autoptr(CvAttestSnpTrust) t = trust(c->trust);
    g_autoptr(GBytes) report = attest_test_vector(report_path);
    g_autoptr(GBytes) cert = attest_test_vector(cert_path);
    g_autoptr(JsonObject) policy = c->policy ? attest_test_policy_object(c->policy) : NULL;
    g_autoptr(CvAttestVerdict) v = verify(t, g_bytes_get_data(report, NULL), g_bytes_get_size(report), cert, policy,
                                          c->at ? rfc3339(c->at) : 0);
    g_autofree char *failed = cv_attest_verdict_failed_names(v);

    for (gsize i = 0; i < G_N_ELEMENTS(c->expect) && c->expect[i].check; i++)
        attest_test_assert_status(v, c->expect[i].check, c->expect[i].status);
    if (c->failed)
        g_assert_cmpstr(failed, ==, c->failed);
    g_assert_cmpint(cv_attest_verdict_passed(v), ==, c->passed);
}

/* One policy member against the Milan report (debug allowed): @M@ / @R@ are its measurement and report
 * data, @m@ / @r@ the same with one digit changed, @V@ its VMPL. */
static const struct {
    const char *member;
    const char *check;
    CvAttestStatus status;
} policy_cases[] = {
    { "\"measurement\": [\"@M@\"]", "snp.measurement", CV_ATTEST_PASS },
    { "\"measurement\": \"@m@\"", "snp.measurement", CV_ATTEST_FAIL },
    { "\"measurement\": 12", "snp.measurement", CV_ATTEST_FAIL },
    { "\"report_data\": \"@R@\"", "snp.report_data", CV_ATTEST_PASS },
    { "\"report_data\": \"@r@\"", "snp.report_data", CV_ATTEST_FAIL },
    { "\"vmpl\": @V@", "snp.vmpl", CV_ATTEST_PASS },
    { "\"vmpl\": 3", "snp.vmpl", CV_ATTEST_FAIL },
    { "\"minimum_tcb\": {\"bootloader\": 2, \"snp\": 5, \"microcode\": 68}", "snp.minimum_tcb", CV_ATTEST_PASS },
    { "\"minimum_tcb\": {\"microcode\": 69}", "snp.minimum_tcb", CV_ATTEST_FAIL },
};

static void
test_policy_values(void)
{
    g_autoptr(CvAttestSnpTrust) t = trust("ask_ark_milan.pem");
    g_autoptr(GBytes) report = attest_test_vector("sev-snp/milan-report.bin");
    g_autoptr(GBytes) vcek = attest_test_vector("sev-snp/milan-vcek.der");
    const guint8 *d = g_bytes_get_data(report, NULL);
    g_autofree char *meas = cv_hex_encode(d + 0x90, 48);
    g_autofree char *rd = cv_hex_encode(d + 0x50, 64);
    g_autofree char *meas2 = g_strdup(meas), *rd2 = g_strdup(rd);
    g_autofree char *vmpl = g_strdup_printf("%u", d[0x30]);

    meas2[0] = meas2[0] == '0' ? '1' : '0';
    rd2[127] = rd2[127] == '0' ? '1' : '0';
    for (gsize i = 0; i < G_N_ELEMENTS(policy_cases); i++) {
        g_autofree char *member = attest_test_fill(policy_cases[i].member, "M", meas, "m", meas2, "R", rd, "r", rd2,
                                                   "V", vmpl, NULL);
        g_autofree char *json = g_strdup_printf("{\"allow_debug\": true, %s}", member);
        g_autoptr(JsonObject) policy = attest_test_policy_object(json);
        g_autoptr(CvAttestVerdict) v = verify(t, d, g_bytes_get_size(report), vcek, policy, 0);

        g_test_message("policy %s", json);
        attest_test_assert_status(v, policy_cases[i].check, policy_cases[i].status);
        g_assert_cmpint(cv_attest_verdict_passed(v), ==, policy_cases[i].status == CV_ATTEST_PASS);
    }
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
test_hostile_input(void)
{
    g_autoptr(CvAttestSnpTrust) t = trust("ask_ark_milan.pem");
    g_autoptr(GBytes) report = attest_test_vector("sev-snp/milan-report.bin");
    g_autoptr(GBytes) vcek = attest_test_vector("sev-snp/milan-vcek.der");
    const guint8 *d = g_bytes_get_data(report, NULL);
    gsize lens[] = { 0, 1, 0x2A0, 0x49F, 0x4A1 };
    g_autofree guint8 *big = g_malloc0(0x4A1);

    memcpy(big, d, 0x4A0);
    for (gsize i = 0; i < G_N_ELEMENTS(lens); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CvAttestVerdict) bad = cv_attest_snp_verify(t, big, lens[i], g_bytes_get_data(vcek, NULL),
                                                              g_bytes_get_size(vcek), NULL, 0, &error);
        g_assert_null(bad);
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    }
    /* a truncated certificate fails the chain and the signature (a policy value of the wrong type: policy_cases) */
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(CvAttestVerdict) bad = cv_attest_snp_verify(t, d, 0x4A0, g_bytes_get_data(vcek, NULL), 100,
                                                              NULL, 0, &error);
        g_assert_no_error(error);
        attest_test_assert_status(bad, "snp.chain", CV_ATTEST_FAIL);
        attest_test_assert_status(bad, "snp.signature", CV_ATTEST_FAIL);
    }
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
    attest_test_init(&argc, &argv);
    for (gsize i = 0; i < G_N_ELEMENTS(verdict_cases); i++) {
        g_autofree char *path = g_strdup_printf("/attest/snp/verdict/%s", verdict_cases[i].name);
        g_test_add_data_func(path, &verdict_cases[i], test_verdict);
    }
    g_test_add_func("/attest/snp/flip-signed-region", test_flip_signed_region);
    g_test_add_func("/attest/snp/policy-values", test_policy_values);
    g_test_add_func("/attest/snp/hostile-input", test_hostile_input);
    g_test_add_func("/attest/snp/cert-table", test_cert_table);
    return g_test_run();
}
