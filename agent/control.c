#include "control.h"
#include "cv-error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib-unix.h>

#define RETRY_MS 1000

struct _CvAgentControl {
    char *path;
    CvAgentControlHandlers handlers;
    gpointer user_data;
    int fd;
    guint io_watch;
    guint out_watch;
    guint retry;
    CvFrameReader *reader;
    GBytes *hello;      /* sent first on each connection */
    gsize hello_off;
    GQueue queue;       /* GBytes, packed frames */
    gsize head_off;     /* bytes of the queue's head already written */
    guint64 seq;
    guint64 dropped;
};

static void schedule_retry(CvAgentControl *c);
static void flush(CvAgentControl *c);

static void
disconnect(CvAgentControl *c, const char *why)
{
    if (c->fd < 0)
        return;
    g_debug("control channel: %s", why);
    if (c->io_watch)
        g_source_remove(c->io_watch);
    if (c->out_watch)
        g_source_remove(c->out_watch);
    c->io_watch = c->out_watch = 0;
    close(c->fd);
    c->fd = -1;
    cv_frame_reader_reset(c->reader);
    /* the frame being written when the peer went away is resent whole */
    c->head_off = 0;
    g_clear_pointer(&c->hello, g_bytes_unref);
    schedule_retry(c);
}

static void
dispatch(CvAgentControl *c, CvFrame *f)
{
    switch (f->body_case) {
    case COVIRT__CONTROL__FRAME__BODY_MANIFEST:
        if (c->handlers.manifest)
            c->handlers.manifest(f->manifest->json, strlen(f->manifest->json), c->user_data);
        break;
    case COVIRT__CONTROL__FRAME__BODY_STOP:
        if (c->handlers.stop)
            c->handlers.stop(f->stop->reason, c->user_data);
        break;
    case COVIRT__CONTROL__FRAME__BODY_STATE_REQUEST:
        if (c->handlers.state_request)
            c->handlers.state_request(c->user_data);
        break;
    default:
        g_debug("control channel: ignoring frame of kind %d", f->body_case);
        break;
    }
}

static gboolean
on_io(int fd, GIOCondition cond, gpointer data)
{
    CvAgentControl *c = data;
    guint8 buf[16384];
    ssize_t n;

    if (cond & G_IO_IN) {
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return G_SOURCE_CONTINUE;
        if (n <= 0) {
            c->io_watch = 0;
            disconnect(c, n < 0 ? g_strerror(errno) : "peer closed");
            return G_SOURCE_REMOVE;
        }
        cv_frame_reader_feed(c->reader, buf, n);
        for (;;) {
            g_autoptr(CvFrame) f = NULL;
            g_autoptr(GError) error = NULL;
            if (!cv_frame_reader_next(c->reader, &f, &error)) {
                /* framing is lost: start over with a fresh connection */
                g_warning("control channel: %s; reconnecting", error->message);
                c->io_watch = 0;
                disconnect(c, "bad frame");
                return G_SOURCE_REMOVE;
            }
            if (!f)
                break;
            dispatch(c, f);
            if (c->fd < 0)
                return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
    }
    /* HUP without data: a virtio-serial port whose host side is not open */
    c->io_watch = 0;
    disconnect(c, "hang-up");
    return G_SOURCE_REMOVE;
}

static gboolean
on_writable(int fd, GIOCondition cond, gpointer data)
{
    CvAgentControl *c = data;

    c->out_watch = 0;
    flush(c);
    return G_SOURCE_REMOVE;
}

/* Writes what it can without blocking; FALSE when the peer is gone. */
static gboolean
write_some(CvAgentControl *c, GBytes *b, gsize *off, gboolean *blocked)
{
    gsize len = 0;
    const guint8 *p = g_bytes_get_data(b, &len);

    while (*off < len) {
        ssize_t n = write(c->fd, p + *off, len - *off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            *blocked = TRUE;
            return TRUE;
        }
        if (n <= 0)
            return FALSE;
        *off += n;
    }
    return TRUE;
}

static void
flush(CvAgentControl *c)
{
    gboolean blocked = FALSE;

    if (c->fd < 0)
        return;
    if (c->hello) {
        if (!write_some(c, c->hello, &c->hello_off, &blocked))
            goto gone;
        if (blocked)
            goto wait;
        g_clear_pointer(&c->hello, g_bytes_unref);
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
        c->out_watch = g_unix_fd_add(c->fd, G_IO_OUT, on_writable, c);
    return;
 gone:
    disconnect(c, g_strerror(errno));
}

static int
open_channel(const char *path)
{
    struct stat st;
    int fd;

    if (stat(path, &st) < 0)
        return -1;
    if (S_ISSOCK(st.st_mode)) {
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(addr.sun_path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        strcpy(addr.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        g_unix_set_fd_nonblocking(fd, TRUE, NULL);
        return fd;
    }
    return open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

static gboolean
try_connect(gpointer data)
{
    CvAgentControl *c = data;
    CvFrame *hello;

    c->retry = 0;
    c->fd = open_channel(c->path);
    if (c->fd < 0) {
        g_debug("control channel %s: %s", c->path, g_strerror(errno));
        schedule_retry(c);
        return G_SOURCE_REMOVE;
    }
    g_debug("control channel %s open", c->path);
    hello = c->handlers.hello ? c->handlers.hello(c->user_data) : NULL;
    if (hello) {
        hello->seq = 0;
        c->hello = cv_frame_pack(hello, NULL);
        c->hello_off = 0;
        cv_agent_frame_free(hello);
    }
    c->io_watch = g_unix_fd_add(c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_io, c);
    flush(c);
    return G_SOURCE_REMOVE;
}

static void
schedule_retry(CvAgentControl *c)
{
    if (!c->retry && c->path)
        c->retry = g_timeout_add(RETRY_MS, try_connect, c);
}

CvAgentControl *
cv_agent_control_new(const char *path, const CvAgentControlHandlers *handlers, gpointer user_data)
{
    CvAgentControl *c = g_new0(CvAgentControl, 1);

    c->path = g_strdup(path);
    c->handlers = *handlers;
    c->user_data = user_data;
    c->fd = -1;
    c->reader = cv_frame_reader_new();
    g_queue_init(&c->queue);
    if (path)
        c->retry = g_idle_add(try_connect, c);
    return c;
}

void
cv_agent_control_free(CvAgentControl *c)
{
    if (!c)
        return;
    if (c->io_watch)
        g_source_remove(c->io_watch);
    if (c->out_watch)
        g_source_remove(c->out_watch);
    if (c->retry)
        g_source_remove(c->retry);
    if (c->fd >= 0)
        close(c->fd);
    cv_frame_reader_free(c->reader);
    g_clear_pointer(&c->hello, g_bytes_unref);
    g_queue_clear_full(&c->queue, (GDestroyNotify)g_bytes_unref);
    g_free(c->path);
    g_free(c);
}

gboolean
cv_agent_control_connected(CvAgentControl *c)
{
    return c->fd >= 0;
}

guint
cv_agent_control_queued(CvAgentControl *c)
{
    return g_queue_get_length(&c->queue);
}

void
cv_agent_control_send(CvAgentControl *c, CvFrame *frame)
{
    g_autoptr(GError) error = NULL;
    GBytes *packed;

    frame->seq = ++c->seq;
    packed = cv_frame_pack(frame, &error);
    cv_agent_frame_free(frame);
    if (!packed) {
        g_warning("control channel: %s", error->message);
        return;
    }
    if (!c->path) {
        g_bytes_unref(packed);
        return;
    }
    if (g_queue_get_length(&c->queue) >= CV_AGENT_CONTROL_QUEUE_MAX) {
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

/* ---- frame builders ---- */

CvFrame *
cv_agent_frame_hello(const char *version, const char *platform, const guint8 tls_sha256[32], const char *hal_version)
{
    CvFrame *f = g_new0(CvFrame, 1);
    Covirt__Control__Hello *h = g_new0(Covirt__Control__Hello, 1);

    covirt__control__frame__init(f);
    covirt__control__hello__init(h);
    h->agent_version = g_strdup(version);
    h->platform = g_strdup(platform);
    h->tls_pubkey_sha256.data = g_memdup2(tls_sha256, 32);
    h->tls_pubkey_sha256.len = 32;
    h->hal_version = g_strdup(hal_version ? hal_version : "");
    f->body_case = COVIRT__CONTROL__FRAME__BODY_HELLO;
    f->hello = h;
    return f;
}

CvFrame *
cv_agent_frame_state(const char *state)
{
    CvFrame *f = g_new0(CvFrame, 1);
    Covirt__Control__State *s = g_new0(Covirt__Control__State, 1);

    covirt__control__frame__init(f);
    covirt__control__state__init(s);
    s->state = g_strdup(state);
    f->body_case = COVIRT__CONTROL__FRAME__BODY_STATE;
    f->state = s;
    return f;
}

CvFrame *
cv_agent_frame_event(gint64 time_ms, const char *kind, const char *state, const char *message)
{
    CvFrame *f = g_new0(CvFrame, 1);
    Covirt__Control__Event *e = g_new0(Covirt__Control__Event, 1);

    covirt__control__frame__init(f);
    covirt__control__event__init(e);
    e->time_unix_ms = time_ms;
    e->kind = g_strdup(kind);
    e->state = g_strdup(state ? state : "");
    e->message = g_strdup(message ? message : "");
    f->body_case = COVIRT__CONTROL__FRAME__BODY_EVENT;
    f->event = e;
    return f;
}

CvFrame *
cv_agent_frame_log(gint64 time_ms, const char *source, const char *level, const char *line)
{
    CvFrame *f = g_new0(CvFrame, 1);
    Covirt__Control__Log *l = g_new0(Covirt__Control__Log, 1);

    covirt__control__frame__init(f);
    covirt__control__log__init(l);
    l->time_unix_ms = time_ms;
    l->source = g_strdup(source);
    l->level = g_strdup(level);
    l->line = g_strdup(line);
    f->body_case = COVIRT__CONTROL__FRAME__BODY_LOG;
    f->log = l;
    return f;
}

CvFrame *
cv_agent_frame_run_result(gboolean ok, int exit_code, const char *message)
{
    CvFrame *f = g_new0(CvFrame, 1);
    Covirt__Control__RunResult *r = g_new0(Covirt__Control__RunResult, 1);

    covirt__control__frame__init(f);
    covirt__control__run_result__init(r);
    r->ok = ok;
    r->exit_code = exit_code;
    r->message = g_strdup(message ? message : "");
    f->body_case = COVIRT__CONTROL__FRAME__BODY_RUN_RESULT;
    f->run_result = r;
    return f;
}

void
cv_agent_frame_free(CvFrame *f)
{
    if (!f)
        return;
    switch (f->body_case) {
    case COVIRT__CONTROL__FRAME__BODY_HELLO:
        g_free(f->hello->agent_version);
        g_free(f->hello->platform);
        g_free(f->hello->tls_pubkey_sha256.data);
        g_free(f->hello->hal_version);
        g_free(f->hello);
        break;
    case COVIRT__CONTROL__FRAME__BODY_STATE:
        g_free(f->state->state);
        g_free(f->state);
        break;
    case COVIRT__CONTROL__FRAME__BODY_EVENT:
        g_free(f->event->kind);
        g_free(f->event->state);
        g_free(f->event->message);
        g_free(f->event);
        break;
    case COVIRT__CONTROL__FRAME__BODY_LOG:
        g_free(f->log->source);
        g_free(f->log->level);
        g_free(f->log->line);
        g_free(f->log);
        break;
    case COVIRT__CONTROL__FRAME__BODY_RUN_RESULT:
        g_free(f->run_result->message);
        g_free(f->run_result);
        break;
    default:
        break;
    }
    g_free(f);
}
