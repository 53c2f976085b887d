#include "snp-launch.h"
#include "cv-autoptr.h"

#include <string.h>

/* PAGE_INFO (SEV-SNP firmware ABI, SNP_LAUNCH_UPDATE): DIGEST_CUR[48], CONTENTS[48], LENGTH u16,
 * PAGE_TYPE u8, IMI_PAGE u8, VMPL3/2/1_PERMS u8, reserved u8, GPA u64 */
#define PAGE_INFO_SIZE 0x70

/* The VMSA a guest sees at the GPA the PSP gives it: bits above 51 cleared, page-aligned (u64)-1 */
#define VMSA_GPA 0xFFFFFFFFF000ull

struct CvSnpChain {
    guint8 digest[CV_SNP_DIGEST_SIZE];
    EVP_MD *md;
    EVP_MD_CTX *ctx;
};

CvSnpChain *
cv_snp_chain_new(const guint8 *seed)
{
    CvSnpChain *chain = g_new0(CvSnpChain, 1);

    if (seed)
        memcpy(chain->digest, seed, CV_SNP_DIGEST_SIZE);
    chain->md = EVP_MD_fetch(NULL, "SHA384", NULL);
    chain->ctx = EVP_MD_CTX_new();
    /* OpenSSL without SHA-384 or out of memory: nothing a caller could do */
    g_assert(chain->md && chain->ctx);
    return chain;
}

void
cv_snp_chain_free(CvSnpChain *chain)
{
    if (!chain)
        return;
    EVP_MD_CTX_free(chain->ctx);
    EVP_MD_free(chain->md);
    g_free(chain);
}

const guint8 *
cv_snp_chain_digest(const CvSnpChain *chain)
{
    return chain->digest;
}

static void
sha384(CvSnpChain *chain, const void *data, gsize len, guint8 out[CV_SNP_DIGEST_SIZE])
{
    unsigned int n = 0;

    if (!EVP_DigestInit_ex(chain->ctx, chain->md, NULL) || !EVP_DigestUpdate(chain->ctx, data, len) ||
        !EVP_DigestFinal_ex(chain->ctx, out, &n))
        g_error("SHA-384 failed"); /* a fetched digest does not fail on memory it was given */
}

static void
put_le16(guint8 *p, guint16 v)
{
    p[0] = v & 0xff;
    p[1] = v >> 8;
}

static void
put_le32(guint8 *p, guint32 v)
{
    for (guint i = 0; i < 4; i++)
        p[i] = (v >> (8 * i)) & 0xff;
}

static void
put_le64(guint8 *p, guint64 v)
{
    for (guint i = 0; i < 8; i++)
        p[i] = (v >> (8 * i)) & 0xff;
}

void
cv_snp_chain_update(CvSnpChain *chain, CvSnpPageType type, guint64 gpa, const guint8 *contents)
{
    guint8 info[PAGE_INFO_SIZE] = { 0 };

    memcpy(info, chain->digest, CV_SNP_DIGEST_SIZE);
    if (contents)
        memcpy(info + 48, contents, CV_SNP_DIGEST_SIZE);
    put_le16(info + 96, PAGE_INFO_SIZE);
    info[98] = (guint8)type;
    /* IMI_PAGE and the VMPL1-3 permissions stay 0: a launch without a migration agent */
    put_le64(info + 104, gpa);
    sha384(chain, info, sizeof(info), chain->digest);
}

void
cv_snp_chain_normal(CvSnpChain *chain, guint64 gpa, const guint8 *data, gsize len)
{
    guint8 contents[CV_SNP_DIGEST_SIZE];

    g_return_if_fail(len % CV_PAGE_SIZE == 0);
    for (gsize off = 0; off < len; off += CV_PAGE_SIZE) {
        sha384(chain, data + off, CV_PAGE_SIZE, contents);
        cv_snp_chain_update(chain, CV_SNP_PAGE_NORMAL, gpa + off, contents);
    }
}

void
cv_snp_chain_empty(CvSnpChain *chain, CvSnpPageType type, guint64 gpa, gsize len)
{
    for (gsize off = 0; off < len; off += CV_PAGE_SIZE)
        cv_snp_chain_update(chain, type, gpa + off, NULL);
}

void
cv_snp_chain_vmsa(CvSnpChain *chain, const guint8 page[CV_PAGE_SIZE])
{
    guint8 contents[CV_SNP_DIGEST_SIZE];

    sha384(chain, page, CV_PAGE_SIZE, contents);
    cv_snp_chain_update(chain, CV_SNP_PAGE_VMSA, VMSA_GPA, contents);
}

/* Offsets in the VMSA (AMD64 APM vol. 2, table B-4, "VMSA Layout, State Save Area for SEV-ES") */
enum {
    VMSA_ES = 0x00, VMSA_CS = 0x10, VMSA_SS = 0x20, VMSA_DS = 0x30, VMSA_FS = 0x40, VMSA_GS = 0x50,
    VMSA_GDTR = 0x60, VMSA_LDTR = 0x70, VMSA_IDTR = 0x80, VMSA_TR = 0x90,
    VMSA_EFER = 0xd0, VMSA_CR4 = 0x148, VMSA_CR0 = 0x158, VMSA_DR7 = 0x160, VMSA_DR6 = 0x168,
    VMSA_RFLAGS = 0x170, VMSA_RIP = 0x178, VMSA_G_PAT = 0x268, VMSA_RDX = 0x310,
    VMSA_SEV_FEATURES = 0x3b0, VMSA_XCR0 = 0x3e8, VMSA_MXCSR = 0x408, VMSA_X87_FCW = 0x410,
};

/* A segment register: selector, attributes, limit, base */
static void
put_seg(guint8 *page, guint off, guint16 selector, guint16 attrib, guint32 limit, guint64 base)
{
    put_le16(page + off, selector);
    put_le16(page + off + 2, attrib);
    put_le32(page + off + 4, limit);
    put_le64(page + off + 8, base);
}

/* What QEMU's IGVM loader gives COCONUT-SVSM: 32-bit protected mode, flat segments, at the SVSM's entry. */
static void
vmsa_svsm_segments(guint8 *page, const CvSnpVmsaParams *p)
{
    put_seg(page, VMSA_ES, 16, 0xc93, 0xffffffff, 0);
    put_seg(page, VMSA_CS, 8, 0xc9b, 0xffffffff, 0);
    put_seg(page, VMSA_SS, 16, 0xc93, 0xffffffff, 0);
    put_seg(page, VMSA_DS, 16, 0xc93, 0xffffffff, 0);
    put_seg(page, VMSA_FS, 16, 0xc93, 0xffffffff, 0);
    put_seg(page, VMSA_GS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_TR, 0, 0x8b, 0xffff, 0);
    put_le64(page + VMSA_CR0, 0x11); /* PE | ET */
    put_le64(page + VMSA_RIP, p->eip);
    put_le64(page + VMSA_G_PAT, 0x0007040600070406ull);
    put_le64(page + VMSA_RDX, p->vcpu_sig);
    put_le32(page + VMSA_MXCSR, p->vmm == CV_SNP_VMM_QEMU ? 0x1f80 : 0);
    /* x87 FCW stays 0: the launch these values come from (sev-snp-measure's SVSM fixtures) left it so */
}

/* The real-mode reset state (APM vol. 2, 14.1.3), with each VMM's own choices of attributes and RDX */
static void
vmsa_reset_segments(guint8 *page, const CvSnpVmsaParams *p)
{
    guint16 cs_flags = 0x9b, ss_flags = 0x93, tr_flags = 0x8b;
    guint64 g_pat = 0x0007040600070406ull, rdx = p->vcpu_sig;
    guint32 mxcsr = 0x1f80;
    guint16 fcw = 0x37f;

    if (p->vmm == CV_SNP_VMM_EC2) {
        cs_flags = p->eip == 0xfffffff0 ? 0x9a : 0x9b;
        ss_flags = 0x92;
        tr_flags = 0x83;
    } else if (p->vmm == CV_SNP_VMM_GCE) {
        g_pat = 0x00070106; /* GCE's hypervisor sets its own PAT */
    }
    if (p->vmm != CV_SNP_VMM_QEMU) {
        rdx = 0x600; /* EC2 and GCE report a fixed signature at reset */
        mxcsr = 0;
        fcw = 0;
    }
    put_seg(page, VMSA_ES, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_CS, 0xf000, cs_flags, 0xffff, p->eip & 0xffff0000);
    put_seg(page, VMSA_SS, 0, ss_flags, 0xffff, 0);
    put_seg(page, VMSA_DS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_FS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_GS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_TR, 0, tr_flags, 0xffff, 0);
    put_le64(page + VMSA_CR0, 0x10); /* ET */
    put_le64(page + VMSA_RIP, p->eip & 0xffff);
    put_le64(page + VMSA_G_PAT, g_pat);
    put_le64(page + VMSA_RDX, rdx);
    put_le32(page + VMSA_MXCSR, mxcsr);
    put_le16(page + VMSA_X87_FCW, fcw);
}

void
cv_snp_vmsa_build(const CvSnpVmsaParams *p, guint8 page[CV_PAGE_SIZE])
{
    memset(page, 0, CV_PAGE_SIZE);
    if (p->svsm)
        vmsa_svsm_segments(page, p);
    else
        vmsa_reset_segments(page, p);
    put_seg(page, VMSA_GDTR, 0, 0, 0xffff, 0);
    put_seg(page, VMSA_IDTR, 0, 0, 0xffff, 0);
    put_seg(page, VMSA_LDTR, 0, 0x82, 0xffff, 0);
    put_le64(page + VMSA_EFER, 0x1000);  /* KVM sets EFER.SVME */
    put_le64(page + VMSA_CR4, 0x40);     /* KVM sets CR4.MCE */
    put_le64(page + VMSA_DR7, 0x400);
    put_le64(page + VMSA_DR6, 0xffff0ff0);
    put_le64(page + VMSA_RFLAGS, 0x2);
    put_le64(page + VMSA_SEV_FEATURES, p->sev_features);
    put_le64(page + VMSA_XCR0, 0x1);
}
