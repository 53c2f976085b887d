/* Evidence bundles: the report data binding and the verifier's entry point (docs/evidence.md). */
#include "evidence.h"
#include "attest-util.h"
#include "cv-autoptr.h"
#include "cv-util.h"
#include "policy.h"
#include "snp-report.h"
#include "tdx-quote.h"
#include "tpm-quote.h"
#include "event-log.h"
#include "cv-tss.h"

#include <string.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <tss2/tss2_mu.h>

gboolean
cv_attest_report_data(const guint8 *nonce, gsize nonce_len, const guint8 tls_key_sha256[32],
                      const guint8 *manifest_sha256, guint8 out[CV_ATTEST_REPORT_DATA_SIZE], GError **error)
{
    static const guint8 zeros[32] = { 0 };
    g_autoptr(EVP_MD_CTX) md = EVP_MD_CTX_new();
    unsigned int n = 0;

    if (nonce_len < CV_ATTEST_NONCE_MIN || nonce_len > CV_ATTEST_NONCE_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the nonce must be %d to %d bytes", CV_ATTEST_NONCE_MIN,
                    CV_ATTEST_NONCE_MAX);
        return FALSE;
    }
    /* the two fixed-size fields last, so that the variable-length nonce cannot be shifted into them */
    if (!md || EVP_DigestInit_ex(md, EVP_sha512(), NULL) != 1 || EVP_DigestUpdate(md, nonce, nonce_len) != 1 ||
        EVP_DigestUpdate(md, tls_key_sha256, 32) != 1 ||
        EVP_DigestUpdate(md, manifest_sha256 ? manifest_sha256 : zeros, 32) != 1 ||
        EVP_DigestFinal_ex(md, out, &n) != 1 || n != CV_ATTEST_REPORT_DATA_SIZE) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "SHA-512 failed");
        return FALSE;
    }
    return TRUE;
}

gboolean
cv_attest_tee_vtpm_report_data(const guint8 rd[CV_ATTEST_REPORT_DATA_SIZE], const guint8 *ak_public, gsize ak_len,
                               guint8 out[CV_ATTEST_REPORT_DATA_SIZE], GError **error)
{
    guint8 buf[CV_ATTEST_REPORT_DATA_SIZE + 32];
    unsigned int n = 0;

    memcpy(buf, rd, CV_ATTEST_REPORT_DATA_SIZE);
    if (EVP_Digest(ak_public, ak_len, buf + CV_ATTEST_REPORT_DATA_SIZE, &n, EVP_sha256(), NULL) != 1 ||
        EVP_Digest(buf, sizeof(buf), out, &n, EVP_sha512(), NULL) != 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "SHA-256/SHA-512 failed");
        return FALSE;
    }
    return TRUE;
}

void
cv_attest_rtmr3_manifest_value(const guint8 manifest_sha256[32], guint8 out[CV_ATTEST_RTMR_SIZE])
{
    memset(out, 0, CV_ATTEST_RTMR_SIZE);
    memcpy(out, manifest_sha256, 32);
}

/* ---- reading a bundle: every member is checked for type and size ---- */

/* A hex (exactly `limit` bytes unless 0) or base64 (at most `limit` bytes) member's bytes; NULL when absent
 * or null (an error unless optional) or not such a string. */
static GBytes *
member_bytes(JsonObject *o, const char *name, gboolean hex, gsize limit, gboolean optional, GError **error)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;
    const char *what = hex ? "hex" : "base64 (or too large)";
    const char *text;
    g_autoptr(GBytes) b = NULL;

    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        if (!optional)
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "evidence: \"%s\" is missing", name);
        return NULL;
    }
    text = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n) : NULL;
    if (text && hex)
        b = cv_hex_decode(text, NULL);
    else if (text && strlen(text) <= (limit / 3 + 1) * 4)
        b = cv_base64_decode_strict(text, NULL);
    if (!b) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "evidence: \"%s\" is not %s", name, what);
        return NULL;
    }
    if (hex && limit && g_bytes_get_size(b) != limit) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "evidence: \"%s\" must be %zu bytes", name, limit);
        return NULL;
    }
    return g_steal_pointer(&b);
}

static GBytes *
member_hex(JsonObject *o, const char *name, gsize size, gboolean optional, GError **error)
{
    return member_bytes(o, name, TRUE, size, optional, error);
}

static GBytes *
member_b64(JsonObject *o, const char *name, gsize max, gboolean optional, GError **error)
{
    return member_bytes(o, name, FALSE, max, optional, error);
}

static JsonObject *
member_object(JsonObject *o, const char *name, GError **error)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "evidence: \"%s\" is missing or not an object", name);
        return NULL;
    }
    return json_node_get_object(n);
}

char *
cv_attest_evidence_tls_key_sha256(JsonNode *bundle, GError **error)
{
    g_autoptr(GBytes) b = NULL;

    if (!bundle || !JSON_NODE_HOLDS_OBJECT(bundle)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "evidence: not a JSON object");
        return NULL;
    }
    if (!(b = member_hex(json_node_get_object(bundle), "tls_key_sha256", 32, FALSE, error)))
        return NULL;
    return cv_hex_encode(g_bytes_get_data(b, NULL), 32);
}

/* A copy of the policy with report_data set to what this evidence must carry. */
static JsonObject *
policy_with_report_data(JsonNode *policy, const guint8 rd[64])
{
    JsonObject *copy = json_object_new();
    g_autofree char *hex = cv_hex_encode(rd, 64);

    if (policy && JSON_NODE_HOLDS_OBJECT(policy)) {
        JsonObjectIter it;
        const char *name;
        JsonNode *m;
        json_object_iter_init(&it, json_node_get_object(policy));
        while (json_object_iter_next(&it, &name, &m))
            json_object_set_member(copy, name, json_node_copy(m));
    }
    json_object_set_string_member(copy, "report_data", hex);
    return copy;
}

static void
verify_ek(CvAttestVerdict *v, GBytes *ek_der, JsonObject *policy, gint64 at)
{
    const char *ca = json_object_get_string_member_with_default(policy, "ca_pem", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(X509) ek = NULL;
    g_autoptr(CvX509Stack) cas = NULL;
    g_autoptr(CvX509Stack) intermediates = NULL;

    if (!ek_der) {
        cv_attest_verdict_add(v, "tpm.ek_chain", CV_ATTEST_FAIL, "no EK certificate in the evidence");
        return;
    }
    if (!ca) {
        cv_attest_verdict_add(v, "tpm.ek_chain", CV_ATTEST_FAIL, "the policy names no EK CA (ca_file)");
        return;
    }
    if (!(ek = cv_attest_load_cert(g_bytes_get_data(ek_der, NULL), g_bytes_get_size(ek_der), &error)) ||
        !(cas = cv_attest_pem_certs(ca, strlen(ca), &error))) {
        cv_attest_verdict_add(v, "tpm.ek_chain", CV_ATTEST_FAIL, "%s", error->message);
        return;
    }
    /* the CA file holds the root and the issuing CA; only self-signed ones anchor */
    intermediates = sk_X509_new_null();
    for (int i = 0; i < sk_X509_num(cas); i++)
        if (X509_check_issued(sk_X509_value(cas, i), sk_X509_value(cas, i)) != X509_V_OK)
            sk_X509_push(intermediates, X509_dup(sk_X509_value(cas, i)));
    {
        g_autofree char *subject = cv_attest_cert_subject(ek);
        if (cv_attest_verify_chain(ek, intermediates, cas, at, &error))
            cv_attest_verdict_add(v, "tpm.ek_chain", CV_ATTEST_PASS, "EK %s chains to the policy's CA", subject);
        else
            cv_attest_verdict_add(v, "tpm.ek_chain", CV_ATTEST_FAIL, "EK %s: %s", subject, error->message);
    }
}

/* The manifest must be in RTMR 3, extended once from zero, in a quote whose signature holds. */
static void
check_rtmr3(CvAttestVerdict *v, GBytes *quote, const guint8 *manifest)
{
    guint8 buf[2 * CV_ATTEST_RTMR_SIZE] = { 0 }, want[CV_ATTEST_RTMR_SIZE];
    unsigned int n = 0;
    CvAttestTdxQuote q;
    const CvAttestCheck *signature = cv_attest_verdict_find(v, "tdx.signature");
    gboolean trusted = signature && signature->status == CV_ATTEST_PASS &&
                       cv_attest_tdx_quote_parse(g_bytes_get_data(quote, NULL), g_bytes_get_size(quote), &q, NULL);
    g_autofree char *seen = trusted ? cv_hex_encode(q.rtmr[3], CV_ATTEST_RTMR_SIZE) : NULL;

    cv_attest_rtmr3_manifest_value(manifest, buf + CV_ATTEST_RTMR_SIZE);
    EVP_Digest(buf, sizeof(buf), want, &n, EVP_sha384(), NULL);
    if (!trusted)
        cv_attest_verdict_add(v, "tdx.rtmr3.manifest", CV_ATTEST_FAIL, "RTMR 3 is not in a verified quote");
    else if (memcmp(q.rtmr[3], want, sizeof(want)) != 0)
        cv_attest_verdict_add(v, "tdx.rtmr3.manifest", CV_ATTEST_FAIL,
                              "RTMR 3 is %s, not the manifest hash extended once", seen);
    else
        cv_attest_verdict_add(v, "tdx.rtmr3.manifest", CV_ATTEST_PASS, "RTMR 3 holds the manifest hash extended once");
}

/* tee_rd: NULL for a vtpm CVM, whose AK is trusted through the EK certificate and credential
 * activation; for SEV-SNP with a vTPM the AK is trusted because the hardware report binds it, and
 * tee_rd receives the REPORT_DATA that report must carry. */
static gboolean
verify_vtpm(CvAttestVerdict *v, JsonObject *ev, JsonNode *policy, const guint8 rd[64], const guint8 *manifest,
            gint64 at, guint8 *tee_rd, GError **error)
{
    JsonObject *tpm = member_object(ev, "tpm", error);
    g_autoptr(GBytes) ak_pub = NULL, quote = NULL, sig = NULL, ek = NULL, log = NULL;
    TPM2B_PUBLIC pub;
    g_autoptr(EVP_PKEY) ak = NULL;
    CvAttestPcrs pcrs;
    CvAttestTpmInput in = { 0 };
    JsonObject *pol = json_node_get_object(policy);

    if (!tpm || !(ak_pub = member_b64(tpm, "ak_public", 4096, FALSE, error)) ||
        !(quote = member_b64(tpm, "quote", CV_ATTEST_TPM_MAX_BLOB, FALSE, error)) ||
        !(sig = member_b64(tpm, "signature", CV_ATTEST_TPM_MAX_BLOB, FALSE, error)))
        return FALSE;
    ek = member_b64(tpm, "ek_certificate", 8192, TRUE, error);
    if (!ek && error && *error)
        return FALSE;
    log = member_b64(tpm, "event_log", CV_ATTEST_EVENT_LOG_MAX, TRUE, error);
    if (!log && error && *error)
        return FALSE;
    if (!json_object_has_member(tpm, "pcrs")) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "evidence: tpm: \"pcrs\" is missing");
        return FALSE;
    }
    if (!cv_attest_pcrs_from_json(json_object_get_member(tpm, "pcrs"), &pcrs, error) ||
        !cv_attest_tpm2b_public_parse(g_bytes_get_data(ak_pub, NULL), g_bytes_get_size(ak_pub), &pub, error) ||
        !(ak = cv_attest_tpm_public_to_pkey(&pub.publicArea, error))) {
        g_prefix_error(error, "evidence: tpm: ");
        return FALSE;
    }
    in.ak = ak;
    in.ak_public = &pub.publicArea;
    in.nonce = rd;
    in.nonce_len = CV_ATTEST_REPORT_DATA_SIZE;
    in.pcrs = &pcrs;
    in.event_log = log;
    in.policy = pol;
    if (tee_rd) {
        if (!cv_attest_tee_vtpm_report_data(rd, g_bytes_get_data(ak_pub, NULL), g_bytes_get_size(ak_pub), tee_rd,
                                            error))
            return FALSE;
        cv_attest_verdict_add(v, "tpm.ak_binding", CV_ATTEST_PASS,
                              "the AK is trusted only if the hardware report's REPORT_DATA binds it (snp.report_data)");
    } else {
        verify_ek(v, ek, pol, at);
    }
    if (!tee_rd) {
        gboolean require_credential = TRUE;
        if (!cv_attest_policy_bool(pol, "require_credential", TRUE, &require_credential, error))
            return FALSE;
        /* the AK's signature says nothing about which TPM holds it: until the credential round trip
         * (cv_client_attest_agent) proves it, a bundle alone does not pass */
        if (require_credential)
            cv_attest_verdict_add(v, "tpm.credential", CV_ATTEST_FAIL,
                                  "not activated: needs the agent's credential round trip (covirt attest)");
        else
            cv_attest_verdict_add(v, "tpm.credential", CV_ATTEST_NOT_CHECKED, "the policy does not require it");
    }
    if (!cv_attest_tpm_verify(v, g_bytes_get_data(quote, NULL), g_bytes_get_size(quote), g_bytes_get_data(sig, NULL),
                              g_bytes_get_size(sig), &in, error))
        return FALSE;
    /* the manifest must be in PCR 16, extended once from zero, and that PCR must be in the verified quote */
    if (manifest) {
        guint8 buf[64] = { 0 }, want[32];
        unsigned int n = 0;
        const CvAttestCheck *digest = cv_attest_verdict_find(v, "tpm.pcr_digest");
        const CvAttestCheck *signature = cv_attest_verdict_find(v, "tpm.signature");
        gboolean trusted = digest && digest->status == CV_ATTEST_PASS && signature &&
                           signature->status == CV_ATTEST_PASS && (pcrs.present & (1u << CV_ATTEST_MANIFEST_PCR));
        memcpy(buf + 32, manifest, 32);
        EVP_Digest(buf, 64, want, &n, EVP_sha256(), NULL);
        cv_attest_verdict_add(v, "tpm.pcr16.manifest",
                              trusted && memcmp(pcrs.value[CV_ATTEST_MANIFEST_PCR], want, 32) == 0 ? CV_ATTEST_PASS :
                              CV_ATTEST_FAIL, "PCR 16 %s the manifest hash extended once",
                              trusted ? "holds" : "is not covered by a verified quote, or not");
    }
    return TRUE;
}

/* SEV-SNP, with COCONUT-SVSM's vTPM when the bundle has a quote: the vTPM first, which yields the
 * REPORT_DATA binding its AK, then the report */
static gboolean
verify_snp(CvAttestVerdict *v, JsonObject *ev, JsonNode *policy, const guint8 rd[64], const guint8 *manifest,
           gint64 at, GError **error)
{
    JsonObject *snp = member_object(ev, "sev_snp", error);
    g_autoptr(GBytes) report = NULL, vcek = NULL;
    g_autoptr(JsonObject) pol = NULL;
    g_autoptr(CvAttestSnpTrust) trust = NULL;
    g_autoptr(CvAttestVerdict) pv = NULL;
    guint8 snp_rd[CV_ATTEST_REPORT_DATA_SIZE];
    const char *ca;

    if (!snp)
        return FALSE;
    memcpy(snp_rd, rd, sizeof(snp_rd));
    if (json_object_has_member(ev, "tpm") && !verify_vtpm(v, ev, policy, rd, manifest, at, snp_rd, error))
        return FALSE;
    pol = policy_with_report_data(policy, snp_rd);
    ca = json_object_get_string_member_with_default(pol, "ca_pem", NULL);
    if (!(report = member_b64(snp, "report", 4096, FALSE, error)) ||
        !(vcek = member_b64(snp, "vcek", 8192, FALSE, error)))
        return FALSE;
    if (!ca) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the sev-snp policy names no AMD ASK/ARK (ca_file)");
        return FALSE;
    }
    if (!(trust = cv_attest_snp_trust_new(ca, strlen(ca), error)) ||
        !(pv = cv_attest_snp_verify(trust, g_bytes_get_data(report, NULL), g_bytes_get_size(report),
                                    g_bytes_get_data(vcek, NULL), g_bytes_get_size(vcek), pol, at, error)))
        return FALSE;
    cv_attest_verdict_merge(v, pv);
    return TRUE;
}

static gboolean
verify_tdx(CvAttestVerdict *v, JsonObject *ev, JsonNode *policy, const guint8 rd[64], const guint8 *manifest,
           gint64 at, GError **error)
{
    JsonObject *tdx = member_object(ev, "tdx", error);
    g_autoptr(GBytes) quote = NULL;
    g_autoptr(JsonObject) pol = policy_with_report_data(policy, rd);
    const char *ca = json_object_get_string_member_with_default(pol, "ca_pem", NULL);
    g_autoptr(CvAttestVerdict) pv = NULL;

    if (!tdx || !(quote = member_b64(tdx, "quote", CV_ATTEST_TDX_MAX_QUOTE, FALSE, error)))
        return FALSE;
    if (!ca) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the tdx policy names no Intel root (ca_file)");
        return FALSE;
    }
    if (!(pv = cv_attest_tdx_verify(g_bytes_get_data(quote, NULL), g_bytes_get_size(quote), ca, strlen(ca), pol, at,
                                    error)))
        return FALSE;
    cv_attest_verdict_merge(v, pv);
    if (manifest)
        check_rtmr3(v, quote, manifest);
    return TRUE;
}

/* The bundle's platform, and the policy for it (a copy; the platform's default when none is given). */
static JsonNode *
evidence_policy(JsonObject *ev, JsonNode *policy_in, const char **platform, GError **error)
{
    const char *p = json_object_get_string_member_with_default(ev, "platform", NULL);
    g_autoptr(JsonNode) policy = NULL;

    if (!p || (strcmp(p, "vtpm") != 0 && strcmp(p, "sev-snp") != 0 && strcmp(p, "tdx") != 0)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "evidence: unknown platform");
        return NULL;
    }
    policy = policy_in ? json_node_copy(policy_in) : cv_attest_policy_default(p);
    if (g_strcmp0(cv_attest_policy_platform(policy), p) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "the evidence is for %s, the policy for %s", p,
                    cv_attest_policy_platform(policy));
        return NULL;
    }
    *platform = p;
    return g_steal_pointer(&policy);
}

/* evidence.nonce, evidence.manifest: the bundle answers this request, for the manifest the CVM holds.
 * Returns the manifest hash the report data must bind (NULL: none). */
static const guint8 *
check_binding(CvAttestVerdict *v, GBytes *bnonce, const guint8 *nonce, gsize nonce_len, GBytes *manifest,
              const guint8 *expected_manifest)
{
    gboolean ok = g_bytes_get_size(bnonce) == nonce_len &&
                  CRYPTO_memcmp(g_bytes_get_data(bnonce, NULL), nonce, nonce_len) == 0;
    g_autofree char *hex = NULL;

    cv_attest_verdict_add(v, "evidence.nonce", ok ? CV_ATTEST_PASS : CV_ATTEST_FAIL, "%s",
                          ok ? "the bundle answers this request's nonce" : "the bundle carries another nonce");
    if (!expected_manifest)
        return manifest ? g_bytes_get_data(manifest, NULL) : NULL;
    ok = manifest && memcmp(g_bytes_get_data(manifest, NULL), expected_manifest, 32) == 0;
    hex = cv_hex_encode(expected_manifest, 32);
    cv_attest_verdict_add(v, "evidence.manifest", ok ? CV_ATTEST_PASS : CV_ATTEST_FAIL, "manifest %s%s", hex,
                          ok ? "" : " is not the one the CVM holds");
    return expected_manifest;
}

CvAttestVerdict *
cv_attest_evidence_verify(JsonNode *bundle, JsonNode *policy_in, const guint8 *nonce, gsize nonce_len,
                          const guint8 *expected_manifest, gint64 at, GError **error)
{
    JsonObject *ev;
    const char *platform = NULL;
    g_autoptr(JsonNode) policy = NULL;
    g_autoptr(GBytes) bnonce = NULL, tls = NULL, manifest = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    const guint8 *manifest_used;
    guint8 rd[CV_ATTEST_REPORT_DATA_SIZE];
    gboolean ok;

    if (!bundle || !JSON_NODE_HOLDS_OBJECT(bundle)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "evidence: not a JSON object");
        return NULL;
    }
    ev = json_node_get_object(bundle);
    if (!(policy = evidence_policy(ev, policy_in, &platform, error)) ||
        !(bnonce = member_hex(ev, "nonce", 0, FALSE, error)) ||
        !(tls = member_hex(ev, "tls_key_sha256", 32, FALSE, error)))
        return NULL;
    manifest = member_hex(ev, "manifest_sha256", 32, TRUE, error);
    if (!manifest && error && *error)
        return NULL;

    v = cv_attest_verdict_new(platform);
    manifest_used = check_binding(v, bnonce, nonce, nonce_len, manifest, expected_manifest);
    /* the report data is recomputed from what the verifier knows, never taken from the bundle */
    if (!cv_attest_report_data(nonce, nonce_len, g_bytes_get_data(tls, NULL), manifest_used, rd, error))
        return NULL;
    if (strcmp(platform, "vtpm") == 0)
        ok = verify_vtpm(v, ev, policy, rd, manifest_used, at, NULL, error);
    else if (strcmp(platform, "sev-snp") == 0)
        ok = verify_snp(v, ev, policy, rd, manifest_used, at, error);
    else
        ok = verify_tdx(v, ev, policy, rd, manifest_used, at, error);
    return ok ? g_steal_pointer(&v) : NULL;
}

/* ---- credential activation, verifier side (TPM 2.0 Part 1, "Credential Protection") ---- */

/* KDFa (SP 800-108 counter mode with HMAC), as the TPM computes it */
static gboolean
kdfa(const EVP_MD *md, const guint8 *key, gsize key_len, const char *label, const guint8 *ctx_u, gsize u_len,
     guint bits, guint8 *out)
{
    gsize need = bits / 8, done = 0;
    guint32 counter = 0;

    while (done < need) {
        guint8 block[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        guint8 be[4];
        g_autoptr(GByteArray) msg = g_byte_array_new();
        counter++;
        be[0] = counter >> 24, be[1] = counter >> 16, be[2] = counter >> 8, be[3] = counter;
        g_byte_array_append(msg, be, 4);
        g_byte_array_append(msg, (const guint8 *)label, strlen(label) + 1);
        if (u_len)
            g_byte_array_append(msg, ctx_u, u_len);
        be[0] = bits >> 24, be[1] = bits >> 16, be[2] = bits >> 8, be[3] = bits;
        g_byte_array_append(msg, be, 4);
        if (!HMAC(md, key, (int)key_len, msg->data, msg->len, block, &n))
            return FALSE;
        memcpy(out + done, block, MIN(n, need - done));
        done += MIN(n, need - done);
    }
    return TRUE;
}

/* the seed, RSA-OAEP (SHA-256) to the EK with the label "IDENTITY" (its NUL included) */
static GBytes *
seal_seed(EVP_PKEY *ek, const guint8 seed[32], GError **error)
{
    g_autoptr(EVP_PKEY_CTX) pctx = EVP_PKEY_CTX_new(ek, NULL);
    g_autofree guint8 *ct = NULL;
    size_t ct_len = 0;

    if (!pctx || EVP_PKEY_encrypt_init(pctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set0_rsa_oaep_label(pctx, OPENSSL_memdup("IDENTITY", 9), 9) != 1 ||
        EVP_PKEY_encrypt(pctx, NULL, &ct_len, seed, 32) != 1) {
        g_autofree char *why = cv_openssl_error_text();
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "RSA-OAEP: %s", why);
        return NULL;
    }
    ct = g_malloc(ct_len);
    if (EVP_PKEY_encrypt(pctx, ct, &ct_len, seed, 32) != 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "RSA-OAEP encryption failed");
        return NULL;
    }
    return g_bytes_new_take(g_steal_pointer(&ct), ct_len);
}

/* The secret, encrypted under a key bound to the AK's name (the EK's symmetric algorithm is
 * AES-128-CFB), and the outer HMAC over it and the name. */
static gboolean
protect_secret(const guint8 seed[32], const guint8 *name, gsize name_len, const guint8 secret[32],
               guint8 enc[2 + 32], guint8 outer[32], GError **error)
{
    guint8 sym[16], hmac_key[32], iv[16] = { 0 }, plain[2 + 32];
    g_autoptr(GByteArray) msg = g_byte_array_new();
    EVP_CIPHER_CTX *c;
    unsigned int n = 0;
    int len = 0, fin = 0;
    gboolean ok;

    if (!kdfa(EVP_sha256(), seed, 32, "STORAGE", name, name_len, 128, sym) ||
        !kdfa(EVP_sha256(), seed, 32, "INTEGRITY", NULL, 0, 256, hmac_key)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "KDFa failed");
        return FALSE;
    }
    plain[0] = 0, plain[1] = 32;
    memcpy(plain + 2, secret, 32);
    c = EVP_CIPHER_CTX_new();
    ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_cfb(), NULL, sym, iv) == 1 &&
         EVP_EncryptUpdate(c, enc, &len, plain, sizeof(plain)) == 1 &&
         EVP_EncryptFinal_ex(c, enc + len, &fin) == 1 && len + fin == (int)sizeof(plain);
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "AES-128-CFB failed");
        return FALSE;
    }
    g_byte_array_append(msg, enc, sizeof(plain));
    g_byte_array_append(msg, name, name_len);
    if (!HMAC(EVP_sha256(), hmac_key, sizeof(hmac_key), msg->data, msg->len, outer, &n) || n != 32) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "HMAC failed");
        return FALSE;
    }
    return TRUE;
}

/* credentialBlob = TPM2B_DIGEST(outer HMAC) ‖ encrypted identity, as a TPM2B_ID_OBJECT; the sealed seed
 * as a TPM2B_ENCRYPTED_SECRET */
static gboolean
marshal_credential(const guint8 outer[32], const guint8 enc[2 + 32], GBytes *sealed, GBytes **blob_out,
                   GBytes **enc_secret_out, GError **error)
{
    TPM2B_ID_OBJECT id = { 0 };
    TPM2B_ENCRYPTED_SECRET es = { 0 };
    TPM2B_DIGEST integrity = { .size = 32 };
    guint8 buf[sizeof(TPM2B_ID_OBJECT) + sizeof(TPM2B_ENCRYPTED_SECRET)];
    gsize sealed_len = g_bytes_get_size(sealed);
    size_t off = 0;

    memcpy(integrity.buffer, outer, 32);
    if (!cv_tss_check(Tss2_MU_TPM2B_DIGEST_Marshal(&integrity, id.credential, sizeof(id.credential), &off),
                      "TPM2B_DIGEST", error))
        return FALSE;
    memcpy(id.credential + off, enc, 2 + 32);
    id.size = off + 2 + 32;
    if (sealed_len > sizeof(es.secret)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "encrypted seed too large");
        return FALSE;
    }
    es.size = sealed_len;
    memcpy(es.secret, g_bytes_get_data(sealed, NULL), sealed_len);
    off = 0;
    if (!cv_tss_check(Tss2_MU_TPM2B_ID_OBJECT_Marshal(&id, buf, sizeof(buf), &off), "TPM2B_ID_OBJECT", error))
        return FALSE;
    *blob_out = g_bytes_new(buf, off);
    off = 0;
    if (!cv_tss_check(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&es, buf, sizeof(buf), &off), "TPM2B_ENCRYPTED_SECRET",
                      error)) {
        g_clear_pointer(blob_out, g_bytes_unref);
        return FALSE;
    }
    *enc_secret_out = g_bytes_new(buf, off);
    return TRUE;
}

gboolean
cv_attest_make_credential(GBytes *ek_cert_der, GBytes *ak_name, GBytes **secret_out, GBytes **blob_out,
                          GBytes **enc_secret_out, GError **error)
{
    g_autoptr(X509) ek = cv_attest_load_cert(g_bytes_get_data(ek_cert_der, NULL), g_bytes_get_size(ek_cert_der), error);
    g_autoptr(GBytes) sealed = NULL;
    EVP_PKEY *pk;
    guint8 seed[32], secret[32], enc[2 + 32], outer[32];
    const guint8 *name;
    gsize name_len;
    gboolean ok;

    if (!ek)
        return FALSE;
    name = g_bytes_get_data(ak_name, &name_len);
    pk = X509_get0_pubkey(ek);
    if (!pk || !EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_get_bits(pk) != 2048) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "make-credential needs an RSA-2048 EK");
        return FALSE;
    }
    if (name_len != 34 || name[0] != 0x00 || name[1] != 0x0b) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the AK name must be a SHA-256 name");
        return FALSE;
    }
    if (RAND_bytes(seed, sizeof(seed)) != 1 || RAND_bytes(secret, sizeof(secret)) != 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "no randomness");
        return FALSE;
    }
    ok = (sealed = seal_seed(pk, seed, error)) && protect_secret(seed, name, name_len, secret, enc, outer, error) &&
         marshal_credential(outer, enc, sealed, blob_out, enc_secret_out, error);
    OPENSSL_cleanse(seed, sizeof(seed));
    if (ok)
        *secret_out = g_bytes_new(secret, sizeof(secret));
    return ok;
}
