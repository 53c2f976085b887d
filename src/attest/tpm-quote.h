/* TPM 2.0 quotes: TPMS_ATTEST and TPMT_SIGNATURE unmarshalled with tpm2-tss's MU library, the AK
 * signature (RSASSA, RSAPSS, ECDSA), pcrDigest against PCR values, extraData, the event log replayed
 * into the quoted PCRs, and policy checks on PCR values and boot events. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>
#include "verdict.h"

G_BEGIN_DECLS

#define CV_ATTEST_TPM_MAX_BLOB 8192

/* PCR values of the SHA-256 bank (the only one covirt's vTPMs have). */
typedef struct {
    guint8 value[24][32];
    guint32 present;            /* bit i: value[i] is known */
} CvAttestPcrs;

/* tpm2_quote -o (tpm2-tools' "serialized" format: TPML_PCR_SELECTION then TPML_DIGESTs as the
 * tools write them, host byte order), or -F values (the quoted PCRs' values back to back) when
 * `selection` is given. Only SHA-256 values are taken. */
gboolean cv_attest_pcrs_from_tpm2_tools(const guint8 *data, gsize len, const TPML_PCR_SELECTION *selection,
                                        CvAttestPcrs *pcrs, GError **error);
/* {"0": "hex", "16": "hex"} or ["hex" × 24] */
gboolean cv_attest_pcrs_from_json(JsonNode *node, CvAttestPcrs *pcrs, GError **error);
JsonNode *cv_attest_pcrs_to_json(const CvAttestPcrs *pcrs);

/* Public keys: PEM or DER SubjectPublicKeyInfo; a marshalled TPM2B_PUBLIC. */
EVP_PKEY *cv_attest_pkey_from_pem_or_der(const guint8 *data, gsize len, GError **error);
gboolean cv_attest_tpm2b_public_parse(const guint8 *data, gsize len, TPM2B_PUBLIC *pub, GError **error);
EVP_PKEY *cv_attest_tpm_public_to_pkey(const TPMT_PUBLIC *pub, GError **error);
/* name = nameAlg ‖ H(marshalled TPMT_PUBLIC) */
GBytes *cv_attest_tpm_public_name(const TPMT_PUBLIC *pub, GError **error);

typedef struct {
    EVP_PKEY *ak;                 /* required */
    const TPMT_PUBLIC *ak_public; /* when known: attributes and qualifiedSigner are checked */
    const guint8 *nonce;          /* expected extraData; NULL → not checked */
    gsize nonce_len;
    const CvAttestPcrs *pcrs;     /* PCR values the quote is over (required) */
    GBytes *event_log;            /* NULL → none */
    JsonObject *policy;           /* "pcrs", "events", "require_event_log" (docs/policy.md) */
} CvAttestTpmInput;

/* Adds the tpm.* checks to `verdict`. FALSE + error only when the quote or the signature cannot be
 * unmarshalled (or the policy is malformed). */
gboolean cv_attest_tpm_verify(CvAttestVerdict *verdict, const guint8 *attest, gsize attest_len,
                              const guint8 *signature, gsize signature_len, const CvAttestTpmInput *input,
                              GError **error);

G_END_DECLS
