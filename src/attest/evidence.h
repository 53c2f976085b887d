/* Evidence bundles (docs/evidence.md): what the agent returns at GET /v1/attestation?nonce=,
 * how it binds the nonce, the agent's TLS key and the manifest into the platform's report data,
 * the collector that makes it inside the CVM, and the verifier's entry point for a bundle.
 *
 * Agent side:
 *   g_autoptr(CvAttestCollector) c = cv_attest_collector_new("vtpm", "device:/dev/tpmrm0", NULL, &error);
 *   cv_attest_collector_extend_manifest(c, manifest_sha256, &error);     // once, before the first upload
 *   JsonNode *bundle = cv_attest_collector_collect(c, nonce, nonce_len, tls_key_sha256, manifest_sha256, &error);
 *   // POST /v1/attestation/credential (vtpm), body {"credential_blob":b64,"encrypted_secret":b64}:
 *   JsonNode *answer = cv_attest_collector_activate_json(c, request_body, &error);  // {"secret":b64}; 400 on error
 * The guest needs securityfs mounted (/sys/kernel/security) for the event log, and the initramfs
 * libtss2-tcti-device.so.0, which tss2-tctildr loads with dlopen().
 * Verifier side: cv_attest_evidence_verify() (below) or cv_attest_agent() in attest-client.h. */
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

/* ---- collector (inside the CVM) ---- */
typedef struct _CvAttestCollector CvAttestCollector;

/* platform "vtpm": tcti is a TCTI config string ("device:/dev/tpmrm0", "swtpm:host=127.0.0.1,port=2321"),
 * NULL means "device:/dev/tpmrm0"; event_log NULL means
 * /sys/kernel/security/tpm0/binary_bios_measurements (a missing log is left out of the bundle).
 * platform "sev-snp" / "tdx": reports through configfs-tsm (/sys/kernel/config/tsm/report); sev-snp
 * also opens a vTPM (COCONUT-SVSM's) when tcti is given or /dev/tpmrm0 exists, and then quotes it too. The EK (TCG template L-1, the key swtpm_setup certified) and an RSA-2048
 * restricted signing AK are created here as primary keys of the endorsement hierarchy and kept. */
CvAttestCollector *cv_attest_collector_new(const char *platform, const char *tcti, const char *event_log,
                                           GError **error);
/* The same with the kernel's sysfs/configfs paths under root (NULL or "" = the real ones): tests use a
 * directory that stands in for configfs-tsm and the TDX measurement attributes. */
CvAttestCollector *cv_attest_collector_new_at(const char *platform, const char *tcti, const char *event_log,
                                              const char *root, GError **error);
void cv_attest_collector_free(CvAttestCollector *collector);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAttestCollector, cv_attest_collector_free)

/* Extends PCR 16 (vtpm) with the manifest's SHA-256, or RTMR 3 (tdx, through Linux 6.16's
 * /sys/class/misc/tdx_guest/measurements/rtmr3:sha384; RTMR 3 must still be zero) with
 * cv_attest_rtmr3_manifest_value(), once: the same hash again is a no-op, another one
 * CV_ERROR_CONFLICT. sev-snp without a vTPM has nothing to extend: CV_ERROR_UNAVAILABLE. */
gboolean cv_attest_collector_extend_manifest(CvAttestCollector *collector, const guint8 manifest_sha256[32],
                                             GError **error);

/* The evidence bundle (a JSON object, docs/evidence.md) for this nonce. manifest_sha256 may be NULL;
 * when given (vtpm, tdx), PCR 16 / RTMR 3 is extended with it first if that has not happened yet. Not thread-safe:
 * one call at a time per collector. */
JsonNode *cv_attest_collector_collect(CvAttestCollector *collector, const guint8 *nonce, gsize nonce_len,
                                      const guint8 tls_key_sha256[32], const guint8 *manifest_sha256,
                                      GError **error);

/* vtpm: TPM2_ActivateCredential with the AK and the EK: returns the secret the verifier sealed
 * with cv_attest_make_credential(); credential_blob is a marshalled TPM2B_ID_OBJECT,
 * encrypted_secret a marshalled TPM2B_ENCRYPTED_SECRET. */
GBytes *cv_attest_collector_activate_credential(CvAttestCollector *collector, GBytes *credential_blob,
                                                GBytes *encrypted_secret, GError **error);

/* The agent's POST /v1/attestation/credential handler in one call: request
 * {"credential_blob": base64, "encrypted_secret": base64} → answer {"secret": base64}.
 * Bad input → CV_ERROR_INVALID (answer 400). */
JsonNode *cv_attest_collector_activate_json(CvAttestCollector *collector, JsonNode *request, GError **error);

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
