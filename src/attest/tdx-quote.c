#include "tdx-quote.h"
#include "attest-util.h"
#include "cv-util.h"

#include <string.h>
#include <openssl/err.h>

/* A cursor over the quote: every read checks the remaining length first. */
typedef struct {
    const guint8 *p;
    gsize left;
} Cursor;

static const guint8 *
take(Cursor *c, gsize n)
{
    const guint8 *p = c->p;

    if (n > c->left)
        return NULL;
    c->p += n;
    c->left -= n;
    return p;
}

static gboolean
bad(GError **error, const char *what)
{
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "TDX quote: %s", what);
    return FALSE;
}

gboolean
cv_attest_tdx_quote_parse(const guint8 *data, gsize len, CvAttestTdxQuote *q, GError **error)
{
    Cursor c = { data, len };
    Cursor sig;
    Cursor cert;
    const guint8 *h, *b, *p;
    guint32 sig_len, outer_len, inner_len;
    gsize body_len;

    memset(q, 0, sizeof(*q));
    if (len > CV_ATTEST_TDX_MAX_QUOTE)
        return bad(error, "larger than 64 KiB");
    if (!(h = take(&c, CV_ATTEST_TDX_HEADER_SIZE)))
        return bad(error, "shorter than its header");
    q->version = cv_attest_le16(h);
    q->att_key_type = cv_attest_le16(h + 2);
    q->tee_type = cv_attest_le32(h + 4);
    memcpy(q->qe_vendor_id, h + 12, 16);
    if (q->version != 4 && q->version != 5)
        return bad(error, "only versions 4 and 5 are supported");
    if (q->att_key_type != 2)
        return bad(error, "attestation key type is not ECDSA P-256 (2)");
    if (q->tee_type != 0x81)
        return bad(error, "TEE type is not TDX (0x81)");
    body_len = CV_ATTEST_TDX_BODY_SIZE;
    q->body_type = 2;
    if (q->version == 5) {
        guint32 size;
        if (!(p = take(&c, CV_ATTEST_TDX_BODY_DESCRIPTOR_SIZE)))
            return bad(error, "no body descriptor");
        q->body_type = cv_attest_le16(p);
        size = cv_attest_le32(p + 2);
        if (q->body_type == 3)
            body_len = CV_ATTEST_TDX_BODY15_SIZE;
        else if (q->body_type != 2)
            return bad(error, "body type is not a TD report (2: TDX 1.0, 3: TDX 1.5)");
        if (size != body_len)
            return bad(error, "body size does not match its type");
    }
    if (!(b = take(&c, body_len)))
        return bad(error, "truncated TD quote body");
    q->signed_len = (gsize)(c.p - data);
    memcpy(q->tee_tcb_svn, b, 16);
    memcpy(q->mrseam, b + 16, 48);
    memcpy(q->mrsignerseam, b + 64, 48);
    q->seam_attributes = cv_attest_le64(b + 112);
    q->td_attributes = cv_attest_le64(b + 120);
    q->xfam = cv_attest_le64(b + 128);
    memcpy(q->mrtd, b + 136, 48);
    memcpy(q->mrconfigid, b + 184, 48);
    memcpy(q->mrowner, b + 232, 48);
    memcpy(q->mrownerconfig, b + 280, 48);
    for (int i = 0; i < 4; i++)
        memcpy(q->rtmr[i], b + 328 + 48 * i, 48);
    memcpy(q->report_data, b + 520, 64);
    if (body_len == CV_ATTEST_TDX_BODY15_SIZE) {
        memcpy(q->tee_tcb_svn2, b + 584, 16);
        memcpy(q->mrservicetd, b + 600, 48);
    }

    if (!(p = take(&c, 4)))
        return bad(error, "no signature data length");
    sig_len = cv_attest_le32(p);
    if (!(p = take(&c, sig_len)))
        return bad(error, "signature data longer than the quote");
    q->trailing = c.left;
    sig = (Cursor){ p, sig_len };
    if (!(q->signature = take(&sig, 64)) || !(q->attest_key = take(&sig, 64)))
        return bad(error, "truncated signature or attestation key");
    if (!(p = take(&sig, 6)))
        return bad(error, "no certification data header");
    if (cv_attest_le16(p) != 6)
        return bad(error, "certification data is not type 6 (QE report)");
    outer_len = cv_attest_le32(p + 2);
    if (outer_len != sig.left)
        return bad(error, "certification data size does not match the signature data");
    if (!(q->qe_report = take(&sig, CV_ATTEST_TDX_QE_REPORT_SIZE)) || !(q->qe_report_signature = take(&sig, 64)))
        return bad(error, "truncated QE report");
    if (!(p = take(&sig, 2)))
        return bad(error, "no QE authentication data size");
    q->qe_auth_data_len = cv_attest_le16(p);
    if (!(q->qe_auth_data = take(&sig, q->qe_auth_data_len)))
        return bad(error, "truncated QE authentication data");
    if (!(p = take(&sig, 6)))
        return bad(error, "no inner certification data header");
    if (cv_attest_le16(p) != 5)
        return bad(error, "inner certification data is not type 5 (PCK certificate chain)");
    inner_len = cv_attest_le32(p + 2);
    if (inner_len != sig.left)
        return bad(error, "PCK chain size does not match");
    cert = sig;
    q->pck_chain = take(&cert, inner_len);
    q->pck_chain_len = inner_len;
    if (inner_len == 0)
        return bad(error, "empty PCK chain");
    return TRUE;
}

/* tdx.signature: the quote over header (‖ body descriptor) ‖ body, by the attestation key */
static void
tdx_check_signature(CvAttestVerdict *v, const CvAttestTdxQuote *q, const guint8 *data)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(EVP_PKEY) ak = cv_attest_p256_from_xy(q->attest_key, &local);
    gboolean ok = ak && cv_attest_ecdsa_verify(ak, EVP_sha256(), data, q->signed_len, q->signature, 32,
                                               q->signature + 32, 32, FALSE, &local);

    cv_attest_verdict_add(v, "tdx.signature", ok ? CV_ATTEST_PASS : CV_ATTEST_FAIL,
                          "quote signed by the attestation key%s%s", ok ? "" : ": ", ok ? "" : local->message);
}

/* tdx.pck_chain: the PCK chain to the Intel root; only self-signed roots from root_pem anchor it.
 * Returns the chain (PCK first) when it verified. */
static CvX509Stack *
tdx_check_chain(CvAttestVerdict *v, const CvAttestTdxQuote *q, STACK_OF(X509) *roots, gint64 at)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(CvX509Stack) chain = cv_attest_pem_certs(q->pck_chain, q->pck_chain_len, &local);
    g_autofree char *subject = NULL;
    gboolean ok = FALSE;

    if (chain) {
        g_autoptr(CvX509Stack) intermediates = sk_X509_new_null();
        for (int i = 1; i < sk_X509_num(chain); i++)
            sk_X509_push(intermediates, sk_X509_value(chain, i));
        ok = cv_attest_verify_chain(sk_X509_value(chain, 0), intermediates, roots, at, &local);
        /* the stack borrows the certificates */
        while (sk_X509_num(intermediates) > 0)
            sk_X509_pop(intermediates);
        subject = cv_attest_cert_subject(sk_X509_value(chain, 0));
    }
    cv_attest_verdict_add(v, "tdx.pck_chain", ok ? CV_ATTEST_PASS : CV_ATTEST_FAIL, "%s → Intel SGX Root CA%s%s",
                          subject ? subject : "(no PCK certificate)", ok ? "" : ": ", ok ? "" : local->message);
    return ok ? g_steal_pointer(&chain) : NULL;
}

/* tdx.qe_report_signature, tdx.qe_report_data, tdx.qe_identity: Intel's production TD quoting enclave,
 * vouched for by the trusted PCK key (pck NULL: none), vouches for the attestation key */
static void
tdx_check_qe(CvAttestVerdict *v, const CvAttestTdxQuote *q, X509 *pck)
{
    static const guint8 intel_qe_signer[32] = {
        0xdc, 0x9e, 0x2a, 0x7c, 0x6f, 0x94, 0x8f, 0x17, 0x47, 0x4e, 0x34, 0xa7, 0xfc, 0x43, 0xed, 0x03,
        0x0f, 0x7c, 0x15, 0x63, 0xf1, 0xba, 0xbd, 0xdf, 0x63, 0x40, 0xc8, 0x2e, 0x0e, 0x54, 0xa8, 0xc5,
    };
    g_autoptr(GError) local = NULL;
    EVP_PKEY *pk = pck ? X509_get0_pubkey(pck) : NULL;
    g_autoptr(EVP_MD_CTX) md = EVP_MD_CTX_new();
    guint8 want[64] = { 0 };
    unsigned int n = 0;
    guint64 flags = cv_attest_le64(q->qe_report + 48);
    guint16 prodid = cv_attest_le16(q->qe_report + 256);
    guint16 svn = cv_attest_le16(q->qe_report + 258);
    gboolean intel = memcmp(q->qe_report + 128, intel_qe_signer, 32) == 0;
    gboolean debug = (flags & 0x2) != 0;
    gboolean ok;

    ok = pk && EVP_PKEY_is_a(pk, "EC") &&
         cv_attest_ecdsa_verify(pk, EVP_sha256(), q->qe_report, CV_ATTEST_TDX_QE_REPORT_SIZE,
                                q->qe_report_signature, 32, q->qe_report_signature + 32, 32, FALSE, &local);
    cv_attest_verdict_add(v, "tdx.qe_report_signature", ok ? CV_ATTEST_PASS : CV_ATTEST_FAIL,
                          "QE report signed by the PCK key%s%s", ok ? "" : ": ",
                          ok ? "" : local ? local->message : "no trusted PCK certificate");

    /* report data = SHA-256(attestation key ‖ QE auth data) ‖ 32 zero bytes */
    ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, q->attest_key, 64) == 1 &&
         EVP_DigestUpdate(md, q->qe_auth_data, q->qe_auth_data_len) == 1 &&
         EVP_DigestFinal_ex(md, want, &n) == 1 && CRYPTO_memcmp(want, q->qe_report + 320, 64) == 0;
    cv_attest_verdict_add(v, "tdx.qe_report_data", ok ? CV_ATTEST_PASS : CV_ATTEST_FAIL,
                          "SHA-256(attestation key ‖ QE auth data) ‖ zeros %s the QE report data",
                          ok ? "matches" : "does not match");

    /* Without Intel's QE identity collateral we still insist on Intel's TD quoting enclave, in
     * production mode: a debug enclave's memory is the host's to read and its key to misuse */
    cv_attest_verdict_add(v, "tdx.qe_identity", intel && !debug && prodid == 2 ? CV_ATTEST_PASS : CV_ATTEST_FAIL,
                          "QE signer %s, product id %u (TD QE is 2), %s, ISV SVN %u (minimum not checked)",
                          intel ? "Intel" : "NOT Intel", prodid, debug ? "DEBUG enclave" : "production enclave", svn);
}


/* tdx.td_attributes.debug to tdx.report_data: the TD's attributes and measurements against the policy */
static void
tdx_check_policy(CvAttestVerdict *v, const CvAttestTdxQuote *q, JsonObject *policy, gboolean allow_debug)
{
    gboolean debug = (q->td_attributes & CV_ATTEST_TDX_ATTR_DEBUG) != 0;
    guint8 attr[8], xfam[8];

    cv_attest_verdict_add(v, "tdx.td_attributes.debug", debug && !allow_debug ? CV_ATTEST_FAIL : CV_ATTEST_PASS,
                          "TD attributes 0x%016" G_GINT64_MODIFIER "x: debug %s%s", q->td_attributes,
                          debug ? "on" : "off", debug && !allow_debug ? ", refused by the policy" : "");
    for (int i = 0; i < 8; i++) {
        attr[i] = (q->td_attributes >> (8 * i)) & 0xff;
        xfam[i] = (q->xfam >> (8 * i)) & 0xff;
    }
    cv_attest_check_policy_bytes(v, policy, "td_attributes", "tdx.td_attributes", attr, 8, FALSE);
    cv_attest_check_policy_bytes(v, policy, "xfam", "tdx.xfam", xfam, 8, FALSE);
    cv_attest_check_policy_bytes(v, policy, "mrtd", "tdx.mrtd", q->mrtd, 48, FALSE);
    for (int i = 0; i < 4; i++) {
        g_autofree char *member = g_strdup_printf("rtmr%d", i);
        g_autofree char *name = g_strdup_printf("tdx.rtmr%d", i);
        cv_attest_check_policy_bytes(v, policy, member, name, q->rtmr[i], 48, FALSE);
    }
    cv_attest_check_policy_bytes(v, policy, "mrseam", "tdx.mrseam", q->mrseam, 48, FALSE);
    cv_attest_check_policy_bytes(v, policy, "mrconfigid", "tdx.mrconfigid", q->mrconfigid, 48, FALSE);
    cv_attest_check_policy_bytes(v, policy, "mrowner", "tdx.mrowner", q->mrowner, 48, FALSE);
    cv_attest_check_policy_bytes(v, policy, "report_data", "tdx.report_data", q->report_data, 64, FALSE);
}

CvAttestVerdict *
cv_attest_tdx_verify(const guint8 *data, gsize len, const void *root_pem, gsize root_len, JsonObject *policy,
                     gint64 at, GError **error)
{
    CvAttestTdxQuote q;
    g_autoptr(CvAttestVerdict) v = cv_attest_verdict_new("tdx");
    g_autoptr(CvX509Stack) roots = NULL;
    g_autoptr(CvX509Stack) chain = NULL;
    g_autofree char *vendor = NULL;
    gboolean allow_debug = FALSE;

    if (!cv_attest_tdx_quote_parse(data, len, &q, error) ||
        !(roots = cv_attest_pem_certs(root_pem, root_len, error)) ||
        !cv_attest_policy_bool(policy, "allow_debug", FALSE, &allow_debug, error))
        return NULL;
    vendor = cv_hex_encode(q.qe_vendor_id, 16);
    cv_attest_verdict_add(v, "tdx.quote", CV_ATTEST_PASS, "version %u, TD report %s, ECDSA P-256, TDX; QE vendor %s%s",
                          q.version, q.body_type == 3 ? "1.5" : "1.0", vendor,
                          q.trailing ? " (unsigned trailing bytes ignored)" : "");
    tdx_check_signature(v, &q, data);
    chain = tdx_check_chain(v, &q, roots, at);
    tdx_check_qe(v, &q, chain ? sk_X509_value(chain, 0) : NULL);
    cv_attest_verdict_add(v, "tdx.tcb_status", CV_ATTEST_NOT_CHECKED,
                          "needs Intel's TCB info and QE identity collateral, which are not available offline");
    tdx_check_policy(v, &q, policy, allow_debug);
    return g_steal_pointer(&v);
}
