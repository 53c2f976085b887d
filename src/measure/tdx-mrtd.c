#include "tdx-mrtd.h"
#include "cv-autoptr.h"
#include "measure-file.h"

#include <string.h>

#define TDVF_HEADER 16
#define TDVF_SECTION_SIZE 32
#define MR_EXTEND_CHUNK 256
/* a TD's initial image is its firmware: far below this many pages */
#define TDVF_MAX_PAGES (1u << 20)

static guint32
rd32(const guint8 *p)
{
    return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

static guint64
rd64(const guint8 *p)
{
    return (guint64)rd32(p) | (guint64)rd32(p + 4) << 32;
}

static gboolean
bad(GError **error, const CvFirmware *fw, const char *what, guint i)
{
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: TDVF section %u %s", fw->what, i, what);
    return FALSE;
}

static gboolean
check_section(const CvFirmware *fw, const CvTdvfSection *s, guint i, guint64 *pages, GError **error)
{
    if (s->gpa % CV_PAGE_SIZE || s->memory_size % CV_PAGE_SIZE)
        return bad(error, fw, "is not page-aligned", i);
    if (s->raw_size > s->memory_size)
        return bad(error, fw, "has more data than memory", i);
    if ((guint64)s->data_offset + s->raw_size > fw->size)
        return bad(error, fw, "has data outside the image", i);
    if (s->gpa + s->memory_size < s->gpa)
        return bad(error, fw, "wraps around the address space", i);
    *pages += s->memory_size / CV_PAGE_SIZE;
    if (*pages > TDVF_MAX_PAGES)
        return bad(error, fw, "takes the TD image past 4 GiB", i);
    return TRUE;
}

GArray *
cv_tdvf_sections(const CvFirmware *fw, GError **error)
{
    g_autoptr(GArray) sections = g_array_new(FALSE, FALSE, sizeof(CvTdvfSection));
    guint32 offset, count;
    guint64 pages = 0;
    const guint8 *hdr;

    if (!cv_firmware_entry_u32(fw, CV_GUID_TDX_METADATA_OFFSET, "TDX metadata", &offset, error))
        return NULL;
    if (offset > fw->size || offset < TDVF_HEADER) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: its TDX metadata offset %u is outside the image",
                    fw->what, offset);
        return NULL;
    }
    hdr = fw->data + fw->size - offset;
    count = rd32(hdr + 12);
    if (memcmp(hdr, "TDVF", 4) != 0 || rd32(hdr + 8) != 1 ||
        count > (offset - TDVF_HEADER) / TDVF_SECTION_SIZE) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "%s: its TDX metadata is no \"TDVF\" version 1 table that fits the image", fw->what);
        return NULL;
    }
    for (guint i = 0; i < count; i++) {
        const guint8 *p = hdr + TDVF_HEADER + (gsize)i * TDVF_SECTION_SIZE;
        CvTdvfSection s = { rd32(p), rd32(p + 4), rd64(p + 8), rd64(p + 16), rd32(p + 24), rd32(p + 28) };

        if (!check_section(fw, &s, i, &pages, error))
            return NULL;
        g_array_append_val(sections, s);
    }
    return g_steal_pointer(&sections);
}

static void
page_add(EVP_MD_CTX *ctx, guint64 gpa)
{
    guint8 block[128] = "MEM.PAGE.ADD";

    for (guint i = 0; i < 8; i++)
        block[16 + i] = (gpa >> (8 * i)) & 0xff;
    EVP_DigestUpdate(ctx, block, sizeof(block));
}

/* The page's 16 extends: raw data from the image, zeros past it (the VMM copies the raw data only) */
static void
page_extend(EVP_MD_CTX *ctx, const CvFirmware *fw, const CvTdvfSection *s, guint64 page)
{
    for (guint64 off = page * CV_PAGE_SIZE; off < (page + 1) * CV_PAGE_SIZE; off += MR_EXTEND_CHUNK) {
        guint8 block[128] = "MR.EXTEND";
        guint8 chunk[MR_EXTEND_CHUNK] = { 0 };
        guint64 gpa = s->gpa + off;

        for (guint i = 0; i < 8; i++)
            block[16 + i] = (gpa >> (8 * i)) & 0xff;
        if (off < s->raw_size)
            memcpy(chunk, fw->data + s->data_offset + off, MIN(MR_EXTEND_CHUNK, s->raw_size - off));
        EVP_DigestUpdate(ctx, block, sizeof(block));
        EVP_DigestUpdate(ctx, chunk, sizeof(chunk));
    }
}

void
cv_tdx_mrtd_compute(const CvFirmware *fw, const GArray *sections, CvTdxOrder order, guint8 mrtd[CV_TDX_DIGEST_SIZE])
{
    g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new();
    unsigned int n = 0;

    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha384(), NULL))
        g_error("SHA-384 is not available");
    for (guint i = 0; i < sections->len; i++) {
        const CvTdvfSection *s = &g_array_index(sections, CvTdvfSection, i);
        guint64 pages = s->memory_size / CV_PAGE_SIZE;
        gboolean add = !(s->attributes & CV_TDVF_ATTR_PAGE_AUG);
        gboolean extend = s->attributes & CV_TDVF_ATTR_MR_EXTEND;

        for (guint64 p = 0; p < pages; p++) {
            if (add)
                page_add(ctx, s->gpa + p * CV_PAGE_SIZE);
            if (extend && order == CV_TDX_ORDER_SINGLE_PASS)
                page_extend(ctx, fw, s, p);
        }
        for (guint64 p = 0; extend && order == CV_TDX_ORDER_TWO_PASS && p < pages; p++)
            page_extend(ctx, fw, s, p);
    }
    EVP_DigestFinal_ex(ctx, mrtd, &n);
}

gboolean
cv_tdx_mrtd(const char *tdvf, CvTdxOrder order, guint8 mrtd[CV_TDX_DIGEST_SIZE], GError **error)
{
    g_autoptr(GBytes) bytes = cv_measure_read_image(tdvf, error);
    g_autoptr(CvFirmware) fw = NULL;
    g_autoptr(GArray) sections = NULL;

    if (!bytes || !(fw = cv_firmware_parse(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes), tdvf, error)) ||
        !(sections = cv_tdvf_sections(fw, error)))
        return FALSE;
    cv_tdx_mrtd_compute(fw, sections, order, mrtd);
    return TRUE;
}
