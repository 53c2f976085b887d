#include "igvm.h"
#include "measure-file.h"

#include <string.h>

/* igvm_defs: IGVM_FIXED_HEADER (v1: 24 bytes; v2 adds architecture and page size: 32) */
#define IGVM_MAGIC 0x4D564749u /* "IGVM" */
#define FIXED_V1_SIZE 24
#define FIXED_V2_SIZE 32
#define CHECKSUM_OFFSET 20
#define VARIABLE_HEADER_SIZE 8
#define OPTIONAL_BIT (1u << 31)

enum {
    VHT_SUPPORTED_PLATFORM = 0x1,
    VHT_PARAMETER_AREA = 0x301,
    VHT_PAGE_DATA = 0x302,
    VHT_PARAMETER_INSERT = 0x303,
    VHT_VP_CONTEXT = 0x304,
    VHT_LAST_KNOWN = 0x313,   /* IGVM_VHT_ENVIRONMENT_INFO_PARAMETER */
};

#define PLATFORM_SEV_SNP 2
#define PAGE_FLAG_2MB 0x1
#define PAGE_FLAG_UNMEASURED 0x2
#define PAGE_FLAG_SHARED 0x4
enum { PAGE_NORMAL = 0, PAGE_SECRETS = 1, PAGE_CPUID_DATA = 2, PAGE_CPUID_XF = 3 };

/* KVM measures the VMSA of each vCPU at LAUNCH_FINISH, at this GPA, whatever the order of the file */
#define KVM_VMSA_GPA G_GUINT64_CONSTANT(0xFFFFFFFFF000)
/* A parameter area is imported as unmeasured pages; this bounds the pages a hostile size costs */
#define PARAMETER_AREA_MAX (G_GUINT64_CONSTANT(1) << 30)
#define PAGE_2M (G_GUINT64_CONSTANT(2) << 20)

typedef struct {
    guint32 index;
    guint64 bytes;
    gboolean inserted;
} ParameterArea;

typedef struct {
    const guint8 *data;
    gsize len;
    const char *what;
    gsize data_start;         /* the file data section: past the variable headers */
    guint32 mask;             /* the SEV-SNP platform's compatibility mask */
    CvSnpChain *chain;
    GArray *areas;            /* ParameterArea */
    const guint8 *vmsa;
    guint vmsas;
} Igvm;

/* Headers sit at 8-byte boundaries but their fields need not be aligned: copied, then byte-swapped */
static guint32
get_le32(const guint8 *p)
{
    guint32 v;

    memcpy(&v, p, sizeof(v));
    return GUINT32_FROM_LE(v);
}

static guint64
get_le64(const guint8 *p)
{
    guint64 v;

    memcpy(&v, p, sizeof(v));
    return GUINT64_FROM_LE(v);
}

static gboolean
malformed(const Igvm *f, GError **error, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean
malformed(const Igvm *f, GError **error, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: not a valid IGVM file: %s", f->what, msg);
    return FALSE;
}

/* CRC-32 (IEEE 802.3, reflected; what crc32fast computes for the igvm crate), over several pieces */
static guint32
crc32_update(guint32 crc, const guint8 *p, gsize len)
{
    crc = ~crc;
    for (gsize i = 0; i < len; i++) {
        crc ^= p[i];
        for (guint b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
    }
    return ~crc;
}

/* The fixed header: magic, version, where the variable headers are, the file's size and the checksum over
 * both headers (computed with the checksum field zero) */
static gboolean
check_fixed_header(Igvm *f, gsize *vh_offset, gsize *vh_size, GError **error)
{
    guint8 fixed[FIXED_V2_SIZE];
    gsize fixed_size;
    guint32 version, crc;

    if (f->len < FIXED_V1_SIZE)
        return malformed(f, error, "%zu bytes, shorter than its fixed header", f->len);
    if (get_le32(f->data) != IGVM_MAGIC)
        return malformed(f, error, "no IGVM magic");
    version = get_le32(f->data + 4);
    if (version != 1 && version != 2)
        return malformed(f, error, "format version %u (1 and 2 are known)", version);
    fixed_size = version == 1 ? FIXED_V1_SIZE : FIXED_V2_SIZE;
    if (f->len < fixed_size)
        return malformed(f, error, "%zu bytes, shorter than its fixed header", f->len);
    /* version 2 names the architecture (0: x64) and a page size; SEV-SNP is x64 with 4 KiB pages */
    if (version == 2 && (get_le32(f->data + 24) != 0 || get_le32(f->data + 28) != CV_PAGE_SIZE))
        return malformed(f, error, "architecture %u with %u-byte pages, not x64 with 4 KiB pages",
                         get_le32(f->data + 24), get_le32(f->data + 28));
    *vh_offset = get_le32(f->data + 8);
    *vh_size = get_le32(f->data + 12);
    if (get_le32(f->data + 16) != f->len)
        return malformed(f, error, "its header says %u bytes, the file has %zu (truncated?)", get_le32(f->data + 16),
                         f->len);
    if (*vh_offset < fixed_size || *vh_offset % 8 || *vh_offset > f->len || *vh_size > f->len - *vh_offset)
        return malformed(f, error, "variable headers at %zu (%zu bytes) outside the file", *vh_offset, *vh_size);
    memcpy(fixed, f->data, fixed_size);
    memset(fixed + CHECKSUM_OFFSET, 0, 4);
    crc = crc32_update(crc32_update(0, fixed, fixed_size), f->data + *vh_offset, *vh_size);
    if (crc != get_le32(f->data + CHECKSUM_OFFSET))
        return malformed(f, error, "header checksum 0x%08x, computed 0x%08x", get_le32(f->data + CHECKSUM_OFFSET),
                         crc);
    f->data_start = *vh_offset + *vh_size;
    return TRUE;
}

/* One variable header at *off: its type (the optional bit apart), body and length; *off moves past it and
 * its padding to 8 bytes */
static gboolean
next_header(const Igvm *f, gsize *off, gsize end, guint32 *type, gboolean *optional, const guint8 **body,
            gsize *blen, GError **error)
{
    guint32 raw;

    if (end - *off < VARIABLE_HEADER_SIZE)
        return malformed(f, error, "variable header at %zu truncated", *off);
    raw = get_le32(f->data + *off);
    *blen = get_le32(f->data + *off + 4);
    *type = raw & ~OPTIONAL_BIT;
    *optional = (raw & OPTIONAL_BIT) != 0;
    if (*blen > end - *off - VARIABLE_HEADER_SIZE)
        return malformed(f, error, "variable header 0x%x at %zu: %zu bytes past the headers' end", *type, *off, *blen);
    *body = f->data + *off + VARIABLE_HEADER_SIZE;
    *off += VARIABLE_HEADER_SIZE + ((*blen + 7) & ~(gsize)7);
    if (*off > end)
        *off = end;
    return TRUE;
}

/* The file data a directive points at: `size` bytes at an absolute offset inside the file data section */
static const guint8 *
file_data(const Igvm *f, guint32 offset, gsize size, const char *of, GError **error)
{
    if (offset < f->data_start || offset > f->len || size > f->len - offset) {
        malformed(f, error, "%s's data at %u (%zu bytes) is not in the file data section", of, offset, size);
        return NULL;
    }
    return f->data + offset;
}

static gboolean
page_data(Igvm *f, const guint8 *b, GError **error)
{
    guint64 gpa = get_le64(b), len;
    guint32 offset = get_le32(b + 12), flags = get_le32(b + 16), type = b[20] | b[21] << 8;
    const guint8 *data = NULL;

    /* a shared page is host memory, never given to SNP_LAUNCH_UPDATE */
    if (!(get_le32(b + 8) & f->mask) || flags & PAGE_FLAG_SHARED)
        return TRUE;
    if (f->vmsas)
        return malformed(f, error, "page data at 0x%" G_GINT64_MODIFIER "x after the VMSA: KVM measures the VMSA "
                         "last, so QEMU would not produce the file's order", gpa);
    len = flags & PAGE_FLAG_2MB ? PAGE_2M : CV_PAGE_SIZE;
    if (gpa % len || gpa > G_MAXUINT64 - len)
        return malformed(f, error, "page data GPA 0x%" G_GINT64_MODIFIER "x not aligned to its page size", gpa);
    if (b[22] || b[23])
        return malformed(f, error, "page data at 0x%" G_GINT64_MODIFIER "x: reserved field not zero", gpa);
    /* the igvm crate, which writes these files, carries one 4 KiB of data per page directive */
    if (offset && len != CV_PAGE_SIZE)
        return malformed(f, error, "a 2 MiB page with data at 0x%" G_GINT64_MODIFIER "x (not supported)", gpa);
    if (offset && !(data = file_data(f, offset, CV_PAGE_SIZE, "page data", error)))
        return FALSE;
    switch (type) {
    case PAGE_NORMAL:
        if (flags & PAGE_FLAG_UNMEASURED)
            cv_snp_chain_empty(f->chain, CV_SNP_PAGE_UNMEASURED, gpa, len);
        else if (data)
            cv_snp_chain_normal(f->chain, gpa, data, CV_PAGE_SIZE);
        else {
            /* the spec: a page without data is a normal page of zeros, not the native ZERO type */
            g_autofree guint8 *zeros = g_malloc0(len);

            cv_snp_chain_normal(f->chain, gpa, zeros, len);
        }
        return TRUE;
    case PAGE_SECRETS:
        cv_snp_chain_empty(f->chain, CV_SNP_PAGE_SECRETS, gpa, len);
        return TRUE;
    case PAGE_CPUID_DATA:
    case PAGE_CPUID_XF:
        cv_snp_chain_empty(f->chain, CV_SNP_PAGE_CPUID, gpa, len);
        return TRUE;
    default:
        return malformed(f, error, "page data type %u at 0x%" G_GINT64_MODIFIER "x unknown", type, gpa);
    }
}

static ParameterArea *
find_area(const Igvm *f, guint32 index)
{
    for (guint i = 0; i < f->areas->len; i++) {
        ParameterArea *a = &g_array_index(f->areas, ParameterArea, i);

        if (a->index == index)
            return a;
    }
    return NULL;
}

static gboolean
parameter_area(Igvm *f, const guint8 *b, GError **error)
{
    ParameterArea a = { .bytes = get_le64(b), .index = get_le32(b + 8) };
    guint32 offset = get_le32(b + 12);

    if (find_area(f, a.index))
        return malformed(f, error, "parameter area %u declared twice", a.index);
    if (!a.bytes || a.bytes % CV_PAGE_SIZE || a.bytes > PARAMETER_AREA_MAX)
        return malformed(f, error, "parameter area %u of %" G_GUINT64_FORMAT " bytes (whole pages up to 1 GiB)",
                         a.index, a.bytes);
    /* its initial data goes into pages imported unmeasured: checked to be there, not hashed */
    if (offset && !file_data(f, offset, a.bytes, "parameter area", error))
        return FALSE;
    g_array_append_val(f->areas, a);
    return TRUE;
}

static gboolean
parameter_insert(Igvm *f, const guint8 *b, GError **error)
{
    guint64 gpa = get_le64(b);
    guint32 index = get_le32(b + 12);
    ParameterArea *a;

    if (!(get_le32(b + 8) & f->mask))
        return TRUE;
    if (f->vmsas)
        return malformed(f, error, "parameter area %u inserted after the VMSA (KVM measures the VMSA last)", index);
    if (!(a = find_area(f, index)) || a->inserted)
        return malformed(f, error, "parameter area %u inserted but %s", index, a ? "already inserted" : "not declared");
    if (gpa % CV_PAGE_SIZE || gpa > G_MAXUINT64 - a->bytes)
        return malformed(f, error, "parameter area %u at unaligned GPA 0x%" G_GINT64_MODIFIER "x", index, gpa);
    a->inserted = TRUE;
    /* the spec and QEMU import every page of the area, unmeasured, lowest GPA first */
    cv_snp_chain_empty(f->chain, CV_SNP_PAGE_UNMEASURED, gpa, a->bytes);
    return TRUE;
}

static gboolean
vp_context(Igvm *f, const guint8 *b, GError **error)
{
    guint64 gpa = get_le64(b);

    if (!(get_le32(b + 8) & f->mask))
        return TRUE;
    /* QEMU hands KVM the first vCPU's VMSA only; KVM puts it at its own GPA */
    if (f->vmsas)
        return malformed(f, error, "more than one SEV-SNP VP context (QEMU/KVM load one, for vCPU 0)");
    if (gpa != KVM_VMSA_GPA)
        return malformed(f, error, "VMSA at GPA 0x%" G_GINT64_MODIFIER "x; KVM measures it at 0x%" G_GINT64_MODIFIER
                         "x", gpa, KVM_VMSA_GPA);
    if (b[16] | b[17])
        return malformed(f, error, "VP context for vCPU %u: only vCPU 0's is loaded", b[16] | b[17] << 8);
    if (!(f->vmsa = file_data(f, get_le32(b + 12), CV_PAGE_SIZE, "VP context", error)))
        return FALSE;
    f->vmsas++;
    return TRUE;
}

/* The size each handled structure has (IGVM_VHS_*): a header of another length is malformed */
static gsize
body_size(guint32 type)
{
    switch (type) {
    case VHT_SUPPORTED_PLATFORM:
    case VHT_PARAMETER_AREA:
    case VHT_PARAMETER_INSERT:
        return 16;
    case VHT_PAGE_DATA:
        return 24;
    case VHT_VP_CONTEXT:
        return 20;
    default:
        return 0;
    }
}

/* Platform headers come first, then initialization headers, then directives (the spec's three sections) */
static guint
section_of(guint32 type)
{
    return type <= 0x100 ? 0 : type <= 0x200 ? 1 : 2;
}

static gboolean
known_type(guint32 type)
{
    return type == VHT_SUPPORTED_PLATFORM || (type >= 0x101 && type <= 0x103) ||
           (type >= VHT_PARAMETER_AREA && type <= VHT_LAST_KNOWN);
}

static gboolean
directive(Igvm *f, guint32 type, const guint8 *body, GError **error)
{
    switch (type) {
    case VHT_PARAMETER_AREA:
        return parameter_area(f, body, error);
    case VHT_PAGE_DATA:
        return page_data(f, body, error);
    case VHT_PARAMETER_INSERT:
        return parameter_insert(f, body, error);
    case VHT_VP_CONTEXT:
        return vp_context(f, body, error);
    default:
        /* the rest fill parameter areas (unmeasured), reserve memory or carry the ID block: nothing KVM
         * measures */
        return TRUE;
    }
}

/* One pass over the variable headers: `measure` FALSE finds the SEV-SNP platform, TRUE runs the directives */
static gboolean
walk(Igvm *f, gsize off, gsize end, gboolean measure, GError **error)
{
    guint stage = 0;

    while (off < end) {
        /* set by next_header(); initialised because gcc -O2 cannot see through its early returns */
        gsize at = off, blen = 0;
        const guint8 *body = NULL;
        guint32 type = 0;
        gboolean optional = FALSE;

        if (!next_header(f, &off, end, &type, &optional, &body, &blen, error))
            return FALSE;
        if (!known_type(type)) {
            if (optional)
                continue;
            return malformed(f, error, "required variable header type 0x%x at %zu unknown", type, at);
        }
        if (section_of(type) < stage)
            return malformed(f, error, "variable header 0x%x at %zu out of its section's order", type, at);
        stage = section_of(type);
        if (body_size(type) && blen < body_size(type))
            return malformed(f, error, "variable header 0x%x at %zu: %zu bytes, %zu expected", type, at, blen,
                             body_size(type));
        if (!measure && type == VHT_SUPPORTED_PLATFORM && body[5] == PLATFORM_SEV_SNP && !f->mask)
            f->mask = get_le32(body);
        if (measure && stage == 2 && !directive(f, type, body, error))
            return FALSE;
    }
    return TRUE;
}

gboolean
cv_igvm_snp_measure(const guint8 *data, gsize len, const char *what, guint8 digest[CV_SNP_DIGEST_SIZE],
                    GError **error)
{
    g_autoptr(CvSnpChain) chain = cv_snp_chain_new(NULL);
    g_autoptr(GArray) areas = g_array_new(FALSE, FALSE, sizeof(ParameterArea));
    Igvm f = { .data = data, .len = len, .what = what, .chain = chain, .areas = areas };
    gsize vh_offset = 0, vh_size = 0;

    if (!check_fixed_header(&f, &vh_offset, &vh_size, error) ||
        !walk(&f, vh_offset, vh_offset + vh_size, FALSE, error))
        return FALSE;
    if (!f.mask) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: the IGVM file supports no SEV-SNP platform", what);
        return FALSE;
    }
    if (!walk(&f, vh_offset, vh_offset + vh_size, TRUE, error))
        return FALSE;
    if (!f.vmsa) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: the IGVM file has no SEV-SNP VP context (VMSA)", what);
        return FALSE;
    }
    cv_snp_chain_vmsa(chain, f.vmsa);
    memcpy(digest, cv_snp_chain_digest(chain), CV_SNP_DIGEST_SIZE);
    return TRUE;
}

gboolean
cv_igvm_snp_measure_file(const char *path, guint8 digest[CV_SNP_DIGEST_SIZE], GError **error)
{
    g_autoptr(GBytes) bytes = cv_measure_read_image(path, error);
    gsize len;
    const guint8 *data;

    if (!bytes)
        return FALSE;
    data = g_bytes_get_data(bytes, &len);
    return cv_igvm_snp_measure(data, len, path, digest, error);
}
