#include <string.h>
#include "agent-channel.h"
#include "frame-channel.h"
#include "cv-error.h"
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

/* f (its body set) goes out with the next sequence number */
static gboolean
send_frame(CvMgrAgentChannel *c, Covirt__Control__Frame *f, GError **error)
{
    GBytes *packed;

    f->seq = ++c->seq;
    packed = cv_frame_pack(f, error);
    if (!packed)
        return FALSE;
    cv_frame_channel_send(c->channel, packed);
    return TRUE;
}

static void
send_manifest(CvMgrAgentChannel *c)
{
    Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
    Covirt__Control__Manifest m = COVIRT__CONTROL__MANIFEST__INIT;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) data = json_object_new();

    if (!c->manifest)
        return;
    m.json = c->manifest;
    f.body_case = COVIRT__CONTROL__FRAME__BODY_MANIFEST;
    f.manifest = &m;
    if (!send_frame(c, &f, &error)) {
        json_object_set_string_member(data, "event", "manifest-error");
        json_object_set_string_member(data, "message", error->message);
        emit(c, "agent", data);
        return;
    }
    json_object_set_string_member(data, "event", "manifest-sent");
    json_object_set_int_member(data, "bytes", (gint64)strlen(c->manifest));
    emit(c, "agent", data);
}

/* after a (re)connection, and a manager restarted meanwhile, the computation's state is not known */
static void
ask_state(CvMgrAgentChannel *c)
{
    Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
    Covirt__Control__StateRequest q = COVIRT__CONTROL__STATE_REQUEST__INIT;

    f.body_case = COVIRT__CONTROL__FRAME__BODY_STATE_REQUEST;
    f.state_request = &q;
    send_frame(c, &f, NULL);
}

gboolean
cv_mgr_agent_channel_stop(CvMgrAgentChannel *c, const char *reason, GError **error)
{
    Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
    Covirt__Control__Stop s = COVIRT__CONTROL__STOP__INIT;

    /* a stop queued for an agent that is away would land in whatever it does when it comes back */
    if (!cv_frame_channel_connected(c->channel)) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "the agent is not connected to the manager");
        return FALSE;
    }
    s.reason = (char *)(reason ? reason : "");
    f.body_case = COVIRT__CONTROL__FRAME__BODY_STOP;
    f.stop = &s;
    return send_frame(c, &f, error);
}

gboolean
cv_mgr_agent_channel_reset(CvMgrAgentChannel *c, const char *reason, const char *manifest_json, GError **error)
{
    Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
    Covirt__Control__Reset r = COVIRT__CONTROL__RESET__INIT;

    if (!cv_frame_channel_connected(c->channel)) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "the agent is not connected to the manager");
        return FALSE;
    }
    r.reason = (char *)(reason ? reason : "");
    r.manifest_json = (char *)(manifest_json ? manifest_json : c->manifest ? c->manifest : "");
    f.body_case = COVIRT__CONTROL__FRAME__BODY_RESET;
    f.reset = &r;
    if (!send_frame(c, &f, error))
        return FALSE;
    /* later Hellos bring the new computation's manifest, not the first one */
    if (manifest_json) {
        g_free(c->manifest);
        c->manifest = g_strdup(manifest_json);
    }
    return TRUE;
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
        ask_state(c);
        break;
    }
    case COVIRT__CONTROL__FRAME__BODY_STATE:
        /* the computation's status, not an event: each change came as an Event frame already */
        set_text(data, "state", f->state->state);
        if (f->state->error && *f->state->error)
            set_text(data, "error", f->state->error);
        json_object_set_boolean_member(data, "result_available", f->state->result_available);
        emit(c, "computation", data);
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
