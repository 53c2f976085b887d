/* libarchive helpers, shared by covirt-agent-archive (in the guest) and the agent client (on the host):
 * the result zip and dataset decompression. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS
/* Zips the regular files and folders under dir (symlinks and devices are left out). */
gboolean cv_archive_zip_dir(const char *dir, const char *zip_path, GError **error);
/* Extracts any archive libarchive reads (zip, tar, tar.gz, …) or a single
 * compressed file (.gz, .xz, .bz2, .zst) into dest; entries that would escape
 * dest (absolute paths, "..", symlinks on the way) are refused. */
gboolean cv_archive_extract(const char *path, const char *dest, const char *single_name, GError **error);
G_END_DECLS
