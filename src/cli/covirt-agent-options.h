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
/* --agent and --key present, then attest-and-pin (or pin); NULL and `usage` or the reason otherwise */
CvAgentClient *cv_cli_agent_connect(const CvCliAgentOptions *o, const char *usage, GError **error);
/* an upload's answer: JSON, or "WHAT NAME accepted (SHA3-256 …); agent state …" */
void cv_cli_agent_print_upload(JsonNode *answer, gboolean json, const char *what, const char *name);
void cv_cli_agent_options_clear(CvCliAgentOptions *o);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CvCliAgentOptions, cv_cli_agent_options_clear)

G_END_DECLS
