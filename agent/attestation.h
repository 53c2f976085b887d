/* The agent's evidence (docs/evidence.md): the collector for its platform, made on first use and
 * kept; an agent run with --platform none has none: CV_ERROR_NOT_SUPPORTED (501). */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct _CvAgentAttestation CvAgentAttestation;

/* platform: vtpm, sev-snp, tdx or none; tcti: vtpm's TCTI, NULL for the default */
CvAgentAttestation *cv_agent_attestation_new(const char *platform, const char *tcti);
void cv_agent_attestation_free(CvAgentAttestation *attestation);

/* GET /v1/attestation?nonce=HEX: the bundle binding the nonce, the TLS key and the manifest (NULL: none
 * yet); a bad nonce is CV_ERROR_INVALID. */
JsonNode *cv_agent_attestation_collect(CvAgentAttestation *attestation, const char *nonce_hex,
                                       const guint8 tls_sha256[32], const guint8 *manifest_sha256, GError **error);
/* POST /v1/attestation/credential (vtpm credential activation) */
JsonNode *cv_agent_attestation_credential(CvAgentAttestation *attestation, JsonNode *request, GError **error);
/* Measures an accepted manifest (PCR 16 / RTMR 3). A failure is logged, not fatal: the evidence shows it. */
void cv_agent_attestation_measure(CvAgentAttestation *attestation, const guint8 manifest_sha256[32]);

G_END_DECLS
