/* The operator's stop and reset over the control channel (issue 13): covirt-agent on the host with a
 * UNIX socket the test listens on. A long-running algorithm (a shell that leaves a `sleep` behind in
 * its process group) is stopped: the computation ends Stopped, the sleep is gone, so are the files;
 * a reset with a new manifest is accepted and that computation runs to its result; a reset is refused
 * while a result waits, a stop where there is nothing to stop. */
#include "agent-fixture.h"
#include "frame.h"
#include "cv-error.h"
#include "cv-util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

typedef struct {
    char *dir, *work, *sock;
    char *algo_key, *algo_pub, *consumer_key, *consumer_pub;
    GSubprocess *agent;
    GSocketListener *listener;
    GSocketConnection *conn;
    char *url;
} Fixture;

/* a bin computation without datasets: this algorithm file, these arguments, consumer_key */
static char *
manifest(Fixture *fx, const char *id, const char *algo, const char *arg)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *hash = agent_test_sha3(algo);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, id);
    json_builder_set_member_name(b, "datasets");
    json_builder_begin_array(b);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "algorithm");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "hash");
    json_builder_add_string_value(b, hash);
    json_builder_set_member_name(b, "userKey");
    json_builder_add_string_value(b, fx->algo_pub);
    json_builder_set_member_name(b, "algo_type");
    json_builder_add_string_value(b, "bin");
    json_builder_set_member_name(b, "algo_args");
    json_builder_begin_array(b);
    if (arg)
        json_builder_add_string_value(b, arg);
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
    return cv_json_to_string(root, FALSE);
}

static void
start(Fixture *fx)
{
    g_autofree char *port_file = g_build_filename(fx->dir, "port", NULL);
    g_autofree char *w = g_strdup_printf("--work-dir=%s", fx->work);
    g_autofree char *p = g_strdup_printf("--port-file=%s", port_file);
    g_autofree char *c = g_strdup_printf("--control-port=%s", fx->sock);
    g_autoptr(GSubprocessLauncher) l = agent_test_launcher();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(fx->sock);
    g_autoptr(GError) error = NULL;
    g_autoptr(CvFrame) hello = NULL;

    fx->listener = g_socket_listener_new();
    g_assert_true(g_socket_listener_add_address(fx->listener, addr, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                                NULL, NULL, &error));
    fx->agent = g_subprocess_launcher_spawn(l, &error, g_getenv("AGENT_BIN"), w, p, c, "--port=0",
                                            "--listen-address=127.0.0.1", "--log-level=debug", NULL);
    g_assert_no_error(error);
    fx->url = agent_test_wait_url(port_file);
    fx->conn = g_socket_listener_accept(fx->listener, NULL, NULL, &error);
    g_assert_no_error(error);
    g_socket_set_timeout(g_socket_connection_get_socket(fx->conn), 20);
    hello = agent_test_read_frame(fx->conn);
    g_assert_cmpint(hello->body_case, ==, COVIRT__CONTROL__FRAME__BODY_HELLO);
}

/* Reads frames until a State frame of this state; returns it. */
static CvFrame *
expect_state(Fixture *fx, const char *state)
{
    for (int i = 0; i < 200; i++) {
        CvFrame *f = agent_test_read_frame(fx->conn);

        if (f->body_case == COVIRT__CONTROL__FRAME__BODY_STATE && strcmp(f->state->state, state) == 0)
            return f;
        cv_frame_free(f);
    }
    g_assert_not_reached();
}

static void
skip_to_state(Fixture *fx, const char *state)
{
    cv_frame_free(expect_state(fx, state));
}

/* Reads frames until an Event of this kind; returns its message. */
static char *
expect_event(Fixture *fx, const char *kind)
{
    for (int i = 0; i < 200; i++) {
        g_autoptr(CvFrame) f = agent_test_read_frame(fx->conn);

        if (f->body_case == COVIRT__CONTROL__FRAME__BODY_EVENT && strcmp(f->event->kind, kind) == 0)
            return g_strdup(f->event->message);
    }
    g_assert_not_reached();
}

static JsonObject *
state_of(Fixture *fx, JsonNode **keep)
{
    g_autoptr(CvAgentClient) c = agent_test_client(fx->url, NULL);
    g_autoptr(GError) error = NULL;

    *keep = cv_agent_client_get_json(c, "/v1/state", &error);
    g_assert_no_error(error);
    return json_node_get_object(*keep);
}

/* Regular files under the work dir (its empty directories do not count). */
static guint
files_in(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *n;
    guint count = 0;

    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, n, NULL);
        count += g_file_test(p, G_FILE_TEST_IS_DIR) ? files_in(p) : 1;
    }
    return count;
}

/* The process is gone (or a zombie about to be reaped by init) within 2 s. */
static gboolean
process_gone(pid_t pid)
{
    for (int i = 0; i < 200; i++) {
        g_autofree char *stat_path = g_strdup_printf("/proc/%d/stat", (int)pid);
        g_autofree char *stat = NULL;
        const char *paren;

        if (!g_file_get_contents(stat_path, &stat, NULL, NULL))
            return TRUE;
        paren = strrchr(stat, ')');
        if (paren && paren[1] == ' ' && paren[2] == 'Z')
            return TRUE;
        g_usleep(10000);
    }
    return FALSE;
}

static void
test_stop_reset(Fixture *fx, gconstpointer data)
{
    g_autofree char *sleeper = agent_test_write(fx->dir, "sleeper.sh", "#!/bin/sh\n# a child in the run's process group\n"
                                                "sleep 600 &\necho $! > \"$1\"\nwait\n");
    g_autofree char *writer = agent_test_write(fx->dir, "writer.sh", "#!/bin/sh\necho done > results/out.txt\n");
    g_autofree char *pid_file = g_build_filename(fx->dir, "sleep.pid", NULL);
    g_autofree char *m1 = manifest(fx, "long-run", sleeper, pid_file);
    g_autofree char *m2 = manifest(fx, "second-run", writer, NULL);
    g_autofree char *pid_text = NULL, *msg = NULL, *msg2 = NULL, *proc = NULL;
    g_autoptr(CvAgentClient) algo = NULL;
    g_autoptr(CvFrame) stopped = NULL, ready = NULL, refused = NULL;
    g_autoptr(JsonNode) st = NULL, st2 = NULL, st3 = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = NULL;
    JsonObject *o;
    pid_t pid;

    start(fx);
    algo = agent_test_client(fx->url, fx->algo_key);
    /* nothing to stop yet */
    agent_test_send_stop(fx->conn, "too early");
    msg = expect_event(fx, "stop-refused");
    g_assert_nonnull(strstr(msg, "no computation to stop"));

    agent_test_send_manifest(fx->conn, m1);
    skip_to_state(fx, "ReceivingAlgorithm");
    agent_test_upload_ok(algo, "/v1/algorithm", sleeper);
    skip_to_state(fx, "Running");
    for (int i = 0; i < 500 && !g_file_get_contents(pid_file, &pid_text, NULL, NULL); i++)
        g_usleep(10000);
    g_assert_nonnull(pid_text);
    pid = (pid_t)g_ascii_strtoll(pid_text, NULL, 10);
    g_assert_cmpint(pid, >, 1);
    proc = g_strdup_printf("/proc/%d", (int)pid);
    g_assert_true(g_file_test(proc, G_FILE_TEST_IS_DIR));

    /* stop: the run and its child killed, the files gone, the manifest kept, Stopped with the reason */
    agent_test_send_stop(fx->conn, "operator said so");
    stopped = expect_state(fx, "Stopped");
    g_assert_cmpstr(stopped->state->error, ==, "stopped: operator said so");
    g_assert_false(stopped->state->result_available);
    g_assert_true(process_gone(pid));
    g_assert_cmpuint(files_in(fx->work), ==, 0);
    o = state_of(fx, &st);
    g_assert_cmpstr(json_object_get_string_member(o, "state"), ==, "Stopped");
    g_assert_cmpstr(json_object_get_string_member(o, "error"), ==, "stopped: operator said so");
    g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(o, "manifest"), "id"), ==, "long-run");
    /* final: no upload, no other manifest, no second stop */
    r = cv_agent_client_upload(algo, "/v1/algorithm", sleeper, NULL, NULL, &error);
    g_assert_error(error, CV_ERROR, CV_ERROR_CONFLICT);
    g_clear_error(&error);
    agent_test_send_manifest(fx->conn, m2);
    g_free(expect_event(fx, "manifest-refused"));
    agent_test_send_stop(fx->conn, "again");
    g_free(expect_event(fx, "stop-refused"));

    /* reset with a new manifest: accepted, that computation runs to its result */
    agent_test_send_reset(fx->conn, m2);
    skip_to_state(fx, "ReceivingManifest");
    skip_to_state(fx, "ReceivingAlgorithm");
    o = state_of(fx, &st2);
    g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(o, "manifest"), "id"), ==,
                    "second-run");
    g_assert_false(json_object_has_member(o, "error"));
    agent_test_upload_ok(algo, "/v1/algorithm", writer);
    ready = expect_state(fx, "ConsumingResults");
    g_assert_true(ready->state->result_available);
    g_assert_cmpstr(ready->state->error, ==, "");
    g_assert_cmpuint(files_in(fx->work), >, 0);

    /* a reset while the result waits is refused: nothing deleted */
    agent_test_send_reset(fx->conn, NULL);
    msg2 = expect_event(fx, "reset-refused");
    g_assert_nonnull(strstr(msg2, "stop it before a reset"));
    refused = expect_state(fx, "ConsumingResults");
    g_assert_cmpuint(files_in(fx->work), >, 0);

    /* stop, then reset without a manifest: every file gone, waiting for a manifest, which is accepted */
    agent_test_send_stop(fx->conn, "enough");
    skip_to_state(fx, "Stopped");
    agent_test_send_reset(fx->conn, NULL);
    skip_to_state(fx, "ReceivingManifest");
    g_assert_cmpuint(files_in(fx->work), ==, 0);
    o = state_of(fx, &st3);
    g_assert_false(json_object_has_member(o, "manifest"));
    g_assert_false(json_object_get_boolean_member(o, "result_available"));
    agent_test_send_manifest(fx->conn, m1);
    skip_to_state(fx, "ReceivingAlgorithm");
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
    fx->dir = g_dir_make_tmp("covirt-stop-reset-XXXXXX", NULL);
    g_assert_nonnull(fx->dir);
    fx->work = g_build_filename(fx->dir, "work", NULL);
    fx->sock = g_build_filename(fx->dir, "control.sock", NULL);
    agent_test_make_key(fx->dir, "algo.key", "ed25519", &fx->algo_key, &fx->algo_pub);
    agent_test_make_key(fx->dir, "consumer.key", "ecdsa", &fx->consumer_key, &fx->consumer_pub);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", fx->dir);

    if (fx->agent)
        agent_test_stop(fx->agent);
    g_clear_object(&fx->conn);
    if (fx->listener) {
        g_socket_listener_close(fx->listener);
        g_object_unref(fx->listener);
    }
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(fx->dir);
    g_free(fx->work);
    g_free(fx->sock);
    g_free(fx->algo_key);
    g_free(fx->algo_pub);
    g_free(fx->consumer_key);
    g_free(fx->consumer_pub);
    g_free(fx->url);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!g_getenv("AGENT_BIN")) {
        g_test_skip("run through meson test (AGENT_BIN)");
        return 77;
    }
    g_test_add("/agent/stop-reset", Fixture, NULL, fixture_setup, test_stop_reset, fixture_teardown);
    return g_test_run();
}
