#include "metrics.h"

static const double bounds[CV_MGR_LATENCY_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
};

void
cv_mgr_metrics_observe_request(CvMgrMetrics *m, double seconds)
{
    guint i;

    m->requests++;
    m->latency_sum += seconds;
    for (i = 0; i < CV_MGR_LATENCY_BUCKETS; i++) {
        if (seconds <= bounds[i]) {
            m->latency_count[i]++;
            return;
        }
    }
    m->latency_inf++;
}

char *
cv_mgr_metrics_render(const CvMgrMetrics *m, const guint *state_counts,
                      const char *const *state_names, guint n_states, gboolean libvirt_up)
{
    GString *s = g_string_new(NULL);
    guint64 cumulative = 0;
    char num[G_ASCII_DTOSTR_BUF_SIZE];

    g_string_append(s, "# HELP covirt_cvms CVMs known to the manager, by state.\n# TYPE covirt_cvms gauge\n");
    for (guint i = 0; i < n_states; i++)
        g_string_append_printf(s, "covirt_cvms{state=\"%s\"} %u\n", state_names[i], state_counts[i]);
    g_string_append_printf(s,
        "# HELP covirt_cvm_creations_total CVMs created successfully.\n# TYPE covirt_cvm_creations_total counter\n"
        "covirt_cvm_creations_total %" G_GUINT64_FORMAT "\n"
        "# HELP covirt_cvm_creation_failures_total CVM creations that failed after the spec was accepted.\n"
        "# TYPE covirt_cvm_creation_failures_total counter\n"
        "covirt_cvm_creation_failures_total %" G_GUINT64_FORMAT "\n"
        "# HELP covirt_cvm_deletions_total CVMs deleted (API or TTL).\n# TYPE covirt_cvm_deletions_total counter\n"
        "covirt_cvm_deletions_total %" G_GUINT64_FORMAT "\n"
        "# HELP covirt_cvm_ttl_expiries_total CVMs removed because their TTL expired.\n"
        "# TYPE covirt_cvm_ttl_expiries_total counter\n"
        "covirt_cvm_ttl_expiries_total %" G_GUINT64_FORMAT "\n"
        "# HELP covirt_libvirt_up 1 when the libvirt connection is open.\n# TYPE covirt_libvirt_up gauge\n"
        "covirt_libvirt_up %d\n"
        "# HELP covirt_libvirt_reconnects_total Connections re-opened after libvirt went away.\n"
        "# TYPE covirt_libvirt_reconnects_total counter\n"
        "covirt_libvirt_reconnects_total %" G_GUINT64_FORMAT "\n"
        "# HELP covirt_http_request_duration_seconds HTTP request latency (event streams excluded).\n"
        "# TYPE covirt_http_request_duration_seconds histogram\n",
        m->creations, m->creation_failures, m->deletions, m->ttl_expiries, libvirt_up ? 1 : 0,
        m->libvirt_reconnects);
    for (guint i = 0; i < CV_MGR_LATENCY_BUCKETS; i++) {
        cumulative += m->latency_count[i];
        g_string_append_printf(s, "covirt_http_request_duration_seconds_bucket{le=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               g_ascii_formatd(num, sizeof(num), "%g", bounds[i]), cumulative);
    }
    cumulative += m->latency_inf;
    g_string_append_printf(s, "covirt_http_request_duration_seconds_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n",
                           cumulative);
    g_string_append_printf(s, "covirt_http_request_duration_seconds_sum %s\n",
                           g_ascii_formatd(num, sizeof(num), "%.6f", m->latency_sum));
    g_string_append_printf(s, "covirt_http_request_duration_seconds_count %" G_GUINT64_FORMAT "\n", cumulative);
    return g_string_free(s, FALSE);
}
