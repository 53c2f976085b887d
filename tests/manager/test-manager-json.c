/* What the manager makes of a request body that is not standard JSON, through the HTTP API on
 * test:///default: 100 KB of nesting hidden from a depth count behind a '"' in json-glib's
 * single-quoted strings or comments killed it (SIGSEGV); a \u0000 cut a CVM's name short. Each is
 * now a 400 with a JSON error naming the byte, and the manager goes on. */
#include <string.h>
#include "manager-harness.h"
#include "cv-util.h"

/* 100 KB of '[' after prefix: enough, unclosed, for json-glib to recurse past the stack's end */
static char *
deep(const char *prefix)
{
    GString *s = g_string_new(prefix);

    for (int k = 0; k < 100 * 1024; k++)
        g_string_append_c(s, '[');
    return g_string_free(s, FALSE);
}

static void
test_hostile_bodies(void)
{
    g_autoptr(CvTestManager) m = cv_test_manager_start(NULL);
    g_autofree char *quoted = deep("{\"name\":\"covirt-test-j\",\"x\":['\"',");
    g_autofree char *commented = deep("{\"name\":\"covirt-test-j\",\"x\":[/* \" */");
    const struct {
        const char *body;
        const char *message;
    } cases[] = {
        { quoted, "malformed JSON at byte 29: expected a value, found '''" },
        { commented, "malformed JSON at byte 29: expected a value, found '/'" },
        { "{\"name\":\"covirt-test-j\\u0000x\",\"memory\":\"256M\"}", "malformed JSON at byte 22: \\u0000 in a string" },
        { "{'name':'covirt-test-j','memory':'256M'}", "malformed JSON at byte 1:" },
        { "/* spec */ {\"name\":\"covirt-test-j\",\"memory\":\"256M\"}", "malformed JSON at byte 0:" },
        { "{\"name\":\"covirt-test-j\",\"memory\":\"256M\",}", "malformed JSON at byte 40:" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GBytes) raw = NULL;
        g_autoptr(JsonNode) e = NULL;
        JsonObject *err;
        guint status = cv_test_request(m, "POST", "/v1/cvms", "application/json", cases[i].body,
                                       strlen(cases[i].body), &raw);

        g_assert_cmpuint(status, ==, 400);
        e = cv_json_parse(g_bytes_get_data(raw, NULL), g_bytes_get_size(raw), NULL);
        g_assert_cmpstr(cv_test_error_code(e), ==, "invalid");
        err = json_object_get_object_member(json_node_get_object(e), "error");
        g_test_message("%s", json_object_get_string_member(err, "message"));
        g_assert_nonnull(strstr(json_object_get_string_member(err, "message"), cases[i].message));
        /* still serving */
        g_assert_cmpuint(cv_test_request(m, "GET", "/health", NULL, NULL, 0, NULL), ==, 200);
    }
    g_assert_cmpuint(cv_test_count(m), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager/json/hostile-bodies", test_hostile_bodies);
    return g_test_run();
}
