/* GET /v1/attestation?nonce=HEX and the credential activation: the collector (collector.h) for the
 * agent's platform; an agent run with --platform none answers 501 (CV_ERROR_NOT_SUPPORTED). */
#include "attestation.h"
#include "collector.h"
#include "evidence.h"
#include "cv-error.h"
#include "cv-util.h"

#include <string.h>

struct _CvAgentAttestation {
    char *platform;
    char *tcti;
    CvAgentCollector *collector;  /* made on first use */
};

CvAgentAttestation *
cv_agent_attestation_new(const char *platform, const char *tcti)
{
    CvAgentAttestation *a = g_new0(CvAgentAttestation, 1);

    a->platform = g_strdup(platform ? platform : "none");
    a->tcti = g_strdup(tcti);
    return a;
}

void
cv_agent_attestation_free(CvAgentAttestation *a)
{
    if (!a)
        return;
    cv_agent_collector_free(a->collector);
    g_free(a->platform);
    g_free(a->tcti);
    g_free(a);
}

static CvAgentCollector *
collector(CvAgentAttestation *a, GError **error)
{
    if (strcmp(a->platform, "none") == 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_NOT_SUPPORTED, "this agent runs without a platform (--platform none)");
        return NULL;
    }
    if (!a->collector)
        a->collector = cv_agent_collector_new(a->platform, a->tcti, NULL, error);
    return a->collector;
}

JsonNode *
cv_agent_attestation_collect(CvAgentAttestation *a, const char *nonce_hex, const guint8 tls_sha256[32],
                             const guint8 *manifest_sha256, GError **error)
{
    g_autoptr(GBytes) nonce = nonce_hex ? cv_hex_decode(nonce_hex, NULL) : NULL;
    CvAgentCollector *c;

    if (!nonce || g_bytes_get_size(nonce) < CV_ATTEST_NONCE_MIN || g_bytes_get_size(nonce) > CV_ATTEST_NONCE_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "nonce must be %d to %d bytes of hex", CV_ATTEST_NONCE_MIN,
                    CV_ATTEST_NONCE_MAX);
        return NULL;
    }
    if (!(c = collector(a, error)))
        return NULL;
    return cv_agent_collector_collect(c, g_bytes_get_data(nonce, NULL), g_bytes_get_size(nonce), tls_sha256,
                                      manifest_sha256, error);
}

JsonNode *
cv_agent_attestation_credential(CvAgentAttestation *a, JsonNode *request, GError **error)
{
    CvAgentCollector *c = collector(a, error);

    return c ? cv_agent_collector_activate_json(c, request, error) : NULL;
}

void
cv_agent_attestation_measure(CvAgentAttestation *a, const guint8 manifest_sha256[32])
{
    g_autoptr(GError) error = NULL;
    CvAgentCollector *c;

    if (strcmp(a->platform, "none") == 0)
        return;
    c = collector(a, &error);
    if (!c || !cv_agent_collector_extend_manifest(c, manifest_sha256, &error))
        g_warning("the manifest could not be measured: %s", error->message);
}
