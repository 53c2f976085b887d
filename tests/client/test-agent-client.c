/* The agent client's local parts, as `covirt data` and `covirt result` use them: the dataset path a file
 * name becomes, and unpacking a result zip, which must refuse entries that would land outside DIR. */
#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>
#include <archive.h>
#include <archive_entry.h>
#include "agent-client.h"
#include "cv-archive.h"
#include "cv-error.h"

static char *tmp;

static void
test_dataset_path(void)
{
    static const struct { const char *name, *path; } cases[] = {
        { "a.csv", "/v1/datasets/a.csv" },
        { "a b.csv", "/v1/datasets/a%20b.csv" },
        { "../x/y.csv", "/v1/datasets/..%2Fx%2Fy.csv" },
        { "d?q#f", "/v1/datasets/d%3Fq%23f" },
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *p = cv_agent_client_dataset_path(cases[i].name);
        g_assert_cmpstr(p, ==, cases[i].path);
    }
}

static void
write_file(const char *path, const char *text)
{
    g_autofree char *dir = g_path_get_dirname(path);

    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void
assert_file(const char *path, const char *text)
{
    g_autofree char *got = NULL;

    g_assert_true(g_file_get_contents(path, &got, NULL, NULL));
    g_assert_cmpstr(got, ==, text);
}

/* what the agent zips (results/, nested) is what `covirt result` unpacks */
static void
test_unpack_result(void)
{
    g_autofree char *results = g_build_filename(tmp, "results", NULL);
    g_autofree char *zip = g_build_filename(tmp, "result.zip", NULL);
    g_autofree char *out = g_build_filename(tmp, "out", NULL);
    g_autofree char *f1 = g_build_filename(results, "sums.csv", NULL);
    g_autofree char *f2 = g_build_filename(results, "sub", "model.txt", NULL);
    g_autofree char *g1 = g_build_filename(out, "sums.csv", NULL);
    g_autofree char *g2 = g_build_filename(out, "sub", "model.txt", NULL);
    g_autoptr(GError) error = NULL;

    write_file(f1, "a,b\n1,2\n");
    write_file(f2, "w=0.5\n");
    g_assert_true(cv_archive_zip_dir(results, zip, &error));
    g_assert_no_error(error);
    g_assert_true(cv_agent_client_unpack(zip, out, 0, &error));
    g_assert_no_error(error);
    assert_file(g1, "a,b\n1,2\n");
    assert_file(g2, "w=0.5\n");
}

/* one entry: a regular file of len bytes (text repeated), or a symlink to text when link */
static void
zip_entry(const char *zip, const char *name, const char *text, gsize len, gboolean link)
{
    struct archive *w = archive_write_new();
    struct archive_entry *e = archive_entry_new();

    g_assert_cmpint(archive_write_set_format_zip(w), ==, ARCHIVE_OK);
    g_assert_cmpint(archive_write_open_filename(w, zip), ==, ARCHIVE_OK);
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, link ? AE_IFLNK : AE_IFREG);
    archive_entry_set_perm(e, 0644);
    if (link)
        archive_entry_set_symlink(e, text);
    archive_entry_set_size(e, link ? 0 : len);
    g_assert_cmpint(archive_write_header(w, e), ==, ARCHIVE_OK);
    for (gsize done = 0; !link && done < len;) {
        gsize n = MIN(strlen(text), len - done);

        g_assert_cmpint(archive_write_data(w, text, n), ==, (la_ssize_t)n);
        done += n;
    }
    archive_entry_free(e);
    g_assert_cmpint(archive_write_close(w), ==, ARCHIVE_OK);
    archive_write_free(w);
}

static void
zip_one_entry(const char *zip, const char *name, const char *text)
{
    zip_entry(zip, name, text, strlen(text), FALSE);
}

static int
cmp_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* names in dir, sorted, joined by spaces: what a user sees with ls -A */
static char *
list_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    g_assert_nonnull(d);
    while ((name = g_dir_read_name(d)))
        g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, cmp_names);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(" ", (char **)names->pdata);
}

/* a hostile agent's zip bomb, link or clash: an error, and DIR holds what it held before */
static void
test_unpack_hostile_leaves_dir(void)
{
    g_autofree char *zip = g_build_filename(tmp, "hostile.zip", NULL);
    g_autofree char *out = g_build_filename(tmp, "hostile-out", NULL);
    g_autofree char *mine = g_build_filename(out, "mine.txt", NULL);
    struct { const char *name, *text; gsize len; gboolean link; guint64 max; int code; } cases[] = {
        { "bomb.bin", "0000000000000000", 8 << 20, FALSE, 1 << 20, CV_ERROR_TOO_LARGE },
        { "link", "/etc/passwd", 0, TRUE, 0, CV_ERROR_INVALID },
        { "mine.txt", "theirs\n", 7, FALSE, 0, CV_ERROR_CONFLICT },
    };

    write_file(mine, "mine\n");
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *listed = NULL;

        zip_entry(zip, cases[i].name, cases[i].text, cases[i].len, cases[i].link);
        g_assert_false(cv_agent_client_unpack(zip, out, cases[i].max, &error));
        g_assert_error(error, CV_ERROR, cases[i].code);
        listed = list_dir(out);
        g_assert_cmpstr(listed, ==, "mine.txt");
        assert_file(mine, "mine\n");
    }
}

/* a hostile agent's zip: nothing is written outside DIR */
static void
test_unpack_refuses_escape(void)
{
    static const char *const names[] = { "../escaped.txt", "a/../../escaped.txt" };
    g_autofree char *zip = g_build_filename(tmp, "evil.zip", NULL);
    g_autofree char *out = g_build_filename(tmp, "evil", "out", NULL);
    g_autofree char *escaped = g_build_filename(tmp, "evil", "escaped.txt", NULL);
    g_autofree char *abs_name = g_build_filename(tmp, "absolute.txt", NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autoptr(GError) error = NULL;

        zip_one_entry(zip, names[i], "x");
        g_assert_false(cv_agent_client_unpack(zip, out, 0, &error));
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
        g_assert_false(g_file_test(escaped, G_FILE_TEST_EXISTS));
    }
    {
        g_autoptr(GError) error = NULL;

        zip_one_entry(zip, abs_name, "x");
        g_assert_false(cv_agent_client_unpack(zip, out, 0, &error));
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
        g_assert_false(g_file_test(abs_name, G_FILE_TEST_EXISTS));
    }
}

int
main(int argc, char **argv)
{
    int rc;
    g_autofree char *rm = NULL;

    g_test_init(&argc, &argv, NULL);
    tmp = g_dir_make_tmp("covirt-client-XXXXXX", NULL);
    g_assert_nonnull(tmp);
    g_test_add_func("/client/dataset-path", test_dataset_path);
    g_test_add_func("/client/unpack-result", test_unpack_result);
    g_test_add_func("/client/unpack-refuses-escape", test_unpack_refuses_escape);
    g_test_add_func("/client/unpack-hostile-leaves-dir", test_unpack_hostile_leaves_dir);
    rc = g_test_run();
    rm = g_strdup_printf("rm -rf '%s'", tmp);
    if (system(rm) != 0)
        g_printerr("cannot remove %s\n", tmp);
    g_free(tmp);
    return rc;
}
