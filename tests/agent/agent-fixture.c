#include <string.h>
#include <openssl/pem.h>
#include "agent-fixture.h"
#include "cv-sign.h"
#include "cv-util.h"

void
agent_test_make_key(const char *dir, const char *name, const char *type, char **key_path, char **pub)
{
    EVP_PKEY *k = strcmp(type, "rsa") == 0 ? EVP_RSA_gen(2048)
                  : strcmp(type, "ecdsa") == 0 ? EVP_EC_gen("P-256")
                                               : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;

    g_assert_nonnull(k);
    g_assert_true(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL));
    n = BIO_get_mem_data(bio, &p);
    *key_path = g_build_filename(dir, name, NULL);
    g_assert_true(cv_write_file(*key_path, p, n, 0600, NULL));
    BIO_free(bio);
    *pub = cv_sign_pubkey_to_pem(k, NULL);
    EVP_PKEY_free(k);
}

char *
agent_test_sha3(const char *path)
{
    char *h = cv_file_digest_hex("SHA3-256", path, NULL);

    g_assert_nonnull(h);
    return h;
}

char *
agent_test_write(const char *dir, const char *name, const char *text)
{
    char *p = g_build_filename(dir, name, NULL);

    g_assert_true(g_file_set_contents(p, text, -1, NULL));
    return p;
}

CvAgentClient *
agent_test_client(const char *url, const char *key)
{
    g_autoptr(GError) error = NULL;
    CvAgentClient *c = cv_agent_client_new(url, key, NULL, &error);

    g_assert_no_error(error);
    return c;
}

void
agent_test_upload_ok(CvAgentClient *c, const char *path, const char *file)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = cv_agent_client_upload(c, path, file, NULL, NULL, &error);

    g_assert_no_error(error);
    g_assert_nonnull(r);
}

char *
agent_test_state(const char *url)
{
    g_autoptr(CvAgentClient) c = agent_test_client(url, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) root = cv_agent_client_get_json(c, "/v1/state", &error);

    g_assert_no_error(error);
    return g_strdup(json_object_get_string_member(json_node_get_object(root), "state"));
}
