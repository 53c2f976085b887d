#include "cv-jcs.h"
#include "cv-error.h"
#include "cv-json.h"
#include "cv-util.h"

#include <math.h>
#include <string.h>

/* RFC 8785 §3.2.2.3: a number is written as ECMAScript's Number.prototype.toString writes the double:
 * the fewest significant digits that read back as the same double (the closest of them to it when
 * several do), then plain or exponent form by where the decimal point falls. glibc's printf and
 * strtod are exact, so the shortest digits are found by asking for 1, 2, ... 17 of them. */

/* TRUE when c × 10^q reads back as v */
static gboolean
reads_back(guint64 c, int q, double v)
{
    char text[48];

    g_snprintf(text, sizeof text, "%" G_GUINT64_FORMAT "e%d", c, q);
    return g_ascii_strtod(text, NULL) == v;
}

/* v > 0 and finite: the shortest s (as an integer, no trailing zero) and q with s × 10^q == v */
static void
shortest_digits(double v, guint64 *s, int *q)
{
    for (int p = 1; p <= 17; p++) {
        char text[48];
        char *e;
        guint64 m = 0;
        int exp10;

        /* the p-digit decimal nearest to v, "d.ddde±x" (the point may be the locale's: only digits are read) */
        g_snprintf(text, sizeof text, "%.*e", p - 1, v);
        for (e = text; *e && *e != 'e'; e++)
            if (g_ascii_isdigit(*e))
                m = m * 10 + (guint64) (*e - '0');
        exp10 = (int) g_ascii_strtoll(e + 1, NULL, 10) - (p - 1);
        /* the nearest may miss while its neighbour on the other side of v reads back: just above a
         * power of two the doubles below v are twice as dense as those above */
        if (reads_back(m, exp10, v))
            *s = m;
        else if (m > 1 && reads_back(m - 1, exp10, v))
            *s = m - 1;
        else if (reads_back(m + 1, exp10, v))
            *s = m + 1;
        else
            continue;
        *q = exp10;
        break;
    }
    while (*s % 10 == 0) {
        *s /= 10;
        (*q)++;
    }
}

static gboolean
write_number(GString *out, double v, GError **error)
{
    char digits[24];
    guint64 s = 0;
    int q = 0, k, n;

    if (!isfinite(v)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "JSON canonical form: a number is NaN or infinite");
        return FALSE;
    }
    if (v == 0) {   /* -0 too */
        g_string_append_c(out, '0');
        return TRUE;
    }
    if (v < 0) {
        g_string_append_c(out, '-');
        v = -v;
    }
    shortest_digits(v, &s, &q);
    k = g_snprintf(digits, sizeof digits, "%" G_GUINT64_FORMAT, s);
    n = q + k;  /* v = 0.digits × 10^n */
    if (k <= n && n <= 21) {
        g_string_append(out, digits);
        for (int i = 0; i < n - k; i++)
            g_string_append_c(out, '0');
    } else if (0 < n && n <= 21) {
        g_string_append_len(out, digits, n);
        g_string_append_c(out, '.');
        g_string_append(out, digits + n);
    } else if (-6 < n && n <= 0) {
        g_string_append(out, "0.");
        for (int i = 0; i < -n; i++)
            g_string_append_c(out, '0');
        g_string_append(out, digits);
    } else {
        g_string_append_c(out, digits[0]);
        if (k > 1) {
            g_string_append_c(out, '.');
            g_string_append(out, digits + 1);
        }
        g_string_append_printf(out, "e%c%d", n - 1 >= 0 ? '+' : '-', ABS(n - 1));
    }
    return TRUE;
}

/* RFC 8785 §3.2.2.2: JSON.stringify's escapes, everything else as its UTF-8 */
static gboolean
write_string(GString *out, const char *str, GError **error)
{
    if (!g_utf8_validate(str, -1, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "JSON canonical form: a string is not valid UTF-8");
        return FALSE;
    }
    g_string_append_c(out, '"');
    for (const guchar *p = (const guchar *) str; *p; p++) {
        switch (*p) {
        case '"': g_string_append(out, "\\\""); break;
        case '\\': g_string_append(out, "\\\\"); break;
        case '\b': g_string_append(out, "\\b"); break;
        case '\t': g_string_append(out, "\\t"); break;
        case '\n': g_string_append(out, "\\n"); break;
        case '\f': g_string_append(out, "\\f"); break;
        case '\r': g_string_append(out, "\\r"); break;
        default:
            if (*p < 0x20)
                g_string_append_printf(out, "\\u%04x", *p);
            else
                g_string_append_c(out, (char) *p);
        }
    }
    g_string_append_c(out, '"');
    return TRUE;
}

typedef struct {
    const char *name;
    gunichar2 *utf16;
    glong len;
} Member;

/* RFC 8785 §3.2.3: names compare as arrays of UTF-16 code units, so a name above U+FFFF (a
 * surrogate pair, 0xD800..) sorts before U+E000..U+FFFF, unlike its UTF-8 bytes */
static int
member_cmp(gconstpointer a, gconstpointer b)
{
    const Member *x = a, *y = b;

    for (glong i = 0; i < x->len && i < y->len; i++)
        if (x->utf16[i] != y->utf16[i])
            return x->utf16[i] < y->utf16[i] ? -1 : 1;
    return x->len < y->len ? -1 : x->len > y->len;
}

static void
member_clear(gpointer p)
{
    g_free(((Member *) p)->utf16);
}

static gboolean write_node(GString *out, JsonNode *node, guint depth, GError **error);

static gboolean
write_object(GString *out, JsonObject *obj, guint depth, GError **error)
{
    g_autoptr(GArray) members = g_array_new(FALSE, TRUE, sizeof(Member));
    g_autoptr(GList) names = json_object_get_members(obj);

    g_array_set_clear_func(members, member_clear);
    for (GList *l = names; l; l = l->next) {
        Member m = { .name = l->data };

        m.utf16 = g_utf8_to_utf16(m.name, -1, NULL, &m.len, NULL);
        if (!m.utf16) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "JSON canonical form: a member name is not valid UTF-8");
            return FALSE;
        }
        g_array_append_val(members, m);
    }
    g_array_sort(members, member_cmp);
    g_string_append_c(out, '{');
    for (guint i = 0; i < members->len; i++) {
        const Member *m = &g_array_index(members, Member, i);

        if (i > 0)
            g_string_append_c(out, ',');
        if (!write_string(out, m->name, error))
            return FALSE;
        g_string_append_c(out, ':');
        if (!write_node(out, json_object_get_member(obj, m->name), depth + 1, error))
            return FALSE;
    }
    g_string_append_c(out, '}');
    return TRUE;
}

static gboolean
write_value(GString *out, JsonNode *node, GError **error)
{
    switch (json_node_get_value_type(node)) {
    case G_TYPE_INT64:
        /* I-JSON numbers are doubles: a JavaScript reader of 2^53 + 1 holds 2^53, and so do we */
        return write_number(out, (double) json_node_get_int(node), error);
    case G_TYPE_DOUBLE:
        return write_number(out, json_node_get_double(node), error);
    case G_TYPE_BOOLEAN:
        g_string_append(out, json_node_get_boolean(node) ? "true" : "false");
        return TRUE;
    case G_TYPE_STRING:
        return write_string(out, json_node_get_string(node), error);
    default:
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "JSON canonical form: a value of type %s is not JSON",
                    g_type_name(json_node_get_value_type(node)));
        return FALSE;
    }
}

static gboolean
write_node(GString *out, JsonNode *node, guint depth, GError **error)
{
    if (depth > CV_JSON_MAX_DEPTH) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "JSON canonical form: nested deeper than %d levels",
                    CV_JSON_MAX_DEPTH);
        return FALSE;
    }
    switch (json_node_get_node_type(node)) {
    case JSON_NODE_NULL:
        g_string_append(out, "null");
        return TRUE;
    case JSON_NODE_VALUE:
        return write_value(out, node, error);
    case JSON_NODE_OBJECT:
        return write_object(out, json_node_get_object(node), depth, error);
    case JSON_NODE_ARRAY: {
        JsonArray *array = json_node_get_array(node);

        g_string_append_c(out, '[');
        for (guint i = 0; i < json_array_get_length(array); i++) {
            if (i > 0)
                g_string_append_c(out, ',');
            if (!write_node(out, json_array_get_element(array, i), depth + 1, error))
                return FALSE;
        }
        g_string_append_c(out, ']');
        return TRUE;
    }
    }
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "JSON canonical form: unknown node type");
    return FALSE;
}

char *
cv_jcs_serialize(JsonNode *node, GError **error)
{
    g_autoptr(GString) out = g_string_new(NULL);

    g_return_val_if_fail(node != NULL, NULL);
    if (!write_node(out, node, 1, error))
        return NULL;
    return g_string_free(g_steal_pointer(&out), FALSE);
}

gboolean
cv_jcs_sha256(JsonNode *node, guint8 out[32], GError **error)
{
    g_autofree char *text = cv_jcs_serialize(node, error);
    g_autoptr(GBytes) digest = NULL;

    if (!text || !(digest = cv_digest("SHA256", text, strlen(text), error)))
        return FALSE;
    if (g_bytes_get_size(digest) != 32) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "SHA-256 gave %" G_GSIZE_FORMAT " bytes",
                    g_bytes_get_size(digest));
        return FALSE;
    }
    memcpy(out, g_bytes_get_data(digest, NULL), 32);
    return TRUE;
}
