/* libFuzzer: an IGVM file (fixed header, variable headers, file data), parsed and measured as QEMU/KVM would
 * launch it on SEV-SNP. Every input is either a digest or an error; nothing reads outside the input. */
#include "igvm.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    guint8 digest[CV_SNP_DIGEST_SIZE];
    g_autoptr(GError) error = NULL;

    if (!cv_igvm_snp_measure(data, size, "fuzz", digest, &error))
        g_assert(error && error->message);
    return 0;
}
