#include "attest-util.h"
#include "cv-util.h"

#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

CvX509Stack *
cv_attest_pem_certs(const void *pem, gsize len, GError **error)
{
    g_autoptr(CvX509Stack) certs = sk_X509_new_null();
    g_autoptr(BIO) bio = NULL;

    if (len > G_MAXINT) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "certificate file too large");
        return NULL;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    for (;;) {
        X509 *c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!c)
            break;
        sk_X509_push(certs, c);
    }
    ERR_clear_error();
    if (sk_X509_num(certs) == 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "no PEM certificate found");
        return NULL;
    }
    return g_steal_pointer(&certs);
}

X509 *
cv_attest_load_cert(const void *data, gsize len, GError **error)
{
    const unsigned char *p = data;
    X509 *cert = NULL;

    if (len > G_MAXINT) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "certificate too large");
        return NULL;
    }
    cert = d2i_X509(NULL, &p, (long)len);
    if (cert && p != (const unsigned char *)data + len) {
        X509_free(cert);
        cert = NULL;
    }
    if (!cert) {
        g_autoptr(BIO) bio = BIO_new_mem_buf(data, (int)len);
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    }
    if (!cert) {
        g_autofree char *ssl = cv_openssl_error_text();
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not a DER or PEM certificate: %s", ssl);
        return NULL;
    }
    ERR_clear_error();
    return cert;
}

char *
cv_attest_cert_subject(X509 *cert)
{
    char buf[256];

    X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
    return g_strdup(buf);
}

gboolean
cv_attest_verify_chain(X509 *leaf, STACK_OF(X509) *intermediates, STACK_OF(X509) *roots,
                       gint64 at_unix_time, GError **error)
{
    g_autoptr(X509_STORE) store = X509_STORE_new();
    g_autoptr(X509_STORE_CTX) ctx = X509_STORE_CTX_new();
    X509_VERIFY_PARAM *param = NULL;
    int err;

    for (int i = 0; i < sk_X509_num(roots); i++) {
        X509 *root = sk_X509_value(roots, i);
        /* only self-signed certificates anchor a chain: an intermediate in the trust file
         * must not make a partial chain acceptable */
        if (X509_check_issued(root, root) != X509_V_OK)
            continue;
        X509_STORE_add_cert(store, root);
    }
    if (!X509_STORE_CTX_init(ctx, store, leaf, intermediates)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "X509_STORE_CTX_init failed");
        return FALSE;
    }
    param = X509_STORE_CTX_get0_param(ctx);
    if (at_unix_time > 0)
        X509_VERIFY_PARAM_set_time(param, (time_t)at_unix_time);
    X509_VERIFY_PARAM_clear_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
    if (X509_verify_cert(ctx) == 1) {
        ERR_clear_error();
        return TRUE;
    }
    err = X509_STORE_CTX_get_error(ctx);
    ERR_clear_error();
    g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "%s (depth %d)", X509_verify_cert_error_string(err),
                X509_STORE_CTX_get_error_depth(ctx));
    return FALSE;
}

gboolean
cv_attest_ecdsa_verify(EVP_PKEY *key, const EVP_MD *md, const guint8 *msg, gsize msg_len,
                       const guint8 *r, gsize r_len, const guint8 *s, gsize s_len, gboolean little_endian,
                       GError **error)
{
    g_autoptr(ECDSA_SIG) sig = ECDSA_SIG_new();
    g_autoptr(EVP_MD_CTX) mctx = EVP_MD_CTX_new();
    BIGNUM *br = little_endian ? BN_lebin2bn(r, (int)r_len, NULL) : BN_bin2bn(r, (int)r_len, NULL);
    BIGNUM *bs = little_endian ? BN_lebin2bn(s, (int)s_len, NULL) : BN_bin2bn(s, (int)s_len, NULL);
    g_autofree unsigned char *der = NULL;
    unsigned char *p = NULL;
    int der_len;

    if (!br || !bs || !ECDSA_SIG_set0(sig, br, bs)) {
        BN_free(br);
        BN_free(bs);
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot build ECDSA signature");
        return FALSE;
    }
    der_len = i2d_ECDSA_SIG(sig, NULL);
    if (der_len <= 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot encode ECDSA signature");
        return FALSE;
    }
    der = g_malloc(der_len);
    p = der;
    i2d_ECDSA_SIG(sig, &p);
    if (EVP_DigestVerifyInit(mctx, NULL, md, NULL, key) != 1 ||
        EVP_DigestVerify(mctx, der, der_len, msg, msg_len) != 1) {
        ERR_clear_error();
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "ECDSA signature does not verify");
        return FALSE;
    }
    return TRUE;
}

EVP_PKEY *
cv_attest_p256_from_xy(const guint8 xy[64], GError **error)
{
    guint8 point[65];
    g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[3];
    EVP_PKEY *key = NULL;

    point[0] = 0x04;
    memcpy(point + 1, xy, 64);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point));
    params[2] = OSSL_PARAM_construct_end();
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        ERR_clear_error();
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "not a P-256 public key");
        return NULL;
    }
    {
        /* fromdata does not check that the point is on the curve */
        g_autoptr(EVP_PKEY_CTX) check = EVP_PKEY_CTX_new(key, NULL);
        if (!check || EVP_PKEY_public_check(check) != 1) {
            ERR_clear_error();
            EVP_PKEY_free(key);
            g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "P-256 public key is not on the curve");
            return NULL;
        }
    }
    return key;
}

gboolean
cv_attest_policy_hex(JsonObject *policy, const char *member, gsize size, GPtrArray **values, GError **error)
{
    JsonNode *node = policy ? json_object_get_member(policy, member) : NULL;
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    g_autoptr(GPtrArray) texts = g_ptr_array_new();

    *values = NULL;
    if (!node || JSON_NODE_HOLDS_NULL(node))
        return FALSE;
    if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING) {
        g_ptr_array_add(texts, (gpointer)json_node_get_string(node));
    } else if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *a = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonNode *e = json_array_get_element(a, i);
            if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
                g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: %s[%u] is not a string", member, i);
                return FALSE;
            }
            g_ptr_array_add(texts, (gpointer)json_node_get_string(e));
        }
        if (texts->len == 0) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: %s is an empty list", member);
            return FALSE;
        }
    } else {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: %s must be a hex string or a list of them",
                    member);
        return FALSE;
    }
    for (guint i = 0; i < texts->len; i++) {
        g_autoptr(GError) local = NULL;
        GBytes *b = cv_hex_decode(g_ptr_array_index(texts, i), &local);
        if (!b || g_bytes_get_size(b) != size) {
            if (b)
                g_bytes_unref(b);
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: %s must be %zu bytes of hex", member, size);
            return FALSE;
        }
        g_ptr_array_add(out, b);
    }
    *values = g_steal_pointer(&out);
    return TRUE;
}

gboolean
cv_attest_policy_uint(JsonObject *policy, const char *member, guint64 max, guint64 *value, GError **error)
{
    JsonNode *node = policy ? json_object_get_member(policy, member) : NULL;
    gint64 v;

    if (!node || JSON_NODE_HOLDS_NULL(node))
        return FALSE;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64 ||
        (v = json_node_get_int(node)) < 0 || (guint64)v > max) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: %s must be an integer from 0 to %" G_GUINT64_FORMAT,
                    member, max);
        return FALSE;
    }
    *value = (guint64)v;
    return TRUE;
}

gboolean
cv_attest_policy_bool(JsonObject *policy, const char *member, gboolean fallback, gboolean *value, GError **error)
{
    JsonNode *node = policy ? json_object_get_member(policy, member) : NULL;

    *value = fallback;
    if (!node || JSON_NODE_HOLDS_NULL(node))
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: %s must be true or false", member);
        return FALSE;
    }
    *value = json_node_get_boolean(node);
    return TRUE;
}

void
cv_attest_check_bytes(CvAttestVerdict *verdict, const char *name, const guint8 *seen, gsize len,
                      GPtrArray *allowed)
{
    g_autofree char *hex = cv_hex_encode(seen, len);

    if (!allowed) {
        cv_attest_verdict_add(verdict, name, CV_ATTEST_NOT_CHECKED, "%s (no expected value in the policy)", hex);
        return;
    }
    for (guint i = 0; i < allowed->len; i++) {
        GBytes *b = g_ptr_array_index(allowed, i);
        if (g_bytes_get_size(b) == len && CRYPTO_memcmp(g_bytes_get_data(b, NULL), seen, len) == 0) {
            cv_attest_verdict_add(verdict, name, CV_ATTEST_PASS, "%s", hex);
            return;
        }
    }
    {
        g_autofree char *want = cv_hex_encode(g_bytes_get_data(g_ptr_array_index(allowed, 0), NULL),
                                              g_bytes_get_size(g_ptr_array_index(allowed, 0)));
        cv_attest_verdict_add(verdict, name, CV_ATTEST_FAIL, "%s, expected %s%s", hex, want,
                              allowed->len > 1 ? " (or another listed value)" : "");
    }
}


void
cv_attest_check_policy_bytes(CvAttestVerdict *verdict, JsonObject *policy, const char *member,
                             const char *name, const guint8 *seen, gsize len, gboolean show_seen)
{
    g_autoptr(GPtrArray) allowed = NULL;
    g_autoptr(GError) local = NULL;

    if (!cv_attest_policy_hex(policy, member, len, &allowed, &local) && local) {
        g_autofree char *hex = show_seen ? cv_hex_encode(seen, len) : NULL;
        cv_attest_verdict_add(verdict, name, CV_ATTEST_FAIL, "%s%s%s", hex ? hex : "", hex ? "; " : "",
                              local->message);
        return;
    }
    cv_attest_check_bytes(verdict, name, seen, len, allowed);
}
