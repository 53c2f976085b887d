/* libFuzzer: a TDX quote, verified against the Intel root from the test vectors when readable. */
#include "tdx-quote.h"
#include "cv-util.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static GBytes *root;
    static gboolean init;
    CvAttestTdxQuote q;

    if (!init) {
        init = TRUE;
        root = cv_read_file(COVIRT_TESTVECTORS "/tdx/intel_sgx_root_ca.pem", 1 << 20, NULL);
    }
    cv_attest_tdx_quote_parse(data, size, &q, NULL);
    if (root) {
        CvAttestVerdict *v = cv_attest_tdx_verify(data, size, g_bytes_get_data(root, NULL), g_bytes_get_size(root),
                                                  NULL, 0, NULL);
        cv_attest_verdict_free(v);
    }
    return 0;
}
