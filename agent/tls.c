/* The identity is made with GnuTLS, the library that serves it (glib-networking):
 * the agent never touches OpenSSL at start (cv-user-key.h says why that matters). */
#include "tls.h"
#include "cv-autoptr.h"
#include "cv-error.h"

#include <string.h>
#include <gnutls/crypto.h>

static gboolean
tls_fail(GError **error, const char *what, int rc)
{
    g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "TLS identity: %s: %s", what, gnutls_strerror(rc));
    return FALSE;
}

static void
datum_wipe_free(gnutls_datum_t *d)
{
    if (d->data) {
        gnutls_memset(d->data, 0, d->size);
        gnutls_free(d->data);
    }
    d->data = NULL;
}

/* SHA-256 of the DER SubjectPublicKeyInfo, as clients pin it (cv_sign_pubkey_sha256). */
static gboolean
spki_sha256(gnutls_x509_crt_t cert, guint8 out[32], GError **error)
{
    g_auto(gnutls_pubkey_t) pub = NULL;
    gnutls_datum_t der = { NULL, 0 };
    gsize len = 32;
    GChecksum *sum;
    int rc;

    if ((rc = gnutls_pubkey_init(&pub)) < 0 || (rc = gnutls_pubkey_import_x509(pub, cert, 0)) < 0 ||
        (rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der)) < 0)
        return tls_fail(error, "public key", rc);
    sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(sum, der.data, der.size);
    g_checksum_get_digest(sum, out, &len);
    g_checksum_free(sum);
    gnutls_free(der.data);
    return TRUE;
}

GTlsCertificate *
cv_agent_tls_identity_new(guint8 pubkey_sha256[32], GError **error)
{
    g_auto(gnutls_x509_privkey_t) key = NULL;
    g_auto(gnutls_x509_crt_t) cert = NULL;
    gnutls_datum_t cpem = { NULL, 0 }, kpem = { NULL, 0 };
    g_autoptr(GError) local = NULL;
    static const char *const dns[] = { "covirt-agent", "localhost" };
    static const guint8 loopback[4] = { 127, 0, 0, 1 };
    guint8 serial[8];
    guint8 sha[32];
    time_t now = time(NULL);
    char *pem;
    GTlsCertificate *tls;
    int rc;

    if ((rc = gnutls_x509_privkey_init(&key)) < 0 ||
        (rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0)
        { tls_fail(error, "key", rc); return NULL; }
    /* a positive 63-bit serial */
    if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
        { tls_fail(error, "serial", rc); return NULL; }
    serial[0] &= 0x7f;
    if ((rc = gnutls_x509_crt_init(&cert)) < 0 || (rc = gnutls_x509_crt_set_version(cert, 3)) < 0 ||
        (rc = gnutls_x509_crt_set_serial(cert, serial, sizeof(serial))) < 0 ||
        (rc = gnutls_x509_crt_set_activation_time(cert, now - 3600)) < 0 ||
        (rc = gnutls_x509_crt_set_expiration_time(cert, now + 365L * 24 * 3600)) < 0 ||
        (rc = gnutls_x509_crt_set_key(cert, key)) < 0)
        { tls_fail(error, "certificate fields", rc); return NULL; }
    if ((rc = gnutls_x509_crt_set_dn_by_oid(cert, GNUTLS_OID_X520_COMMON_NAME, 0, "covirt-agent", 12)) < 0 ||
        (rc = gnutls_x509_crt_set_issuer_dn_by_oid(cert, GNUTLS_OID_X520_COMMON_NAME, 0, "covirt-agent", 12)) < 0)
        { tls_fail(error, "certificate name", rc); return NULL; }
    /* Clients pin the key after attestation, so the names matter little; they help curl users. */
    for (guint i = 0; i < G_N_ELEMENTS(dns); i++)
        if ((rc = gnutls_x509_crt_set_subject_alt_name(cert, GNUTLS_SAN_DNSNAME, dns[i], strlen(dns[i]),
                                                       GNUTLS_FSAN_APPEND)) < 0)
            { tls_fail(error, "subjectAltName", rc); return NULL; }
    if ((rc = gnutls_x509_crt_set_subject_alt_name(cert, GNUTLS_SAN_IPADDRESS, loopback, sizeof(loopback),
                                                   GNUTLS_FSAN_APPEND)) < 0)
        { tls_fail(error, "subjectAltName", rc); return NULL; }
    if ((rc = gnutls_x509_crt_sign2(cert, cert, key, GNUTLS_DIG_SHA256, 0)) < 0)
        { tls_fail(error, "signing", rc); return NULL; }
    if (!spki_sha256(cert, sha, error))
        return NULL;
    if ((rc = gnutls_x509_crt_export2(cert, GNUTLS_X509_FMT_PEM, &cpem)) < 0 ||
        (rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &kpem)) < 0) {
        gnutls_free(cpem.data);
        tls_fail(error, "PEM", rc);
        return NULL;
    }
    pem = g_strdup_printf("%.*s%.*s", (int)cpem.size, cpem.data, (int)kpem.size, kpem.data);
    tls = g_tls_certificate_new_from_pem(pem, -1, &local);
    /* The private key text lived only in these buffers; wipe them. */
    gnutls_memset(pem, 0, strlen(pem));
    g_free(pem);
    datum_wipe_free(&kpem);
    gnutls_free(cpem.data);
    if (!tls) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "TLS identity: GIO refused the certificate: %s",
                    local->message);
        return NULL;
    }
    memcpy(pubkey_sha256, sha, sizeof(sha));
    return tls;
}
