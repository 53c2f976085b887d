/* Attestation policies (docs/policy.md) whose expected measurement comes from src/measure: what
 * `covirt policy sev-snp` prints and what the manager serves for an SEV-SNP CVM. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "snp-launch.h"

G_BEGIN_DECLS

/* {"platform":"sev-snp","description","measurement","host_data"?,"allow_debug":false}: debugging is
 * refused, whatever the guest policy asked, so that a debug CVM never passes this policy. */
JsonNode *cv_measure_snp_policy(const guint8 digest[CV_SNP_DIGEST_SIZE], GBytes *host_data, const char *description);

/* {"platform":"tdx","description","mrtd","allow_debug":false}; the caller adds RTMRs, MRCONFIGID, … */
JsonNode *cv_measure_tdx_policy(const guint8 mrtd[48], const char *description);

G_END_DECLS
