/* libarchive helpers, shared by covirt-agent-archive (in the guest) and the agent client (on the host):
 * the result zip and dataset decompression. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS
/* Zips the regular files and folders under dir (symlinks and devices are left out). */
gboolean cv_archive_zip_dir(const char *dir, const char *zip_path, GError **error);

typedef enum {
    CV_ARCHIVE_FORMAT_AUTO,     /* tar or zip, else one compressed file (libarchive's bidding decides) */
    CV_ARCHIVE_FORMAT_ARCHIVE,  /* tar (plain or compressed) or zip, never read as a single file */
    CV_ARCHIVE_FORMAT_SINGLE,   /* one compressed file (.gz, .xz, .bz2, .zst), never read as a tar */
} CvArchiveFormat;

typedef struct {
    CvArchiveFormat format;
    const char *single_name;  /* the file a single compressed file becomes in dest */
    gboolean strict;          /* refuse hardlinks, symlinks, devices and FIFOs (else they are skipped) */
    guint64 max_bytes;        /* bytes written in all, 0 for no limit */
    guint64 max_entries;      /* entries, 0 for no limit */
} CvArchiveExtract;

/* Extracts into dest; entries that would escape dest (absolute paths, "..", symlinks on the way)
 * or replace a file there are refused, and so is going over a limit (CV_ERROR_TOO_LARGE). What was
 * written before a failure stays in dest: extract into a fresh directory and delete it then. */
gboolean cv_archive_extract_with(const char *path, const char *dest, const CvArchiveExtract *how, GError **error);
/* AUTO, not strict, no limits: the result zip on the host, a docker image in the agent. */
gboolean cv_archive_extract(const char *path, const char *dest, const char *single_name, GError **error);
G_END_DECLS
