/* Where an upload's bytes go: a worker thread hashes them with SHA3-256 and writes
 * them to the file, so that hashing overlaps with TLS and HTTP on the main thread.
 * The bytes travel in at most CV_AGENT_SINK_BLOCKS blocks of CV_AGENT_SINK_BLOCK
 * bytes, allocated once and reused: memory stays bounded (256 KiB) whatever the
 * upload's size, and the heap does not grow and shrink with every block. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define CV_AGENT_SINK_BLOCK (64 * 1024)
#define CV_AGENT_SINK_BLOCKS 4

typedef struct _CvAgentSink CvAgentSink;

/* Takes the fd (closed by finish/free). */
CvAgentSink *cv_agent_sink_new(int fd, GError **error);
void cv_agent_sink_push(CvAgentSink *sink, const guint8 *data, gsize len);
/* Flushes, waits for the worker, fsyncs and closes: the SHA3-256 of everything pushed. */
gboolean cv_agent_sink_finish(CvAgentSink *sink, guint8 sha3[32], GError **error);
/* Stops the worker (if still running) and frees; the file itself is the caller's. */
void cv_agent_sink_free(CvAgentSink *sink);

G_END_DECLS
