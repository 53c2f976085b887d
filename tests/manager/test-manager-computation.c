/* The computation through the manager (issue 13), against libvirt's test driver: a created CVM has no
 * control channel there, so GET /v1/cvms/{id} carries the computation unknown and stop and reset are
 * refused as they must be without an agent; a test:/// fixture domain whose channel socket the test
 * serves, as an agent would, gets the stop and reset the API and the CLI send, and its State frames
 * become the CVM's computation. The CLI runs as an operator runs it, finding the manager through
 * COVIRT_MANAGER_URL: show, list, events in prose, wait, policy, stop-computation, reset-computation. */
#include <string.h>
#include <sys/wait.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include "manager-harness.h"
#include "frame.h"

/* runs `covirt cvm ARGS…` with COVIRT_MANAGER_URL pointing at the manager; the exit status */
static int
cli(CvTestManager *m, char **out, char **err, const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "COVIRT_MANAGER_URL", m->url, TRUE);
    g_autoptr(GError) error = NULL;
    int status;

    env = g_environ_unsetenv(env, "MANAGER_URL");
    g_ptr_array_add(argv, (gpointer)COVIRT_CLI_EXE);
    g_ptr_array_add(argv, (gpointer) "cvm");
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, out, err, &status,
                               &error));
    g_assert_no_error(error);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_routes(void)
{
    g_autoptr(CvTestManager) m = cv_test_manager_start(NULL);
    g_autoptr(JsonNode) c = cv_test_create(m, "{\"name\":\"covirt-test-comp\",\"memory\":\"256M\"}");
    g_autoptr(JsonNode) got = NULL, e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL, e5 = NULL;
    const char *id = json_object_get_string_member(json_node_get_object(c), "id");
    g_autofree char *path = g_strconcat("/v1/cvms/", id, NULL);
    g_autofree char *stop = g_strconcat(path, "/computation/stop", NULL);
    g_autofree char *reset = g_strconcat(path, "/computation/reset", NULL);
    g_autofree char *other = g_strconcat(path, "/computation/other", NULL);
    JsonObject *comp;

    /* no agent has reported: the computation is there, unknown */
    g_assert_cmpuint(cv_test_request_json(m, "GET", path, NULL, &got), ==, 200);
    comp = json_object_get_object_member(json_node_get_object(got), "computation");
    g_assert_nonnull(comp);
    g_assert_true(json_object_get_null_member(comp, "state"));
    g_assert_true(json_object_get_null_member(comp, "error"));
    g_assert_false(json_object_get_boolean_member(comp, "result_available"));

    /* a body-less POST (what a web page sends without a preflight) is refused */
    g_assert_cmpuint(cv_test_request_json(m, "POST", stop, NULL, &e1), ==, 400);
    g_assert_cmpstr(cv_test_error_code(e1), ==, "invalid");
    g_assert_cmpuint(cv_test_request_json(m, "POST", reset, "{\"manifest\": 3}", &e2), ==, 400);
    /* the running CVM's agent is not connected (the test driver has no control channel): 503, not queued */
    g_assert_cmpuint(cv_test_request_json(m, "POST", stop, "{\"reason\": \"test\"}", &e3), ==, 503);
    g_assert_cmpuint(cv_test_request_json(m, "POST", reset, "{\"manifest\": {\"id\": \"x\"}}", &e4), ==, 503);
    g_assert_cmpuint(cv_test_request_json(m, "GET", stop, NULL, &e5), ==, 405);
    g_assert_cmpuint(cv_test_request(m, "POST", "/v1/cvms/nope/computation/stop", "application/json", "{}", 2, NULL),
                     ==, 404);
    g_assert_cmpuint(cv_test_request(m, "POST", other, "application/json", "{}", 2, NULL), ==, 405);
}

static void
test_cli(void)
{
    g_autoptr(CvTestManager) m = cv_test_manager_start(NULL);
    g_autofree char *spec = g_build_filename(m->tmpdir, "spec.json", NULL);
    g_autofree char *manifest = g_build_filename(m->tmpdir, "manifest.json", NULL);
    char *o[11] = { NULL }, *e[11] = { NULL };
    const char *create[] = { "create", spec, NULL };
    const char *show[] = { "show", "covirt-test-cc", NULL };
    const char *list[] = { "list", NULL };
    const char *events[] = { "events", "covirt-test-cc", "--no-follow", NULL };
    const char *events_json[] = { "events", "covirt-test-cc", "--no-follow", "--json", NULL };
    const char *wait_running[] = { "wait", "covirt-test-cc", "--state", "running", "--timeout", "5", NULL };
    const char *wait_complete[] = { "wait", "covirt-test-cc", "--state", "Complete", "--timeout", "1", NULL };
    const char *policy[] = { "policy", "covirt-test-cc", NULL };
    const char *stop[] = { "stop-computation", "covirt-test-cc", NULL };
    const char *reset[] = { "reset-computation", "covirt-test-cc", "--manifest", manifest, NULL };
    const char *wait_nostate[] = { "wait", "covirt-test-cc", NULL };
    g_auto(GStrv) lines = NULL, json_lines = NULL;

    g_assert_true(g_file_set_contents(spec, "{\"name\":\"covirt-test-cc\",\"memory\":\"256M\"}", -1, NULL));
    g_assert_true(g_file_set_contents(manifest, "not json", -1, NULL));
    g_assert_cmpint(cli(m, &o[0], &e[0], create), ==, 0);
    g_assert_cmpint(cli(m, &o[1], &e[1], show), ==, 0);
    g_assert_nonnull(strstr(o[1], "computation: -\n"));
    g_assert_nonnull(strstr(o[1], "result:      none\n"));
    g_assert_cmpint(cli(m, &o[2], &e[2], list), ==, 0);
    g_assert_nonnull(strstr(o[2], "COMPUTATION"));

    /* prose, in the order a create happens, and the same events as JSON only with --json */
    g_assert_cmpint(cli(m, &o[3], &e[3], events), ==, 0);
    g_test_message("%s", o[3]);
    g_assert_null(strchr(o[3], '{'));
    g_assert_null(strstr(o[3], "creating"));
    lines = g_strsplit(g_strstrip(o[3]), "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 3);
    g_assert_nonnull(strstr(lines[0], "lifecycle  defined"));
    g_assert_nonnull(strstr(lines[1], "lifecycle  started"));
    g_assert_nonnull(strstr(lines[2], "lifecycle  created, now running"));
    g_assert_cmpint(cli(m, &o[4], &e[4], events_json), ==, 0);
    json_lines = g_strsplit(g_strstrip(o[4]), "\n", -1);
    g_assert_cmpuint(g_strv_length(json_lines), ==, 3);
    for (guint i = 0; json_lines[i]; i++)
        g_assert_true(g_str_has_prefix(json_lines[i], "{\"seq\":"));

    g_assert_cmpint(cli(m, &o[5], &e[5], wait_running), ==, 0);
    g_assert_cmpstr(o[5], ==, "running\n");
    /* no agent reports here: the computation never gets there, and wait says so (unavailable) */
    g_assert_cmpint(cli(m, &o[6], &e[6], wait_complete), ==, 7);
    g_assert_nonnull(strstr(e[6], "after 1 s"));
    g_assert_cmpint(cli(m, &o[7], &e[7], wait_nostate), ==, 2);
    /* the policy route's own refusal: the harness's kernel is no kernel */
    g_assert_cmpint(cli(m, &o[8], &e[8], policy), ==, 2);
    g_assert_nonnull(strstr(e[8], "bzImage"));
    g_assert_cmpint(cli(m, &o[9], &e[9], stop), ==, 7);
    g_assert_nonnull(strstr(e[9], "not connected"));
    /* a manifest file that is not JSON is refused before anything is sent */
    g_assert_cmpint(cli(m, &o[10], &e[10], reset), ==, 2);
    g_assert_nonnull(strstr(e[10], "malformed JSON"));
    for (guint i = 0; i < G_N_ELEMENTS(o); i++) {
        g_free(o[i]);
        g_free(e[i]);
    }
}

#define NS "https://covirt.org/xmlns/cvm/1.0"
#define CVM_ID "12345678-1234-4234-8234-123456789abc"

static CvFrame *
read_frame(GSocketConnection *conn)
{
    g_autoptr(GError) error = NULL;
    CvFrame *f = cv_frame_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)), NULL, &error);

    g_assert_no_error(error);
    return f;
}

/* Frames from the manager until one of this kind. */
static CvFrame *
expect_frame(GSocketConnection *conn, int body_case)
{
    for (int i = 0; i < 20; i++) {
        CvFrame *f = read_frame(conn);

        if ((int)f->body_case == body_case)
            return f;
        cv_frame_free(f);
    }
    g_assert_not_reached();
}

static void
send_state(GSocketConnection *conn, const char *state, const char *error_text, gboolean result)
{
    Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
    Covirt__Control__State st = COVIRT__CONTROL__STATE__INIT;
    g_autoptr(GError) error = NULL;

    st.state = (char *)state;
    st.error = (char *)(error_text ? error_text : "");
    st.result_available = result;
    f.body_case = COVIRT__CONTROL__FRAME__BODY_STATE;
    f.state = &st;
    g_assert_true(cv_frame_write(g_io_stream_get_output_stream(G_IO_STREAM(conn)), &f, NULL, &error));
}

/* GET /v1/cvms/ID until its computation is in this state (5 s) */
static JsonNode *
wait_computation(CvTestManager *m, const char *state)
{
    for (int i = 0; i < 100; i++) {
        JsonNode *n = NULL;
        JsonObject *c;

        g_assert_cmpuint(cv_test_request_json(m, "GET", "/v1/cvms/" CVM_ID, NULL, &n), ==, 200);
        c = json_object_get_object_member(json_node_get_object(n), "computation");
        if (g_strcmp0(json_object_get_string_member_with_default(c, "state", NULL), state) == 0)
            return n;
        json_node_unref(n);
        g_usleep(50000);
    }
    g_assert_not_reached();
}

/* The API and the CLI through the manager's control channel to a peer that plays the agent. */
static void
test_forwarding(void)
{
    g_autofree char *dir = g_dir_make_tmp("covirt-comp-XXXXXX", NULL);
    g_autofree char *node = g_build_filename(dir, "node.xml", NULL);
    g_autofree char *sock = g_build_filename(dir, "agent.sock", NULL);
    g_autofree char *manifest = g_build_filename(dir, "m2.json", NULL);
    g_autofree char *uri = g_strconcat("MANAGER_LIBVIRT_URI=test://", node, NULL);
    g_autofree char *xml = g_strdup_printf(
        "<node><domain type='test'><name>covirt-comp</name><uuid>" CVM_ID "</uuid><memory>262144</memory>"
        "<vcpu>1</vcpu><os><type>hvm</type></os><devices><channel type='unix'><source mode='bind' path='%s'/>"
        "<target type='virtio' name='org.covirt.agent.0'/></channel></devices><metadata><covirt:cvm xmlns:covirt='"
        NS "'><covirt:id>" CVM_ID "</covirt:id><covirt:platform>vtpm</covirt:platform><covirt:state>running"
        "</covirt:state><covirt:spec>{\"name\":\"covirt-comp\",\"computation\":{\"id\":\"c1\"}}</covirt:spec>"
        "</covirt:cvm></metadata></domain></node>", sock);
    const char *env[] = { uri, NULL };
    g_autoptr(GSocketListener) listener = g_socket_listener_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(sock);
    g_autoptr(CvTestManager) m = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(CvFrame) hello_reply = NULL, stop = NULL, reset = NULL, reset2 = NULL;
    g_autoptr(JsonNode) running = NULL, stopped = NULL, refused = NULL, after = NULL, spec = NULL;
    g_autofree char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL, *out3 = NULL, *err3 = NULL;
    const char *stop_cli[] = { "stop-computation", "covirt-comp", "--reason", "enough", NULL };
    const char *reset_cli[] = { "reset-computation", "covirt-comp", "--manifest", manifest, NULL };
    const char *wait_cli[] = { "wait", "covirt-comp", "--state", "Stopped", "--timeout", "10", NULL };

    g_assert_true(g_file_set_contents(node, xml, -1, NULL));
    g_assert_true(g_file_set_contents(manifest, "{\"id\":\"c2\"}", -1, NULL));
    g_assert_true(g_socket_listener_add_address(listener, addr, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL,
                                                NULL, &error));
    m = cv_test_manager_start(env);
    conn = g_socket_listener_accept(listener, NULL, NULL, &error);
    g_assert_no_error(error);
    g_socket_set_timeout(g_socket_connection_get_socket(conn), 20);
    {
        Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
        Covirt__Control__Hello h = COVIRT__CONTROL__HELLO__INIT;

        h.agent_version = (char *)"0.1.0";
        h.platform = (char *)"vtpm";
        f.body_case = COVIRT__CONTROL__FRAME__BODY_HELLO;
        f.hello = &h;
        g_assert_true(cv_frame_write(g_io_stream_get_output_stream(G_IO_STREAM(conn)), &f, NULL, &error));
    }
    hello_reply = expect_frame(conn, COVIRT__CONTROL__FRAME__BODY_MANIFEST);
    g_assert_cmpstr(hello_reply->manifest->json, ==, "{\"id\":\"c1\"}");
    cv_frame_free(expect_frame(conn, COVIRT__CONTROL__FRAME__BODY_STATE_REQUEST));

    /* the agent's State is the CVM's computation; a reset while it runs is refused by the manager */
    send_state(conn, "Running", NULL, FALSE);
    running = wait_computation(m, "Running");
    g_assert_cmpuint(cv_test_request_json(m, "POST", "/v1/cvms/" CVM_ID "/computation/reset", "{}", &refused), ==,
                     409);
    /* the CLI's stop reaches the agent with its reason; the agent's answer is what wait sees */
    g_assert_cmpint(cli(m, &out, &err, stop_cli), ==, 0);
    stop = expect_frame(conn, COVIRT__CONTROL__FRAME__BODY_STOP);
    g_assert_cmpstr(stop->stop->reason, ==, "enough");
    send_state(conn, "Stopped", "stopped: enough", FALSE);
    g_assert_cmpint(cli(m, &out2, &err2, wait_cli), ==, 0);
    stopped = wait_computation(m, "Stopped");
    g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(json_node_get_object(stopped),
                                                                                "computation"), "error"),
                    ==, "stopped: enough");
    /* a reset with a new manifest: sent, and the spec's computation is that one now (later Hellos send it) */
    g_assert_cmpint(cli(m, &out3, &err3, reset_cli), ==, 0);
    reset = expect_frame(conn, COVIRT__CONTROL__FRAME__BODY_RESET);
    g_assert_cmpstr(reset->reset->manifest_json, ==, "{\"id\":\"c2\"}");
    g_assert_cmpuint(cv_test_request_json(m, "GET", "/v1/cvms/" CVM_ID, NULL, &after), ==, 200);
    spec = json_node_copy(json_object_get_member(json_node_get_object(after), "spec"));
    g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(json_node_get_object(spec),
                                                                                "computation"), "id"), ==, "c2");
    /* a reset without one sends the current manifest again */
    g_assert_cmpuint(cv_test_request(m, "POST", "/v1/cvms/" CVM_ID "/computation/reset", "application/json", "{}", 2,
                                     NULL), ==, 202);
    reset2 = expect_frame(conn, COVIRT__CONTROL__FRAME__BODY_RESET);
    g_assert_cmpstr(reset2->reset->manifest_json, ==, "{\"id\":\"c2\"}");
    g_unlink(sock);
    g_unlink(manifest);
    g_unlink(node);
    g_rmdir(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager/computation-routes", test_routes);
    g_test_add_func("/manager/computation-cli", test_cli);
    g_test_add_func("/manager/computation-forwarding", test_forwarding);
    return g_test_run();
}
