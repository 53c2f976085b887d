/* cv_jcs_serialize(): RFC 8785's own examples byte for byte (§3.2.2's sample and its §3.2.4 UTF-8
 * bytes, §3.2.3's sorting sample, Appendix B's numbers), the refusals, and that the canonical form is
 * a fixed point of parse-and-canonicalise. */
#include <math.h>
#include <string.h>
#include "cv-jcs.h"
#include "cv-json.h"
#include "cv-util.h"

static char *
canon_text(const char *json)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = cv_json_parse(json, -1, &error);
    char *out;

    g_assert_no_error(error);
    out = cv_jcs_serialize(node, &error);
    g_assert_no_error(error);
    return out;
}

/* RFC 8785 §3.2.2 (input) → §3.2.3's output, and §3.2.4: the same as UTF-8 bytes in hex */
static void
test_rfc_sample(void)
{
    const char *input =
        "{\n  \"numbers\": [333333333.33333329, 1E30, 4.50,\n              2e-3, 0.000000000000000000000000001],\n"
        "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
        "  \"literals\": [null, true, false]\n}";
    const char *expected =
        "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
        "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    /* as §3.2.4 prints them */
    const char *rfc_bytes =
        "7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72 "
        "75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a "
        "5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31 "
        "65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37 "
        "5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30 "
        "30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d";
    g_autofree char *out = canon_text(input);
    g_autofree char *hex = cv_hex_encode((const guint8 *) out, strlen(out));
    g_auto(GStrv) groups = g_strsplit(rfc_bytes, " ", -1);
    g_autofree char *rfc = g_strjoinv("", groups);

    g_assert_cmpstr(out, ==, expected);
    g_assert_cmpstr(hex, ==, rfc);
}

/* RFC 8785 §3.2.3: names sorted by UTF-16 code units, so the surrogate pair of U+1F602 comes before
 * U+FB33, which UTF-8 byte order would put first */
static void
test_rfc_sorting(void)
{
    const char *input =
        "{\n  \"\\u20ac\": \"Euro Sign\",\n  \"\\r\": \"Carriage Return\",\n  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n"
        "  \"1\": \"One\",\n  \"\\ud83d\\ude00\": \"Emoji: Grinning Face\",\n  \"\\u0080\": \"Control\",\n"
        "  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\"\n}";
    const char *expected =
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\",\"\xc3\xb6\":\"Latin Small Letter O With "
        "Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
        "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}";
    g_autofree char *out = canon_text(input);

    g_assert_cmpstr(out, ==, expected);
}

static char *
canon_double(double v, GError **error)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_VALUE);

    json_node_set_double(node, v);
    return cv_jcs_serialize(node, error);
}

static double
from_bits(guint64 bits)
{
    double v;

    memcpy(&v, &bits, sizeof v);
    return v;
}

/* RFC 8785 Appendix B: IEEE 754 bit patterns and the text each must become */
static void
test_rfc_numbers(void)
{
    static const struct { guint64 bits; const char *text; } table[] = {
        { 0x0000000000000000, "0" },
        { 0x8000000000000000, "0" },
        { 0x0000000000000001, "5e-324" },
        { 0x8000000000000001, "-5e-324" },
        { 0x7fefffffffffffff, "1.7976931348623157e+308" },
        { 0xffefffffffffffff, "-1.7976931348623157e+308" },
        { 0x4340000000000000, "9007199254740992" },
        { 0xc340000000000000, "-9007199254740992" },
        { 0x4430000000000000, "295147905179352830000" },
        { 0x44b52d02c7e14af5, "9.999999999999997e+22" },
        { 0x44b52d02c7e14af6, "1e+23" },
        { 0x44b52d02c7e14af7, "1.0000000000000001e+23" },
        { 0x444b1ae4d6e2ef4e, "999999999999999700000" },
        { 0x444b1ae4d6e2ef4f, "999999999999999900000" },
        { 0x444b1ae4d6e2ef50, "1e+21" },
        { 0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7" },
        { 0x3eb0c6f7a0b5ed8d, "0.000001" },
        { 0x41b3de4355555553, "333333333.3333332" },
        { 0x41b3de4355555554, "333333333.33333325" },
        { 0x41b3de4355555555, "333333333.3333333" },
        { 0x41b3de4355555556, "333333333.3333334" },
        { 0x41b3de4355555557, "333333333.33333343" },
        { 0xbecbf647612f3696, "-0.0000033333333333333333" },
        { 0x43143ff3c1cb0959, "1424953923781206.2" },
    };
    /* Appendix B's NaN and Infinity: an error, never text */
    static const guint64 refused[] = { 0x7fffffffffffffff, 0x7ff0000000000000, 0xfff0000000000000 };

    for (gsize i = 0; i < G_N_ELEMENTS(table); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *out = canon_double(from_bits(table[i].bits), &error);

        g_assert_no_error(error);
        g_assert_cmpstr(out, ==, table[i].text);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *out = canon_double(from_bits(refused[i]), &error);

        g_assert_null(out);
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, "NaN or infinite"));
    }
}

/* json-glib reads an integer as int64: it is the same number as the double, and past 2^53 it is the
 * double a JavaScript reader would hold (ties to even) */
static void
test_integers(void)
{
    static const struct { const char *json, *text; } table[] = {
        { "[0,-0,1,-1,100,1.0,1e2,100.0]", "[0,0,1,-1,100,1,100,100]" },
        { "[9007199254740993]", "[9007199254740992]" },
        { "[9007199254740995]", "[9007199254740996]" },
        { "[9223372036854775807,-9223372036854775808]", "[9223372036854776000,-9223372036854776000]" },
        { "[1e21,1.23456789012345678901e20]", "[1e+21,123456789012345680000]" },
        { "[0.1,1e-7,0.000001,-1.5e-10,5e-324]", "[0.1,1e-7,0.000001,-1.5e-10,5e-324]" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(table); i++) {
        g_autofree char *out = canon_text(table[i].json);

        g_assert_cmpstr(out, ==, table[i].text);
    }
}

/* JSON.stringify's escapes and nothing else: U+007F, U+2028 and '/' stay as they are */
static void
test_strings(void)
{
    g_autofree char *out = canon_text("[\"x\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \\u007f\\u2028/\\\\\\\"\"]");

    g_assert_cmpstr(out, ==, "[\"x\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \x7f\xe2\x80\xa8/\\\\\\\"\"]");
}

static void
test_refused(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) str = json_node_new(JSON_NODE_VALUE);
    g_autoptr(JsonNode) deep = json_node_new(JSON_NODE_ARRAY);
    g_autoptr(JsonObject) obj = json_object_new();
    g_autoptr(JsonNode) named = json_node_new(JSON_NODE_OBJECT);
    JsonArray *inner;
    guint8 sum[32] = { 0 }, zero[32] = { 0 };
    char *out;

    /* a lone surrogate cannot be in valid UTF-8, so a string built with one (CESU) is refused */
    json_node_set_string(str, "a\xed\xa0\x80");
    g_assert_null((out = cv_jcs_serialize(str, &error)));
    g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_false(cv_jcs_sha256(str, sum, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    g_assert_cmpmem(sum, 32, zero, 32);
    g_clear_error(&error);

    json_object_set_int_member(obj, "\xff", 1);
    json_node_take_object(named, g_steal_pointer(&obj));
    g_assert_null((out = cv_jcs_serialize(named, &error)));
    g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    g_clear_error(&error);

    /* deeper than any text cv_json_parse() passes */
    json_node_take_array(deep, json_array_new());
    inner = json_node_get_array(deep);
    for (int i = 0; i < CV_JSON_MAX_DEPTH; i++) {
        JsonArray *next = json_array_new();

        json_array_add_array_element(inner, next);
        inner = next;
    }
    g_assert_null((out = cv_jcs_serialize(deep, &error)));
    g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
}

static void
test_sha256(void)
{
    g_autoptr(JsonNode) a = cv_json_parse("{\"b\": [1, 2.0], \"a\": \"x\"}", -1, NULL);
    g_autoptr(JsonNode) b = cv_json_parse("{\"a\":\"x\",\"b\":[1,2]}", -1, NULL);
    const char *canonical = "{\"a\":\"x\",\"b\":[1,2]}";
    g_autoptr(GBytes) expect = cv_digest("SHA256", canonical, strlen(canonical), NULL);
    guint8 da[32], db[32];

    g_assert_true(cv_jcs_sha256(a, da, NULL));
    g_assert_true(cv_jcs_sha256(b, db, NULL));
    g_assert_cmpmem(da, 32, g_bytes_get_data(expect, NULL), 32);
    g_assert_cmpmem(db, 32, da, 32);
}

/* canonical(parse(canonical(x))) == canonical(x), and the text reads back as the same double, for
 * doubles drawn over every exponent */
static void
test_round_trip(void)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(8785);

    for (int i = 0; i < 20000; i++) {
        guint64 bits = ((guint64) g_rand_int(rand) << 32) | g_rand_int(rand);
        double v = from_bits(bits);
        g_autofree char *once = NULL, *json = NULL, *twice = NULL;

        if (!isfinite(v))
            continue;
        once = canon_double(v, NULL);
        g_assert_nonnull(once);
        g_assert_cmpfloat(g_ascii_strtod(once, NULL), ==, v);
        json = g_strdup_printf("[%s]", once);
        /* from 2^63 to 1e21 the canonical form is an integer that cv_json_parse() refuses (json-glib
         * would wrap it): nothing covirt hashes holds one */
        if (fabs(v) >= 0x1p63 && fabs(v) < 1e21) {
            g_assert_null(strchr(once, 'e'));
            g_assert_null(cv_json_parse(json, -1, NULL));
            continue;
        }
        twice = canon_text(json);
        twice[strlen(twice) - 1] = '\0';
        g_assert_cmpstr(twice + 1, ==, once);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/jcs/rfc-sample", test_rfc_sample);
    g_test_add_func("/jcs/rfc-sorting", test_rfc_sorting);
    g_test_add_func("/jcs/rfc-numbers", test_rfc_numbers);
    g_test_add_func("/jcs/integers", test_integers);
    g_test_add_func("/jcs/strings", test_strings);
    g_test_add_func("/jcs/refused", test_refused);
    g_test_add_func("/jcs/sha256", test_sha256);
    g_test_add_func("/jcs/round-trip", test_round_trip);
    return g_test_run();
}
