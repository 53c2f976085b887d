#include "cv-json.h"
#include "cv-error.h"
#include "cv-util.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* One pass over the text with an explicit stack: it must not recurse, since bounding recursion is
 * what it is for. */
typedef struct {
    const guchar *p;
    gsize n;
    gsize i;
    GError **error;
} Scan;

/* something that must not be there, at s->i */
static gboolean
refuse(Scan *s, const char *what)
{
    g_set_error(s->error, CV_ERROR, CV_ERROR_INVALID, "malformed JSON at byte %" G_GSIZE_FORMAT ": %s", s->i, what);
    return FALSE;
}

/* something else than `what` at s->i, or the end of the text */
static gboolean
expected(Scan *s, const char *what)
{
    guchar c = s->i < s->n ? s->p[s->i] : 0;

    if (s->i >= s->n)
        g_set_error(s->error, CV_ERROR, CV_ERROR_INVALID,
                    "malformed JSON at byte %" G_GSIZE_FORMAT ": the text ends where %s was expected", s->i, what);
    else if (g_ascii_isprint(c))
        g_set_error(s->error, CV_ERROR, CV_ERROR_INVALID,
                    "malformed JSON at byte %" G_GSIZE_FORMAT ": expected %s, found '%c'", s->i, what, c);
    else
        g_set_error(s->error, CV_ERROR, CV_ERROR_INVALID,
                    "malformed JSON at byte %" G_GSIZE_FORMAT ": expected %s, found byte 0x%02x", s->i, what, c);
    return FALSE;
}

static guchar
peek(const Scan *s)
{
    return s->i < s->n ? s->p[s->i] : 0;
}

static void
skip_ws(Scan *s)
{
    while (s->i < s->n && (s->p[s->i] == ' ' || s->p[s->i] == '\t' || s->p[s->i] == '\n' || s->p[s->i] == '\r'))
        s->i++;
}

static gboolean
digit(const Scan *s)
{
    return g_ascii_isdigit(peek(s));
}

/* length of the UTF-8 sequence at p, 0 when it is not one: overlong forms, surrogates and code
 * points past U+10FFFF are refused as g_utf8_validate does */
static gsize
utf8_length(const guchar *p, gsize avail)
{
    static const gunichar least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    gunichar c;
    gsize len;

    if (p[0] >= 0xC0 && p[0] < 0xE0) {
        len = 2;
        c = p[0] & 0x1F;
    } else if (p[0] >= 0xE0 && p[0] < 0xF0) {
        len = 3;
        c = p[0] & 0x0F;
    } else if (p[0] >= 0xF0 && p[0] < 0xF8) {
        len = 4;
        c = p[0] & 0x07;
    } else {
        return 0;
    }
    if (avail < len)
        return 0;
    for (gsize k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (p[k] & 0x3F);
    }
    if (c < least[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    return len;
}

/* the four hex digits after "\u" at p[at..], or -1 */
static gint
hex4(const Scan *s, gsize at)
{
    gint v = 0;

    if (at + 4 > s->n)
        return -1;
    for (gsize k = at; k < at + 4; k++) {
        gint d = g_ascii_xdigit_value(s->p[k]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* the escape at s->i (the backslash); json-glib ends the string at \u0000, so a name would lose
 * its tail without a word */
static gboolean
escape(Scan *s)
{
    guchar c = s->i + 1 < s->n ? s->p[s->i + 1] : 0;
    gint u, low;

    if (c && strchr("\"\\/bfnrt", c)) {
        s->i += 2;
        return TRUE;
    }
    if (c != 'u')
        return refuse(s, "invalid escape in a string");
    if ((u = hex4(s, s->i + 2)) < 0)
        return refuse(s, "\\u needs four hex digits");
    if (u == 0)
        return refuse(s, "\\u0000 in a string (NUL is refused)");
    if (u >= 0xDC00 && u <= 0xDFFF)
        return refuse(s, "a low surrogate without a high one before it");
    if (u >= 0xD800 && u <= 0xDBFF) {
        gsize next = s->i + 6;
        if (!(next + 1 < s->n && s->p[next] == '\\' && s->p[next + 1] == 'u' &&
              (low = hex4(s, next + 2)) >= 0xDC00 && low <= 0xDFFF))
            return refuse(s, "a high surrogate without a low one after it");
        s->i += 6;
    }
    s->i += 6;
    return TRUE;
}

static gboolean
string(Scan *s)
{
    s->i++;
    while (s->i < s->n) {
        guchar c = s->p[s->i];
        gsize len = 1;

        if (c == '"') {
            s->i++;
            return TRUE;
        }
        if (c == '\\') {
            if (!escape(s))
                return FALSE;
            continue;
        }
        if (c < 0x20)
            return refuse(s, "a control character in a string (it must be escaped)");
        if (c >= 0x80 && !(len = utf8_length(s->p + s->i, s->n - s->i)))
            return refuse(s, "invalid UTF-8");
        s->i += len;
    }
    return expected(s, "the closing '\"' of a string");
}

/* RFC 8259's grammar; then the value must fit what json-glib makes of it: it wraps an integer past
 * 64 bits (18446744073709551615 becomes -1) and turns 1e999 into an infinity it cannot write back */
static gboolean
number(Scan *s)
{
    gsize start = s->i;
    gboolean integer = TRUE;
    g_autofree char *text = NULL;

    if (peek(s) == '-')
        s->i++;
    if (peek(s) == '0') {
        s->i++;
    } else if (digit(s)) {
        while (digit(s))
            s->i++;
    } else {
        return expected(s, "a digit");
    }
    if (peek(s) == '.') {
        integer = FALSE;
        s->i++;
        if (!digit(s))
            return expected(s, "a digit after '.'");
        while (digit(s))
            s->i++;
    }
    if (peek(s) == 'e' || peek(s) == 'E') {
        integer = FALSE;
        s->i++;
        if (peek(s) == '+' || peek(s) == '-')
            s->i++;
        if (!digit(s))
            return expected(s, "a digit in the exponent");
        while (digit(s))
            s->i++;
    }
    text = g_strndup((const char *)s->p + start, s->i - start);
    errno = 0;
    if (integer ? (g_ascii_strtoll(text, NULL, 10), errno == ERANGE) : isinf(g_ascii_strtod(text, NULL))) {
        s->i = start;
        return refuse(s, integer ? "an integer outside 64 bits" : "a number too large for a double");
    }
    return TRUE;
}

static gboolean
literal(Scan *s, const char *word)
{
    gsize len = strlen(word);

    if (s->n - s->i < len || memcmp(s->p + s->i, word, len) != 0)
        return expected(s, "a value");
    s->i += len;
    return TRUE;
}

/* a value that is not an array or an object */
static gboolean
scalar(Scan *s)
{
    switch (peek(s)) {
    case '"': return string(s);
    case 't': return literal(s, "true");
    case 'f': return literal(s, "false");
    case 'n': return literal(s, "null");
    default: return peek(s) == '-' || digit(s) ? number(s) : expected(s, "a value");
    }
}

/* `"name" :` of an object's member, before its value */
static gboolean
member_name(Scan *s)
{
    skip_ws(s);
    if (peek(s) != '"')
        return expected(s, "a member name in double quotes");
    if (!string(s))
        return FALSE;
    skip_ws(s);
    if (peek(s) != ':')
        return expected(s, "':' after a member name");
    s->i++;
    return TRUE;
}

typedef struct {
    char open[CV_JSON_MAX_DEPTH];   /* '[' or '{' per level */
    guint depth;
} Stack;

static char
closer(char open)
{
    return open == '[' ? ']' : '}';
}

/* After a value: closes the containers that end here, then steps over the ',' (and the member
 * name) before the next value. *done when the document is complete. */
static gboolean
after_value(Scan *s, Stack *st, gboolean *done)
{
    for (;;) {
        char open;

        skip_ws(s);
        if (st->depth == 0) {
            *done = TRUE;
            return s->i == s->n || expected(s, "the end of the text after the document");
        }
        open = st->open[st->depth - 1];
        if (peek(s) == closer(open)) {
            s->i++;
            st->depth--;
        } else if (peek(s) == ',') {
            s->i++;
            return open == '[' || member_name(s);
        } else {
            return expected(s, open == '[' ? "',' or ']'" : "',' or '}'");
        }
    }
}

gboolean
cv_json_check(const char *text, gsize len, GError **error)
{
    Scan s = { (const guchar *)text, len, 0, error };
    Stack st = { .depth = 0 };
    gboolean done = FALSE;

    if (len > CV_JSON_MAX_SIZE) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "JSON text of %" G_GSIZE_FORMAT " bytes is over %u",
                    len, CV_JSON_MAX_SIZE);
        return FALSE;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        s.i = 3;
    while (!done) {
        guchar c;

        skip_ws(&s);
        c = peek(&s);
        if (c == '[' || c == '{') {
            if (st.depth == CV_JSON_MAX_DEPTH) {
                g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "malformed JSON at byte %" G_GSIZE_FORMAT
                            ": nested deeper than %d levels", s.i, CV_JSON_MAX_DEPTH);
                return FALSE;
            }
            st.open[st.depth++] = (char)c;
            s.i++;
            skip_ws(&s);
            if (peek(&s) != closer((char)c)) {
                if (c == '{' && !member_name(&s))
                    return FALSE;
                continue;
            }
            s.i++;
            st.depth--;
        } else if (!scalar(&s)) {
            return FALSE;
        }
        if (!after_value(&s, &st, &done))
            return FALSE;
    }
    return TRUE;
}

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
