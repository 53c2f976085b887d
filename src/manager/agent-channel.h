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

/* kind: "agent" or "log"; data: the event's members (borrowed for the call) */
typedef void (*CvMgrAgentEventFunc)(const char *kind, JsonObject *data, gpointer user_data);

/* manifest_json: sent as a Manifest frame after each Hello (NULL: none). Connects at once and
 * again every second while the socket is not there or the connection drops. */
CvMgrAgentChannel *cv_mgr_agent_channel_new(const char *path, const char *manifest_json,
                                            CvMgrAgentEventFunc func, gpointer user_data);
void cv_mgr_agent_channel_free(CvMgrAgentChannel *c);
gboolean cv_mgr_agent_channel_connected(CvMgrAgentChannel *c);

G_END_DECLS
