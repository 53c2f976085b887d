/* The agent checks with GnuTLS what the CLI makes with OpenSSL (user-key.h): request
 * signatures of each key type, the key types it refuses, SHA3-256 (one-shot and the
 * upload sink's stream), and the TLS identity's pin as clients compute it. */
#include "sha3.h"
#include "tls.h"
#include "upload-sink.h"
#include "cv-user-key.h"
#include "cv-autoptr.h"
#include "cv-error.h"
#include "cv-sign.h"
#include "cv-util.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static EVP_PKEY *
keygen(const char *type)
{
    EVP_PKEY *k = strcmp(type, "ed25519") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
                : strcmp(type, "ecdsa") == 0   ? EVP_EC_gen("P-256")
                : strcmp(type, "p384") == 0    ? EVP_EC_gen("P-384")
                : strcmp(type, "rsa1024") == 0 ? EVP_RSA_gen(1024)
                                               : EVP_RSA_gen(2048);
    g_assert_nonnull(k);
    return k;
}

static CvUserKey *
user_key_of(EVP_PKEY *k, GError **error)
{
    g_autofree char *pem = cv_sign_pubkey_to_pem(k, NULL);

    g_assert_nonnull(pem);
    return cv_user_key_new_from_pem(pem, strlen(pem), error);
}

static void
test_signatures(void)
{
    const char *types[] = { "ed25519", "ecdsa", "rsa" };
    guint8 challenge[32], body[32], d[CV_SIGN_DIGEST_SIZE], other[CV_SIGN_DIGEST_SIZE];

    RAND_bytes(challenge, sizeof(challenge));
    RAND_bytes(body, sizeof(body));
    g_assert_true(cv_sign_request_digest(challenge, sizeof(challenge), "PUT", "/v1/datasets/a.csv", body, d, NULL));
    g_assert_true(cv_sign_request_digest(challenge, sizeof(challenge), "PUT", "/v1/datasets/b.csv", body, other, NULL));
    for (guint i = 0; i < G_N_ELEMENTS(types); i++) {
        g_autoptr(EVP_PKEY) k = keygen(types[i]);
        g_autoptr(EVP_PKEY) stranger = keygen(types[i]);
        g_autoptr(GError) error = NULL;
        g_autoptr(CvUserKey) uk = user_key_of(k, &error);
        g_autoptr(CvUserKey) suk = user_key_of(stranger, NULL);
        g_autoptr(GBytes) sig = cv_sign_digest(k, d, NULL);
        g_autofree guint8 *bad = NULL;
        gsize n = 0;

        g_test_message("%s", types[i]);
        g_assert_no_error(error);
        g_assert_cmpstr(cv_user_key_type(uk), ==, types[i]);
        g_assert_nonnull(sig);
        g_assert_true(cv_user_key_verify(uk, d, g_bytes_get_data(sig, NULL), g_bytes_get_size(sig), &error));
        g_assert_no_error(error);
        /* another request, another key, a changed byte, nothing at all */
        g_assert_false(cv_user_key_verify(uk, other, g_bytes_get_data(sig, NULL), g_bytes_get_size(sig), &error));
        g_assert_error(error, CV_ERROR, CV_ERROR_UNAUTHORIZED);
        g_clear_error(&error);
        g_assert_false(cv_user_key_verify(suk, d, g_bytes_get_data(sig, NULL), g_bytes_get_size(sig), NULL));
        n = g_bytes_get_size(sig);
        bad = g_memdup2(g_bytes_get_data(sig, NULL), n);
        bad[n / 2] ^= 0x01;
        g_assert_false(cv_user_key_verify(uk, d, bad, n, NULL));
        g_assert_false(cv_user_key_verify(uk, d, bad, 0, NULL));
    }
}

static void
test_refused(void)
{
    const char *types[] = { "rsa1024", "p384" };
    const char *texts[] = { "", "x", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" };
    g_autoptr(EVP_PKEY) k = keygen("ecdsa");
    g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;

    for (guint i = 0; i < G_N_ELEMENTS(types); i++) {
        g_autoptr(EVP_PKEY) weak = keygen(types[i]);
        g_autoptr(GError) error = NULL;
        g_autoptr(CvUserKey) uk = user_key_of(weak, &error);
        g_assert_null(uk);
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, "ECDSA P-256"));
    }
    for (guint i = 0; i < G_N_ELEMENTS(texts); i++) {
        g_autoptr(GError) error = NULL;
        g_assert_null(cv_user_key_new_from_pem(texts[i], strlen(texts[i]), &error));
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    }
    /* a private key is not a public key */
    g_assert_true(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL));
    n = BIO_get_mem_data(bio, &p);
    g_assert_null(cv_user_key_new_from_pem(p, n, NULL));
}

static char *
openssl_sha3_hex(const void *data, gsize len)
{
    guint8 d[32];
    unsigned int n = 0;

    g_assert_true(EVP_Digest(data, len, d, &n, EVP_sha3_256(), NULL));
    return cv_hex_encode(d, n);
}

static void
test_sha3(void)
{
    gsize big = 3 * CV_AGENT_SINK_BLOCK * CV_AGENT_SINK_BLOCKS + 17;
    g_autofree guint8 *data = g_malloc(big);
    g_autofree char *path = g_build_filename(g_get_tmp_dir(), "covirt-sink-XXXXXX", NULL);
    g_autofree char *expect = NULL, *one = NULL, *streamed = NULL, *empty = NULL, *empty_ossl = NULL;
    g_autofree char *written = NULL;
    CvAgentSink *s;
    guint8 got[32];
    gsize len = 0;
    int fd;

    RAND_bytes(data, big);
    empty = cv_agent_sha3_256_hex("", 0, NULL);
    empty_ossl = openssl_sha3_hex("", 0);
    g_assert_cmpstr(empty, ==, empty_ossl);
    expect = openssl_sha3_hex(data, big);
    one = cv_agent_sha3_256_hex(data, big, NULL);
    g_assert_cmpstr(one, ==, expect);

    /* pushed in uneven pieces, more than every block holds: the worker must hand blocks back */
    fd = g_mkstemp(path);
    g_assert_cmpint(fd, >=, 0);
    s = cv_agent_sink_new(fd, NULL);
    g_assert_nonnull(s);
    for (gsize off = 0, step = 1; off < big; off += step, step = step * 3 % 70001 + 1)
        cv_agent_sink_push(s, data + off, MIN(step, big - off));
    g_assert_true(cv_agent_sink_finish(s, got, NULL));
    cv_agent_sink_free(s);
    streamed = cv_hex_encode(got, 32);
    g_assert_cmpstr(streamed, ==, expect);
    g_assert_true(g_file_get_contents(path, &written, &len, NULL));
    g_assert_cmpuint(len, ==, big);
    g_assert_true(memcmp(written, data, big) == 0);
    g_unlink(path);
}

/* cv_digest's SHA-2 comes from GLib now; it must be what OpenSSL says */
static void
test_sha2(void)
{
    const char *names[] = { "SHA256", "SHA384", "SHA512" };
    const EVP_MD *mds[] = { EVP_sha256(), EVP_sha384(), EVP_sha512() };
    guint8 data[1000];

    RAND_bytes(data, sizeof(data));
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autoptr(GBytes) d = cv_digest(names[i], data, sizeof(data), NULL);
        guint8 want[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        g_assert_true(EVP_Digest(data, sizeof(data), want, &n, mds[i], NULL));
        g_assert_nonnull(d);
        g_assert_cmpmem(g_bytes_get_data(d, NULL), g_bytes_get_size(d), want, n);
    }
}

static void
test_tls_identity(void)
{
    guint8 sha[32];
    g_autoptr(GError) error = NULL;
    g_autoptr(GTlsCertificate) tls = cv_agent_tls_identity_new(sha, &error);
    g_autofree char *pem = NULL, *key_pem = NULL;
    g_autoptr(BIO) bio = NULL;
    g_autoptr(X509) cert = NULL;
    g_autoptr(GBytes) pin = NULL;

    g_assert_no_error(error);
    g_assert_nonnull(tls);
    g_object_get(tls, "certificate-pem", &pem, "private-key-pem", &key_pem, NULL);
    g_assert_nonnull(key_pem);
    bio = BIO_new_mem_buf(pem, -1);
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    g_assert_nonnull(cert);
    g_assert_cmpstr(cv_sign_key_type(X509_get0_pubkey(cert)), ==, "ecdsa");
    g_assert_cmpint(X509_verify(cert, X509_get0_pubkey(cert)), ==, 1);
    g_assert_cmpint(X509_check_host(cert, "localhost", 0, 0, NULL), ==, 1);
    g_assert_cmpint(X509_check_ip_asc(cert, "127.0.0.1", 0), ==, 1);
    /* the pin in Hello and the evidence is what clients compute from the certificate */
    pin = cv_sign_pubkey_sha256(X509_get0_pubkey(cert), NULL);
    g_assert_cmpmem(g_bytes_get_data(pin, NULL), g_bytes_get_size(pin), sha, 32);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/user-key/signatures", test_signatures);
    g_test_add_func("/user-key/refused", test_refused);
    g_test_add_func("/user-key/sha3", test_sha3);
    g_test_add_func("/user-key/sha2", test_sha2);
    g_test_add_func("/user-key/tls-identity", test_tls_identity);
    return g_test_run();
}
