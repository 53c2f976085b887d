/* covirt data: upload a dataset to a CVM's agent. */
#include "covirt-builtins.h"
#include "agent-client.h"
#include "covirt-progress.h"
#include "covirt-agent-options.h"
#include "cv-util.h"

#include <stdio.h>

int
cv_cli_data(int argc, char **argv)
{
    g_auto(CvCliAgentOptions) o = { 0 };
    g_autofree char *name = NULL;
    g_auto(GStrv) files = NULL;
    GOptionEntry entries[] = {
        { "name", 'n', 0, G_OPTION_ARG_STRING, &name, "The dataset's filename in the manifest (default: FILE's name)", "NAME" },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL, NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "--agent URL --key KEY.pem (--policy FILE [--manifest FILE] | --pin HEX) [--name NAME] DATASET - upload a "
        "dataset to a CVM's agent");
    g_autoptr(GError) error = NULL;
    g_autoptr(CvAgentClient) client = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree char *path = NULL;
    g_autofree char *base = NULL;

    cv_cli_agent_options_add(ctx, &o, "The data owner's private key (PEM)", "Print the agent's answer as JSON");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_agent_parse(ctx, &o, "data", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (!files || !files[0] || files[1])
        return cv_cli_usage("data", "exactly one FILE expected");
    if (!(client = cv_cli_agent_connect(&o, &error)))
        return cv_cli_fail(error);
    base = name ? g_strdup(name) : g_path_get_basename(files[0]);
    path = cv_agent_client_dataset_path(base);
    answer = cv_agent_client_upload(client, path, files[0], cv_cli_agent_progress(&o), base, &error);
    cv_cli_progress_end();
    if (!answer)
        return cv_cli_fail(error);
    cv_cli_agent_print_upload(answer, o.json, "dataset", base);
    return 0;
}
