/* Reliability, part 1 (issue 14): generated malformed requests (tests/reliability/malformed.py) against
 * covirt-manager on libvirt's test driver and against covirt-agent on the host. The generator counts
 * crashes, 5xx, hangs and error answers without a JSON body; here the server must then still answer,
 * hold what it held, and exit cleanly on SIGTERM (under the sanitizers: no error, no leak). */
#include <string.h>
#include <signal.h>
#include <glib/gstdio.h>
#include "manager-harness.h"
#include "agent-fixture.h"
#include "rel-util.h"

/* runs the generator; its exit status (0: every counter 0) */
static int
generate(const char *target, const char *url, GSubprocess *server, const char *ids, const char *created_out)
{
    g_autofree char *count = g_strdup(g_getenv("COVIRT_RELIABILITY_REQUESTS") ? g_getenv("COVIRT_RELIABILITY_REQUESTS")
                                                                              : "1200");
    const char *const argv[] = { "python3", MALFORMED_PY, "--target", target, "--url", url,
                                 "--pid", g_subprocess_get_identifier(server), "--count", count,
                                 "--ids", ids ? ids : "", "--created-out", created_out, NULL };

    return rel_run(argv, 600);
}

static void
test_manager(void)
{
    /* short body and idle bounds: a truncated body is closed within seconds, not after 30 */
    g_autofree char *asan = rel_manager_asan_env();
    const char *const env[] = { "MANAGER_HTTP_BODY_TIMEOUT=2", "MANAGER_HTTP_IDLE_TIMEOUT=2",
                                "MANAGER_QEMU_HOST_FWD_RANGE=20000-20999", asan, NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start(env);
    g_autoptr(JsonNode) cvm = cv_test_create(m, "{\"name\":\"rel-fixed\",\"memory\":\"256M\"}");
    const char *id = json_object_get_string_member(json_node_get_object(cvm), "id");
    g_autofree char *created_out = g_build_filename(m->tmpdir, "created", NULL);
    g_autofree char *created = NULL;
    g_auto(GStrv) ids = NULL;
    g_autoptr(JsonNode) health = NULL;
    g_autofree char *path = g_strconcat("/v1/cvms/", id, NULL);
    guint fixed;

    g_assert_cmpint(generate("manager", m->url, m->proc, id, created_out), ==, 0);
    /* still serving, and what was created is there exactly once: each deletes once */
    g_assert_cmpuint(cv_test_request_json(m, "GET", "/health", NULL, &health), ==, 200);
    g_assert_true(g_file_get_contents(created_out, &created, NULL, NULL));
    ids = g_strsplit(created, "\n", -1);
    g_test_message("%u CVMs created by generated specs", g_strv_length(ids));
    for (char **i = ids; *i && **i; i++) {
        g_autofree char *p = g_strconcat("/v1/cvms/", *i, NULL);

        g_assert_cmpuint(cv_test_request(m, "DELETE", p, NULL, NULL, 0, NULL), ==, 204);
        g_assert_cmpuint(cv_test_request(m, "GET", p, NULL, NULL, 0, NULL), ==, 404);
    }
    /* the fixed CVM is there unless a generated DELETE took it, and nothing else is */
    fixed = cv_test_request(m, "GET", path, NULL, NULL, 0, NULL);
    g_assert_true(fixed == 200 || fixed == 404);
    g_assert_cmpuint(cv_test_count(m), ==, fixed == 200 ? 1 : 0);
    /* cv_test_manager_free: SIGTERM, exit status 0 (a sanitizer's report would make it 1 or abort) */
}

static void
test_agent(void)
{
    g_autofree char *dir = g_dir_make_tmp("covirt-rel-agent-XXXXXX", NULL);
    g_autofree char *work = g_build_filename(dir, "work", NULL);
    g_autofree char *created_out = g_build_filename(dir, "created", NULL);
    g_autofree char *manifest = rel_agent_manifest(dir, NULL, 0);
    g_autofree char *log = g_build_filename(dir, "agent.log", NULL);
    /* the header bound counts the TLS handshake, which 16 clients make slow under ASan on two cores */
    const char *const env[] = { "AGENT_HTTP_HEADER_TIMEOUT", "5", "AGENT_HTTP_IO_TIMEOUT", "3",
                                "AGENT_HTTP_MAX_CONNECTIONS_PER_CLIENT", "64", NULL };
    /* its log of every refusal would drown the counts: the log is shown only when the test fails */
    const AgentTestStart how = { manifest, NULL, env, log };
    g_autofree char *url = NULL;
    g_autoptr(GSubprocess) agent = agent_test_spawn(dir, work, &how, &url);
    g_autofree char *state = NULL;

    if (generate("agent", url, agent, NULL, created_out) != 0) {
        g_autofree char *text = NULL;

        g_file_get_contents(log, &text, NULL, NULL);
        g_printerr("the agent's log:\n%s\n", text ? text : "(none)");
        g_test_fail();
    }
    /* still serving, still waiting for its algorithm: nothing generated was taken */
    state = agent_test_state(url);
    g_assert_cmpstr(state, ==, "ReceivingAlgorithm");
    g_assert_true(rel_stop(agent, 30));
    rel_rm_rf(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!g_getenv("AGENT_BIN")) {
        g_printerr("run through meson test (AGENT_BIN)\n");
        return 77;
    }
    g_test_add_func("/reliability/malformed/manager", test_manager);
    g_test_add_func("/reliability/malformed/agent", test_agent);
    return g_test_run();
}
