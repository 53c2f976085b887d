/* The OCI fetcher (agent/oci-fetch.h) against Debian's skopeo and docker-registry on loopback:
 * plain and skopeo-encrypted (jwe) images, pulled, checked and extracted; a wrong or missing key,
 * a tampered blob, path traversal, whiteouts, and a registry serving an endless blob are refused
 * with the reason named. Needs skopeo, docker-registry, openssl and python3 (scripts/deps.txt). */
#include "oci-fetch.h"
#include "cv-error.h"
#include "cv-file.h"

#include <signal.h>
#include <string.h>
#include <glib/gstdio.h>

static char *tmp;      /* the test's scratch directory */
static char *script_dir;

static void
run_ok(const char *const *argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) p = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_NONE, &error);
    g_assert_no_error(error);
    g_assert_true(g_subprocess_wait_check(p, NULL, &error));
    g_assert_no_error(error);
}

static char *
tmp_path(const char *name)
{
    return g_build_filename(tmp, name, NULL);
}

/* tests/oci/make-oci.py's layout of the given kind, as tmp/<name> */
static char *
make_layout(const char *name, const char *kind)
{
    g_autofree char *script = g_build_filename(script_dir, "make-oci.py", NULL);
    char *dir = tmp_path(name);
    const char *argv[] = { "python3", script, dir, kind, NULL };

    if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
        run_ok(argv);
    return dir;
}

/* a fresh, empty work dir under tmp */
static char *
new_work(void)
{
    char *dir = g_build_filename(tmp, "work-XXXXXX", NULL);

    g_assert_nonnull(g_mkdtemp(dir));
    return dir;
}

static GBytes *
read_key(const char *name)
{
    g_autofree char *path = tmp_path(name);
    g_autoptr(GError) error = NULL;
    char *data = NULL;
    gsize len = 0;

    g_assert_true(g_file_get_contents(path, &data, &len, &error));
    return g_bytes_new_take(data, len);
}

/* pull reference into a fresh work dir, then unpack; *rootfs gets the extracted tree */
static gboolean
fetch(const char *reference, GBytes *key, const CvAgentOciLimits *limits, char **rootfs, GError **error)
{
    g_autofree char *work = new_work();
    g_autofree char *layout = g_build_filename(work, "layout", NULL);
    g_autofree char *key_file = g_build_filename(work, "decryption-key.pem", NULL);
    CvAgentOciLimits def;
    gboolean ok;

    if (!limits) {
        cv_agent_oci_limits_default(&def);
        def.insecure_loopback = TRUE;
        limits = &def;
    }
    *rootfs = g_build_filename(work, "rootfs", NULL);
    ok = cv_agent_oci_pull(reference, work, key, limits, error) && cv_agent_oci_unpack(layout, *rootfs, limits, error);
    /* the key file exists only for skopeo's run, also after a failure */
    g_assert_false(g_file_test(key_file, G_FILE_TEST_EXISTS));
    return ok;
}

static void
assert_image_content(const char *rootfs)
{
    g_autofree char *requirements = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *algo = cv_agent_oci_find_algorithm(rootfs, "python", &requirements, &error);
    g_autoptr(GPtrArray) data = cv_agent_oci_find_datasets(rootfs);
    g_autofree char *text = NULL;

    g_assert_no_error(error);
    g_assert_true(g_str_has_suffix(algo, "/algo/main.py"));
    g_assert_true(g_str_has_suffix(requirements, "/algo/requirements.txt"));
    g_assert_true(g_file_get_contents(algo, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "print('mean')\n");
    /* requirements.txt is a .txt: Cocos counts it as data too */
    g_assert_cmpuint(data->len, ==, 2);
    g_assert_true(g_str_has_suffix(data->pdata[1], "/data/iris.csv"));
    g_assert_null(cv_agent_oci_find_algorithm(rootfs, "wasm", NULL, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_NOT_FOUND);
}

static void
test_plain_layout(void)
{
    g_autofree char *dir = make_layout("plain", "plain");
    g_autofree char *ref = g_strconcat("oci:", dir, ":v1", NULL);
    g_autofree char *rootfs = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_true(fetch(ref, NULL, NULL, &rootfs, &error));
    g_assert_no_error(error);
    assert_image_content(rootfs);
}

/* skopeo --encryption-key jwe:pub.pem, as an owner runs it (docs/remote-resources.md) */
static char *
encrypted_layout(void)
{
    g_autofree char *plain = make_layout("plain", "plain");
    g_autofree char *src = g_strconcat("oci:", plain, ":v1", NULL);
    g_autofree char *enc = tmp_path("enc");
    g_autofree char *dst = g_strconcat("oci:", enc, ":v1", NULL);
    g_autofree char *priv = tmp_path("priv.pem");
    g_autofree char *wrong = tmp_path("wrong.pem");
    g_autofree char *pub = tmp_path("pub.pem");
    g_autofree char *jwe = g_strconcat("jwe:", pub, NULL);

    if (!g_file_test(enc, G_FILE_TEST_IS_DIR)) {
        run_ok((const char *[]){ "openssl", "genrsa", "-out", priv, "2048", NULL });
        run_ok((const char *[]){ "openssl", "genrsa", "-out", wrong, "2048", NULL });
        run_ok((const char *[]){ "openssl", "rsa", "-in", priv, "-pubout", "-out", pub, NULL });
        run_ok((const char *[]){ "skopeo", "--insecure-policy", "copy", "--quiet", "--encryption-key", jwe, src, dst,
                                 NULL });
    }
    return g_steal_pointer(&dst);
}

static void
test_encrypted_layout(void)
{
    g_autofree char *ref = encrypted_layout();
    g_autoptr(GBytes) priv = read_key("priv.pem");
    g_autoptr(GBytes) wrong = read_key("wrong.pem");
    g_autofree char *rootfs = NULL;
    GError *error = NULL;

    g_assert_false(fetch(ref, NULL, NULL, &rootfs, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_VERIFY);
    g_assert_nonnull(strstr(error->message, "still encrypted"));
    g_clear_error(&error);
    g_clear_pointer(&rootfs, g_free);

    g_assert_false(fetch(ref, wrong, NULL, &rootfs, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_VERIFY);
    g_assert_nonnull(strstr(error->message, "decryption of the image failed"));
    g_clear_error(&error);
    g_clear_pointer(&rootfs, g_free);

    g_assert_true(fetch(ref, priv, NULL, &rootfs, &error));
    g_assert_no_error(error);
    assert_image_content(rootfs);
}

/* a blob changed after skopeo checked it: the layout's own digests catch it */
static void
test_tampered_blob(void)
{
    g_autofree char *dir = make_layout("plain", "plain");
    g_autofree char *ref = g_strconcat("oci:", dir, ":v1", NULL);
    g_autofree char *work = new_work();
    g_autofree char *layout = g_build_filename(work, "layout", NULL);
    g_autofree char *rootfs = g_build_filename(work, "rootfs", NULL);
    g_autofree char *blobs = g_build_filename(layout, "blobs", "sha256", NULL);
    g_autoptr(GError) error = NULL;
    CvAgentOciLimits limits;
    GDir *d;
    const char *name;
    guint changed = 0;

    cv_agent_oci_limits_default(&limits);
    g_assert_true(cv_agent_oci_pull(ref, work, NULL, &limits, &error));
    d = g_dir_open(blobs, 0, NULL);
    while ((name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(blobs, name, NULL);
        g_autofree char *text = NULL;
        gsize len;

        /* flip a byte of the layer (the one blob that is gzip), keep its size */
        g_assert_true(g_file_get_contents(path, &text, &len, NULL));
        if (len > 2 && (guint8)text[0] == 0x1f && (guint8)text[1] == 0x8b) {
            text[len - 5] ^= 1;
            g_assert_true(g_file_set_contents(path, text, len, NULL));
            changed++;
        }
    }
    g_dir_close(d);
    g_assert_cmpuint(changed, ==, 1);
    g_assert_false(cv_agent_oci_unpack(layout, rootfs, &limits, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_VERIFY);
    g_assert_nonnull(strstr(error->message, "digest mismatch"));
    g_assert_false(g_file_test(rootfs, G_FILE_TEST_EXISTS));
}

static void
test_hostile_layers(void)
{
    g_autofree char *trav = make_layout("traversal", "traversal");
    g_autofree char *wh = make_layout("whiteout", "whiteout");
    g_autofree char *ref1 = g_strconcat("oci:", trav, ":v1", NULL);
    g_autofree char *ref2 = g_strconcat("oci:", wh, ":v1", NULL);
    g_autofree char *rootfs = NULL;
    g_autofree char *escaped = NULL;
    GError *error = NULL;

    g_assert_false(fetch(ref1, NULL, NULL, &rootfs, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "layer 0"));
    escaped = g_build_filename(rootfs, "..", "escape.txt", NULL);
    g_assert_false(g_file_test(escaped, G_FILE_TEST_EXISTS));
    g_clear_error(&error);
    g_clear_pointer(&rootfs, g_free);

    g_assert_false(fetch(ref2, NULL, NULL, &rootfs, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "whiteouts"));
    g_clear_error(&error);
}

/* the extraction budget: 28 bytes of files in the image, 10 allowed */
static void
test_unpack_limit(void)
{
    g_autofree char *dir = make_layout("plain", "plain");
    g_autofree char *ref = g_strconcat("oci:", dir, ":v1", NULL);
    g_autofree char *rootfs = NULL;
    g_autoptr(GError) error = NULL;
    CvAgentOciLimits limits;

    cv_agent_oci_limits_default(&limits);
    limits.max_unpacked = 10;
    g_assert_false(fetch(ref, NULL, &limits, &rootfs, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_TOO_LARGE);
    g_assert_false(g_file_test(rootfs, G_FILE_TEST_EXISTS));
}

static void
test_bad_references(void)
{
    g_autofree char *work = new_work();
    g_autoptr(GError) error = NULL;
    CvAgentOciLimits limits;

    cv_agent_oci_limits_default(&limits);
    g_assert_false(cv_agent_oci_pull("dir:/etc", work, NULL, &limits, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    g_clear_error(&error);
    /* "insecure" is for a loopback registry only */
    limits.insecure_loopback = TRUE;
    g_assert_false(cv_agent_oci_pull("docker://registry.example:5000/a:b", work, NULL, &limits, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "loopback"));
}


static GPid registry_pid;
static char *registry;   /* HOST:PORT of the docker-registry */

static guint16
free_port(void)
{
    g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) got = NULL;

    g_assert_true(g_socket_bind(s, any, FALSE, NULL));
    got = g_socket_get_local_address(s, NULL);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(got));
}

static void
wait_port(guint16 port)
{
    g_autoptr(GSocketClient) c = g_socket_client_new();

    for (int i = 0; i < 100; i++) {
        g_autoptr(GSocketConnection) conn = g_socket_client_connect_to_host(c, "127.0.0.1", port, NULL, NULL);

        if (conn)
            return;
        g_usleep(100000);
    }
    g_error("nothing listens on port %u", port);
}

static void
start_registry(void)
{
    guint16 port = free_port();
    g_autofree char *config = tmp_path("registry.yml");
    g_autofree char *store = tmp_path("registry");
    g_autofree char *text = g_strdup_printf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                                            "    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%u\n", store, port);
    const char *argv[] = { "docker-registry", "serve", config, NULL };
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_set_contents(config, text, -1, NULL));
    g_assert_true(g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                                G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &registry_pid, &error));
    registry = g_strdup_printf("127.0.0.1:%u", port);
    wait_port(port);
}

/* skopeo pushes a layout to the registry, as an owner would (plain HTTP on loopback) */
static char *
push(const char *src, const char *repo)
{
    g_autofree char *dst = g_strdup_printf("docker://%s/%s", registry, repo);

    run_ok((const char *[]){ "skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", src, dst,
                             NULL });
    return g_steal_pointer(&dst);
}

static void
test_registry(void)
{
    g_autofree char *plain = make_layout("plain", "plain");
    g_autofree char *plain_ref = g_strconcat("oci:", plain, ":v1", NULL);
    g_autofree char *enc_ref = encrypted_layout();
    g_autofree char *ref1 = push(plain_ref, "algo:v1");
    g_autofree char *ref2 = push(enc_ref, "algo-enc:v1");
    g_autoptr(GBytes) priv = read_key("priv.pem");
    g_autoptr(GBytes) wrong = read_key("wrong.pem");
    g_autofree char *rootfs = NULL;
    CvAgentOciLimits verified;
    GError *error = NULL;

    g_assert_true(fetch(ref1, NULL, NULL, &rootfs, &error));
    g_assert_no_error(error);
    assert_image_content(rootfs);
    g_clear_pointer(&rootfs, g_free);
    /* without the manifest's "insecure", TLS is required and this registry speaks plain HTTP */
    cv_agent_oci_limits_default(&verified);
    g_assert_false(fetch(ref1, NULL, &verified, &rootfs, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_IO);
    g_clear_error(&error);
    g_clear_pointer(&rootfs, g_free);

    g_assert_false(fetch(ref2, wrong, NULL, &rootfs, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_VERIFY);
    g_assert_nonnull(strstr(error->message, "decrypt"));
    g_clear_error(&error);
    g_clear_pointer(&rootfs, g_free);
    g_assert_true(fetch(ref2, priv, NULL, &rootfs, &error));
    g_assert_no_error(error);
    assert_image_content(rootfs);
}

/* tests/oci/endless-registry.py: a layer of 1 TiB that never ends; skopeo is stopped at the limit */
static void
test_endless_blob(void)
{
    g_autofree char *script = g_build_filename(script_dir, "endless-registry.py", NULL);
    const char *argv[] = { "python3", script, NULL };
    g_autoptr(GError) local = NULL;
    g_autoptr(GSubprocess) server = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &local);
    g_autoptr(GDataInputStream) out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(server));
    g_autofree char *port = g_data_input_stream_read_line(out, NULL, NULL, &local);
    g_autofree char *ref = g_strdup_printf("docker://127.0.0.1:%s/huge:v1", port);
    g_autofree char *rootfs = NULL;
    CvAgentOciLimits limits;
    GError *error = NULL;
    gint64 start = g_get_monotonic_time();

    g_assert_nonnull(port);
    cv_agent_oci_limits_default(&limits);
    limits.insecure_loopback = TRUE;
    limits.max_pull_bytes = 1u << 20;
    g_assert_false(fetch(ref, NULL, &limits, &rootfs, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_TOO_LARGE);
    g_assert_cmpint(g_get_monotonic_time() - start, <, 60 * G_USEC_PER_SEC);
    g_clear_error(&error);
    g_subprocess_force_exit(server);
    g_subprocess_wait(server, NULL, NULL);
}

static void
add_registry_tests(void)
{
    g_autofree char *bin = g_find_program_in_path("docker-registry");

    if (!bin) {
        g_test_message("docker-registry is not installed: registry cases skipped");
        return;
    }
    start_registry();
    g_test_add_func("/oci/registry/pull", test_registry);
    g_test_add_func("/oci/registry/endless-blob", test_endless_blob);
}

int
main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    script_dir = g_strdup(g_getenv("OCI_TEST_SCRIPTS"));
    g_assert_nonnull(script_dir);
    tmp = g_dir_make_tmp("covirt-oci-XXXXXX", NULL);
    g_assert_nonnull(tmp);
    g_test_add_func("/oci/layout/plain", test_plain_layout);
    g_test_add_func("/oci/layout/encrypted", test_encrypted_layout);
    g_test_add_func("/oci/layout/tampered", test_tampered_blob);
    g_test_add_func("/oci/layout/hostile-layers", test_hostile_layers);
    g_test_add_func("/oci/layout/unpack-limit", test_unpack_limit);
    g_test_add_func("/oci/references", test_bad_references);
    add_registry_tests();
    rc = g_test_run();
    if (registry_pid)
        kill(registry_pid, SIGTERM);
    cv_file_remove_tree(tmp);
    return rc;
}
