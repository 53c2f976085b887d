/* covirt-agent on the host: a temporary work dir, HTTPS on a free loopback port,
 * a control channel on a UNIX socket the test listens on. Full python and bin runs,
 * and every refusal: wrong key, wrong hash, replay, unknown dataset, path traversal,
 * malformed manifest, result to a non-consumer; after each the state is unchanged
 * and the agent still works. */
#include "agent-client.h"
#include "agent-fixture.h"
#include "dataset-unpack.h"
#include "control.h"
#include "frame.h"
#include "cv-error.h"
#include "cv-sign.h"
#include "cv-util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <openssl/pem.h>

typedef struct {
    char *dir;
    char *algo_key, *data_key, *consumer_key, *stranger_key;   /* private key paths */
    char *algo_pub, *data_pub, *consumer_pub, *stranger_pub;   /* PEM text */
    GSubprocess *agent;
    char *url;
    char *work;
    char *socket_path;
    GSocketListener *listener;
    const char *agent_arg;  /* one more option for covirt-agent, or NULL */
} Fixture;


static char *
data_path(const char *name)
{
    return g_build_filename(g_getenv("AGENT_TEST_DATA"), name, NULL);
}



typedef struct {
    const char *name, *file;
    const char *pub;      /* who uploads it (PEM), NULL for data_key */
    gboolean decompress;
} DatasetSpec;

/* The manifest: algorithm (type, file, args) by algo_key, the datasets, the consumer_key as the only
 * result consumer. */
static char *
make_manifest_sets(Fixture *fx, const char *algo_type, const char *algo_file, const char *const *args,
                   const DatasetSpec *sets, guint n_sets)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, "test-computation");
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, "mean of x");
    json_builder_set_member_name(b, "datasets");
    json_builder_begin_array(b);
    for (guint i = 0; i < n_sets; i++) {
        g_autofree char *h = agent_test_sha3(sets[i].file);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "hash");
        json_builder_add_string_value(b, h);
        json_builder_set_member_name(b, "userKey");
        json_builder_add_string_value(b, sets[i].pub ? sets[i].pub : fx->data_pub);
        json_builder_set_member_name(b, "filename");
        json_builder_add_string_value(b, sets[i].name);
        if (sets[i].decompress) {
            json_builder_set_member_name(b, "decompress");
            json_builder_add_boolean_value(b, TRUE);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "algorithm");
    json_builder_begin_object(b);
    {
        g_autofree char *h = agent_test_sha3(algo_file);
        json_builder_set_member_name(b, "hash");
        json_builder_add_string_value(b, h);
    }
    json_builder_set_member_name(b, "userKey");
    json_builder_add_string_value(b, fx->algo_pub);
    json_builder_set_member_name(b, "algo_type");
    json_builder_add_string_value(b, algo_type);
    json_builder_set_member_name(b, "algo_args");
    json_builder_begin_array(b);
    for (const char *const *a = args; a && *a; a++)
        json_builder_add_string_value(b, *a);
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "result_consumers");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "userKey");
    json_builder_add_string_value(b, fx->consumer_pub);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return cv_json_to_string(root, TRUE);
}

/* ... with two datasets (names, files) by data_key */
static char *
make_manifest_with(Fixture *fx, const char *algo_type, const char *algo_file, const char *const *args,
                   const char *const *names, const char *const *files, gboolean decompress)
{
    const DatasetSpec sets[] = { { names[0], files[0], NULL, decompress }, { names[1], files[1], NULL, decompress } };

    return make_manifest_sets(fx, algo_type, algo_file, args, sets, G_N_ELEMENTS(sets));
}

/* ... with datasets a.csv and b.csv */
static char *
make_manifest(Fixture *fx, const char *algo_type, const char *algo_file, const char *const *args)
{
    const char *names[] = { "a.csv", "b.csv" };
    g_autofree char *a = data_path("a.csv");
    g_autofree char *b = data_path("b.csv");
    const char *files[] = { a, b };

    return make_manifest_with(fx, algo_type, algo_file, args, names, files, FALSE);
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
    fx->dir = g_dir_make_tmp("covirt-agent-test-XXXXXX", NULL);
    g_assert_nonnull(fx->dir);
    agent_test_make_key(fx->dir, "algo.key", "ed25519", &fx->algo_key, &fx->algo_pub);
    agent_test_make_key(fx->dir, "data.key", "ecdsa", &fx->data_key, &fx->data_pub);
    agent_test_make_key(fx->dir, "consumer.key", "rsa", &fx->consumer_key, &fx->consumer_pub);
    agent_test_make_key(fx->dir, "stranger.key", "ed25519", &fx->stranger_key, &fx->stranger_pub);
    fx->work = g_build_filename(fx->dir, "work", NULL);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
    if (fx->agent)
        agent_test_stop(fx->agent);
    if (fx->listener) {
        g_socket_listener_close(fx->listener);
        g_object_unref(fx->listener);
    }
    {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", fx->dir);
        g_assert_cmpint(system(cmd), ==, 0);
    }
    g_free(fx->dir);
    g_free(fx->algo_key); g_free(fx->data_key); g_free(fx->consumer_key); g_free(fx->stranger_key);
    g_free(fx->algo_pub); g_free(fx->data_pub); g_free(fx->consumer_pub); g_free(fx->stranger_pub);
    g_free(fx->url);
    g_free(fx->work);
    g_free(fx->socket_path);
}

static void
start_agent(Fixture *fx, const char *manifest_text, gboolean with_control)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *port_file = g_build_filename(fx->dir, "port", NULL);
    g_autofree char *manifest_file = NULL;
    g_autoptr(GError) error = NULL;

    g_ptr_array_add(argv, g_strdup(g_getenv("AGENT_BIN")));
    g_ptr_array_add(argv, g_strdup_printf("--work-dir=%s", fx->work));
    g_ptr_array_add(argv, g_strdup("--port=0"));
    g_ptr_array_add(argv, g_strdup("--listen-address=127.0.0.1"));
    g_ptr_array_add(argv, g_strdup_printf("--port-file=%s", port_file));
    g_ptr_array_add(argv, g_strdup("--log-level=debug"));
    if (fx->agent_arg)
        g_ptr_array_add(argv, g_strdup(fx->agent_arg));
    if (manifest_text) {
        manifest_file = agent_test_write(fx->dir, "manifest.json", manifest_text);
        g_ptr_array_add(argv, g_strdup_printf("--manifest=%s", manifest_file));
    }
    if (with_control) {
        g_autoptr(GSocketAddress) addr = NULL;
        fx->socket_path = g_build_filename(fx->dir, "control.sock", NULL);
        addr = g_unix_socket_address_new(fx->socket_path);
        fx->listener = g_socket_listener_new();
        g_assert_true(g_socket_listener_add_address(fx->listener, addr, G_SOCKET_TYPE_STREAM,
                                                    G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, &error));
        g_assert_no_error(error);
        g_ptr_array_add(argv, g_strdup_printf("--control-port=%s", fx->socket_path));
    }
    g_ptr_array_add(argv, NULL);
    {
        g_autoptr(GSubprocessLauncher) l = agent_test_launcher();
        fx->agent = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, &error);
    }
    g_assert_no_error(error);
    fx->url = agent_test_wait_url(port_file);
}



static void
assert_state(Fixture *fx, const char *expected)
{
    g_autofree char *s = agent_test_state(fx->url);

    g_assert_cmpstr(s, ==, expected);
}

static void
wait_state(Fixture *fx, const char *expected)
{
    for (int i = 0; i < 300; i++) {
        g_autofree char *s = agent_test_state(fx->url);
        if (strcmp(s, expected) == 0)
            return;
        if (strcmp(s, "Failed") == 0)
            break;
        g_usleep(50000);
    }
    assert_state(fx, expected);
}

/* The upload must be refused with this error code, and the work dir keep no trace of it. */
static void
assert_refused(JsonNode *answer, GError *error, gint code)
{
    g_assert_null(answer);
    g_test_message("refused: %s", error ? error->message : "(not refused)");
    g_assert_error(error, CV_ERROR, code);
}

static void
assert_tmp_empty(Fixture *fx)
{
    g_autofree char *tmp = g_build_filename(fx->work, "tmp", NULL);
    g_autoptr(GDir) d = g_dir_open(tmp, 0, NULL);

    g_assert_nonnull(d);
    g_assert_null(g_dir_read_name(d));
}


/* The result downloaded with the consumer's key and unpacked: the text of its file name */
static char *
fetch_result_text(Fixture *fx, const char *name)
{
    g_autoptr(CvAgentClient) c = agent_test_client(fx->url, fx->consumer_key);
    g_autofree char *out = g_build_filename(fx->dir, "out-XXXXXX", NULL);
    g_autofree char *zip = NULL, *file = NULL;
    g_autoptr(GError) error = NULL;
    char *text = NULL;

    /* a fresh folder each time: unpacking never overwrites */
    g_assert_nonnull(g_mkdtemp_full(out, 0700));
    zip = g_build_filename(out, "result.zip", NULL);
    file = g_build_filename(out, name, NULL);
    g_assert_true(cv_agent_client_download_result(c, zip, NULL, NULL, &error));
    g_assert_no_error(error);
    g_assert_true(cv_agent_client_unpack(zip, out, 0, &error));
    g_assert_no_error(error);
    g_assert_true(g_file_get_contents(file, &text, NULL, NULL));
    return text;
}

static void
fetch_result_file(Fixture *fx, const char *name, const char *expected)
{
    g_autofree char *mean = fetch_result_text(fx, name);

    g_assert_cmpstr(g_strstrip(mean), ==, expected);
}

static void
fetch_result_and_check(Fixture *fx, const char *expected_mean)
{
    fetch_result_file(fx, "mean.txt", expected_mean);
}

static void
upload_datasets(Fixture *fx)
{
    g_autoptr(CvAgentClient) d = agent_test_client(fx->url, fx->data_key);
    g_autofree char *a = data_path("a.csv");
    g_autofree char *b = data_path("b.csv");

    agent_test_upload_ok(d, "/v1/datasets/a.csv", a);
    assert_state(fx, "ReceivingData");
    agent_test_upload_ok(d, "/v1/datasets/b.csv", b);
}

static void
test_python_run(Fixture *fx, gconstpointer data)
{
    g_autofree char *algo = data_path("mean.py");
    const char *args[] = { "--column", "x", NULL };
    g_autofree char *m = make_manifest(fx, "python", algo, args);
    g_autoptr(CvAgentClient) a = NULL;

    start_agent(fx, m, FALSE);
    assert_state(fx, "ReceivingAlgorithm");
    a = agent_test_client(fx->url, fx->algo_key);
    agent_test_upload_ok(a, "/v1/algorithm", algo);
    assert_state(fx, "ReceivingData");
    upload_datasets(fx);
    wait_state(fx, "ConsumingResults");
    /* (1 + 2 + 3 + 10 + 20) / 5 */
    fetch_result_and_check(fx, "7.200000");
    assert_state(fx, "Complete");
}

/* requirements text written in the test's folder and uploaded: refused with the agent's reason */
static void
requirements_refused(Fixture *fx, CvAgentClient *a, const char *text, const char *named)
{
    g_autofree char *path = g_build_filename(fx->dir, "requirements-refused.txt", NULL);
    g_autofree char *kept = g_build_filename(fx->work, "algo", "requirements.txt", NULL);
    g_autoptr(GError) e = NULL;
    g_autoptr(JsonNode) r = NULL;

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    r = cv_agent_client_upload(a, "/v1/algorithm/requirements", path, NULL, NULL, &e);
    assert_refused(r, e, CV_ERROR_INVALID);
    g_assert_nonnull(strstr(e->message, named));
    g_assert_false(g_file_test(kept, G_FILE_TEST_EXISTS));
    assert_state(fx, "ReceivingAlgorithm");
}

/* Requirements: what the image has (here the host's Debian python3: pandas, scikit-learn, joblib) is
 * taken from it, only the rest from uploaded wheels; what neither has is refused on upload, by name */
static void
test_python_wheels(Fixture *fx, gconstpointer data)
{
    g_autofree char *algo = data_path("uses-wheel.py");
    g_autofree char *wheel = data_path("covirttestpkg-1.0-py3-none-any.whl");
    g_autofree char *reqs = data_path("requirements.txt");
    g_autofree char *m = make_manifest(fx, "python", algo, NULL);
    g_autofree char *site_wheel = g_build_filename(fx->work, "algo", "site-packages", "covirttestpkg", NULL);
    g_autofree char *site_pandas = g_build_filename(fx->work, "algo", "site-packages", "pandas", NULL);
    g_autoptr(CvAgentClient) a = NULL;
    g_autoptr(CvAgentClient) stranger = NULL;

    start_agent(fx, m, FALSE);
    a = agent_test_client(fx->url, fx->algo_key);
    stranger = agent_test_client(fx->url, fx->stranger_key);
    /* only the algorithm owner may add requirements or wheels */
    {
        g_autoptr(GError) e = NULL;
        g_autoptr(JsonNode) r = cv_agent_client_upload(stranger, "/v1/algorithm/wheels/covirttestpkg-1.0-py3-none-any.whl",
                                                       wheel, NULL, NULL, &e);
        assert_refused(r, e, CV_ERROR_UNAUTHORIZED);
    }
    requirements_refused(fx, a, "pandas\ncovirt-no-such-package>=1\n", "'covirt-no-such-package>=1'");
    /* the wheel is not there yet */
    requirements_refused(fx, a, "covirttestpkg==1.0\n", "'covirttestpkg==1.0'");
    /* nothing past the uploaded wheels: no other index, file, path or URL */
    requirements_refused(fx, a, "--index-url http://127.0.0.1:9/simple\npandas\n", "line 1");
    requirements_refused(fx, a, "pandas\n\ncovirttestpkg @ http://127.0.0.1:9/c.whl\n", "line 3");
    requirements_refused(fx, a, "pandas \\\n  -r /etc/passwd\n", "line 1");
    agent_test_upload_ok(a, "/v1/algorithm/wheels/covirttestpkg-1.0-py3-none-any.whl", wheel);
    agent_test_upload_ok(a, "/v1/algorithm/requirements", reqs);
    assert_state(fx, "ReceivingAlgorithm");
    agent_test_upload_ok(a, "/v1/algorithm", algo);
    upload_datasets(fx);
    wait_state(fx, "ConsumingResults");
    fetch_result_file(fx, "answer.txt", "42");
    /* installed: the wheel only; pandas stays the image's */
    g_assert_true(g_file_test(site_wheel, G_FILE_TEST_IS_DIR));
    g_assert_false(g_file_test(site_pandas, G_FILE_TEST_EXISTS));
}

/* Starts the agent with a manifest for this algorithm, uploads it and the datasets, and waits for
 * the run to end: returns "ConsumingResults", or "Failed" with the agent's reason in *why. */
static char *
run_algorithm(Fixture *fx, const char *algo_type, const char *algo, char **why)
{
    g_autofree char *m = make_manifest(fx, algo_type, algo, NULL);
    g_autoptr(CvAgentClient) a = NULL;
    g_autoptr(CvAgentClient) c = NULL;
    g_autoptr(JsonNode) st = NULL;
    g_autoptr(GError) error = NULL;
    char *state = NULL;

    start_agent(fx, m, FALSE);
    a = agent_test_client(fx->url, fx->algo_key);
    agent_test_upload_ok(a, "/v1/algorithm", algo);
    upload_datasets(fx);
    for (int i = 0; i < 200; i++) {
        g_free(state);
        state = agent_test_state(fx->url);
        if (strcmp(state, "Failed") == 0 || strcmp(state, "ConsumingResults") == 0)
            break;
        g_usleep(50000);
    }
    if (strcmp(state, "ConsumingResults") == 0)
        return state;
    g_assert_cmpstr(state, ==, "Failed");
    c = agent_test_client(fx->url, NULL);
    st = cv_agent_client_get_json(c, "/v1/state", &error);
    g_assert_no_error(error);
    *why = g_strdup(json_object_get_string_member(json_node_get_object(st), "error"));
    g_test_message("%s: %s", algo_type, *why);
    return state;
}

/* wasm: a C program built for wasm32-wasi (tests/e2e/data/wasi-stats.c) run by Node.js's WASI through
 * covirt-agent-wasi.mjs: it gets its arguments and no environment, sums the datasets' columns into
 * results/, and every probe of its sandbox is refused (datasets/ is read-only, nothing else is there). */
static void
test_wasm(Fixture *fx, gconstpointer data)
{
    const char *algo = g_getenv("WASI_STATS_WASM");
    const char *args[] = { "alpha", "7", NULL };
    g_autofree char *m = NULL;
    g_autoptr(CvAgentClient) a = NULL;
    g_autofree char *stats = NULL, *sandbox = NULL;
    g_autofree char *kept = NULL;
    g_autofree char *node = g_find_program_in_path("node");

    if (!algo || !*algo) {
        g_test_skip("no wasm32-wasi build of wasi-stats.c: clang-14, lld-14, wasi-libc and "
                    "libclang-rt-14-dev-wasm32 are missing (scripts/deps.txt)");
        return;
    }
    if (!node) {
        g_test_skip("no Node.js (node) on this host");
        return;
    }
    m = make_manifest(fx, "wasm", algo, args);
    start_agent(fx, m, FALSE);
    a = agent_test_client(fx->url, fx->algo_key);
    agent_test_upload_ok(a, "/v1/algorithm", algo);
    upload_datasets(fx);
    wait_state(fx, "ConsumingResults");
    stats = fetch_result_text(fx, "stats.txt");
    /* a.csv: x 1+2+3, its letters read as 0; b.csv: 10+20 */
    g_assert_cmpstr(stats, ==, "args alpha 7\na.csv 3 6.000000 0.000000\nb.csv 2 30.000000 0.000000\n");
    sandbox = fetch_result_text(fx, "sandbox.txt");
    g_test_message("sandbox probes:\n%s", sandbox);
    g_assert_null(strstr(sandbox, "ALLOWED"));
    g_assert_nonnull(strstr(sandbox, "open-dataset-for-writing refused"));
    g_assert_nonnull(strstr(sandbox, "open-/etc/passwd refused"));
    g_assert_nonnull(strstr(sandbox, "environment 0"));
    /* the datasets are as they were uploaded */
    kept = g_build_filename(fx->work, "datasets", "a.csv", NULL);
    g_assert_true(g_file_test(kept, G_FILE_TEST_IS_REGULAR));
}

/* An OCI image layout tarball with busybox, made with umoci: lists datasets/ into results/. */
static char *
make_oci_image(Fixture *fx)
{
    g_autofree char *script = g_strdup_printf(
        "set -e; cd '%s'; umoci init --layout img; umoci new --image img:latest;"
        "umoci unpack --image img:latest b >/dev/null; mkdir -p b/rootfs/bin; cp /bin/busybox b/rootfs/bin/;"
        "ln -s busybox b/rootfs/bin/sh; umoci repack --image img:latest b;"
        "umoci config --image img:latest --config.cmd /bin/sh --config.cmd -c"
        " --config.cmd 'ls /datasets > /results/listing.txt';"
        "cd img; tar cf ../img.tar .", fx->dir);
    const char *argv[] = { "/bin/sh", "-c", script, NULL };
    int status = 0;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, NULL));
    g_assert_cmpint(status, ==, 0);
    return g_build_filename(fx->dir, "img.tar", NULL);
}

/* docker: the image is unpacked (umoci) and run (crun) with datasets/ and results/ bound in; where
 * crun cannot run containers (this CI's cgroup setup) the run must fail with crun's own reason,
 * which shows that extraction, unpacking and the bundle's config went through. */
static void
test_docker(Fixture *fx, gconstpointer data)
{
    g_autofree char *algo = NULL;
    g_autofree char *why = NULL;
    g_autofree char *state = NULL;
    g_autofree char *umoci = g_find_program_in_path("umoci");
    g_autofree char *crun = g_find_program_in_path("crun");

    if (!umoci || !crun || !g_file_test("/bin/busybox", G_FILE_TEST_EXISTS)) {
        g_test_skip("umoci, crun or /bin/busybox missing");
        return;
    }
    algo = make_oci_image(fx);
    state = run_algorithm(fx, "docker", algo, &why);
    if (strcmp(state, "ConsumingResults") == 0)
        fetch_result_file(fx, "listing.txt", "a.csv\nb.csv");
    else
        g_assert_true(g_str_has_prefix(why, "the algorithm exited with status"));
}

static void
test_bin_run(Fixture *fx, gconstpointer data)
{
    const char *algo = g_getenv("MEAN_BIN");
    const char *args[] = { "datasets/a.csv", "datasets/b.csv", NULL };
    g_autofree char *m = make_manifest(fx, "bin", algo, args);
    g_autoptr(CvAgentClient) a = NULL;

    start_agent(fx, m, FALSE);
    a = agent_test_client(fx->url, fx->algo_key);
    agent_test_upload_ok(a, "/v1/algorithm", algo);
    upload_datasets(fx);
    wait_state(fx, "ConsumingResults");
    fetch_result_and_check(fx, "7.200000");
    assert_state(fx, "Complete");
}

/* Decompression runs in covirt-agent-archive (a child of the agent): what it extracts lands in
 * datasets/, and a corrupt archive comes back as the helper's own refusal. */
static void
test_decompress(Fixture *fx, gconstpointer data)
{
    const char *algo = g_getenv("MEAN_BIN");
    /* a short table: libarchive's mtree bidder once took it for a file listing */
    g_autofree char *a = agent_test_write(fx->dir, "c.csv", "x,y\n1,2\n3,4\n");
    g_autofree char *gz = g_build_filename(fx->dir, "c.csv.gz", NULL);
    g_autofree char *bad = g_build_filename(fx->dir, "d.csv.gz", NULL);
    const char *names[] = { "c.csv.gz", "d.csv.gz" };
    const char *files[] = { gz, bad };
    g_autofree char *cmd = g_strdup_printf("gzip -n -c '%s' > '%s'", a, gz);
    g_autofree char *m = NULL, *text = NULL, *want = NULL, *got = NULL, *c_txt = NULL, *c_gz = NULL, *d_any = NULL;
    g_autoptr(CvAgentClient) o = NULL, d = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = NULL;
    gsize len = 0;

    /* a gzip stream cut short: its header is right, its end is missing */
    g_assert_cmpint(system(cmd), ==, 0);
    g_assert_true(g_file_get_contents(gz, &text, &len, NULL));
    g_assert_true(g_file_set_contents(bad, text, len - 6, NULL));
    m = make_manifest_with(fx, "bin", algo, NULL, names, files, TRUE);
    start_agent(fx, m, FALSE);
    o = agent_test_client(fx->url, fx->algo_key);
    agent_test_upload_ok(o, "/v1/algorithm", algo);
    d = agent_test_client(fx->url, fx->data_key);
    agent_test_upload_ok(d, "/v1/datasets/c.csv.gz", gz);
    c_txt = g_build_filename(fx->work, "datasets", "c.csv", NULL);
    c_gz = g_build_filename(fx->work, "datasets", "c.csv.gz", NULL);
    g_assert_true(g_file_get_contents(a, &want, NULL, NULL));
    g_assert_true(g_file_get_contents(c_txt, &got, NULL, NULL));
    g_assert_cmpstr(got, ==, want);
    g_assert_false(g_file_test(c_gz, G_FILE_TEST_EXISTS));

    r = cv_agent_client_upload(d, "/v1/datasets/d.csv.gz", bad, NULL, NULL, &error);
    assert_refused(r, error, CV_ERROR_INVALID);
    assert_tmp_empty(fx);
    d_any = g_build_filename(fx->work, "datasets", "d.csv.gz", NULL);
    g_assert_false(g_file_test(d_any, G_FILE_TEST_EXISTS));
    assert_state(fx, "ReceivingData");
}

/* What a signed PUT carries: the SHA3-256 of hash_file, a fresh challenge, and the signature over
 * (PUT, signed_path, that hash, the challenge) — the tests then send it with another body or path. */
typedef struct {
    char *hash, *challenge, *signature;
} Signed;

static void
signed_clear(Signed *s)
{
    g_free(s->hash);
    g_free(s->challenge);
    g_free(s->signature);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Signed, signed_clear)

static Signed
sign_put(CvAgentClient *c, const char *signed_path, const char *hash_file)
{
    Signed s = { agent_test_sha3(hash_file), cv_agent_client_challenge(c, NULL), NULL };
    g_autoptr(GBytes) raw = cv_hex_decode(s.hash, NULL);

    s.signature = cv_agent_client_sign(c, s.challenge, "PUT", signed_path, g_bytes_get_data(raw, NULL), NULL);
    return s;
}

static JsonNode *
put_raw(CvAgentClient *c, const char *path, const char *file, GError **error)
{
    g_auto(Signed) sg = sign_put(c, path, file);

    return cv_agent_client_put_signed(c, path, file, sg.hash, sg.challenge, sg.signature, NULL, NULL, error);
}

#define NONCE_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void
test_refusals(Fixture *fx, gconstpointer data)
{
    g_autofree char *algo = data_path("mean.py");
    g_autofree char *m = make_manifest(fx, "python", algo, NULL);
    g_autofree char *a_csv = data_path("a.csv");
    g_autofree char *b_csv = data_path("b.csv");
    g_autofree char *evil = NULL;
    g_autoptr(CvAgentClient) owner = NULL, stranger = NULL, data_owner = NULL, consumer = NULL;

    start_agent(fx, m, FALSE);
    owner = agent_test_client(fx->url, fx->algo_key);
    stranger = agent_test_client(fx->url, fx->stranger_key);
    data_owner = agent_test_client(fx->url, fx->data_key);
    consumer = agent_test_client(fx->url, fx->consumer_key);
    evil = agent_test_write(fx->dir, "evil.py", "print('not the manifest algorithm')\n");

    /* attestation on an agent without a platform: 501, read back as that code; a bad nonce first is 400 */
    {
        g_autoptr(GError) e = NULL, bad = NULL;
        g_autoptr(JsonNode) r = cv_agent_client_get_json(owner, "/v1/attestation?nonce=" NONCE_HEX, &e);
        g_autoptr(JsonNode) r2 = cv_agent_client_get_json(owner, "/v1/attestation?nonce=zz", &bad);
        assert_refused(r, e, CV_ERROR_NOT_SUPPORTED);
        g_assert_nonnull(strstr(e->message, "501"));
        assert_refused(r2, bad, CV_ERROR_INVALID);
    }

    /* a dataset before the algorithm */
    {
        g_autoptr(GError) e = NULL;
        g_autoptr(JsonNode) r = cv_agent_client_upload(data_owner, "/v1/datasets/a.csv", a_csv, NULL, NULL, &e);
        assert_refused(r, e, CV_ERROR_CONFLICT);
        assert_state(fx, "ReceivingAlgorithm");
    }
    /* the right algorithm signed by a key the manifest does not name */
    {
        g_autoptr(GError) e = NULL;
        g_autoptr(JsonNode) r = cv_agent_client_upload(stranger, "/v1/algorithm", algo, NULL, NULL, &e);
        assert_refused(r, e, CV_ERROR_UNAUTHORIZED);
        assert_state(fx, "ReceivingAlgorithm");
    }
    /* another algorithm, honestly declared: refused before its body is read */
    {
        g_autoptr(GError) e = NULL;
        g_autoptr(JsonNode) r = cv_agent_client_upload(owner, "/v1/algorithm", evil, NULL, NULL, &e);
        assert_refused(r, e, CV_ERROR_FORBIDDEN);
        assert_state(fx, "ReceivingAlgorithm");
    }
    /* another algorithm declared with the manifest's hash: refused after hashing the body, file gone */
    {
        g_autoptr(GError) e = NULL;
        g_auto(Signed) sg = sign_put(owner, "/v1/algorithm", algo);
        g_autoptr(JsonNode) r = cv_agent_client_put_signed(owner, "/v1/algorithm", evil, sg.hash, sg.challenge,
                                                           sg.signature, NULL, NULL, &e);
        g_autofree char *target = g_build_filename(fx->work, "algo", "algorithm", NULL);
        assert_refused(r, e, CV_ERROR_FORBIDDEN);
        g_assert_false(g_file_test(target, G_FILE_TEST_EXISTS));
        assert_tmp_empty(fx);
        assert_state(fx, "ReceivingAlgorithm");
    }
    /* unsigned, and a made-up challenge */
    {
        g_autoptr(GError) e = NULL;
        g_autofree char *h = agent_test_sha3(algo);
        g_autoptr(JsonNode) r = cv_agent_client_put_signed(owner, "/v1/algorithm", algo, h,
                                                           "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                                                           "AAAA", NULL, NULL, &e);
        assert_refused(r, e, CV_ERROR_UNAUTHORIZED);
    }
    agent_test_upload_ok(owner, "/v1/algorithm", algo);
    assert_state(fx, "ReceivingData");

    /* replay: the same signed request twice; the second is refused and changes nothing */
    {
        g_autoptr(GError) e = NULL;
        g_auto(Signed) sg = sign_put(data_owner, "/v1/datasets/a.csv", a_csv);
        g_autoptr(JsonNode) r1 = cv_agent_client_put_signed(data_owner, "/v1/datasets/a.csv", a_csv, sg.hash,
                                                            sg.challenge, sg.signature, NULL, NULL, &e);
        g_autoptr(JsonNode) r2 = NULL;
        g_assert_no_error(e);
        g_assert_nonnull(r1);
        r2 = cv_agent_client_put_signed(data_owner, "/v1/datasets/a.csv", a_csv, sg.hash, sg.challenge, sg.signature,
                                        NULL, NULL, &e);
        assert_refused(r2, e, CV_ERROR_UNAUTHORIZED);
        g_assert_nonnull(strstr(e->message, "already used"));
        assert_state(fx, "ReceivingData");
    }
    /* a signature for one dataset does not carry over to another path */
    {
        g_autoptr(GError) e = NULL;
        g_auto(Signed) sg = sign_put(data_owner, "/v1/datasets/a.csv", b_csv);
        g_autoptr(JsonNode) r = cv_agent_client_put_signed(data_owner, "/v1/datasets/b.csv", b_csv, sg.hash,
                                                           sg.challenge, sg.signature, NULL, NULL, &e);
        assert_refused(r, e, CV_ERROR_UNAUTHORIZED);
    }
    /* a dataset the manifest does not name, and names that escape datasets/ */
    {
        const char *paths[] = { "/v1/datasets/c.csv", "/v1/datasets/..%2Fa.csv", "/v1/datasets/%2e%2e%2falgo%2falgorithm",
                                "/v1/datasets/a.csv%00", "/v1/datasets/sub/a.csv", "/v1/datasets/.a.csv",
                                "/v1/datasets/", "/v1/datasets/%2Fetc%2Fpasswd" };
        for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
            g_autoptr(GError) e = NULL;
            g_autoptr(JsonNode) r = put_raw(data_owner, paths[i], b_csv, &e);
            g_test_message("path %s", paths[i]);
            g_assert_null(r);
            g_assert_true(e->code == CV_ERROR_INVALID || e->code == CV_ERROR_NOT_FOUND);
            assert_state(fx, "ReceivingData");
        }
        assert_tmp_empty(fx);
    }
    /* a dataset with the wrong content */
    {
        g_autoptr(GError) e = NULL;
        g_autoptr(JsonNode) r = put_raw(data_owner, "/v1/datasets/b.csv", a_csv, &e);
        assert_refused(r, e, CV_ERROR_FORBIDDEN);
        assert_state(fx, "ReceivingData");
    }
    /* no result yet */
    {
        g_autofree char *zip = g_build_filename(fx->dir, "early.zip", NULL);
        g_autoptr(GError) e = NULL;
        g_assert_false(cv_agent_client_download_result(consumer, zip, NULL, NULL, &e));
        g_assert_error(e, CV_ERROR, CV_ERROR_CONFLICT);
    }
    /* and the agent still works: the right dataset completes the computation */
    agent_test_upload_ok(data_owner, "/v1/datasets/b.csv", b_csv);
    wait_state(fx, "ConsumingResults");
    /* the result goes only to a consumer's key */
    {
        const char *keys[] = { fx->algo_key, fx->data_key, fx->stranger_key };
        for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
            g_autoptr(CvAgentClient) c = agent_test_client(fx->url, keys[i]);
            g_autofree char *zip = g_build_filename(fx->dir, "stolen.zip", NULL);
            g_autoptr(GError) e = NULL;
            g_assert_false(cv_agent_client_download_result(c, zip, NULL, NULL, &e));
            g_assert_error(e, CV_ERROR, CV_ERROR_FORBIDDEN);
            g_assert_false(g_file_test(zip, G_FILE_TEST_EXISTS));
        }
        assert_state(fx, "ConsumingResults");
    }
    fetch_result_and_check(fx, "7.200000");
    assert_state(fx, "Complete");
}

/* ---- control channel ---- */

/* Reads frames until an Event of this kind (and state, if given) arrives. */
static void
expect_event(GSocketConnection *conn, const char *kind, const char *state)
{
    for (int i = 0; i < 100; i++) {
        g_autoptr(CvFrame) f = agent_test_read_frame(conn);
        if (f->body_case == COVIRT__CONTROL__FRAME__BODY_EVENT && strcmp(f->event->kind, kind) == 0 &&
            (!state || strcmp(f->event->state, state) == 0))
            return;
    }
    g_assert_not_reached();
}

static GSocketConnection *
accept_agent(Fixture *fx, char **tls_hex)
{
    g_autoptr(GError) error = NULL;
    GSocketConnection *conn = g_socket_listener_accept(fx->listener, NULL, NULL, &error);
    g_autoptr(CvFrame) hello = NULL;

    g_assert_no_error(error);
    g_socket_set_timeout(g_socket_connection_get_socket(conn), 20);
    hello = agent_test_read_frame(conn);
    g_assert_cmpint(hello->body_case, ==, COVIRT__CONTROL__FRAME__BODY_HELLO);
    g_assert_cmpstr(hello->hello->agent_version, ==, COVIRT_VERSION);
    g_assert_cmpuint(hello->hello->tls_pubkey_sha256.len, ==, 32);
    *tls_hex = cv_hex_encode(hello->hello->tls_pubkey_sha256.data, 32);
    return conn;
}

static void
test_control_channel(Fixture *fx, gconstpointer data)
{
    g_autofree char *algo = data_path("mean.py");
    g_autofree char *m = make_manifest(fx, "python", algo, NULL);
    g_autofree char *tls = NULL, *tls2 = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GSocketConnection) conn2 = NULL;
    g_autoptr(CvAgentClient) c = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) st = NULL;

    /* a malformed manifest at start: refused, the agent stays up and waits for another */
    start_agent(fx, "{\"id\": \"x\", \"name\": 3}", TRUE);
    conn = accept_agent(fx, &tls);
    c = agent_test_client(fx->url, fx->algo_key);
    st = cv_agent_client_get_json(c, "/v1/state", &error);
    g_assert_no_error(error);
    /* the Hello names the key the HTTPS server presents */
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(st), "tls_pubkey_sha256"), ==, tls);
    g_assert_cmpstr(cv_agent_client_peer_key_sha256(c), ==, tls);
    assert_state(fx, "ReceivingManifest");

    agent_test_send_manifest(conn, "{\"id\": \"x\", \"name\": \"y\", \"algorithm\": {\"hash\": \"00\"}}");
    expect_event(conn, "manifest-refused", "ReceivingManifest");
    assert_state(fx, "ReceivingManifest");

    agent_test_send_manifest(conn, m);
    expect_event(conn, "state", "ReceivingAlgorithm");
    assert_state(fx, "ReceivingAlgorithm");
    agent_test_upload_ok(c, "/v1/algorithm", algo);
    expect_event(conn, "state", "ReceivingData");

    /* StateRequest → State */
    {
        Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
        Covirt__Control__StateRequest r = COVIRT__CONTROL__STATE_REQUEST__INIT;
        f.body_case = COVIRT__CONTROL__FRAME__BODY_STATE_REQUEST;
        f.state_request = &r;
        agent_test_send_frame(conn, &f);
        for (;;) {
            g_autoptr(CvFrame) s = agent_test_read_frame(conn);
            if (s->body_case == COVIRT__CONTROL__FRAME__BODY_STATE) {
                g_assert_cmpstr(s->state->state, ==, "ReceivingData");
                break;
            }
        }
    }

    /* the manager goes away: events queue, then arrive after a new Hello */
    g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
    {
        g_autoptr(CvAgentClient) d = agent_test_client(fx->url, fx->data_key);
        g_autofree char *a = data_path("a.csv");
        agent_test_upload_ok(d, "/v1/datasets/a.csv", a);
    }
    conn2 = accept_agent(fx, &tls2);
    g_assert_cmpstr(tls2, ==, tls);
    expect_event(conn2, "upload", "ReceivingData");

    /* Stop: files gone, the computation Stopped (tests/agent/test-agent-stop-reset.c goes further) */
    {
        g_autofree char *dataset = g_build_filename(fx->work, "datasets", "a.csv", NULL);
        agent_test_send_stop(conn2, "operator stop");
        expect_event(conn2, "state", "Stopped");
        assert_state(fx, "Stopped");
        g_assert_false(g_file_test(dataset, G_FILE_TEST_EXISTS));
    }
    /* garbage on the channel: the agent drops the connection and comes back with a Hello */
    {
        g_autofree char *tls3 = NULL;
        g_autoptr(GSocketConnection) conn3 = NULL;
        guint8 junk[] = { 0xff, 0xff, 0xff, 0xff, 1, 2, 3 };
        g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn2)), junk, sizeof(junk), NULL,
                                  NULL, NULL);
        conn3 = accept_agent(fx, &tls3);
        g_assert_cmpstr(tls3, ==, tls);
        /* the stopped computation's manifest is taken again only after a reset */
        agent_test_send_reset(conn3, m);
        expect_event(conn3, "state", "ReceivingAlgorithm");
    }
}

/* ---- the CLI: covirt keys, checksum, algo, data, result ---- */

static int
run_covirt(const char *const *args, char **out, char **err)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    int status = 0;
    g_autoptr(GError) error = NULL;

    g_ptr_array_add(argv, (gpointer)g_getenv("COVIRT_BIN"));
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, err, &status,
                               &error));
    g_assert_no_error(error);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_cli(Fixture *fx, gconstpointer data)
{
    const char *types[] = { "rsa", "ecdsa", "ed25519" };
    g_autofree char *algo = data_path("mean.py");
    g_autofree char *a_csv = data_path("a.csv");
    g_autofree char *b_csv = data_path("b.csv");
    g_autofree char *m = NULL, *mfile = NULL, *out_dir = NULL, *mean = NULL, *mean_file = NULL;
    g_autofree char *algo_key = g_build_filename(fx->dir, "cli-algo.key", NULL);
    g_autofree char *algo_pub_path = g_build_filename(fx->dir, "cli-algo.pub", NULL);
    g_autofree char *prefix = g_build_filename(fx->dir, "cli-algo", NULL);
    g_autofree char *pin = NULL;

    if (!g_getenv("COVIRT_BIN")) {
        g_test_skip("COVIRT_BIN not set");
        return;
    }
    /* keys: every type, private key 0600, public key of that type */
    for (guint i = 0; i < G_N_ELEMENTS(types); i++) {
        g_autofree char *pre = g_build_filename(fx->dir, types[i], NULL);
        g_autofree char *key = g_strconcat(pre, ".key", NULL);
        g_autofree char *pub = g_strconcat(pre, ".pub", NULL);
        g_autofree char *text = NULL;
        g_autofree char *o = NULL, *e = NULL;
        const char *args[] = { "keys", "--type", types[i], "--out", pre, NULL };
        EVP_PKEY *k;
        GStatBuf st;
        gsize len = 0;

        g_assert_cmpint(run_covirt(args, &o, &e), ==, 0);
        g_assert_cmpint(g_stat(key, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0600);
        g_assert_true(g_file_get_contents(pub, &text, &len, NULL));
        k = cv_sign_pubkey_from_pem(text, len, NULL);
        g_assert_nonnull(k);
        g_assert_cmpstr(cv_sign_key_type(k), ==, types[i]);
        EVP_PKEY_free(k);
        k = cv_sign_privkey_load(key, NULL);
        g_assert_nonnull(k);
        EVP_PKEY_free(k);
    }
    {
        const char *bad[] = { "keys", "--type", "dsa", "--out", prefix, NULL };
        g_autofree char *o = NULL, *e = NULL;
        g_assert_cmpint(run_covirt(bad, &o, &e), ==, 2);
    }
    /* checksum of a file is the SHA3-256 the manifest needs */
    {
        const char *args[] = { "checksum", a_csv, NULL };
        g_autofree char *o = NULL, *e = NULL;
        g_autofree char *h = agent_test_sha3(a_csv);
        g_assert_cmpint(run_covirt(args, &o, &e), ==, 0);
        g_assert_true(g_str_has_prefix(o, h));
    }
    /* an algorithm key made by the CLI, in a manifest */
    {
        const char *args[] = { "keys", "--type", "ed25519", "--out", prefix, NULL };
        g_autofree char *o = NULL, *e = NULL;
        g_assert_cmpint(run_covirt(args, &o, &e), ==, 0);
        g_free(fx->algo_pub);
        g_assert_true(g_file_get_contents(algo_pub_path, &fx->algo_pub, NULL, NULL));
    }
    m = make_manifest(fx, "python", algo, NULL);
    mfile = agent_test_write(fx->dir, "cli-manifest.json", m);
    {
        const char *ok[] = { "checksum", "--manifest", mfile, "--algorithm", algo, a_csv, b_csv, NULL };
        const char *bad[] = { "checksum", "--manifest", mfile, "--algorithm", a_csv, a_csv, NULL };
        g_autofree char *o = NULL, *e = NULL, *o2 = NULL, *e2 = NULL;
        g_assert_cmpint(run_covirt(ok, &o, &e), ==, 0);
        g_assert_null(strstr(o, "MISMATCH"));
        g_assert_cmpint(run_covirt(bad, &o2, &e2), ==, 3);
        g_assert_nonnull(strstr(o2, "MISMATCH"));
    }

    start_agent(fx, m, FALSE);
    {
        g_autoptr(CvAgentClient) c = agent_test_client(fx->url, NULL);
        g_autoptr(JsonNode) st = cv_agent_client_get_json(c, "/v1/state", NULL);
        const char *args[] = { "checksum", "--manifest", mfile, NULL };
        g_autofree char *o = NULL, *e = NULL, *line = NULL;

        pin = g_strdup(json_object_get_string_member(json_node_get_object(st), "tls_pubkey_sha256"));
        /* the manifest hash the CLI prints for the user's file is the one the agent binds */
        g_assert_cmpint(run_covirt(args, &o, &e), ==, 0);
        line = g_strdup_printf("manifest hash %s ", json_object_get_string_member(
                                   json_object_get_object_member(json_node_get_object(st), "manifest"), "sha256"));
        g_assert_nonnull(strstr(o, line));
    }
    /* nothing goes to an agent that was not attested (no --policy, no --pin) */
    {
        const char *args[] = { "algo", "--agent", fx->url, "--key", algo_key, algo, NULL };
        g_autofree char *o = NULL, *e = NULL;
        g_assert_cmpint(run_covirt(args, &o, &e), ==, 2);
        g_assert_nonnull(strstr(e, "attest the agent first"));
        assert_state(fx, "ReceivingAlgorithm");
    }
    /* a wrong pin: refused before anything is sent */
    {
        const char *args[] = { "algo", "--agent", fx->url, "--key", algo_key, "--pin",
                               "0000000000000000000000000000000000000000000000000000000000000000", algo, NULL };
        g_autofree char *o = NULL, *e = NULL;
        g_assert_cmpint(run_covirt(args, &o, &e), ==, 3);
        g_assert_nonnull(strstr(e, "not the pinned"));
        assert_state(fx, "ReceivingAlgorithm");
    }
    {
        const char *args[] = { "algo", "--agent", fx->url, "--key", algo_key, "--pin", pin, algo, NULL };
        g_autofree char *o = NULL, *e = NULL;
        g_assert_cmpint(run_covirt(args, &o, &e), ==, 0);
    }
    {
        const char *a1[] = { "data", "--agent", fx->url, "--key", fx->data_key, "--pin", pin, a_csv, NULL };
        const char *a2[] = { "data", "--agent", fx->url, "--key", fx->data_key, "--pin", pin, "--json", b_csv, NULL };
        g_autofree char *o = NULL, *e = NULL, *o2 = NULL, *e2 = NULL;
        g_autoptr(JsonNode) j = NULL;
        g_assert_cmpint(run_covirt(a1, &o, &e), ==, 0);
        g_assert_cmpint(run_covirt(a2, &o2, &e2), ==, 0);
        j = cv_json_parse(o2, -1, NULL);
        g_assert_nonnull(j);
    }
    wait_state(fx, "ConsumingResults");
    out_dir = g_build_filename(fx->dir, "cli-out", NULL);
    {
        const char *wrong[] = { "result", "--agent", fx->url, "--key", algo_key, "--pin", pin, "--out", out_dir, NULL };
        const char *right[] = { "result", "--agent", fx->url, "--key", fx->consumer_key, "--pin", pin, "--out", out_dir,
                                NULL };
        g_autofree char *o = NULL, *e = NULL, *o2 = NULL, *e2 = NULL;
        g_assert_cmpint(run_covirt(wrong, &o, &e), ==, 6);
        g_assert_cmpint(run_covirt(right, &o2, &e2), ==, 0);
    }
    mean_file = g_build_filename(out_dir, "mean.txt", NULL);
    g_assert_true(g_file_get_contents(mean_file, &mean, NULL, NULL));
    g_assert_cmpstr(g_strstrip(mean), ==, "7.200000");
    assert_state(fx, "Complete");
}

/* ---- hostile dataset archives (issue 15): owner A (data_key) and owner B (stranger_key) ---- */

typedef struct {
    const char *name;
    char type;             /* ustar typeflag */
    const char *link;
    const char *data;
    gboolean pax;          /* a pax header before it: hardlinks then carry their data */
    gsize declared;        /* size in the header when not the data's */
} TarEntry;

static void
tar_pad(GByteArray *out, const char *data, gsize len)
{
    static const guint8 zero[512];

    g_byte_array_append(out, (const guint8 *)data, len);
    if (len % 512)
        g_byte_array_append(out, zero, 512 - len % 512);
}

static void
tar_header(GByteArray *out, const char *name, char type, gsize size, const char *link)
{
    char h[512] = { 0 };
    guint sum = 0;

    g_strlcpy(h, name, 100);
    g_snprintf(h + 100, 8, "%07o", type == '5' ? 0755 : 0644);
    g_snprintf(h + 108, 8, "%07o", 0);
    g_snprintf(h + 116, 8, "%07o", 0);
    g_snprintf(h + 124, 12, "%011lo", (unsigned long)size);
    g_snprintf(h + 136, 12, "%011o", 0);
    memset(h + 148, ' ', 8);
    h[156] = type;
    if (link)
        g_strlcpy(h + 157, link, 100);
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    g_snprintf(h + 329, 8, "%07o", 1);
    g_snprintf(h + 337, 8, "%07o", 3);
    for (guint i = 0; i < sizeof(h); i++)
        sum += (guchar)h[i];
    g_snprintf(h + 148, 8, "%06o", sum);
    g_byte_array_append(out, (const guint8 *)h, sizeof(h));
}

/* A tar in fx->dir; complete FALSE leaves off the end (and whatever the last entry declared). */
static char *
make_tar(Fixture *fx, const char *file, const TarEntry *entries, guint n, gboolean complete)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    static const char zeros[1024];
    char *path = g_build_filename(fx->dir, file, NULL);

    for (guint i = 0; i < n; i++) {
        const TarEntry *e = &entries[i];
        gsize len = e->data ? strlen(e->data) : 0;
        if (e->pax) {
            const char *record = "18 comment=covirt\n";
            tar_header(out, "PaxHeader", 'x', strlen(record), NULL);
            tar_pad(out, record, strlen(record));
        }
        tar_header(out, e->name, e->type, e->declared ? e->declared : len, e->link);
        tar_pad(out, e->data, len);
    }
    if (complete)
        g_byte_array_append(out, (const guint8 *)zeros, sizeof(zeros));
    g_assert_true(g_file_set_contents(path, (const char *)out->data, out->len, NULL));
    return path;
}

static char *
make_gz(Fixture *fx, const char *file, const char *text, gsize len)
{
    g_autofree char *plain = g_build_filename(fx->dir, "plain", NULL);
    char *gz = g_build_filename(fx->dir, file, NULL);
    g_autofree char *cmd = g_strdup_printf("gzip -n -c '%s' > '%s'", plain, gz);

    g_assert_true(g_file_set_contents(plain, text, len, NULL));
    g_assert_cmpint(system(cmd), ==, 0);
    return gz;
}

static gint
cmp_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names in the work dir's datasets/, sorted, separated by spaces. */
static void
assert_datasets(Fixture *fx, const char *expected)
{
    g_autofree char *dir = g_build_filename(fx->work, "datasets", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    g_autofree char *got = NULL;
    const char *n;

    g_assert_nonnull(d);
    while ((n = g_dir_read_name(d)))
        g_ptr_array_add(names, (gpointer)n);
    g_ptr_array_sort(names, cmp_names);
    g_ptr_array_add(names, NULL);
    got = g_strjoinv(" ", (char **)names->pdata);
    g_assert_cmpstr(got, ==, expected);
}

/* Refused with code and a message naming what, nothing left in tmp/ */
static void
upload_refused(Fixture *fx, CvAgentClient *c, const char *name, const char *file, gint code, const char *what)
{
    g_autofree char *path = g_strconcat("/v1/datasets/", name, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = cv_agent_client_upload(c, path, file, NULL, NULL, &error);

    assert_refused(r, error, code);
    g_assert_nonnull(strstr(error->message, what));
    assert_tmp_empty(fx);
}

static void
assert_unchanged(Fixture *fx, const char *name, const char *original)
{
    g_autofree char *placed = g_build_filename(fx->work, "datasets", name, NULL);
    g_autofree char *want = agent_test_sha3(original);
    g_autofree char *got = agent_test_sha3(placed);

    g_assert_cmpstr(got, ==, want);
}

/* B's archives cannot touch A's datasets nor block them; each refusal names the entry, leaves nothing,
 * and frees the dataset for another try. */
static void
test_archive_owners(Fixture *fx, gconstpointer data)
{
    const char *algo = g_getenv("MEAN_BIN");
    g_autofree char *a_csv = data_path("a.csv");
    g_autofree char *b_csv = data_path("b.csv");
    const TarEntry hard[] = { { "hx", '1', "a.csv", "666\n", TRUE, 0 } };
    const TarEntry sym[] = { { "sx", '2', "a.csv", NULL, FALSE, 0 } };
    const TarEntry dev[] = { { "null", '3', NULL, NULL, FALSE, 0 } };
    const TarEntry fifo[] = { { "pipe", '6', NULL, NULL, FALSE, 0 } };
    const TarEntry half[] = { { "h1.csv", '0', NULL, "x\n1\n", FALSE, 0 }, { "h2.csv", '0', NULL, "x\n", FALSE, 4096 } };
    const TarEntry dir[] = { { "b.csv/", '5', NULL, NULL, FALSE, 0 }, { "b.csv/x", '0', NULL, "x\n", FALSE, 0 } };
    const TarEntry good[] = { { "good/", '5', NULL, NULL, FALSE, 0 }, { "good/x.csv", '0', NULL, "x\n5\n", FALSE, 0 } };
    g_autofree char *t_hard = make_tar(fx, "b.tar", hard, G_N_ELEMENTS(hard), TRUE);
    g_autofree char *t_sym = make_tar(fx, "sym.tar", sym, G_N_ELEMENTS(sym), TRUE);
    g_autofree char *t_dev = make_tar(fx, "dev.tar", dev, G_N_ELEMENTS(dev), TRUE);
    g_autofree char *t_fifo = make_tar(fx, "fifo.tar", fifo, G_N_ELEMENTS(fifo), TRUE);
    g_autofree char *t_half = make_tar(fx, "half.tar", half, G_N_ELEMENTS(half), FALSE);
    g_autofree char *t_dir = make_tar(fx, "dir.tar", dir, G_N_ELEMENTS(dir), TRUE);
    g_autofree char *t_good = make_tar(fx, "good.tar", good, G_N_ELEMENTS(good), TRUE);
    g_autofree char *a_gz = make_gz(fx, "a.csv.gz", "x\n9\n", 4);
    /* a gzipped table whose text starts with 512 zero bytes or more: tar's bidder reads an empty archive */
    char z_text[600 + 4] = { 0 };
    g_autofree char *z_gz = (memcpy(z_text + 600, "x\n1\n", 4), make_gz(fx, "z.csv.gz", z_text, sizeof(z_text)));
    const DatasetSpec sets[] = {
        { "a.csv", a_csv, NULL, FALSE },               { "b.csv", b_csv, NULL, FALSE },
        { "b.tar", t_hard, fx->stranger_pub, TRUE },   { "sym.tar", t_sym, fx->stranger_pub, TRUE },
        { "dev.tar", t_dev, fx->stranger_pub, TRUE },  { "fifo.tar", t_fifo, fx->stranger_pub, TRUE },
        { "half.tar", t_half, fx->stranger_pub, TRUE }, { "dir.tar", t_dir, fx->stranger_pub, TRUE },
        { "a.csv.gz", a_gz, fx->stranger_pub, TRUE },  { "z.csv.gz", z_gz, fx->stranger_pub, TRUE },
        { "good.tar", t_good, fx->stranger_pub, TRUE },
    };
    g_autofree char *m = make_manifest_sets(fx, "bin", algo, NULL, sets, G_N_ELEMENTS(sets));
    g_autoptr(CvAgentClient) o = NULL, a = NULL, b = NULL;
    g_autofree char *z_out = g_build_filename(fx->work, "datasets", "z.csv", NULL);
    g_autofree char *z_got = NULL;
    gsize z_len = 0;

    start_agent(fx, m, FALSE);
    o = agent_test_client(fx->url, fx->algo_key);
    a = agent_test_client(fx->url, fx->data_key);
    b = agent_test_client(fx->url, fx->stranger_key);
    agent_test_upload_ok(o, "/v1/algorithm", algo);
    agent_test_upload_ok(a, "/v1/datasets/a.csv", a_csv);

    /* a pax hardlink carrying data would rewrite A's verified a.csv; twice: the dataset is free again */
    upload_refused(fx, b, "b.tar", t_hard, CV_ERROR_INVALID, "archive entry hx is a hardlink");
    upload_refused(fx, b, "b.tar", t_hard, CV_ERROR_INVALID, "archive entry hx is a hardlink");
    assert_unchanged(fx, "a.csv", a_csv);
    upload_refused(fx, b, "sym.tar", t_sym, CV_ERROR_INVALID, "archive entry sx is a symlink");
    upload_refused(fx, b, "dev.tar", t_dev, CV_ERROR_INVALID, "archive entry null is a device");
    upload_refused(fx, b, "fifo.tar", t_fifo, CV_ERROR_INVALID, "archive entry pipe is a FIFO");
    upload_refused(fx, b, "half.tar", t_half, CV_ERROR_INVALID, "corrupt archive");
    assert_datasets(fx, "a.csv");

    /* names: another dataset's (a folder b.csv before A's b.csv; a .gz becoming a.csv) are refused */
    upload_refused(fx, b, "dir.tar", t_dir, CV_ERROR_CONFLICT, "b.csv");
    agent_test_upload_ok(a, "/v1/datasets/b.csv", b_csv);
    upload_refused(fx, b, "a.csv.gz", a_gz, CV_ERROR_CONFLICT, "a.csv");
    assert_unchanged(fx, "a.csv", a_csv);
    assert_unchanged(fx, "b.csv", b_csv);

    /* a single compressed file is never read as a tar */
    agent_test_upload_ok(b, "/v1/datasets/z.csv.gz", z_gz);
    g_assert_true(g_file_get_contents(z_out, &z_got, &z_len, NULL));
    g_assert_cmpmem(z_got, z_len, z_text, sizeof(z_text));
    agent_test_upload_ok(b, "/v1/datasets/good.tar", t_good);
    assert_datasets(fx, "a.csv b.csv good z.csv");
    assert_tmp_empty(fx);
    assert_state(fx, "ReceivingData");
}

typedef struct {
    Fixture *fx;
    const char *file;
    GError *error;
    gint done;
} BombUpload;

static gpointer
bomb_upload(gpointer data)
{
    BombUpload *up = data;
    g_autoptr(CvAgentClient) b = agent_test_client(up->fx->url, up->fx->stranger_key);
    g_autoptr(JsonNode) r = cv_agent_client_upload(b, "/v1/datasets/bomb.csv.gz", up->file, NULL, NULL, &up->error);

    g_assert_null(r);
    g_atomic_int_set(&up->done, 1);
    return NULL;
}

static gboolean
extracting(Fixture *fx)
{
    g_autofree char *tmp = g_build_filename(fx->work, "tmp", NULL);
    g_autoptr(GDir) d = g_dir_open(tmp, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d)))
        if (g_str_has_prefix(n, "extract-"))
            return TRUE;
    return FALSE;
}

/* Uploads the bomb as B from a thread; while it expands, asks GET /v1/state, and sends a Stop on
 * stop_conn if given. The upload's error; *answered: states answered during the extraction. */
static GError *
bomb_watch(Fixture *fx, const char *file, GSocketConnection *stop_conn, guint *answered)
{
    BombUpload up = { fx, file, NULL, 0 };
    GThread *thread = g_thread_new("bomb", bomb_upload, &up);

    *answered = 0;
    while (!g_atomic_int_get(&up.done)) {
        if (extracting(fx) && stop_conn) {
            agent_test_send_stop(stop_conn, "stopped while a dataset expands");
            stop_conn = NULL;
        } else if (extracting(fx)) {
            g_autofree char *s = agent_test_state(fx->url);
            *answered += extracting(fx);
        } else {
            g_usleep(5000);
        }
    }
    g_thread_join(thread);
    return up.error;
}

/* The agent's children (covirt-agent-archive) are gone within 2 s. */
static void
assert_no_children(Fixture *fx)
{
    const char *pid = g_subprocess_get_identifier(fx->agent);
    g_autofree char *path = g_strdup_printf("/proc/%s/task/%s/children", pid, pid);

    for (int i = 0; i < 200; i++) {
        g_autofree char *children = NULL;
        g_assert_true(g_file_get_contents(path, &children, NULL, NULL));
        if (!*g_strstrip(children))
            return;
        g_usleep(10000);
    }
    g_assert_not_reached();
}

/* A gzip of 1 GiB of zeros in 1 MiB (16 gzip members) stops at the limit, leaves nothing, and the agent
 * answers GET /v1/state while it expands; a Stop meanwhile kills the child and leaves nothing either. */
static void
test_archive_bomb(Fixture *fx, gconstpointer data)
{
    const char *algo = g_getenv("MEAN_BIN");
    g_autofree char *a_csv = data_path("a.csv");
    g_autofree char *member = g_build_filename(fx->dir, "member.gz", NULL);
    g_autofree char *bomb = g_build_filename(fx->dir, "bomb.csv.gz", NULL);
    g_autofree char *cmd = g_strdup_printf("head -c 64M /dev/zero | gzip -n -c > '%s'", member);
    g_autofree char *one = NULL, *m = NULL, *tls = NULL;
    g_autoptr(GString) all = g_string_new(NULL);
    g_autoptr(CvAgentClient) o = NULL, a = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GError) error = NULL, stopped = NULL;
    gsize len = 0;
    guint answered = 0;

    g_assert_cmpint(system(cmd), ==, 0);
    g_assert_true(g_file_get_contents(member, &one, &len, NULL));
    for (guint i = 0; i < 16; i++)
        g_string_append_len(all, one, len);
    g_assert_true(g_file_set_contents(bomb, all->str, all->len, NULL));
    {
        const DatasetSpec sets[] = { { "a.csv", a_csv, NULL, FALSE }, { "bomb.csv.gz", bomb, fx->stranger_pub, TRUE } };
        m = make_manifest_sets(fx, "bin", algo, NULL, sets, G_N_ELEMENTS(sets));
    }
    /* 512 MiB of zeros to write (the ratio no bound before it) keeps the child busy long enough for a
     * state request to be answered during the extraction also on a loaded machine */
    fx->agent_arg = "--dataset-max-size=512M";
    g_setenv("AGENT_DATASET_EXPANSION", "10000", TRUE);
    start_agent(fx, m, TRUE);
    g_unsetenv("AGENT_DATASET_EXPANSION");
    conn = accept_agent(fx, &tls);
    o = agent_test_client(fx->url, fx->algo_key);
    agent_test_upload_ok(o, "/v1/algorithm", algo);
    error = bomb_watch(fx, bomb, NULL, &answered);
    g_test_message("GET /v1/state answered %u time(s) during the extraction", answered);
    g_assert_cmpuint(answered, >, 0);
    assert_refused(NULL, error, CV_ERROR_TOO_LARGE);
    assert_tmp_empty(fx);
    assert_datasets(fx, "");
    a = agent_test_client(fx->url, fx->data_key);
    agent_test_upload_ok(a, "/v1/datasets/a.csv", a_csv);
    assert_state(fx, "ReceivingData");

    stopped = bomb_watch(fx, bomb, conn, &answered);
    assert_refused(NULL, stopped, CV_ERROR_CONFLICT);
    wait_state(fx, "Stopped");
    assert_no_children(fx);
    g_assert_false(extracting(fx));
}

/* The default limit: ratio × the upload, within the floor, the ceiling and the free space. */
static void
test_dataset_limit(void)
{
    const CvManifestDatasetLimits def = { CV_AGENT_DATASET_RATIO, CV_AGENT_DATASET_MAX_BYTES, 0 };
    const guint64 free_bytes = G_MAXUINT64;

    /* the probe's 12.5 MB gzip that expanded to 6 GiB */
    g_assert_cmpuint(cv_agent_dataset_limit(&def, 12500000, free_bytes), ==, 1250000000);
    g_assert_cmpuint(cv_agent_dataset_limit(&def, 1000, free_bytes), ==, CV_AGENT_DATASET_FLOOR);
    g_assert_cmpuint(cv_agent_dataset_limit(&def, G_MAXUINT64 / 2, free_bytes), ==, CV_AGENT_DATASET_MAX_BYTES);
    g_assert_cmpuint(cv_agent_dataset_limit(&def, 12500000, 10 << 20), ==, 10 << 20);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!g_getenv("AGENT_BIN") || !g_getenv("AGENT_TEST_DATA")) {
        g_test_skip("run through meson test (AGENT_BIN, AGENT_TEST_DATA)");
        return 77;
    }
    g_test_add("/agent/python-run", Fixture, NULL, fixture_setup, test_python_run, fixture_teardown);
    g_test_add("/agent/python-wheels", Fixture, NULL, fixture_setup, test_python_wheels, fixture_teardown);
    g_test_add("/agent/wasm", Fixture, NULL, fixture_setup, test_wasm, fixture_teardown);
    g_test_add("/agent/docker", Fixture, NULL, fixture_setup, test_docker, fixture_teardown);
    g_test_add("/agent/bin-run", Fixture, NULL, fixture_setup, test_bin_run, fixture_teardown);
    g_test_add("/agent/decompress", Fixture, NULL, fixture_setup, test_decompress, fixture_teardown);
    g_test_add_func("/agent/dataset-limit", test_dataset_limit);
    g_test_add("/agent/archive-owners", Fixture, NULL, fixture_setup, test_archive_owners, fixture_teardown);
    g_test_add("/agent/archive-bomb", Fixture, NULL, fixture_setup, test_archive_bomb, fixture_teardown);
    g_test_add("/agent/refusals", Fixture, NULL, fixture_setup, test_refusals, fixture_teardown);
    g_test_add("/agent/cli", Fixture, NULL, fixture_setup, test_cli, fixture_teardown);
    g_test_add("/agent/control-channel", Fixture, NULL, fixture_setup, test_control_channel, fixture_teardown);
    return g_test_run();
}
