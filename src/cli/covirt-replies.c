#include "covirt-replies.h"
#include "cv-error.h"
#include "cv-json.h"
#include "cv-util.h"

#include <string.h>

void
cv_cli_manager_error(guint status, const char *reason, const char *text, gsize len, GError **error)
{
    g_autoptr(JsonNode) root = text && len ? cv_json_parse(text, (gssize)len, NULL) : NULL;
    JsonObject *err = NULL;
    const char *m = NULL;

    if (root && JSON_NODE_HOLDS_OBJECT(root) &&
        cv_json_member_object(json_node_get_object(root), "error", FALSE, &err, NULL))
        cv_json_member_string(err, "message", FALSE, &m, NULL);
    g_set_error(error, CV_ERROR, cv_error_code_from_http_status(status, CV_ERROR_INTERNAL), "%u %s: %s", status,
                reason ? reason : "", m ? m : "(no message)");
}

static JsonObject *
object_of(JsonNode *node)
{
    return node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

static const char *
str_member(JsonObject *o, const char *name)
{
    return cv_json_member_string_or(o, name, "-");
}

static char *
agent_text(JsonObject *o)
{
    JsonObject *a = NULL;
    gint64 port = 0;

    if (!cv_json_member_object(o, "agent", FALSE, &a, NULL) || !a)
        return g_strdup("-");
    cv_json_member_int(a, "port", FALSE, &port, NULL);
    return g_strdup_printf("%s:%" G_GINT64_FORMAT, str_member(a, "host"), port);
}

/* the computation as its agent last reported it: "-" before an agent did */
static const char *
computation_state(JsonObject *o, const char **error, gboolean *result)
{
    JsonObject *c = NULL;

    *error = NULL;
    *result = FALSE;
    if (!o || !cv_json_member_object(o, "computation", FALSE, &c, NULL) || !c)
        return "-";
    *error = cv_json_member_string_or(c, "error", NULL);
    cv_json_member_bool(c, "result_available", FALSE, result, NULL);
    return cv_json_member_string_or(c, "state", "-");
}

char *
cv_cli_cvm_text(JsonNode *cvm)
{
    JsonObject *o = object_of(cvm);
    g_autofree char *agent = agent_text(o);
    const char *error;
    gboolean result;
    const char *comp = computation_state(o, &error, &result);

    gboolean down = FALSE;

    cv_json_member_bool(o, "host_down", FALSE, &down, NULL);
    return g_strdup_printf("id:          %s\nname:        %s\nplatform:    %s\nstate:       %s%s\nhost:        %s\n"
                           "agent:       %s\ncomputation: %s%s%s\nresult:      %s\ncreated at:  %s\nexpires at:  %s\n",
                           str_member(o, "id"), str_member(o, "name"), str_member(o, "platform"),
                           str_member(o, "state"), down ? " (last known: its host is down)" : "", str_member(o, "host"),
                           agent, comp, error ? ": " : "", error ? error : "",
                           result ? "available" : "none", str_member(o, "created_at"), str_member(o, "expires_at"));
}

/* "vtpm,sev-snp", or "-" */
static char *
platforms_text(JsonObject *h)
{
    JsonArray *arr = NULL;
    g_autoptr(GString) s = g_string_new(NULL);

    cv_json_member_array(h, "platforms", FALSE, &arr, NULL);
    for (guint i = 0; arr && i < json_array_get_length(arr); i++) {
        JsonNode *n = json_array_get_element(arr, i);

        if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
            g_string_append_printf(s, "%s%s", s->len ? "," : "", json_node_get_string(n));
    }
    return g_strdup(s->len ? s->str : "-");
}

char *
cv_cli_host_list_text(JsonNode *list)
{
    GString *out = g_string_new(NULL);
    JsonArray *arr = NULL;

    cv_json_member_array(object_of(list), "hosts", FALSE, &arr, NULL);
    g_string_append_printf(out, "%-40s  %-5s  %5s  %12s  %-18s  %s\n", "URI", "STATE", "CVMS", "FREE MIB", "PLATFORMS",
                           "LIBVIRT");
    for (guint i = 0; arr && i < json_array_get_length(arr); i++) {
        JsonObject *h = cv_json_array_object(arr, i);
        g_autofree char *platforms = platforms_text(h);
        gint64 cvms = -1, free_memory = -1;
        g_autofree char *free_text = NULL;

        cv_json_member_int(h, "cvms", FALSE, &cvms, NULL);
        if (cv_json_member_int(h, "free_memory", FALSE, &free_memory, NULL) && free_memory >= 0)
            free_text = g_strdup_printf("%" G_GINT64_FORMAT, free_memory >> 20);
        g_string_append_printf(out, "%-40s  %-5s  %5" G_GINT64_FORMAT "  %12s  %-18s  %s\n", str_member(h, "uri"),
                               str_member(h, "state"), cvms, free_text ? free_text : "-", platforms,
                               str_member(h, "libvirt_version"));
    }
    return g_string_free(out, FALSE);
}

char *
cv_cli_cvm_list_text(JsonNode *list)
{
    GString *out = g_string_new(NULL);
    JsonArray *arr = NULL;

    cv_json_member_array(object_of(list), "cvms", FALSE, &arr, NULL);
    g_string_append_printf(out, "%-36s  %-24s  %-8s  %-9s  %-18s  %-21s  %s\n", "ID", "NAME", "PLATFORM", "STATE",
                           "COMPUTATION", "AGENT", "EXPIRES");
    for (guint i = 0; arr && i < json_array_get_length(arr); i++) {
        JsonObject *c = cv_json_array_object(arr, i);
        g_autofree char *agent = agent_text(c);
        const char *error;
        gboolean result;
        const char *comp = computation_state(c, &error, &result);

        g_string_append_printf(out, "%-36s  %-24s  %-8s  %-9s  %-18s  %-21s  %s\n", str_member(c, "id"),
                               str_member(c, "name"), str_member(c, "platform"), str_member(c, "state"), comp, agent,
                               str_member(c, "expires_at"));
    }
    return g_string_free(out, FALSE);
}

/* A lifecycle event as the operator would say it: what happened to the CVM, then what it is now unless
 * a create or delete is still under way (its own "created" or "deleted" says that). */
static char *
lifecycle_text(JsonObject *eo)
{
    static const struct {
        const char *event, *prose;
    } names[] = {
        { "created", "created" }, { "adopted", "found in libvirt" }, { "defined", "defined" },
        { "undefined", "undefined" }, { "started", "started" }, { "suspended", "paused" },
        { "resumed", "running" }, { "stopped", "stopped" }, { "shutdown", "shutting down" },
        { "pmsuspended", "suspended by the guest" }, { "crashed", "crashed" }, { "deleting", "deleting" },
        { "resync", "state read again from libvirt" }, { "delete-failed", "delete failed" },
    };
    const char *event = str_member(eo, "event"), *state = str_member(eo, "state"), *prose = event;
    const char *detail = cv_json_member_string_or(eo, "detail", NULL);
    gboolean busy = strcmp(state, "creating") == 0 || strcmp(state, "deleting") == 0;

    for (guint i = 0; i < G_N_ELEMENTS(names); i++)
        if (strcmp(event, names[i].event) == 0)
            prose = names[i].prose;
    return g_strdup_printf("%s%s%s%s%s%s", prose, detail ? " (" : "", detail ? detail : "", detail ? ")" : "",
                           busy || strcmp(prose, state) == 0 ? "" : ", now ", busy || strcmp(prose, state) == 0 ? "" : state);
}

/* An agent's event (kind "agent"): NULL when another line says it already. */
static char *
agent_event_text(JsonObject *eo)
{
    const char *event = str_member(eo, "event");
    const char *message = cv_json_member_string_or(eo, "message", "");
    gint64 bytes = 0;

    if (strcmp(event, "agent-event") == 0) {
        const char *kind = str_member(eo, "agent_kind");
        /* "ReceivingData -> Running: why" */
        if (strcmp(kind, "state") == 0)
            return g_strdup_printf("computation %s", message);
        return g_strdup_printf("%s: %s", kind, message);
    }
    if (strcmp(event, "hello") == 0)
        return g_strdup_printf("agent %s connected (platform %s, HAL %s)", str_member(eo, "agent_version"),
                               str_member(eo, "platform"), str_member(eo, "hal_version"));
    if (strcmp(event, "manifest-sent") == 0) {
        cv_json_member_int(eo, "bytes", FALSE, &bytes, NULL);
        return g_strdup_printf("manifest sent to the agent (%" G_GINT64_FORMAT " bytes)", bytes);
    }
    /* the agent's own "run" event or its state change to Failed says it, with the same message */
    if (strcmp(event, "run-result") == 0 || strcmp(event, "state") == 0)
        return NULL;
    return g_strdup_printf("%s%s%s", event, *message ? ": " : "", message);
}

char *
cv_cli_cvm_event_text(const char *kind, const char *json)
{
    g_autoptr(JsonNode) ev = cv_json_parse(json, -1, NULL);
    JsonObject *eo = object_of(ev);
    g_autofree char *text = NULL;

    if (!eo)
        return g_strdup_printf("%-10s (not a JSON object)", kind ? kind : "-");
    if (g_strcmp0(kind, "lifecycle") == 0)
        text = lifecycle_text(eo);
    else if (g_strcmp0(kind, "agent") == 0 && !(text = agent_event_text(eo)))
        return NULL;
    else if (g_strcmp0(kind, "log") == 0)
        text = g_strdup_printf("[%s] %s", str_member(eo, "source"), str_member(eo, "message"));
    else if (!text)
        text = g_strdup(cv_json_member_string_or(eo, "message", cv_json_member_string_or(eo, "event", "")));
    return g_strdup_printf("%s  %-9s  %s", str_member(eo, "time"), kind ? kind : "-", text);
}

char *
cv_cli_upload_text(JsonNode *answer, const char *what, const char *name)
{
    JsonObject *o = object_of(answer);

    return g_strdup_printf("%s %s accepted (SHA3-256 %s); agent state %s", what, name,
                           cv_json_member_string_or(o, "sha3_256", "?"), cv_json_member_string_or(o, "state", "?"));
}
