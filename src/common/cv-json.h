/* Typed members of JSON from outside (a container's config.json, an agent's or a manager's answer):
 * json-glib's getters criticise and return nothing useful on a member of another type, so they are
 * called only through these, after the type is checked.
 *
 * Each getter returns FALSE with a CV_ERROR_INVALID naming the member ("NAME: must be a string") when
 * it has another type, or when it is absent (or null) and `required`; an absent optional member leaves
 * *out untouched. */
#pragma once
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

gboolean cv_json_member_string(JsonObject *obj, const char *name, gboolean required, const char **out,
                               GError **error);
gboolean cv_json_member_int(JsonObject *obj, const char *name, gboolean required, gint64 *out, GError **error);
gboolean cv_json_member_bool(JsonObject *obj, const char *name, gboolean required, gboolean *out, GError **error);
gboolean cv_json_member_object(JsonObject *obj, const char *name, gboolean required, JsonObject **out,
                               GError **error);
gboolean cv_json_member_array(JsonObject *obj, const char *name, gboolean required, JsonArray **out,
                              GError **error);
/* for display: the member when it is a string, else `otherwise` (obj may be NULL) */
const char *cv_json_member_string_or(JsonObject *obj, const char *name, const char *otherwise);
/* the element when it is an object, else NULL */
JsonObject *cv_json_array_object(JsonArray *array, guint index);
/* `what` parsed, which must be a JSON object */
JsonNode *cv_json_parse_object(const char *text, gssize len, const char *what, GError **error);

G_END_DECLS
