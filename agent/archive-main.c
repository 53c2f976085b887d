/* covirt-agent-archive: the agent's libarchive work in a short-lived child process
 * (archive-child.c runs it), so that libarchive and what it loads (libxml2, ICU,
 * libstdc++, the compressors) stay out of the agent's resident set, and a hostile
 * dataset archive is parsed outside the agent:
 *   covirt-agent-archive zip DIR ZIP
 *   covirt-agent-archive extract ARCHIVE DEST NAME
 *   covirt-agent-archive dataset ARCHIVE DEST archive|single NAME MAX_BYTES MAX_ENTRIES
 * "dataset" is strict (only regular files and directories) and stops at the limits (docs/agent.md).
 * On failure it prints "CODE MESSAGE" (a CvErrorCode, then the text) on stdout and exits 1. */
#include "cv-archive.h"
#include "cv-error.h"

#include "cv-util.h"

#include <stdio.h>
#include <string.h>

static int
usage(FILE *out)
{
    fprintf(out, "usage: covirt-agent-archive zip DIR ZIP\n"
                 "       covirt-agent-archive extract ARCHIVE DEST NAME\n"
                 "       covirt-agent-archive dataset ARCHIVE DEST archive|single NAME MAX_BYTES MAX_ENTRIES\n");
    return out == stdout ? 0 : 2;
}

static gboolean
extract_dataset(char **argv, GError **error)
{
    CvArchiveExtract how = { CV_ARCHIVE_FORMAT_ARCHIVE, argv[3], TRUE, 0, 0 };

    if (strcmp(argv[2], "single") == 0)
        how.format = CV_ARCHIVE_FORMAT_SINGLE;
    else if (strcmp(argv[2], "archive") != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "unknown format %s", argv[2]);
        return FALSE;
    }
    if (!cv_parse_uint(argv[4], 0, G_MAXUINT64, &how.max_bytes, error) ||
        !cv_parse_uint(argv[5], 0, G_MAXUINT64, &how.max_entries, error))
        return FALSE;
    return cv_archive_extract_with(argv[0], argv[1], &how, error);
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    gboolean ok;

    if (argc == 2 && strcmp(argv[1], "--help") == 0)
        return usage(stdout);
    if (argc == 4 && strcmp(argv[1], "zip") == 0)
        ok = cv_archive_zip_dir(argv[2], argv[3], &error);
    else if (argc == 5 && strcmp(argv[1], "extract") == 0)
        ok = cv_archive_extract(argv[2], argv[3], argv[4], &error);
    else if (argc == 8 && strcmp(argv[1], "dataset") == 0)
        ok = extract_dataset(argv + 2, &error);
    else
        return usage(stderr);
    if (ok)
        return 0;
    printf("%d %s\n", error->domain == CV_ERROR ? error->code : CV_ERROR_INTERNAL, error->message);
    return 1;
}
