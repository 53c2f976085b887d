/* The SEV-SNP launch digest: each SNP_LAUNCH_UPDATE extends the digest with SHA-384 over a PAGE_INFO
 * structure (AMD SEV-SNP firmware ABI, "PAGE_INFO": the current digest, the page's contents digest, its
 * length, type and GPA). The helpers here build that chain and the VMSA pages the VMM hands the PSP. */
#pragma once
#include <glib.h>
#include "cv-error.h"
#include "ovmf.h"

G_BEGIN_DECLS

#define CV_SNP_DIGEST_SIZE 48

typedef enum {
    CV_SNP_PAGE_NORMAL = 1,
    CV_SNP_PAGE_VMSA = 2,
    CV_SNP_PAGE_ZERO = 3,
    CV_SNP_PAGE_UNMEASURED = 4,
    CV_SNP_PAGE_SECRETS = 5,
    CV_SNP_PAGE_CPUID = 6,
} CvSnpPageType;

/* The VMM that builds the VMSAs: each sets a few registers its own way */
typedef enum {
    CV_SNP_VMM_QEMU,
    CV_SNP_VMM_EC2,
    CV_SNP_VMM_GCE,
    CV_SNP_VMM_COUNT
} CvSnpVmm;

typedef struct CvSnpChain CvSnpChain;

/* A chain starting from `seed` (48 bytes; NULL: zeros) */
CvSnpChain *cv_snp_chain_new(const guint8 *seed);
void cv_snp_chain_free(CvSnpChain *chain);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvSnpChain, cv_snp_chain_free)
const guint8 *cv_snp_chain_digest(const CvSnpChain *chain);

/* One PAGE_INFO with its contents digest given (zeros for the types without contents) */
void cv_snp_chain_update(CvSnpChain *chain, CvSnpPageType type, guint64 gpa, const guint8 *contents);
/* NORMAL pages of `len` bytes (a multiple of 4096) loaded at gpa */
void cv_snp_chain_normal(CvSnpChain *chain, guint64 gpa, const guint8 *data, gsize len);
/* ZERO / UNMEASURED pages over [gpa, gpa + len) */
void cv_snp_chain_empty(CvSnpChain *chain, CvSnpPageType type, guint64 gpa, gsize len);
void cv_snp_chain_vmsa(CvSnpChain *chain, const guint8 page[CV_PAGE_SIZE]);

/* The VMSA a vCPU starts from. `svsm`: the COCONUT-SVSM layout (64-bit flat segments at eip, QEMU's
 * IGVM loader); otherwise the 16-bit real-mode reset state at eip. */
typedef struct {
    guint64 eip;
    guint64 sev_features;
    guint32 vcpu_sig;
    CvSnpVmm vmm;
    gboolean svsm;
} CvSnpVmsaParams;

void cv_snp_vmsa_build(const CvSnpVmsaParams *params, guint8 page[CV_PAGE_SIZE]);

G_END_DECLS
