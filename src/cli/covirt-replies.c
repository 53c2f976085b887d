#include "covirt-replies.h"
#include "cv-error.h"
#include "cv-json.h"
#include "cv-util.h"

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

char *
cv_cli_cvm_text(JsonNode *cvm)
{
    JsonObject *o = object_of(cvm);
    g_autofree char *agent = agent_text(o);

    return g_strdup_printf("id:         %s\nname:       %s\nplatform:   %s\nstate:      %s\nagent:      %s\n"
                           "created at: %s\nexpires at: %s\n",
                           str_member(o, "id"), str_member(o, "name"), str_member(o, "platform"),
                           str_member(o, "state"), agent, str_member(o, "created_at"), str_member(o, "expires_at"));
}

char *
cv_cli_cvm_list_text(JsonNode *list)
{
    GString *out = g_string_new(NULL);
    JsonArray *arr = NULL;

    cv_json_member_array(object_of(list), "cvms", FALSE, &arr, NULL);
    g_string_append_printf(out, "%-36s  %-24s  %-8s  %-9s  %-21s  %s\n", "ID", "NAME", "PLATFORM", "STATE", "AGENT",
                           "EXPIRES");
    for (guint i = 0; arr && i < json_array_get_length(arr); i++) {
        JsonObject *c = cv_json_array_object(arr, i);
        g_autofree char *agent = agent_text(c);

        g_string_append_printf(out, "%-36s  %-24s  %-8s  %-9s  %-21s  %s\n", str_member(c, "id"), str_member(c, "name"),
                               str_member(c, "platform"), str_member(c, "state"), agent, str_member(c, "expires_at"));
    }
    return g_string_free(out, FALSE);
}

char *
cv_cli_cvm_event_text(const char *kind, const char *json)
{
    g_autoptr(JsonNode) ev = cv_json_parse(json, -1, NULL);
    JsonObject *eo = object_of(ev);
    const char *detail = NULL;

    if (eo && g_strcmp0(kind, "lifecycle") == 0) {
        cv_json_member_string(eo, "detail", FALSE, &detail, NULL);
        return g_strdup_printf("%s  %-10s %s%s%s -> %s", str_member(eo, "time"), kind, str_member(eo, "event"),
                               detail ? " " : "", detail ? detail : "", str_member(eo, "state"));
    }
    if (eo && json_object_has_member(eo, "message"))
        return g_strdup_printf("%s  %-10s %s", str_member(eo, "time"), kind ? kind : "-", str_member(eo, "message"));
    return g_strdup_printf("%s  %-10s %s", str_member(eo, "time"), kind ? kind : "-", json);
}

char *
cv_cli_upload_text(JsonNode *answer, const char *what, const char *name)
{
    JsonObject *o = object_of(answer);

    return g_strdup_printf("%s %s accepted (SHA3-256 %s); agent state %s", what, name,
                           cv_json_member_string_or(o, "sha3_256", "?"), cv_json_member_string_or(o, "state", "?"));
}
