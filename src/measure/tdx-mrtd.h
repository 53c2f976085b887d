/* MRTD of a TD booted from a TDVF (OVMF built with TDX support): the TDX module's SHA-384 over the
 * TDH.MEM.PAGE.ADD and TDH.MR.EXTEND calls that load it (Intel TDX module ABI: each call adds a 128-byte
 * block naming the operation and the GPA; MR.EXTEND adds the 256 bytes it measures). Which pages, with
 * which of the two, is the TDVF metadata's (TDVF design guide: "TDVF", version 1, 32-byte sections). */
#pragma once
#include <glib.h>
#include "cv-error.h"
#include "ovmf.h"

G_BEGIN_DECLS

#define CV_TDX_DIGEST_SIZE 48

typedef enum {
    CV_TDVF_SECTION_BFV = 0,
    CV_TDVF_SECTION_CFV = 1,
    CV_TDVF_SECTION_TD_HOB = 2,
    CV_TDVF_SECTION_TEMP_MEM = 3,
} CvTdvfSectionType;

#define CV_TDVF_ATTR_MR_EXTEND 0x1u
#define CV_TDVF_ATTR_PAGE_AUG 0x2u

typedef struct {
    guint32 data_offset;
    guint32 raw_size;
    guint64 gpa;
    guint64 memory_size;
    guint32 type;
    guint32 attributes;
} CvTdvfSection;

/* The order of the VMM's calls: per page (PAGE.ADD then its 16 MR.EXTENDs: KVM's
 * KVM_TDX_INIT_MEM_REGION since Linux 6.16), or per section (every PAGE.ADD, then every MR.EXTEND: earlier
 * TDX kernels and QEMU) */
typedef enum {
    CV_TDX_ORDER_SINGLE_PASS,
    CV_TDX_ORDER_TWO_PASS,
} CvTdxOrder;

/* The TDVF sections of a parsed image, checked against it: page-aligned, raw data inside the image;
 * an image without TDX metadata is an error naming it */
GArray *cv_tdvf_sections(const CvFirmware *fw, GError **error);
void cv_tdx_mrtd_compute(const CvFirmware *fw, const GArray *sections, CvTdxOrder order,
                         guint8 mrtd[CV_TDX_DIGEST_SIZE]);
/* Both from a file */
gboolean cv_tdx_mrtd(const char *tdvf, CvTdxOrder order, guint8 mrtd[CV_TDX_DIGEST_SIZE], GError **error);

G_END_DECLS
