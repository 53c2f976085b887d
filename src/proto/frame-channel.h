/* A control channel of covirt.control frames (frame.h) driven by the GLib main loop: non-blocking,
 * reconnecting every second while the other end is not there, over a UNIX socket (the host side
 * of a virtio-serial port that QEMU listens on) or a character device (the port in the guest).
 * covirt-agent (agent/control.c) and covirt-manager (src/manager/agent-channel.c) each wrap one.
 * Everything that arrives is the peer's and hostile: a stream that loses its framing is reported
 * and the connection dropped and opened again. */
#pragma once
#include <glib.h>
#include "frame.h"

G_BEGIN_DECLS

typedef struct _CvFrameChannel CvFrameChannel;

typedef struct {
    /* the channel (re)opened: a packed frame to write before anything queued (the agent's Hello), or NULL */
    GBytes *(*opened)(gpointer user_data);
    /* one whole frame arrived; it may send, but not free the channel */
    void (*frame)(const CvFrame *frame, gpointer user_data);
    /* the stream lost its framing; the connection is dropped and retried after this */
    void (*protocol_error)(const char *message, gpointer user_data);
} CvFrameChannelHandlers;

typedef enum {
    CV_FRAME_CHANNEL_DEFAULT = 0,
    /* queued frames wait for the next connection (the agent's events while the manager is away)
     * instead of going with the one that dropped */
    CV_FRAME_CHANNEL_KEEP_QUEUE = 1 << 0,
} CvFrameChannelFlags;

/* path NULL: no channel; frames sent are dropped and counted. queue_max bounds the frames waiting
 * (each at most CV_FRAME_MAX bytes): past it, the oldest one not being written is dropped. */
CvFrameChannel *cv_frame_channel_new(const char *path, CvFrameChannelFlags flags, guint queue_max,
                                     const CvFrameChannelHandlers *handlers, gpointer user_data);
void cv_frame_channel_free(CvFrameChannel *channel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvFrameChannel, cv_frame_channel_free)

/* Takes the packed frame (cv_frame_pack), queues it and writes what the peer takes now. */
void cv_frame_channel_send(CvFrameChannel *channel, GBytes *packed);
gboolean cv_frame_channel_connected(CvFrameChannel *channel);
const char *cv_frame_channel_path(CvFrameChannel *channel);
guint cv_frame_channel_queued(CvFrameChannel *channel);
guint64 cv_frame_channel_dropped(CvFrameChannel *channel);

G_END_DECLS
