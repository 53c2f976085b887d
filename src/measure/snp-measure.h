/* The SEV-SNP launch digest of a QEMU (or EC2, GCE) guest from the files it boots: OVMF's pages, the
 * pages its SEV metadata names (the kernel hashes table among them when a kernel is given), then one VMSA
 * per vCPU. The same inputs and names as sev-snp-measure, so that a value can be checked with either. */
#pragma once
#include <glib.h>
#include "cv-enum.h"
#include "cv-error.h"
#include "ovmf.h"
#include "snp-launch.h"

G_BEGIN_DECLS

CV_ENUM_DECL(cv_snp_vmm, CvSnpVmm);

typedef struct {
    guint vcpus;
    guint32 vcpu_sig;
    CvSnpVmm vmm;
    guint64 guest_features;    /* SEV_FEATURES of each VMSA; sev-snp-measure's default is 0x1 (SNPActive) */
    const char *ovmf;          /* path */
    const char *kernel;        /* NULL: no kernel hashes table (the page stays zero) */
    const char *initrd;        /* NULL: hashed as empty */
    const char *append;        /* NULL: hashed as "" (the command line's NUL only) */
    const guint8 *ovmf_hash;   /* 48 bytes or NULL: the chain's value after the OVMF pages, given */
    const char *svsm;          /* COCONUT-SVSM mode: its image, below OVMF and its variable store */
    guint64 vars_size;         /* the variable store's size, in SVSM mode */
} CvSnpInputs;

gboolean cv_snp_measure(const CvSnpInputs *in, guint8 digest[CV_SNP_DIGEST_SIZE], GError **error);

/* Descriptors the caller opened and checked, read instead of the inputs' paths (which then only name
 * them); -1 where the input has no file */
typedef struct {
    int ovmf, kernel, initrd;
} CvSnpFds;

gboolean cv_snp_measure_fds(const CvSnpInputs *in, const CvSnpFds *fds, guint8 digest[CV_SNP_DIGEST_SIZE],
                            GError **error);
/* The chain over OVMF's pages alone (sev-snp-measure's "snp:ovmf-hash"), to give as ovmf_hash later */
gboolean cv_snp_ovmf_hash(const char *ovmf, guint8 digest[CV_SNP_DIGEST_SIZE], GError **error);

/* Extends the chain with the pages fw's SEV metadata names; hashes_page (4096 bytes or NULL) is the kernel
 * hashes page. Exposed for the fuzz target. */
gboolean cv_snp_measure_metadata(CvSnpChain *chain, const CvFirmware *fw, const guint8 *hashes_page, CvSnpVmm vmm,
                                 GError **error);
/* The page QEMU writes the SEV hashes table on: SHA-256 of kernel, initrd and command line (with its NUL)
 * in a GUIDed table at the offset of OVMF's SEV_HASH_TABLE_RV GPA */
gboolean cv_snp_hashes_page(const CvFirmware *fw, const guint8 kernel_sha256[32], const guint8 initrd_sha256[32],
                            const char *append, guint8 page[CV_PAGE_SIZE], GError **error);

/* CPUID Fn0000_0001_EAX of a family, model and stepping (AMD CPUID specification #25481) */
guint32 cv_snp_cpu_sig(guint family, guint model, guint stepping);
/* QEMU's EPYC CPU models ("EPYC-v4", "EPYC-Milan", ...) */
gboolean cv_snp_vcpu_sig_from_type(const char *name, guint32 *sig);
/* The names, comma-separated, for help texts */
char *cv_snp_vcpu_type_names(void);

G_END_DECLS
