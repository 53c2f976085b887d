/* libFuzzer: TPM structures through tpm2-tss's MU and our checks. The first byte picks the entry
 * point; a quote input is [u16 attest length][TPMS_ATTEST][TPMT_SIGNATURE], checked with a fixed key. */
#include <string.h>
#include "tpm-quote.h"
#include "cv-autoptr.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static EVP_PKEY *ak;
    CvAttestPcrs pcrs;

    if (!ak)
        ak = EVP_EC_gen("P-256");
    if (size < 1)
        return 0;
    switch (data[0] % 4) {
    case 0: {
        TPM2B_PUBLIC pub;
        if (cv_attest_tpm2b_public_parse(data + 1, size - 1, &pub, NULL)) {
            EVP_PKEY *k = cv_attest_tpm_public_to_pkey(&pub.publicArea, NULL);
            GBytes *name = cv_attest_tpm_public_name(&pub.publicArea, NULL);
            EVP_PKEY_free(k);
            if (name)
                g_bytes_unref(name);
        }
        break;
    }
    case 1: {
        gsize alen;
        CvAttestTpmInput in = { 0 };
        CvAttestVerdict *v;
        if (size < 3)
            break;
        alen = (gsize)data[1] << 8 | data[2];
        if (alen > size - 3)
            break;
        memset(&pcrs, 0x11, sizeof(pcrs));
        pcrs.present = 0xffffff;
        in.ak = ak;
        in.pcrs = &pcrs;
        in.nonce = data;
        in.nonce_len = 1;
        v = cv_attest_verdict_new("vtpm");
        cv_attest_tpm_verify(v, data + 3, alen, data + 3 + alen, size - 3 - alen, &in, NULL);
        cv_attest_verdict_free(v);
        break;
    }
    case 2: {
        TPML_PCR_SELECTION sel = { .count = 1 };
        sel.pcrSelections[0].hash = 0x000b;
        sel.pcrSelections[0].sizeofSelect = 3;
        sel.pcrSelections[0].pcrSelect[0] = 0xff;
        cv_attest_pcrs_from_tpm2_tools(data + 1, size - 1, NULL, &pcrs, NULL);
        cv_attest_pcrs_from_tpm2_tools(data + 1, size - 1, &sel, &pcrs, NULL);
        break;
    }
    default: {
        EVP_PKEY *k = cv_attest_pkey_from_pem_or_der(data + 1, size - 1, NULL);
        EVP_PKEY_free(k);
        break;
    }
    }
    return 0;
}
