#include <string.h>
#include <signal.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include "rel-util.h"
#include "agent-fixture.h"

static gboolean
on_deadline(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

static void
on_ended(GObject *source, GAsyncResult *result, gpointer data)
{
    g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
    *(gboolean *)data = TRUE;
}

/* waits for p up to timeout_s (then kills it), in a context of its own: TRUE when it ended in time */
static gboolean
wait_bounded(GSubprocess *p, guint timeout_s)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(GSource) deadline = g_timeout_source_new_seconds(timeout_s);
    gboolean done = FALSE, late = FALSE, in_time;

    g_main_context_push_thread_default(ctx);
    g_subprocess_wait_async(p, NULL, on_ended, &done);
    g_source_set_callback(deadline, on_deadline, &late, NULL);
    g_source_attach(deadline, ctx);
    while (!done && !late)
        g_main_context_iteration(ctx, TRUE);
    g_source_destroy(deadline);
    in_time = done;
    if (!done) {
        g_subprocess_force_exit(p);
        while (!done)
            g_main_context_iteration(ctx, TRUE);
    }
    g_main_context_pop_thread_default(ctx);
    return in_time;
}

char *
rel_manager_asan_env(void)
{
    const char *opts = g_getenv("ASAN_OPTIONS");

    return g_strdup_printf("ASAN_OPTIONS=%s%sfast_unwind_on_malloc=0", opts ? opts : "", opts ? ":" : "");
}

int
rel_run(const char *const *argv, guint timeout_s)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) p = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_NONE, &error);

    g_assert_no_error(error);
    if (!wait_bounded(p, timeout_s)) {
        g_test_message("%s: killed after %u s", argv[0], timeout_s);
        return -1;
    }
    return g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
}

gboolean
rel_stop(GSubprocess *proc, guint timeout_s)
{
    g_subprocess_send_signal(proc, SIGTERM);
    if (!wait_bounded(proc, timeout_s))
        return FALSE;
    return g_subprocess_get_if_exited(proc) && g_subprocess_get_exit_status(proc) == 0;
}

void
rel_rm_rf(const char *path)
{
    const char *const argv[] = { "rm", "-rf", "--one-file-system", path, NULL };

    g_assert_cmpint(rel_run(argv, 120), ==, 0);
}

gboolean
rel_alive(GSubprocess *proc)
{
    const char *id = g_subprocess_get_identifier(proc);
    g_autofree char *stat_path = id ? g_strdup_printf("/proc/%s/stat", id) : NULL;
    g_autofree char *text = NULL;
    const char *end;

    if (!stat_path || !g_file_get_contents(stat_path, &text, NULL, NULL) || !(end = strrchr(text, ')')))
        return FALSE;
    return end[1] == ' ' && end[2] != 'Z' && end[2] != 'X';
}

char *
rel_agent_manifest(const char *dir, const RelDataset *sets, guint n)
{
    g_autofree char *algo_key = NULL, *algo_pub = NULL, *data_key = NULL, *data_pub = NULL, *text = NULL;
    g_autofree char *algo = g_build_filename(dir, "algo.bin", NULL);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    agent_test_make_key(dir, "algo.key", "ed25519", &algo_key, &algo_pub);
    agent_test_make_key(dir, "data.key", "ed25519", &data_key, &data_pub);
    if (!g_file_test(algo, G_FILE_TEST_EXISTS))
        g_assert_true(g_file_set_contents(algo, "#!/bin/sh\nexit 0\n", -1, NULL));
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, "reliability");
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, "reliability");
    json_builder_set_member_name(b, "datasets");
    json_builder_begin_array(b);
    for (guint i = 0; i < n; i++) {
        json_builder_begin_object(b);
        agent_test_add_upload(b, sets[i].file, data_pub);
        json_builder_set_member_name(b, "filename");
        json_builder_add_string_value(b, sets[i].name);
        json_builder_set_member_name(b, "decompress");
        json_builder_add_boolean_value(b, TRUE);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "algorithm");
    json_builder_begin_object(b);
    agent_test_add_upload(b, algo, algo_pub);
    json_builder_set_member_name(b, "algo_type");
    json_builder_add_string_value(b, "bin");
    json_builder_end_object(b);
    json_builder_set_member_name(b, "result_consumers");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "userKey");
    json_builder_add_string_value(b, data_pub);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    text = json_to_string(root, TRUE);
    return agent_test_write(dir, "manifest.json", text);
}

gboolean
rel_summary(const char *part, const char *what, guint total, const char *const *names, const guint *counts, guint n)
{
    g_autoptr(GString) line = g_string_new(NULL);
    gboolean clean = TRUE;

    g_string_append_printf(line, "reliability: %s %s=%u", part, what, total);
    for (guint i = 0; i < n; i++) {
        g_string_append_printf(line, " %s=%u", names[i], counts[i]);
        clean = clean && counts[i] == 0;
    }
    g_print("%s\n", line->str);
    return clean;
}
