/* A verdict: the named checks a verifier ran, each pass / fail / not checked with the values it saw.
 * A verdict passes only when no check failed and at least one check passed; "not checked" is shown,
 * never counted as a pass (e.g. TDX TCB status without Intel's collateral). */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "cv-enum.h"

G_BEGIN_DECLS

typedef enum {
    CV_ATTEST_PASS,
    CV_ATTEST_FAIL,
    CV_ATTEST_NOT_CHECKED,
    CV_ATTEST_STATUS_COUNT
} CvAttestStatus;
/* "pass", "fail", "not-checked": a check's status in the JSON verdict (upper case in the text one) */
CV_ENUM_DECL(cv_attest_status, CvAttestStatus);

typedef struct {
    char *name;         /* e.g. "snp.signature", "tpm.pcr.9" */
    CvAttestStatus status;
    char *detail;       /* the values seen (and expected), one line */
} CvAttestCheck;

typedef struct {
    char *platform;     /* "sev-snp", "tdx", "vtpm" */
    GPtrArray *checks;  /* of CvAttestCheck */
} CvAttestVerdict;

CvAttestVerdict *cv_attest_verdict_new(const char *platform);
void cv_attest_verdict_free(CvAttestVerdict *verdict);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAttestVerdict, cv_attest_verdict_free)

void cv_attest_verdict_add(CvAttestVerdict *verdict, const char *name, CvAttestStatus status,
                           const char *detail_format, ...) G_GNUC_PRINTF(4, 5);
/* replaces the check of that name (or adds it) */
void cv_attest_verdict_set(CvAttestVerdict *verdict, const char *name, CvAttestStatus status,
                           const char *detail_format, ...) G_GNUC_PRINTF(4, 5);
/* moves src's checks to the end of dst */
void cv_attest_verdict_merge(CvAttestVerdict *dst, CvAttestVerdict *src);
/* TRUE when no check failed and at least one passed. */
gboolean cv_attest_verdict_passed(const CvAttestVerdict *verdict);
/* the check of that name, or NULL */
const CvAttestCheck *cv_attest_verdict_find(const CvAttestVerdict *verdict, const char *name);
/* names of the failed checks, comma separated ("" when none) */
char *cv_attest_verdict_failed_names(const CvAttestVerdict *verdict);

/* {"platform":..., "passed":bool, "checks":[{"name","status","detail"}]} */
JsonNode *cv_attest_verdict_to_json(const CvAttestVerdict *verdict);
/* one line per check: "PASS  name  detail" */
char *cv_attest_verdict_to_text(const CvAttestVerdict *verdict);

G_END_DECLS
