/* One timeout for every HTTP request a client program makes (covirt --timeout, COVIRT_TIMEOUT): the
 * sessions of libcvclient and the CLI's own come from here. */
#pragma once
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define CV_CLIENT_TIMEOUT_DEFAULT_S 30
#define CV_CLIENT_TIMEOUT_MAX_S 86400

/* seconds that each step of a request may wait without progress (connecting, the TLS handshake, each
 * read and write of the request and its answer); 0: no bound */
void cv_client_set_timeout(guint seconds);
guint cv_client_get_timeout(void);
/* "30", "90s", "2m", "1h", or "0" for no bound; at most CV_CLIENT_TIMEOUT_MAX_S */
gboolean cv_client_timeout_parse(const char *text, guint *seconds, GError **error);
/* A session with the timeout (and "idle-timeout" for its idle connections) and user_agent (NULL:
 * covirt/VERSION). */
SoupSession *cv_client_session_new(const char *user_agent);
/* A transport error's text: a timeout says which bound passed and how to change it. */
char *cv_client_transport_message(const GError *error);

G_END_DECLS
