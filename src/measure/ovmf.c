#include "ovmf.h"

#include <string.h>

/* The footer table ends 32 bytes before the image's end: the reset vector and padding follow it. */
#define FOOTER_TAIL 32
/* Each entry ends with {u16 size (payload + this header), GUID} */
#define ENTRY_HEADER 18
#define SEV_METADATA_HEADER 16
#define SEV_SECTION_SIZE 12

static guint16
le16(const guint8 *p)
{
    return (guint16)(p[0] | p[1] << 8);
}

static guint32
le32(const guint8 *p)
{
    return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

static int
hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

CvGuid
cv_guid_from_string(const char *text)
{
    /* byte order of the text's 16 bytes in EFI's GUID layout: Data1-3 little-endian, Data4 as written */
    static const guint8 order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
    guint8 seq[16] = { 0 };
    CvGuid guid = { { 0 } };
    guint n = 0;

    for (const char *p = text; *p && n < 32; p++) {
        int v = hex_nibble(*p);

        if (v < 0)
            continue; /* the dashes */
        seq[n / 2] |= (guint8)(n % 2 ? v : v << 4);
        n++;
    }
    g_return_val_if_fail(n == 32, guid);
    for (guint i = 0; i < 16; i++)
        guid.bytes[i] = seq[order[i]];
    return guid;
}

void
cv_firmware_free(CvFirmware *fw)
{
    if (!fw)
        return;
    g_free(fw->what);
    g_clear_pointer(&fw->entries, g_array_unref);
    g_clear_pointer(&fw->sev_sections, g_array_unref);
    g_free(fw);
}

static gboolean
parse_footer_table(CvFirmware *fw, GError **error)
{
    CvGuid footer_guid = cv_guid_from_string(CV_GUID_OVMF_TABLE_FOOTER);
    const guint8 *footer;
    gsize table_len, end;

    if (fw->size < FOOTER_TAIL + ENTRY_HEADER)
        return TRUE;
    footer = fw->data + fw->size - FOOTER_TAIL - ENTRY_HEADER;
    if (memcmp(footer + 2, footer_guid.bytes, 16) != 0)
        return TRUE; /* no table: a firmware built without SEV/TDX support */
    if (le16(footer) < ENTRY_HEADER || (gsize)le16(footer) - ENTRY_HEADER > (gsize)(footer - fw->data)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: its footer table claims %u bytes, more than the image",
                    fw->what, le16(footer));
        return FALSE;
    }
    table_len = le16(footer) - ENTRY_HEADER;
    /* entries are read backwards from the footer: each one's header is at its end */
    end = (gsize)(footer - fw->data);
    while (table_len >= ENTRY_HEADER) {
        const guint8 *hdr = fw->data + end - ENTRY_HEADER;
        guint16 entry_size = le16(hdr);
        CvFwTableEntry entry;

        if (entry_size < ENTRY_HEADER || entry_size > table_len) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                        "%s: a footer table entry claims %u bytes (%" G_GSIZE_FORMAT " left in the table)", fw->what,
                        entry_size, table_len);
            return FALSE;
        }
        memcpy(entry.guid.bytes, hdr + 2, 16);
        entry.data = fw->data + end - entry_size;
        entry.len = entry_size - ENTRY_HEADER;
        g_array_append_val(fw->entries, entry);
        end -= entry_size;
        table_len -= entry_size;
    }
    return TRUE;
}

static gboolean
parse_sev_metadata(CvFirmware *fw, GError **error)
{
    const CvFwTableEntry *entry = cv_firmware_entry(fw, CV_GUID_OVMF_SEV_METADATA);
    const guint8 *hdr;
    guint32 offset, size, count;

    if (!entry)
        return TRUE;
    if (entry->len < 4) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: its SEV metadata entry is %" G_GSIZE_FORMAT " bytes",
                    fw->what, entry->len);
        return FALSE;
    }
    offset = le32(entry->data);
    /* the metadata starts `offset` bytes before the image's end: its header must fit in those */
    if (offset > fw->size || offset < SEV_METADATA_HEADER) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: its SEV metadata offset %u is outside the image",
                    fw->what, offset);
        return FALSE;
    }
    hdr = fw->data + fw->size - offset;
    size = le32(hdr + 4);
    count = le32(hdr + 12);
    if (memcmp(hdr, "ASEV", 4) != 0 || le32(hdr + 8) != 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: its SEV metadata has no \"ASEV\" version 1 header",
                    fw->what);
        return FALSE;
    }
    if (size > offset || size < SEV_METADATA_HEADER || count > (size - SEV_METADATA_HEADER) / SEV_SECTION_SIZE) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "%s: its SEV metadata (%u bytes, %u sections) does not fit the image", fw->what, size, count);
        return FALSE;
    }
    for (guint32 i = 0; i < count; i++) {
        const guint8 *p = hdr + SEV_METADATA_HEADER + (gsize)i * SEV_SECTION_SIZE;
        CvSevSection s = { le32(p), le32(p + 4), (CvSevSectionType)le32(p + 8) };

        g_array_append_val(fw->sev_sections, s);
    }
    return TRUE;
}

CvFirmware *
cv_firmware_parse(const guint8 *data, gsize size, const char *what, GError **error)
{
    g_autoptr(CvFirmware) fw = g_new0(CvFirmware, 1);

    fw->what = g_strdup(what);
    fw->data = data;
    fw->size = size;
    fw->entries = g_array_new(FALSE, FALSE, sizeof(CvFwTableEntry));
    fw->sev_sections = g_array_new(FALSE, FALSE, sizeof(CvSevSection));
    if (!parse_footer_table(fw, error) || !parse_sev_metadata(fw, error))
        return NULL;
    return g_steal_pointer(&fw);
}

const CvFwTableEntry *
cv_firmware_entry(const CvFirmware *fw, const char *guid)
{
    CvGuid want = cv_guid_from_string(guid);

    for (guint i = 0; i < fw->entries->len; i++) {
        const CvFwTableEntry *e = &g_array_index(fw->entries, CvFwTableEntry, i);

        if (memcmp(e->guid.bytes, want.bytes, 16) == 0)
            return e;
    }
    return NULL;
}

gboolean
cv_firmware_entry_u32(const CvFirmware *fw, const char *guid, const char *what, guint32 *out, GError **error)
{
    const CvFwTableEntry *e = cv_firmware_entry(fw, guid);

    if (!e || e->len < 4) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s has no %s in its footer table (GUID %s)", fw->what, what,
                    guid);
        return FALSE;
    }
    *out = le32(e->data);
    return TRUE;
}

gboolean
cv_firmware_has_section(const CvFirmware *fw, CvSevSectionType type)
{
    for (guint i = 0; i < fw->sev_sections->len; i++) {
        if (g_array_index(fw->sev_sections, CvSevSection, i).type == type)
            return TRUE;
    }
    return FALSE;
}
