/* Control-channel framing: a 4-byte big-endian length, then one serialized
 * covirt.control.Frame. Used by covirt-agent and covirt-manager alike.
 * Frames over CV_FRAME_MAX bytes, truncated frames and frames that do not
 * decode are errors; after an error the byte stream has lost its framing and
 * the caller must drop the connection. */
#pragma once
#include <glib.h>
#include <gio/gio.h>
#include "control.pb-c.h"

G_BEGIN_DECLS

#define CV_FRAME_MAX (1024 * 1024)

typedef Covirt__Control__Frame CvFrame;

static inline void
cv_frame_free(CvFrame *frame)
{
    if (frame)
        covirt__control__frame__free_unpacked(frame, NULL);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvFrame, cv_frame_free)

/* Length prefix + serialized frame, ready to write. */
GBytes *cv_frame_pack(const CvFrame *frame, GError **error);
/* Decodes one frame body (without the length prefix). */
CvFrame *cv_frame_unpack(const guint8 *data, gsize len, GError **error);

/* Incremental decoder for non-blocking readers: feed bytes as they arrive,
 * then take whole frames out. */
typedef struct _CvFrameReader CvFrameReader;
CvFrameReader *cv_frame_reader_new(void);
void cv_frame_reader_free(CvFrameReader *reader);
void cv_frame_reader_reset(CvFrameReader *reader);
void cv_frame_reader_feed(CvFrameReader *reader, const guint8 *data, gsize len);
/* Returns TRUE and a frame in *frame, TRUE and NULL when more bytes are
 * needed, FALSE + error when the stream is corrupt (oversized or garbage). */
gboolean cv_frame_reader_next(CvFrameReader *reader, CvFrame **frame, GError **error);
/* Bytes buffered but not yet forming a whole frame (a truncated frame at EOF). */
gsize cv_frame_reader_pending(CvFrameReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvFrameReader, cv_frame_reader_free)

/* Blocking stream I/O. cv_frame_read returns NULL with no error on a clean
 * EOF at a frame boundary, NULL + error on a truncated or bad frame. */
gboolean cv_frame_write(GOutputStream *out, const CvFrame *frame, GCancellable *cancellable, GError **error);
CvFrame *cv_frame_read(GInputStream *in, GCancellable *cancellable, GError **error);
/* The same over a plain blocking file descriptor. */
gboolean cv_frame_write_fd(int fd, const CvFrame *frame, GError **error);
CvFrame *cv_frame_read_fd(int fd, GError **error);

G_END_DECLS
