/* `covirt cvm events` without --json (issue 13): one prose line per event, no JSON, nothing said twice,
 * lifecycle events named as the operator sees a CVM being made. The events are those a QEMU create and
 * an agent's run produce, as the manager streams them (kind, then the event's JSON). */
#include <string.h>
#include "covirt-replies.h"

typedef struct {
    const char *kind, *json;
} Ev;

static const Ev run[] = {
    { "lifecycle", "{\"time\":\"t\",\"event\":\"defined\",\"state\":\"creating\"}" },
    { "lifecycle", "{\"time\":\"t\",\"event\":\"started\",\"state\":\"creating\"}" },
    { "lifecycle", "{\"time\":\"t\",\"event\":\"resumed\",\"state\":\"creating\"}" },
    { "lifecycle", "{\"time\":\"t\",\"event\":\"created\",\"state\":\"running\"}" },
    { "agent", "{\"time\":\"t\",\"event\":\"hello\",\"agent_version\":\"0.1.0\",\"platform\":\"vtpm\","
               "\"hal_version\":\"hal-1\",\"tls_pubkey_sha256\":\"00\"}" },
    { "agent", "{\"time\":\"t\",\"event\":\"manifest-sent\",\"bytes\":812}" },
    { "agent", "{\"time\":\"t\",\"event\":\"agent-event\",\"agent_time_ms\":1,\"agent_kind\":\"state\","
               "\"agent_state\":\"Running\",\"message\":\"ReceivingData -> Running\"}" },
    /* an older manager turned State frames into events too: said already by the line above */
    { "agent", "{\"time\":\"t\",\"event\":\"state\",\"agent_state\":\"Running\"}" },
    { "log", "{\"time\":\"t\",\"agent_time_ms\":2,\"source\":\"algorithm-stdout\",\"level\":\"info\","
             "\"message\":\"mean 7.2\"}" },
    { "agent", "{\"time\":\"t\",\"event\":\"run-result\",\"ok\":true,\"exit_code\":0,"
               "\"message\":\"algorithm finished\"}" },
    { "agent", "{\"time\":\"t\",\"event\":\"agent-event\",\"agent_time_ms\":3,\"agent_kind\":\"run\","
               "\"agent_state\":\"Running\",\"message\":\"algorithm finished\"}" },
    { "lifecycle", "{\"time\":\"t\",\"event\":\"stopped\",\"detail\":\"destroyed\",\"state\":\"stopped\"}" },
    { "weird", "[1,2]" },
};

static guint
count(const char *haystack, const char *needle)
{
    guint n = 0;

    for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void
test_events_prose(void)
{
    g_autoptr(GString) all = g_string_new(NULL);
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < G_N_ELEMENTS(run); i++) {
        char *line = cv_cli_cvm_event_text(run[i].kind, run[i].json);

        if (!line)
            continue;
        g_assert_null(strchr(line, '\n'));
        g_assert_null(strchr(line, '{'));
        g_string_append_printf(all, "%s\n", line);
        g_ptr_array_add(lines, line);
    }
    g_test_message("%s", all->str);
    /* the run's result and the repeated state are said once */
    g_assert_cmpuint(lines->len, ==, G_N_ELEMENTS(run) - 2);
    g_assert_cmpuint(count(all->str, "algorithm finished"), ==, 1);
    g_assert_cmpuint(count(all->str, "Running"), ==, 1);
    /* a create reads defined, started, running, created; never "started -> creating" */
    g_assert_cmpuint(count(all->str, "creating"), ==, 0);
    g_assert_cmpuint(count(all->str, "->  "), ==, 0);
    g_assert_nonnull(strstr(g_ptr_array_index(lines, 0), "lifecycle  defined"));
    g_assert_nonnull(strstr(g_ptr_array_index(lines, 1), "lifecycle  started"));
    g_assert_nonnull(strstr(g_ptr_array_index(lines, 2), "lifecycle  running"));
    g_assert_nonnull(strstr(g_ptr_array_index(lines, 3), "lifecycle  created, now running"));
    g_assert_nonnull(strstr(g_ptr_array_index(lines, 4), "agent 0.1.0 connected (platform vtpm, HAL hal-1)"));
    g_assert_nonnull(strstr(g_ptr_array_index(lines, 5), "manifest sent to the agent (812 bytes)"));
    g_assert_nonnull(strstr(g_ptr_array_index(lines, 6), "computation ReceivingData -> Running"));
    g_assert_nonnull(strstr(g_ptr_array_index(lines, 7), "[algorithm-stdout] mean 7.2"));
    g_assert_nonnull(strstr(g_ptr_array_index(lines, 8), "run: algorithm finished"));
    g_assert_nonnull(strstr(g_ptr_array_index(lines, 9), "stopped (destroyed)"));
    g_assert_nonnull(strstr(g_ptr_array_index(lines, 10), "not a JSON object"));
}

/* covirt cvm show and list carry the computation: its state, why it failed, whether a result waits */
static void
test_cvm_text(void)
{
    g_autoptr(JsonNode) cvm = json_from_string("{\"id\":\"i\",\"name\":\"n\",\"platform\":\"vtpm\",\"state\":\"running\","
                                               "\"agent\":{\"host\":\"h\",\"port\":6100},\"computation\":"
                                               "{\"state\":\"Failed\",\"error\":\"boom\",\"result_available\":false}}",
                                               NULL);
    g_autoptr(JsonNode) list = json_from_string("{\"cvms\":[{\"id\":\"i\",\"state\":\"running\",\"computation\":"
                                                "{\"state\":\"ConsumingResults\",\"result_available\":true}}]}", NULL);
    g_autofree char *show = cv_cli_cvm_text(cvm);
    g_autofree char *table = cv_cli_cvm_list_text(list);

    g_assert_nonnull(strstr(show, "computation: Failed: boom\n"));
    g_assert_nonnull(strstr(show, "result:      none\n"));
    g_assert_nonnull(strstr(table, "COMPUTATION"));
    g_assert_nonnull(strstr(table, "ConsumingResults"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/events-prose", test_events_prose);
    g_test_add_func("/cli/cvm-text", test_cvm_text);
    return g_test_run();
}
