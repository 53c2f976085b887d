#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
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

void
agent_test_add_upload(JsonBuilder *b, const char *file, const char *pub)
{
    g_autofree char *h = agent_test_sha3(file);

    json_builder_set_member_name(b, "hash");
    json_builder_add_string_value(b, h);
    json_builder_set_member_name(b, "userKey");
    json_builder_add_string_value(b, pub);
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

static void
die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

GSubprocessLauncher *
agent_test_launcher(void)
{
    GSubprocessLauncher *l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);

    g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
    if (g_getenv("ASAN_OPTIONS")) {
        g_autofree char *opts = g_strdup_printf("%s:detect_leaks=0", g_getenv("ASAN_OPTIONS"));
        g_subprocess_launcher_setenv(l, "ASAN_OPTIONS", opts, TRUE);
    }
    return l;
}

char *
agent_test_wait_url(const char *port_file)
{
    g_autofree char *port = NULL;

    for (int i = 0; i < 200 && !g_file_get_contents(port_file, &port, NULL, NULL); i++)
        g_usleep(50000);
    g_assert_nonnull(port);
    return g_strdup_printf("https://127.0.0.1:%s", g_strstrip(port));
}

void
agent_test_stop(GSubprocess *agent)
{
    g_subprocess_send_signal(agent, SIGTERM);
    g_subprocess_wait(agent, NULL, NULL);
    g_assert_true(g_subprocess_get_if_exited(agent));
    g_assert_cmpint(g_subprocess_get_exit_status(agent), ==, 0);
    g_object_unref(agent);
}

void
agent_test_send_frame(GSocketConnection *conn, const CvFrame *f)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(cv_frame_write(g_io_stream_get_output_stream(G_IO_STREAM(conn)), f, NULL, &error));
    g_assert_no_error(error);
}

void
agent_test_send_manifest(GSocketConnection *conn, const char *json)
{
    Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
    Covirt__Control__Manifest m = COVIRT__CONTROL__MANIFEST__INIT;

    m.json = (char *)json;
    f.body_case = COVIRT__CONTROL__FRAME__BODY_MANIFEST;
    f.manifest = &m;
    agent_test_send_frame(conn, &f);
}

void
agent_test_send_stop(GSocketConnection *conn, const char *reason)
{
    Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
    Covirt__Control__Stop s = COVIRT__CONTROL__STOP__INIT;

    s.reason = (char *)reason;
    f.body_case = COVIRT__CONTROL__FRAME__BODY_STOP;
    f.stop = &s;
    agent_test_send_frame(conn, &f);
}

void
agent_test_send_reset(GSocketConnection *conn, const char *manifest_json)
{
    Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
    Covirt__Control__Reset r = COVIRT__CONTROL__RESET__INIT;

    r.reason = (char *)"test reset";
    r.manifest_json = (char *)(manifest_json ? manifest_json : "");
    f.body_case = COVIRT__CONTROL__FRAME__BODY_RESET;
    f.reset = &r;
    agent_test_send_frame(conn, &f);
}

CvFrame *
agent_test_read_frame(GSocketConnection *conn)
{
    g_autoptr(GError) error = NULL;
    CvFrame *f = cv_frame_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)), NULL, &error);

    g_assert_no_error(error);
    g_assert_nonnull(f);
    return f;
}

GSubprocess *
agent_test_spawn(const char *dir, const char *work, const AgentTestStart *how, char **url)
{
    g_autofree char *port_file = g_build_filename(dir, "port", NULL);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GSubprocessLauncher) l = agent_test_launcher();
    g_autoptr(GError) error = NULL;
    GSubprocess *agent;

    g_ptr_array_add(argv, g_strdup(g_getenv("AGENT_BIN")));
    g_ptr_array_add(argv, g_strdup_printf("--work-dir=%s", work));
    g_ptr_array_add(argv, g_strdup("--port=0"));
    g_ptr_array_add(argv, g_strdup("--listen-address=127.0.0.1"));
    g_ptr_array_add(argv, g_strdup_printf("--port-file=%s", port_file));
    if (how->manifest)
        g_ptr_array_add(argv, g_strdup_printf("--manifest=%s", how->manifest));
    for (const char *const *a = how->args; a && *a; a++)
        g_ptr_array_add(argv, g_strdup(*a));
    g_ptr_array_add(argv, NULL);
    for (const char *const *e = how->env; e && *e; e += 2)
        g_subprocess_launcher_setenv(l, e[0], e[1], TRUE);
    if (how->log)
        g_subprocess_launcher_set_stderr_file_path(l, how->log);
    agent = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);
    *url = agent_test_wait_url(port_file);
    return agent;
}
