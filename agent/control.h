/* The agent's end of the control channel (docs/agent.md): the virtio-serial port
 * in the guest, a UNIX socket or any character device on the host for tests.
 * Frames go out in order; while the peer is away they wait in a bounded queue
 * (the oldest are dropped first) and go out when it is back (src/proto/frame-channel.h). */
#pragma once
#include <glib.h>
#include "frame.h"

G_BEGIN_DECLS

#define CV_AGENT_CONTROL_QUEUE_MAX 4096

typedef struct _CvAgentControl CvAgentControl;

typedef struct {
    /* called on each (re)connection; returns the Hello frame to send first */
    CvFrame *(*hello)(gpointer user_data);
    void (*manifest)(const char *json, gsize len, gpointer user_data);
    void (*stop)(const char *reason, gpointer user_data);
    /* manifest_json: "" when the frame carries none */
    void (*reset)(const char *reason, const char *manifest_json, gpointer user_data);
    void (*state_request)(gpointer user_data);
} CvAgentControlHandlers;

/* path NULL: no channel (frames are dropped, counted). */
CvAgentControl *cv_agent_control_new(const char *path, const CvAgentControlHandlers *handlers, gpointer user_data);
void cv_agent_control_free(CvAgentControl *control);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAgentControl, cv_agent_control_free)

/* Takes the frame; assigns its sequence number. */
void cv_agent_control_send(CvAgentControl *control, CvFrame *frame);

/* Builders for the agent's frames; cv_agent_frame_free frees what they allocate
 * (not protobuf-c's free_unpacked, which is for decoded frames). */
CvFrame *cv_agent_frame_hello(const char *version, const char *platform, const guint8 tls_sha256[32],
                              const char *hal_version);
/* error: NULL or "" when none */
CvFrame *cv_agent_frame_state(const char *state, const char *error, gboolean result_available);
CvFrame *cv_agent_frame_event(gint64 time_ms, const char *kind, const char *state, const char *message);
CvFrame *cv_agent_frame_log(gint64 time_ms, const char *source, const char *level, const char *line);
CvFrame *cv_agent_frame_run_result(gboolean ok, int exit_code, const char *message);
void cv_agent_frame_free(CvFrame *frame);

G_END_DECLS
