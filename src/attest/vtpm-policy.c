/* Expected vtpm boot measurements from the kernel, initrd and command line a CVM boots with, and
 * the PE/COFF Authenticode hash that OVMF measures the kernel with. */
#include "policy.h"
#include "cv-autoptr.h"
#include "cv-util.h"
#include "cv-file.h"
#include "attest-util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/evp.h>

/* QEMU loads neither a kernel nor an initrd above 4 GiB; a bzImage is a few tens of MiB */
#define MAX_KERNEL (256u << 20)
#define MAX_INITRD (4ULL << 30)

static void
put32(guint8 *p, guint32 v)
{
    p[0] = v & 0xff;
    p[1] = (v >> 8) & 0xff;
    p[2] = (v >> 16) & 0xff;
    p[3] = (v >> 24) & 0xff;
}

static gboolean
pe_bad(GError **error, const char *what)
{
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "PE image: %s", what);
    return FALSE;
}

typedef struct {
    guint32 offset, size;
} Section;

static gint
section_cmp(gconstpointer a, gconstpointer b)
{
    const Section *x = a, *y = b;

    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Follows the PE/COFF specification's image hash, with EDK2's handling of the bytes after the
 * last section (hashed, less the certificate table) so the result is what OVMF extends. */
gboolean
cv_attest_authenticode_sha256(const guint8 *img, gsize len, guint8 digest[32], GError **error)
{
    g_autoptr(EVP_MD_CTX) md = EVP_MD_CTX_new();
    g_autoptr(GArray) sections = g_array_new(FALSE, FALSE, sizeof(Section));
    guint32 pe, opt, opt_size, n_sections, n_dirs, headers_size, cert_size = 0;
    gsize checksum, dirs, cert_entry = 0, section_table;
    guint64 hashed;
    guint16 magic;
    unsigned int n = 0;

    if (len < 0x40 || img[0] != 'M' || img[1] != 'Z')
        return pe_bad(error, "no MZ header");
    if (len > G_MAXUINT32)
        return pe_bad(error, "larger than 4 GiB");
    pe = cv_attest_le32(img + 0x3C);
    if ((guint64)pe + 24 > len || memcmp(img + pe, "PE\0\0", 4) != 0)
        return pe_bad(error, "no PE signature");
    n_sections = cv_attest_le16(img + pe + 6);
    opt_size = cv_attest_le16(img + pe + 20);
    opt = pe + 24;
    if ((guint64)opt + opt_size > len || opt_size < 2)
        return pe_bad(error, "optional header out of bounds");
    magic = cv_attest_le16(img + opt);
    if (magic == 0x10b) {
        if (opt_size < 96)
            return pe_bad(error, "PE32 optional header too short");
        dirs = opt + 96;
        n_dirs = cv_attest_le32(img + opt + 92);
    } else if (magic == 0x20b) {
        if (opt_size < 112)
            return pe_bad(error, "PE32+ optional header too short");
        dirs = opt + 112;
        n_dirs = cv_attest_le32(img + opt + 108);
    } else {
        return pe_bad(error, "unknown optional header magic");
    }
    if (n_dirs > 16 || dirs + (gsize)n_dirs * 8 > opt + opt_size)
        return pe_bad(error, "data directories out of bounds");
    checksum = opt + 64;
    headers_size = cv_attest_le32(img + opt + 60);
    section_table = opt + opt_size;
    if (headers_size > len || section_table + (gsize)n_sections * 40 > len || headers_size < checksum + 4)
        return pe_bad(error, "headers out of bounds");
    if (n_dirs > 4) {
        cert_entry = dirs + 4 * 8;
        cert_size = cv_attest_le32(img + cert_entry + 4);
        if (cert_entry + 8 > headers_size)
            return pe_bad(error, "certificate table entry outside the headers");
    }

    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        return pe_bad(error, "SHA-256 unavailable");
    /* headers, less the checksum and the certificate table entry */
    EVP_DigestUpdate(md, img, checksum);
    if (cert_entry) {
        EVP_DigestUpdate(md, img + checksum + 4, cert_entry - (checksum + 4));
        EVP_DigestUpdate(md, img + cert_entry + 8, headers_size - (cert_entry + 8));
    } else {
        EVP_DigestUpdate(md, img + checksum + 4, headers_size - (checksum + 4));
    }
    hashed = headers_size;

    /* sections in file order */
    for (guint32 i = 0; i < n_sections; i++) {
        const guint8 *s = img + section_table + (gsize)i * 40;
        Section sec = { cv_attest_le32(s + 20), cv_attest_le32(s + 16) };
        if (sec.size == 0)
            continue;
        if ((guint64)sec.offset + sec.size > len)
            return pe_bad(error, "section out of bounds");
        g_array_append_val(sections, sec);
    }
    g_array_sort(sections, section_cmp);
    for (guint i = 0; i < sections->len; i++) {
        const Section *sec = &g_array_index(sections, Section, i);
        EVP_DigestUpdate(md, img + sec->offset, sec->size);
        hashed += sec->size;
    }
    /* whatever follows, less an attribute certificate table at the end */
    if (len > hashed) {
        if (len < hashed + cert_size)
            return pe_bad(error, "certificate table larger than the rest of the file");
        EVP_DigestUpdate(md, img + hashed, len - hashed - cert_size);
    }
    EVP_DigestFinal_ex(md, digest, &n);
    return TRUE;
}

/* The bzImage as QEMU hands it to OVMF (../shared/measured-boot.md): QEMU's load_linux() edits
 * (hw/i386/x86.c), for a q35 machine with memory_bytes of RAM. */
static gboolean
qemu_patch_kernel(guint8 *img, gsize len, gsize initrd_size, guint64 memory_bytes, GError **error)
{
    guint16 protocol;
    guint64 below_4g, lowmem, initrd_max;

    if (len < 0x240 || memcmp(img + 0x202, "HdrS", 4) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not a Linux bzImage (no HdrS boot header)");
        return FALSE;
    }
    protocol = cv_attest_le16(img + 0x206);
    if (protocol < 0x203) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "Linux boot protocol %x.%02x is too old", protocol >> 8,
                    protocol & 0xff);
        return FALSE;
    }
    lowmem = memory_bytes >= 0xb0000000ULL ? 0x80000000ULL : 0xb0000000ULL;
    below_4g = MIN(memory_bytes, lowmem);
    if (protocol >= 0x20c && (cv_attest_le16(img + 0x236) & 0x2))
        initrd_max = 0xffffffffULL;
    else
        initrd_max = cv_attest_le32(img + 0x22c);
    /* QEMU keeps 0x28000 bytes below the top of low memory for ACPI tables */
    if (below_4g < 0x28000 + 1 + initrd_size) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "memory too small for the initrd");
        return FALSE;
    }
    if (initrd_max >= below_4g - 0x28000)
        initrd_max = below_4g - 0x28000 - 1;
    if (initrd_size > initrd_max) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "initrd too large for the guest's memory");
        return FALSE;
    }
    img[0x210] = 0xB0;
    img[0x211] |= 0x80;
    img[0x224] = 0x00;
    img[0x225] = 0xFE;
    put32(img + 0x228, 0x20000);
    put32(img + 0x218, (guint32)((initrd_max - initrd_size) & ~0xfffULL));
    put32(img + 0x21c, (guint32)initrd_size);
    return TRUE;
}

JsonNode *
cv_attest_vtpm_policy_new(const char *kernel, const char *initrd, const char *cmdline, guint64 memory_bytes,
                          GError **error)
{
    /* the caller's own files: a symlink such as /vmlinuz is followed, a FIFO still refused */
    g_autofree char *kreal = realpath(kernel, NULL);
    g_autofree char *ireal = realpath(initrd, NULL);
    g_auto(CvFd) kfd = cv_file_open_regular(kreal ? kreal : kernel, MAX_KERNEL, NULL, error);
    g_auto(CvFd) ifd = kfd >= 0 ? cv_file_open_regular(ireal ? ireal : initrd, MAX_INITRD, NULL, error) : -1;

    return ifd >= 0 ? cv_attest_vtpm_policy_new_fd(kfd, ifd, cmdline, memory_bytes, error) : NULL;
}

JsonNode *
cv_attest_vtpm_policy_new_fd(int kernel_fd, int initrd_fd, const char *cmdline, guint64 memory_bytes,
                             GError **error)
{
    g_autoptr(GBytes) kbytes = cv_file_read_fd(kernel_fd, MAX_KERNEL, "the kernel", error);
    g_autofree guint8 *image = NULL;
    gsize klen = 0;
    guint8 kdigest[32];
    g_autofree char *khex = NULL, *ihex = NULL, *chex = NULL;
    g_autofree char *full = NULL;
    g_autofree gunichar2 *utf16 = NULL;
    glong units = 0;
    struct stat st;
    g_autoptr(JsonBuilder) b = json_builder_new();

    if (!kbytes)
        return NULL;
    if (fstat(initrd_fd, &st) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot stat the initrd: %s", g_strerror(errno));
        return NULL;
    }
    klen = g_bytes_get_size(kbytes);
    image = g_memdup2(g_bytes_get_data(kbytes, NULL), klen);
    if (!qemu_patch_kernel(image, klen, st.st_size, memory_bytes, error) ||
        !cv_attest_authenticode_sha256(image, klen, kdigest, error))
        return NULL;
    khex = cv_hex_encode(kdigest, 32);
    if (!(ihex = cv_file_digest_fd_hex("SHA256", initrd_fd, "the initrd", error)))
        return NULL;
    /* OVMF appends " initrd=initrd" to the load options; the stub measures UTF-16LE with its NUL */
    full = cmdline && *cmdline ? g_strdup_printf("%s initrd=initrd", cmdline) : g_strdup("initrd=initrd");
    utf16 = g_utf8_to_utf16(full, -1, NULL, &units, NULL);
    if (!utf16) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "command line is not UTF-8");
        return NULL;
    }
    {
        g_autofree guint8 *le = g_malloc((units + 1) * 2);
        for (glong i = 0; i <= units; i++) {
            le[2 * i] = utf16[i] & 0xff;
            le[2 * i + 1] = utf16[i] >> 8;
        }
        if (!(chex = cv_digest_hex("SHA256", le, (units + 1) * 2, error)))
            return NULL;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "platform");
    json_builder_add_string_value(b, "vtpm");
    json_builder_set_member_name(b, "description");
    json_builder_add_string_value(b, "boot events expected from the CVM's kernel, initrd and command line");
    json_builder_set_member_name(b, "require_event_log");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_set_member_name(b, "events");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "4");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, khex);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "9");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, chex);
    json_builder_add_string_value(b, ihex);
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
