/* The agent's state machine: which transitions it allows. */
#include "state.h"

static void
test_states(void)
{
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_IDLE, CV_AGENT_STATE_RECEIVING_MANIFEST));
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_RECEIVING_DATA, CV_AGENT_STATE_RUNNING));
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_RUNNING, CV_AGENT_STATE_FAILED));
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_COMPLETE, CV_AGENT_STATE_IDLE));
    g_assert_false(cv_agent_state_can_go(CV_AGENT_STATE_RECEIVING_ALGORITHM, CV_AGENT_STATE_CONSUMING_RESULTS));
    g_assert_false(cv_agent_state_can_go(CV_AGENT_STATE_COMPLETE, CV_AGENT_STATE_RUNNING));
    g_assert_cmpstr(cv_agent_state_to_string(CV_AGENT_STATE_CONSUMING_RESULTS), ==, "ConsumingResults");
    /* stop: only a computation that is not over; a reset leaves any state */
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_RUNNING, CV_AGENT_STATE_STOPPED));
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_RECEIVING_DATA, CV_AGENT_STATE_STOPPED));
    g_assert_false(cv_agent_state_can_go(CV_AGENT_STATE_RECEIVING_MANIFEST, CV_AGENT_STATE_STOPPED));
    g_assert_false(cv_agent_state_can_go(CV_AGENT_STATE_COMPLETE, CV_AGENT_STATE_STOPPED));
    g_assert_false(cv_agent_state_can_go(CV_AGENT_STATE_FAILED, CV_AGENT_STATE_STOPPED));
    g_assert_false(cv_agent_state_can_go(CV_AGENT_STATE_STOPPED, CV_AGENT_STATE_FAILED));
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_STOPPED, CV_AGENT_STATE_IDLE));
    g_assert_cmpstr(cv_agent_state_to_string(CV_AGENT_STATE_STOPPED), ==, "Stopped");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/agent/states", test_states);
    return g_test_run();
}
