#include "frame.h"
#include "cv-error.h"

#include <string.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>

GBytes *
cv_frame_pack(const CvFrame *frame, GError **error)
{
    gsize len = covirt__control__frame__get_packed_size(frame);
    guint8 *buf;

    if (len > CV_FRAME_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "frame of %" G_GSIZE_FORMAT " bytes exceeds %d",
                    len, CV_FRAME_MAX);
        return NULL;
    }
    buf = g_malloc(len + 4);
    buf[0] = (len >> 24) & 0xff;
    buf[1] = (len >> 16) & 0xff;
    buf[2] = (len >> 8) & 0xff;
    buf[3] = len & 0xff;
    covirt__control__frame__pack(frame, buf + 4);
    return g_bytes_new_take(buf, len + 4);
}

CvFrame *
cv_frame_unpack(const guint8 *data, gsize len, GError **error)
{
    CvFrame *frame;

    if (len > CV_FRAME_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "frame of %" G_GSIZE_FORMAT " bytes exceeds %d",
                    len, CV_FRAME_MAX);
        return NULL;
    }
    frame = covirt__control__frame__unpack(NULL, len, data);
    if (!frame) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "frame of %" G_GSIZE_FORMAT " bytes does not decode",
                    len);
        return NULL;
    }
    /* A frame must carry a known body; anything else is garbage from our point of view. */
    if (frame->body_case == COVIRT__CONTROL__FRAME__BODY__NOT_SET) {
        cv_frame_free(frame);
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "frame has no known body");
        return NULL;
    }
    return frame;
}

struct _CvFrameReader {
    GByteArray *buf;
};

CvFrameReader *
cv_frame_reader_new(void)
{
    CvFrameReader *r = g_new0(CvFrameReader, 1);

    r->buf = g_byte_array_new();
    return r;
}

void
cv_frame_reader_free(CvFrameReader *reader)
{
    if (!reader)
        return;
    g_byte_array_unref(reader->buf);
    g_free(reader);
}

void
cv_frame_reader_reset(CvFrameReader *reader)
{
    g_byte_array_set_size(reader->buf, 0);
}

void
cv_frame_reader_feed(CvFrameReader *reader, const guint8 *data, gsize len)
{
    g_byte_array_append(reader->buf, data, len);
}

gsize
cv_frame_reader_pending(CvFrameReader *reader)
{
    return reader->buf->len;
}

static guint32
read_be32(const guint8 *p)
{
    return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

gboolean
cv_frame_reader_next(CvFrameReader *reader, CvFrame **frame, GError **error)
{
    guint32 len;
    CvFrame *f;

    *frame = NULL;
    if (reader->buf->len < 4)
        return TRUE;
    len = read_be32(reader->buf->data);
    /* Refuse before buffering: a hostile length must not make us allocate. */
    if (len > CV_FRAME_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "frame length %u exceeds %d", len, CV_FRAME_MAX);
        return FALSE;
    }
    if (reader->buf->len - 4 < len)
        return TRUE;
    f = cv_frame_unpack(reader->buf->data + 4, len, error);
    if (!f)
        return FALSE;
    g_byte_array_remove_range(reader->buf, 0, len + 4);
    *frame = f;
    return TRUE;
}

gboolean
cv_frame_write(GOutputStream *out, const CvFrame *frame, GCancellable *cancellable, GError **error)
{
    g_autoptr(GBytes) packed = cv_frame_pack(frame, error);
    g_autoptr(GError) local = NULL;
    gsize len = 0;
    const guint8 *p;

    if (!packed)
        return FALSE;
    p = g_bytes_get_data(packed, &len);
    if (!g_output_stream_write_all(out, p, len, NULL, cancellable, &local)) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot write frame: %s", local->message);
        return FALSE;
    }
    return TRUE;
}

/* Reads exactly len bytes; *got tells how many arrived before EOF. */
static gboolean
read_exact(GInputStream *in, guint8 *buf, gsize len, gsize *got, GCancellable *cancellable, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (!g_input_stream_read_all(in, buf, len, got, cancellable, &local)) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot read frame: %s", local->message);
        return FALSE;
    }
    return TRUE;
}

CvFrame *
cv_frame_read(GInputStream *in, GCancellable *cancellable, GError **error)
{
    guint8 hdr[4];
    g_autofree guint8 *body = NULL;
    gsize got = 0;
    guint32 len;

    if (!read_exact(in, hdr, 4, &got, cancellable, error))
        return NULL;
    if (got == 0)
        return NULL;
    if (got < 4) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "truncated frame length (%" G_GSIZE_FORMAT " bytes)", got);
        return NULL;
    }
    len = read_be32(hdr);
    if (len > CV_FRAME_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "frame length %u exceeds %d", len, CV_FRAME_MAX);
        return NULL;
    }
    body = g_malloc(len ? len : 1);
    if (!read_exact(in, body, len, &got, cancellable, error))
        return NULL;
    if (got < len) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "truncated frame: %" G_GSIZE_FORMAT " of %u bytes",
                    got, len);
        return NULL;
    }
    return cv_frame_unpack(body, len, error);
}

/* The same over a plain descriptor, through GIO's unix streams (the descriptor stays open). */
gboolean
cv_frame_write_fd(int fd, const CvFrame *frame, GError **error)
{
    g_autoptr(GOutputStream) out = g_unix_output_stream_new(fd, FALSE);

    return cv_frame_write(out, frame, NULL, error);
}

CvFrame *
cv_frame_read_fd(int fd, GError **error)
{
    g_autoptr(GInputStream) in = g_unix_input_stream_new(fd, FALSE);

    return cv_frame_read(in, NULL, error);
}
