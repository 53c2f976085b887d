/* covirt-agent-archive: the agent's libarchive work in a short-lived child process
 * (archive-child.c runs it), so that libarchive and what it loads (libxml2, ICU,
 * libstdc++, the compressors) stay out of the agent's resident set, and a hostile
 * dataset archive is parsed outside the agent:
 *   covirt-agent-archive zip DIR ZIP
 *   covirt-agent-archive extract ARCHIVE DEST NAME
 * On failure it prints "CODE MESSAGE" (a CvErrorCode, then the text) on stdout and exits 1. */
#include "cv-archive.h"
#include "cv-error.h"

#include <stdio.h>
#include <string.h>

static int
usage(FILE *out)
{
    fprintf(out, "usage: covirt-agent-archive zip DIR ZIP\n"
                 "       covirt-agent-archive extract ARCHIVE DEST NAME\n");
    return out == stdout ? 0 : 2;
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
    else
        return usage(stderr);
    if (ok)
        return 0;
    printf("%d %s\n", error->domain == CV_ERROR ? error->code : CV_ERROR_INTERNAL, error->message);
    return 1;
}
