#include "frame-channel.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib-unix.h>

#define RETRY_MS 1000

struct _CvFrameChannel {
    char *path;
    CvFrameChannelFlags flags;
    guint queue_max;
    CvFrameChannelHandlers handlers;
    gpointer user_data;
    int fd;
    gboolean is_socket;
    guint in_watch;
    guint out_watch;
    guint retry;
    CvFrameReader *reader;
    GBytes *first;      /* written before the queue on each connection */
    gsize first_off;
    GQueue queue;       /* GBytes, packed frames */
    gsize head_off;     /* bytes of the queue's head already written */
    guint64 dropped;
};

static void flush(CvFrameChannel *c);
static gboolean try_open(gpointer data);

static void
schedule_retry(CvFrameChannel *c)
{
    if (!c->retry && c->path)
        c->retry = g_timeout_add(RETRY_MS, try_open, c);
}

static void
drop_queue(CvFrameChannel *c)
{
    g_queue_clear_full(&c->queue, (GDestroyNotify)g_bytes_unref);
    c->head_off = 0;
}

static void
disconnect(CvFrameChannel *c, const char *why)
{
    if (c->fd < 0)
        return;
    g_debug("control channel %s: %s", c->path, why);
    if (c->in_watch)
        g_source_remove(c->in_watch);
    if (c->out_watch)
        g_source_remove(c->out_watch);
    c->in_watch = c->out_watch = 0;
    close(c->fd);
    c->fd = -1;
    cv_frame_reader_reset(c->reader);
    g_clear_pointer(&c->first, g_bytes_unref);
    if (c->flags & CV_FRAME_CHANNEL_KEEP_QUEUE)
        c->head_off = 0;    /* the frame being written when the peer went away is resent whole */
    else
        drop_queue(c);
    schedule_retry(c);
}

static gboolean
on_in(int fd, GIOCondition cond, gpointer data)
{
    CvFrameChannel *c = data;
    guint8 buf[16384];
    ssize_t n;

    if (!(cond & G_IO_IN)) {
        /* HUP without data: a virtio-serial port whose host side is not open */
        c->in_watch = 0;
        disconnect(c, "hang-up");
        return G_SOURCE_REMOVE;
    }
    n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        c->in_watch = 0;
        disconnect(c, n < 0 ? g_strerror(errno) : "closed");
        return G_SOURCE_REMOVE;
    }
    cv_frame_reader_feed(c->reader, buf, (gsize)n);
    for (;;) {
        g_autoptr(CvFrame) f = NULL;
        g_autoptr(GError) error = NULL;

        if (!cv_frame_reader_next(c->reader, &f, &error)) {
            /* framing is lost: start over with a fresh connection */
            if (c->handlers.protocol_error)
                c->handlers.protocol_error(error->message, c->user_data);
            c->in_watch = 0;
            disconnect(c, error->message);
            return G_SOURCE_REMOVE;
        }
        if (!f)
            break;
        if (c->handlers.frame)
            c->handlers.frame(f, c->user_data);
        if (c->fd < 0) {
            /* the handler's send found the peer gone */
            c->in_watch = 0;
            return G_SOURCE_REMOVE;
        }
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
on_out(int fd, GIOCondition cond, gpointer data)
{
    CvFrameChannel *c = data;

    c->out_watch = 0;
    flush(c);
    return G_SOURCE_REMOVE;
}

/* Writes what it can without blocking; FALSE when the peer is gone. send() keeps a closed socket
 * from raising SIGPIPE; a character device takes write(). */
static gboolean
write_some(CvFrameChannel *c, GBytes *b, gsize *off, gboolean *blocked)
{
    gsize len = 0;
    const guint8 *p = g_bytes_get_data(b, &len);

    while (*off < len) {
        ssize_t n = c->is_socket ? send(c->fd, p + *off, len - *off, MSG_NOSIGNAL | MSG_DONTWAIT) :
                                   write(c->fd, p + *off, len - *off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            *blocked = TRUE;
            return TRUE;
        }
        if (n <= 0)
            return FALSE;
        *off += (gsize)n;
    }
    return TRUE;
}

static void
flush(CvFrameChannel *c)
{
    gboolean blocked = FALSE;

    if (c->fd < 0)
        return;
    if (c->first) {
        if (!write_some(c, c->first, &c->first_off, &blocked))
            goto gone;
        if (blocked)
            goto wait;
        g_clear_pointer(&c->first, g_bytes_unref);
    }
    while (!g_queue_is_empty(&c->queue)) {
        GBytes *head = g_queue_peek_head(&c->queue);
        if (!write_some(c, head, &c->head_off, &blocked))
            goto gone;
        if (blocked)
            goto wait;
        g_bytes_unref(g_queue_pop_head(&c->queue));
        c->head_off = 0;
    }
    return;
 wait:
    if (!c->out_watch)
        c->out_watch = g_unix_fd_add(c->fd, G_IO_OUT, on_out, c);
    return;
 gone:
    disconnect(c, g_strerror(errno));
}

static int
open_path(const char *path, gboolean *is_socket)
{
    struct stat st;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    *is_socket = FALSE;
    if (stat(path, &st) < 0)
        return -1;
    if (!S_ISSOCK(st.st_mode))
        return open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (strlen(path) >= sizeof(addr.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    *is_socket = TRUE;
    return fd;
}

static gboolean
try_open(gpointer data)
{
    CvFrameChannel *c = data;

    c->retry = 0;
    c->fd = open_path(c->path, &c->is_socket);
    if (c->fd < 0) {
        g_debug("control channel %s: %s", c->path, g_strerror(errno));
        schedule_retry(c);
        return G_SOURCE_REMOVE;
    }
    g_debug("control channel %s open", c->path);
    c->first = c->handlers.opened ? c->handlers.opened(c->user_data) : NULL;
    c->first_off = 0;
    c->in_watch = g_unix_fd_add(c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_in, c);
    flush(c);
    return G_SOURCE_REMOVE;
}

CvFrameChannel *
cv_frame_channel_new(const char *path, CvFrameChannelFlags flags, guint queue_max,
                     const CvFrameChannelHandlers *handlers, gpointer user_data)
{
    CvFrameChannel *c = g_new0(CvFrameChannel, 1);

    c->path = g_strdup(path);
    c->flags = flags;
    c->queue_max = MAX(queue_max, 1);
    c->handlers = *handlers;
    c->user_data = user_data;
    c->fd = -1;
    c->reader = cv_frame_reader_new();
    g_queue_init(&c->queue);
    if (path)
        c->retry = g_idle_add(try_open, c);
    return c;
}

void
cv_frame_channel_free(CvFrameChannel *c)
{
    if (!c)
        return;
    if (c->in_watch)
        g_source_remove(c->in_watch);
    if (c->out_watch)
        g_source_remove(c->out_watch);
    if (c->retry)
        g_source_remove(c->retry);
    if (c->fd >= 0)
        close(c->fd);
    cv_frame_reader_free(c->reader);
    g_clear_pointer(&c->first, g_bytes_unref);
    drop_queue(c);
    g_free(c->path);
    g_free(c);
}

void
cv_frame_channel_send(CvFrameChannel *c, GBytes *packed)
{
    if (!c->path || (c->fd < 0 && !(c->flags & CV_FRAME_CHANNEL_KEEP_QUEUE))) {
        /* nobody to read it now, and it does not wait for the next connection */
        g_bytes_unref(packed);
        c->dropped++;
        return;
    }
    if (g_queue_get_length(&c->queue) >= c->queue_max) {
        /* drop the oldest frame that is not being written right now */
        GList *victim = c->head_off ? g_queue_peek_head_link(&c->queue)->next : g_queue_peek_head_link(&c->queue);
        if (victim) {
            g_bytes_unref(victim->data);
            g_queue_delete_link(&c->queue, victim);
            c->dropped++;
        }
    }
    g_queue_push_tail(&c->queue, packed);
    flush(c);
}

gboolean
cv_frame_channel_connected(CvFrameChannel *c)
{
    return c->fd >= 0;
}

const char *
cv_frame_channel_path(CvFrameChannel *c)
{
    return c->path;
}

guint
cv_frame_channel_queued(CvFrameChannel *c)
{
    return g_queue_get_length(&c->queue);
}

guint64
cv_frame_channel_dropped(CvFrameChannel *c)
{
    return c->dropped;
}
