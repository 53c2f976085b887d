#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <glib-unix.h>
#include "agent-channel.h"
#include "frame.h"
#include "cv-util.h"

#define RETRY_MS 1000
#define TEXT_MAX 4096          /* longest guest string kept in an event */
#define OUT_MAX (4 * CV_FRAME_MAX)

struct _CvMgrAgentChannel {
    char *path;
    char *manifest;
    CvMgrAgentEventFunc func;
    gpointer user_data;
    int fd;
    guint in_watch;
    guint out_watch;
    guint retry;
    CvFrameReader *reader;
    GByteArray *out;       /* packed frames not yet written */
    guint64 seq;
};

static void schedule_retry(CvMgrAgentChannel *c);

static void
emit(CvMgrAgentChannel *c, const char *kind, JsonObject *data)
{
    if (c->func)
        c->func(kind, data, c->user_data);
}

/* guest text: valid UTF-8, bounded */
static void
set_text(JsonObject *o, const char *name, const char *text)
{
    g_autofree char *valid = NULL;

    if (!text)
        return;
    valid = g_utf8_make_valid(text, MIN(strlen(text), TEXT_MAX));
    json_object_set_string_member(o, name, valid);
}

static void
disconnect(CvMgrAgentChannel *c, const char *why)
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
    g_byte_array_set_size(c->out, 0);
    schedule_retry(c);
}

static gboolean on_out(gint fd, GIOCondition cond, gpointer data);

static void
flush(CvMgrAgentChannel *c)
{
    while (c->fd >= 0 && c->out->len) {
        ssize_t n = send(c->fd, c->out->data, c->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->out_watch)
                c->out_watch = g_unix_fd_add(c->fd, G_IO_OUT, on_out, c);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            disconnect(c, g_strerror(errno));
            return;
        }
        g_byte_array_remove_range(c->out, 0, (guint)n);
    }
}

static gboolean
on_out(gint fd, GIOCondition cond, gpointer data)
{
    CvMgrAgentChannel *c = data;

    c->out_watch = 0;
    flush(c);
    return G_SOURCE_REMOVE;
}

static void
send_manifest(CvMgrAgentChannel *c)
{
    Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
    Covirt__Control__Manifest m = COVIRT__CONTROL__MANIFEST__INIT;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) packed = NULL;
    g_autoptr(JsonObject) data = json_object_new();

    if (!c->manifest)
        return;
    m.json = c->manifest;
    f.seq = ++c->seq;
    f.body_case = COVIRT__CONTROL__FRAME__BODY_MANIFEST;
    f.manifest = &m;
    packed = cv_frame_pack(&f, &error);
    if (!packed) {
        json_object_set_string_member(data, "event", "manifest-error");
        json_object_set_string_member(data, "message", error->message);
        emit(c, "agent", data);
        return;
    }
    /* a guest that does not read cannot make the manager hold unbounded data */
    if (c->out->len + g_bytes_get_size(packed) > OUT_MAX) {
        disconnect(c, "the guest does not read its control channel");
        return;
    }
    g_byte_array_append(c->out, g_bytes_get_data(packed, NULL), (guint)g_bytes_get_size(packed));
    json_object_set_string_member(data, "event", "manifest-sent");
    json_object_set_int_member(data, "bytes", (gint64)strlen(c->manifest));
    emit(c, "agent", data);
    flush(c);
}

static void
dispatch(CvMgrAgentChannel *c, const CvFrame *f)
{
    g_autoptr(JsonObject) data = json_object_new();

    switch (f->body_case) {
    case COVIRT__CONTROL__FRAME__BODY_HELLO: {
        g_autofree char *key = f->hello->tls_pubkey_sha256.len == 32 ?
            cv_hex_encode(f->hello->tls_pubkey_sha256.data, 32) : NULL;

        json_object_set_string_member(data, "event", "hello");
        set_text(data, "agent_version", f->hello->agent_version);
        set_text(data, "platform", f->hello->platform);
        set_text(data, "hal_version", f->hello->hal_version);
        if (key)
            json_object_set_string_member(data, "tls_pubkey_sha256", key);
        emit(c, "agent", data);
        send_manifest(c);
        break;
    }
    case COVIRT__CONTROL__FRAME__BODY_STATE:
        json_object_set_string_member(data, "event", "state");
        set_text(data, "agent_state", f->state->state);
        emit(c, "agent", data);
        break;
    case COVIRT__CONTROL__FRAME__BODY_EVENT:
        json_object_set_string_member(data, "event", "agent-event");
        json_object_set_int_member(data, "agent_time_ms", f->event->time_unix_ms);
        set_text(data, "agent_kind", f->event->kind);
        set_text(data, "agent_state", f->event->state);
        set_text(data, "message", f->event->message);
        emit(c, "agent", data);
        break;
    case COVIRT__CONTROL__FRAME__BODY_LOG:
        json_object_set_int_member(data, "agent_time_ms", f->log->time_unix_ms);
        set_text(data, "source", f->log->source);
        set_text(data, "level", f->log->level);
        set_text(data, "message", f->log->line);
        emit(c, "log", data);
        break;
    case COVIRT__CONTROL__FRAME__BODY_RUN_RESULT:
        json_object_set_string_member(data, "event", "run-result");
        json_object_set_boolean_member(data, "ok", f->run_result->ok);
        json_object_set_int_member(data, "exit_code", f->run_result->exit_code);
        set_text(data, "message", f->run_result->message);
        emit(c, "agent", data);
        break;
    default:
        /* manager-to-agent kinds or unknown ones: nothing to do */
        g_debug("control channel %s: ignoring frame kind %d", c->path, f->body_case);
        break;
    }
}

static gboolean
on_in(gint fd, GIOCondition cond, gpointer data)
{
    CvMgrAgentChannel *c = data;
    guint8 buf[65536];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        c->in_watch = 0;
        disconnect(c, n == 0 ? "closed" : g_strerror(errno));
        return G_SOURCE_REMOVE;
    }
    cv_frame_reader_feed(c->reader, buf, (gsize)n);
    for (;;) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CvFrame) frame = NULL;

        if (!cv_frame_reader_next(c->reader, &frame, &error)) {
            g_autoptr(JsonObject) ev = json_object_new();

            json_object_set_string_member(ev, "event", "protocol-error");
            json_object_set_string_member(ev, "message", error->message);
            emit(c, "agent", ev);
            c->in_watch = 0;
            disconnect(c, error->message);
            return G_SOURCE_REMOVE;
        }
        if (!frame)
            break;
        dispatch(c, frame);
        if (c->fd < 0) {
            /* dispatch dropped the connection (a guest that does not read) */
            c->in_watch = 0;
            return G_SOURCE_REMOVE;
        }
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
try_connect(gpointer data)
{
    CvMgrAgentChannel *c = data;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    c->retry = 0;
    if (strlen(c->path) >= sizeof(addr.sun_path)) {
        g_warning("control channel path too long: %s", c->path);
        return G_SOURCE_REMOVE;
    }
    strcpy(addr.sun_path, c->path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        if (fd >= 0)
            close(fd);
        schedule_retry(c);
        return G_SOURCE_REMOVE;
    }
    c->fd = fd;
    c->in_watch = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_in, c);
    g_debug("control channel %s connected", c->path);
    return G_SOURCE_REMOVE;
}

static void
schedule_retry(CvMgrAgentChannel *c)
{
    if (!c->retry)
        c->retry = g_timeout_add(RETRY_MS, try_connect, c);
}

CvMgrAgentChannel *
cv_mgr_agent_channel_new(const char *path, const char *manifest_json, CvMgrAgentEventFunc func, gpointer user_data)
{
    CvMgrAgentChannel *c = g_new0(CvMgrAgentChannel, 1);

    c->path = g_strdup(path);
    c->manifest = g_strdup(manifest_json);
    c->func = func;
    c->user_data = user_data;
    c->fd = -1;
    c->reader = cv_frame_reader_new();
    c->out = g_byte_array_new();
    c->retry = g_idle_add(try_connect, c);
    return c;
}

void
cv_mgr_agent_channel_free(CvMgrAgentChannel *c)
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
    g_byte_array_unref(c->out);
    g_free(c->path);
    g_free(c->manifest);
    g_free(c);
}

gboolean
cv_mgr_agent_channel_connected(CvMgrAgentChannel *c)
{
    return c->fd >= 0;
}

const char *
cv_mgr_agent_channel_path(CvMgrAgentChannel *c)
{
    return c->path;
}
