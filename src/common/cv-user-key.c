#include "cv-user-key.h"
#include "cv-autoptr.h"
#include "cv-error.h"

#include <string.h>

struct _CvUserKey {
    gnutls_pubkey_t key;
    gnutls_sign_algorithm_t sign;  /* how its signatures of D are made */
    const char *type;
};

void
cv_user_key_free(CvUserKey *k)
{
    if (!k)
        return;
    gnutls_pubkey_deinit(k->key);
    g_free(k);
}

/* RSA >= 2048 bits, ECDSA on P-256 or Ed25519, as cv_sign_key_type() allows. */
static gboolean
classify(CvUserKey *k)
{
    unsigned int bits = 0;
    gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;

    switch (gnutls_pubkey_get_pk_algorithm(k->key, &bits)) {
    case GNUTLS_PK_RSA:
        k->type = "rsa";
        k->sign = GNUTLS_SIGN_RSA_SHA256;
        return bits >= 2048;
    case GNUTLS_PK_ECDSA:
        k->type = "ecdsa";
        k->sign = GNUTLS_SIGN_ECDSA_SHA256;
        return gnutls_pubkey_export_ecc_raw2(k->key, &curve, NULL, NULL, 0) == 0 &&
               curve == GNUTLS_ECC_CURVE_SECP256R1;
    case GNUTLS_PK_EDDSA_ED25519:
        k->type = "ed25519";
        k->sign = GNUTLS_SIGN_EDDSA_ED25519;
        return TRUE;
    default:
        return FALSE;
    }
}

static CvUserKey *
user_key_import(const guint8 *data, gsize len, gnutls_x509_crt_fmt_t format, GError **error)
{
    g_autoptr(CvUserKey) k = g_new0(CvUserKey, 1);
    gnutls_datum_t d = { (unsigned char *)data, (unsigned int)len };
    const char *what = format == GNUTLS_X509_FMT_PEM ? "PEM" : "DER";
    int rc;

    if (!data || len == 0 || len > 64 * 1024) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not a %s public key", what);
        return NULL;
    }
    if ((rc = gnutls_pubkey_init(&k->key)) < 0 || (rc = gnutls_pubkey_import(k->key, &d, format)) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not a %s public key: %s", what, gnutls_strerror(rc));
        return NULL;
    }
    if (!classify(k)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "the public key is not an RSA (>= 2048 bits), ECDSA P-256 or Ed25519 key");
        return NULL;
    }
    return g_steal_pointer(&k);
}

CvUserKey *
cv_user_key_new_from_pem(const char *pem, gsize len, GError **error)
{
    return user_key_import((const guint8 *)pem, len, GNUTLS_X509_FMT_PEM, error);
}

CvUserKey *
cv_user_key_new_from_der(const guint8 *der, gsize len, GError **error)
{
    return user_key_import(der, len, GNUTLS_X509_FMT_DER, error);
}

const char *
cv_user_key_type(const CvUserKey *k)
{
    return k->type;
}

gboolean
cv_user_key_verify(const CvUserKey *k, const guint8 digest[32], const guint8 *sig, gsize sig_len,
                         GError **error)
{
    gnutls_datum_t d = { (unsigned char *)digest, 32 };
    gnutls_datum_t s = { (unsigned char *)sig, (unsigned int)sig_len };
    int rc;

    /* RSA and ECDSA hash D with SHA-256 once more; Ed25519 signs D itself */
    rc = sig_len > 0 && sig_len <= 1024 ? gnutls_pubkey_verify_data2(k->key, k->sign, 0, &d, &s)
                                        : GNUTLS_E_PK_SIG_VERIFY_FAILED;
    if (rc < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAUTHORIZED, "signature does not verify: %s", gnutls_strerror(rc));
        return FALSE;
    }
    return TRUE;
}
