/* Counters and histograms that GET /metrics prints (Prometheus text format 0.0.4), and the process
 * families Prometheus's client libraries export, read from /proc/self. */
#pragma once
#include <glib.h>
#include "cv-enum.h"

G_BEGIN_DECLS

#define CV_MGR_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define CV_MGR_HISTOGRAM_MAX_BUCKETS 16

/* cumulative buckets are computed when printed: counts[] are per bucket */
typedef struct {
    const double *bounds;
    guint n_bounds;
    guint64 counts[CV_MGR_HISTOGRAM_MAX_BUCKETS];
    guint64 inf;
    double sum;
} CvMgrHistogram;

/* Why a create was turned away before anything was made: not a failure. */
typedef enum {
    CV_MGR_REFUSAL_INVALID_SPEC,          /* 400: the spec, its files */
    CV_MGR_REFUSAL_CONFLICT,              /* 409: name or host port taken */
    CV_MGR_REFUSAL_CAPACITY,              /* 503: MANAGER_MAX_VMS reached */
    CV_MGR_REFUSAL_HOST_PORTS,            /* 503: no free port in MANAGER_QEMU_HOST_FWD_RANGE */
    CV_MGR_REFUSAL_LIBVIRT_UNAVAILABLE,   /* 503: no connection to libvirt */
    CV_MGR_REFUSAL_SHUTTING_DOWN,         /* 503: the manager is stopping */
    CV_MGR_REFUSAL_COUNT
} CvMgrRefusal;
CV_ENUM_DECL(cv_mgr_refusal, CvMgrRefusal);

typedef struct {
    guint64 creations;
    guint64 creation_failures;
    guint64 refusals[CV_MGR_REFUSAL_COUNT];
    guint64 deletions;
    guint64 ttl_expiries;
    guint64 libvirt_reconnects;
    CvMgrHistogram request_latency;    /* event streams excluded */
    CvMgrHistogram create_duration;    /* request to running, creations that succeeded */
    GHashTable *requests;              /* "method\nroute\ncode" → guint64 count (owned) */
} CvMgrMetrics;

void cv_mgr_metrics_init(CvMgrMetrics *m);
void cv_mgr_metrics_clear(CvMgrMetrics *m);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CvMgrMetrics, cv_mgr_metrics_clear)
void cv_mgr_histogram_observe(CvMgrHistogram *h, double value);
/* route: the route table's template ("/v1/cvms/{id}"), or NULL for a path no route has ("unmatched");
 * method: as the client sent it (an unknown one counts as "other") */
void cv_mgr_metrics_observe_request(CvMgrMetrics *m, const char *method, const char *route, guint status,
                                    double seconds, gboolean is_stream);
/* states: per CvMgrState count, state_names its names, n_states entries */
char *cv_mgr_metrics_render(const CvMgrMetrics *m, const guint *state_counts,
                            const char *const *state_names, guint n_states, gboolean libvirt_up);

G_END_DECLS
