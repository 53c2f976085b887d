/* libFuzzer: an OVMF image's tail (footer table, SEV metadata, TDX metadata), parsed, then measured as SEV-SNP
 * launches do (the metadata's pages with and without a kernel hashes page, the reset block's EIP) and as a TD's
 * MRTD. */
#include "snp-measure.h"
#include "tdx-mrtd.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

/* a launch over this much metadata is a slow input here, not a finding */
#define FUZZ_METADATA_MAX (64u << 20)

static gboolean
small_metadata(const CvFirmware *fw)
{
    guint64 total = 0;

    for (guint i = 0; i < fw->sev_sections->len; i++)
        total += g_array_index(fw->sev_sections, CvSevSection, i).size;
    return total <= FUZZ_METADATA_MAX;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    g_autoptr(CvFirmware) fw = cv_firmware_parse(data, size, "fuzz", NULL);
    g_autoptr(GArray) tdvf = NULL;
    guint8 page[CV_PAGE_SIZE], mrtd[CV_TDX_DIGEST_SIZE];
    guint32 eip;

    if (!fw)
        return 0;
    cv_firmware_entry_u32(fw, CV_GUID_SEV_ES_RESET_BLOCK, "SEV-ES reset block", &eip, NULL);
    if (small_metadata(fw)) {
        g_autoptr(CvSnpChain) chain = cv_snp_chain_new(NULL);
        g_autoptr(CvSnpChain) with_kernel = cv_snp_chain_new(NULL);

        cv_snp_measure_metadata(chain, fw, NULL, (size ? data[0] : 0) % CV_SNP_VMM_COUNT, NULL);
        static const guint8 kernel[32] = { 1 }, initrd[32] = { 2 };

        if (cv_snp_hashes_page(fw, kernel, initrd, "console=null", page, NULL))
            cv_snp_measure_metadata(with_kernel, fw, page, CV_SNP_VMM_QEMU, NULL);
    }
    /* the TDX metadata too; its sections are bounded to 4 GiB, but a fuzzer's input stays small only up to
     * a few thousand pages */
    if ((tdvf = cv_tdvf_sections(fw, NULL))) {
        guint64 pages = 0;

        for (guint i = 0; i < tdvf->len; i++)
            pages += g_array_index(tdvf, CvTdvfSection, i).memory_size / CV_PAGE_SIZE;
        if (pages <= 4096)
            cv_tdx_mrtd_compute(fw, tdvf, (size ? data[0] : 0) & 1, mrtd);
    }
    return 0;
}
