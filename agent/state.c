#include "state.h"

CV_ENUM_IMPL(cv_agent_state, CvAgentState, CV_AGENT_STATE_COUNT,
             "Idle", "ReceivingManifest", "ReceivingAlgorithm", "ReceivingData", "Running",
             "ConsumingResults", "Complete", "Failed", "Stopped");

gboolean
cv_agent_state_can_go(CvAgentState from, CvAgentState to)
{
    gboolean over = from == CV_AGENT_STATE_COMPLETE || from == CV_AGENT_STATE_FAILED || from == CV_AGENT_STATE_STOPPED;

    if (to == CV_AGENT_STATE_IDLE)
        return TRUE;
    /* failing or stopping needs a computation that is not over yet */
    if (to == CV_AGENT_STATE_FAILED || to == CV_AGENT_STATE_STOPPED)
        return from != CV_AGENT_STATE_IDLE && from != CV_AGENT_STATE_RECEIVING_MANIFEST && !over;
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
    case CV_AGENT_STATE_STOPPED:
    case CV_AGENT_STATE_COUNT:
        return FALSE;
    }
    return FALSE;
}
