/* Reliability, part 5 (issue 14): hostile archives uploaded to covirt-agent as datasets to decompress —
 * entries with "..", absolute paths, symlinks and hardlinks out, devices and FIFOs, a huge sparse file,
 * zip and gzip bombs, deep nesting. Counts files that appear outside the agent's work dir (a scan of the
 * test's directory and the paths the entries aim at, before and after), 5xx answers, uploads over the
 * bound, what datasets/ keeps that is neither a file nor a directory, and whether the agent still serves. */
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <archive.h>
#include <archive_entry.h>
#include <glib/gstdio.h>
#include "agent-fixture.h"
#include "cv-error.h"
#include "rel-util.h"

#define UPLOAD_BOUND_S 60

typedef struct {
    const char *name;
    unsigned type;        /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, AE_IFBLK, AE_IFIFO; hardlink: AE_IFREG + link */
    const char *link;     /* symlink target or hardlink source */
    const char *data;
} Entry;

static char *dir;        /* the test's directory: work/ is the agent's, outside/ a bait beside it */
static GPtrArray *aims;  /* absolute paths entries aim at */

static void
write_archive(const char *path, gboolean zip, const Entry *entries, guint n)
{
    struct archive *a = archive_write_new();

    g_assert_cmpint(zip ? archive_write_set_format_zip(a) : archive_write_set_format_pax(a), ==, ARCHIVE_OK);
    g_assert_cmpint(archive_write_open_filename(a, path), ==, ARCHIVE_OK);
    for (guint i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        gsize len = entries[i].data ? strlen(entries[i].data) : 0;

        archive_entry_set_pathname(e, entries[i].name);
        archive_entry_set_filetype(e, entries[i].type);
        archive_entry_set_perm(e, entries[i].type == AE_IFDIR ? 0755 : 0644);
        if (entries[i].type == AE_IFLNK)
            archive_entry_set_symlink(e, entries[i].link);
        else if (entries[i].link)
            archive_entry_set_hardlink(e, entries[i].link);
        if (entries[i].type == AE_IFCHR || entries[i].type == AE_IFBLK)
            archive_entry_set_rdev(e, makedev(1, 3));
        archive_entry_set_size(e, len);
        g_assert_cmpint(archive_write_header(a, e), >=, ARCHIVE_WARN);
        /* libarchive drops a hardlink's data (0 written): the link alone is the attack then */
        if (len)
            g_assert_cmpint(archive_write_data(a, entries[i].data, len), ==, entries[i].link ? 0 : (la_ssize_t)len);
        archive_entry_free(e);
    }
    g_assert_cmpint(archive_write_close(a), ==, ARCHIVE_OK);
    archive_write_free(a);
}

/* one entry of `size` zero bytes, deflated (zip) or gzip'ed (a single .gz) */
static void
write_bomb(const char *path, gboolean zip, gsize size)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    g_autofree char *zeros = g_malloc0(1 << 20);

    if (zip) {
        archive_write_set_format_zip(a);
    } else {
        archive_write_set_format_raw(a);
        archive_write_add_filter_gzip(a);
    }
    g_assert_cmpint(archive_write_open_filename(a, path), ==, ARCHIVE_OK);
    archive_entry_set_pathname(e, "zeros.csv");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, size);
    g_assert_cmpint(archive_write_header(a, e), ==, ARCHIVE_OK);
    for (gsize done = 0; done < size; done += 1 << 20)
        g_assert_cmpint(archive_write_data(a, zeros, 1 << 20), ==, 1 << 20);
    archive_entry_free(e);
    g_assert_cmpint(archive_write_close(a), ==, ARCHIVE_OK);
    archive_write_free(a);
}

static void
aim(const char *path)
{
    g_ptr_array_add(aims, g_strdup(path));
}

/* the archives, in DIR/arch; their manifest entries into sets */
static void
make_archives(GArray *sets)
{
    g_autofree char *arch = g_build_filename(dir, "arch", NULL);
    g_autofree char *outside = g_build_filename(dir, "outside", NULL);
    g_autofree char *victim = g_build_filename(outside, "victim", NULL);
    /* from work/tmp/extract-XXXXXX: up three to DIR; many more climb to / */
    g_autofree char *up = g_strdup("../../../outside/pwned-dotdot");
    g_autofree char *deep_up = g_strdup_printf("%s/tmp/covirt-rel-pwned-%d", "../../../../../../../../../../../..",
                                               (int)getpid());
    g_autofree char *abs = g_build_filename(outside, "pwned-abs", NULL);
    g_autofree char *through = g_strdup("out/pwned-through-link");
    g_autoptr(GString) nest = g_string_new(NULL);
    g_autofree char *sparse = g_build_filename(arch, "sparse", NULL);
    g_autofree char *cmd = NULL;

    g_assert_cmpint(g_mkdir_with_parents(arch, 0700), ==, 0);
    g_assert_cmpint(g_mkdir_with_parents(outside, 0700), ==, 0);
    g_assert_true(g_file_set_contents(victim, "untouched\n", -1, NULL));
    aim(abs);
    aim(victim);
    g_ptr_array_add(aims, g_build_filename(outside, "pwned-dotdot", NULL));
    g_ptr_array_add(aims, g_strdup_printf("/tmp/covirt-rel-pwned-%d", (int)getpid()));
    g_ptr_array_add(aims, g_build_filename(outside, "pwned-through-link", NULL));
    for (int i = 0; i < 3000; i++)
        g_string_append(nest, "d/");
    g_string_append(nest, "deep.csv");
    {
        const Entry dotdot[] = { { "ok.csv", AE_IFREG, NULL, "x\n1\n" }, { up, AE_IFREG, NULL, "pwned\n" },
                                 { deep_up, AE_IFREG, NULL, "pwned\n" } };
        const Entry absolute[] = { { abs, AE_IFREG, NULL, "pwned\n" } };
        const Entry symlink_out[] = { { "out", AE_IFLNK, outside, NULL }, { through, AE_IFREG, NULL, "pwned\n" } };
        const Entry symlink_only[] = { { "passwd", AE_IFLNK, "/etc/passwd", NULL } };
        const Entry hardlink_out[] = { { "hl", AE_IFREG, victim, "overwritten\n" } };
        const Entry devices[] = { { "null", AE_IFCHR, NULL, NULL }, { "blk", AE_IFBLK, NULL, NULL },
                                  { "fifo", AE_IFIFO, NULL, NULL } };
        const Entry nested[] = { { nest->str, AE_IFREG, NULL, "x\n1\n" } };
        const Entry dup[] = { { "dup.csv", AE_IFREG, NULL, "x\n1\n" }, { "dup.csv", AE_IFLNK, "/etc/shadow", NULL } };
        const struct {
            const char *name;
            gboolean zip;
            const Entry *e;
            guint n;
        } all[] = {
            { "dotdot.tar", FALSE, dotdot, G_N_ELEMENTS(dotdot) }, { "dotdot.zip", TRUE, dotdot, G_N_ELEMENTS(dotdot) },
            { "abs.tar", FALSE, absolute, 1 }, { "abs.zip", TRUE, absolute, 1 },
            { "symlink.tar", FALSE, symlink_out, 2 }, { "symlink.zip", TRUE, symlink_out, 2 },
            { "passwd.tar", FALSE, symlink_only, 1 }, { "hardlink.tar", FALSE, hardlink_out, 1 },
            { "devices.tar", FALSE, devices, 3 }, { "nested.tar", FALSE, nested, 1 }, { "dup.tar", FALSE, dup, 2 },
        };

        for (guint i = 0; i < G_N_ELEMENTS(all); i++) {
            RelDataset s = { all[i].name, g_build_filename(arch, all[i].name, NULL) };

            write_archive(s.file, all[i].zip, all[i].e, all[i].n);
            g_array_append_val(sets, s);
        }
    }
    {
        const char *const bombs[] = { "bomb.zip", "bomb.csv.gz" };

        for (guint i = 0; i < G_N_ELEMENTS(bombs); i++) {
            RelDataset s = { bombs[i], g_build_filename(arch, bombs[i], NULL) };

            write_bomb(s.file, i == 0, (gsize)200 << 20);
            g_array_append_val(sets, s);
        }
    }
    /* 20 GiB, one byte of it data: GNU tar's sparse format */
    cmd = g_strdup_printf("cd '%s' && truncate -s 20G sparse && tar -S -cf sparse.tar sparse && rm sparse", arch);
    g_assert_cmpint(system(cmd), ==, 0);
    {
        RelDataset s = { "sparse.tar", g_build_filename(arch, "sparse.tar", NULL) };

        g_array_append_val(sets, s);
    }
}

/* every path under root, work/ left out */
static void
scan(const char *root, const char *skip, GHashTable *seen)
{
    g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(root, name, NULL);

        if (strcmp(p, skip) == 0)
            continue;
        g_hash_table_add(seen, g_strdup(p));
        if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
            scan(p, skip, seen);
    }
}

/* entries of datasets/ that are neither regular files nor directories */
static guint
odd_entries(const char *root)
{
    g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
    const char *name;
    guint n = 0;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(root, name, NULL);
        struct stat st;

        if (lstat(p, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            n += odd_entries(p);
        else if (!S_ISREG(st.st_mode))
            n++;
    }
    return n;
}

static void
test_archives(void)
{
    g_autoptr(GArray) sets = g_array_new(FALSE, FALSE, sizeof(RelDataset));
    g_autofree char *work = g_build_filename(dir, "work", NULL);
    g_autofree char *datasets = g_build_filename(work, "datasets", NULL);
    g_autofree char *manifest = NULL, *url = NULL, *algo_key = NULL, *data_key = NULL, *victim = NULL;
    g_autoptr(GHashTable) before = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GHashTable) after = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GSubprocess) agent = NULL;
    g_autoptr(CvAgentClient) owner = NULL, data = NULL;
    guint outside = 0, fivexx = 0, hangs = 0, kept = 0, refused = 0, silent = 0, crashes = 0;
    GHashTableIter it;
    gpointer key;

    make_archives(sets);
    manifest = rel_agent_manifest(dir, (const RelDataset *)sets->data, sets->len);
    {
        const AgentTestStart how = { manifest, NULL, NULL, NULL };

        agent = agent_test_spawn(dir, work, &how, &url);
    }
    algo_key = g_build_filename(dir, "algo.key", NULL);
    data_key = g_build_filename(dir, "data.key", NULL);
    owner = agent_test_client(url, algo_key);
    data = agent_test_client(url, data_key);
    {
        g_autofree char *algo = g_build_filename(dir, "algo.bin", NULL);

        agent_test_upload_ok(owner, "/v1/algorithm", algo);
    }
    scan(dir, work, before);
    for (guint i = 0; i < sets->len; i++) {
        const RelDataset *s = &g_array_index(sets, RelDataset, i);
        g_autofree char *path = g_strconcat("/v1/datasets/", s->name, NULL);
        g_autoptr(GError) error = NULL;
        gint64 start = g_get_monotonic_time();
        g_autoptr(JsonNode) r = cv_agent_client_upload(data, path, s->file, NULL, NULL, &error);
        gint64 took = (g_get_monotonic_time() - start) / G_USEC_PER_SEC;

        g_print("  %s: %s (%" G_GINT64_FORMAT " s)\n", s->name, r ? "kept" : error->message, took);
        hangs += took > UPLOAD_BOUND_S;
        if (!r && (error->domain != CV_ERROR || cv_error_http_status(error) >= 500)) {
            /* a refusal that is not an HTTP answer (the connection dropped) counts as a 5xx too */
            fivexx++;
        }
        refused += !r;
        silent += !r && !*error->message;
        /* the agent keeps serving between uploads */
        if (!rel_alive(agent)) {
            crashes++;
            break;
        }
        g_free(agent_test_state(url));
    }
    scan(dir, work, after);
    g_hash_table_iter_init(&it, after);
    while (g_hash_table_iter_next(&it, &key, NULL))
        if (!g_hash_table_contains(before, key)) {
            g_print("  outside the work dir: %s\n", (char *)key);
            outside++;
        }
    for (guint i = 0; i < aims->len; i++) {
        const char *p = g_ptr_array_index(aims, i);

        if (g_file_test(p, G_FILE_TEST_EXISTS) && !g_hash_table_contains(before, p) &&
            !g_hash_table_contains(after, p)) {
            g_print("  outside the work dir: %s\n", p);
            outside++;
        }
    }
    victim = g_build_filename(dir, "outside", "victim", NULL);
    {
        g_autofree char *text = NULL;

        g_assert_true(g_file_get_contents(victim, &text, NULL, NULL));
        outside += strcmp(text, "untouched\n") != 0;
    }
    kept = odd_entries(datasets);
    {
        const char *const names[] = { "outside", "5xx", "hangs", "kept_links_or_devices", "crashes" };
        const guint counts[] = { outside, fivexx, hangs, kept, crashes };

        g_print("reliability: agent-archives refused=%u\n", refused);
        g_assert_true(rel_summary("agent-archives", "uploads", sets->len, names, counts, G_N_ELEMENTS(counts)));
    }
    g_assert_cmpuint(silent, ==, 0);
    g_assert_true(crashes || rel_stop(agent, 30));
    for (guint i = 0; i < sets->len; i++)
        g_free((char *)g_array_index(sets, RelDataset, i).file);
}

int
main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    if (!g_getenv("AGENT_BIN")) {
        g_printerr("run through meson test (AGENT_BIN)\n");
        return 77;
    }
    dir = g_dir_make_tmp("covirt-rel-archives-XXXXXX", NULL);
    aims = g_ptr_array_new_with_free_func(g_free);
    g_test_add_func("/reliability/archives", test_archives);
    rc = g_test_run();
    for (guint i = 0; i < aims->len; i++)
        if (g_str_has_prefix(g_ptr_array_index(aims, i), "/tmp/covirt-rel-pwned-"))
            g_unlink(g_ptr_array_index(aims, i));
    rel_rm_rf(dir);
    g_ptr_array_unref(aims);
    g_free(dir);
    return rc;
}
