#include "tls.h"
#include "cv-autoptr.h"
#include "cv-error.h"
#include "cv-sign.h"
#include "cv-util.h"

#include <string.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static gboolean
ssl_fail(GError **error, const char *what)
{
    g_autofree char *why = cv_openssl_error_text();

    g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "TLS identity: %s: %s", what, why);
    return FALSE;
}

static char *
bio_text(BIO *bio)
{
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);

    return g_strndup(p, n);
}

GTlsCertificate *
cv_agent_tls_identity_new(guint8 pubkey_sha256[32], GError **error)
{
    g_autoptr(EVP_PKEY) key = EVP_EC_gen("P-256");
    g_autoptr(X509) cert = X509_new();
    g_autoptr(BIO) cbio = BIO_new(BIO_s_mem());
    g_autoptr(BIO) kbio = BIO_new(BIO_s_mem());
    g_autoptr(BIGNUM) serial = BN_new();
    g_autoptr(GBytes) sha = NULL;
    g_autofree char *pem = NULL;
    g_autofree char *cpem = NULL;
    g_autofree char *kpem = NULL;
    g_autoptr(GError) local = NULL;
    X509_NAME *name;
    X509_EXTENSION *ext;
    X509V3_CTX v3;
    GTlsCertificate *tls;

    if (!key || !cert || !cbio || !kbio || !serial)
        { ssl_fail(error, "allocation"); return NULL; }
    if (!BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) || !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) ||
        !X509_set_version(cert, 2) || !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600) || !X509_set_pubkey(cert, key))
        { ssl_fail(error, "certificate fields"); return NULL; }
    name = X509_get_subject_name(cert);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"covirt-agent", -1, -1, 0) ||
        !X509_set_issuer_name(cert, name))
        { ssl_fail(error, "certificate name"); return NULL; }
    /* Clients pin the key after attestation, so the names matter little; they help curl users. */
    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:covirt-agent,DNS:localhost,IP:127.0.0.1");
    if (!ext || !X509_add_ext(cert, ext, -1)) {
        X509_EXTENSION_free(ext);
        { ssl_fail(error, "subjectAltName"); return NULL; }
    }
    X509_EXTENSION_free(ext);
    if (!X509_sign(cert, key, EVP_sha256()))
        { ssl_fail(error, "signing"); return NULL; }
    if (!PEM_write_bio_X509(cbio, cert) || !PEM_write_bio_PrivateKey(kbio, key, NULL, NULL, 0, NULL, NULL))
        { ssl_fail(error, "PEM"); return NULL; }
    cpem = bio_text(cbio);
    kpem = bio_text(kbio);
    pem = g_strconcat(cpem, kpem, NULL);
    tls = g_tls_certificate_new_from_pem(pem, -1, &local);
    /* The private key text lived only in these buffers; wipe them. */
    memset(kpem, 0, strlen(kpem));
    memset(pem, 0, strlen(pem));
    if (!tls) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "TLS identity: GIO refused the certificate: %s",
                    local->message);
        return NULL;
    }
    sha = cv_sign_pubkey_sha256(key, error);
    if (!sha) {
        g_object_unref(tls);
        return NULL;
    }
    memcpy(pubkey_sha256, g_bytes_get_data(sha, NULL), 32);
    return tls;
}
