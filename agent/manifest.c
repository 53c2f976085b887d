#include "manifest.h"
#include "cv-error.h"
#include "cv-util.h"
#include "sha3.h"

#include <string.h>
#include <json-glib/json-glib.h>

CV_ENUM_IMPL(cv_agent_algo_type, CvAgentAlgoType, CV_AGENT_ALGO_COUNT, "bin", "python", "wasm", "docker");

static void
dataset_free(gpointer p)
{
    CvAgentDataset *d = p;

    g_free(d->hash);
    g_free(d->user_key_pem);
    cv_agent_user_key_free(d->user_key);
    g_free(d->filename);
    g_free(d);
}

void
cv_agent_manifest_free(CvAgentManifest *m)
{
    if (!m)
        return;
    g_free(m->id);
    g_free(m->name);
    g_free(m->description);
    if (m->datasets)
        g_ptr_array_unref(m->datasets);
    g_free(m->algo_hash);
    g_free(m->algo_key_pem);
    cv_agent_user_key_free(m->algo_key);
    g_strfreev(m->algo_args);
    if (m->consumer_keys)
        g_ptr_array_unref(m->consumer_keys);
    g_free(m->sha3_256_hex);
    g_free(m);
}

gboolean
cv_agent_filename_is_safe(const char *name)
{
    gsize len = name ? strlen(name) : 0;

    if (len == 0 || len > 255 || name[0] == '.' || strchr(name, '/') || strchr(name, '\\'))
        return FALSE;
    for (const char *p = name; *p; p++)
        if ((guchar)*p < 0x20 || *p == 0x7f)
            return FALSE;
    return g_utf8_validate(name, len, NULL);
}

const CvAgentDataset *
cv_agent_manifest_find_dataset(const CvAgentManifest *m, const char *filename)
{
    for (guint i = 0; i < m->datasets->len; i++) {
        const CvAgentDataset *d = g_ptr_array_index(m->datasets, i);
        if (strcmp(d->filename, filename) == 0)
            return d;
    }
    return NULL;
}

static gboolean
fail(GError **error, const char *field, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean
fail(GError **error, const char *field, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "manifest: %s: %s", field, msg);
    return FALSE;
}

/* Refuses members other than the allowed ones, so a typo ("user_key") is not silently ignored. */
static gboolean
check_members(JsonObject *obj, const char *where, const char *const *allowed, GError **error)
{
    g_autoptr(GList) members = json_object_get_members(obj);

    for (GList *l = members; l; l = l->next) {
        gboolean ok = FALSE;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(l->data, *a) == 0;
        if (!ok) {
            g_autofree char *field = where ? g_strdup_printf("%s.%s", where, (char *)l->data)
                                           : g_strdup(l->data);
            return fail(error, field, "unknown field");
        }
    }
    return TRUE;
}

static gboolean
get_string(JsonObject *obj, const char *where, const char *name, gboolean required, char **out,
           GError **error)
{
    g_autofree char *field = where ? g_strdup_printf("%s.%s", where, name) : g_strdup(name);
    JsonNode *n = json_object_get_member(obj, name);
    const char *s;

    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        if (required)
            return fail(error, field, "missing");
        *out = g_strdup("");
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return fail(error, field, "must be a string");
    s = json_node_get_string(n);
    if (required && !*s)
        return fail(error, field, "must not be empty");
    if (strlen(s) > 64 * 1024)
        return fail(error, field, "too long");
    *out = g_strdup(s);
    return TRUE;
}

static gboolean
get_hash(JsonObject *obj, const char *where, char **out, GError **error)
{
    g_autofree char *field = g_strdup_printf("%s.hash", where);
    g_autofree char *s = NULL;

    if (!get_string(obj, where, "hash", TRUE, &s, error))
        return FALSE;
    if (strlen(s) != 64 || strspn(s, "0123456789abcdefABCDEF") != 64)
        return fail(error, field, "must be a SHA3-256 digest: 64 hexadecimal digits");
    *out = g_ascii_strdown(s, -1);
    return TRUE;
}

static gboolean
get_key(JsonObject *obj, const char *where, char **pem, CvAgentUserKey **key, GError **error)
{
    g_autofree char *field = g_strdup_printf("%s.userKey", where);
    g_autoptr(GError) local = NULL;
    g_autofree char *s = NULL;

    if (!get_string(obj, where, "userKey", TRUE, &s, error))
        return FALSE;
    *key = cv_agent_user_key_new_from_pem(s, strlen(s), &local);
    if (!*key)
        return fail(error, field, "%s", local->message);
    *pem = g_steal_pointer(&s);
    return TRUE;
}

static JsonObject *
get_object(JsonNode *n, const char *field, GError **error)
{
    if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
        fail(error, field, n ? "must be an object" : "missing");
        return NULL;
    }
    return json_node_get_object(n);
}

static gboolean
parse_dataset(JsonNode *node, guint i, CvAgentManifest *m, GError **error)
{
    static const char *const allowed[] = { "hash", "userKey", "filename", "decompress", NULL };
    g_autofree char *where = g_strdup_printf("datasets[%u]", i);
    g_autofree char *fnfield = g_strdup_printf("%s.filename", where);
    CvAgentDataset *d;
    JsonObject *obj = get_object(node, where, error);
    JsonNode *dn;

    if (!obj || !check_members(obj, where, allowed, error))
        return FALSE;
    d = g_new0(CvAgentDataset, 1);
    g_ptr_array_add(m->datasets, d);
    if (!get_hash(obj, where, &d->hash, error) || !get_key(obj, where, &d->user_key_pem, &d->user_key, error) ||
        !get_string(obj, where, "filename", TRUE, &d->filename, error))
        return FALSE;
    if (!cv_agent_filename_is_safe(d->filename))
        return fail(error, fnfield, "'%s' must be a plain file name (no '/', no leading '.', no control characters)",
                    d->filename);
    for (guint j = 0; j + 1 < m->datasets->len; j++)
        if (strcmp(((CvAgentDataset *)g_ptr_array_index(m->datasets, j))->filename, d->filename) == 0)
            return fail(error, fnfield, "'%s' appears twice", d->filename);
    dn = json_object_get_member(obj, "decompress");
    if (dn && !JSON_NODE_HOLDS_NULL(dn)) {
        if (!JSON_NODE_HOLDS_VALUE(dn) || json_node_get_value_type(dn) != G_TYPE_BOOLEAN)
        {
            g_autofree char *f = g_strdup_printf("%s.decompress", where);
            return fail(error, f, "must be a boolean");
        }
        d->decompress = json_node_get_boolean(dn);
    }
    return TRUE;
}

static gboolean
parse_algorithm(JsonNode *node, CvAgentManifest *m, GError **error)
{
    static const char *const allowed[] = { "hash", "userKey", "algo_type", "algo_args", NULL };
    JsonObject *obj = get_object(node, "algorithm", error);
    g_autofree char *type = NULL;
    JsonNode *an;

    if (!obj || !check_members(obj, "algorithm", allowed, error) || !get_hash(obj, "algorithm", &m->algo_hash, error) ||
        !get_key(obj, "algorithm", &m->algo_key_pem, &m->algo_key, error) ||
        !get_string(obj, "algorithm", "algo_type", TRUE, &type, error))
        return FALSE;
    if (!cv_agent_algo_type_from_string(type, &m->algo_type))
        return fail(error, "algorithm.algo_type", "'%s' is not one of bin, python, wasm, docker", type);
    an = json_object_get_member(obj, "algo_args");
    if (!an || JSON_NODE_HOLDS_NULL(an)) {
        m->algo_args = g_new0(char *, 1);
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_ARRAY(an))
        return fail(error, "algorithm.algo_args", "must be an array of strings");
    {
        JsonArray *arr = json_node_get_array(an);
        guint n = json_array_get_length(arr);
        if (n > 256)
            return fail(error, "algorithm.algo_args", "more than 256 arguments");
        m->algo_args = g_new0(char *, n + 1);
        for (guint i = 0; i < n; i++) {
            JsonNode *e = json_array_get_element(arr, i);
            if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
                g_autofree char *f = g_strdup_printf("algorithm.algo_args[%u]", i);
                return fail(error, f, "must be a string");
            }
            m->algo_args[i] = g_strdup(json_node_get_string(e));
        }
    }
    return TRUE;
}

CvAgentManifest *
cv_agent_manifest_parse(const char *json, gsize len, GError **error)
{
    static const char *const allowed[] = { "id", "name", "description", "datasets", "algorithm",
                                           "result_consumers", NULL };
    g_autoptr(CvAgentManifest) m = g_new0(CvAgentManifest, 1);
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GBytes) sha = NULL;
    JsonObject *obj;
    JsonNode *n;

    m->datasets = g_ptr_array_new_with_free_func(dataset_free);
    m->consumer_keys = g_ptr_array_new_with_free_func((GDestroyNotify)cv_agent_user_key_free);
    if (len > CV_AGENT_MANIFEST_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "manifest is larger than %d bytes", CV_AGENT_MANIFEST_MAX);
        return NULL;
    }
    if (!g_utf8_validate(json, len, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "manifest is not UTF-8 text");
        return NULL;
    }
    root = cv_json_parse(json, len, error);
    if (!root)
        return NULL;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "manifest: must be a JSON object");
        return NULL;
    }
    obj = json_node_get_object(root);
    if (!check_members(obj, NULL, allowed, error) || !get_string(obj, NULL, "id", TRUE, &m->id, error) ||
        !get_string(obj, NULL, "name", TRUE, &m->name, error) ||
        !get_string(obj, NULL, "description", FALSE, &m->description, error))
        return NULL;

    n = json_object_get_member(obj, "datasets");
    if (n && !JSON_NODE_HOLDS_NULL(n)) {
        JsonArray *arr;
        if (!JSON_NODE_HOLDS_ARRAY(n)) {
            fail(error, "datasets", "must be an array");
            return NULL;
        }
        arr = json_node_get_array(n);
        if (json_array_get_length(arr) > 1024) {
            fail(error, "datasets", "more than 1024 datasets");
            return NULL;
        }
        for (guint i = 0; i < json_array_get_length(arr); i++)
            if (!parse_dataset(json_array_get_element(arr, i), i, m, error))
                return NULL;
    }
    if (!parse_algorithm(json_object_get_member(obj, "algorithm"), m, error))
        return NULL;

    n = json_object_get_member(obj, "result_consumers");
    if (!n || !JSON_NODE_HOLDS_ARRAY(n) || json_array_get_length(json_node_get_array(n)) == 0) {
        fail(error, "result_consumers", "must be a non-empty array");
        return NULL;
    }
    for (guint i = 0; i < json_array_get_length(json_node_get_array(n)) && i < 1024; i++) {
        static const char *const callowed[] = { "userKey", NULL };
        g_autofree char *where = g_strdup_printf("result_consumers[%u]", i);
        g_autofree char *pem = NULL;
        CvAgentUserKey *key = NULL;
        JsonObject *c = get_object(json_array_get_element(json_node_get_array(n), i), where, error);
        if (!c || !check_members(c, where, callowed, error) || !get_key(c, where, &pem, &key, error))
            return NULL;
        g_ptr_array_add(m->consumer_keys, key);
    }

    sha = cv_json_canonical_digest("SHA256", json, len, error);
    if (!sha)
        return NULL;
    memcpy(m->sha256, g_bytes_get_data(sha, NULL), 32);
    m->sha3_256_hex = cv_agent_sha3_256_hex(json, len, error);
    if (!m->sha3_256_hex)
        return NULL;
    return g_steal_pointer(&m);
}
