/* The result zip and dataset decompression for the agent, done by covirt-agent-archive
 * (archive-main.c) in a child process; same contract as cv-archive.h (src/common). The helper is
 * the file covirt-agent-archive beside the running agent's executable. */
#pragma once
#include <gio/gio.h>
#include "cv-archive.h"

G_BEGIN_DECLS
/* The file NAME in the running agent's own folder: its helpers (this one, the WASI launcher) are
 * installed beside it. */
char *cv_agent_beside_self(const char *name, GError **error);
/* These two wait for the child (the result zip, a docker image). */
gboolean cv_agent_archive_child_zip_dir(const char *dir, const char *zip_path, GError **error);
gboolean cv_agent_archive_child_extract(const char *path, const char *dest, const char *single_name,
                                        GError **error);
/* The same strict extraction, waited for (an OCI layer: oci-layout.c runs it from a worker). */
gboolean cv_agent_archive_child_extract_strict(const char *path, const char *dest, const CvArchiveExtract *how,
                                               GError **error);
/* A dataset, strict and within how's limits (how->strict is implied), while the main loop runs:
 * callback gets the result once the child has exited; cancel kills it. */
void cv_agent_archive_child_extract_dataset(const char *path, const char *dest, const CvArchiveExtract *how,
                                            GCancellable *cancel, GAsyncReadyCallback callback, gpointer data);
gboolean cv_agent_archive_child_extract_dataset_finish(GAsyncResult *result, GError **error);
G_END_DECLS
