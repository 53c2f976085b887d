#include <string.h>
#include <sys/stat.h>
#include <glib/gstdio.h>
#include "cv-util.h"
#include "cv-enum.h"
#include "cv-json.h"

static void
test_size(void)
{
    static const struct { const char *in; guint64 out; } good[] = {
        { "2048M", 2048ULL << 20 }, { "4G", 4ULL << 30 }, { "512k", 512ULL << 10 }, { "1073741824", 1ULL << 30 },
        { "2GiB", 2ULL << 30 },
    };
    static const char *const bad[] = { "12XB", "", "M", "-1G", "0", "0M", "1.5G", "99999999999999999999G",
                                       "17179869184T", "4 G", "4G " };
    for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
        guint64 v = 0;
        g_assert_true(cv_parse_size(good[i].in, &v, NULL));
        g_assert_cmpuint(v, ==, good[i].out);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        guint64 v = 42;
        g_autoptr(GError) e = NULL;
        g_assert_false(cv_parse_size(bad[i], &v, &e));
        g_assert_error(e, CV_ERROR, CV_ERROR_INVALID);
        g_assert_cmpuint(v, ==, 42); /* output untouched on failure */
    }
}

static void
test_duration(void)
{
    guint64 v = 0;
    g_assert_true(cv_parse_duration("90s", &v, NULL));
    g_assert_cmpuint(v, ==, 90);
    g_assert_true(cv_parse_duration("1h", &v, NULL));
    g_assert_cmpuint(v, ==, 3600);
    g_assert_true(cv_parse_duration("2d", &v, NULL));
    g_assert_cmpuint(v, ==, 172800);
    g_assert_false(cv_parse_duration("1y", &v, NULL));
    g_assert_false(cv_parse_duration("0s", &v, NULL));
    g_assert_false(cv_parse_duration("h", &v, NULL));
    g_assert_false(cv_parse_duration("99999999999h", &v, NULL));
}

static void
test_hex_base64(void)
{
    g_autoptr(GBytes) b = cv_hex_decode("00ff10", NULL);
    g_autofree char *h = NULL;
    g_autoptr(GBytes) d = NULL;
    guint64 v = 0;

    g_assert_cmpuint(g_bytes_get_size(b), ==, 3);
    h = cv_hex_encode(g_bytes_get_data(b, NULL), 3);
    g_assert_cmpstr(h, ==, "00ff10");
    g_assert_null(cv_hex_decode("abc", NULL));
    g_assert_null(cv_hex_decode("zz", NULL));
    d = cv_base64_decode_strict("aGVsbG8=", NULL);
    g_assert_cmpmem(g_bytes_get_data(d, NULL), g_bytes_get_size(d), "hello", 5);
    g_assert_null(cv_base64_decode_strict("aGVsbG8", NULL));
    g_assert_null(cv_base64_decode_strict("aGV sbG8=", NULL));
    g_assert_null(cv_base64_decode_strict("a=GVsbG8", NULL));
    g_assert_true(cv_parse_hex_or_uint("0x30000", &v, NULL));
    g_assert_cmpuint(v, ==, 0x30000);
    g_assert_false(cv_parse_hex_or_uint("0xzz", &v, NULL));
    g_assert_false(cv_parse_hex_or_uint("zz", &v, NULL));
}

static void
test_digest(void)
{
    g_autofree char *sha256 = cv_digest_hex("SHA256", "abc", 3, NULL);
    g_autofree char *sha3 = cv_digest_hex("SHA3-256", "abc", 3, NULL);
    g_autofree char *dir = g_dir_make_tmp("cvtest-XXXXXX", NULL);
    g_autofree char *f = g_build_filename(dir, "f", NULL);
    g_autofree char *fsha3 = NULL;

    /* FIPS 180-2 / FIPS 202 test vectors for "abc" */
    g_assert_cmpstr(sha256, ==, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    g_assert_cmpstr(sha3, ==, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
    g_assert_true(g_file_set_contents(f, "abc", 3, NULL));
    fsha3 = cv_file_digest_hex("SHA3-256", f, NULL);
    g_assert_cmpstr(fsha3, ==, sha3);
    g_assert_null(cv_file_digest_hex("SHA3-256", "/nonexistent/x", NULL));
    g_unlink(f);
    g_rmdir(dir);
}

static void
test_write_file_mode(void)
{
    g_autofree char *dir = g_dir_make_tmp("cvtest-XXXXXX", NULL);
    g_autofree char *f = g_build_filename(dir, "key.pem", NULL);
    g_autoptr(GBytes) back = NULL;
    struct stat st;

    g_assert_true(cv_write_file(f, "secret", 6, 0600, NULL));
    g_assert_cmpint(stat(f, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    back = cv_read_file(f, 16, NULL);
    g_assert_cmpmem(g_bytes_get_data(back, NULL), g_bytes_get_size(back), "secret", 6);
    g_assert_null(cv_read_file(f, 3, NULL));
    g_unlink(f);
    g_rmdir(dir);
}

/* what users see of each code: the status a server answers, the name in its JSON body, the CLI's exit code */
static const struct {
    CvErrorCode code;
    guint status;
    const char *name;
    int exit_code;
} error_codes[] = {
    { CV_ERROR_INTERNAL, 500, "internal", 1 },
    { CV_ERROR_INVALID, 400, "invalid", 2 },
    { CV_ERROR_NOT_FOUND, 404, "not_found", 4 },
    { CV_ERROR_CONFLICT, 409, "conflict", 5 },
    { CV_ERROR_TOO_LARGE, 413, "too_large", 1 },
    { CV_ERROR_UNAUTHORIZED, 401, "unauthorized", 6 },
    { CV_ERROR_FORBIDDEN, 403, "forbidden", 6 },
    { CV_ERROR_UNAVAILABLE, 503, "unavailable", 7 },
    { CV_ERROR_IO, 500, "io", 1 },
    { CV_ERROR_VERIFY, 422, "verification_failed", 3 },
    { CV_ERROR_TPM, 500, "tpm", 1 },
    { CV_ERROR_NOT_SUPPORTED, 501, "not_supported", 7 },
};

static void
test_error_mapping(void)
{
    g_autoptr(GError) other = g_error_new(G_IO_ERROR, G_IO_ERROR_FAILED, "x");
    g_autoptr(GError) out_of_range = g_error_new(CV_ERROR, CV_ERROR_CODE_END, "x");

    /* every code, in order: a code added without a row here fails */
    g_assert_cmpuint(G_N_ELEMENTS(error_codes), ==, CV_ERROR_CODE_END - CV_ERROR_INTERNAL);
    for (gsize i = 0; i < G_N_ELEMENTS(error_codes); i++) {
        CvErrorCode c = error_codes[i].code;
        g_autoptr(GError) e = g_error_new(CV_ERROR, c, "x");
        guint status = cv_error_http_status(e);
        g_autoptr(GError) back = g_error_new(CV_ERROR, cv_error_code_from_http_status(status, CV_ERROR_CODE_END), "x");

        g_assert_cmpint(c, ==, CV_ERROR_INTERNAL + (int)i);
        g_assert_cmpuint(status, ==, error_codes[i].status);
        g_assert_cmpstr(cv_error_code_name(e), ==, error_codes[i].name);
        g_assert_cmpint(cv_error_exit_code(e), ==, error_codes[i].exit_code);
        /* what a server answers for a code, a client reads back as that code; 500 stands for
         * several codes and so for none */
        if (status == 500)
            g_assert_cmpint(back->code, ==, CV_ERROR_CODE_END);
        else
            g_assert_cmpint(back->code, ==, c);
    }
    g_assert_cmpuint(cv_error_http_status(other), ==, 500);
    g_assert_cmpstr(cv_error_code_name(other), ==, "internal");
    g_assert_cmpint(cv_error_exit_code(other), ==, 1);
    g_assert_cmpuint(cv_error_http_status(out_of_range), ==, 500);
    g_assert_cmpint(cv_error_code_from_http_status(418, CV_ERROR_INTERNAL), ==, CV_ERROR_INTERNAL);
    g_assert_cmpint(cv_error_code_from_http_status(200, CV_ERROR_IO), ==, CV_ERROR_IO);
}

/* every getter on a member of each JSON type: only its own type is read; another type, or a missing
 * required member, is an error naming the member; null and absent optional members leave *out alone */
static void
test_json_members(void)
{
    g_autoptr(JsonNode) root = cv_json_parse("{\"s\":\"x\",\"i\":7,\"b\":true,\"o\":{},\"a\":[{},1],"
                                             "\"d\":1.5,\"n\":null}", -1, NULL);
    JsonObject *o = json_node_get_object(root);
    static const char *const members[] = { "s", "i", "b", "o", "a", "d", "n", "absent" };

    for (gsize k = 0; k < G_N_ELEMENTS(members); k++) {
        const char *m = members[k];
        gboolean absent = strcmp(m, "n") == 0 || strcmp(m, "absent") == 0;

        for (int required = 0; required < 2; required++) {
            const char *s = "keep";
            gint64 i = -1;
            gboolean b = FALSE;
            JsonObject *obj = NULL;
            JsonArray *arr = NULL;
            g_autoptr(GError) es = NULL, ei = NULL, eb = NULL, eo = NULL, ea = NULL;
            gboolean okay = absent && !required;

            g_assert_cmpint(cv_json_member_string(o, m, required, &s, &es), ==, okay || strcmp(m, "s") == 0);
            g_assert_cmpint(cv_json_member_int(o, m, required, &i, &ei), ==, okay || strcmp(m, "i") == 0);
            g_assert_cmpint(cv_json_member_bool(o, m, required, &b, &eb), ==, okay || strcmp(m, "b") == 0);
            g_assert_cmpint(cv_json_member_object(o, m, required, &obj, &eo), ==, okay || strcmp(m, "o") == 0);
            g_assert_cmpint(cv_json_member_array(o, m, required, &arr, &ea), ==, okay || strcmp(m, "a") == 0);
            g_assert_cmpstr(s, ==, strcmp(m, "s") == 0 ? "x" : "keep");
            g_assert_cmpint(i, ==, strcmp(m, "i") == 0 ? 7 : -1);
            g_assert_cmpint(b, ==, strcmp(m, "b") == 0);
            g_assert_true((obj != NULL) == (strcmp(m, "o") == 0));
            g_assert_true((arr != NULL) == (strcmp(m, "a") == 0));
            GError *errors[] = { es, ei, eb, eo, ea };
            for (gsize e = 0; e < G_N_ELEMENTS(errors); e++) {
                if (errors[e]) {
                    g_assert_error(errors[e], CV_ERROR, CV_ERROR_INVALID);
                    g_assert_true(g_str_has_prefix(errors[e]->message, m));
                }
            }
        }
    }
    g_assert_cmpstr(cv_json_member_string_or(o, "i", "-"), ==, "-");
    g_assert_cmpstr(cv_json_member_string_or(NULL, "s", "-"), ==, "-");
    g_assert_nonnull(cv_json_array_object(json_object_get_array_member(o, "a"), 0));
    g_assert_null(cv_json_array_object(json_object_get_array_member(o, "a"), 1));
    g_assert_null(cv_json_array_object(json_object_get_array_member(o, "a"), 2));
}

/* the manifest hash: indentation does not matter, values do */
static void
test_json_canonical_digest(void)
{
    g_autoptr(GBytes) a = cv_json_canonical_digest("SHA256", "{\"id\": \"c1\",\n  \"n\": [1, 2]}\n", -1, NULL);
    g_autoptr(GBytes) b = cv_json_canonical_digest("SHA256", "{\"id\":\"c1\",\"n\":[1,2]}", -1, NULL);
    g_autoptr(GBytes) c = cv_json_canonical_digest("SHA256", "{\"id\":\"c2\",\"n\":[1,2]}", -1, NULL);
    g_autoptr(GBytes) plain = cv_digest("SHA256", "{\"id\":\"c1\",\"n\":[1,2]}", 21, NULL);

    g_assert_nonnull(a);
    g_assert_true(g_bytes_equal(a, b));
    g_assert_false(g_bytes_equal(a, c));
    /* the compact form is exactly what json-glib writes, so it hashes like those bytes */
    g_assert_true(g_bytes_equal(b, plain));
    g_assert_null(cv_json_canonical_digest("SHA256", "{", -1, NULL));
}

typedef enum { FRUIT_APPLE, FRUIT_PEAR, FRUIT_COUNT } Fruit;
CV_ENUM_DECL(fruit, Fruit);
CV_ENUM_IMPL(fruit, Fruit, FRUIT_COUNT, "apple", "pear");

static void
test_enum(void)
{
    Fruit f = FRUIT_APPLE;
    g_assert_cmpstr(fruit_to_string(FRUIT_PEAR), ==, "pear");
    g_assert_null(fruit_to_string(FRUIT_COUNT));
    g_assert_null(fruit_to_string((Fruit)-1));
    g_assert_true(fruit_from_string("pear", &f));
    g_assert_cmpint(f, ==, FRUIT_PEAR);
    g_assert_false(fruit_from_string("plum", &f));
    g_assert_false(fruit_from_string(NULL, &f));
    g_assert_cmpint(f, ==, FRUIT_PEAR); /* untouched on failure */
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/common/size", test_size);
    g_test_add_func("/common/enum", test_enum);
    g_test_add_func("/common/duration", test_duration);
    g_test_add_func("/common/hex-base64", test_hex_base64);
    g_test_add_func("/common/digest", test_digest);
    g_test_add_func("/common/write-file-mode", test_write_file_mode);
    g_test_add_func("/common/error-mapping", test_error_mapping);
    g_test_add_func("/common/json-members", test_json_members);
    g_test_add_func("/common/json-canonical-digest", test_json_canonical_digest);
    return g_test_run();
}
