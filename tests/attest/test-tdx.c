/* TDX quote verification: v4 on a real quote (../shared/testvectors/tdx); v5 (TD report 1.0 and 1.5
 * bodies) on quotes this test builds from the real one under its own root, PCK and attestation keys. */
#include <string.h>
#include "tdx-quote.h"
#include "cv-util.h"
#include "attest-test.h"
#include "tdx-builder.h"

static GBytes *quote;
static GBytes *root;

static CvAttestVerdict *
verify(const guint8 *q, gsize len, GBytes *r, JsonObject *policy)
{
    g_autoptr(GError) error = NULL;
    CvAttestVerdict *v = cv_attest_tdx_verify(q, len, g_bytes_get_data(r, NULL), g_bytes_get_size(r), policy, 0,
                                              &error);
    g_assert_no_error(error);
    return v;
}

static void
test_verifies(void)
{
    const guint8 *d = g_bytes_get_data(quote, NULL);
    g_autoptr(CvAttestVerdict) v = verify(d, g_bytes_get_size(quote), root, NULL);
    static const struct {
        const char *check;
        CvAttestStatus status;
    } expect[] = {
        { "tdx.signature", CV_ATTEST_PASS }, { "tdx.pck_chain", CV_ATTEST_PASS },
        { "tdx.qe_report_signature", CV_ATTEST_PASS }, { "tdx.qe_report_data", CV_ATTEST_PASS },
        { "tdx.qe_identity", CV_ATTEST_PASS }, { "tdx.tcb_status", CV_ATTEST_NOT_CHECKED },
        { "tdx.td_attributes.debug", CV_ATTEST_PASS },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(expect); i++)
        attest_test_assert_status(v, expect[i].check, expect[i].status);
    g_assert_true(cv_attest_verdict_passed(v));
}

/* One policy member against the real quote: @MRTD@, @RTMR0@, @RD@ are its values, @mrtd@ and @rd@ the
 * same with one digit changed. */
static const struct {
    const char *member;
    const char *check;
    CvAttestStatus status;
} policy_cases[] = {
    { "\"mrtd\": \"@MRTD@\"", "tdx.mrtd", CV_ATTEST_PASS },
    { "\"mrtd\": \"@mrtd@\"", "tdx.mrtd", CV_ATTEST_FAIL },
    { "\"rtmr0\": [\"@RTMR0@\"]", "tdx.rtmr0", CV_ATTEST_PASS },
    { "\"report_data\": \"@RD@\"", "tdx.report_data", CV_ATTEST_PASS },
    { "\"report_data\": \"@rd@\"", "tdx.report_data", CV_ATTEST_FAIL },
};

static void
test_policy_values(void)
{
    const guint8 *d = g_bytes_get_data(quote, NULL);
    CvAttestTdxQuote q;
    g_autofree char *mrtd = NULL, *mrtd2 = NULL, *rtmr0 = NULL, *rd = NULL, *rd2 = NULL;

    g_assert_true(cv_attest_tdx_quote_parse(d, g_bytes_get_size(quote), &q, NULL));
    mrtd = cv_hex_encode(q.mrtd, 48);
    rtmr0 = cv_hex_encode(q.rtmr[0], 48);
    rd = cv_hex_encode(q.report_data, 64);
    mrtd2 = g_strdup(mrtd);
    rd2 = g_strdup(rd);
    mrtd2[5] = mrtd2[5] == 'a' ? 'b' : 'a';
    rd2[0] = rd2[0] == 'a' ? 'b' : 'a';
    for (gsize i = 0; i < G_N_ELEMENTS(policy_cases); i++) {
        g_autofree char *member = attest_test_fill(policy_cases[i].member, "MRTD", mrtd, "mrtd", mrtd2, "RTMR0", rtmr0,
                                                   "RD", rd, "rd", rd2, NULL);
        g_autofree char *json = g_strdup_printf("{%s}", member);
        g_autoptr(JsonObject) policy = attest_test_policy_object(json);
        g_autoptr(CvAttestVerdict) v = verify(d, g_bytes_get_size(quote), root, policy);

        g_test_message("policy %s", json);
        attest_test_assert_status(v, policy_cases[i].check, policy_cases[i].status);
        g_assert_cmpint(cv_attest_verdict_passed(v), ==, policy_cases[i].status == CV_ATTEST_PASS);
    }
}

static void
test_debug_refused(void)
{
    gsize len = g_bytes_get_size(quote);
    g_autofree guint8 *copy = g_memdup2(g_bytes_get_data(quote, NULL), len);
    g_autoptr(CvAttestVerdict) v = NULL;

    /* turning the debug attribute on also breaks the signature; both are named */
    copy[48 + 120] |= 1;
    v = verify(copy, len, root, NULL);
    attest_test_assert_status(v, "tdx.td_attributes.debug", CV_ATTEST_FAIL);
    attest_test_assert_status(v, "tdx.signature", CV_ATTEST_FAIL);
}

static void
test_flip_signed_region(void)
{
    gsize len = g_bytes_get_size(quote);
    g_autofree guint8 *copy = g_memdup2(g_bytes_get_data(quote, NULL), len);
    guint tested = 0;

    for (gsize off = 0; off < (CV_ATTEST_TDX_HEADER_SIZE + CV_ATTEST_TDX_BODY_SIZE); off++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CvAttestVerdict) v = NULL;
        copy[off] ^= 0x80;
        v = cv_attest_tdx_verify(copy, len, g_bytes_get_data(root, NULL), g_bytes_get_size(root), NULL, 0, &error);
        copy[off] ^= 0x80;
        if (!v) {
            g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
            continue;
        }
        attest_test_assert_status(v, "tdx.signature", CV_ATTEST_FAIL);
        g_assert_false(cv_attest_verdict_passed(v));
        tested++;
    }
    g_assert_cmpuint(tested, >, (CV_ATTEST_TDX_HEADER_SIZE + CV_ATTEST_TDX_BODY_SIZE) - 16);
}

static void
test_flip_qe_parts(void)
{
    gsize len = g_bytes_get_size(quote);
    g_autofree guint8 *copy = g_memdup2(g_bytes_get_data(quote, NULL), len);
    CvAttestTdxQuote q;
    struct { gsize off; const char *check; guint8 mask; } cases[10];
    gsize n = 0;

    g_assert_true(cv_attest_tdx_quote_parse(copy, len, &q, NULL));
    /* attestation key: quote signature and QE binding fail */
    cases[n++] = (typeof(cases[0])){ q.attest_key - copy + 3, "tdx.qe_report_data", 1 };
    cases[n++] = (typeof(cases[0])){ q.signature - copy + 40, "tdx.signature", 1 };
    cases[n++] = (typeof(cases[0])){ q.qe_report - copy + 10, "tdx.qe_report_signature", 1 };
    cases[n++] = (typeof(cases[0])){ q.qe_report - copy + 330, "tdx.qe_report_signature", 1 };
    cases[n++] = (typeof(cases[0])){ q.qe_report_signature - copy + 5, "tdx.qe_report_signature", 1 };
    cases[n++] = (typeof(cases[0])){ q.qe_auth_data - copy + 1, "tdx.qe_report_data", 1 };
    /* a debug QE or another signer: refused even before the (now broken) PCK signature */
    cases[n++] = (typeof(cases[0])){ q.qe_report - copy + 48, "tdx.qe_identity", 2 };   /* DEBUG */
    cases[n++] = (typeof(cases[0])){ q.qe_report - copy + 140, "tdx.qe_identity", 1 };  /* MRSIGNER */
    for (gsize i = 0; i < n; i++) {
        g_autoptr(CvAttestVerdict) v = NULL;
        copy[cases[i].off] ^= cases[i].mask;
        v = verify(copy, len, root, NULL);
        copy[cases[i].off] ^= cases[i].mask;
        attest_test_assert_status(v, cases[i].check, CV_ATTEST_FAIL);
        g_assert_false(cv_attest_verdict_passed(v));
    }
}

static void
test_wrong_root(void)
{
    /* the AMD ARK is no Intel root */
    g_autoptr(GBytes) amd = attest_test_vector("sev-snp/ask_ark_milan.pem");
    g_autoptr(CvAttestVerdict) v = verify(g_bytes_get_data(quote, NULL), g_bytes_get_size(quote), amd, NULL);

    attest_test_assert_status(v, "tdx.pck_chain", CV_ATTEST_FAIL);
    attest_test_assert_status(v, "tdx.qe_report_signature", CV_ATTEST_FAIL);
    g_assert_false(cv_attest_verdict_passed(v));
}

static void
test_truncated(void)
{
    const guint8 *d = g_bytes_get_data(quote, NULL);
    gsize len = g_bytes_get_size(quote);

    /* every prefix shorter than the signature data is refused, none crashes */
    for (gsize l = 0; l < len - 39; l += (l < 1200 ? 1 : 97)) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CvAttestVerdict) v = cv_attest_tdx_verify(d, l, g_bytes_get_data(root, NULL),
                                                            g_bytes_get_size(root), NULL, 0, &error);
        g_assert_null(v);
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    }
}

static gsize
signed_len(guint16 version, guint16 body_type)
{
    return CV_ATTEST_TDX_HEADER_SIZE + (version == 5 ? CV_ATTEST_TDX_BODY_DESCRIPTOR_SIZE : 0) +
           (body_type == 3 ? CV_ATTEST_TDX_BODY15_SIZE : CV_ATTEST_TDX_BODY_SIZE);
}

/* The builder is faithful: its v4 quote has the real body, and passes every check the real one passes. */
static void
test_built_v4_like_real(void)
{
    TdxTestChain t;
    g_autoptr(GBytes) q4 = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    g_autofree char *failed = NULL;
    CvAttestTdxQuote a, b;

    tdx_test_chain_init(&t);
    q4 = tdx_test_build_quote(&t, quote, 4, 2, NULL, NULL);
    g_assert_true(cv_attest_tdx_quote_parse(g_bytes_get_data(q4, NULL), g_bytes_get_size(q4), &a, NULL));
    g_assert_true(cv_attest_tdx_quote_parse(g_bytes_get_data(quote, NULL), g_bytes_get_size(quote), &b, NULL));
    g_assert_cmpmem(a.mrtd, 48, b.mrtd, 48);
    g_assert_cmpmem(a.report_data, 64, b.report_data, 64);
    g_assert_cmpuint(a.signed_len, ==, b.signed_len);
    v = verify(g_bytes_get_data(q4, NULL), g_bytes_get_size(q4), t.root_pem, NULL);
    failed = cv_attest_verdict_failed_names(v);
    g_assert_cmpstr(failed, ==, "");
    tdx_test_chain_clear(&t);
}

static void
test_v5(void)
{
    static const guint16 types[] = { 2, 3 };
    TdxTestChain t;

    tdx_test_chain_init(&t);
    for (gsize i = 0; i < G_N_ELEMENTS(types); i++) {
        g_autoptr(GBytes) q5 = tdx_test_build_quote(&t, quote, 5, types[i], NULL, NULL);
        gsize len = g_bytes_get_size(q5), sl = signed_len(5, types[i]);
        g_autofree guint8 *copy = g_memdup2(g_bytes_get_data(q5, NULL), len);
        g_autoptr(CvAttestVerdict) v = verify(copy, len, t.root_pem, NULL);
        g_autoptr(CvAttestVerdict) intel = verify(copy, len, root, NULL);
        g_autofree char *failed = cv_attest_verdict_failed_names(v);
        const CvAttestCheck *c = cv_attest_verdict_find(v, "tdx.quote");
        CvAttestTdxQuote q;
        guint tested = 0;

        g_assert_cmpstr(failed, ==, "");
        g_assert_nonnull(strstr(c->detail, types[i] == 3 ? "version 5, TD report 1.5" : "version 5, TD report 1.0"));
        g_assert_true(cv_attest_tdx_quote_parse(copy, len, &q, NULL));
        g_assert_cmpuint(q.signed_len, ==, sl);
        if (types[i] == 3) {
            static const guint8 five_a[48] = { [0 ... 47] = 0x5a };
            g_assert_cmpmem(q.mrservicetd, 48, five_a, 48);
        }
        /* not Intel's chain: refused */
        attest_test_assert_status(intel, "tdx.pck_chain", CV_ATTEST_FAIL);
        /* every byte the attestation key signs — header, body descriptor, body — is covered */
        for (gsize off = 0; off < sl; off += 7) {
            g_autoptr(GError) error = NULL;
            g_autoptr(CvAttestVerdict) w = NULL;
            copy[off] ^= 0x40;
            w = cv_attest_tdx_verify(copy, len, g_bytes_get_data(t.root_pem, NULL), g_bytes_get_size(t.root_pem),
                                     NULL, 0, &error);
            copy[off] ^= 0x40;
            if (!w) {
                g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
                continue;
            }
            attest_test_assert_status(w, "tdx.signature", CV_ATTEST_FAIL);
            tested++;
        }
        g_assert_cmpuint(tested, >, sl / 7 - 8);
        /* a body size that does not match its type, and an SGX body type, are refused */
        {
            g_autoptr(GError) error = NULL;
            copy[50] ^= 1;
            g_assert_false(cv_attest_tdx_quote_parse(copy, len, &q, &error));
            g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
            copy[50] ^= 1;
            g_clear_error(&error);
            copy[48] = 1;
            g_assert_false(cv_attest_tdx_quote_parse(copy, len, &q, &error));
            g_assert_nonnull(strstr(error->message, "body type"));
        }
    }
    tdx_test_chain_clear(&t);
}

int
main(int argc, char **argv)
{
    attest_test_init(&argc, &argv);
    quote = attest_test_vector("tdx/spr-e4-quote-v4.dat");
    root = attest_test_vector("tdx/intel_sgx_root_ca.pem");
    g_test_add_func("/attest/tdx/verifies", test_verifies);
    g_test_add_func("/attest/tdx/policy-values", test_policy_values);
    g_test_add_func("/attest/tdx/debug-refused", test_debug_refused);
    g_test_add_func("/attest/tdx/flip-signed-region", test_flip_signed_region);
    g_test_add_func("/attest/tdx/flip-qe-parts", test_flip_qe_parts);
    g_test_add_func("/attest/tdx/wrong-root", test_wrong_root);
    g_test_add_func("/attest/tdx/truncated", test_truncated);
    g_test_add_func("/attest/tdx/built-v4-like-real", test_built_v4_like_real);
    g_test_add_func("/attest/tdx/v5", test_v5);
    return g_test_run();
}
