/* TPM quote verification: the public test vector, and quotes made with tpm2-tools against swtpm. */
#include <string.h>
#include <stdlib.h>
#include "tpm-quote.h"
#include "event-log.h"
#include "cv-util.h"
#include "cv-autoptr.h"
#include "swtpm-fixture.h"
#include "attest-test.h"

static GBytes *
b64member(JsonObject *o, const char *name)
{
    g_autoptr(GError) error = NULL;
    GBytes *b = cv_base64_decode_strict(json_object_get_string_member(o, name), &error);

    g_assert_no_error(error);
    return b;
}

static void
test_vector(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) text = attest_test_vector("tpm/tpm_evidence.json");
    g_autoptr(JsonNode) root = NULL;
    JsonObject *quote;
    g_autoptr(GBytes) ak_der = NULL, msg = NULL, sig = NULL;
    g_autoptr(EVP_PKEY) ak = NULL;
    CvAttestPcrs pcrs;
    CvAttestTpmInput in = { 0 };
    g_autoptr(CvAttestVerdict) v = cv_attest_verdict_new("vtpm");

    root = cv_json_parse(g_bytes_get_data(text, NULL), g_bytes_get_size(text), &error);
    g_assert_no_error(error);
    quote = json_object_get_object_member(json_node_get_object(root), "tpm_quote");
    ak_der = b64member(json_node_get_object(root), "ak_public");
    msg = b64member(quote, "message");
    sig = b64member(quote, "signature");
    ak = cv_attest_pkey_from_pem_or_der(g_bytes_get_data(ak_der, NULL), g_bytes_get_size(ak_der), &error);
    g_assert_no_error(error);
    g_assert_true(cv_attest_pcrs_from_json(json_object_get_member(quote, "pcrs"), &pcrs, &error));
    in.ak = ak;
    in.pcrs = &pcrs;
    g_assert_true(cv_attest_tpm_verify(v, g_bytes_get_data(msg, NULL), g_bytes_get_size(msg), g_bytes_get_data(sig, NULL),
                                       g_bytes_get_size(sig), &in, &error));
    g_assert_no_error(error);
    attest_test_assert_status(v, "tpm.quote", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.signature", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.pcr_digest", CV_ATTEST_PASS);
    g_assert_true(cv_attest_verdict_passed(v));

    /* one changed PCR value fails the digest; every byte of the message breaks the signature */
    for (guint i = 0; i < 24; i++) {
        g_autoptr(CvAttestVerdict) bad = cv_attest_verdict_new("vtpm");
        CvAttestPcrs tampered = pcrs;
        tampered.value[i][7] ^= 1;
        in.pcrs = &tampered;
        g_assert_true(cv_attest_tpm_verify(bad, g_bytes_get_data(msg, NULL), g_bytes_get_size(msg),
                                           g_bytes_get_data(sig, NULL), g_bytes_get_size(sig), &in, NULL));
        attest_test_assert_status(bad, "tpm.pcr_digest", CV_ATTEST_FAIL);
    }
    in.pcrs = &pcrs;
    {
        gsize len = g_bytes_get_size(msg);
        g_autofree guint8 *copy = g_memdup2(g_bytes_get_data(msg, NULL), len);
        for (gsize off = 0; off < len; off++) {
            g_autoptr(CvAttestVerdict) bad = cv_attest_verdict_new("vtpm");
            g_autoptr(GError) e2 = NULL;
            copy[off] ^= 0x40;
            if (cv_attest_tpm_verify(bad, copy, len, g_bytes_get_data(sig, NULL), g_bytes_get_size(sig), &in, &e2)) {
                attest_test_assert_status(bad, "tpm.signature", CV_ATTEST_FAIL);
                g_assert_false(cv_attest_verdict_passed(bad));
            } else {
                g_assert_error(e2, CV_ERROR, CV_ERROR_INVALID);
            }
            copy[off] ^= 0x40;
        }
        /* truncations are refused by the unmarshaller, never read past the end */
        for (gsize l = 0; l < len; l++) {
            g_autoptr(CvAttestVerdict) bad = cv_attest_verdict_new("vtpm");
            g_autoptr(GError) e2 = NULL;
            g_autofree guint8 *part = g_memdup2(copy, l);
            g_assert_false(cv_attest_tpm_verify(bad, part, l, g_bytes_get_data(sig, NULL), g_bytes_get_size(sig), &in, &e2));
            g_assert_error(e2, CV_ERROR, CV_ERROR_INVALID);
        }
    }
}

static GBytes *
read_in(SwtpmFixture *f, const char *name)
{
    g_autofree char *path = g_build_filename(f->dir, name, NULL);
    g_autoptr(GError) error = NULL;
    GBytes *b = cv_read_file(path, 1 << 20, &error);

    g_assert_no_error(error);
    return b;
}

typedef enum { AS_QUOTED, OTHER_PCR16, OTHER_NONCE, OTHER_SIGNATURE } QuoteChange;

/* The swtpm quote, changed or with a policy (@PCR16@: the quoted PCR 16), and the check that says so. */
static const struct {
    const char *what;
    QuoteChange change;
    const char *policy;
    const char *check;
    CvAttestStatus status;
} quote_cases[] = {
    { "PCR 16 as the policy says", AS_QUOTED, "{\"pcrs\":{\"16\":\"@PCR16@\"}}", "tpm.pcr.16", CV_ATTEST_PASS },
    { "PCR 16 not as the policy says", AS_QUOTED,
      "{\"pcrs\":{\"16\":\"0000000000000000000000000000000000000000000000000000000000000000\"}}", "tpm.pcr.16",
      CV_ATTEST_FAIL },
    { "a tampered PCR value", OTHER_PCR16, NULL, "tpm.pcr_digest", CV_ATTEST_FAIL },
    { "a wrong nonce", OTHER_NONCE, NULL, "tpm.nonce", CV_ATTEST_FAIL },
    { "a corrupt signature", OTHER_SIGNATURE, NULL, "tpm.signature", CV_ATTEST_FAIL },
};

static void
check_quote_case(const typeof(quote_cases[0]) *c, const CvAttestTpmInput *quoted, GBytes *msg, GBytes *sig)
{
    CvAttestTpmInput in = *quoted;
    CvAttestPcrs pcrs = *quoted->pcrs;
    g_autofree guint8 *nonce = g_memdup2(quoted->nonce, quoted->nonce_len);
    gsize sig_len = g_bytes_get_size(sig);
    g_autofree guint8 *signature = g_memdup2(g_bytes_get_data(sig, NULL), sig_len);
    g_autofree char *pcr16 = cv_hex_encode(pcrs.value[16], 32);
    g_autofree char *policy_text = c->policy ? attest_test_fill(c->policy, "PCR16", pcr16, NULL) : NULL;
    g_autoptr(JsonObject) policy = policy_text ? attest_test_policy_object(policy_text) : NULL;
    g_autoptr(CvAttestVerdict) v = cv_attest_verdict_new("vtpm");

    g_test_message("%s", c->what);
    if (c->change == OTHER_PCR16)
        pcrs.value[16][0] ^= 0xff;
    else if (c->change == OTHER_NONCE)
        nonce[in.nonce_len - 1] ^= 1;
    else if (c->change == OTHER_SIGNATURE)
        signature[sig_len - 3] ^= 0x10;
    in.pcrs = &pcrs;
    in.nonce = nonce;
    in.policy = policy;
    g_assert_true(cv_attest_tpm_verify(v, g_bytes_get_data(msg, NULL), g_bytes_get_size(msg), signature, sig_len, &in,
                                       NULL));
    attest_test_assert_status(v, c->check, c->status);
    g_assert_cmpint(cv_attest_verdict_passed(v), ==, c->status == CV_ATTEST_PASS);
}

static void
tools_quote(gconstpointer data)
{
    const char *alg = data;
    SwtpmFixture f;
    g_autoptr(GError) error = NULL;
    g_autofree char *primary = NULL, *pub = NULL, *priv = NULL, *ctx = NULL, *pem = NULL;
    g_autofree char *msgp = NULL, *sigp = NULL, *pcrp = NULL;
    const char *nonce = "c0ffee0011223344556677889900aabbccddeeff";
    g_autoptr(GBytes) msg = NULL, sig = NULL, pcrfile = NULL, akpem = NULL;
    g_autoptr(EVP_PKEY) ak = NULL;
    g_autoptr(GBytes) nonce_bytes = cv_hex_decode(nonce, NULL);
    CvAttestPcrs pcrs;
    CvAttestTpmInput in = { 0 };
    g_autoptr(CvAttestVerdict) v = cv_attest_verdict_new("vtpm");

    if (!swtpm_fixture_start(&f, FALSE, &error)) {
        swtpm_fixture_stop(&f);
        g_error("swtpm: %s", error->message);
    }
    primary = g_build_filename(f.dir, "primary.ctx", NULL);
    pub = g_build_filename(f.dir, "ak.pub", NULL);
    priv = g_build_filename(f.dir, "ak.priv", NULL);
    ctx = g_build_filename(f.dir, "ak.ctx", NULL);
    pem = g_build_filename(f.dir, "ak.pem", NULL);
    msgp = g_build_filename(f.dir, "q.msg", NULL);
    sigp = g_build_filename(f.dir, "q.sig", NULL);
    pcrp = g_build_filename(f.dir, "q.pcrs", NULL);
    {
        const char *cmds[][20] = {
            { "tpm2_createprimary", "-Q", "-C", "o", "-g", "sha256", "-G", "ecc256", "-c", primary, NULL },
            { "tpm2_flushcontext", "-t", NULL },
            { "tpm2_create", "-Q", "-C", primary, "-g", "sha256", "-G", alg, "-a",
              "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign", "-u", pub, "-r", priv, NULL },
            { "tpm2_flushcontext", "-t", NULL },
            { "tpm2_load", "-Q", "-C", primary, "-u", pub, "-r", priv, "-c", ctx, NULL },
            { "tpm2_flushcontext", "-t", NULL },
            { "tpm2_readpublic", "-Q", "-c", ctx, "-o", pem, "-f", "pem", NULL },
            { "tpm2_pcrextend", "16:sha256=5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", NULL },
            { "tpm2_quote", "-Q", "-c", ctx, "-l", "sha256:0,1,2,3,4,5,6,7,8,9,16", "-q", nonce, "-m", msgp, "-s", sigp,
              "-o", pcrp, "-g", "sha256", NULL },
        };
        for (gsize i = 0; i < G_N_ELEMENTS(cmds); i++)
            if (!swtpm_fixture_run(&f, cmds[i], NULL, &error)) {
                swtpm_fixture_stop(&f);
                g_error("%s", error->message);
            }
    }
    msg = read_in(&f, "q.msg");
    sig = read_in(&f, "q.sig");
    pcrfile = read_in(&f, "q.pcrs");
    akpem = read_in(&f, "ak.pem");
    swtpm_fixture_stop(&f);

    ak = cv_attest_pkey_from_pem_or_der(g_bytes_get_data(akpem, NULL), g_bytes_get_size(akpem), &error);
    g_assert_no_error(error);
    g_assert_true(cv_attest_pcrs_from_tpm2_tools(g_bytes_get_data(pcrfile, NULL), g_bytes_get_size(pcrfile), NULL,
                                                 &pcrs, &error));
    g_assert_no_error(error);
    g_assert_cmphex(pcrs.present, ==, 0x103ff);
    in.ak = ak;
    in.pcrs = &pcrs;
    in.nonce = g_bytes_get_data(nonce_bytes, &in.nonce_len);
    g_assert_true(cv_attest_tpm_verify(v, g_bytes_get_data(msg, NULL), g_bytes_get_size(msg), g_bytes_get_data(sig, NULL),
                                       g_bytes_get_size(sig), &in, &error));
    attest_test_assert_status(v, "tpm.signature", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.nonce", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.pcr_digest", CV_ATTEST_PASS);
    g_assert_true(cv_attest_verdict_passed(v));

    for (gsize i = 0; i < G_N_ELEMENTS(quote_cases); i++)
        check_quote_case(&quote_cases[i], &in, msg, sig);
}

/* A hand-built crypto-agile log: header with SHA-1 + SHA-256, two events, replay checked. */
static void
test_event_log(void)
{
    GByteArray *log = g_byte_array_new();
    guint8 zero20[20] = { 0 };
    guint8 d1[32], d2[32];
    guint8 spec[] = { 'S', 'p', 'e', 'c', ' ', 'I', 'D', ' ', 'E', 'v', 'e', 'n', 't', '0', '3', 0,
                      0, 0, 0, 0, 0, 2, 0, 2, /* class, minor, major, errata, uintn */
                      2, 0, 0, 0, 0x04, 0, 20, 0, 0x0b, 0, 32, 0, 0 };
    guint32 u;
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(CvAttestEventLog) parsed = NULL;
    guint8 pcrs[24][32];
    guint8 want[32];

    memset(d1, 0x11, 32);
    memset(d2, 0x22, 32);
#define PUT32(x) (u = GUINT32_TO_LE(x), g_byte_array_append(log, (guint8 *)&u, 4))
    PUT32(0); PUT32(3); g_byte_array_append(log, zero20, 20); PUT32(sizeof(spec)); g_byte_array_append(log, spec, sizeof(spec));
    for (int i = 0; i < 2; i++) {
        guint16 alg1 = GUINT16_TO_LE(0x04), alg2 = GUINT16_TO_LE(0x0b);
        PUT32(4); PUT32(0x80000003); PUT32(2);
        g_byte_array_append(log, (guint8 *)&alg1, 2);
        g_byte_array_append(log, zero20, 20);
        g_byte_array_append(log, (guint8 *)&alg2, 2);
        g_byte_array_append(log, i ? d2 : d1, 32);
        PUT32(3); g_byte_array_append(log, (const guint8 *)"abc", 3);
    }
#undef PUT32
    bytes = g_byte_array_free_to_bytes(log);
    parsed = cv_attest_event_log_parse(bytes, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(parsed->events->len, ==, 2);
    g_assert_true(cv_attest_event_log_replay(parsed, pcrs, &error));
    {
        guint8 buf[64];
        unsigned int n;
        memset(want, 0, 32);
        memcpy(buf, want, 32); memcpy(buf + 32, d1, 32);
        EVP_Digest(buf, 64, want, &n, EVP_sha256(), NULL);
        memcpy(buf, want, 32); memcpy(buf + 32, d2, 32);
        EVP_Digest(buf, 64, want, &n, EVP_sha256(), NULL);
    }
    g_assert_cmpmem(pcrs[4], 32, want, 32);
    /* every truncation is refused or parses fewer events; none reads past the end */
    for (gsize l = 0; l < g_bytes_get_size(bytes); l++) {
        g_autoptr(GBytes) part = g_bytes_new_from_bytes(bytes, 0, l);
        g_autoptr(GError) e2 = NULL;
        g_autoptr(CvAttestEventLog) p = cv_attest_event_log_parse(part, &e2);
        g_assert_true(p == NULL || p->events->len < 2);
    }
}

/* A log recorded from a real OVMF + swtpm boot (tests/attest/data/README.md) */
static void
test_real_event_log(void)
{
    g_autofree char *log_path = g_build_filename(COVIRT_SOURCE_DIR, "tests", "attest", "data", "ovmf-event-log.bin", NULL);
    g_autofree char *pcr_path = g_build_filename(COVIRT_SOURCE_DIR, "tests", "attest", "data", "ovmf-pcrs.txt", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = cv_read_file(log_path, 1 << 20, &error);
    g_autoptr(CvAttestEventLog) log = NULL;
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    guint8 replay[24][32];
    guint n = 0;
    static const char cmdline[] = "console=ttyS0 panic=-1 quiet initrd=initrd";
    guint8 cmd16[2 * sizeof(cmdline)];
    g_autoptr(GPtrArray) expected = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    g_autofree char *detail = NULL;

    g_assert_no_error(error);
    log = cv_attest_event_log_parse(bytes, &error);
    g_assert_no_error(error);
    g_assert_true(cv_attest_event_log_replay(log, replay, &error));
    g_assert_true(g_file_get_contents(pcr_path, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, " ", 2);
        g_autofree char *lower = NULL;
        g_autoptr(GBytes) value = NULL;
        if (!f[0] || !f[1])
            continue;
        lower = g_ascii_strdown(f[1], -1);
        value = cv_hex_decode(lower, &error);
        g_assert_no_error(error);
        g_assert_cmpmem(replay[atoi(f[0])], 32, g_bytes_get_data(value, NULL), 32);
        n++;
    }
    g_assert_cmpuint(n, ==, 10);

    /* PCR 9: the command line OVMF passed (UTF-16LE, " initrd=initrd", NUL) and the initrd */
    for (gsize i = 0; i < sizeof(cmdline); i++) {   /* ASCII → UTF-16LE, its NUL included */
        cmd16[2 * i] = cmdline[i];
        cmd16[2 * i + 1] = 0;
    }
    g_ptr_array_add(expected, cv_digest("SHA256", cmd16, sizeof(cmd16), NULL));
    g_ptr_array_add(expected, cv_hex_decode("1e8e5126eb38fdf7e069d7f38bbec060fd7a824b1e2bbe0ca48d9648ad58ec9c", NULL));
    if (!cv_attest_event_log_match(log, 9, expected, &detail))
        g_error("%s", detail);
    g_clear_pointer(&detail, g_free);
    /* another initrd: refused, and so is a PCR holding an event the policy does not list */
    g_ptr_array_remove_index(expected, 1);
    g_assert_false(cv_attest_event_log_match(log, 9, expected, &detail));
    g_clear_pointer(&detail, g_free);
    g_assert_false(cv_attest_event_log_match(log, 4, expected, &detail));
}

int
main(int argc, char **argv)
{
    attest_test_init(&argc, &argv);
    g_test_add_func("/attest/tpm/vector", test_vector);
    g_test_add_data_func("/attest/tpm/tools-rsa", "rsa2048:rsassa-sha256:null", tools_quote);
    g_test_add_data_func("/attest/tpm/tools-ecc", "ecc256:ecdsa-sha256:null", tools_quote);
    g_test_add_func("/attest/tpm/event-log", test_event_log);
    g_test_add_func("/attest/tpm/real-event-log", test_real_event_log);
    return g_test_run();
}
