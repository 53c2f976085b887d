/* covirt-agent's HTTPS front (docs/agent.md): the SoupServer with the agent's TLS identity, the routes
 * of src/proto/agent-api.h, signed requests and streamed uploads. It drives the core (agent.h) through
 * its functions; main.c makes both and wires them. */
#pragma once
#include <glib.h>
#include "agent.h"
#include "cv-http-listen.h"

G_BEGIN_DECLS

typedef struct _CvAgentApi CvAgentApi;

/* Makes the TLS identity (tls.h), in memory only; serves nothing yet. */
CvAgentApi *cv_agent_api_new(GError **error);
void cv_agent_api_free(CvAgentApi *api);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAgentApi, cv_agent_api_free)

/* SHA-256 of the TLS public key (SubjectPublicKeyInfo), 32 bytes: what clients pin, what the core
 * announces and the evidence binds. */
const guint8 *cv_agent_api_tls_sha256(CvAgentApi *api);

/* Serves the core's API over HTTPS (TLS 1.2 at least) on port (0: any free one) at listen_address (NULL:
 * all addresses), within limits (NULL: CV_HTTP_LISTEN_LIMITS_DEFAULT). The agent must outlive the front. */
gboolean cv_agent_api_listen(CvAgentApi *api, CvAgent *agent, guint port, const char *listen_address,
                             const CvHttpListenLimits *limits, GError **error);
/* The bound port, once listening. */
guint cv_agent_api_port(CvAgentApi *api);

G_END_DECLS
