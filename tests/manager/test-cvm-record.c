/* A CVM's event history: what a client reads is the same JSON object as ever although the
 * history keeps only the event's own members, and the history stays bounded. */
#include <string.h>
#include "cvm-record.h"
#include "cv-util.h"

static CvMgrCvm *
new_cvm(void)
{
    CvMgrCvm *cvm = cv_mgr_cvm_new();

    cvm->id = g_strdup("0c0f0c79-5b6d-44cd-b183-9f0b6bf400f6");
    cvm->name = g_strdup("cvm-a");
    return cvm;
}

static char *
expected(const CvMgrEvent *ev, const char *rest)
{
    g_autofree char *time = cv_time_format(ev->time);

    return g_strdup_printf("{\"seq\":%" G_GUINT64_FORMAT ",\"time\":\"%s\",\"cvm\":\"0c0f0c79-5b6d-44cd-b183-9f0b6bf400f6\","
                           "\"kind\":\"%s\"%s}", ev->seq, time, ev->kind, rest);
}

static void
test_event_json(void)
{
    g_autoptr(CvMgrCvm) cvm = new_cvm();
    g_autoptr(JsonObject) lifecycle = json_object_new();
    g_autoptr(JsonObject) guest = json_object_new();
    const CvMgrEvent *ev;
    g_autofree char *json1 = NULL, *json2 = NULL, *json3 = NULL;
    g_autofree char *want1 = NULL, *want2 = NULL, *want3 = NULL;
    g_autoptr(JsonNode) parsed = NULL;

    json_object_set_string_member(lifecycle, "event", "created");
    json_object_set_string_member(lifecycle, "state", "running");
    ev = cv_mgr_cvm_add_event(cvm, "lifecycle", lifecycle);
    json1 = cv_mgr_event_to_json(ev, cvm->id);
    want1 = expected(ev, ",\"event\":\"created\",\"state\":\"running\"");
    g_assert_cmpstr(json1, ==, want1);
    g_assert_cmpuint(ev->seq, ==, 1);

    /* a guest's members named like the envelope's are dropped; its text is escaped */
    json_object_set_int_member(guest, "seq", 99);
    json_object_set_string_member(guest, "cvm", "someone-else");
    json_object_set_string_member(guest, "message", "a \"quoted\"\nline");
    ev = cv_mgr_cvm_add_event(cvm, "log", guest);
    json2 = cv_mgr_event_to_json(ev, cvm->id);
    want2 = expected(ev, ",\"message\":\"a \\\"quoted\\\"\\nline\"");
    g_assert_cmpstr(json2, ==, want2);
    parsed = cv_json_parse(json2, -1, NULL);
    g_assert_nonnull(parsed);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(parsed), "message"), ==, "a \"quoted\"\nline");

    /* no members of its own: the envelope alone */
    ev = cv_mgr_cvm_add_event(cvm, "agent", NULL);
    json3 = cv_mgr_event_to_json(ev, cvm->id);
    want3 = expected(ev, "");
    g_assert_cmpstr(json3, ==, want3);
    g_assert_cmpstr(cv_mgr_event_members(ev), ==, "");
}

static void
test_history_bound(void)
{
    g_autoptr(CvMgrCvm) cvm = new_cvm();
    guint n = 0;
    guint64 seq;

    for (guint i = 0; i < CV_MGR_EVENT_HISTORY + 6; i++) {
        g_autoptr(JsonObject) data = json_object_new();

        json_object_set_int_member(data, "i", i);
        cv_mgr_cvm_add_event(cvm, "agent", data);
    }
    /* the oldest went; the rest in order, the last one last */
    g_assert_cmpuint(cvm->n_events, ==, CV_MGR_EVENT_HISTORY);
    seq = cvm->events->seq;
    g_assert_cmpuint(seq, ==, 7);
    for (const CvMgrEvent *ev = cvm->events; ev; ev = ev->next, n++)
        g_assert_cmpuint(ev->seq, ==, seq + n);
    g_assert_cmpuint(n, ==, CV_MGR_EVENT_HISTORY);
    g_assert_cmpuint(cvm->last_event->seq, ==, CV_MGR_EVENT_HISTORY + 6);
    g_assert_null(cvm->last_event->next);
}

/* Every state is written into the domain's metadata and read back as itself; a job's states are busy. */
static void
test_state_metadata(void)
{
    static const char *const names[] = { "creating", "running", "paused", "shutdown", "stopped", "crashed", "deleting" };

    g_assert_cmpuint(G_N_ELEMENTS(names), ==, CV_MGR_STATE_COUNT);
    for (guint i = 0; i < CV_MGR_STATE_COUNT; i++) {
        g_autoptr(CvMgrCvm) cvm = new_cvm();
        g_autoptr(CvMgrCvm) back = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *xml = NULL;
        g_autofree char *tag = g_strdup_printf("<state>%s</state>", names[i]);

        cvm->state = i;
        cvm->spec_json = g_strdup("{}");
        g_assert_cmpstr(cv_mgr_state_to_string(i), ==, names[i]);
        xml = cv_mgr_cvm_to_metadata(cvm, FALSE);
        g_assert_nonnull(strstr(xml, tag));
        back = cv_mgr_cvm_from_metadata(xml, "cvm-a", &error);
        g_assert_no_error(error);
        g_assert_cmpint(back->state, ==, i);
        g_assert_cmpint(cv_mgr_cvm_busy(back), ==, i == CV_MGR_STATE_CREATING || i == CV_MGR_STATE_DELETING);
    }
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(CvMgrCvm) bad = cv_mgr_cvm_from_metadata(
            "<cvm><id>0c0f0c79-5b6d-44cd-b183-9f0b6bf400f6</id><state>unknown</state></cvm>", "cvm-a", &error);

        g_assert_null(bad);
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager/cvm-record/event-json", test_event_json);
    g_test_add_func("/manager/cvm-record/history-bound", test_history_bound);
    g_test_add_func("/manager/cvm-record/state-metadata", test_state_metadata);
    return g_test_run();
}
