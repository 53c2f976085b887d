#include "covirt-agent-options.h"
#include "covirt-builtins.h"
#include "covirt-progress.h"
#include "covirt-replies.h"
#include "cv-util.h"

#include <stdio.h>
#include <unistd.h>

void
cv_cli_agent_options_add(GOptionContext *ctx, CvCliAgentOptions *o, const char *key_help, const char *json_help)
{
    /* GLib copies the entries; only the targets must live on */
    GOptionEntry entries[] = {
        { "agent", 0, 0, G_OPTION_ARG_STRING, &o->agent, "The agent's address, https://HOST:PORT (default: "
          "$COVIRT_AGENT_URL)", "URL" },
        { "key", 'k', 0, G_OPTION_ARG_FILENAME, &o->key, key_help, "KEY.pem" },
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &o->policy, "Attest the agent against this policy first, then pin its key", "FILE" },
        { "manifest", 0, 0, G_OPTION_ARG_FILENAME, &o->manifest, "The manifest the agent must hold (checked by attestation)", "FILE" },
        { "pin", 0, 0, G_OPTION_ARG_STRING, &o->pin, "Instead of --policy: the TLS key SHA-256 `covirt attest` printed", "HEX" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &o->json, json_help, NULL },
        { NULL },
    };

    g_option_context_add_main_entries(ctx, entries, NULL);
}

gboolean
cv_cli_agent_parse(GOptionContext *ctx, CvCliAgentOptions *o, const char *command, int *argc, char ***argv)
{
    if (!cv_cli_parse(ctx, command, argc, argv))
        return FALSE;
    if (!o->agent && g_getenv("COVIRT_AGENT_URL") && *g_getenv("COVIRT_AGENT_URL"))
        o->agent = g_strdup(g_getenv("COVIRT_AGENT_URL"));
    if (!o->agent || !o->key) {
        cv_cli_usage(command, "--agent (or $COVIRT_AGENT_URL) and --key are required");
        return FALSE;
    }
    return TRUE;
}

CvAgentClient *
cv_cli_agent_connect(const CvCliAgentOptions *o, GError **error)
{
    return cv_agent_client_new_attested(o->agent, o->key, o->policy, o->manifest, o->pin, error);
}

CvAgentClientProgress
cv_cli_agent_progress(const CvCliAgentOptions *o)
{
    return !o->json && isatty(2) ? cv_cli_progress_bar : NULL;
}

void
cv_cli_agent_print_upload(JsonNode *answer, gboolean json, const char *what, const char *name)
{
    g_autofree char *text = json ? cv_json_to_string(answer, TRUE) : cv_cli_upload_text(answer, what, name);

    printf("%s\n", text);
}

void
cv_cli_agent_options_clear(CvCliAgentOptions *o)
{
    g_clear_pointer(&o->agent, g_free);
    g_clear_pointer(&o->key, g_free);
    g_clear_pointer(&o->policy, g_free);
    g_clear_pointer(&o->manifest, g_free);
    g_clear_pointer(&o->pin, g_free);
}
