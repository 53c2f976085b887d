/* covirt kbs: what an owner needs to put a file behind a KBS (docs/remote-resources.md). */
#include "covirt-builtins.h"
#include "cv-gcm-file.h"
#include "cv-util.h"

#include <stdio.h>
#include <openssl/rand.h>

/* the key file: 32 raw bytes (a KBS resource as Trustee stores it); with new_key, made here (0600) */
static GBytes *
load_key(const char *path, gboolean new_key, GError **error)
{
    guint8 key[CV_GCM_FILE_KEY];
    GBytes *out;

    if (!new_key) {
        out = cv_read_file(path, CV_GCM_FILE_KEY + 1, error);
        if (out && g_bytes_get_size(out) != CV_GCM_FILE_KEY) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: a key file holds %d raw bytes", path,
                        CV_GCM_FILE_KEY);
            g_clear_pointer(&out, g_bytes_unref);
        }
        return out;
    }
    if (g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "%s exists: not overwriting a key", path);
        return NULL;
    }
    if (RAND_bytes(key, sizeof(key)) != 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "no random bytes");
        return NULL;
    }
    out = cv_write_file(path, key, sizeof(key), 0600, error) ? g_bytes_new(key, sizeof(key)) : NULL;
    OPENSSL_cleanse(key, sizeof(key));
    return out;
}

static int
kbs_encrypt(int argc, char **argv)
{
    g_autofree char *key_path = NULL;
    gboolean new_key = FALSE;
    GOptionEntry entries[] = {
        { "key", 'k', 0, G_OPTION_ARG_FILENAME, &key_path, "The 32-byte key (raw), as the KBS will hold it", "FILE" },
        { "new-key", 0, 0, G_OPTION_ARG_NONE, &new_key, "Make the key and write it to --key (0600) first", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("IN OUT - encrypt IN into OUT: nonce ‖ AES-256-GCM ‖ tag");
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) key = NULL;
    g_autofree char *sha3 = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_parse(ctx, "kbs encrypt", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (!key_path || argc != 3)
        return cv_cli_usage("kbs encrypt", "--key, IN and OUT are required");
    /* the manifest's hash is of what the agent finally holds: the plaintext */
    if (!(sha3 = cv_file_digest_hex("SHA3-256", argv[1], &error)) ||
        !(key = load_key(key_path, new_key, &error)) || !cv_gcm_file_encrypt(argv[1], argv[2], key, &error))
        return cv_cli_fail(error);
    printf("encrypted:  %s\nsha3_256:   %s (the manifest's hash, of the plaintext)\n", argv[2], sha3);
    return 0;
}

int
cv_cli_kbs(int argc, char **argv)
{
    static const CvCliCommand subs[] = {
        { "encrypt", "encrypt a file for an HTTPS source (12-byte nonce ‖ AES-256-GCM ciphertext ‖ 16-byte tag)",
          kbs_encrypt },
        { NULL, NULL, NULL },
    };

    return cv_cli_dispatch("kbs", subs,
                           "Usage: covirt kbs encrypt --key KEY [--new-key] IN OUT\n"
                           "  encrypt IN for an https source: 12-byte nonce, AES-256-GCM ciphertext, 16-byte tag;\n"
                           "  KEY (32 raw bytes) is what the KBS releases to an attested CVM.\n",
                           argc, argv);
}
