/* covirt checksum: SHA3-256 of a file, or every hash of a manifest checked against files. */
#include "covirt-builtins.h"
#include "cv-json.h"
#include "cv-util.h"

#include <stdio.h>
#include <string.h>
#include <json-glib/json-glib.h>

static const char *
member_string(JsonObject *o, const char *name)
{
    return cv_json_member_string_or(o, name, NULL);
}

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
    g_autoptr(GBytes) data = cv_read_file(path, 1024 * 1024, &error);
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *sha3 = NULL, *sha256 = NULL;
    JsonObject *o, *algo = NULL;
    JsonArray *datasets = NULL;
    gboolean ok = TRUE, checked = FALSE;

    if (!data)
        return cv_cli_fail(error);
    root = cv_json_parse(g_bytes_get_data(data, NULL), g_bytes_get_size(data), &error);
    if (!root)
        return cv_cli_fail(error);
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(&error, CV_ERROR, CV_ERROR_INVALID, "%s: the manifest is not a JSON object", path);
        return cv_cli_fail(error);
    }
    sha3 = cv_digest_hex("SHA3-256", g_bytes_get_data(data, NULL), g_bytes_get_size(data), NULL);
    sha256 = cv_digest_hex("SHA256", g_bytes_get_data(data, NULL), g_bytes_get_size(data), NULL);
    printf("manifest %s\n  SHA3-256 %s\n  SHA-256  %s (bound into the attestation evidence)\n", path, sha3, sha256);
    o = json_node_get_object(root);
    /* a member of another type counts as absent here: the check then reports what it cannot compare */
    cv_json_member_object(o, "algorithm", FALSE, &algo, NULL);
    ok &= check_one("algorithm", member_string(algo, "hash"), algorithm, &checked);
    cv_json_member_array(o, "datasets", FALSE, &datasets, NULL);
    for (guint i = 0; datasets && i < json_array_get_length(datasets); i++) {
        JsonObject *d = cv_json_array_object(datasets, i);
        const char *name = member_string(d, "filename");
        const char *file = NULL;
        g_autofree char *what = g_strdup_printf("dataset %s", name ? name : "(unnamed)");

        /* a file given on the command line matches a dataset by its base name */
        for (char **f = files; f && *f && name; f++) {
            g_autofree char *base = g_path_get_basename(*f);
            if (strcmp(base, name) == 0)
                file = *f;
        }
        ok &= check_one(what, member_string(d, "hash"), file, &checked);
    }
    for (char **f = files; f && *f; f++) {
        g_autofree char *base = g_path_get_basename(*f);
        gboolean known = FALSE;
        for (guint i = 0; datasets && i < json_array_get_length(datasets); i++) {
            if (g_strcmp0(member_string(cv_json_array_object(datasets, i), "filename"), base) == 0)
                known = TRUE;
        }
        if (!known) {
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
          "Check the manifest's hashes: the algorithm against --algorithm, datasets against FILEs by name", "FILE" },
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
