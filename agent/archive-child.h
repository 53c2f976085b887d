/* The result zip and dataset decompression for the agent, done by covirt-agent-archive
 * (archive-main.c) in a child process; same contract as cv-archive.h (src/common). The helper is
 * the file covirt-agent-archive beside the running agent's executable. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS
gboolean cv_agent_archive_child_zip_dir(const char *dir, const char *zip_path, GError **error);
gboolean cv_agent_archive_child_extract(const char *path, const char *dest, const char *single_name,
                                        GError **error);
G_END_DECLS
