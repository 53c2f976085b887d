/* The parts of an OVMF (or COCONUT-SVSM) image that decide what a confidential VM's launch measures:
 * the GUIDed footer table that ends 32 bytes before the image's end (OvmfPkg/ResetVector's
 * ResetVectorVtf0.asm), and the SEV metadata it points at (OvmfSevMetadata.asm: "ASEV", version 1, then
 * {gpa, size, type} sections). Parsing works on memory only and copies nothing: the image outlives it. */
#pragma once
#include <glib.h>
#include "cv-error.h"

G_BEGIN_DECLS

#define CV_PAGE_SIZE 4096u

typedef struct {
    guint8 bytes[16]; /* as the image stores it: the first three fields little-endian */
} CvGuid;

/* "96b582de-1fb2-45f7-baea-a366c55a082d" → its little-endian bytes; for the constants below */
CvGuid cv_guid_from_string(const char *text);

#define CV_GUID_OVMF_TABLE_FOOTER   "96b582de-1fb2-45f7-baea-a366c55a082d"
#define CV_GUID_SEV_HASH_TABLE_RV   "7255371f-3a3b-4b04-927b-1da6efa8d454"
#define CV_GUID_SEV_ES_RESET_BLOCK  "00f771de-1a7e-4fcb-890e-68c77e2fb44e"
#define CV_GUID_OVMF_SEV_METADATA   "dc886566-984a-4798-a75e-5585a7bf67cc"
#define CV_GUID_SVSM_INFO           "a789a612-0597-4c4b-a49f-cbb1fe9d1ddd"
#define CV_GUID_TDX_METADATA_OFFSET "e47a6535-984a-4798-865e-4685a7bf8ec2"

typedef enum {
    CV_SEV_SECTION_SNP_SEC_MEM = 1,
    CV_SEV_SECTION_SNP_SECRETS = 2,
    CV_SEV_SECTION_CPUID = 3,
    CV_SEV_SECTION_SVSM_CAA = 4,
    CV_SEV_SECTION_SNP_KERNEL_HASHES = 0x10,
} CvSevSectionType;

typedef struct {
    guint32 gpa;
    guint32 size;
    CvSevSectionType type;
} CvSevSection;

typedef struct {
    CvGuid guid;
    const guint8 *data; /* the entry's payload, inside the image */
    gsize len;
} CvFwTableEntry;

typedef struct {
    char *what; /* names the image in errors */
    const guint8 *data;
    gsize size;
    GArray *entries;     /* CvFwTableEntry; empty when the image has no footer table */
    GArray *sev_sections; /* CvSevSection; empty when the table names no SEV metadata */
} CvFirmware;

void cv_firmware_free(CvFirmware *fw);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvFirmware, cv_firmware_free)

/* Parses the footer table and the SEV metadata; `what` names the image in errors. An image without a
 * footer table parses (with no entries); a table or metadata that lies about its sizes is an error. */
CvFirmware *cv_firmware_parse(const guint8 *data, gsize size, const char *what, GError **error);
/* The entry's payload or NULL */
const CvFwTableEntry *cv_firmware_entry(const CvFirmware *fw, const char *guid);
/* The first 4 bytes (little-endian) of an entry that must be there: the reset EIP, the hashes table's GPA */
gboolean cv_firmware_entry_u32(const CvFirmware *fw, const char *guid, const char *what, guint32 *out,
                               GError **error);
gboolean cv_firmware_has_section(const CvFirmware *fw, CvSevSectionType type);

G_END_DECLS
