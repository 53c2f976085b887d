#include "control.h"
#include "frame-channel.h"
#include "cv-error.h"

#include <string.h>

struct _CvAgentControl {
    CvFrameChannel *channel;
    CvAgentControlHandlers handlers;
    gpointer user_data;
    guint64 seq;
};

static void
dispatch(const CvFrame *f, gpointer data)
{
    CvAgentControl *c = data;

    switch (f->body_case) {
    case COVIRT__CONTROL__FRAME__BODY_MANIFEST:
        if (c->handlers.manifest)
            c->handlers.manifest(f->manifest->json, strlen(f->manifest->json), c->user_data);
        break;
    case COVIRT__CONTROL__FRAME__BODY_STOP:
        if (c->handlers.stop)
            c->handlers.stop(f->stop->reason, c->user_data);
        break;
    case COVIRT__CONTROL__FRAME__BODY_RESET:
        if (c->handlers.reset)
            c->handlers.reset(f->reset->reason, f->reset->manifest_json, c->user_data);
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

static void
protocol_error(const char *message, gpointer data)
{
    g_warning("control channel: %s; reconnecting", message);
}

/* each connection starts with a Hello (sequence 0), so the manager knows who it talks to */
static GBytes *
opened(gpointer data)
{
    CvAgentControl *c = data;
    CvFrame *hello = c->handlers.hello ? c->handlers.hello(c->user_data) : NULL;
    GBytes *packed;

    if (!hello)
        return NULL;
    hello->seq = 0;
    packed = cv_frame_pack(hello, NULL);
    cv_agent_frame_free(hello);
    return packed;
}

CvAgentControl *
cv_agent_control_new(const char *path, const CvAgentControlHandlers *handlers, gpointer user_data)
{
    static const CvFrameChannelHandlers channel_handlers = {
        .opened = opened, .frame = dispatch, .protocol_error = protocol_error,
    };
    CvAgentControl *c = g_new0(CvAgentControl, 1);

    c->handlers = *handlers;
    c->user_data = user_data;
    /* while the manager is away, events wait for it */
    c->channel = cv_frame_channel_new(path, CV_FRAME_CHANNEL_KEEP_QUEUE, CV_AGENT_CONTROL_QUEUE_MAX,
                                      &channel_handlers, c);
    return c;
}

void
cv_agent_control_free(CvAgentControl *c)
{
    if (!c)
        return;
    cv_frame_channel_free(c->channel);
    g_free(c);
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
    cv_frame_channel_send(c->channel, packed);
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
cv_agent_frame_state(const char *state, const char *error, gboolean result_available)
{
    CvFrame *f = g_new0(CvFrame, 1);
    Covirt__Control__State *s = g_new0(Covirt__Control__State, 1);

    covirt__control__frame__init(f);
    covirt__control__state__init(s);
    s->state = g_strdup(state);
    s->error = g_strdup(error ? error : "");
    s->result_available = result_available;
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
        g_free(f->state->error);
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
