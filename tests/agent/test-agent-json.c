/* covirt-agent --manifest with a manifest that is not standard JSON: 100 KB of nesting hidden from a
 * depth count behind a '"' in a single-quoted string killed it (SIGSEGV) before it listened; a
 * \u0000 in a file name made it wait for another file than the owner's tools name. Each is now
 * refused with the byte it stops at, and the agent goes on (it writes its port file, then stops
 * cleanly on SIGTERM). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

static void
child_setup(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* runs the agent on the manifest text until it listens, stops it, returns its stderr */
static char *
run_agent(const char *dir, const char *manifest_text)
{
    g_autofree char *manifest = g_build_filename(dir, "manifest.json", NULL);
    g_autofree char *port_file = g_build_filename(dir, "port", NULL);
    g_autofree char *work_arg = g_strdup_printf("--work-dir=%s/work", dir);
    g_autofree char *port_arg = g_strdup_printf("--port-file=%s", port_file);
    g_autofree char *manifest_arg = g_strdup_printf("--manifest=%s", manifest);
    const char *argv[] = { g_getenv("AGENT_BIN"), work_arg, "--port=0", "--listen-address=127.0.0.1", port_arg,
                           manifest_arg, NULL };
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GSubprocess) agent = NULL;
    g_autoptr(GError) error = NULL;
    char *err = NULL;
    gboolean listening = FALSE;

    g_unlink(port_file);
    g_assert_true(g_file_set_contents(manifest, manifest_text, -1, NULL));
    g_subprocess_launcher_set_child_setup(l, child_setup, NULL, NULL);
    /* test-agent-api.c says why */
    if (g_getenv("ASAN_OPTIONS")) {
        g_autofree char *opts = g_strdup_printf("%s:detect_leaks=0", g_getenv("ASAN_OPTIONS"));
        g_subprocess_launcher_setenv(l, "ASAN_OPTIONS", opts, TRUE);
    }
    agent = g_subprocess_launcher_spawnv(l, argv, &error);
    g_assert_no_error(error);
    for (int i = 0; i < 400 && !(listening = g_file_test(port_file, G_FILE_TEST_EXISTS)); i++)
        g_usleep(50000);
    g_assert_true(listening);
    g_subprocess_send_signal(agent, SIGTERM);
    g_assert_true(g_subprocess_communicate_utf8(agent, NULL, NULL, NULL, &err, &error));
    g_assert_no_error(error);
    g_assert_true(g_subprocess_get_if_exited(agent));
    g_assert_cmpint(g_subprocess_get_exit_status(agent), ==, 0);
    return err;
}

static void
test_manifest(void)
{
    g_autofree char *dir = g_dir_make_tmp("covirt-agent-json-XXXXXX", NULL);
    g_autoptr(GString) deep = g_string_new("{\"id\":'\"',\"x\":");
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", dir);
    const struct {
        const char *text;
        const char *message;
    } cases[] = {
        { NULL, "refused: malformed JSON at byte 6: expected a value, found '''" },
        { "{\"id\":\"c1\",\"name\":\"n\",\"datasets\":[{\"filename\":\"a.csv\\u0000.tar\",\"hash\":\"00\","
          "\"userKey\":\"k\"}]}", "refused: malformed JSON at byte 52: \\u0000 in a string" },
        { "{\"id\":\"c1\",/* owner */\"name\":\"n\"}", "refused: malformed JSON at byte 11: expected a member name" },
    };

    for (int k = 0; k < 100 * 1024; k++)
        g_string_append_c(deep, '[');
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *err = run_agent(dir, cases[i].text ? cases[i].text : deep->str);

        g_test_message("%s", err);
        g_assert_nonnull(strstr(err, cases[i].message));
    }
    g_assert_cmpint(system(rm), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/agent/json/manifest", test_manifest);
    return g_test_run();
}
