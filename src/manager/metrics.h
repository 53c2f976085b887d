/* Counters and the request latency histogram that GET /metrics prints (Prometheus text). */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define CV_MGR_LATENCY_BUCKETS 12

typedef struct {
    guint64 creations;
    guint64 creation_failures;
    guint64 deletions;
    guint64 ttl_expiries;
    guint64 libvirt_reconnects;
    guint64 requests;
    guint64 latency_count[CV_MGR_LATENCY_BUCKETS];  /* per bucket, not cumulative */
    guint64 latency_inf;
    double latency_sum;
} CvMgrMetrics;

void cv_mgr_metrics_observe_request(CvMgrMetrics *m, double seconds);
/* states: per CvMgrState count, state_names its names, n_states entries */
char *cv_mgr_metrics_render(const CvMgrMetrics *m, const guint *state_counts,
                            const char *const *state_names, guint n_states, gboolean libvirt_up);

G_END_DECLS
