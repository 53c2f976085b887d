/* Remote files (agent/remote-file.c, src/common/cv-gcm-file.c): Cocos's AES-256-GCM layout both ways
 * (checked against python3-cryptography's AESGCM, an independent implementation), the decryptor fed in
 * every chunking, and downloads from a loopback HTTPS server whose certificate the test made: the
 * plaintext and its SHA3-256 arrive; without the CA, with a changed byte, a wrong key, a short file, a
 * missing file or over the size bound, nothing is left behind and the step is named. */
#include "remote-file.h"
#include "cv-gcm-file.h"
#include "cv-error.h"
#include "cv-util.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#define PLAIN_SIZE (3 * 1024 * 1024 + 77)

static char *dir, *www, *cert, *url_base, *plain_sha3;
static GBytes *plain, *key;
static GSubprocess *server;

static void
die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static char *
path_in(const char *base, const char *name)
{
    return g_build_filename(base, name, NULL);
}

typedef struct {
    GByteArray *out;
} Collect;

static gboolean
collect(gpointer data, const guint8 *bytes, gsize len, GError **error)
{
    g_byte_array_append(((Collect *)data)->out, bytes, len);
    return TRUE;
}

/* the layout is Cocos's: python3-cryptography opens what cv_gcm_file_encrypt wrote */
static void
test_layout(void)
{
    g_autofree char *enc = path_in(www, "data.enc");
    g_autofree char *key_path = path_in(dir, "key");
    g_autofree char *script = g_strdup_printf(
        "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n"
        "k = open('%s', 'rb').read(); d = open('%s', 'rb').read()\n"
        "assert len(d) == %d + 28\n"
        "import hashlib; print(hashlib.sha3_256(AESGCM(k).decrypt(d[:12], d[12:], None)).hexdigest())\n",
        key_path, enc, PLAIN_SIZE);
    g_autofree char *out = NULL;
    int status = 0;
    const char *argv[] = { g_getenv("KBS_PYTHON"), "-c", script, NULL };

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, &out, NULL, &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    g_strstrip(out);
    g_assert_cmpstr(out, ==, plain_sha3);
}

/* any chunking gives the plaintext: the tag held back is never decrypted */
static void
test_chunks(void)
{
    g_autofree char *enc_path = path_in(www, "data.enc");
    g_autoptr(GBytes) enc = cv_read_file(enc_path, PLAIN_SIZE + 100, NULL);
    static const gsize sizes[] = { 1, 7, 13, 16, 17, 4096, 65536, 1 << 22 };

    for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
        g_autoptr(GByteArray) out = g_byte_array_new();
        Collect c = { out };
        g_autoptr(GError) error = NULL;
        g_autoptr(CvGcmDecrypt) d = cv_gcm_decrypt_new(key, collect, &c, &error);
        const guint8 *p = g_bytes_get_data(enc, NULL);
        gsize left = g_bytes_get_size(enc);

        while (left > 0) {
            gsize n = MIN(left, sizes[i]);
            g_assert_true(cv_gcm_decrypt_push(d, p, n, &error));
            p += n;
            left -= n;
        }
        g_assert_true(cv_gcm_decrypt_finish(d, &error));
        g_assert_no_error(error);
        g_assert_cmpmem(out->data, out->len, g_bytes_get_data(plain, NULL), g_bytes_get_size(plain));
    }
}

static void
fetch_ok(const char *name, GBytes *with_key)
{
    g_autofree char *url = g_strconcat(url_base, "/", name, NULL);
    g_autofree char *dest = path_in(dir, "got");
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) got = NULL;
    g_autofree char *hex = NULL;
    CvRemoteFile file = { .url = url, .ca_file = cert, .key = with_key };
    guint8 sha3[32];

    g_assert_true(cv_remote_file_fetch(&file, dest, sha3, &error));
    g_assert_no_error(error);
    got = cv_read_file(dest, PLAIN_SIZE + 1, NULL);
    g_assert_cmpmem(g_bytes_get_data(got, NULL), g_bytes_get_size(got), g_bytes_get_data(plain, NULL),
                    g_bytes_get_size(plain));
    hex = cv_hex_encode(sha3, sizeof(sha3));
    g_assert_cmpstr(hex, ==, plain_sha3);
    g_unlink(dest);
}

/* an encrypted file and a plain one, over HTTPS verified against the test's CA */
static void
test_download(void)
{
    fetch_ok("data.enc", key);
    fetch_ok("data.plain", NULL);
}

static void
fetch_fails(const char *name, const char *ca, GBytes *with_key, guint64 max, const char *prefix)
{
    g_autofree char *url = g_strconcat(url_base, "/", name, NULL);
    g_autofree char *dest = path_in(dir, "got");
    g_autoptr(GError) error = NULL;
    CvRemoteFile file = { .url = url, .ca_file = ca, .key = with_key, .max_bytes = max };
    guint8 sha3[32];

    g_assert_false(cv_remote_file_fetch(&file, dest, sha3, &error));
    g_assert_nonnull(error);
    g_test_message("%s: %s", name, error->message);
    g_assert_true(g_str_has_prefix(error->message, prefix));
    g_assert_false(g_file_test(dest, G_FILE_TEST_EXISTS));
}

static void
test_refused(void)
{
    guint8 other[32];
    g_autoptr(GBytes) wrong = NULL;

    memset(other, 7, sizeof(other));
    wrong = g_bytes_new(other, sizeof(other));
    /* the system store does not know the test's CA */
    fetch_fails("data.enc", NULL, key, 0, "download: ");
    fetch_fails("data.tampered", cert, key, 0, "decrypt: the tag does not match");
    fetch_fails("data.enc", cert, wrong, 0, "decrypt: the tag does not match");
    fetch_fails("data.short", cert, key, 0, "decrypt: the file is shorter");
    fetch_fails("absent", cert, key, 0, "download: HTTP 404");
    fetch_fails("data.enc", cert, key, 1024 * 1024, "download: over 1048576 bytes");
}

static void
write_files(void)
{
    g_autofree char *plain_path = path_in(www, "data.plain");
    g_autofree char *enc = path_in(www, "data.enc");
    g_autofree char *tampered = path_in(www, "data.tampered");
    g_autofree char *short_path = path_in(www, "data.short");
    g_autofree char *key_path = path_in(dir, "key");
    g_autoptr(GBytes) enc_bytes = NULL;
    g_autofree guint8 *copy = NULL;
    gsize len;

    g_assert_true(cv_write_file(plain_path, g_bytes_get_data(plain, NULL), g_bytes_get_size(plain), 0644, NULL));
    g_assert_true(cv_write_file(key_path, g_bytes_get_data(key, NULL), 32, 0600, NULL));
    g_assert_true(cv_gcm_file_encrypt(plain_path, enc, key, NULL));
    enc_bytes = cv_read_file(enc, PLAIN_SIZE + 100, NULL);
    copy = g_bytes_unref_to_data(g_steal_pointer(&enc_bytes), &len);
    copy[len / 2] ^= 1;
    g_assert_true(cv_write_file(tampered, copy, len, 0644, NULL));
    g_assert_true(cv_write_file(short_path, copy, 20, 0644, NULL));
}

static void
start_server(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_autofree char *script = g_build_filename(COVIRT_SOURCE_DIR, "tests", "kbs", "test-kbs.py", NULL);
    g_autofree char *tls_key = path_in(dir, "tls.key"), *port_file = path_in(dir, "port"), *port = NULL;
    const char *req[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                          "-keyout", tls_key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                          "-addext", "subjectAltName=IP:127.0.0.1", NULL };
    int status = 0;

    g_assert_true(g_spawn_sync(NULL, (char **)req, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               NULL, NULL, &status, &error));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
    server = g_subprocess_launcher_spawn(launcher, &error, g_getenv("KBS_PYTHON"), script, "files", "--dir", www,
                                         "--port-file", port_file, "--cert", cert, "--key", tls_key, NULL);
    g_assert_no_error(error);
    for (int i = 0; i < 200 && !g_file_test(port_file, G_FILE_TEST_EXISTS); i++)
        g_usleep(50000);
    g_assert_true(g_file_get_contents(port_file, &port, NULL, NULL));
    url_base = g_strdup_printf("https://127.0.0.1:%s", port);
}

int
main(int argc, char **argv)
{
    g_autofree guint8 *data = g_malloc(PLAIN_SIZE);
    guint8 k[32];
    int rc;

    g_test_init(&argc, &argv, NULL);
    for (gsize i = 0; i < PLAIN_SIZE; i++)
        data[i] = g_random_int() & 0xff;
    for (gsize i = 0; i < sizeof(k); i++)
        k[i] = g_random_int() & 0xff;
    plain = g_bytes_new(data, PLAIN_SIZE);
    key = g_bytes_new(k, sizeof(k));
    plain_sha3 = cv_digest_hex("SHA3-256", data, PLAIN_SIZE, NULL);
    dir = g_dir_make_tmp("test-remote-XXXXXX", NULL);
    www = path_in(dir, "www");
    cert = path_in(dir, "tls.crt");
    g_mkdir(www, 0700);
    write_files();
    start_server();
    g_test_add_func("/remote-file/layout", test_layout);
    g_test_add_func("/remote-file/chunks", test_chunks);
    g_test_add_func("/remote-file/download", test_download);
    g_test_add_func("/remote-file/refused", test_refused);
    rc = g_test_run();
    g_subprocess_force_exit(server);
    g_subprocess_wait(server, NULL, NULL);
    g_clear_object(&server);
    {
        const char *rm[] = { "rm", "-rf", dir, NULL };
        g_spawn_sync(NULL, (char **)rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
    }
    g_free(dir);
    g_free(www);
    g_free(cert);
    g_free(url_base);
    g_free(plain_sha3);
    g_bytes_unref(plain);
    g_bytes_unref(key);
    return rc;
}
