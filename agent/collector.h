/* The evidence collector inside the CVM (docs/evidence.md): a vTPM through tpm2-tss ESYS, or an
 * SEV-SNP / TDX report through configfs-tsm; it makes the bundle src/attest verifies.
 *
 *   g_autoptr(CvAgentCollector) c = cv_agent_collector_new("vtpm", "device:/dev/tpmrm0", NULL, &error);
 *   cv_agent_collector_extend_manifest(c, manifest_sha256, &error);     // once, before the first upload
 *   JsonNode *bundle = cv_agent_collector_collect(c, nonce, nonce_len, tls_key_sha256, manifest_sha256, &error);
 *   // POST /v1/attestation/credential (vtpm), body {"credential_blob":b64,"encrypted_secret":b64}:
 *   JsonNode *answer = cv_agent_collector_activate_json(c, request_body, &error);  // {"secret":b64}; 400 on error
 * The guest needs securityfs mounted (/sys/kernel/security) for the event log, and the initramfs
 * libtss2-tcti-device.so.0, which tss2-tctildr loads with dlopen(). */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "tpm-quote.h"

G_BEGIN_DECLS

typedef struct _CvAgentCollector CvAgentCollector;

/* platform "vtpm": tcti is a TCTI config string ("device:/dev/tpmrm0", "swtpm:host=127.0.0.1,port=2321"),
 * NULL means "device:/dev/tpmrm0"; event_log NULL means
 * /sys/kernel/security/tpm0/binary_bios_measurements (a missing log is left out of the bundle).
 * platform "sev-snp" / "tdx": reports through configfs-tsm (/sys/kernel/config/tsm/report); sev-snp
 * also opens a vTPM (COCONUT-SVSM's) when tcti is given or /dev/tpmrm0 exists, and then quotes it too.
 * The EK (TCG template L-1, the key swtpm_setup certified) and an RSA-2048 restricted signing AK are
 * created here as primary keys of the endorsement hierarchy and kept. */
CvAgentCollector *cv_agent_collector_new(const char *platform, const char *tcti, const char *event_log,
                                         GError **error);
/* The same with the kernel's sysfs/configfs paths under root (NULL or "" = the real ones): tests use a
 * directory that stands in for configfs-tsm and the TDX measurement attributes. */
CvAgentCollector *cv_agent_collector_new_at(const char *platform, const char *tcti, const char *event_log,
                                            const char *root, GError **error);
void cv_agent_collector_free(CvAgentCollector *collector);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAgentCollector, cv_agent_collector_free)

/* Extends PCR 16 (vtpm) with the manifest's SHA-256, or RTMR 3 (tdx, through Linux 6.16's
 * /sys/class/misc/tdx_guest/measurements/rtmr3:sha384; RTMR 3 must still be zero) with
 * cv_attest_rtmr3_manifest_value(), once: the same hash again is a no-op, another one
 * CV_ERROR_CONFLICT. sev-snp without a vTPM has nothing to extend: CV_ERROR_UNAVAILABLE. */
gboolean cv_agent_collector_extend_manifest(CvAgentCollector *collector, const guint8 manifest_sha256[32],
                                            GError **error);

/* The evidence bundle (a JSON object, docs/evidence.md) for this nonce. manifest_sha256 may be NULL;
 * when given (vtpm, tdx), PCR 16 / RTMR 3 is extended with it first if that has not happened yet.
 * Not thread-safe: one call at a time per collector. */
JsonNode *cv_agent_collector_collect(CvAgentCollector *collector, const guint8 *nonce, gsize nonce_len,
                                     const guint8 tls_key_sha256[32], const guint8 *manifest_sha256,
                                     GError **error);

/* For verifiers other than covirt's (a KBS, agent/kbs-evidence.c): TPM2_Quote by the AK over the
 * SHA-256 PCRs of pcr_mask with this qualifying data (at most 64 bytes): the marshalled TPMS_ATTEST and
 * TPMT_SIGNATURE, and the PCR values read right after. No TPM: CV_ERROR_UNAVAILABLE. */
gboolean cv_agent_collector_quote(CvAgentCollector *collector, const guint8 *qualifying, gsize len,
                                  guint32 pcr_mask, GBytes **attest, GBytes **signature, CvAttestPcrs *pcrs,
                                  GError **error);
/* the AK's marshalled TPM2B_PUBLIC */
GBytes *cv_agent_collector_ak_public(CvAgentCollector *collector, GError **error);
/* sev-snp / tdx: the raw report (SNP) or quote (TDX) from configfs-tsm for these 64 bytes of report data */
GBytes *cv_agent_collector_tee_report(CvAgentCollector *collector, const guint8 report_data[64], GError **error);

/* vtpm: TPM2_ActivateCredential with the AK and the EK: returns the secret the verifier sealed
 * with cv_attest_make_credential(); credential_blob is a marshalled TPM2B_ID_OBJECT,
 * encrypted_secret a marshalled TPM2B_ENCRYPTED_SECRET. */
GBytes *cv_agent_collector_activate_credential(CvAgentCollector *collector, GBytes *credential_blob,
                                               GBytes *encrypted_secret, GError **error);

/* The agent's POST /v1/attestation/credential handler in one call: request
 * {"credential_blob": base64, "encrypted_secret": base64} → answer {"secret": base64}.
 * Bad input → CV_ERROR_INVALID (answer 400). */
JsonNode *cv_agent_collector_activate_json(CvAgentCollector *collector, JsonNode *request, GError **error);

G_END_DECLS
