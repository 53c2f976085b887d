#include "policy.h"
#include "cv-util.h"
#include "attest-util.h"

#include <string.h>

static const char *const common_members[] = { "platform", "description", "ca_file", "ca_pem", NULL };
static const char *const snp_members[] = {
    "measurement", "host_data", "report_data", "family_id", "image_id", "id_key_digest", "allow_debug",
    "minimum_tcb", "vmpl", "minimum_guest_svn", NULL,
};
static const char *const tdx_members[] = {
    "mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrseam", "mrconfigid", "mrowner", "report_data",
    "td_attributes", "xfam", "allow_debug", NULL,
};
static const char *const vtpm_members[] = { "pcrs", "events", "require_event_log", "require_credential", NULL };

static gboolean
in_list(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (strcmp(*list, name) == 0)
            return TRUE;
    return FALSE;
}

const char *
cv_attest_policy_platform(JsonNode *policy)
{
    if (!policy || !JSON_NODE_HOLDS_OBJECT(policy))
        return NULL;
    return json_object_get_string_member_with_default(json_node_get_object(policy), "platform", NULL);
}

JsonNode *
cv_attest_policy_parse(const char *text, gssize len, const char *platform, const char *base_dir, GError **error)
{
    g_autoptr(JsonNode) root = cv_json_parse(text, len, error);
    JsonObject *o;
    const char *p;
    const char *const *specific;
    JsonObjectIter it;
    const char *name;
    JsonNode *member;

    if (!root)
        return NULL;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: not a JSON object");
        return NULL;
    }
    o = json_node_get_object(root);
    p = json_object_get_string_member_with_default(o, "platform", NULL);
    if (!p) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: \"platform\" (sev-snp, tdx or vtpm) is missing");
        return NULL;
    }
    if (strcmp(p, "sev-snp") == 0)
        specific = snp_members;
    else if (strcmp(p, "tdx") == 0)
        specific = tdx_members;
    else if (strcmp(p, "vtpm") == 0)
        specific = vtpm_members;
    else {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: unknown platform '%s'", p);
        return NULL;
    }
    if (platform && strcmp(platform, p) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy is for %s, not %s", p, platform);
        return NULL;
    }
    json_object_iter_init(&it, o);
    while (json_object_iter_next(&it, &name, &member)) {
        if (!in_list(common_members, name) && !in_list(specific, name)) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: unknown member \"%s\" for %s", name, p);
            return NULL;
        }
    }
    if (json_object_has_member(o, "ca_file")) {
        JsonNode *n = json_object_get_member(o, "ca_file");
        g_autoptr(GString) pem = g_string_new(NULL);
        g_autoptr(JsonArray) files = NULL;
        if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
            files = json_array_new();
            json_array_add_string_element(files, json_node_get_string(n));
        } else if (JSON_NODE_HOLDS_ARRAY(n)) {
            files = json_array_ref(json_node_get_array(n));
        } else {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: ca_file must be a path or a list of paths");
            return NULL;
        }
        for (guint i = 0; i < json_array_get_length(files); i++) {
            JsonNode *e = json_array_get_element(files, i);
            const char *file;
            g_autofree char *path = NULL;
            g_autoptr(GBytes) data = NULL;
            if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
                g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "policy: ca_file[%u] is not a path", i);
                return NULL;
            }
            file = json_node_get_string(e);
            path = g_path_is_absolute(file) || !base_dir ? g_strdup(file) : g_build_filename(base_dir, file, NULL);
            if (!(data = cv_read_file(path, 1 << 20, error))) {
                g_prefix_error(error, "policy: ca_file: ");
                return NULL;
            }
            g_string_append_len(pem, g_bytes_get_data(data, NULL), g_bytes_get_size(data));
            g_string_append_c(pem, '\n');
        }
        json_object_remove_member(o, "ca_file");
        json_object_set_string_member(o, "ca_pem", pem->str);
    }
    return g_steal_pointer(&root);
}

JsonNode *
cv_attest_policy_load(const char *path, const char *platform, GError **error)
{
    g_autoptr(GBytes) data = cv_read_file(path, 1 << 20, error);
    g_autofree char *dir = NULL;
    JsonNode *n;

    if (!data)
        return NULL;
    dir = g_path_get_dirname(path);
    n = cv_attest_policy_parse(g_bytes_get_data(data, NULL), g_bytes_get_size(data), platform, dir, error);
    if (!n)
        g_prefix_error(error, "%s: ", path);
    return n;
}

JsonNode *
cv_attest_policy_default(const char *platform)
{
    g_autoptr(JsonObject) o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(o, "platform", platform);
    if (strcmp(platform, "vtpm") != 0)
        json_object_set_boolean_member(o, "allow_debug", FALSE);
    json_node_set_object(n, o);
    return n;
}
