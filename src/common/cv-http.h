/* The JSON answers both servers (the manager's API and the agent's) write. Apart from cvcommon because it
 * needs libsoup, which the agent core and the conf/attest libraries must not know. */
#pragma once
#include <libsoup/soup.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* seconds a 503 tells the client to wait (Retry-After) */
#define CV_HTTP_RETRY_AFTER_S 5

void cv_http_respond_json(SoupServerMessage *msg, guint status, JsonNode *node);
/* {"error": {"code": CODE, "message": MESSAGE}} with status */
void cv_http_respond_error(SoupServerMessage *msg, guint status, const char *code, const char *message);
/* the same for a GError: status and code from src/common/cv-error.c's table */
void cv_http_respond_gerror(SoupServerMessage *msg, const GError *error);

/* libsoup answers some requests itself, before or instead of the handlers: a head it cannot parse, a path
 * it cannot decode, a Transfer-Encoding or HTTP version it does not speak, a path no handler covers. Those
 * answers get the same JSON error body as the handlers' (issue 14); call once, before connecting other
 * "request-started" handlers. */
void cv_http_server_json_errors(SoupServer *server);

G_END_DECLS
