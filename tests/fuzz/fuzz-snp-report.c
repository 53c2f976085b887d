/* libFuzzer: an SNP report (1184 bytes) followed by a VCEK certificate, verified against the Milan
 * ASK/ARK from the test vectors when they are readable (else parsing only). */
#include <string.h>
#include "snp-report.h"
#include "cv-util.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static CvAttestSnpTrust *trust;

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static gboolean init;
    CvAttestVerdict *v;
    CvAttestSnpReport r;

    if (!init) {
        GBytes *pem = cv_read_file(COVIRT_TESTVECTORS "/sev-snp/ask_ark_milan.pem", 1 << 20, NULL);
        init = TRUE;
        if (pem) {
            trust = cv_attest_snp_trust_new(g_bytes_get_data(pem, NULL), g_bytes_get_size(pem), NULL);
            g_bytes_unref(pem);
        }
    }
    cv_attest_snp_report_parse(data, size, &r, NULL);
    {
        /* the same bytes as a host certificate table */
        GBytes *table = g_bytes_new_static(data, size);
        GBytes *cert = cv_attest_snp_cert_table_find(table, NULL);
        if (cert)
            g_bytes_unref(cert);
        g_bytes_unref(table);
    }
    if (size < CV_ATTEST_SNP_REPORT_SIZE)
        return 0;
    v = cv_attest_snp_verify(trust, data, CV_ATTEST_SNP_REPORT_SIZE, trust ? data + CV_ATTEST_SNP_REPORT_SIZE : NULL,
                             size - CV_ATTEST_SNP_REPORT_SIZE, NULL, 0, NULL);
    if (v && cv_attest_verdict_passed(v) && size > CV_ATTEST_SNP_REPORT_SIZE)
        __builtin_trap();       /* a forged report that verifies is the bug this target hunts */
    cv_attest_verdict_free(v);
    return 0;
}
