#include <string.h>
#include "agent-channel.h"
#include "frame-channel.h"
#include "cv-util.h"

#define TEXT_MAX 4096          /* longest guest string kept in an event */
/* manifests waiting for a guest that does not read: each at most CV_FRAME_MAX, the oldest dropped */
#define QUEUE_MAX 4

struct _CvMgrAgentChannel {
    CvFrameChannel *channel;
    char *manifest;
    CvMgrAgentEventFunc func;
    gpointer user_data;
    guint64 seq;
};

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
    json_object_set_string_member(data, "event", "manifest-sent");
    json_object_set_int_member(data, "bytes", (gint64)strlen(c->manifest));
    emit(c, "agent", data);
    cv_frame_channel_send(c->channel, g_steal_pointer(&packed));
}

static void
dispatch(const CvFrame *f, gpointer user_data)
{
    CvMgrAgentChannel *c = user_data;
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
        g_debug("control channel %s: ignoring frame kind %d", cv_frame_channel_path(c->channel), f->body_case);
        break;
    }
}

static void
protocol_error(const char *message, gpointer user_data)
{
    CvMgrAgentChannel *c = user_data;
    g_autoptr(JsonObject) ev = json_object_new();

    json_object_set_string_member(ev, "event", "protocol-error");
    json_object_set_string_member(ev, "message", message);
    emit(c, "agent", ev);
}

CvMgrAgentChannel *
cv_mgr_agent_channel_new(const char *path, const char *manifest_json, CvMgrAgentEventFunc func, gpointer user_data)
{
    static const CvFrameChannelHandlers handlers = { .frame = dispatch, .protocol_error = protocol_error };
    CvMgrAgentChannel *c = g_new0(CvMgrAgentChannel, 1);

    c->manifest = g_strdup(manifest_json);
    c->func = func;
    c->user_data = user_data;
    /* what was not written goes with the connection: the next Hello brings the manifest again */
    c->channel = cv_frame_channel_new(path, CV_FRAME_CHANNEL_DEFAULT, QUEUE_MAX, &handlers, c);
    return c;
}

void
cv_mgr_agent_channel_free(CvMgrAgentChannel *c)
{
    if (!c)
        return;
    cv_frame_channel_free(c->channel);
    g_free(c->manifest);
    g_free(c);
}

gboolean
cv_mgr_agent_channel_connected(CvMgrAgentChannel *c)
{
    return cv_frame_channel_connected(c->channel);
}
