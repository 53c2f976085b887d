#include "tpm-quote.h"
#include "attest-util.h"
#include "cv-tss.h"
#include "cv-util.h"
#include "event-log.h"

#include <string.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

/* ---- PCR values ---- */

static gboolean
set_pcr(CvAttestPcrs *pcrs, guint index, const guint8 *value, gsize len, GError **error)
{
    if (index >= 24 || len != 32) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "PCR %u: index or size (%zu) out of range", index, len);
        return FALSE;
    }
    memcpy(pcrs->value[index], value, 32);
    pcrs->present |= 1u << index;
    return TRUE;
}

gboolean
cv_attest_pcrs_from_tpm2_tools(const guint8 *data, gsize len, const TPML_PCR_SELECTION *selection,
                               CvAttestPcrs *pcrs, GError **error)
{
    TPML_PCR_SELECTION sel;
    guint32 n_lists;
    guint32 list = 0, item = 0;
    const TPML_DIGEST *digests = NULL;
    gsize need;

    memset(pcrs, 0, sizeof(*pcrs));
    /* the two layouts cannot be confused: a serialized file is 136 + 532·k bytes, which is never
     * 32·n for n ≤ 24 */
    if (len < sizeof(TPML_PCR_SELECTION) + 4 ||
        (len - sizeof(TPML_PCR_SELECTION) - 4) % sizeof(TPML_DIGEST) != 0) {
        /* -F values: the quoted SHA-256 PCRs in selection order */
        guint n = 0;
        if (!selection) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "PCR file: not in tpm2-tools' serialized format");
            return FALSE;
        }
        for (guint32 b = 0; b < selection->count && b < TPM2_NUM_PCR_BANKS; b++)
            for (guint i = 0; i < 24 && i / 8 < selection->pcrSelections[b].sizeofSelect; i++)
                if (selection->pcrSelections[b].pcrSelect[i / 8] & (1 << (i % 8))) {
                    if (selection->pcrSelections[b].hash != TPM2_ALG_SHA256 || (gsize)(n + 1) * 32 > len) {
                        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                                    "PCR file: does not hold the quoted SHA-256 PCR values");
                        return FALSE;
                    }
                    set_pcr(pcrs, i, data + 32 * n++, 32, NULL);
                }
        if ((gsize)n * 32 != len) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "PCR file: %zu bytes for %u PCR values", len, n);
            return FALSE;
        }
        return TRUE;
    }
    memcpy(&sel, data, sizeof(sel));
    memcpy(&n_lists, data + sizeof(sel), 4);
    need = sizeof(sel) + 4 + (gsize)n_lists * sizeof(TPML_DIGEST);
    if (sel.count > TPM2_NUM_PCR_BANKS || n_lists > 64 || need != len) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "PCR file: inconsistent counts");
        return FALSE;
    }
    digests = (const TPML_DIGEST *)(data + sizeof(sel) + 4);
    /* values follow the selection: bank by bank, PCR by PCR, 8 to a TPML_DIGEST */
    for (guint32 b = 0; b < sel.count; b++) {
        const TPMS_PCR_SELECTION *s = &sel.pcrSelections[b];
        if (s->sizeofSelect > sizeof(s->pcrSelect)) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "PCR file: bad selection size");
            return FALSE;
        }
        for (guint i = 0; i < 8u * s->sizeofSelect; i++) {
            TPML_DIGEST d;
            if (!(s->pcrSelect[i / 8] & (1 << (i % 8))))
                continue;
            while (list < n_lists) {
                memcpy(&d, &digests[list], sizeof(d));
                if (d.count > 8) {
                    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "PCR file: bad digest count");
                    return FALSE;
                }
                if (item < d.count)
                    break;
                list++;
                item = 0;
            }
            if (list >= n_lists) {
                g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "PCR file: fewer values than selected PCRs");
                return FALSE;
            }
            if (d.digests[item].size > sizeof(d.digests[item].buffer)) {
                g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "PCR file: bad digest size");
                return FALSE;
            }
            if (s->hash == TPM2_ALG_SHA256 && !set_pcr(pcrs, i, d.digests[item].buffer, d.digests[item].size, error))
                return FALSE;
            item++;
        }
    }
    return TRUE;
}

gboolean
cv_attest_pcrs_from_json(JsonNode *node, CvAttestPcrs *pcrs, GError **error)
{
    memset(pcrs, 0, sizeof(*pcrs));
    if (node && JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *a = json_node_get_array(node);
        if (json_array_get_length(a) > 24) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "more than 24 PCR values");
            return FALSE;
        }
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonNode *e = json_array_get_element(a, i);
            g_autoptr(GBytes) b = NULL;
            if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING ||
                !(b = cv_hex_decode(json_node_get_string(e), error)) ||
                !set_pcr(pcrs, i, g_bytes_get_data(b, NULL), g_bytes_get_size(b), error)) {
                if (error && !*error)
                    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "PCR %u is not a hex string", i);
                return FALSE;
            }
        }
        return TRUE;
    }
    if (node && JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObjectIter it;
        const char *key;
        JsonNode *e;
        json_object_iter_init(&it, json_node_get_object(node));
        while (json_object_iter_next(&it, &key, &e)) {
            guint64 index;
            g_autoptr(GBytes) b = NULL;
            if (!cv_parse_uint(key, 0, 23, &index, error))
                return FALSE;
            if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
                g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "PCR %s is not a hex string", key);
                return FALSE;
            }
            if (!(b = cv_hex_decode(json_node_get_string(e), error)) ||
                !set_pcr(pcrs, (guint)index, g_bytes_get_data(b, NULL), g_bytes_get_size(b), error))
                return FALSE;
        }
        return TRUE;
    }
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "PCR values must be an object or an array of hex strings");
    return FALSE;
}

JsonNode *
cv_attest_pcrs_to_json(const CvAttestPcrs *pcrs)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    for (guint i = 0; i < 24; i++) {
        g_autofree char *key = NULL, *hex = NULL;
        if (!(pcrs->present & (1u << i)))
            continue;
        key = g_strdup_printf("%u", i);
        hex = cv_hex_encode(pcrs->value[i], 32);
        json_builder_set_member_name(b, key);
        json_builder_add_string_value(b, hex);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* ---- keys ---- */

EVP_PKEY *
cv_attest_pkey_from_pem_or_der(const guint8 *data, gsize len, GError **error)
{
    EVP_PKEY *key = NULL;
    const unsigned char *p = data;
    size_t left = len;
    OSSL_DECODER_CTX *dctx;
    gboolean ok;

    if (len > CV_ATTEST_TPM_MAX_BLOB) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "public key too large");
        return NULL;
    }
    /* no input type: the decoders of every one (PEM, DER) are tried */
    dctx = OSSL_DECODER_CTX_new_for_pkey(&key, NULL, "SubjectPublicKeyInfo", NULL, EVP_PKEY_PUBLIC_KEY, NULL, NULL);
    ok = dctx && OSSL_DECODER_from_data(dctx, &p, &left) == 1;
    OSSL_DECODER_CTX_free(dctx);
    ERR_clear_error();
    if (!ok) {
        EVP_PKEY_free(key);
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not a PEM or DER public key");
        return NULL;
    }
    return key;
}

gboolean
cv_attest_tpm2b_public_parse(const guint8 *data, gsize len, TPM2B_PUBLIC *pub, GError **error)
{
    size_t off = 0;

    memset(pub, 0, sizeof(*pub));
    if (!cv_tss_check_input(Tss2_MU_TPM2B_PUBLIC_Unmarshal(data, len, &off, pub), "TPM2B_PUBLIC", error))
        return FALSE;
    if (off != len) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "TPM2B_PUBLIC: %zu trailing bytes", len - off);
        return FALSE;
    }
    return TRUE;
}

EVP_PKEY *
cv_attest_tpm_public_to_pkey(const TPMT_PUBLIC *pub, GError **error)
{
    g_autoptr(EVP_PKEY_CTX) ctx = NULL;
    EVP_PKEY *key = NULL;
    OSSL_PARAM params[4];

    if (pub->type == TPM2_ALG_RSA) {
        guint8 e[4];
        guint32 exp = pub->parameters.rsaDetail.exponent ? pub->parameters.rsaDetail.exponent : 65537;
        guint8 n_le[512];
        gsize n_len = pub->unique.rsa.size;
        if (n_len == 0 || n_len > sizeof(pub->unique.rsa.buffer)) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "RSA key without a modulus");
            return NULL;
        }
        /* OSSL_PARAM integers are native-endian */
        for (gsize i = 0; i < n_len; i++)
            n_le[i] = pub->unique.rsa.buffer[n_len - 1 - i];
        memcpy(e, &exp, 4);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        params[0] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_N, n_le, n_len);
        params[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_E, e, 4);
        params[2] = OSSL_PARAM_construct_end();
    } else if (pub->type == TPM2_ALG_ECC) {
        const char *curve = pub->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256 ? "P-256" :
                            pub->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384 ? "P-384" : NULL;
        gsize size = curve && curve[2] == '2' ? 32 : 48;
        guint8 point[1 + 2 * 48];
        if (!curve || pub->unique.ecc.x.size != size || pub->unique.ecc.y.size != size) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "unsupported ECC key (P-256 and P-384 only)");
            return NULL;
        }
        point[0] = 4;
        memcpy(point + 1, pub->unique.ecc.x.buffer, size);
        memcpy(point + 1 + size, pub->unique.ecc.y.buffer, size);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)curve, 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * size);
        params[2] = OSSL_PARAM_construct_end();
    } else {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "key type 0x%x is neither RSA nor ECC", pub->type);
        return NULL;
    }
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        ERR_clear_error();
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "cannot use the TPM public key");
        return NULL;
    }
    if (pub->type == TPM2_ALG_ECC) {
        g_autoptr(EVP_PKEY_CTX) check = EVP_PKEY_CTX_new(key, NULL);
        if (!check || EVP_PKEY_public_check(check) != 1) {
            ERR_clear_error();
            EVP_PKEY_free(key);
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "ECC point is not on the curve");
            return NULL;
        }
    }
    return key;
}

static const EVP_MD *
tpm_md(TPMI_ALG_HASH alg)
{
    switch (alg) {
    case TPM2_ALG_SHA256: return EVP_sha256();
    case TPM2_ALG_SHA384: return EVP_sha384();
    case TPM2_ALG_SHA512: return EVP_sha512();
    default: return NULL;       /* SHA-1 and the rest are refused */
    }
}

GBytes *
cv_attest_tpm_public_name(const TPMT_PUBLIC *pub, GError **error)
{
    guint8 buf[sizeof(TPMT_PUBLIC) + 2 + 64];
    size_t off = 2;
    const EVP_MD *md = tpm_md(pub->nameAlg);
    unsigned int n = 0;

    if (!md) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "name algorithm 0x%x not supported", pub->nameAlg);
        return NULL;
    }
    if (!cv_tss_check_input(Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf) - 2 - 64, &off), "TPMT_PUBLIC", error))
        return NULL;
    /* the digest goes after nameAlg; compute over the marshalled public area first */
    {
        guint8 digest[64];
        if (EVP_Digest(buf + 2, off - 2, digest, &n, md, NULL) != 1) {
            g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "digest failed");
            return NULL;
        }
        buf[0] = pub->nameAlg >> 8;
        buf[1] = pub->nameAlg & 0xff;
        memcpy(buf + 2, digest, n);
    }
    return g_bytes_new(buf, 2 + n);
}

/* ---- verification ---- */

static gboolean
verify_signature(EVP_PKEY *key, const TPMT_SIGNATURE *sig, const guint8 *msg, gsize len, char **detail)
{
    g_autoptr(EVP_MD_CTX) mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *md = NULL;
    gboolean ok = FALSE;

    switch (sig->sigAlg) {
    case TPM2_ALG_RSASSA:
    case TPM2_ALG_RSAPSS:
        md = tpm_md(sig->signature.rsassa.hash);
        if (!md || !EVP_PKEY_is_a(key, "RSA")) {
            *detail = g_strdup("RSA signature with an unsupported hash or a non-RSA AK");
            return FALSE;
        }
        if (EVP_DigestVerifyInit(mctx, &pctx, md, NULL, key) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(pctx, sig->sigAlg == TPM2_ALG_RSAPSS ? RSA_PKCS1_PSS_PADDING :
                                         RSA_PKCS1_PADDING) != 1 ||
            (sig->sigAlg == TPM2_ALG_RSAPSS && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1))
            break;
        ok = EVP_DigestVerify(mctx, sig->signature.rsassa.sig.buffer, sig->signature.rsassa.sig.size, msg, len) == 1;
        *detail = g_strdup_printf("%s %s", sig->sigAlg == TPM2_ALG_RSAPSS ? "RSA-PSS" : "RSASSA-PKCS1-v1_5",
                                  EVP_MD_get0_name(md));
        break;
    case TPM2_ALG_ECDSA:
        md = tpm_md(sig->signature.ecdsa.hash);
        if (!md || !EVP_PKEY_is_a(key, "EC")) {
            *detail = g_strdup("ECDSA signature with an unsupported hash or a non-ECC AK");
            return FALSE;
        }
        ok = cv_attest_ecdsa_verify(key, md, msg, len, sig->signature.ecdsa.signatureR.buffer,
                                    sig->signature.ecdsa.signatureR.size, sig->signature.ecdsa.signatureS.buffer,
                                    sig->signature.ecdsa.signatureS.size, FALSE, NULL);
        *detail = g_strdup_printf("ECDSA %s", EVP_MD_get0_name(md));
        break;
    default:
        *detail = g_strdup_printf("signature algorithm 0x%x not supported", sig->sigAlg);
        return FALSE;
    }
    ERR_clear_error();
    return ok;
}

static TPMI_ALG_HASH
sig_hash(const TPMT_SIGNATURE *sig)
{
    switch (sig->sigAlg) {
    case TPM2_ALG_RSASSA:
    case TPM2_ALG_RSAPSS:
        return sig->signature.rsassa.hash;
    case TPM2_ALG_ECDSA:
        return sig->signature.ecdsa.hash;
    default:
        return TPM2_ALG_NULL;
    }
}

static void
check_events(CvAttestVerdict *v, const CvAttestEventLog *log, guint pcr, GPtrArray *expected)
{
    g_autofree char *name = g_strdup_printf("tpm.events.pcr%u", pcr);
    g_autofree char *detail = NULL;
    gboolean ok = cv_attest_event_log_match(log, pcr, expected, &detail);

    cv_attest_verdict_add(v, name, ok ? CV_ATTEST_PASS : CV_ATTEST_FAIL, "%s", detail);
}

/* The quote and its signature, unmarshalled whole: trailing bytes are refused. */
static gboolean
tpm_unmarshal(const guint8 *attest, gsize attest_len, const guint8 *signature, gsize signature_len, TPMS_ATTEST *a,
              TPMT_SIGNATURE *sig, GError **error)
{
    size_t off = 0;

    if (attest_len > CV_ATTEST_TPM_MAX_BLOB || signature_len > CV_ATTEST_TPM_MAX_BLOB) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "quote or signature larger than %u bytes",
                    CV_ATTEST_TPM_MAX_BLOB);
        return FALSE;
    }
    memset(a, 0, sizeof(*a));
    memset(sig, 0, sizeof(*sig));
    if (!cv_tss_check_input(Tss2_MU_TPMS_ATTEST_Unmarshal(attest, attest_len, &off, a), "TPMS_ATTEST", error))
        return FALSE;
    if (off != attest_len) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "TPMS_ATTEST: %zu trailing bytes", attest_len - off);
        return FALSE;
    }
    off = 0;
    if (!cv_tss_check_input(Tss2_MU_TPMT_SIGNATURE_Unmarshal(signature, signature_len, &off, sig), "TPMT_SIGNATURE",
                            error))
        return FALSE;
    if (off != signature_len) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "TPMT_SIGNATURE: %zu trailing bytes", signature_len - off);
        return FALSE;
    }
    return TRUE;
}

/* What the policy expects of a TPM: read before any check, so that a malformed policy is an error. */
typedef struct {
    gboolean require_log;
    CvAttestPcrs pcrs;          /* "pcrs" */
    JsonObject *events;         /* "events": PCR → digests; NULL when absent */
} TpmExpected;

static gboolean
tpm_read_policy(JsonObject *policy, TpmExpected *want, GError **error)
{
    JsonNode *pcrs = policy ? json_object_get_member(policy, "pcrs") : NULL;
    JsonNode *events = policy ? json_object_get_member(policy, "events") : NULL;

    memset(want, 0, sizeof(*want));
    if (!cv_attest_policy_bool(policy, "require_event_log", FALSE, &want->require_log, error))
        return FALSE;
    if (pcrs && !cv_attest_pcrs_from_json(pcrs, &want->pcrs, error)) {
        g_prefix_error(error, "policy: pcrs: ");
        return FALSE;
    }
    if (events && !JSON_NODE_HOLDS_OBJECT(events)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: events must be an object of PCR → digests");
        return FALSE;
    }
    want->events = events ? json_node_get_object(events) : NULL;
    return TRUE;
}

/* tpm.signature, tpm.ak: the quote signed by an AK that only signs what the TPM generated */
static gboolean
tpm_check_signature(CvAttestVerdict *v, const CvAttestTpmInput *in, const TPMT_SIGNATURE *sig, const guint8 *attest,
                    gsize attest_len)
{
    g_autofree char *detail = NULL;
    gboolean ok = verify_signature(in->ak, sig, attest, attest_len, &detail);

    cv_attest_verdict_add(v, "tpm.signature", ok ? CV_ATTEST_PASS : CV_ATTEST_FAIL, "%s by the AK%s", detail,
                          ok ? "" : " does not verify");
    /* an AK that is not restricted could sign a forged TPMS_ATTEST */
    if (in->ak_public) {
        TPMA_OBJECT attrs = in->ak_public->objectAttributes;
        TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
                           TPMA_OBJECT_SENSITIVEDATAORIGIN;
        g_autoptr(EVP_PKEY) from_pub = cv_attest_tpm_public_to_pkey(in->ak_public, NULL);
        gboolean same = from_pub && EVP_PKEY_eq(from_pub, in->ak) == 1;
        /* qualifiedSigner is the AK's qualified name, which depends on its parents; the AK's name
         * itself is bound to the EK's TPM by credential activation */
        cv_attest_verdict_add(v, "tpm.ak", (attrs & need) == need && !(attrs & TPMA_OBJECT_DECRYPT) && same ?
                              CV_ATTEST_PASS : CV_ATTEST_FAIL,
                              "attributes 0x%08x (need restricted, sign, fixedTPM, sensitiveDataOrigin)%s", attrs,
                              same ? "" : ", the AK key differs from its public area");
    }
    return ok;
}

/* tpm.nonce: extraData is the expected nonce */
static void
tpm_check_nonce(CvAttestVerdict *v, const CvAttestTpmInput *in, const TPMS_ATTEST *a)
{
    g_autofree char *seen = cv_hex_encode(a->extraData.buffer, a->extraData.size);
    g_autofree char *want = NULL;

    if (!in->nonce) {
        cv_attest_verdict_add(v, "tpm.nonce", CV_ATTEST_NOT_CHECKED, "extraData %s (no nonce given)", seen);
        return;
    }
    if (a->extraData.size == in->nonce_len && CRYPTO_memcmp(a->extraData.buffer, in->nonce, in->nonce_len) == 0) {
        cv_attest_verdict_add(v, "tpm.nonce", CV_ATTEST_PASS, "extraData %s", seen);
        return;
    }
    want = cv_hex_encode(in->nonce, in->nonce_len);
    cv_attest_verdict_add(v, "tpm.nonce", CV_ATTEST_FAIL, "extraData %s, expected %s", seen, want);
}

/* tpm.pcr_digest: pcrDigest = H_sig(selected PCR values in selection order). The values it covers
 * go to `quoted` when it matches. */
static void
tpm_check_pcr_digest(CvAttestVerdict *v, const TPMS_ATTEST *a, const TPMT_SIGNATURE *sig, const CvAttestPcrs *pcrs,
                     CvAttestPcrs *quoted)
{
    const TPML_PCR_SELECTION *sel = &a->attested.quote.pcrSelect;
    const EVP_MD *md = tpm_md(sig_hash(sig));
    g_autoptr(EVP_MD_CTX) mctx = EVP_MD_CTX_new();
    guint8 digest[64];
    unsigned int n = 0;
    g_autoptr(GString) which = g_string_new(NULL);
    const char *problem = NULL;
    gboolean ok = FALSE;

    if (!md || EVP_DigestInit_ex(mctx, md, NULL) != 1)
        problem = "unsupported digest";
    for (guint32 b = 0; !problem && b < sel->count; b++) {
        const TPMS_PCR_SELECTION *s = &sel->pcrSelections[b];
        for (guint i = 0; !problem && i < 8u * s->sizeofSelect; i++) {
            if (!(s->pcrSelect[i / 8] & (1 << (i % 8))))
                continue;
            if (s->hash != TPM2_ALG_SHA256 || i >= 24 || !(pcrs->present & (1u << i))) {
                problem = "a quoted PCR value is missing (only SHA-256 PCRs 0-23 are known)";
                break;
            }
            EVP_DigestUpdate(mctx, pcrs->value[i], 32);
            memcpy(quoted->value[i], pcrs->value[i], 32);
            quoted->present |= 1u << i;
            g_string_append_printf(which, "%s%u", which->len ? "," : "", i);
        }
    }
    if (!problem && EVP_DigestFinal_ex(mctx, digest, &n) == 1)
        ok = n == a->attested.quote.pcrDigest.size && CRYPTO_memcmp(digest, a->attested.quote.pcrDigest.buffer, n) == 0;
    cv_attest_verdict_add(v, "tpm.pcr_digest", ok ? CV_ATTEST_PASS : CV_ATTEST_FAIL, "PCRs sha256:%s %s", which->str,
                          problem ? problem : ok ? "match the quote's pcrDigest" : "do not match the quote's pcrDigest");
    if (!ok)
        quoted->present = 0;
}

/* tpm.events.pcrN: the boot events the policy expects, found in a log that matched the quote (log_ok) */
static void
tpm_check_policy_events(CvAttestVerdict *v, const CvAttestEventLog *log, gboolean log_ok, JsonObject *events,
                        const CvAttestPcrs *quoted)
{
    JsonObjectIter it;
    const char *key;
    JsonNode *e;

    json_object_iter_init(&it, events);
    while (json_object_iter_next(&it, &key, &e)) {
        g_autoptr(GPtrArray) digests = NULL;
        g_autoptr(GError) perr = NULL;
        g_autoptr(JsonObject) wrap = json_object_new();
        guint64 pcr;
        g_autofree char *name = g_strdup_printf("tpm.events.pcr%s", key);
        json_object_set_member(wrap, "d", json_node_copy(e));
        if (!cv_parse_uint(key, 0, 9, &pcr, &perr) || !cv_attest_policy_hex(wrap, "d", 32, &digests, &perr)) {
            cv_attest_verdict_add(v, name, CV_ATTEST_FAIL, "policy: %s", perr ? perr->message : "empty");
            continue;
        }
        if (!log_ok || !(quoted->present & (1u << pcr)))
            cv_attest_verdict_add(v, name, CV_ATTEST_FAIL, "the log does not match the quoted PCR %u", (guint)pcr);
        else
            check_events(v, log, (guint)pcr, digests);
    }
}

/* tpm.event_log, then tpm.events.pcrN: the event log, replayed, must give the quoted PCRs 0-9 */
static void
tpm_check_event_log(CvAttestVerdict *v, GBytes *event_log, const TpmExpected *want, const CvAttestPcrs *quoted)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(CvAttestEventLog) log = NULL;
    g_autoptr(GString) bad_pcrs = g_string_new(NULL);
    guint8 replay[24][32];
    guint compared = 0;

    if (!event_log) {
        cv_attest_verdict_add(v, "tpm.event_log",
                              want->require_log || want->events ? CV_ATTEST_FAIL : CV_ATTEST_NOT_CHECKED, "no event log");
        return;
    }
    log = cv_attest_event_log_parse(event_log, &local);
    if (!log || !cv_attest_event_log_replay(log, replay, &local)) {
        cv_attest_verdict_add(v, "tpm.event_log", CV_ATTEST_FAIL, "%s", local->message);
        return;
    }
    for (guint i = 0; i < 10; i++) {
        if (!(quoted->present & (1u << i)))
            continue;
        compared++;
        if (memcmp(replay[i], quoted->value[i], 32) != 0)
            g_string_append_printf(bad_pcrs, "%s%u", bad_pcrs->len ? "," : "", i);
    }
    if (compared == 0)
        cv_attest_verdict_add(v, "tpm.event_log", CV_ATTEST_FAIL, "no trusted quoted PCR 0-9 to compare with");
    else if (bad_pcrs->len)
        cv_attest_verdict_add(v, "tpm.event_log", CV_ATTEST_FAIL, "%u events; replay differs in PCR %s",
                              log->events->len, bad_pcrs->str);
    else
        cv_attest_verdict_add(v, "tpm.event_log", CV_ATTEST_PASS, "%u events replay to the %u quoted PCRs",
                              log->events->len, compared);
    if (want->events)
        tpm_check_policy_events(v, log, bad_pcrs->len == 0 && compared > 0, want->events, quoted);
}

/* tpm.pcr.N: the PCR values the policy names, from the verified quote */
static void
tpm_check_pcrs(CvAttestVerdict *v, const CvAttestPcrs *expected, const CvAttestPcrs *quoted)
{
    for (guint i = 0; i < 24; i++) {
        g_autofree char *name = NULL;
        g_autofree char *seen = NULL, *want = NULL;
        if (!(expected->present & (1u << i)))
            continue;
        name = g_strdup_printf("tpm.pcr.%u", i);
        want = cv_hex_encode(expected->value[i], 32);
        if (!(quoted->present & (1u << i))) {
            cv_attest_verdict_add(v, name, CV_ATTEST_FAIL, "not covered by a verified quote; expected %s", want);
            continue;
        }
        seen = cv_hex_encode(quoted->value[i], 32);
        if (memcmp(quoted->value[i], expected->value[i], 32) == 0)
            cv_attest_verdict_add(v, name, CV_ATTEST_PASS, "%s", seen);
        else
            cv_attest_verdict_add(v, name, CV_ATTEST_FAIL, "%s, expected %s", seen, want);
    }
}

gboolean
cv_attest_tpm_verify(CvAttestVerdict *v, const guint8 *attest, gsize attest_len, const guint8 *signature,
                     gsize signature_len, const CvAttestTpmInput *in, GError **error)
{
    TPMS_ATTEST a;
    TPMT_SIGNATURE sig;
    TpmExpected want;
    CvAttestPcrs quoted = { 0 };
    gboolean sig_ok;

    if (!tpm_unmarshal(attest, attest_len, signature, signature_len, &a, &sig, error) ||
        !tpm_read_policy(in->policy, &want, error))
        return FALSE;
    cv_attest_verdict_add(v, "tpm.quote",
                          a.magic == TPM2_GENERATED_VALUE && a.type == TPM2_ST_ATTEST_QUOTE ? CV_ATTEST_PASS :
                          CV_ATTEST_FAIL, "magic 0x%08x, type 0x%04x (a TPM-generated quote is 0xff544347, 0x8018)",
                          a.magic, a.type);
    sig_ok = tpm_check_signature(v, in, &sig, attest, attest_len);
    tpm_check_nonce(v, in, &a);
    if (a.type == TPM2_ST_ATTEST_QUOTE)
        tpm_check_pcr_digest(v, &a, &sig, in->pcrs, &quoted);
    if (!sig_ok)
        quoted.present = 0;     /* nothing below may trust a value the TPM did not sign */
    tpm_check_event_log(v, in->event_log, &want, &quoted);
    tpm_check_pcrs(v, &want.pcrs, &quoted);
    return TRUE;
}
