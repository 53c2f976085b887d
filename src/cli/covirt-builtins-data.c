/* covirt data: upload a dataset to a CVM's agent. */
#include "covirt-builtins.h"
#include "client.h"
#include "cv-util.h"

#include <stdio.h>
#include <unistd.h>

int
cv_cli_data(int argc, char **argv)
{
    g_autofree char *agent = NULL, *policy = NULL, *manifest = NULL, *key = NULL, *pin = NULL, *name = NULL;
    g_auto(GStrv) files = NULL;
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "agent", 0, 0, G_OPTION_ARG_STRING, &agent, "The agent's address, https://HOST:PORT", "URL" },
        { "key", 'k', 0, G_OPTION_ARG_FILENAME, &key, "The data owner's private key (PEM)", "KEY.pem" },
        { "name", 'n', 0, G_OPTION_ARG_STRING, &name, "The dataset's filename in the manifest (default: FILE's name)", "NAME" },
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &policy, "Attest the agent against this policy first, then pin its key", "FILE" },
        { "manifest", 0, 0, G_OPTION_ARG_FILENAME, &manifest, "The manifest the agent must hold (checked by attestation)", "FILE" },
        { "pin", 0, 0, G_OPTION_ARG_STRING, &pin, "Instead of --policy: the TLS key SHA-256 `covirt attest` printed", "HEX" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the agent's answer as JSON", NULL },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL, "FILE" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("FILE - upload a dataset to a CVM's agent");
    g_autoptr(GError) error = NULL;
    g_autoptr(CvAgentClient) client = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree char *path = NULL;
    g_autofree char *base = NULL;
    gboolean bar;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error))
        return cv_cli_fail(error);
    if (!agent || !key || !files || !files[0] || files[1]) {
        g_set_error(&error, CV_ERROR, CV_ERROR_INVALID, "usage: covirt data --agent URL --key KEY.pem FILE");
        return cv_cli_fail(error);
    }
    bar = !json && isatty(2);
    client = cv_agent_client_new_attested(agent, key, policy, manifest, pin, &error);
    if (!client)
        return cv_cli_fail(error);
    base = name ? g_strdup(name) : g_path_get_basename(files[0]);
    path = cv_agent_client_dataset_path(base);
    answer = cv_agent_client_upload(client, path, files[0], bar ? cv_agent_client_progress_bar : NULL, base, &error);
    if (bar)
        cv_agent_client_progress_end();
    if (!answer)
        return cv_cli_fail(error);
    if (json) {
        g_autofree char *text = cv_json_to_string(answer, TRUE);
        printf("%s\n", text);
    } else {
        JsonObject *o = json_node_get_object(answer);
        printf("dataset %s accepted (SHA3-256 %s); agent state %s\n", base,
               json_object_get_string_member_with_default(o, "sha3_256", "?"),
               json_object_get_string_member_with_default(o, "state", "?"));
    }
    return 0;
}
