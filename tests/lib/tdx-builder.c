/* TDX quotes built by the tests from a real one: its header, body and QE report, re-signed under
 * the test's own root CA, PCK key and attestation key, so that v5 layouts and chosen RTMR 3 /
 * REPORTDATA values can be verified end to end (no real quote of that kind is at hand). */
#include "tdx-builder.h"
#include "tdx-quote.h"

#include <string.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static X509 *
make_cert(EVP_PKEY *key, EVP_PKEY *issuer_key, X509 *issuer, const char *cn, gboolean ca)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    g_assert_cmpint(X509_sign(x, issuer_key, EVP_sha256()), >, 0);
    X509_NAME_free(name);
    return x;
}

void
tdx_test_chain_init(TdxTestChain *t)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;

    t->root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    t->pck_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    t->ak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    t->root_cert = make_cert(t->root_key, t->root_key, NULL, "covirt test SGX Root CA", TRUE);
    t->pck_cert = make_cert(t->pck_key, t->root_key, t->root_cert, "covirt test PCK Certificate", FALSE);
    PEM_write_bio_X509(bio, t->root_cert);
    n = BIO_get_mem_data(bio, &p);
    t->root_pem = g_bytes_new(p, n);
    BIO_free(bio);
}

void
tdx_test_chain_clear(TdxTestChain *t)
{
    EVP_PKEY_free(t->root_key);
    EVP_PKEY_free(t->pck_key);
    EVP_PKEY_free(t->ak);
    X509_free(t->root_cert);
    X509_free(t->pck_cert);
    g_bytes_unref(t->root_pem);
}

/* ECDSA P-256 over SHA-256, as the quote carries it: r ‖ s, 32 bytes each, big-endian */
static void
sign_raw(EVP_PKEY *key, const guint8 *data, gsize len, guint8 out[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    guint8 der[80];
    const guint8 *p = der;
    size_t der_len = sizeof(der);
    ECDSA_SIG *sig;

    g_assert_cmpint(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), ==, 1);
    g_assert_cmpint(EVP_DigestSign(md, der, &der_len, data, len), ==, 1);
    sig = d2i_ECDSA_SIG(NULL, &p, der_len);
    g_assert_nonnull(sig);
    g_assert_cmpint(BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 32), ==, 32);
    g_assert_cmpint(BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 32, 32), ==, 32);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
}

static void
put16(GByteArray *a, guint16 v)
{
    guint8 b[2] = { v & 0xff, v >> 8 };
    g_byte_array_append(a, b, 2);
}

static void
put32(GByteArray *a, guint32 v)
{
    guint8 b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
    g_byte_array_append(a, b, 4);
}

GBytes *
tdx_test_build_quote(TdxTestChain *t, GBytes *real_quote, guint16 version, guint16 body_type, const guint8 *rtmr3,
                     const guint8 *report_data)
{
    const guint8 *real = g_bytes_get_data(real_quote, NULL);
    CvAttestTdxQuote rq;
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_autoptr(GByteArray) sigdata = g_byte_array_new();
    guint8 header[CV_ATTEST_TDX_HEADER_SIZE], xy[65], qe[CV_ATTEST_TDX_QE_REPORT_SIZE], sig[64];
    guint8 ext[64];
    guint body_at;
    size_t xy_len = 0;
    unsigned int n = 0;
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long pem_len;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    g_assert_true(cv_attest_tdx_quote_parse(real, g_bytes_get_size(real_quote), &rq, NULL));
    memcpy(header, real, sizeof(header));
    header[0] = version;
    g_byte_array_append(a, header, sizeof(header));
    if (version == 5) {
        put16(a, body_type);
        put32(a, body_type == 3 ? CV_ATTEST_TDX_BODY15_SIZE : CV_ATTEST_TDX_BODY_SIZE);
    }
    body_at = a->len;
    g_byte_array_append(a, real + CV_ATTEST_TDX_HEADER_SIZE, CV_ATTEST_TDX_BODY_SIZE);
    if (rtmr3)
        memcpy(a->data + body_at + 328 + 3 * 48, rtmr3, 48);
    if (report_data)
        memcpy(a->data + body_at + 520, report_data, 64);
    if (version == 5 && body_type == 3) {
        memset(ext, 0x5a, sizeof(ext));
        g_byte_array_append(a, ext, sizeof(ext));
    }
    /* attestation key signs what came so far */
    sign_raw(t->ak, a->data, a->len, sig);
    g_assert_cmpint(EVP_PKEY_get_octet_string_param(t->ak, OSSL_PKEY_PARAM_PUB_KEY, xy, sizeof(xy), &xy_len), ==, 1);
    g_assert_cmpuint(xy_len, ==, 65);
    /* the QE report binds it: report data = SHA-256(key ‖ auth data) ‖ zeros, signed by the PCK key */
    memcpy(qe, rq.qe_report, sizeof(qe));
    memset(qe + 320, 0, 64);
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, xy + 1, 64);
    EVP_DigestUpdate(md, rq.qe_auth_data, rq.qe_auth_data_len);
    EVP_DigestFinal_ex(md, qe + 320, &n);
    EVP_MD_CTX_free(md);
    PEM_write_bio_X509(bio, t->pck_cert);
    PEM_write_bio_X509(bio, t->root_cert);
    pem_len = BIO_get_mem_data(bio, &pem);

    g_byte_array_append(sigdata, sig, 64);
    g_byte_array_append(sigdata, xy + 1, 64);
    put16(sigdata, 6);
    put32(sigdata, CV_ATTEST_TDX_QE_REPORT_SIZE + 64 + 2 + rq.qe_auth_data_len + 6 + pem_len);
    g_byte_array_append(sigdata, qe, sizeof(qe));
    sign_raw(t->pck_key, qe, sizeof(qe), sig);
    g_byte_array_append(sigdata, sig, 64);
    put16(sigdata, rq.qe_auth_data_len);
    g_byte_array_append(sigdata, rq.qe_auth_data, rq.qe_auth_data_len);
    put16(sigdata, 5);
    put32(sigdata, pem_len);
    g_byte_array_append(sigdata, (const guint8 *)pem, pem_len);
    BIO_free(bio);

    put32(a, sigdata->len);
    g_byte_array_append(a, sigdata->data, sigdata->len);
    return g_byte_array_free_to_bytes(g_steal_pointer(&a));
}

