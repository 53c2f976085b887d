/* A dataset uploaded with "decompress" (docs/agent.md, "Decompression"): covirt-agent-archive extracts
 * it into a fresh private directory under tmp/, and its entries move into datasets/ only once all of
 * it is there and none takes a name that exists or that another dataset will need. */
#pragma once
#include <gio/gio.h>
#include "cv-archive.h"

G_BEGIN_DECLS

/* What a dataset may expand to: ratio × its compressed size, at least CV_AGENT_DATASET_FLOOR, at most
 * max_bytes and the free space of the work dir's filesystem; at most max_entries entries. */
#define CV_AGENT_DATASET_RATIO 100
#define CV_AGENT_DATASET_FLOOR (G_GUINT64_CONSTANT(64) << 20)
#define CV_AGENT_DATASET_MAX_BYTES (G_GUINT64_CONSTANT(16) << 30)
#define CV_AGENT_DATASET_MAX_ENTRIES 100000

typedef struct {
    guint64 ratio, max_bytes, max_entries;
} CvManifestDatasetLimits;

typedef struct {
    const char *archive;          /* the verified upload: deleted at the end, whatever happens */
    const char *filename;         /* the manifest's name: its suffix decides the format */
    const char *tmp_dir;          /* where the private directory is made */
    const char *datasets_dir;
    const char *const *reserved;  /* names no entry may take: the other datasets' */
    CvManifestDatasetLimits limits;
} CvManifestDatasetUnpack;

/* What a dataset's file name says it is, never libarchive's guess: a tar/zip suffix is ARCHIVE,
 * .gz/.xz/.bz2/.zst alone SINGLE (*single_name: the name without it), any other name ARCHIVE. */
CvArchiveFormat cv_agent_dataset_format(const char *name, char **single_name);
/* The bytes a compressed size may expand to, free bytes on the filesystem given. */
guint64 cv_agent_dataset_limit(const CvManifestDatasetLimits *limits, guint64 compressed, guint64 free_bytes);
/* Extracts while the main loop runs; a failure (or cancel, which kills the child) leaves nothing. */
void cv_agent_dataset_unpack(const CvManifestDatasetUnpack *req, GCancellable *cancel, GAsyncReadyCallback callback,
                             gpointer data);
gboolean cv_agent_dataset_unpack_finish(GAsyncResult *result, GError **error);

G_END_DECLS
