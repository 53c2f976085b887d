/* JSON from outside (a request body, a manifest, an agent's or a manager's answer, a container's
 * config.json, an evidence bundle, a policy): the text is checked before json-glib parses it, and
 * members are read only after their type is checked. */
#pragma once
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The text: RFC 8259 and nothing more, checked by cv_json_parse() (cv-util.h) before json-glib sees
 * it. json-glib also takes single-quoted strings, comments, "var x =", a second document after the
 * first, octal and hex numbers; it cuts a string at \u0000, wraps integers past 64 bits and
 * recurses once per nesting level. */
#define CV_JSON_MAX_DEPTH 32            /* nested arrays and objects */
#define CV_JSON_MAX_SIZE (64u << 20)    /* bytes: the largest file read as JSON (a manifest) */

/* TRUE when text[0..len) is one RFC 8259 JSON value (a leading UTF-8 BOM is allowed, RFC 8259
 * §8.1), nested at most CV_JSON_MAX_DEPTH deep, in valid UTF-8, with no \u0000 or lone surrogate
 * in a string and no number json-glib cannot hold (an integer outside 64 bits, a float that
 * overflows). Otherwise CV_ERROR_INVALID "malformed JSON at byte N: ..." (CV_ERROR_TOO_LARGE over
 * CV_JSON_MAX_SIZE). */
gboolean cv_json_check(const char *text, gsize len, GError **error);

/* Typed members: json-glib's getters criticise and return nothing useful on a member of another
 * type, so they are called only through these, after the type is checked.
 *
 * Each getter returns FALSE with a CV_ERROR_INVALID naming the member ("NAME: must be a string") when
 * it has another type, or when it is absent (or null) and `required`; an absent optional member leaves
 * *out untouched. */
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
