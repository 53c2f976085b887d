/* The computation through the manager (issue 13), against libvirt's test driver, whose domains have no
 * control channel: GET /v1/cvms/{id} carries the computation (unknown there), stop and reset are
 * refused as they must be without an agent (the forwarding itself: manager-agent-channel), and the CLI
 * as an operator runs it, finding the manager through COVIRT_MANAGER_URL: show, list, events in prose,
 * wait, policy, stop-computation, reset-computation. */
#include <string.h>
#include <sys/wait.h>
#include "manager-harness.h"

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

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager/computation-routes", test_routes);
    g_test_add_func("/manager/computation-cli", test_cli);
    return g_test_run();
}
