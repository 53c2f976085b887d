/* covirt manifest: builds a computation manifest from files and public keys (docs/manifest.md,
 * "Building a manifest"), hashing files as the agent does, and prints the manifest hash attestation
 * binds. A manifest being built is a draft (any JSON object); the agent's parser judges it whole. */
#include <stdio.h>
#include <string.h>
#include "covirt-builtins.h"
#include "cv-autoptr.h"
#include "cv-json.h"
#include "cv-sign.h"
#include "cv-util.h"
#include "manifest.h"

static JsonNode *
draft_load(const char *path, GError **error)
{
    g_autoptr(GBytes) data = cv_read_file(path, CV_MANIFEST_MAX, error);

    return data ? cv_json_parse_object(g_bytes_get_data(data, NULL), g_bytes_get_size(data), path, error) : NULL;
}

/* "manifest hash HEX" for a complete manifest, what it misses otherwise */
static void
print_state(JsonNode *root)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CvManifest) m = cv_manifest_from_json(root, NULL, &error);
    g_autofree char *hash = NULL;

    if (!m) {
        printf("incomplete: %s\n", g_str_has_prefix(error->message, "manifest: ") ? error->message + 10
                                                                                   : error->message);
        return;
    }
    hash = cv_hex_encode(m->sha256, 32);
    printf("manifest hash %s\n", hash);
}

/* the members in the order docs/manifest.md lists them, then any other: a draft reads as the docs do */
static JsonNode *
draft_ordered(JsonNode *root)
{
    static const char *const order[] = { "id", "name", "description", "datasets", "algorithm", "result_consumers" };
    JsonObject *o = json_node_get_object(root), *out = json_object_new();
    g_autoptr(GList) names = json_object_get_members(o);
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    for (gsize i = 0; i < G_N_ELEMENTS(order); i++)
        if (json_object_has_member(o, order[i]))
            json_object_set_member(out, order[i], json_node_copy(json_object_get_member(o, order[i])));
    for (GList *l = names; l; l = l->next)
        if (!json_object_has_member(out, l->data))
            json_object_set_member(out, l->data, json_node_copy(json_object_get_member(o, l->data)));
    json_node_take_object(node, out);
    return node;
}

/* indented, with covirt's spellings; written whole or not at all */
static int
draft_save(const char *path, JsonNode *draft)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) root = draft_ordered(draft);
    g_autofree char *text = cv_json_to_string(root, TRUE);
    g_autofree char *line = g_strconcat(text, "\n", NULL);

    if (!cv_write_file(path, line, strlen(line), 0644, &error))
        return cv_cli_fail(error);
    print_state(root);
    return 0;
}

/* the PEM of a public key file, as the manifest holds it */
static char *
key_pem(const char *path, GError **error)
{
    g_autoptr(GBytes) data = cv_read_file(path, 64 * 1024, error);
    g_autoptr(EVP_PKEY) key = NULL;
    g_autoptr(GError) local = NULL;

    if (!data)
        return NULL;
    key = cv_sign_pubkey_from_pem(g_bytes_get_data(data, NULL), g_bytes_get_size(data), &local);
    if (!key) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: %s (give the NAME.pub that covirt keys made)", path,
                    local->message);
        return NULL;
    }
    return cv_sign_pubkey_to_pem(key, error);
}

/* the member's array, made when absent; NULL when it is something else */
static JsonArray *
draft_array(JsonObject *o, const char *name, GError **error)
{
    JsonArray *a = NULL;

    if (!json_object_has_member(o, name))
        json_object_set_array_member(o, name, json_array_new());
    if (!cv_json_member_array(o, name, TRUE, &a, error))
        return NULL;
    return a;
}

static int
manifest_new(int argc, char **argv)
{
    g_autofree char *id = NULL, *name = NULL, *description = NULL;
    gboolean force = FALSE;
    GOptionEntry entries[] = {
        { "id", 0, 0, G_OPTION_ARG_STRING, &id, "the computation's id", "ID" },
        { "name", 0, 0, G_OPTION_ARG_STRING, &name, "its name", "NAME" },
        { "description", 0, 0, G_OPTION_ARG_STRING, &description, "free text", "TEXT" },
        { "force", 0, 0, G_OPTION_ARG_NONE, &force, "overwrite an existing file", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("M.json - start a manifest");
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    JsonObject *o = json_object_new();

    json_node_take_object(root, o);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_parse(ctx, "manifest new", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (argc != 2 || !id || !name || !*id || !*name)
        return cv_cli_usage("manifest new", "give M.json, --id and --name");
    if (!force && g_file_test(argv[1], G_FILE_TEST_EXISTS)) {
        g_autoptr(GError) error = g_error_new(CV_ERROR, CV_ERROR_CONFLICT, "%s exists (--force overwrites it)", argv[1]);
        return cv_cli_fail(error);
    }
    json_object_set_string_member(o, "id", id);
    json_object_set_string_member(o, "name", name);
    if (description)
        json_object_set_string_member(o, "description", description);
    json_object_set_array_member(o, "datasets", json_array_new());
    json_object_set_array_member(o, "result_consumers", json_array_new());
    return draft_save(argv[1], root);
}

/* python for .py, wasm for .wasm, bin otherwise */
static const char *
algo_type_of(const char *file)
{
    return g_str_has_suffix(file, ".py") ? "python" : g_str_has_suffix(file, ".wasm") ? "wasm" : "bin";
}

static int
manifest_set_algorithm(int argc, char **argv)
{
    g_autofree char *key = NULL, *type = NULL, *pem = NULL, *hash = NULL;
    g_auto(GStrv) args = NULL;
    GOptionEntry entries[] = {
        { "key", 0, 0, G_OPTION_ARG_FILENAME, &key, "the algorithm owner's public key", "KEY.pub" },
        { "type", 0, 0, G_OPTION_ARG_STRING, &type, "bin, python, wasm or docker (default: from the file name)",
          "TYPE" },
        { "arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &args, "an argument for the algorithm (repeatable)", "ARG" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("M.json FILE - set the algorithm");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) root = NULL;
    CvManifestAlgoType t;
    JsonObject *algo;
    JsonArray *a;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_parse(ctx, "manifest set-algorithm", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (argc != 3 || !key)
        return cv_cli_usage("manifest set-algorithm", "give M.json, the algorithm FILE and --key");
    if (!type)
        type = g_strdup(algo_type_of(argv[2]));
    if (!cv_manifest_algo_type_from_string(type, &t))
        return cv_cli_usage("manifest set-algorithm", "--type %s: not one of bin, python, wasm, docker", type);
    if (!(root = draft_load(argv[1], &error)) || !(pem = key_pem(key, &error)) ||
        !(hash = cv_file_digest_hex("SHA3-256", argv[2], &error)))
        return cv_cli_fail(error);
    algo = json_object_new();
    json_object_set_string_member(algo, "hash", hash);
    json_object_set_string_member(algo, "user_key", pem);
    json_object_set_string_member(algo, "algo_type", type);
    a = json_array_new();
    for (char **s = args; s && *s; s++)
        json_array_add_string_element(a, *s);
    json_object_set_array_member(algo, "algo_args", a);
    json_object_set_object_member(json_node_get_object(root), "algorithm", algo);
    return draft_save(argv[1], root);
}

static int
manifest_add_dataset(int argc, char **argv)
{
    g_autofree char *key = NULL, *filename = NULL, *pem = NULL, *hash = NULL;
    gboolean decompress = FALSE;
    GOptionEntry entries[] = {
        { "key", 0, 0, G_OPTION_ARG_FILENAME, &key, "the data owner's public key", "KEY.pub" },
        { "filename", 0, 0, G_OPTION_ARG_STRING, &filename, "its name in datasets/ (default: the file's)", "NAME" },
        { "decompress", 0, 0, G_OPTION_ARG_NONE, &decompress, "the agent unpacks it (docs/agent.md)", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("M.json FILE - add a dataset, or replace one of its name");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) root = NULL;
    JsonObject *d;
    JsonArray *datasets;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_parse(ctx, "manifest add-dataset", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (argc != 3 || !key)
        return cv_cli_usage("manifest add-dataset", "give M.json, the dataset FILE and --key");
    if (!filename)
        filename = g_path_get_basename(argv[2]);
    if (!cv_manifest_filename_is_safe(filename))
        return cv_cli_usage("manifest add-dataset", "'%s' is not a plain file name (--filename)", filename);
    if (!(root = draft_load(argv[1], &error)) || !(pem = key_pem(key, &error)) ||
        !(hash = cv_file_digest_hex("SHA3-256", argv[2], &error)) ||
        !(datasets = draft_array(json_node_get_object(root), "datasets", &error)))
        return cv_cli_fail(error);
    d = json_object_new();
    json_object_set_string_member(d, "hash", hash);
    json_object_set_string_member(d, "user_key", pem);
    json_object_set_string_member(d, "filename", filename);
    if (decompress)
        json_object_set_boolean_member(d, "decompress", TRUE);
    for (guint i = 0; i < json_array_get_length(datasets); i++) {
        JsonObject *old = cv_json_array_object(datasets, i);

        if (g_strcmp0(cv_json_member_string_or(old, "filename", NULL), filename) == 0) {
            json_array_remove_element(datasets, i);
            break;
        }
    }
    json_array_add_object_element(datasets, d);
    return draft_save(argv[1], root);
}

/* the key of a consumer entry in either spelling, NULL when it has none */
static const char *
consumer_key(JsonArray *consumers, guint i)
{
    JsonObject *c = cv_json_array_object(consumers, i);

    return cv_json_member_string_or(c, "user_key", cv_json_member_string_or(c, "userKey", NULL));
}

static int
manifest_add_consumer(int argc, char **argv)
{
    g_autofree char *key = NULL, *pem = NULL;
    GOptionEntry entries[] = {
        { "key", 0, 0, G_OPTION_ARG_FILENAME, &key, "the result consumer's public key", "KEY.pub" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("M.json - add a result consumer");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) root = NULL;
    JsonObject *c;
    JsonArray *consumers;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_parse(ctx, "manifest add-consumer", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (argc != 2 || !key)
        return cv_cli_usage("manifest add-consumer", "give M.json and --key");
    if (!(root = draft_load(argv[1], &error)) || !(pem = key_pem(key, &error)) ||
        !(consumers = draft_array(json_node_get_object(root), "result_consumers", &error)))
        return cv_cli_fail(error);
    for (guint i = 0; i < json_array_get_length(consumers); i++) {
        if (g_strcmp0(consumer_key(consumers, i), pem) == 0) {
            g_set_error(&error, CV_ERROR, CV_ERROR_CONFLICT, "%s is already a result consumer of %s", key, argv[1]);
            return cv_cli_fail(error);
        }
    }
    c = json_object_new();
    json_object_set_string_member(c, "user_key", pem);
    json_array_add_object_element(consumers, c);
    return draft_save(argv[1], root);
}

static int
manifest_hash(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("M.json… - check manifests and print their hashes");
    g_autoptr(GError) error = NULL;

    if (!cv_cli_parse(ctx, "manifest hash", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (argc < 2)
        return cv_cli_usage("manifest hash", "name at least one manifest");
    for (int i = 1; i < argc; i++) {
        g_autoptr(GBytes) data = cv_read_file(argv[i], CV_MANIFEST_MAX, &error);
        g_autoptr(CvManifest) m = NULL;
        g_autofree char *hex = NULL;

        if (!data || !(m = cv_manifest_parse(g_bytes_get_data(data, NULL), g_bytes_get_size(data), &error))) {
            g_prefix_error(&error, "%s: ", argv[i]);
            return cv_cli_fail(error);
        }
        hex = cv_hex_encode(m->sha256, 32);
        printf("%s  %s\n", hex, argv[i]);
    }
    return 0;
}

int
cv_cli_manifest(int argc, char **argv)
{
    static const CvCliCommand subs[] = {
        { "new", "start a manifest", manifest_new },
        { "set-algorithm", "set the algorithm", manifest_set_algorithm },
        { "add-dataset", "add a dataset", manifest_add_dataset },
        { "add-consumer", "add a result consumer", manifest_add_consumer },
        { "hash", "check manifests and print their hashes", manifest_hash },
        { NULL, NULL, NULL },
    };

    return cv_cli_dispatch("manifest", subs,
                           "Usage: covirt manifest new M.json --id ID --name NAME [--description TEXT] [--force]\n"
                           "       covirt manifest set-algorithm M.json FILE --key KEY.pub [--type TYPE] [--arg ARG]…\n"
                           "       covirt manifest add-dataset M.json FILE --key KEY.pub [--filename NAME] [--decompress]\n"
                           "       covirt manifest add-consumer M.json --key KEY.pub\n"
                           "       covirt manifest hash M.json…\n\n"
                           "Builds a computation manifest from files (their SHA3-256, as the agent computes it) and\n"
                           "public keys (PEM), and prints the manifest hash that attestation binds: SHA-256 of the\n"
                           "manifest's RFC 8785 canonical form (docs/manifest.md).\n",
                           argc, argv);
}
