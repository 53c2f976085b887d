/* The agent as a client of a Key Broker Service (Trustee's RCAR protocol, version 0.4.0;
 * docs/remote-resources.md): auth → challenge, attest with evidence bound to an ephemeral key,
 * then GET the resource (session cookie or Bearer token) and open its JWE.
 *
 *   CvKbsConfig config = { .url = "https://kbs:8080", .tee = "tpm",
 *                          .evidence = my_evidence, .evidence_data = collector };
 *   CvKbsStep step;
 *   g_autoptr(GBytes) key = cv_kbs_fetch(&config, "default/key/algo-key", &step, &error);
 *
 * Synchronous (a private GMainContext): call it from a worker thread, not the agent's main loop. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "cv-enum.h"
#include "kbs-evidence.h"
#include "kbs-jwe.h"

G_BEGIN_DECLS

/* where a fetch failed; `hash` is the caller's (the manifest hash of what it finally holds) */
typedef enum {
    CV_KBS_STEP_AUTH,
    CV_KBS_STEP_ATTEST,
    CV_KBS_STEP_RESOURCE,
    CV_KBS_STEP_DECRYPT,
    CV_KBS_STEP_HASH,
    CV_KBS_STEP_COUNT
} CvKbsStep;
CV_ENUM_DECL(cv_kbs_step, CvKbsStep);

/* primary_evidence bound to the runtime-data digest (cv_kbs_evidence_collect for a collector) */
typedef JsonNode *(*CvKbsEvidenceFunc)(gpointer data, const char *tee, const guint8 digest[CV_KBS_DIGEST_SIZE],
                                       GError **error);

typedef struct {
    const char *url;              /* http://host:port or https://…, without /kbs/v0 */
    const char *tee;              /* "tpm", "snp", "tdx", "sample", … (Request.tee) */
    CvKbsEvidenceFunc evidence;
    gpointer evidence_data;
    CvKbsKeyType key_type;        /* CV_KBS_KEY_EC_P256 (default) or CV_KBS_KEY_RSA */
    gboolean bearer;              /* GET with Authorization: Bearer <token> rather than the cookie */
    const char *ca_file;          /* PEM CA for an https URL; NULL: the system store */
    guint handshakes;             /* handshake attempts, 0 = 5 (guest-components) */
    guint resource_attempts;      /* GETs, a 401 starting a new handshake, 0 = 3 */
    guint retry_delay_ms;         /* between handshakes, 0 = 1000 */
    guint timeout_s;              /* per HTTP exchange, 0 = 30 */
} CvKbsConfig;

/* `path` is <repo>/<type>/<tag>, each [A-Za-z0-9_-][A-Za-z0-9_.-]*. The plaintext resource, or NULL
 * with *failed set and the error's message starting with the step ("kbs attest: …"); a resource the
 * KBS does not have is CV_ERROR_NOT_FOUND (Trustee answers 401, its documentation 404). */
GBytes *cv_kbs_fetch(const CvKbsConfig *config, const char *path, CvKbsStep *failed, GError **error);

/* the evidence callback for a CvAgentCollector (evidence_data) */
JsonNode *cv_kbs_collector_evidence(gpointer collector, const char *tee, const guint8 digest[CV_KBS_DIGEST_SIZE],
                                    GError **error);

/* The KBS's Challenge: `nonce` (kept as received) and `extra-params` ("" or an object). */
gboolean cv_kbs_parse_challenge(const char *text, gsize len, char **nonce, GError **error);
/* the Attestation reply {"token": "…"} */
char *cv_kbs_parse_token(const char *text, gsize len, GError **error);

G_END_DECLS
