#include "cv-sign.h"
#include "cv-autoptr.h"
#include "cv-error.h"
#include "cv-util.h"

#include <string.h>
#include <openssl/pem.h>
#include <openssl/core_names.h>

const char *
cv_sign_key_type(EVP_PKEY *key)
{
    char group[64] = "";

    if (EVP_PKEY_is_a(key, "RSA"))
        return EVP_PKEY_get_bits(key) >= 2048 ? "rsa" : NULL;
    if (EVP_PKEY_is_a(key, "ED25519"))
        return "ed25519";
    if (EVP_PKEY_is_a(key, "EC") &&
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) &&
        strcmp(group, "prime256v1") == 0)
        return "ecdsa";
    return NULL;
}

static EVP_PKEY *
check_type(EVP_PKEY *key, const char *what, GError **error)
{
    if (!cv_sign_key_type(key)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "%s is not an RSA (>= 2048 bits), ECDSA P-256 or Ed25519 key", what);
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

EVP_PKEY *
cv_sign_pubkey_from_pem(const char *pem, gsize len, GError **error)
{
    g_autoptr(BIO) bio = NULL;
    EVP_PKEY *key;

    if (!pem || len == 0 || len > 64 * 1024) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not a PEM public key");
        return NULL;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (!key) {
        g_autofree char *why = cv_openssl_error_text();
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not a PEM public key: %s", why);
        return NULL;
    }
    return check_type(key, "the public key", error);
}

EVP_PKEY *
cv_sign_privkey_load(const char *path, GError **error)
{
    g_autoptr(GBytes) data = cv_read_file(path, 64 * 1024, error);
    g_autoptr(BIO) bio = NULL;
    gsize len = 0;
    const char *p;
    EVP_PKEY *key;

    if (!data)
        return NULL;
    p = g_bytes_get_data(data, &len);
    bio = BIO_new_mem_buf(p, (int)len);
    /* An empty passphrase callback: encrypted keys are refused rather than prompting. */
    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
    if (!key) {
        g_autofree char *why = cv_openssl_error_text();
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s is not an unencrypted PEM private key: %s", path, why);
        return NULL;
    }
    return check_type(key, path, error);
}

GBytes *
cv_sign_pubkey_sha256(EVP_PKEY *key, GError **error)
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    GBytes *out;

    if (len <= 0) {
        g_autofree char *why = cv_openssl_error_text();
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot encode public key: %s", why);
        return NULL;
    }
    out = cv_digest("SHA256", der, len, error);
    OPENSSL_free(der);
    return out;
}

char *
cv_sign_pubkey_sha256_hex(EVP_PKEY *key, GError **error)
{
    return cv_hex_encode_take(cv_sign_pubkey_sha256(key, error));
}

char *
cv_sign_pubkey_to_pem(EVP_PKEY *key, GError **error)
{
    g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;

    if (!PEM_write_bio_PUBKEY(bio, key)) {
        g_autofree char *why = cv_openssl_error_text();
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot encode public key: %s", why);
        return NULL;
    }
    n = BIO_get_mem_data(bio, &p);
    return g_strndup(p, n);
}

gboolean
cv_sign_request_digest(const guint8 *challenge, gsize challenge_len, const char *method, const char *path,
                       const guint8 body_sha3[32], guint8 out[CV_SIGN_DIGEST_SIZE], GError **error)
{
    g_autoptr(GByteArray) msg = g_byte_array_new();
    g_autoptr(GBytes) d = NULL;

    g_byte_array_append(msg, challenge, challenge_len);
    g_byte_array_append(msg, (const guint8 *)method, strlen(method));
    g_byte_array_append(msg, (const guint8 *)path, strlen(path));
    g_byte_array_append(msg, body_sha3, 32);
    d = cv_digest("SHA256", msg->data, msg->len, error);
    if (!d)
        return FALSE;
    memcpy(out, g_bytes_get_data(d, NULL), CV_SIGN_DIGEST_SIZE);
    return TRUE;
}

/* Ed25519 signs the message itself; the others hash it with SHA-256 first. */
static const char *
md_for(EVP_PKEY *key)
{
    return EVP_PKEY_is_a(key, "ED25519") ? NULL : "SHA256";
}

GBytes *
cv_sign_digest(EVP_PKEY *key, const guint8 digest[CV_SIGN_DIGEST_SIZE], GError **error)
{
    g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new();
    g_autofree guint8 *sig = NULL;
    size_t len = 0;

    if (!ctx || EVP_DigestSignInit_ex(ctx, NULL, md_for(key), NULL, NULL, key, NULL) != 1 ||
        EVP_DigestSign(ctx, NULL, &len, digest, CV_SIGN_DIGEST_SIZE) != 1)
        goto fail;
    sig = g_malloc(len);
    if (EVP_DigestSign(ctx, sig, &len, digest, CV_SIGN_DIGEST_SIZE) != 1)
        goto fail;
    return g_bytes_new(sig, len);
 fail:
    {
        g_autofree char *why = cv_openssl_error_text();
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot sign: %s", why);
    }
    return NULL;
}
