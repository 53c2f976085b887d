/* An `oci:` layout read strictly (OCI image-spec image-layout.md, manifest.md, config.md): only
 * sha256 digests, only the media types listed here, every blob's size and digest checked. */
#include "oci-fetch.h"
#include "archive-child.h"
#include "cv-error.h"
#include "cv-file.h"
#include "cv-json.h"
#include "cv-util.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define JSON_MAX (1u << 20) /* index, manifest and config: small documents */
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define REF_NAME "org.opencontainers.image.ref.name"

void
cv_agent_oci_desc_free(CvAgentOciDesc *desc)
{
    if (!desc)
        return;
    g_free(desc->media_type);
    g_free(desc->digest_hex);
    g_free(desc);
}

static gboolean
is_sha256(const char *digest)
{
    if (!g_str_has_prefix(digest, "sha256:") || strlen(digest) != 7 + 64)
        return FALSE;
    for (const char *p = digest + 7; *p; p++)
        if (!g_ascii_isdigit(*p) && !(*p >= 'a' && *p <= 'f'))
            return FALSE;
    return TRUE;
}

static CvAgentOciDesc *
parse_desc(JsonObject *obj, const char *what, GError **error)
{
    const char *mt = NULL, *digest = NULL;
    gint64 size = -1;
    CvAgentOciDesc *d;

    if (!obj) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: must be an object", what);
        return NULL;
    }
    if (!cv_json_member_string(obj, "mediaType", TRUE, &mt, error) ||
        !cv_json_member_string(obj, "digest", TRUE, &digest, error) ||
        !cv_json_member_int(obj, "size", TRUE, &size, error)) {
        g_prefix_error(error, "%s: ", what);
        return NULL;
    }
    if (!is_sha256(digest) || size < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: the digest must be sha256:<64 hex> and the size >= 0",
                    what);
        return NULL;
    }
    d = g_new0(CvAgentOciDesc, 1);
    d->media_type = g_strdup(mt);
    d->digest_hex = g_strdup(digest + 7);
    d->size = (guint64)size;
    return d;
}

static gboolean
check_schema(JsonObject *obj, const char *media_type, const char *what, GError **error)
{
    gint64 version = 0;
    const char *mt = NULL;

    if (!cv_json_member_int(obj, "schemaVersion", TRUE, &version, error) ||
        !cv_json_member_string(obj, "mediaType", FALSE, &mt, error)) {
        g_prefix_error(error, "%s: ", what);
        return FALSE;
    }
    if (version != 2 || (mt && media_type && !g_str_equal(mt, media_type))) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: schemaVersion 2%s%s expected", what,
                    media_type ? " and media type " : "", media_type ? media_type : "");
        return FALSE;
    }
    return TRUE;
}

CvAgentOciDesc *
cv_agent_oci_parse_index(const char *text, gsize len, const char *tag, GError **error)
{
    g_autoptr(JsonNode) root = cv_json_parse_object(text, len, "index.json", error);
    JsonObject *obj = root ? json_node_get_object(root) : NULL;
    JsonArray *manifests = NULL;
    g_autoptr(CvAgentOciDesc) found = NULL;

    if (!obj || !check_schema(obj, "application/vnd.oci.image.index.v1+json", "index.json", error) ||
        !cv_json_member_array(obj, "manifests", TRUE, &manifests, error))
        return NULL;
    for (guint i = 0; i < json_array_get_length(manifests); i++) {
        JsonObject *m = cv_json_array_object(manifests, i);
        JsonObject *ann = NULL;
        const char *name = NULL;
        g_autoptr(CvAgentOciDesc) d = parse_desc(m, "index.json manifests[]", error);

        if (!d || !cv_json_member_object(m, "annotations", FALSE, &ann, error) ||
            (ann && !cv_json_member_string(ann, REF_NAME, FALSE, &name, error)))
            return NULL;
        if (tag && g_strcmp0(name, tag) != 0)
            continue;
        if (found) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "index.json: more than one image%s%s", tag ? " tagged " : "",
                        tag ? tag : "");
            return NULL;
        }
        found = g_steal_pointer(&d);
    }
    if (!found)
        g_set_error(error, CV_ERROR, CV_ERROR_NOT_FOUND, "index.json: no image%s%s", tag ? " tagged " : "",
                    tag ? tag : "");
    else if (!g_str_equal(found->media_type, MT_MANIFEST))
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "index.json: the image is %s, not an OCI image manifest",
                    found->media_type);
    else
        return g_steal_pointer(&found);
    return NULL;
}

static gboolean
check_layer_type(const char *mt, GError **error)
{
    static const char *const known[] = { MT_LAYER, MT_LAYER "+gzip", MT_LAYER "+zstd" };

    for (guint i = 0; i < G_N_ELEMENTS(known); i++)
        if (g_str_equal(mt, known[i]))
            return TRUE;
    if (g_str_has_suffix(mt, "+encrypted"))
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "layer %s is still encrypted: no decryption key was given", mt);
    else
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "layer media type %s is not a tar, tar+gzip or tar+zstd", mt);
    return FALSE;
}

GPtrArray *
cv_agent_oci_parse_manifest(const char *text, gsize len, CvAgentOciDesc **config, GError **error)
{
    g_autoptr(JsonNode) root = cv_json_parse_object(text, len, "image manifest", error);
    JsonObject *obj = root ? json_node_get_object(root) : NULL;
    JsonArray *layers = NULL;
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)cv_agent_oci_desc_free);
    g_autoptr(CvAgentOciDesc) cfg = NULL;
    JsonObject *cfg_obj = NULL;

    if (!obj || !check_schema(obj, MT_MANIFEST, "image manifest", error) ||
        !cv_json_member_object(obj, "config", TRUE, &cfg_obj, error) ||
        !cv_json_member_array(obj, "layers", TRUE, &layers, error) ||
        !(cfg = parse_desc(cfg_obj, "image manifest config", error)))
        return NULL;
    if (!g_str_equal(cfg->media_type, MT_CONFIG)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "image manifest: config media type %s is not %s",
                    cfg->media_type, MT_CONFIG);
        return NULL;
    }
    for (guint i = 0; i < json_array_get_length(layers); i++) {
        CvAgentOciDesc *d = parse_desc(cv_json_array_object(layers, i), "image manifest layers[]", error);

        if (!d)
            return NULL;
        g_ptr_array_add(out, d);
        if (!check_layer_type(d->media_type, error))
            return NULL;
    }
    if (out->len == 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "image manifest: no layers");
        return NULL;
    }
    *config = g_steal_pointer(&cfg);
    return g_steal_pointer(&out);
}

gboolean
cv_agent_oci_parse_config(const char *text, gsize len, guint n_layers, GError **error)
{
    g_autoptr(JsonNode) root = cv_json_parse_object(text, len, "image config", error);
    JsonObject *obj = root ? json_node_get_object(root) : NULL;
    JsonObject *rootfs = NULL;
    JsonArray *diff_ids = NULL;
    const char *type = NULL;

    if (!obj || !cv_json_member_object(obj, "rootfs", TRUE, &rootfs, error) ||
        !cv_json_member_string(rootfs, "type", TRUE, &type, error) ||
        !cv_json_member_array(rootfs, "diff_ids", TRUE, &diff_ids, error)) {
        if (obj)
            g_prefix_error(error, "image config: ");
        return FALSE;
    }
    if (!g_str_equal(type, "layers") || json_array_get_length(diff_ids) != n_layers) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "image config: rootfs must be \"layers\" with %u diff_ids",
                    n_layers);
        return FALSE;
    }
    for (guint i = 0; i < n_layers; i++) {
        JsonNode *n = json_array_get_element(diff_ids, i);

        if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING ||
            !is_sha256(json_node_get_string(n))) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "image config: diff_ids[%u] is not a sha256 digest", i);
            return FALSE;
        }
    }
    return TRUE;
}

/* The blob's path once its size and sha256 match d (read on the descriptor that was checked). */
static char *
check_blob(const char *layout, const CvAgentOciDesc *d, GError **error)
{
    g_autofree char *path = g_build_filename(layout, "blobs", "sha256", d->digest_hex, NULL);
    guint64 size = 0;
    g_auto(CvFd) fd = cv_file_open_regular(path, d->size, &size, error);
    g_autofree char *hex = NULL;

    if (fd < 0) {
        g_prefix_error(error, "blob sha256:%s: ", d->digest_hex);
        return NULL;
    }
    if (size != d->size) {
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "blob sha256:%s: %" G_GUINT64_FORMAT " bytes, descriptor says %"
                    G_GUINT64_FORMAT, d->digest_hex, size, d->size);
        return NULL;
    }
    if (!(hex = cv_file_digest_fd_hex("SHA256", fd, path, error)))
        return NULL;
    if (!g_str_equal(hex, d->digest_hex)) {
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "blob sha256:%s: digest mismatch (its content is sha256:%s)",
                    d->digest_hex, hex);
        return NULL;
    }
    return g_steal_pointer(&path);
}

/* A JSON blob, checked, as bytes. */
static GBytes *
read_json_blob(const char *layout, const CvAgentOciDesc *d, GError **error)
{
    g_autofree char *path = NULL;

    if (d->size > JSON_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "blob sha256:%s: %" G_GUINT64_FORMAT " bytes of JSON",
                    d->digest_hex, d->size);
        return NULL;
    }
    if (!(path = check_blob(layout, d, error)))
        return NULL;
    return cv_read_file(path, JSON_MAX, error);
}

static GPtrArray *
read_layout(const char *layout, GError **error)
{
    g_autofree char *index_path = g_build_filename(layout, "index.json", NULL);
    g_autoptr(GBytes) index = cv_read_file(index_path, JSON_MAX, error);
    g_autoptr(CvAgentOciDesc) manifest_desc = NULL;
    g_autoptr(CvAgentOciDesc) config_desc = NULL;
    g_autoptr(GBytes) manifest = NULL;
    g_autoptr(GBytes) config = NULL;
    g_autoptr(GPtrArray) layers = NULL;

    if (!index || !(manifest_desc = cv_agent_oci_parse_index(g_bytes_get_data(index, NULL), g_bytes_get_size(index),
                                                             NULL, error)) ||
        !(manifest = read_json_blob(layout, manifest_desc, error)) ||
        !(layers = cv_agent_oci_parse_manifest(g_bytes_get_data(manifest, NULL), g_bytes_get_size(manifest),
                                               &config_desc, error)) ||
        !(config = read_json_blob(layout, config_desc, error)) ||
        !cv_agent_oci_parse_config(g_bytes_get_data(config, NULL), g_bytes_get_size(config), layers->len, error))
        return NULL;
    return g_steal_pointer(&layers);
}

static gint
by_name(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Regular files under dir (symlinks not followed; there are none after a strict extraction). */
static void
list_files(const char *dir, GPtrArray *out)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        struct stat st;

        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            list_files(path, out);
        else if (S_ISREG(st.st_mode))
            g_ptr_array_add(out, g_steal_pointer(&path));
    }
}

static GPtrArray *
sorted_files(const char *rootfs)
{
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);

    list_files(rootfs, files);
    g_ptr_array_sort(files, by_name);
    return files;
}

/* OCI's whiteouts (.wh.NAME, .wh..wh..opq) delete what a lower layer holds: not supported. *bytes
 * and *entries get what rootfs holds so far, for the next layer's budget. */
static gboolean
has_whiteout(const char *dir, guint64 *bytes, guint64 *entries)
{
    g_autoptr(GPtrArray) files = sorted_files(dir);
    struct stat st;

    *bytes = 0;
    *entries = files->len;
    for (guint i = 0; i < files->len; i++) {
        if (g_str_has_prefix(strrchr(files->pdata[i], '/') + 1, ".wh."))
            return TRUE;
        if (lstat(files->pdata[i], &st) == 0)
            *bytes += st.st_size;
    }
    return FALSE;
}

static gboolean
extract_layers(const char *layout, GPtrArray *layers, const char *rootfs, const CvAgentOciLimits *limits,
               GError **error)
{
    CvArchiveExtract how = { CV_ARCHIVE_FORMAT_ARCHIVE, NULL, TRUE, limits->max_unpacked, limits->max_entries };
    guint64 bytes = 0, entries = 0;

    for (guint i = 0; i < layers->len; i++) {
        g_autofree char *blob = check_blob(layout, layers->pdata[i], error);

        /* the layers share one budget: each gets what the lower ones left (0 would mean no limit) */
        how.max_bytes = limits->max_unpacked > bytes ? limits->max_unpacked - bytes : 1;
        how.max_entries = limits->max_entries > entries ? limits->max_entries - entries : 1;
        if (!blob || !cv_agent_archive_child_extract_strict(blob, rootfs, &how, error)) {
            g_prefix_error(error, "layer %u: ", i);
            return FALSE;
        }
        if (has_whiteout(rootfs, &bytes, &entries)) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                        "layer %u: whiteouts (.wh. files) are not supported: flatten the image into one layer", i);
            return FALSE;
        }
    }
    return TRUE;
}

gboolean
cv_agent_oci_unpack(const char *layout_dir, const char *rootfs, const CvAgentOciLimits *limits, GError **error)
{
    g_autoptr(GPtrArray) layers = read_layout(layout_dir, error);

    if (!layers)
        return FALSE;
    if (g_mkdir(rootfs, 0700) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create %s: %s", rootfs, g_strerror(errno));
        return FALSE;
    }
    if (!extract_layers(layout_dir, layers, rootfs, limits, error)) {
        cv_file_remove_tree(rootfs);
        return FALSE;
    }
    return TRUE;
}

static gboolean
has_suffix_in(const char *name, const char *const *suffixes)
{
    for (; *suffixes; suffixes++)
        if (g_str_has_suffix(name, *suffixes))
            return TRUE;
    return FALSE;
}

static gboolean
fits_type(const char *path, const char *algo_type)
{
    static const char *const not_bin[] = { ".py", ".wasm", ".wat", ".js", ".sh", ".csv", ".json", ".txt", ".md",
                                           NULL };
    static const char *const wasm[] = { ".wasm", ".wat", NULL };
    static const char *const names[] = { "algorithm", "main", "run", "execute", NULL };
    g_autofree char *base = g_ascii_strdown(strrchr(path, '/') + 1, -1);

    if (g_str_equal(algo_type, "python"))
        return g_str_has_suffix(base, ".py");
    if (g_str_equal(algo_type, "wasm"))
        return has_suffix_in(base, wasm);
    if (!g_str_equal(algo_type, "bin") || has_suffix_in(base, not_bin))
        return FALSE;
    for (const char *const *n = names; *n; n++)
        if (strstr(base, *n))
            return TRUE;
    return g_access(path, X_OK) == 0;
}

char *
cv_agent_oci_find_algorithm(const char *rootfs, const char *algo_type, char **requirements, GError **error)
{
    g_autoptr(GPtrArray) files = sorted_files(rootfs);
    char *found = NULL;

    if (requirements)
        *requirements = NULL;
    for (guint i = 0; i < files->len; i++) {
        const char *path = files->pdata[i];

        if (requirements && !*requirements && g_str_equal(strrchr(path, '/') + 1, "requirements.txt"))
            *requirements = g_strdup(path);
        else if (!found && fits_type(path, algo_type))
            found = g_strdup(path);
    }
    if (!found) {
        if (requirements)
            g_clear_pointer(requirements, g_free);
        g_set_error(error, CV_ERROR, CV_ERROR_NOT_FOUND, "the image holds no %s algorithm", algo_type);
    }
    return found;
}

GPtrArray *
cv_agent_oci_find_datasets(const char *rootfs)
{
    static const char *const data[] = { ".csv", ".json", ".txt", ".parquet", ".arrow", ".dat", ".zip", ".tar",
                                        ".gz", ".tgz", NULL };
    g_autoptr(GPtrArray) files = sorted_files(rootfs);
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < files->len; i++) {
        g_autofree char *base = g_ascii_strdown(strrchr(files->pdata[i], '/') + 1, -1);

        if (has_suffix_in(base, data))
            g_ptr_array_add(out, g_strdup(files->pdata[i]));
    }
    return out;
}
