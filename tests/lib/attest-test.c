#include "attest-test.h"
#include "cv-util.h"

#include <stdarg.h>
#include <stdlib.h>

void
attest_test_init(int *argc, char ***argv)
{
    g_test_init(argc, argv, NULL);
    if (!g_getenv("COVIRT_TESTVECTORS")) {
        g_printerr("COVIRT_TESTVECTORS is not set\n");
        exit(1);
    }
}

GBytes *
attest_test_vector(const char *relative_path)
{
    const char *vectors = g_getenv("COVIRT_TESTVECTORS");
    g_autofree char *path = NULL;
    g_autoptr(GError) error = NULL;
    GBytes *b;

    g_assert_nonnull(vectors);
    path = g_build_filename(vectors, relative_path, NULL);
    b = cv_read_file(path, 1 << 20, &error);
    g_assert_no_error(error);
    return b;
}

JsonObject *
attest_test_policy_object(const char *json)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) n = cv_json_parse(json, -1, &error);

    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(n));
    return json_object_ref(json_node_get_object(n));
}

void
attest_test_assert_status(CvAttestVerdict *v, const char *name, CvAttestStatus status)
{
    const CvAttestCheck *c = cv_attest_verdict_find(v, name);

    if (!c || c->status != status) {
        g_autofree char *text = cv_attest_verdict_to_text(v);
        g_printerr("%s", text);
    }
    g_assert_nonnull(c);
    g_assert_cmpstr(cv_attest_status_to_string(c->status), ==, cv_attest_status_to_string(status));
}

char *
attest_test_fill(const char *template, ...)
{
    GString *s = g_string_new(template);
    const char *name;
    va_list ap;

    va_start(ap, template);
    while ((name = va_arg(ap, const char *))) {
        g_autofree char *key = g_strdup_printf("@%s@", name);
        g_string_replace(s, key, va_arg(ap, const char *), 0);
    }
    va_end(ap);
    return g_string_free(s, FALSE);
}
