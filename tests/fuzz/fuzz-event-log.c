/* libFuzzer: TCG crypto-agile event logs, parsed and replayed. */
#include "event-log.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    GBytes *b = g_bytes_new(data, size);
    CvAttestEventLog *log = cv_attest_event_log_parse(b, NULL);
    guint8 pcrs[24][32];

    if (log)
        cv_attest_event_log_replay(log, pcrs, NULL);
    cv_attest_event_log_free(log);
    g_bytes_unref(b);
    return 0;
}
