/* Intel TDX quotes, versions 4 and 5 (Intel TDX DCAP Quote Generation Library and Quote Verification
 * Library API, "Quote Format"): header, TD quote body (v5: after a body descriptor — type 2, TD report
 * 1.0, 584 bytes; type 3, TD report 1.5, 648 bytes adding TEE_TCB_SVN2 and MRSERVICETD — which the
 * signature covers too), ECDSA P-256 quote signature by the
 * attestation key, QE report signed by the PCK key, QE report data binding the attestation key,
 * PCK chain (certification data type 6 wrapping type 5) to the Intel SGX Root CA. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "verdict.h"

G_BEGIN_DECLS

#define CV_ATTEST_TDX_HEADER_SIZE 48
#define CV_ATTEST_TDX_BODY_SIZE 584
#define CV_ATTEST_TDX_BODY15_SIZE 648
#define CV_ATTEST_TDX_BODY_DESCRIPTOR_SIZE 6
#define CV_ATTEST_TDX_QE_REPORT_SIZE 384
#define CV_ATTEST_TDX_MAX_QUOTE (64 * 1024)
#define CV_ATTEST_TDX_ATTR_DEBUG 1ULL

typedef struct {
    guint16 version;
    guint16 att_key_type;
    guint32 tee_type;
    guint8 qe_vendor_id[16];
    /* TD quote body */
    guint8 tee_tcb_svn[16];
    guint8 mrseam[48];
    guint8 mrsignerseam[48];
    guint64 seam_attributes;
    guint64 td_attributes;
    guint64 xfam;
    guint8 mrtd[48];
    guint8 mrconfigid[48];
    guint8 mrowner[48];
    guint8 mrownerconfig[48];
    guint8 rtmr[4][48];
    guint8 report_data[64];
    /* v5 with a TD report 1.5 body (body_type 3); zero otherwise */
    guint16 body_type;          /* v4: 2 (TD report 1.0) implied */
    guint8 tee_tcb_svn2[16];
    guint8 mrservicetd[48];
    gsize signed_len;           /* header (‖ body descriptor) ‖ body: what the attestation key signs */
    /* signature data; pointers into the quote */
    const guint8 *signature;    /* 64: r ‖ s big-endian */
    const guint8 *attest_key;   /* 64: x ‖ y */
    const guint8 *qe_report;    /* 384 */
    const guint8 *qe_report_signature; /* 64 */
    const guint8 *qe_auth_data;
    gsize qe_auth_data_len;
    const guint8 *pck_chain;    /* PEM */
    gsize pck_chain_len;
    gsize trailing;             /* bytes after the signature data, unsigned and ignored */
} CvAttestTdxQuote;

/* Parses a v4 or v5 quote; pointers in `quote` point into `data`, which must outlive it. */
gboolean cv_attest_tdx_quote_parse(const guint8 *data, gsize len, CvAttestTdxQuote *quote, GError **error);

/* Verifies against the Intel SGX Root CA (PEM) and a policy (JSON object, docs/policy.md; NULL =
 * default: debug refused). NULL + error only when the quote, the root or the policy cannot be read. */
CvAttestVerdict *cv_attest_tdx_verify(const guint8 *data, gsize len, const void *root_pem, gsize root_len,
                                      JsonObject *policy, gint64 at_unix_time, GError **error);

G_END_DECLS
