/* covirt-agent's network front under hostile clients (issue 15): challenge flooding, paths with
 * percent-encoding, old TLS versions, uploads that stall, bodies shorter than announced, and descriptor
 * exhaustion. The agent runs as in test-agent-api.c: a subprocess on a free loopback port. */
#include "agent-client.h"
#include "agent-fixture.h"
#include "cv-error.h"
#include "cv-sign.h"
#include "cv-util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <gio/gio.h>
#include <gnutls/gnutls.h>
#include <openssl/pem.h>

typedef struct {
    char *dir, *work, *url;
    char *algo_key, *data_key;   /* private key paths */
    char *algo_pub, *data_pub;   /* PEM */
    char *algo, *files[3];       /* the algorithm and the datasets' contents */
    GSubprocess *agent;
    char *log;                   /* set before start_agent: its stderr goes there */
    guint port;
} Fixture;

/* the manifest's dataset names: one needs percent-encoding, and its "%41" must not be decoded twice */
static const char *const names[3] = { "a.csv", "x%41 y.csv", "c.csv" };




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
        agent_test_add_upload(b, fx->files[i], fx->data_pub);
        json_builder_set_member_name(b, "filename");
        json_builder_add_string_value(b, names[i]);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "algorithm");
    json_builder_begin_object(b);
    agent_test_add_upload(b, fx->algo, fx->algo_pub);
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
    agent_test_make_key(fx->dir, "algo.key", "ed25519", &fx->algo_key, &fx->algo_pub);
    agent_test_make_key(fx->dir, "data.key", "ed25519", &fx->data_key, &fx->data_pub);
    fx->algo = agent_test_write(fx->dir, "algo.py", "print('never run')\n");
    fx->files[0] = agent_test_write(fx->dir, "a", "x\n1\n");
    fx->files[1] = agent_test_write(fx->dir, "b", "x\n2\n");
    fx->files[2] = agent_test_write(fx->dir, "c", "x\n3\n");
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", fx->dir);

    if (fx->agent)
        agent_test_stop(fx->agent);
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(fx->dir);
    g_free(fx->work);
    g_free(fx->url);
    g_free(fx->algo_key);
    g_free(fx->data_key);
    g_free(fx->algo_pub);
    g_free(fx->data_pub);
    g_free(fx->algo);
    g_free(fx->log);
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
    g_autofree char *manifest = agent_test_write(fx->dir, "manifest.json", manifest_text);
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
    if (fx->log)
        g_subprocess_launcher_set_stderr_file_path(l, fx->log);
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




/* ---- challenges ---- */

typedef struct {
    Fixture *fx;
    guint n;
} Flood;

static gpointer
flood_challenges(gpointer data)
{
    Flood *f = data;
    g_autoptr(CvAgentClient) c = agent_test_client(f->fx->url, NULL);

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
    owner = agent_test_client(fx->url, fx->algo_key);
    hash = agent_test_sha3(fx->algo);
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
    owner = agent_test_client(fx->url, fx->algo_key);
    data_owner = agent_test_client(fx->url, fx->data_key);
    agent_test_upload_ok(owner, "/v1/algorithm", fx->algo);
    agent_test_upload_ok(data_owner, "/v1/datasets/a%2Ecsv", fx->files[0]);
    g_assert_cmpstr(encoded, ==, "/v1/datasets/x%2541%20y.csv");
    agent_test_upload_ok(data_owner, encoded, fx->files[1]);
    state = agent_test_state(fx->url);
    g_assert_cmpstr(state, ==, "ReceivingData");
}

/* ---- TLS ---- */

/* A GnuTLS client limited to the versions priority allows: does its handshake with the agent succeed? */
static gboolean
handshake_with(Fixture *fx, const char *priority)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(fx->port) };
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_session_t session = NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int rc;

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(gnutls_certificate_allocate_credentials(&cred), ==, 0);
    g_assert_cmpint(gnutls_init(&session, GNUTLS_CLIENT), ==, 0);
    g_assert_cmpint(gnutls_priority_set_direct(session, priority, NULL), ==, 0);
    g_assert_cmpint(gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred), ==, 0);
    gnutls_transport_set_int(session, fd);
    gnutls_handshake_set_timeout(session, 10000);
    do
        rc = gnutls_handshake(session);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    g_test_message("%s: %s", priority, rc < 0 ? gnutls_strerror(rc) : "connected");
    gnutls_deinit(session);
    gnutls_certificate_free_credentials(cred);
    close(fd);
    return rc == 0;
}

static void
test_tls_versions(Fixture *fx, gconstpointer data)
{
    start_agent(fx, NULL, 0);
    g_assert_false(handshake_with(fx, "NORMAL:-VERS-ALL:+VERS-TLS1.0"));
    g_assert_false(handshake_with(fx, "NORMAL:-VERS-ALL:+VERS-TLS1.1"));
    g_assert_true(handshake_with(fx, "NORMAL:-VERS-ALL:+VERS-TLS1.2"));
    g_assert_true(handshake_with(fx, "NORMAL:-VERS-ALL:+VERS-TLS1.3"));
}

/* ---- stalled requests ---- */

static gboolean
accept_any(GTlsConnection *conn, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer data)
{
    return TRUE;
}

static GIOStream *
tls_connect(Fixture *fx)
{
    g_autoptr(GSocketClient) sc = g_socket_client_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) plain = NULL;
    g_autoptr(GIOStream) tls = NULL;

    plain = g_socket_client_connect_to_host(sc, "127.0.0.1", fx->port, NULL, &error);
    g_assert_no_error(error);
    tls = g_tls_client_connection_new(G_IO_STREAM(plain), NULL, &error);
    g_assert_no_error(error);
    g_signal_connect(tls, "accept-certificate", G_CALLBACK(accept_any), NULL);
    g_assert_true(g_tls_connection_handshake(G_TLS_CONNECTION(tls), NULL, &error));
    g_assert_no_error(error);
    return g_steal_pointer(&tls);
}

static void
send_text(GIOStream *s, const char *text)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(g_output_stream_write_all(g_io_stream_get_output_stream(s), text, strlen(text), NULL, NULL,
                                            &error));
    g_assert_no_error(error);
}

/* Reads until the agent closes the connection; fails if it keeps it open longer than within_s. */
static void
assert_closed_within(GIOStream *s, guint within_s)
{
    GPollableInputStream *in = G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(s));
    gint64 until = g_get_monotonic_time() + (gint64)within_s * G_USEC_PER_SEC;
    char buf[4096];

    for (;;) {
        g_autoptr(GError) error = NULL;
        gssize n = g_pollable_input_stream_read_nonblocking(in, buf, sizeof(buf), NULL, &error);

        if (n == 0 || (n < 0 && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)))
            return;
        if (g_get_monotonic_time() > until)
            g_error("the agent kept a stalled connection open for %u s", within_s);
        if (n < 0)
            g_usleep(100000);
    }
}

/* 4 s: the conflicting upload below must reach the agent before the stalled one times out, also on a loaded machine */
static const char *const short_timeouts[] = { "AGENT_HTTP_HEADER_TIMEOUT", "4", "AGENT_HTTP_IO_TIMEOUT", "4", NULL };

/* An upload that stops sending, a body shorter than its Content-Length and headers that never end: each
 * connection is closed after its timeout, and the stalled upload's file can be sent again at once. */
static void
test_stalls(Fixture *fx, gconstpointer data)
{
    g_autoptr(CvAgentClient) owner = NULL;
    g_autoptr(GIOStream) upload = NULL, credential = NULL, headers = NULL;
    g_autofree char *challenge = NULL, *sig = NULL, *hash = NULL, *request = NULL;
    g_autoptr(GBytes) raw = NULL;
    g_autoptr(GError) error = NULL;

    start_agent(fx, short_timeouts, 0);
    owner = agent_test_client(fx->url, fx->algo_key);
    hash = agent_test_sha3(fx->algo);
    raw = cv_hex_decode(hash, NULL);
    challenge = cv_agent_client_challenge(owner, &error);
    g_assert_no_error(error);
    sig = cv_agent_client_sign(owner, challenge, "PUT", "/v1/algorithm", g_bytes_get_data(raw, NULL), &error);
    g_assert_no_error(error);
    request = g_strdup_printf("PUT /v1/algorithm HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
                              "X-Covirt-Challenge: %s\r\nX-Covirt-Signature: %s\r\n"
                              "X-Covirt-Content-SHA3-256: %s\r\n\r\nprint(", challenge, sig, hash);
    upload = tls_connect(fx);
    send_text(upload, request);
    credential = tls_connect(fx);
    send_text(credential, "POST /v1/attestation/credential HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Content-Length: 100\r\n\r\n{\"a\":");
    headers = tls_connect(fx);
    send_text(headers, "GET /v1/state HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    /* meanwhile the stalled upload holds its file */
    {
        g_autoptr(GError) e = NULL;
        g_autoptr(JsonNode) r = NULL;
        g_usleep(500000);
        r = cv_agent_client_upload(owner, "/v1/algorithm", fx->algo, NULL, NULL, &e);
        g_assert_null(r);
        g_assert_error(e, CV_ERROR, CV_ERROR_CONFLICT);
    }
    assert_closed_within(upload, 10);
    assert_closed_within(credential, 10);
    assert_closed_within(headers, 10);
    agent_test_upload_ok(owner, "/v1/algorithm", fx->algo);
}

/* ---- descriptors ---- */

/* A plain TCP connection from source address `from` that sends nothing; -1 when refused at once. */
static int
idle_connection(Fixture *fx, const char *from)
{
    struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET, .sin_port = htons(fx->port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    inet_pton(AF_INET, from, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&src, sizeof(src)), ==, 0);
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Was fd closed by the agent (EOF or reset)? */
static gboolean
closed_by_peer(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Under a 256-descriptor limit, 300 idle connections from six addresses: accept fails with EMFILE, backs
 * off, and resumes as the idle ones time out; a normal request is then answered. */
static void
test_descriptors(Fixture *fx, gconstpointer data)
{
    const char *const env[] = { "AGENT_HTTP_HEADER_TIMEOUT", "4", NULL };
    g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(int));
    g_autofree char *state = NULL, *log = NULL;

    fx->log = g_build_filename(fx->dir, "agent.log", NULL);
    start_agent(fx, env, 256);
    for (guint i = 0; i < 300; i++) {
        char from[32];
        int fd;
        g_snprintf(from, sizeof(from), "127.0.0.%u", 2 + i % 6);
        fd = idle_connection(fx, from);
        if (fd >= 0)
            g_array_append_val(fds, fd);
    }
    /* the agent takes what it can, then runs out of descriptors; the request waits until the idle ones
     * time out */
    g_usleep(2000000);
    state = agent_test_state(fx->url);
    g_assert_cmpstr(state, ==, "ReceivingAlgorithm");
    g_assert_true(g_file_get_contents(fx->log, &log, NULL, NULL));
    g_assert_nonnull(strstr(log, "cannot accept connections (Error accepting connection: Too many open files"));
    g_assert_nonnull(strstr(log, "accepting connections again"));
    for (guint i = 0; i < fds->len; i++)
        close(g_array_index(fds, int, i));
}

/* More connections from one address than it may hold: those beyond the bound are closed at once, and
 * another address is still served. */
static void
test_per_client(Fixture *fx, gconstpointer data)
{
    const char *const env[] = { "AGENT_HTTP_MAX_CONNECTIONS_PER_CLIENT", "10", NULL };
    int fds[16];
    guint closed = 0;
    g_autofree char *state = NULL;

    start_agent(fx, env, 0);
    for (guint i = 0; i < G_N_ELEMENTS(fds); i++)
        fds[i] = idle_connection(fx, "127.0.0.9");
    g_usleep(1000000);
    for (guint i = 0; i < G_N_ELEMENTS(fds); i++) {
        closed += fds[i] < 0 || closed_by_peer(fds[i]);
        if (fds[i] >= 0)
            close(fds[i]);
    }
    g_assert_cmpuint(closed, ==, G_N_ELEMENTS(fds) - 10);
    state = agent_test_state(fx->url);
    g_assert_cmpstr(state, ==, "ReceivingAlgorithm");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/agent/limits/challenge-flood", Fixture, NULL, fixture_setup, test_challenge_flood,
               fixture_teardown);
    g_test_add("/agent/limits/percent-paths", Fixture, NULL, fixture_setup, test_percent_paths, fixture_teardown);
    g_test_add("/agent/limits/tls-versions", Fixture, NULL, fixture_setup, test_tls_versions, fixture_teardown);
    g_test_add("/agent/limits/stalls", Fixture, NULL, fixture_setup, test_stalls, fixture_teardown);
    g_test_add("/agent/limits/descriptors", Fixture, NULL, fixture_setup, test_descriptors, fixture_teardown);
    g_test_add("/agent/limits/per-client", Fixture, NULL, fixture_setup, test_per_client, fixture_teardown);
    return g_test_run();
}
