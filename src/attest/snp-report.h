/* AMD SEV-SNP attestation reports (SNP firmware ABI, ATTESTATION_REPORT, versions 2-5: the fields
 * used here sit at the same offsets in each) and their verification: ECDSA P-384 signature by the
 * VCEK or VLEK, VCEK/VLEK → ASK/ASVK → ARK (RSA-PSS), TCB extensions, and policy checks. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "verdict.h"

G_BEGIN_DECLS

#define CV_ATTEST_SNP_REPORT_SIZE 0x4A0
#define CV_ATTEST_SNP_SIGNED_SIZE 0x2A0
#define CV_ATTEST_SNP_POLICY_DEBUG (1ULL << 19)

typedef struct {
    guint32 version;
    guint32 guest_svn;
    guint64 policy;
    guint8 family_id[16];
    guint8 image_id[16];
    guint32 vmpl;
    guint32 signature_algo;
    guint64 current_tcb;
    guint64 platform_info;
    guint32 signing_key;        /* bits 4:2 of the key info word: 0 VCEK, 1 VLEK, 7 none */
    gboolean mask_chip_id;
    guint8 report_data[64];
    guint8 measurement[48];
    guint8 host_data[32];
    guint8 id_key_digest[48];
    guint8 author_key_digest[48];
    guint8 report_id[32];
    guint64 reported_tcb;
    guint8 cpuid_family, cpuid_model, cpuid_stepping; /* version >= 3 */
    guint8 chip_id[64];
    guint64 committed_tcb;
    guint64 launch_tcb;
    guint8 sig_r[72];           /* little-endian */
    guint8 sig_s[72];
} CvAttestSnpReport;

gboolean cv_attest_snp_report_parse(const guint8 *data, gsize len, CvAttestSnpReport *report, GError **error);

/* The trusted ASK/ASVK + ARK certificates (one PEM file, as AMD's KDS serves them), with a cache
 * of endorsement keys (VCEK/VLEK) whose chain already verified. A trust is used by one thread at
 * a time (the cache is not locked). */
typedef struct _CvAttestSnpTrust CvAttestSnpTrust;
CvAttestSnpTrust *cv_attest_snp_trust_new(const void *ca_pem, gsize len, GError **error);
void cv_attest_snp_trust_free(CvAttestSnpTrust *trust);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAttestSnpTrust, cv_attest_snp_trust_free)

/* Verifies a report with its VCEK/VLEK certificate (DER or PEM) against the trust and the policy
 * (JSON object, docs/policy.md; NULL = secure default: debug refused). at_unix_time 0 = now.
 * NULL + error only when the report or the policy cannot be read; otherwise every check is in
 * the verdict. */
CvAttestVerdict *cv_attest_snp_verify(CvAttestSnpTrust *trust, const guint8 *report, gsize len,
                                      const guint8 *ek_cert, gsize ek_cert_len, JsonObject *policy,
                                      gint64 at_unix_time, GError **error);

/* The VCEK or VLEK (DER) from the certificate table the host gives with an extended report
 * (GHCB specification: {GUID, offset, length} entries, offsets from the table's start, a zero
 * entry last). CV_ERROR_UNAVAILABLE when the table has neither. */
GBytes *cv_attest_snp_cert_table_find(GBytes *table, GError **error);

G_END_DECLS
