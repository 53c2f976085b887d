/* The computation's states, as Cocos's agent has them. */
#pragma once
#include <glib.h>
#include "cv-enum.h"

G_BEGIN_DECLS

typedef enum {
    CV_AGENT_STATE_IDLE,
    CV_AGENT_STATE_RECEIVING_MANIFEST,
    CV_AGENT_STATE_RECEIVING_ALGORITHM,
    CV_AGENT_STATE_RECEIVING_DATA,
    CV_AGENT_STATE_RUNNING,
    CV_AGENT_STATE_CONSUMING_RESULTS,
    CV_AGENT_STATE_COMPLETE,
    CV_AGENT_STATE_FAILED,
    CV_AGENT_STATE_STOPPED,   /* the operator stopped it (Stop); final until a reset */
    CV_AGENT_STATE_COUNT,
} CvAgentState;

/* the names the API, the events and the manager show: Idle, ReceivingManifest, ... */
CV_ENUM_DECL(cv_agent_state, CvAgentState);
/* The forward edges of the machine; any state with a computation may also go to Failed or
 * Stopped, and a reset goes to Idle. */
gboolean cv_agent_state_can_go(CvAgentState from, CvAgentState to);

G_END_DECLS
