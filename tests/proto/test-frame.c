/* The control channel's frame codec: round trips, and truncated, oversized and garbage input. */
#include "frame.h"
#include "control.h"
#include "frame-channel.h"
#include "cv-error.h"

#include <string.h>
#include <unistd.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

static GBytes *
packed_log(const char *line)
{
    CvFrame *f = cv_agent_frame_log(1234, "agent", "info", line);
    GBytes *b;

    f->seq = 7;
    b = cv_frame_pack(f, NULL);
    cv_agent_frame_free(f);
    g_assert_nonnull(b);
    return b;
}

static void
test_roundtrip_stream(void)
{
    g_autoptr(GBytes) a = packed_log("first");
    g_autoptr(GBytes) b = packed_log("second");
    g_autoptr(GByteArray) all = g_byte_array_new();
    g_autoptr(GInputStream) in = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(CvFrame) f1 = NULL, f2 = NULL, f3 = NULL;

    g_byte_array_append(all, g_bytes_get_data(a, NULL), g_bytes_get_size(a));
    g_byte_array_append(all, g_bytes_get_data(b, NULL), g_bytes_get_size(b));
    in = g_memory_input_stream_new_from_data(g_memdup2(all->data, all->len), all->len, g_free);
    f1 = cv_frame_read(in, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(f1->body_case, ==, COVIRT__CONTROL__FRAME__BODY_LOG);
    g_assert_cmpstr(f1->log->line, ==, "first");
    g_assert_cmpuint(f1->seq, ==, 7);
    f2 = cv_frame_read(in, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(f2->log->line, ==, "second");
    /* clean EOF at a frame boundary: no frame, no error */
    f3 = cv_frame_read(in, NULL, &error);
    g_assert_no_error(error);
    g_assert_null(f3);
}

static void
test_incremental(void)
{
    g_autoptr(GBytes) a = packed_log("byte by byte");
    g_autoptr(CvFrameReader) r = cv_frame_reader_new();
    gsize len = 0;
    const guint8 *p = g_bytes_get_data(a, &len);
    int frames = 0;

    for (gsize i = 0; i < len; i++) {
        g_autoptr(CvFrame) f = NULL;
        g_autoptr(GError) error = NULL;
        cv_frame_reader_feed(r, p + i, 1);
        g_assert_true(cv_frame_reader_next(r, &f, &error));
        g_assert_no_error(error);
        if (f) {
            g_assert_cmpuint(i, ==, len - 1);
            g_assert_cmpstr(f->log->line, ==, "byte by byte");
            frames++;
        }
    }
    g_assert_cmpint(frames, ==, 1);
    g_assert_cmpuint(cv_frame_reader_pending(r), ==, 0);
}

static void
test_truncated(void)
{
    g_autoptr(GBytes) a = packed_log("cut short");
    gsize len = 0;
    const guint8 *p = g_bytes_get_data(a, &len);

    for (gsize cut = 1; cut < len; cut++) {
        g_autoptr(GInputStream) in = g_memory_input_stream_new_from_data(g_memdup2(p, cut), cut, g_free);
        g_autoptr(GError) error = NULL;
        g_autoptr(CvFrame) f = cv_frame_read(in, NULL, &error);
        g_assert_null(f);
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, "truncated"));
    }
}

static void
test_oversized(void)
{
    guint8 hdr[4] = { 0x00, 0x10, 0x00, 0x01 };  /* 1 MiB + 1 */
    g_autoptr(CvFrameReader) r = cv_frame_reader_new();
    g_autoptr(CvFrame) f = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) error2 = NULL;
    g_autoptr(GInputStream) in = g_memory_input_stream_new_from_data(hdr, 4, NULL);
    g_autoptr(CvFrame) f2 = NULL;
    guint8 huge[4] = { 0xff, 0xff, 0xff, 0xff };

    cv_frame_reader_feed(r, hdr, 4);
    g_assert_false(cv_frame_reader_next(r, &f, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_TOO_LARGE);
    f2 = cv_frame_read(in, NULL, &error2);
    g_assert_null(f2);
    g_assert_error(error2, CV_ERROR, CV_ERROR_TOO_LARGE);
    g_clear_error(&error);
    cv_frame_reader_reset(r);
    cv_frame_reader_feed(r, huge, 4);
    g_assert_false(cv_frame_reader_next(r, &f, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_TOO_LARGE);
}

static void
test_pack_too_large(void)
{
    g_autofree char *big = g_malloc(CV_FRAME_MAX + 16);
    CvFrame *f;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) b = NULL;

    memset(big, 'a', CV_FRAME_MAX + 15);
    big[CV_FRAME_MAX + 15] = '\0';
    f = cv_agent_frame_log(1, "agent", "info", big);
    b = cv_frame_pack(f, &error);
    cv_agent_frame_free(f);
    g_assert_null(b);
    g_assert_error(error, CV_ERROR, CV_ERROR_TOO_LARGE);
}

static void
test_garbage(void)
{
    /* a length of 5 followed by bytes that are not a protobuf message */
    guint8 junk[] = { 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff };
    /* a well-formed but empty message: no body */
    guint8 empty[] = { 0, 0, 0, 0 };
    g_autoptr(CvFrameReader) r = cv_frame_reader_new();
    g_autoptr(CvFrame) f = NULL;
    g_autoptr(GError) error = NULL;

    cv_frame_reader_feed(r, junk, sizeof(junk));
    g_assert_false(cv_frame_reader_next(r, &f, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    g_clear_error(&error);
    cv_frame_reader_reset(r);
    cv_frame_reader_feed(r, empty, sizeof(empty));
    g_assert_false(cv_frame_reader_next(r, &f, &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    g_assert_null(f);
}

static void
test_fd(void)
{
    int fds[2];
    CvFrame *out = cv_agent_frame_event(99, "state", "Running", "ReceivingData -> Running");
    g_autoptr(CvFrame) in = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_true(cv_frame_write_fd(fds[1], out, &error));
    cv_agent_frame_free(out);
    close(fds[1]);
    in = cv_frame_read_fd(fds[0], &error);
    g_assert_no_error(error);
    g_assert_cmpint(in->body_case, ==, COVIRT__CONTROL__FRAME__BODY_EVENT);
    g_assert_cmpstr(in->event->state, ==, "Running");
    g_assert_cmpint(in->event->time_unix_ms, ==, 99);
    close(fds[0]);
}

static GBytes *
numbered_log(guint64 seq, gsize line_len)
{
    g_autofree char *line = g_strnfill(line_len, 'x');
    CvFrame *f = cv_agent_frame_log((gint64)seq, "algorithm", "info", line);
    GBytes *b;

    f->seq = seq;
    b = cv_frame_pack(f, NULL);
    cv_agent_frame_free(f);
    return b;
}

/* A peer that does not read: the channel keeps at most queue_max frames (the oldest dropped, counted)
 * and, once the peer reads, delivers the newest ones in order. No path: everything dropped. */
static void
test_channel_bound(void)
{
    g_autofree char *dir = g_dir_make_tmp("covirt-channel-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "sock", NULL);
    g_autoptr(GSocketListener) listener = g_socket_listener_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    static const CvFrameChannelHandlers none = { 0 };
    g_autoptr(CvFrameChannel) nowhere = cv_frame_channel_new(NULL, CV_FRAME_CHANNEL_KEEP_QUEUE, 4, &none, NULL);
    g_autoptr(CvFrameChannel) c = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GError) error = NULL;
    guint64 last = 0;
    const guint sent = 64, queue_max = 3;

    cv_frame_channel_send(nowhere, numbered_log(1, 10));
    g_assert_cmpuint(cv_frame_channel_dropped(nowhere), ==, 1);
    g_assert_cmpuint(cv_frame_channel_queued(nowhere), ==, 0);

    g_assert_true(g_socket_listener_add_address(listener, addr, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL,
                                                NULL, &error));
    c = cv_frame_channel_new(path, CV_FRAME_CHANNEL_KEEP_QUEUE, queue_max, &none, NULL);
    while (!cv_frame_channel_connected(c))
        g_main_context_iteration(NULL, TRUE);
    /* 64 frames of 256 KiB: far more than the socket buffers take while nobody reads */
    for (guint i = 1; i <= sent; i++)
        cv_frame_channel_send(c, numbered_log(i, 256 * 1024));
    g_assert_cmpuint(cv_frame_channel_queued(c), <=, queue_max + 1);
    g_assert_cmpuint(cv_frame_channel_dropped(c), >, 0);

    conn = g_socket_listener_accept(listener, NULL, NULL, &error);
    g_assert_no_error(error);
    /* read in a thread-free way: let the channel write while the test reads with a timeout */
    g_socket_set_blocking(g_socket_connection_get_socket(conn), FALSE);
    {
        g_autoptr(CvFrameReader) r = cv_frame_reader_new();
        guint got = 0;
        gint64 end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
        while (last < sent && g_get_monotonic_time() < end) {
            guint8 buf[65536];
            gssize n = g_socket_receive(g_socket_connection_get_socket(conn), (gchar *)buf, sizeof(buf), NULL, NULL);
            if (n > 0)
                cv_frame_reader_feed(r, buf, n);
            for (;;) {
                g_autoptr(CvFrame) f = NULL;
                g_assert_true(cv_frame_reader_next(r, &f, &error));
                if (!f)
                    break;
                g_assert_cmpuint(f->seq, >, last);   /* in order, none twice */
                last = f->seq;
                got++;
            }
            g_main_context_iteration(NULL, FALSE);
        }
        g_test_message("%u frames sent, %u delivered, %" G_GUINT64_FORMAT " dropped", sent, got,
                       cv_frame_channel_dropped(c));
        g_assert_cmpuint(last, ==, sent);          /* the newest arrived */
        g_assert_cmpuint(got + cv_frame_channel_dropped(c), ==, sent);
    }
    g_clear_pointer(&c, cv_frame_channel_free);
    g_unlink(path);
    g_rmdir(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/frame/roundtrip-stream", test_roundtrip_stream);
    g_test_add_func("/frame/incremental", test_incremental);
    g_test_add_func("/frame/truncated", test_truncated);
    g_test_add_func("/frame/oversized", test_oversized);
    g_test_add_func("/frame/pack-too-large", test_pack_too_large);
    g_test_add_func("/frame/garbage", test_garbage);
    g_test_add_func("/frame/fd", test_fd);
    g_test_add_func("/frame/channel-bound", test_channel_bound);
    return g_test_run();
}
