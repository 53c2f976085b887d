#include "manifest.h"
#include "cv-error.h"
#include "cv-jcs.h"
#include "cv-util.h"

#include <stddef.h>
#include <string.h>

CV_ENUM_IMPL(cv_manifest_algo_type, CvManifestAlgoType, CV_MANIFEST_ALGO_COUNT, "bin", "python", "wasm", "docker");

#define MAX_TEXT (64 * 1024)
#define MAX_DATASETS 1024
#define MAX_CONSUMERS 1024
#define MAX_ARGS 256

static void
dataset_free(gpointer p)
{
    CvManifestDataset *d = p;

    g_free(d->hash);
    cv_user_key_free(d->user_key);
    g_free(d->filename);
    g_free(d);
}

void
cv_manifest_free(CvManifest *m)
{
    if (!m)
        return;
    g_free(m->id);
    g_free(m->name);
    g_free(m->description);
    if (m->datasets)
        g_ptr_array_unref(m->datasets);
    g_free(m->algo_hash);
    cv_user_key_free(m->algo_key);
    g_strfreev(m->algo_args);
    if (m->consumer_keys)
        g_ptr_array_unref(m->consumer_keys);
    g_free(m);
}

gboolean
cv_manifest_filename_is_safe(const char *name)
{
    gsize len = name ? strlen(name) : 0;

    if (len == 0 || len > 255 || name[0] == '.' || strchr(name, '/') || strchr(name, '\\'))
        return FALSE;
    for (const char *p = name; *p; p++)
        if ((guchar)*p < 0x20 || *p == 0x7f)
            return FALSE;
    return g_utf8_validate(name, len, NULL);
}

const CvManifestDataset *
cv_manifest_find_dataset(const CvManifest *m, const char *filename)
{
    for (guint i = 0; i < m->datasets->len; i++) {
        const CvManifestDataset *d = g_ptr_array_index(m->datasets, i);
        if (strcmp(d->filename, filename) == 0)
            return d;
    }
    return NULL;
}

/* One parse: the document it is in names the fields ("computation." in a CVM spec) */
typedef struct {
    const char *root;
} Parse;

static gboolean
fail(Parse *p, GError **error, const char *field, const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static gboolean
fail(Parse *p, GError **error, const char *field, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (p->root)
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s%s%s: %s", p->root, field ? "." : "", field ? field : "",
                    msg);
    else
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "manifest: %s%s%s", field ? field : "", field ? ": " : "", msg);
    return FALSE;
}

/* One member of a manifest object: its spelling, another one also read, and its reader. A new member
 * (a dataset's `source`, say) is a row in its object's table and, for a new kind of value, a reader. */
typedef gboolean (*FieldReader)(Parse *p, JsonNode *node, const char *field, gpointer out, GError **error);

typedef struct {
    const char *name;     /* the spelling covirt writes */
    const char *alias;    /* also read, or NULL: docs/manifest.md says which and why */
    gboolean required;
    FieldReader read;     /* called only for a member that is there and not null */
    gsize offset;         /* of what it fills, in the struct the table describes */
} Field;

static gboolean
is_string(JsonNode *n)
{
    return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
}

static gboolean
read_text(Parse *p, JsonNode *n, const char *field, gpointer out, GError **error)
{
    if (!is_string(n))
        return fail(p, error, field, "must be a string");
    if (strlen(json_node_get_string(n)) > MAX_TEXT)
        return fail(p, error, field, "longer than %d bytes", MAX_TEXT);
    *(char **)out = g_strdup(json_node_get_string(n));
    return TRUE;
}

static gboolean
read_name(Parse *p, JsonNode *n, const char *field, gpointer out, GError **error)
{
    if (!read_text(p, n, field, out, error))
        return FALSE;
    return **(char **)out ? TRUE : fail(p, error, field, "must not be empty");
}

static gboolean
read_filename(Parse *p, JsonNode *n, const char *field, gpointer out, GError **error)
{
    if (!read_name(p, n, field, out, error))
        return FALSE;
    if (!cv_manifest_filename_is_safe(*(char **)out))
        return fail(p, error, field, "'%s' must be a plain file name (no '/', no leading '.', no control characters)",
                    *(char **)out);
    return TRUE;
}

static gboolean
read_bool(Parse *p, JsonNode *n, const char *field, gpointer out, GError **error)
{
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
        return fail(p, error, field, "must be a boolean");
    *(gboolean *)out = json_node_get_boolean(n);
    return TRUE;
}

#define HASH_RULE "must be a SHA3-256 digest: 64 hexadecimal digits (or as Cocos writes it: 32 numbers 0-255, " \
                  "or base64 of 32 bytes)"

/* covirt's hex, or Cocos's forms: Go's JSON writes a [32]byte as 32 numbers, a []byte as base64 */
static gboolean
read_hash(Parse *p, JsonNode *n, const char *field, gpointer out, GError **error)
{
    guint8 raw[32];

    if (JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);

        if (json_array_get_length(a) != 32)
            return fail(p, error, field, HASH_RULE);
        for (guint i = 0; i < 32; i++) {
            JsonNode *e = json_array_get_element(a, i);

            if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_INT64 ||
                json_node_get_int(e) < 0 || json_node_get_int(e) > 255)
                return fail(p, error, field, HASH_RULE);
            raw[i] = (guint8)json_node_get_int(e);
        }
    } else if (is_string(n)) {
        const char *s = json_node_get_string(n);
        g_autoptr(GBytes) bytes = NULL;

        if (strlen(s) == 64 && strspn(s, "0123456789abcdefABCDEF") == 64) {
            *(char **)out = g_ascii_strdown(s, -1);
            return TRUE;
        }
        if (!(bytes = cv_base64_decode_strict(s, NULL)) || g_bytes_get_size(bytes) != 32)
            return fail(p, error, field, HASH_RULE);
        memcpy(raw, g_bytes_get_data(bytes, NULL), 32);
    } else {
        return fail(p, error, field, HASH_RULE);
    }
    *(char **)out = cv_hex_encode(raw, 32);
    return TRUE;
}

/* covirt's PEM, or Cocos's base64 of the DER (Go's JSON of the []byte it gives x509.ParsePKIXPublicKey);
 * base64 of a PEM file is read too */
static gboolean
read_key(Parse *p, JsonNode *n, const char *field, gpointer out, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GBytes) decoded = NULL;
    const char *s;
    CvUserKey *key;

    if (!is_string(n))
        return fail(p, error, field, "must be a string");
    s = json_node_get_string(n);
    if (strlen(s) > MAX_TEXT)
        return fail(p, error, field, "longer than %d bytes", MAX_TEXT);
    if (strstr(s, "-----BEGIN")) {
        key = cv_user_key_new_from_pem(s, strlen(s), &local);
    } else if ((decoded = cv_base64_decode_strict(s, NULL))) {
        gsize len = 0;
        const guint8 *d = g_bytes_get_data(decoded, &len);

        key = len > 10 && memcmp(d, "-----BEGIN", 10) == 0 ? cv_user_key_new_from_pem((const char *)d, len, &local)
                                                           : cv_user_key_new_from_der(d, len, &local);
    } else {
        return fail(p, error, field, "must be a PEM public key (or as Cocos writes it: base64 of its DER)");
    }
    if (!key)
        return fail(p, error, field, "%s", local->message);
    *(CvUserKey **)out = key;
    return TRUE;
}

static gboolean
read_algo_type(Parse *p, JsonNode *n, const char *field, gpointer out, GError **error)
{
    if (!is_string(n))
        return fail(p, error, field, "must be a string");
    if (!cv_manifest_algo_type_from_string(json_node_get_string(n), out))
        return fail(p, error, field, "'%s' is not one of bin, python, wasm, docker", json_node_get_string(n));
    return TRUE;
}

static gboolean
read_args(Parse *p, JsonNode *n, const char *field, gpointer out, GError **error)
{
    g_autoptr(GStrvBuilder) args = g_strv_builder_new();
    JsonArray *a;

    if (!JSON_NODE_HOLDS_ARRAY(n))
        return fail(p, error, field, "must be an array of strings");
    a = json_node_get_array(n);
    if (json_array_get_length(a) > MAX_ARGS)
        return fail(p, error, field, "more than %d arguments", MAX_ARGS);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);

        if (!is_string(e)) {
            g_autofree char *f = g_strdup_printf("%s[%u]", field, i);
            return fail(p, error, f, "must be a string");
        }
        g_strv_builder_add(args, json_node_get_string(e));
    }
    *(GStrv *)out = g_strv_builder_end(args);
    return TRUE;
}

/* user_key: Cocos's spelling, which covirt writes; userKey: covirt's first one, still read so that
 * manifests written before stay valid (docs/manifest.md, Field names) */
static const Field dataset_fields[] = {
    { "hash", NULL, TRUE, read_hash, offsetof(CvManifestDataset, hash) },
    { "user_key", "userKey", TRUE, read_key, offsetof(CvManifestDataset, user_key) },
    { "filename", NULL, TRUE, read_filename, offsetof(CvManifestDataset, filename) },
    { "decompress", NULL, FALSE, read_bool, offsetof(CvManifestDataset, decompress) },
    { NULL },
};

static const Field algorithm_fields[] = {
    { "hash", NULL, TRUE, read_hash, offsetof(CvManifest, algo_hash) },
    { "user_key", "userKey", TRUE, read_key, offsetof(CvManifest, algo_key) },
    { "algo_type", NULL, TRUE, read_algo_type, offsetof(CvManifest, algo_type) },
    { "algo_args", NULL, FALSE, read_args, offsetof(CvManifest, algo_args) },
    { NULL },
};

static const Field consumer_fields[] = {
    { "user_key", "userKey", TRUE, read_key, 0 },
    { NULL },
};

static char *
field_path(const char *where, const char *name)
{
    return where ? g_strdup_printf("%s.%s", where, name) : g_strdup(name);
}

static const Field *
field_of(const Field *fields, const char *member)
{
    for (const Field *f = fields; f->name; f++)
        if (strcmp(f->name, member) == 0 || g_strcmp0(f->alias, member) == 0)
            return f;
    return NULL;
}

/* Fills `target` from the object at `where` by the table. Unknown members are refused before anything
 * is read, so a misspelling is named as what it is rather than as the member it misses. */
static gboolean
parse_object(Parse *p, JsonNode *node, const char *where, const Field *fields, gpointer target, GError **error)
{
    g_autoptr(GList) members = NULL;
    JsonObject *obj;

    if (!JSON_NODE_HOLDS_OBJECT(node))
        return fail(p, error, where, "must be an object");
    obj = json_node_get_object(node);
    members = json_object_get_members(obj);
    for (GList *l = members; l; l = l->next) {
        if (!field_of(fields, l->data)) {
            g_autofree char *field = field_path(where, l->data);
            return fail(p, error, field, "unknown field");
        }
    }
    for (const Field *f = fields; f->name; f++) {
        JsonNode *a = json_object_get_member(obj, f->name);
        JsonNode *b = f->alias ? json_object_get_member(obj, f->alias) : NULL;
        g_autofree char *field = field_path(where, a || !b ? f->name : f->alias);

        if (a && b)
            return fail(p, error, field, "given twice, as '%s' and '%s'", f->name, f->alias);
        if (!a)
            a = b;
        if (!a || JSON_NODE_HOLDS_NULL(a)) {
            if (f->required)
                return fail(p, error, field, "missing");
            continue;
        }
        if (!f->read(p, a, field, (char *)target + f->offset, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
read_datasets(Parse *p, JsonNode *n, const char *field, gpointer out, GError **error)
{
    GPtrArray *datasets = *(GPtrArray **)out;
    JsonArray *a;

    if (!JSON_NODE_HOLDS_ARRAY(n))
        return fail(p, error, field, "must be an array");
    a = json_node_get_array(n);
    if (json_array_get_length(a) > MAX_DATASETS)
        return fail(p, error, field, "more than %d datasets", MAX_DATASETS);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_autofree char *where = g_strdup_printf("%s[%u]", field, i);
        CvManifestDataset *d = g_new0(CvManifestDataset, 1);

        g_ptr_array_add(datasets, d);
        if (!parse_object(p, json_array_get_element(a, i), where, dataset_fields, d, error))
            return FALSE;
        for (guint j = 0; j < i; j++) {
            if (strcmp(((CvManifestDataset *)g_ptr_array_index(datasets, j))->filename, d->filename) == 0) {
                g_autofree char *f = g_strdup_printf("%s.filename", where);
                return fail(p, error, f, "'%s' appears twice", d->filename);
            }
        }
    }
    return TRUE;
}

static gboolean
read_algorithm(Parse *p, JsonNode *n, const char *field, gpointer out, GError **error)
{
    return parse_object(p, n, field, algorithm_fields, out, error);
}

static gboolean
read_consumers(Parse *p, JsonNode *n, const char *field, gpointer out, GError **error)
{
    GPtrArray *keys = *(GPtrArray **)out;
    JsonArray *a;

    if (!JSON_NODE_HOLDS_ARRAY(n) || json_array_get_length(json_node_get_array(n)) == 0)
        return fail(p, error, field, "must be a non-empty array");
    a = json_node_get_array(n);
    if (json_array_get_length(a) > MAX_CONSUMERS)
        return fail(p, error, field, "more than %d result consumers", MAX_CONSUMERS);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_autofree char *where = g_strdup_printf("%s[%u]", field, i);
        CvUserKey *key = NULL;
        gboolean ok = parse_object(p, json_array_get_element(a, i), where, consumer_fields, &key, error);

        if (key)
            g_ptr_array_add(keys, key);
        if (!ok)
            return FALSE;
    }
    return TRUE;
}

static const Field manifest_fields[] = {
    { "id", NULL, TRUE, read_name, offsetof(CvManifest, id) },
    { "name", NULL, TRUE, read_name, offsetof(CvManifest, name) },
    { "description", NULL, FALSE, read_text, offsetof(CvManifest, description) },
    { "datasets", NULL, FALSE, read_datasets, offsetof(CvManifest, datasets) },
    { "algorithm", NULL, TRUE, read_algorithm, 0 },
    { "result_consumers", NULL, TRUE, read_consumers, offsetof(CvManifest, consumer_keys) },
    { NULL },
};

CvManifest *
cv_manifest_from_json(JsonNode *root, const char *where, GError **error)
{
    g_autoptr(CvManifest) m = g_new0(CvManifest, 1);
    Parse p = { .root = where };

    m->datasets = g_ptr_array_new_with_free_func(dataset_free);
    m->consumer_keys = g_ptr_array_new_with_free_func((GDestroyNotify)cv_user_key_free);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        fail(&p, error, NULL, "must be a JSON object");
        return NULL;
    }
    if (!parse_object(&p, root, NULL, manifest_fields, m, error))
        return NULL;
    if (!m->description)
        m->description = g_strdup("");
    if (!m->algo_args)
        m->algo_args = g_new0(char *, 1);
    /* the hash attestation binds: of the manifest's content, whatever white space or member order
     * it was written with (docs/manifest.md, The manifest hash) */
    if (!cv_jcs_sha256(root, m->sha256, error))
        return NULL;
    return g_steal_pointer(&m);
}

CvManifest *
cv_manifest_parse(const char *json, gsize len, GError **error)
{
    g_autoptr(JsonNode) root = NULL;

    if (len > CV_MANIFEST_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "manifest is larger than %d bytes", CV_MANIFEST_MAX);
        return NULL;
    }
    if (!g_utf8_validate(json, len, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "manifest is not UTF-8 text");
        return NULL;
    }
    if (!(root = cv_json_parse(json, len, error)))
        return NULL;
    return cv_manifest_from_json(root, NULL, error);
}
