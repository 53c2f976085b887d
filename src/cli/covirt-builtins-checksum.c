/* covirt checksum: SHA3-256 of a file, or every hash of a manifest checked against files. */
#include "covirt-builtins.h"
#include "cv-util.h"
#include "manifest.h"

#include <stdio.h>
#include <string.h>

/* Compares one entry: prints a line, returns FALSE on a mismatch or a file that cannot be read. */
static gboolean
check_one(const char *what, const char *expected, const char *file, gboolean *checked)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *got = NULL;

    if (!file) {
        printf("%-8s %-30s not checked (no file given)\n", "SKIP", what);
        return TRUE;
    }
    *checked = TRUE;
    got = cv_file_digest_hex("SHA3-256", file, &error);
    if (!got) {
        printf("%-8s %-30s %s\n", "ERROR", what, error->message);
        return FALSE;
    }
    if (!expected || g_ascii_strcasecmp(got, expected) != 0) {
        printf("%-8s %-30s manifest %s, file %s has %s\n", "MISMATCH", what, expected ? expected : "(none)", file,
               got);
        return FALSE;
    }
    printf("%-8s %-30s %s\n", "OK", what, got);
    return TRUE;
}

static int
check_manifest(const char *path, const char *algorithm, char **files)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) data = cv_read_file(path, CV_MANIFEST_MAX, &error);
    g_autoptr(CvManifest) m = NULL;
    g_autofree char *hash = NULL;
    gboolean ok = TRUE, checked = FALSE;

    if (!data)
        return cv_cli_fail(error);
    /* the agent's parser: a manifest it would refuse is refused here, and Cocos's forms read as hex */
    if (!(m = cv_manifest_parse(g_bytes_get_data(data, NULL), g_bytes_get_size(data), &error))) {
        g_prefix_error(&error, "%s: ", path);
        return cv_cli_fail(error);
    }
    hash = cv_hex_encode(m->sha256, 32);
    printf("manifest %s\n  manifest hash %s (SHA-256 of its RFC 8785 form: the hash attestation binds)\n", path,
           hash);
    ok &= check_one("algorithm", m->algo_hash, algorithm, &checked);
    for (guint i = 0; i < m->datasets->len; i++) {
        const CvManifestDataset *d = g_ptr_array_index(m->datasets, i);
        g_autofree char *what = g_strdup_printf("dataset %s", d->filename);
        const char *file = NULL;

        /* a file given on the command line matches a dataset by its base name */
        for (char **f = files; f && *f; f++) {
            g_autofree char *base = g_path_get_basename(*f);
            if (strcmp(base, d->filename) == 0)
                file = *f;
        }
        ok &= check_one(what, d->hash, file, &checked);
    }
    for (char **f = files; f && *f; f++) {
        g_autofree char *base = g_path_get_basename(*f);

        if (!cv_manifest_find_dataset(m, base)) {
            printf("%-8s %-30s not in the manifest\n", "UNKNOWN", base);
            ok = FALSE;
        }
    }
    if (!ok) {
        g_set_error(&error, CV_ERROR, CV_ERROR_VERIFY, "the files do not match the manifest");
        return cv_cli_fail(error);
    }
    return 0;
}

int
cv_cli_checksum(int argc, char **argv)
{
    g_autofree char *manifest = NULL, *algorithm = NULL;
    g_auto(GStrv) files = NULL;
    GOptionEntry entries[] = {
        { "manifest", 'm', 0, G_OPTION_ARG_FILENAME, &manifest,
          "Print the manifest hash and check the manifest's hashes: the algorithm against --algorithm, datasets against "
          "FILEs by name", "FILE" },
        { "algorithm", 'a', 0, G_OPTION_ARG_FILENAME, &algorithm, "The algorithm file (with --manifest)", "FILE" },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL, NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("FILE… - SHA3-256 of files, as the manifest needs them");
    g_autoptr(GError) error = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_parse(ctx, "checksum", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (manifest)
        return check_manifest(manifest, algorithm, files);
    if (!files || !files[0])
        return cv_cli_usage("checksum", "give a FILE, or --manifest FILE");
    for (char **f = files; *f; f++) {
        g_autofree char *hex = cv_file_digest_hex("SHA3-256", *f, &error);
        if (!hex)
            return cv_cli_fail(error);
        printf("%s  %s\n", hex, *f);
    }
    return 0;
}
