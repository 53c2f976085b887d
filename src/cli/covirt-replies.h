/* What the CLI makes of the servers' answers: the manager's errors, CVMs, lists and events, and the
 * agent's upload answers. Their members are read with their types checked (src/common/cv-json.h):
 * a server may be wrong or hostile. tests/fuzz/fuzz-manager-reply.c and fuzz-agent-reply.c feed them. */
#pragma once
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* A manager's non-2xx answer as an error with the code its status stands for and the API's message. */
void cv_cli_manager_error(guint status, const char *reason, const char *text, gsize len, GError **error);
/* a CVM (GET /v1/cvms/ID, POST /v1/cvms) as lines of "name: value" */
char *cv_cli_cvm_text(JsonNode *cvm);
/* GET /v1/cvms as a table with a header */
char *cv_cli_cvm_list_text(JsonNode *list);
/* GET /v1/hosts as a table with a header */
char *cv_cli_host_list_text(JsonNode *list);
/* one event of GET /v1/cvms/ID/events (its kind and JSON data) as a line */
char *cv_cli_cvm_event_text(const char *kind, const char *json);
/* an upload's answer: "WHAT NAME accepted (SHA3-256 …); agent state …" */
char *cv_cli_upload_text(JsonNode *answer, const char *what, const char *name);

G_END_DECLS
