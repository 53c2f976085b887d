/* Every ```json block of every markdown file in docs/ is what its marker, the line right above it, says it is, and the
 * parser of that kind agrees:
 *   <!-- example: manifest|spec|policy|json [note] -->      accepted (json: RFC 8259 only)
 *   <!-- counter-example: KIND: MESSAGE -->                 refused, with MESSAGE in the error
 * A block without a marker fails, so an example cannot rot unnoticed (issue 13: docs/cvm-spec.md's
 * example was itself refused). */
#include <string.h>
#include "cvm-spec.h"
#include "manifest.h"
#include "policy.h"
#include "cv-util.h"

typedef struct {
    char *where;      /* FILE:LINE of the fence */
    char *marker;     /* the line above it */
    char *text;
} Block;

static const char *docs_dir;

static void
block_free(gpointer p)
{
    Block *b = p;

    g_free(b->where);
    g_free(b->marker);
    g_free(b->text);
    g_free(b);
}

static void
collect(const char *name, GPtrArray *blocks)
{
    g_autofree char *path = g_build_filename(docs_dir, name, NULL);
    g_autofree char *doc = NULL;
    g_auto(GStrv) lines = NULL;

    g_assert_true(g_file_get_contents(path, &doc, NULL, NULL));
    lines = g_strsplit(doc, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        Block *b;
        g_autoptr(GString) text = g_string_new(NULL);
        guint j;

        if (strcmp(g_strstrip(lines[i]), "```json") != 0)
            continue;
        for (j = i + 1; lines[j] && strcmp(lines[j], "```") != 0; j++)
            g_string_append_printf(text, "%s\n", lines[j]);
        b = g_new0(Block, 1);
        b->where = g_strdup_printf("%s:%u", name, i + 1);
        b->marker = g_strdup(i > 0 ? lines[i - 1] : "");
        b->text = g_string_free(g_steal_pointer(&text), FALSE);
        g_ptr_array_add(blocks, b);
        i = lines[j] ? j : j - 1;
    }
}

/* what the kind's parser says of the text: TRUE, or FALSE and the error */
static gboolean
parse_as(const char *kind, const char *text, GError **error)
{
    if (strcmp(kind, "manifest") == 0) {
        g_autoptr(CvManifest) m = cv_manifest_parse(text, strlen(text), error);
        return m != NULL;
    }
    if (strcmp(kind, "spec") == 0) {
        const char *const env[] = { "MANAGER_DOMAIN_TYPE=qemu", NULL };
        g_autoptr(CvDefaults) d = cv_defaults_new(env, "/dev/null", error);
        g_autoptr(CvCvmSpec) s = d ? cv_cvm_spec_from_data(text, -1, d, error) : NULL;
        return s != NULL;
    }
    if (strcmp(kind, "policy") == 0) {
        g_autoptr(JsonNode) p = cv_attest_policy_parse(text, -1, NULL, docs_dir, error);
        return p != NULL;
    }
    if (strcmp(kind, "json") == 0) {
        g_autoptr(JsonNode) n = cv_json_parse(text, -1, error);
        return n != NULL;
    }
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "unknown kind '%s' (manifest, spec, policy, json)", kind);
    return FALSE;
}

static void
test_block(gconstpointer data)
{
    const Block *b = data;
    g_autoptr(GRegex) re = g_regex_new("^<!-- (example|counter-example): ([a-z]+)(?:: (.*?))?(?: \\(.*\\))? -->$",
                                       0, 0, NULL);
    g_autoptr(GMatchInfo) mi = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *what = NULL, *kind = NULL, *expect = NULL;
    gboolean ok;

    if (!g_regex_match(re, b->marker, 0, &mi)) {
        g_test_message("%s: a ```json block needs a marker on the line above it, such as "
                       "<!-- example: manifest --> (tests/docs/test-docs-json.c); found '%s'", b->where, b->marker);
        g_test_fail();
        return;
    }
    what = g_match_info_fetch(mi, 1);
    kind = g_match_info_fetch(mi, 2);
    expect = g_match_info_fetch(mi, 3);
    ok = parse_as(kind, b->text, &error);
    if (strcmp(what, "example") == 0) {
        if (!ok)
            g_test_message("%s: the %s example is refused: %s", b->where, kind, error->message);
        g_assert_no_error(error);
        g_assert_true(ok);
    } else {
        g_assert_false(ok);
        g_assert_nonnull(error);
        g_test_message("%s: refused as it says: %s", b->where, error->message);
        g_assert_true(expect && *expect);
        g_assert_nonnull(strstr(error->message, expect));
    }
}

int
main(int argc, char **argv)
{
    g_autoptr(GPtrArray) blocks = g_ptr_array_new_with_free_func(block_free);
    g_autoptr(GDir) dir = NULL;
    const char *name;

    g_test_init(&argc, &argv, NULL);
    g_assert_cmpint(argc, ==, 2);
    docs_dir = argv[1];
    dir = g_dir_open(docs_dir, 0, NULL);
    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir)))
        if (g_str_has_suffix(name, ".md"))
            collect(name, blocks);
    /* docs/manifest.md (two), cvm-spec.md (an example and a counter-example) and evidence.md at least */
    g_assert_cmpuint(blocks->len, >=, 5);
    for (guint i = 0; i < blocks->len; i++) {
        Block *b = g_ptr_array_index(blocks, i);
        g_autofree char *test = g_strdup_printf("/docs-json/%s", b->where);

        g_test_add_data_func(test, b, test_block);
    }
    return g_test_run();
}
