/* The manager's end of a CVM's control channel: the virtio-serial port org.covirt.agent.0,
 * a unix socket that QEMU listens on (its path is in the live domain XML). Frames are
 * length-prefixed protobuf-c (src/proto/frame.h). On every Hello the computation manifest is
 * sent; the agent's events and logs become events of the CVM. Everything the guest sends is
 * hostile: a corrupt stream drops the connection, which is retried. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct _CvMgrAgentChannel CvMgrAgentChannel;

/* kind: "agent" or "log" (an event of the CVM), or "computation" (the agent's State: {state, error,
 * result_available}, the CVM's status rather than an event); data: borrowed for the call */
typedef void (*CvMgrAgentEventFunc)(const char *kind, JsonObject *data, gpointer user_data);

/* manifest_json: sent as a Manifest frame after each Hello (NULL: none). Connects at once and
 * again every second while the socket is not there or the connection drops. */
CvMgrAgentChannel *cv_mgr_agent_channel_new(const char *path, const char *manifest_json,
                                            CvMgrAgentEventFunc func, gpointer user_data);
void cv_mgr_agent_channel_free(CvMgrAgentChannel *c);
gboolean cv_mgr_agent_channel_connected(CvMgrAgentChannel *c);
/* The operator's stop and reset, sent to a connected agent (CV_ERROR_UNAVAILABLE otherwise); the
 * agent answers with State (and a "stop-refused"/"reset-refused" event when it refuses). A reset
 * carries manifest_json, which then replaces the channel's manifest, or (NULL) that manifest again. */
gboolean cv_mgr_agent_channel_stop(CvMgrAgentChannel *c, const char *reason, GError **error);
gboolean cv_mgr_agent_channel_reset(CvMgrAgentChannel *c, const char *reason, const char *manifest_json,
                                    GError **error);

G_END_DECLS
