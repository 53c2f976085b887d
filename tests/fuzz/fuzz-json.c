/* libFuzzer: cv_json_parse(), the entry point of all JSON from outside, checked three ways on every input.
 * A reference reader below (recursive, RFC 8259 by the letter, with the same refusals: depth, \u0000,
 * lone surrogates, integers past 64 bits, infinite floats) must agree with cv_json_check() on what is
 * JSON; what the check passes, json-glib must parse to the reference's values, type for type.
 * The seed corpus holds json-glib's extensions (single quotes, comments, "var x =", nesting hidden
 * behind a '"' in them); run.sh writes it. */
#include <math.h>
#include <string.h>
#include "cv-json.h"
#include "cv-util.h"
#include "fuzz-fatal-criticals.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

typedef struct {
    const char *p;
    gsize n;
    gsize i;
} Ref;

static JsonNode *ref_value(Ref *r, guint depth);

static char
ref_peek(const Ref *r)
{
    return r->i < r->n ? r->p[r->i] : '\0';
}

static void
ref_ws(Ref *r)
{
    while (r->i < r->n && (r->p[r->i] == ' ' || r->p[r->i] == '\t' || r->p[r->i] == '\n' || r->p[r->i] == '\r'))
        r->i++;
}

static gboolean
ref_take(Ref *r, char c)
{
    if (ref_peek(r) != c)
        return FALSE;
    r->i++;
    return TRUE;
}

static gint
ref_hex4(Ref *r)
{
    gint v = 0;

    for (int k = 0; k < 4; k++) {
        gint d = r->i < r->n ? g_ascii_xdigit_value(r->p[r->i]) : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
        r->i++;
    }
    return v;
}

/* the string at r->i (its opening quote), decoded; NULL when it is not one RFC 8259 accepts */
static char *
ref_string(Ref *r)
{
    g_autoptr(GString) s = g_string_new(NULL);

    if (!ref_take(r, '"'))
        return NULL;
    for (;;) {
        guchar c = (guchar)ref_peek(r);
        gint u;

        if (r->i >= r->n || c < 0x20)
            return NULL;
        r->i++;
        if (c == '"')
            break;
        if (c != '\\') {
            g_string_append_c(s, (char)c);
            continue;
        }
        c = (guchar)ref_peek(r);
        r->i++;
        switch (c) {
        case '"': case '\\': case '/': g_string_append_c(s, (char)c); continue;
        case 'b': g_string_append_c(s, '\b'); continue;
        case 'f': g_string_append_c(s, '\f'); continue;
        case 'n': g_string_append_c(s, '\n'); continue;
        case 'r': g_string_append_c(s, '\r'); continue;
        case 't': g_string_append_c(s, '\t'); continue;
        case 'u': break;
        default: return NULL;
        }
        if ((u = ref_hex4(r)) <= 0 || (u >= 0xDC00 && u <= 0xDFFF))
            return NULL;
        if (u >= 0xD800 && u <= 0xDBFF) {
            gint low;
            if (!ref_take(r, '\\') || !ref_take(r, 'u') || (low = ref_hex4(r)) < 0xDC00 || low > 0xDFFF)
                return NULL;
            u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
        }
        g_string_append_unichar(s, (gunichar)u);
    }
    if (!g_utf8_validate(s->str, (gssize)s->len, NULL))
        return NULL;
    return g_string_free(g_steal_pointer(&s), FALSE);
}

static gboolean
ref_digits(Ref *r)
{
    gsize start = r->i;

    while (g_ascii_isdigit(ref_peek(r)))
        r->i++;
    return r->i > start;
}

static JsonNode *
ref_number(Ref *r)
{
    gsize start = r->i;
    gboolean integer = TRUE;
    g_autofree char *text = NULL;
    JsonNode *node;

    ref_take(r, '-');
    if (!ref_take(r, '0') && !(g_ascii_isdigit(ref_peek(r)) && ref_digits(r)))
        return NULL;
    if (ref_take(r, '.')) {
        integer = FALSE;
        if (!ref_digits(r))
            return NULL;
    }
    if (ref_take(r, 'e') || ref_take(r, 'E')) {
        integer = FALSE;
        if (!ref_take(r, '+'))
            ref_take(r, '-');
        if (!ref_digits(r))
            return NULL;
    }
    text = g_strndup(r->p + start, r->i - start);
    node = json_node_alloc();
    if (integer) {
        gint64 v = 0;
        if (!g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, &v, NULL)) {
            json_node_free(node);
            return NULL;
        }
        return json_node_init_int(node, v);
    }
    json_node_init_double(node, g_ascii_strtod(text, NULL));
    if (isinf(json_node_get_double(node))) {
        json_node_free(node);
        return NULL;
    }
    return node;
}

static JsonNode *
ref_array(Ref *r, guint depth)
{
    g_autoptr(JsonArray) a = json_array_new();

    if (depth > CV_JSON_MAX_DEPTH)
        return NULL;
    r->i++;
    ref_ws(r);
    if (!ref_take(r, ']')) {
        do {
            JsonNode *e = ref_value(r, depth + 1);
            if (!e)
                return NULL;
            json_array_add_element(a, e);
        } while (ref_take(r, ','));
        if (!ref_take(r, ']'))
            return NULL;
    }
    return json_node_init_array(json_node_alloc(), a);
}

static JsonNode *
ref_object(Ref *r, guint depth)
{
    g_autoptr(JsonObject) o = json_object_new();

    if (depth > CV_JSON_MAX_DEPTH)
        return NULL;
    r->i++;
    ref_ws(r);
    if (!ref_take(r, '}')) {
        do {
            g_autofree char *name = NULL;
            JsonNode *m;
            ref_ws(r);
            if (!(name = ref_string(r)))
                return NULL;
            ref_ws(r);
            if (!ref_take(r, ':') || !(m = ref_value(r, depth + 1)))
                return NULL;
            json_object_set_member(o, name, m); /* a repeated name: the last one, as json-glib does */
        } while (ref_take(r, ','));
        if (!ref_take(r, '}'))
            return NULL;
    }
    return json_node_init_object(json_node_alloc(), o);
}

/* a value and the white space around it */
static JsonNode *
ref_value(Ref *r, guint depth)
{
    JsonNode *node = NULL;
    char *s;

    ref_ws(r);
    switch (ref_peek(r)) {
    case '[': node = ref_array(r, depth); break;
    case '{': node = ref_object(r, depth); break;
    case '"':
        if ((s = ref_string(r)))
            node = json_node_init_string(json_node_alloc(), s);
        g_free(s);
        break;
    default:
        if (r->n - r->i >= 4 && memcmp(r->p + r->i, "true", 4) == 0) {
            r->i += 4;
            node = json_node_init_boolean(json_node_alloc(), TRUE);
        } else if (r->n - r->i >= 5 && memcmp(r->p + r->i, "false", 5) == 0) {
            r->i += 5;
            node = json_node_init_boolean(json_node_alloc(), FALSE);
        } else if (r->n - r->i >= 4 && memcmp(r->p + r->i, "null", 4) == 0) {
            r->i += 4;
            node = json_node_init_null(json_node_alloc());
        } else {
            node = ref_number(r);
        }
    }
    ref_ws(r);
    return node;
}

/* depth counts containers: the outermost is at 1 */
static JsonNode *
ref_parse(const char *p, gsize n)
{
    Ref r = { p, n, 0 };
    JsonNode *node;

    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        r.i = 3;
    node = ref_value(&r, 1);
    if (node && r.i != r.n) {
        json_node_unref(node);
        return NULL;
    }
    return node;
}

/* the same values with the same types: an integer is not a double, a double is the same bits */
static gboolean
same(JsonNode *a, JsonNode *b)
{
    if (JSON_NODE_TYPE(a) != JSON_NODE_TYPE(b))
        return FALSE;
    switch (JSON_NODE_TYPE(a)) {
    case JSON_NODE_NULL:
        return TRUE;
    case JSON_NODE_VALUE:
        if (json_node_get_value_type(a) != json_node_get_value_type(b))
            return FALSE;
        switch (json_node_get_value_type(a)) {
        case G_TYPE_INT64: return json_node_get_int(a) == json_node_get_int(b);
        case G_TYPE_BOOLEAN: return json_node_get_boolean(a) == json_node_get_boolean(b);
        case G_TYPE_STRING: return strcmp(json_node_get_string(a), json_node_get_string(b)) == 0;
        case G_TYPE_DOUBLE: {
            double x = json_node_get_double(a), y = json_node_get_double(b);
            return memcmp(&x, &y, sizeof(x)) == 0;
        }
        default: return FALSE;
        }
    case JSON_NODE_ARRAY: {
        JsonArray *x = json_node_get_array(a), *y = json_node_get_array(b);
        if (json_array_get_length(x) != json_array_get_length(y))
            return FALSE;
        for (guint i = 0; i < json_array_get_length(x); i++)
            if (!same(json_array_get_element(x, i), json_array_get_element(y, i)))
                return FALSE;
        return TRUE;
    }
    case JSON_NODE_OBJECT: {
        JsonObject *x = json_node_get_object(a), *y = json_node_get_object(b);
        g_autoptr(GList) names = json_object_get_members(x);
        if (json_object_get_size(x) != json_object_get_size(y))
            return FALSE;
        for (GList *l = names; l; l = l->next)
            if (!json_object_has_member(y, l->data) ||
                !same(json_object_get_member(x, l->data), json_object_get_member(y, l->data)))
                return FALSE;
        return TRUE;
    }
    }
    return FALSE;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    const char *text = (const char *)data;
    GError *error = NULL;
    gboolean ok = cv_json_check(text, size, &error);
    JsonNode *ref = ref_parse(text, size);
    JsonNode *parsed;

    if (ok != (ref != NULL))
        __builtin_trap();   /* the check and the reference disagree on what is JSON */
    if (!ok) {
        if (!error || error->domain != CV_ERROR || !g_str_has_prefix(error->message, "malformed JSON at byte "))
            __builtin_trap();
        g_error_free(error);
        return 0;
    }
    parsed = cv_json_parse(text, (gssize)size, NULL);
    if (!parsed || !same(parsed, ref))
        __builtin_trap();   /* json-glib read checked text otherwise than the letter of RFC 8259 */
    json_node_unref(parsed);
    json_node_unref(ref);
    return 0;
}
