/* libFuzzer: dataset decompression as covirt-agent-archive does it (strict, with limits). The first
 * byte picks the format ('s': one compressed file, else tar/zip); the rest is the upload. Whatever
 * comes out must be regular files (one link each) and directories only, within the byte limit. */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "cv-archive.h"

#define MAX_BYTES (1 << 20)

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static guint64 seen_bytes;

static int
check_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (S_ISREG(st->st_mode)) {
        if (st->st_nlink != 1)
            __builtin_trap();
        seen_bytes += st->st_size;
    } else if (!S_ISDIR(st->st_mode)) {
        __builtin_trap();
    }
    return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static char *base;
    g_autofree char *input = NULL, *out = NULL;
    CvArchiveExtract how = { CV_ARCHIVE_FORMAT_ARCHIVE, "data.csv", TRUE, MAX_BYTES, 64 };
    GError *error = NULL;

    if (size < 1)
        return 0;
    if (!base)
        base = g_dir_make_tmp("covirt-fuzz-archive-XXXXXX", NULL);
    if (data[0] == 's')
        how.format = CV_ARCHIVE_FORMAT_SINGLE;
    input = g_build_filename(base, "input", NULL);
    out = g_build_filename(base, "out", NULL);
    if (!g_file_set_contents(input, (const char *)data + 1, size - 1, NULL) || g_mkdir(out, 0700) < 0)
        __builtin_trap();
    if (!cv_archive_extract_with(input, out, &how, &error)) {
        if (!error || !error->message)
            __builtin_trap();
        g_error_free(error);
    }
    seen_bytes = 0;
    nftw(out, check_entry, 16, FTW_PHYS);
    if (seen_bytes > MAX_BYTES)
        __builtin_trap();
    nftw(out, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    g_unlink(input);
    return 0;
}
