/* covirt result: download the computation's result (a zip of results/) and unpack it. */
#include "covirt-builtins.h"
#include "agent-client.h"
#include "covirt-progress.h"
#include "covirt-agent-options.h"
#include "cv-util.h"

#include <stdio.h>
#include <json-glib/json-glib.h>

int
cv_cli_result(int argc, char **argv)
{
    g_auto(CvCliAgentOptions) o = { 0 };
    g_autofree char *out = NULL;
    g_autofree char *max_size = NULL;
    guint64 max_bytes = 0;
    GOptionEntry entries[] = {
        { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Folder to write result.zip and its files to", "DIR" },
        { "max-size", 0, 0, G_OPTION_ARG_STRING, &max_size,
          "Most bytes the unpacked result may take (default $COVIRT_RESULT_MAX_SIZE, else 4G)", "SIZE" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "--agent URL --key KEY.pem (--policy FILE [--manifest FILE] | --pin HEX) --out DIR - download and unpack "
        "the result");
    g_autoptr(GError) error = NULL;
    g_autoptr(CvAgentClient) client = NULL;
    g_autofree char *zip = NULL;
    gboolean ok;

    cv_cli_agent_options_add(ctx, &o, "A result consumer's private key (PEM)", "Print a JSON summary");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_agent_parse(ctx, &o, "result", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (!out)
        return cv_cli_usage("result", "--out is required");
    if (!max_size)
        max_size = g_strdup(g_getenv("COVIRT_RESULT_MAX_SIZE") ? g_getenv("COVIRT_RESULT_MAX_SIZE") : "4G");
    if (!cv_parse_size(max_size, &max_bytes, &error))
        return cv_cli_usage("result", "%s", error->message);
    if (!(client = cv_cli_agent_connect(&o, &error)))
        return cv_cli_fail(error);
    if (g_mkdir_with_parents(out, 0700) < 0) {
        g_set_error(&error, CV_ERROR, CV_ERROR_IO, "cannot create %s", out);
        return cv_cli_fail(error);
    }
    zip = g_build_filename(out, "result.zip", NULL);
    ok = cv_agent_client_download_result(client, zip, cv_cli_agent_progress(&o), (gpointer)"result", &error);
    cv_cli_progress_end();
    if (!ok || !cv_agent_client_unpack(zip, out, max_bytes, &error))
        return cv_cli_fail(error);
    if (o.json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *text = NULL;
        g_autofree char *sha3 = cv_file_digest_hex("SHA3-256", zip, NULL);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "zip");
        json_builder_add_string_value(b, zip);
        json_builder_set_member_name(b, "sha3_256");
        json_builder_add_string_value(b, sha3 ? sha3 : "");
        json_builder_set_member_name(b, "out");
        json_builder_add_string_value(b, out);
        json_builder_set_member_name(b, "agent_tls_key_sha256");
        json_builder_add_string_value(b, cv_agent_client_peer_key_sha256(client));
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        text = cv_json_to_string(root, TRUE);
        printf("%s\n", text);
    } else {
        printf("result unpacked into %s (%s)\n", out, zip);
    }
    return 0;
}
