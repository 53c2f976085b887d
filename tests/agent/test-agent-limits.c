/* covirt-agent's network front under hostile clients (issue 15): challenge flooding, paths with
 * percent-encoding, old TLS versions, uploads that stall, bodies shorter than announced, and descriptor
 * exhaustion. The agent runs as in test-agent-api.c: a subprocess on a free loopback port. */
#include "agent-client.h"
#include "cv-error.h"
#include "cv-sign.h"
#include "cv-util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <gio/gio.h>
#include <openssl/pem.h>

typedef struct {
    char *dir, *work, *url;
    char *algo_key, *data_key;   /* private key paths */
    char *algo_pub, *data_pub;   /* PEM */
    char *algo, *files[3];       /* the algorithm and the datasets' contents */
    GSubprocess *agent;
    guint port;
} Fixture;

/* the manifest's dataset names: one needs percent-encoding, and its "%41" must not be decoded twice */
static const char *const names[3] = { "a.csv", "x%41 y.csv", "c.csv" };

static void
make_key(Fixture *fx, const char *name, char **key_path, char **pub)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;

    g_assert_nonnull(k);
    g_assert_true(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL));
    n = BIO_get_mem_data(bio, &p);
    *key_path = g_build_filename(fx->dir, name, NULL);
    g_assert_true(cv_write_file(*key_path, p, n, 0600, NULL));
    BIO_free(bio);
    *pub = cv_sign_pubkey_to_pem(k, NULL);
    EVP_PKEY_free(k);
}

static char *
sha3(const char *path)
{
    char *h = cv_file_digest_hex("SHA3-256", path, NULL);

    g_assert_nonnull(h);
    return h;
}

static char *
write_file(Fixture *fx, const char *name, const char *text)
{
    char *p = g_build_filename(fx->dir, name, NULL);

    g_assert_true(g_file_set_contents(p, text, -1, NULL));
    return p;
}

static void
add_file(JsonBuilder *b, const char *file, const char *key)
{
    g_autofree char *h = sha3(file);

    json_builder_set_member_name(b, "hash");
    json_builder_add_string_value(b, h);
    json_builder_set_member_name(b, "userKey");
    json_builder_add_string_value(b, key);
}

/* the algorithm by algo_key, three datasets by data_key (the third is never sent: the agent stays in
 * ReceivingData), the data owner as the result consumer */
static char *
make_manifest(Fixture *fx)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, "limits");
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, "limits");
    json_builder_set_member_name(b, "datasets");
    json_builder_begin_array(b);
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        json_builder_begin_object(b);
        add_file(b, fx->files[i], fx->data_pub);
        json_builder_set_member_name(b, "filename");
        json_builder_add_string_value(b, names[i]);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "algorithm");
    json_builder_begin_object(b);
    add_file(b, fx->algo, fx->algo_pub);
    json_builder_set_member_name(b, "algo_type");
    json_builder_add_string_value(b, "python");
    json_builder_end_object(b);
    json_builder_set_member_name(b, "result_consumers");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "userKey");
    json_builder_add_string_value(b, fx->data_pub);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return cv_json_to_string(root, TRUE);
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
    fx->dir = g_dir_make_tmp("covirt-agent-limits-XXXXXX", NULL);
    g_assert_nonnull(fx->dir);
    fx->work = g_build_filename(fx->dir, "work", NULL);
    make_key(fx, "algo.key", &fx->algo_key, &fx->algo_pub);
    make_key(fx, "data.key", &fx->data_key, &fx->data_pub);
    fx->algo = write_file(fx, "algo.py", "print('never run')\n");
    fx->files[0] = write_file(fx, "a", "x\n1\n");
    fx->files[1] = write_file(fx, "b", "x\n2\n");
    fx->files[2] = write_file(fx, "c", "x\n3\n");
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", fx->dir);

    if (fx->agent) {
        g_subprocess_send_signal(fx->agent, SIGTERM);
        g_subprocess_wait(fx->agent, NULL, NULL);
        g_assert_true(g_subprocess_get_if_exited(fx->agent));
        g_assert_cmpint(g_subprocess_get_exit_status(fx->agent), ==, 0);
        g_object_unref(fx->agent);
    }
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(fx->dir);
    g_free(fx->work);
    g_free(fx->url);
    g_free(fx->algo_key);
    g_free(fx->data_key);
    g_free(fx->algo_pub);
    g_free(fx->data_pub);
    g_free(fx->algo);
    for (guint i = 0; i < G_N_ELEMENTS(fx->files); i++)
        g_free(fx->files[i]);
}

static void
child_setup(gpointer data)
{
    guint nofile = GPOINTER_TO_UINT(data);

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (nofile) {
        struct rlimit r = { nofile, nofile };
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

/* env: NULL-terminated NAME=VALUE pairs for the agent; nofile: its descriptor limit (0: inherited) */
static void
start_agent(Fixture *fx, const char *const *env, guint nofile)
{
    g_autofree char *port_file = g_build_filename(fx->dir, "port", NULL);
    g_autofree char *manifest_text = make_manifest(fx);
    g_autofree char *manifest = write_file(fx, "manifest.json", manifest_text);
    g_autofree char *work_arg = g_strdup_printf("--work-dir=%s", fx->work);
    g_autofree char *port_arg = g_strdup_printf("--port-file=%s", port_file);
    g_autofree char *manifest_arg = g_strdup_printf("--manifest=%s", manifest);
    const char *argv[] = { g_getenv("AGENT_BIN"), work_arg, "--port=0", "--listen-address=127.0.0.1", port_arg,
                           manifest_arg, "--log-level=debug", NULL };
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_autoptr(GError) error = NULL;
    g_autofree char *port = NULL;

    g_subprocess_launcher_set_child_setup(l, child_setup, GUINT_TO_POINTER(nofile), NULL);
    /* test-agent-api.c says why */
    if (g_getenv("ASAN_OPTIONS")) {
        g_autofree char *opts = g_strdup_printf("%s:detect_leaks=0", g_getenv("ASAN_OPTIONS"));
        g_subprocess_launcher_setenv(l, "ASAN_OPTIONS", opts, TRUE);
    }
    for (const char *const *e = env; e && *e; e += 2)
        g_subprocess_launcher_setenv(l, e[0], e[1], TRUE);
    fx->agent = g_subprocess_launcher_spawnv(l, argv, &error);
    g_assert_no_error(error);
    for (int i = 0; i < 200 && !g_file_get_contents(port_file, &port, NULL, NULL); i++)
        g_usleep(50000);
    g_assert_nonnull(port);
    fx->port = atoi(port);
    fx->url = g_strdup_printf("https://127.0.0.1:%u", fx->port);
}

static CvAgentClient *
client_for(Fixture *fx, const char *key)
{
    g_autoptr(GError) error = NULL;
    CvAgentClient *c = cv_agent_client_new(fx->url, key, NULL, &error);

    g_assert_no_error(error);
    return c;
}

static void
upload_ok(CvAgentClient *c, const char *path, const char *file)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = cv_agent_client_upload(c, path, file, NULL, NULL, &error);

    g_assert_no_error(error);
    g_assert_nonnull(r);
}

static char *
agent_state(Fixture *fx)
{
    g_autoptr(CvAgentClient) c = client_for(fx, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) root = cv_agent_client_get_json(c, "/v1/state", &error);

    g_assert_no_error(error);
    return g_strdup(json_object_get_string_member(json_node_get_object(root), "state"));
}

/* ---- challenges ---- */

typedef struct {
    Fixture *fx;
    guint n;
} Flood;

static gpointer
flood_challenges(gpointer data)
{
    Flood *f = data;
    g_autoptr(CvAgentClient) c = client_for(f->fx, NULL);

    for (guint i = 0; i < f->n; i++) {
        g_autofree char *ch = cv_agent_client_challenge(c, NULL);
        g_assert_nonnull(ch);
    }
    return NULL;
}

/* A client asks for many more challenges than the agent ever kept (1,024 before) while the algorithm
 * owner holds one: the owner's signed upload still goes through. */
static void
test_challenge_flood(Fixture *fx, gconstpointer data)
{
    g_autoptr(CvAgentClient) owner = NULL;
    g_autofree char *challenge = NULL, *sig = NULL, *hash = NULL;
    g_autoptr(GBytes) raw = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = NULL;
    Flood f = { fx, 1500 };
    GThread *threads[2];

    start_agent(fx, NULL, 0);
    owner = client_for(fx, fx->algo_key);
    hash = sha3(fx->algo);
    raw = cv_hex_decode(hash, NULL);
    challenge = cv_agent_client_challenge(owner, &error);
    g_assert_no_error(error);
    sig = cv_agent_client_sign(owner, challenge, "PUT", "/v1/algorithm", g_bytes_get_data(raw, NULL), &error);
    g_assert_no_error(error);
    for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
        threads[i] = g_thread_new("flood", flood_challenges, &f);
    for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
        g_thread_join(threads[i]);
    r = cv_agent_client_put_signed(owner, "/v1/algorithm", fx->algo, hash, challenge, sig, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(r);
    /* and it stays single-use */
    {
        g_autoptr(GError) e = NULL;
        g_autoptr(JsonNode) again = cv_agent_client_put_signed(owner, "/v1/algorithm", fx->algo, hash, challenge,
                                                               sig, NULL, NULL, &e);
        g_assert_null(again);
        g_assert_error(e, CV_ERROR, CV_ERROR_UNAUTHORIZED);
    }
}

/* ---- paths ---- */

/* The signature covers the path as sent: %2E reaches the agent as '.' (libsoup normalises it on both
 * sides), other percent-encoding stays and a file name is decoded once. */
static void
test_percent_paths(Fixture *fx, gconstpointer data)
{
    g_autoptr(CvAgentClient) owner = NULL, data_owner = NULL;
    g_autofree char *encoded = cv_agent_client_dataset_path(names[1]);
    g_autofree char *state = NULL;

    start_agent(fx, NULL, 0);
    owner = client_for(fx, fx->algo_key);
    data_owner = client_for(fx, fx->data_key);
    upload_ok(owner, "/v1/algorithm", fx->algo);
    upload_ok(data_owner, "/v1/datasets/a%2Ecsv", fx->files[0]);
    g_assert_cmpstr(encoded, ==, "/v1/datasets/x%2541%20y.csv");
    upload_ok(data_owner, encoded, fx->files[1]);
    state = agent_state(fx);
    g_assert_cmpstr(state, ==, "ReceivingData");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/agent/limits/challenge-flood", Fixture, NULL, fixture_setup, test_challenge_flood,
               fixture_teardown);
    g_test_add("/agent/limits/percent-paths", Fixture, NULL, fixture_setup, test_percent_paths, fixture_teardown);
    return g_test_run();
}
