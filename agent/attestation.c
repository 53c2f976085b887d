/* GET /v1/attestation?nonce=HEX: the evidence bundle from the collector (collector.h);
 * an agent run with --platform none answers 501 (CV_ERROR_NOT_SUPPORTED). */
#include "agent.h"
#include "collector.h"
#include "evidence.h"
#include "cv-error.h"
#include "cv-util.h"

#include <string.h>

static CvAgentCollector *
collector(CvAgent *agent, GError **error)
{
    if (strcmp(agent->opts.platform, "none") == 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_NOT_SUPPORTED, "this agent runs without a platform (--platform none)");
        return NULL;
    }
    if (!agent->collector)
        agent->collector = cv_agent_collector_new(agent->opts.platform, agent->opts.tcti, NULL, error);
    return agent->collector;
}

JsonNode *
cv_agent_attestation(CvAgent *agent, const char *nonce_hex, GError **error)
{
    g_autoptr(GBytes) nonce = NULL;
    CvAgentCollector *c;

    nonce = nonce_hex ? cv_hex_decode(nonce_hex, NULL) : NULL;
    if (!nonce || g_bytes_get_size(nonce) < CV_ATTEST_NONCE_MIN || g_bytes_get_size(nonce) > CV_ATTEST_NONCE_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "nonce must be %d to %d bytes of hex", CV_ATTEST_NONCE_MIN,
                    CV_ATTEST_NONCE_MAX);
        return NULL;
    }
    c = collector(agent, error);
    if (!c)
        return NULL;
    return cv_agent_collector_collect(c, g_bytes_get_data(nonce, NULL), g_bytes_get_size(nonce),
                                      agent->tls_sha256, agent->manifest ? agent->manifest->sha256 : NULL, error);
}

JsonNode *
cv_agent_attestation_credential(CvAgent *agent, JsonNode *request, GError **error)
{
    CvAgentCollector *c = collector(agent, error);

    if (!c)
        return NULL;
    return cv_agent_collector_activate_json(c, request, error);
}

void
cv_agent_attestation_manifest(CvAgent *agent)
{
    g_autoptr(GError) error = NULL;
    CvAgentCollector *c;

    if (strcmp(agent->opts.platform, "none") == 0)
        return;
    c = collector(agent, &error);
    if (!c || !cv_agent_collector_extend_manifest(c, agent->manifest->sha256, &error))
        g_warning("the manifest could not be measured: %s", error->message);
}

void
cv_agent_attestation_free(CvAgent *agent)
{
    g_clear_pointer(&agent->collector, cv_agent_collector_free);
}
