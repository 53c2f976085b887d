/* cv_json_parse(), the one entry point for JSON from outside: RFC 8259 only, whatever else json-glib
 * would take, bounded in depth and size before json-glib sees it. */
#include <string.h>
#include "cv-json.h"
#include "cv-util.h"

typedef struct {
    const char *name;
    const char *text;
    gssize len;          /* -1: NUL-terminated */
    const char *compact; /* what json-glib writes back, or NULL when the text is refused */
    const char *message; /* part of the refusal's message */
} Case;

static const Case cases[] = {
    /* standard JSON still parses, to the same values */
    { "object", "{\"id\": \"c1\",\n \"n\": [1, 2.5, -0, true, false, null], \"o\": {}}", -1,
      "{\"id\":\"c1\",\"n\":[1,2.5,0,true,false,null],\"o\":{}}", NULL },
    { "escapes", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"]", -1,
      "[\"\\\"\\\\/\\b\\f\\n\\r\\t\xc3\xa9\xf0\x9f\x98\x80\"]", NULL },
    { "utf-8", "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]", -1, "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]", NULL },
    { "scalar at top", " 42 ", -1, "42", NULL },
    { "string at top", "\"s\"", -1, "\"s\"", NULL },
    { "empty array", "[ ]", -1, "[]", NULL },
    { "byte order mark", "\xef\xbb\xbf{\"a\":1}", -1, "{\"a\":1}", NULL },
    { "int64 bounds", "[9223372036854775807,-9223372036854775808]", -1,
      "[9223372036854775807,-9223372036854775808]", NULL },
    { "exponents", "[1e2,1E+2,1.5e-3]", -1, "[100.0,100.0,0.0015]", NULL },
    { "brackets in a string", "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\",\"b\":[[1]]}", -1,
      "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\",\"b\":[[1]]}", NULL },
    /* json-glib's extensions */
    { "single quotes", "{'a':1}", -1, NULL, "at byte 1: expected a member name in double quotes, found '''" },
    { "single-quoted value", "[\"a\",'b']", -1, NULL, "at byte 5: expected a value" },
    { "block comment", "/* x */ [1]", -1, NULL, "at byte 0: expected a value, found '/'" },
    { "comment inside", "[1 /* x */]", -1, NULL, "at byte 3: expected ',' or ']'" },
    { "line comment", "[1]\n// x", -1, NULL, "at byte 4: expected the end of the text" },
    { "var assignment", "var a = [1]", -1, NULL, "at byte 0: expected a value" },
    { "second document", "[1] [2]", -1, NULL, "at byte 4: expected the end of the text" },
    { "trailing comma in an array", "[1,]", -1, NULL, "at byte 3: expected a value, found ']'" },
    { "trailing comma in an object", "{\"a\":1,}", -1, NULL, "at byte 7: expected a member name" },
    { "unquoted name", "{a:1}", -1, NULL, "at byte 1: expected a member name" },
    { "octal escape", "[\"\\101\"]", -1, NULL, "at byte 2: invalid escape" },
    { "quote escape", "[\"\\'\"]", -1, NULL, "at byte 2: invalid escape" },
    { "leading zero", "[012]", -1, NULL, "at byte 2: expected ',' or ']', found '1'" },
    { "hex number", "[0x10]", -1, NULL, "at byte 2: expected ',' or ']', found 'x'" },
    { "bare fraction", "[.5]", -1, NULL, "at byte 1: expected a value" },
    { "bare point", "[1.]", -1, NULL, "at byte 3: expected a digit after '.'" },
    { "spaced minus", "[- 1]", -1, NULL, "at byte 2: expected a digit" },
    { "capital literal", "[TRUE]", -1, NULL, "at byte 1: expected a value" },
    /* strings json-glib would change */
    { "NUL escape", "{\"name\":\"a\\u0000b\"}", -1, NULL, "at byte 10: \\u0000 in a string" },
    { "lone high surrogate", "[\"\\ud800\"]", -1, NULL, "at byte 2: a high surrogate without a low one" },
    { "high surrogate then a letter", "[\"\\ud800\\u0041\"]", -1, NULL, "a high surrogate without a low one" },
    { "lone low surrogate", "[\"\\udc00\\ud800\"]", -1, NULL, "at byte 2: a low surrogate without a high one" },
    { "short \\u", "[\"\\u12\"]", -1, NULL, "\\u needs four hex digits" },
    { "raw tab", "[\"a\tb\"]", -1, NULL, "at byte 3: a control character in a string" },
    { "raw NUL", "[\"a\0b\"]", 7, NULL, "at byte 3: a control character in a string" },
    { "NUL after the document", "[1]\0", 4, NULL, "at byte 3: expected the end of the text after the document, "
      "found byte 0x00" },
    { "invalid UTF-8", "[\"\xff\"]", -1, NULL, "at byte 2: invalid UTF-8" },
    { "overlong UTF-8", "[\"\xc0\xaf\"]", -1, NULL, "at byte 2: invalid UTF-8" },
    { "UTF-8 surrogate", "[\"\xed\xa0\x80\"]", -1, NULL, "at byte 2: invalid UTF-8" },
    { "truncated UTF-8", "[\"\xe2\x82", -1, NULL, "at byte 2: invalid UTF-8" },
    { "past U+10FFFF", "[\"\xf4\x90\x80\x80\"]", -1, NULL, "at byte 2: invalid UTF-8" },
    { "unterminated string", "[\"abc", -1, NULL, "at byte 5: the text ends where the closing '\"'" },
    /* numbers json-glib would change: wrapped to -1, INT64_MIN, infinity */
    { "2^64-1", "[18446744073709551615]", -1, NULL, "at byte 1: an integer outside 64 bits" },
    { "2^63", "{\"n\":9223372036854775808}", -1, NULL, "at byte 5: an integer outside 64 bits" },
    { "-2^63-1", "[-9223372036854775809]", -1, NULL, "an integer outside 64 bits" },
    { "30 digits", "[123456789012345678901234567890]", -1, NULL, "an integer outside 64 bits" },
    { "1e999", "[1e999]", -1, NULL, "at byte 1: a number too large for a double" },
    { "-1e999", "[-1e999]", -1, NULL, "a number too large for a double" },
    /* empty and truncated */
    { "empty", "", -1, NULL, "at byte 0: the text ends where a value was expected" },
    { "white space", " \n", -1, NULL, "at byte 2: the text ends where a value was expected" },
    { "truncated object", "{\"id\":", -1, NULL, "at byte 6: the text ends where a value was expected" },
    { "unclosed array", "[1", -1, NULL, "at byte 2: the text ends where ',' or ']' was expected" },
    { "mismatched close", "[1}", -1, NULL, "at byte 2: expected ',' or ']', found '}'" },
};

static void
test_cases(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        const Case *c = &cases[i];
        g_autoptr(GError) e = NULL;
        g_autoptr(JsonNode) node = cv_json_parse(c->text, c->len, &e);

        g_test_message("%s", c->name);
        if (c->compact) {
            g_autofree char *back = NULL;
            g_assert_no_error(e);
            back = cv_json_to_string(node, FALSE);
            g_assert_cmpstr(back, ==, c->compact);
        } else {
            g_assert_null(node);
            g_assert_error(e, CV_ERROR, CV_ERROR_INVALID);
            g_assert_true(g_str_has_prefix(e->message, "malformed JSON"));
            if (!strstr(e->message, c->message))
                g_error("%s: \"%s\" does not say \"%s\"", c->name, e->message, c->message);
        }
    }
}

/* 100 KB of nesting that a depth count unaware of json-glib's single quotes and comments did not
 * see: the '"' inside them looked like the start of a string, json-glib recursed 100,000 levels
 * deep and the manager died of a stack overflow */
static void
test_hidden_nesting(void)
{
    static const char *const prefixes[] = { "['\"',", "{'\"':", "[/* \" */", "[/*\"*/1," };
    gsize n = 100 * 1024;

    for (gsize i = 0; i < G_N_ELEMENTS(prefixes); i++) {
        g_autoptr(GString) text = g_string_new(prefixes[i]);
        g_autoptr(GError) e = NULL;
        g_autoptr(JsonNode) node = NULL;

        for (gsize k = 0; k < n; k++)
            g_string_append_c(text, '[');
        for (gsize k = 0; k < n; k++)
            g_string_append_c(text, ']');
        g_string_append_c(text, prefixes[i][0] == '[' ? ']' : '}');
        node = cv_json_parse(text->str, (gssize)text->len, &e);
        g_assert_null(node);
        g_assert_error(e, CV_ERROR, CV_ERROR_INVALID);
        g_assert_true(g_str_has_prefix(e->message, "malformed JSON at byte 1"));
    }
}

/* CV_JSON_MAX_DEPTH levels parse; one more is refused where it opens, as is a megabyte of '[' */
static void
test_depth(void)
{
    for (guint depth = CV_JSON_MAX_DEPTH; depth <= CV_JSON_MAX_DEPTH + 1; depth++) {
        g_autoptr(GString) text = g_string_new(NULL);
        g_autoptr(GError) e = NULL;
        g_autoptr(JsonNode) node = NULL;
        g_autofree char *at = NULL;

        for (guint k = 0; k < depth; k++) {
            if (k == CV_JSON_MAX_DEPTH)
                at = g_strdup_printf("at byte %" G_GSIZE_FORMAT ": nested deeper than %d levels", text->len,
                                     CV_JSON_MAX_DEPTH);
            g_string_append(text, k % 2 ? "[" : "{\"a\":");
        }
        g_string_append(text, "1");
        for (guint k = depth; k > 0; k--)
            g_string_append(text, (k - 1) % 2 ? "]" : "}");
        node = cv_json_parse(text->str, -1, &e);
        if (depth == CV_JSON_MAX_DEPTH) {
            g_assert_no_error(e);
            g_assert_nonnull(node);
        } else {
            g_assert_null(node);
            g_assert_nonnull(strstr(e->message, at));
        }
    }
    {
        gsize n = 1 << 20;
        g_autofree char *deep = g_malloc(n);
        g_autoptr(GError) e = NULL;

        memset(deep, '[', n);
        g_assert_false(cv_json_check(deep, n, &e));
        g_assert_error(e, CV_ERROR, CV_ERROR_INVALID);
    }
}

/* the size bound is checked before any byte is read */
static void
test_size(void)
{
    g_autoptr(GError) e = NULL;

    g_assert_false(cv_json_check("[1]", (gsize)CV_JSON_MAX_SIZE + 1, &e));
    g_assert_error(e, CV_ERROR, CV_ERROR_TOO_LARGE);
    g_assert_true(cv_json_check("[1]", 3, NULL));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/json/cases", test_cases);
    g_test_add_func("/json/hidden-nesting", test_hidden_nesting);
    g_test_add_func("/json/depth", test_depth);
    g_test_add_func("/json/size", test_size);
    return g_test_run();
}
