#include "cv-json.h"
#include "cv-error.h"
#include "cv-util.h"

typedef enum { KIND_STRING, KIND_INT, KIND_BOOL, KIND_OBJECT, KIND_ARRAY } Kind;

static const char *const kind_names[] = { "a string", "an integer", "true or false", "an object", "an array" };

static gboolean
node_is(JsonNode *n, Kind kind)
{
    switch (kind) {
    case KIND_OBJECT: return JSON_NODE_HOLDS_OBJECT(n);
    case KIND_ARRAY: return JSON_NODE_HOLDS_ARRAY(n);
    case KIND_STRING: return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
    case KIND_INT: return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64;
    case KIND_BOOL: return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN;
    }
    return FALSE;
}

/* FALSE with the error when the member has another type, or is missing and required; else *node is
 * the member, or NULL when it is absent (null counts as absent). */
static gboolean
member(JsonObject *obj, const char *name, Kind kind, gboolean required, JsonNode **node, GError **error)
{
    JsonNode *n = obj ? json_object_get_member(obj, name) : NULL;

    *node = NULL;
    if (n && !JSON_NODE_HOLDS_NULL(n)) {
        if (!node_is(n, kind)) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: must be %s", name, kind_names[kind]);
            return FALSE;
        }
        *node = n;
    } else if (required) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: missing", name);
        return FALSE;
    }
    return TRUE;
}

/* the five getters differ only in the kind they check and the json-glib getter they then call */
#define MEMBER_GETTER(suffix, kind, type, get) \
    gboolean \
    cv_json_member_##suffix(JsonObject *obj, const char *name, gboolean required, type *out, GError **error) \
    { \
        JsonNode *n; \
        if (!member(obj, name, kind, required, &n, error)) \
            return FALSE; \
        if (n) \
            *out = get(n); \
        return TRUE; \
    }

MEMBER_GETTER(string, KIND_STRING, const char *, json_node_get_string)
MEMBER_GETTER(int, KIND_INT, gint64, json_node_get_int)
MEMBER_GETTER(bool, KIND_BOOL, gboolean, json_node_get_boolean)
MEMBER_GETTER(object, KIND_OBJECT, JsonObject *, json_node_get_object)
MEMBER_GETTER(array, KIND_ARRAY, JsonArray *, json_node_get_array)

const char *
cv_json_member_string_or(JsonObject *obj, const char *name, const char *otherwise)
{
    const char *s = otherwise;

    cv_json_member_string(obj, name, FALSE, &s, NULL);
    return s;
}

JsonObject *
cv_json_array_object(JsonArray *array, guint index)
{
    JsonNode *n = array && index < json_array_get_length(array) ? json_array_get_element(array, index) : NULL;

    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

JsonNode *
cv_json_parse_object(const char *text, gssize len, const char *what, GError **error)
{
    g_autoptr(JsonNode) root = cv_json_parse(text, len, error);

    if (!root) {
        g_prefix_error(error, "%s: ", what);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s is not a JSON object", what);
        return NULL;
    }
    return g_steal_pointer(&root);
}
