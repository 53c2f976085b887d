/* What covirt algo, data and result share: the agent's address, the uploader's key, how the agent is
 * trusted (attest against --policy [--manifest], or --pin a key `covirt attest` printed) and --json. */
#pragma once
#include "agent-client.h"

G_BEGIN_DECLS

typedef struct {
    char *agent;
    char *key;
    char *policy;
    char *manifest;
    char *pin;
    gboolean json;
} CvCliAgentOptions;

/* key_help says whose key; the strings must outlive the parse */
void cv_cli_agent_options_add(GOptionContext *ctx, CvCliAgentOptions *o, const char *key_help, const char *json_help);
/* Parses COMMAND's options and checks that --agent and --key are there; FALSE after a usage message. */
gboolean cv_cli_agent_parse(GOptionContext *ctx, CvCliAgentOptions *o, const char *command, int *argc, char ***argv);
/* attest-and-pin (or pin) the agent */
CvAgentClient *cv_cli_agent_connect(const CvCliAgentOptions *o, GError **error);
/* a transfer's progress callback: a bar on stderr when it is a terminal and --json is not given; else NULL */
CvAgentClientProgress cv_cli_agent_progress(const CvCliAgentOptions *o);
/* an upload's answer: JSON, or "WHAT NAME accepted (SHA3-256 …); agent state …" */
void cv_cli_agent_print_upload(JsonNode *answer, gboolean json, const char *what, const char *name);
void cv_cli_agent_options_clear(CvCliAgentOptions *o);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CvCliAgentOptions, cv_cli_agent_options_clear)

G_END_DECLS
