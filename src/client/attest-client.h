/* `covirt attest` as a library: a fresh nonce, the agent's evidence bundle over HTTPS, the verdict,
 * credential activation (vtpm), and the agent's TLS key to pin for the uploads that follow.
 * In libcvclient (libsoup-3); the verifier it calls (src/attest) has no network access.
 *
 *   guint8 pin[32];
 *   g_autoptr(CvAttestVerdict) v = cv_client_attest_agent("https://127.0.0.1:7002", policy, manifest_sha256, pin, &error);
 *   if (!v || !cv_attest_verdict_passed(v)) → refuse;   // pin is set only on a pass
 *   then talk to the agent with that key pinned: cv_agent_client_new(url, key, hex of pin, &error)
 */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include "verdict.h"

G_BEGIN_DECLS

/* Attests the agent at agent_url (https://host:port, no path). policy: a parsed policy
 * (policy.h; its platform must be the agent's). manifest_sha256: the manifest the user expects
 * (NULL = whatever the CVM holds, reported). Returns the verdict, or NULL + error when the agent
 * cannot be reached or answers garbage. pinned_key_sha256 is written only when the verdict passed. */
CvAttestVerdict *cv_client_attest_agent(const char *agent_url, JsonNode *policy, const guint8 *manifest_sha256,
                                        guint8 pinned_key_sha256[32], GError **error);

/* SHA-256 of a TLS certificate's SubjectPublicKeyInfo (what bundles carry as tls_key_sha256) */
gboolean cv_client_tls_key_sha256(GTlsCertificate *cert, guint8 out[32], GError **error);

G_END_DECLS
