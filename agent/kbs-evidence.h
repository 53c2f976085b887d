/* What the agent tells a KBS in RCAR's Attestation message (docs/remote-resources.md): the
 * runtime-data digest Trustee recomputes, and `primary_evidence` in the shape its verifier for the
 * platform deserialises (`tpm`, `snp`, `tdx`). */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "collector.h"

G_BEGIN_DECLS

#define CV_KBS_DIGEST_SIZE 48   /* SHA-384: every tee but `se` */

/* SHA-384 of the RFC 8785 form of {"additional-evidence", "nonce", "tee-pubkey"}, as Trustee's
 * attestation service hashes it (the nonce exactly as the challenge gave it). */
gboolean cv_kbs_runtime_digest(JsonNode *tee_pubkey, const char *nonce, const char *additional_evidence,
                               guint8 out[CV_KBS_DIGEST_SIZE], GError **error);

/* Trustee's tee name for a covirt platform: vtpm → "tpm", sev-snp → "snp", tdx → "tdx"; NULL otherwise */
const char *cv_kbs_tee_for_platform(const char *platform);

/* `primary_evidence` for `tee` ("tpm", "snp", "tdx"), bound to the runtime-data digest:
 *   tpm: {"ak_public": b64 DER SPKI, "tpm_quote": {"message": b64 TPMS_ATTEST,
 *         "signature": b64 TPMT_SIGNATURE, "pcrs": [24 × hex SHA-256]}}, qualifyingData = digest[0..32]
 *   snp: SEV's serde form of the report (cv_kbs_snp_report_json), REPORT_DATA = digest ‖ zeros
 *   tdx: {"cc_eventlog": null, "quote": b64}, REPORTDATA = digest ‖ zeros */
JsonNode *cv_kbs_evidence_collect(CvAgentCollector *collector, const char *tee,
                                  const guint8 digest[CV_KBS_DIGEST_SIZE], GError **error);

/* An SEV-SNP attestation report (1184 bytes, version 3 to 5) as the JSON the virtee/sev crate's serde
 * writes it, which Trustee's `snp` verifier reads back: byte arrays as arrays of numbers. */
JsonNode *cv_kbs_snp_report_json(const guint8 *report, gsize len, GError **error);

G_END_DECLS
