/* Evidence bundles (docs/evidence.md): what the agent returns at GET /v1/attestation?nonce=,
 * how it binds the nonce, the agent's TLS key and the manifest into the platform's report data,
 * and the verifier's entry point for a bundle: cv_attest_evidence_verify() (below) or
 * cv_client_attest_agent() in src/client/attest-client.h. The guest's collector that makes a bundle
 * is agent/collector.h. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "verdict.h"

G_BEGIN_DECLS

#define CV_ATTEST_NONCE_MIN 16
#define CV_ATTEST_NONCE_MAX 64
#define CV_ATTEST_REPORT_DATA_SIZE 64
/* PCRs a vtpm quote covers (SHA-256 bank): 0-9 measured boot, 16 the manifest. */
#define CV_ATTEST_QUOTE_PCR_MASK (((1u << 10) - 1) | (1u << 16))
#define CV_ATTEST_MANIFEST_PCR 16

/* report_data = SHA-512(nonce ‖ tls_key_sha256 ‖ manifest_sha256), 64 bytes; manifest_sha256 NULL
 * means 32 zero bytes (no manifest yet). nonce is 16..64 bytes. */
gboolean cv_attest_report_data(const guint8 *nonce, gsize nonce_len, const guint8 tls_key_sha256[32],
                               const guint8 *manifest_sha256, guint8 out[CV_ATTEST_REPORT_DATA_SIZE],
                               GError **error);

/* SEV-SNP with a vTPM (COCONUT-SVSM): the TPM quote carries report_data as for vtpm, and the SNP
 * report binds that quote's AK: REPORT_DATA = SHA-512(report_data ‖ SHA-256(AK as marshalled TPM2B_PUBLIC)). */
gboolean cv_attest_tee_vtpm_report_data(const guint8 report_data[CV_ATTEST_REPORT_DATA_SIZE], const guint8 *ak_public,
                                        gsize ak_public_len, guint8 out[CV_ATTEST_REPORT_DATA_SIZE], GError **error);

#define CV_ATTEST_RTMR_SIZE 48
/* What the tdx agent extends RTMR 3 with: manifest_sha256 ‖ 16 zero bytes. The verifier's
 * tdx.rtmr3.manifest expects RTMR 3 = SHA-384(48 zero bytes ‖ that value). */
void cv_attest_rtmr3_manifest_value(const guint8 manifest_sha256[32], guint8 out[CV_ATTEST_RTMR_SIZE]);

/* ---- verifier ---- */
/* Verifies a bundle against a policy (policy.h format; NULL = the platform's secure default):
 * platform evidence, then report data = cv_attest_report_data(expected nonce, bundle's TLS key
 * hash, expected manifest hash or the bundle's when expected_manifest_sha256 is NULL).
 * Returns NULL + error only when the bundle cannot be read at all; otherwise a verdict to inspect. */
CvAttestVerdict *cv_attest_evidence_verify(JsonNode *bundle, JsonNode *policy, const guint8 *nonce,
                                           gsize nonce_len, const guint8 *expected_manifest_sha256,
                                           gint64 at_unix_time, GError **error);
/* The TLS key hash the bundle claims (hex), to pin after a passing verdict. */
char *cv_attest_evidence_tls_key_sha256(JsonNode *bundle, GError **error);

/* verifier side of credential activation (OpenSSL): seals a fresh secret to the EK (RSA-2048,
 * from its certificate, DER) for the AK's TPM name; returns the secret and the two blobs. */
gboolean cv_attest_make_credential(GBytes *ek_cert_der, GBytes *ak_name, GBytes **secret,
                                   GBytes **credential_blob, GBytes **encrypted_secret, GError **error);

G_END_DECLS
