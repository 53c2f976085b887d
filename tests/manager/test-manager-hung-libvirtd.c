/* A hung libvirtd (SIGSTOP) under the manager (issue 14): the API keeps answering, a request that
 * needs libvirt gets 503 with Retry-After within MANAGER_LIBVIRT_TIMEOUT, /health says degraded, the
 * manager recovers on SIGCONT, and SIGTERM ends it within its bound whatever libvirt does. And a
 * domain undefined behind the manager's back while it runs, known from events alone.
 * The libvirtd is the test's own: a session daemon run as nobody in a temporary directory, serving
 * the test driver on its own loopback TCP port; the system daemon is never touched. Needs root (to run the
 * daemon as another user) and libvirtd, else it exits 77. */
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <pwd.h>
#include <glib/gstdio.h>
#include "manager-harness.h"

#define TIMEOUT_S 3   /* MANAGER_LIBVIRT_TIMEOUT here */

static CvTestLibvirtd *lvd;    /* the private libvirtd (manager-harness.c) */
static GPid daemon_pid;
static char *uri_env;        /* MANAGER_LIBVIRT_URI=… of the private daemon */

/* GET path: the status, and the Retry-After header into *retry_after (NULL when none) */
static guint
get_with_headers(CvTestManager *m, const char *path, char **retry_after)
{
    g_autofree char *url = g_strconcat(m->url, path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
    g_autoptr(GBytes) body = soup_session_send_and_read(m->session, msg, NULL, NULL);

    *retry_after = g_strdup(soup_message_headers_get_one(soup_message_get_response_headers(msg), "Retry-After"));
    return soup_message_get_status(msg);
}

static gint64
seconds_since(gint64 start)
{
    return (g_get_monotonic_time() - start) / G_USEC_PER_SEC;
}

static void
test_hung(void)
{
    g_autofree char *info = NULL;
    const char *const env[] = { uri_env, "MANAGER_LIBVIRT_TIMEOUT=3", "MANAGER_LOG_LEVEL=info", NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start(env);
    g_autoptr(JsonNode) cvm = NULL;
    g_autofree char *retry = NULL;
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketConnection) conn = NULL;
    g_autofree char *request = NULL;
    gint64 start;
    int status;

    g_assert_true(cv_test_wait_member(m, "/health", "status", "ok", 30));
    cvm = cv_test_create(m, "{\"name\":\"covirt-test-hung\",\"memory\":\"256M\"}");
    info = g_strdup_printf("/v1/cvms/%s/info", json_object_get_string_member(json_node_get_object(cvm), "id"));
    g_assert_cmpuint(get_with_headers(m, info, &retry), ==, 200);

    /* hung: the calls that need libvirt answer 503 within the bound, the rest as before */
    g_assert_cmpint(kill(daemon_pid, SIGSTOP), ==, 0);
    start = g_get_monotonic_time();
    g_clear_pointer(&retry, g_free);
    g_assert_cmpuint(get_with_headers(m, info, &retry), ==, 503);
    g_assert_cmpint(seconds_since(start), <=, TIMEOUT_S + 2);
    g_assert_cmpstr(retry, ==, "5");
    g_assert_true(cv_test_wait_member(m, "/health", "status", "degraded", 10));
    g_assert_cmpuint(cv_test_count(m), ==, 1);

    /* back: the manager answers again without a restart (reconnecting if keepalive dropped it) */
    g_assert_cmpint(kill(daemon_pid, SIGCONT), ==, 0);
    g_assert_true(cv_test_wait_member(m, "/health", "status", "ok", 30));
    g_clear_pointer(&retry, g_free);
    g_assert_cmpuint(get_with_headers(m, info, &retry), ==, 200);

    /* hung again, with a delete waiting on it: SIGTERM still ends the manager within 30 s */
    g_assert_cmpint(kill(daemon_pid, SIGSTOP), ==, 0);
    conn = g_socket_client_connect_to_uri(client, m->url, 80, NULL, NULL);
    g_assert_nonnull(conn);
    request = g_strdup_printf("DELETE /v1/cvms/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                              json_object_get_string_member(json_node_get_object(cvm), "id"));
    g_assert_true(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), request,
                                            strlen(request), NULL, NULL, NULL));
    g_usleep(500000);
    start = g_get_monotonic_time();
    cv_test_manager_kill(m, SIGTERM);
    status = cv_test_manager_wait(m);
    g_test_message("manager exited with %d after %" G_GINT64_FORMAT " s", status, seconds_since(start));
    g_assert_cmpint(seconds_since(start), <=, 32);
    g_assert_cmpint(status, >=, 0);   /* it exited; it was not killed */
    g_clear_object(&m->proc);
    g_assert_cmpint(kill(daemon_pid, SIGCONT), ==, 0);
}

static void
virsh(const char *command, const char *name)
{
    const char *uri = strchr(uri_env, '=') + 1;
    const char *const argv[] = { "virsh", "-q", "-c", uri, command, name, NULL };
    g_autoptr(GError) error = NULL;
    int status = -1;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                               NULL, NULL, NULL, &status, &error));
    g_assert_no_error(error);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
}

/* undefined outside covirt while it runs: kept (libvirt keeps it as a transient domain), dropped
 * once it stops; known from the events alone, without asking libvirt from the main loop */
static void
test_undefined_outside(void)
{
    const char *const env[] = { uri_env, NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start(env);
    g_autoptr(JsonNode) cvm = NULL;
    g_autoptr(JsonNode) got = NULL;
    g_autofree char *path = NULL;

    g_assert_true(cv_test_wait_member(m, "/health", "status", "ok", 30));
    cvm = cv_test_create(m, "{\"name\":\"covirt-test-transient\",\"memory\":\"256M\"}");
    path = g_strdup_printf("/v1/cvms/%s", json_object_get_string_member(json_node_get_object(cvm), "id"));
    virsh("undefine", "covirt-test-transient");
    g_usleep(500000);
    g_assert_cmpuint(cv_test_request_json(m, "GET", path, NULL, &got), ==, 200);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(got), "state"), ==, "running");
    virsh("destroy", "covirt-test-transient");
    for (int i = 0; i < 50 && cv_test_count(m) > 0; i++)
        g_usleep(100000);
    g_assert_cmpuint(cv_test_count(m), ==, 0);
}

int
main(int argc, char **argv)
{
    g_autofree char *libvirtd = g_find_program_in_path("libvirtd");
    g_autofree char *setpriv = g_find_program_in_path("setpriv");
    int rc;

    g_test_init(&argc, &argv, NULL);
    if (geteuid() != 0 || !libvirtd || !setpriv || !getpwnam("nobody")) {
        g_printerr("needs root, libvirtd, setpriv and the user nobody: skipped\n");
        return 77;
    }
    lvd = cv_test_libvirtd_start();
    g_assert_nonnull(lvd);
    daemon_pid = lvd->pid;
    uri_env = g_strconcat("MANAGER_LIBVIRT_URI=", lvd->uri, NULL);
    g_test_add_func("/manager/libvirtd/undefined-outside", test_undefined_outside);
    g_test_add_func("/manager/libvirtd/hung", test_hung);
    rc = g_test_run();
    /* a daemon the test left stopped still ends */
    kill(daemon_pid, SIGCONT);
    cv_test_libvirtd_free(lvd);
    g_free(uri_env);
    return rc;
}
