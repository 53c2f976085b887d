/* covirt keys: a key pair for signing uploads and result downloads. */
#include "covirt-builtins.h"
#include "cv-autoptr.h"
#include "cv-sign.h"
#include "cv-util.h"

#include <stdio.h>
#include <string.h>
#include <openssl/pem.h>

static EVP_PKEY *
generate(const char *type, GError **error)
{
    EVP_PKEY *key = NULL;

    if (strcmp(type, "rsa") == 0)
        key = EVP_RSA_gen(3072);
    else if (strcmp(type, "ecdsa") == 0)
        key = EVP_EC_gen("P-256");
    else if (strcmp(type, "ed25519") == 0)
        key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "--type must be rsa, ecdsa or ed25519, not '%s'", type);
        return NULL;
    }
    if (!key) {
        g_autofree char *why = cv_openssl_error_text();
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "key generation failed: %s", why);
    }
    return key;
}

int
cv_cli_keys(int argc, char **argv)
{
    g_autofree char *type = NULL, *out = NULL;
    GOptionEntry entries[] = {
        { "type", 't', 0, G_OPTION_ARG_STRING, &type, "rsa (3072 bits), ecdsa (P-256) or ed25519", "TYPE" },
        { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Write PREFIX.key (private, 0600) and PREFIX.pub", "PREFIX" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("--type rsa|ecdsa|ed25519 --out PREFIX - make a key pair for covirt algo/data/result");
    g_autoptr(GError) error = NULL;
    g_autoptr(EVP_PKEY) key = NULL;
    g_autoptr(BIO) bio = NULL;
    g_autofree char *priv_path = NULL, *pub_path = NULL, *pub = NULL, *fp = NULL;
    char *p = NULL;
    long n;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_parse(ctx, "keys", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (!type || !out)
        return cv_cli_usage("keys", "--type and --out are required");
    key = generate(type, &error);
    if (!key)
        return cv_cli_fail(error);
    priv_path = g_strconcat(out, ".key", NULL);
    pub_path = g_strconcat(out, ".pub", NULL);
    bio = BIO_new(BIO_s_mem());
    if (!PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
        g_autofree char *why = cv_openssl_error_text();
        g_set_error(&error, CV_ERROR, CV_ERROR_INTERNAL, "cannot encode the key: %s", why);
        return cv_cli_fail(error);
    }
    n = BIO_get_mem_data(bio, &p);
    if (!cv_write_file(priv_path, p, n, 0600, &error))
        return cv_cli_fail(error);
    OPENSSL_cleanse(p, n);
    pub = cv_sign_pubkey_to_pem(key, &error);
    if (!pub || !cv_write_file(pub_path, pub, strlen(pub), 0644, &error))
        return cv_cli_fail(error);
    fp = cv_sign_pubkey_sha256_hex(key, &error);
    if (!fp)
        return cv_cli_fail(error);
    printf("private key: %s\npublic key:  %s (put it in the manifest as user_key)\nSHA-256:     %s\n", priv_path,
           pub_path, fp);
    return 0;
}
