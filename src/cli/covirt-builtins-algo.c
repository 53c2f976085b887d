/* covirt algo: upload the algorithm (and its requirements and wheels) to a CVM's agent. */
#include "covirt-builtins.h"
#include "agent-client.h"
#include "agent-api.h"
#include "covirt-progress.h"
#include "covirt-agent-options.h"
#include "cv-util.h"

#include <stdio.h>

static JsonNode *
upload(CvAgentClient *client, const char *path, const char *file, CvAgentClientProgress bar, GError **error)
{
    g_autofree char *label = g_path_get_basename(file);
    JsonNode *r = cv_agent_client_upload(client, path, file, bar, label, error);

    cv_cli_progress_end();
    return r;
}

int
cv_cli_algo(int argc, char **argv)
{
    g_auto(CvCliAgentOptions) o = { 0 };
    g_autofree char *requirements = NULL;
    g_auto(GStrv) wheels = NULL, files = NULL;
    GOptionEntry entries[] = {
        { "requirements", 'r', 0, G_OPTION_ARG_FILENAME, &requirements, "python: a requirements file", "FILE" },
        { "wheel", 'w', 0, G_OPTION_ARG_FILENAME_ARRAY, &wheels, "python: a wheel the requirements need (repeat)", "FILE.whl" },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL, NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "--agent URL --key KEY.pem (--policy FILE [--manifest FILE] | --pin HEX) [--requirements FILE] "
        "[--wheel FILE.whl]… ALGORITHM - upload the algorithm to a CVM's agent");
    g_autoptr(GError) error = NULL;
    g_autoptr(CvAgentClient) client = NULL;
    g_autoptr(JsonNode) answer = NULL;
    CvAgentClientProgress bar;

    cv_cli_agent_options_add(ctx, &o, "The algorithm owner's private key (PEM)", "Print the agent's answer as JSON");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_agent_parse(ctx, &o, "algo", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (!files || !files[0] || files[1])
        return cv_cli_usage("algo", "exactly one FILE expected");
    bar = cv_cli_agent_progress(&o);
    if (!(client = cv_cli_agent_connect(&o, &error)))
        return cv_cli_fail(error);
    /* requirements and wheels first: the algorithm itself completes the algorithm phase */
    for (char **w = wheels; w && *w; w++) {
        g_autofree char *base = g_path_get_basename(*w);
        g_autofree char *esc = g_uri_escape_string(base, NULL, FALSE);
        g_autofree char *path = g_strconcat(CV_AGENT_API_WHEELS_PREFIX, esc, NULL);
        g_autoptr(JsonNode) r = upload(client, path, *w, bar, &error);
        if (!r)
            return cv_cli_fail(error);
    }
    if (requirements) {
        g_autoptr(JsonNode) r = upload(client, CV_AGENT_API_REQUIREMENTS, requirements, bar, &error);
        if (!r)
            return cv_cli_fail(error);
    }
    answer = upload(client, CV_AGENT_API_ALGORITHM, files[0], bar, &error);
    if (!answer)
        return cv_cli_fail(error);
    cv_cli_agent_print_upload(answer, o.json, "algorithm", files[0]);
    return 0;
}
