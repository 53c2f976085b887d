#include "state.h"

static const char *const names[] = {
    "Idle", "ReceivingManifest", "ReceivingAlgorithm", "ReceivingData", "Running",
    "ConsumingResults", "Complete", "Failed",
};

const char *
cv_agent_state_name(CvAgentState state)
{
    return (guint)state < G_N_ELEMENTS(names) ? names[state] : "Unknown";
}

gboolean
cv_agent_state_can_go(CvAgentState from, CvAgentState to)
{
    if (to == CV_AGENT_STATE_IDLE || (to == CV_AGENT_STATE_FAILED && from != CV_AGENT_STATE_IDLE))
        return TRUE;
    switch (from) {
    case CV_AGENT_STATE_IDLE:
        return to == CV_AGENT_STATE_RECEIVING_MANIFEST;
    case CV_AGENT_STATE_RECEIVING_MANIFEST:
        return to == CV_AGENT_STATE_RECEIVING_ALGORITHM;
    case CV_AGENT_STATE_RECEIVING_ALGORITHM:
        /* a computation without datasets runs as soon as its algorithm is in */
        return to == CV_AGENT_STATE_RECEIVING_DATA || to == CV_AGENT_STATE_RUNNING;
    case CV_AGENT_STATE_RECEIVING_DATA:
        return to == CV_AGENT_STATE_RUNNING;
    case CV_AGENT_STATE_RUNNING:
        return to == CV_AGENT_STATE_CONSUMING_RESULTS;
    case CV_AGENT_STATE_CONSUMING_RESULTS:
        return to == CV_AGENT_STATE_COMPLETE;
    case CV_AGENT_STATE_COMPLETE:
    case CV_AGENT_STATE_FAILED:
        return FALSE;
    }
    return FALSE;
}
