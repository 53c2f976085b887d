#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include "metrics.h"

CV_ENUM_IMPL(cv_mgr_refusal, CvMgrRefusal, CV_MGR_REFUSAL_COUNT,
             "invalid_spec", "conflict", "capacity", "host_ports", "libvirt_unavailable", "shutting_down");

static const double latency_bounds[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
};
/* define + start take ~1 ms on the test driver and seconds on qemu:///system (a slow host: minutes) */
static const double create_bounds[] = {
    0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
};
G_STATIC_ASSERT(G_N_ELEMENTS(latency_bounds) <= CV_MGR_HISTOGRAM_MAX_BUCKETS);
G_STATIC_ASSERT(G_N_ELEMENTS(create_bounds) <= CV_MGR_HISTOGRAM_MAX_BUCKETS);

/* methods by name; any other counts as "other", so a client cannot add label values */
static const char *const known_methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
};

void
cv_mgr_metrics_init(CvMgrMetrics *m)
{
    memset(m, 0, sizeof(*m));
    m->request_latency.bounds = latency_bounds;
    m->request_latency.n_bounds = G_N_ELEMENTS(latency_bounds);
    m->create_duration.bounds = create_bounds;
    m->create_duration.n_bounds = G_N_ELEMENTS(create_bounds);
    m->requests = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

void
cv_mgr_metrics_clear(CvMgrMetrics *m)
{
    g_clear_pointer(&m->requests, g_hash_table_unref);
}

void
cv_mgr_histogram_observe(CvMgrHistogram *h, double value)
{
    h->sum += value;
    for (guint i = 0; i < h->n_bounds; i++) {
        if (value <= h->bounds[i]) {
            h->counts[i]++;
            return;
        }
    }
    h->inf++;
}

void
cv_mgr_metrics_observe_request(CvMgrMetrics *m, const char *method, const char *route, guint status,
                               double seconds, gboolean is_stream)
{
    const char *name = "other";
    g_autofree char *key = NULL;
    guint64 *count;

    for (guint i = 0; method && i < G_N_ELEMENTS(known_methods); i++)
        if (strcmp(method, known_methods[i]) == 0)
            name = known_methods[i];
    key = g_strdup_printf("%s\n%s\n%u", name, route ? route : "unmatched", status);
    count = g_hash_table_lookup(m->requests, key);
    if (!count) {
        count = g_new0(guint64, 1);
        g_hash_table_insert(m->requests, g_steal_pointer(&key), count);
    }
    (*count)++;
    if (!is_stream)
        cv_mgr_histogram_observe(&m->request_latency, seconds);
}

/* ---- the text format ---- */

static void
family(GString *s, const char *name, const char *type, const char *help)
{
    g_string_append_printf(s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
sample_u64(GString *s, const char *name, guint64 value)
{
    g_string_append_printf(s, "%s %" G_GUINT64_FORMAT "\n", name, value);
}

static void
sample_double(GString *s, const char *name, double value)
{
    char num[G_ASCII_DTOSTR_BUF_SIZE];

    g_string_append_printf(s, "%s %s\n", name, g_ascii_formatd(num, sizeof(num), "%.6f", value));
}

/* a label value: backslash, double quote and newline escaped */
static void
label_value(GString *s, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            g_string_append_c(s, '\\');
        if (*p == '\n')
            g_string_append(s, "\\n");
        else
            g_string_append_c(s, *p);
    }
}

static void
histogram(GString *s, const char *name, const char *help, const CvMgrHistogram *h)
{
    char num[G_ASCII_DTOSTR_BUF_SIZE];
    guint64 cumulative = 0;
    g_autofree char *sum = g_strconcat(name, "_sum", NULL);
    g_autofree char *count = g_strconcat(name, "_count", NULL);

    family(s, name, "histogram", help);
    for (guint i = 0; i < h->n_bounds; i++) {
        cumulative += h->counts[i];
        g_string_append_printf(s, "%s_bucket{le=\"%s\"} %" G_GUINT64_FORMAT "\n", name,
                               g_ascii_formatd(num, sizeof(num), "%g", h->bounds[i]), cumulative);
    }
    cumulative += h->inf;
    g_string_append_printf(s, "%s_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n", name, cumulative);
    sample_double(s, sum, h->sum);
    sample_u64(s, count, cumulative);
}

static gint
compare_keys(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
http_requests(GString *s, GHashTable *requests)
{
    g_autofree gpointer *keys = NULL;
    guint n = 0;

    family(s, "covirt_http_requests_total", "counter",
           "HTTP requests answered, by method, route template (\"unmatched\": no route) and status code.");
    keys = g_hash_table_get_keys_as_array(requests, &n);
    qsort(keys, n, sizeof(*keys), compare_keys);
    for (guint i = 0; i < n; i++) {
        g_auto(GStrv) part = g_strsplit(keys[i], "\n", 3);
        const guint64 *count = g_hash_table_lookup(requests, keys[i]);

        g_string_append(s, "covirt_http_requests_total{method=\"");
        label_value(s, part[0]);
        g_string_append(s, "\",route=\"");
        label_value(s, part[1]);
        g_string_append_printf(s, "\",code=\"%s\"} %" G_GUINT64_FORMAT "\n", part[2], *count);
    }
}

/* ---- process_*: what Prometheus's client libraries read from procfs ---- */

/* the value of "NAME N" in /proc/stat (btime: boot time, seconds since the epoch) */
static gboolean
proc_stat_value(const char *name, guint64 *out)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    gsize n = strlen(name);

    if (!g_file_get_contents("/proc/stat", &text, NULL, NULL))
        return FALSE;
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++)
        if (strncmp(*l, name, n) == 0 && (*l)[n] == ' ')
            return g_ascii_string_to_unsigned(g_strstrip(*l + n), 10, 0, G_MAXUINT64, out, NULL);
    return FALSE;
}

static guint
open_fds(void)
{
    g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
    guint n = 0;

    while (dir && g_dir_read_name(dir))
        n++;
    return n;
}

static void
process(GString *s)
{
    g_autofree char *stat = NULL;
    g_auto(GStrv) f = NULL;
    const char *end;
    double tick = (double)sysconf(_SC_CLK_TCK);
    struct rlimit rl;
    guint64 btime;

    /* after the command's closing parenthesis (the name may hold spaces): field 3 onwards */
    if (!g_file_get_contents("/proc/self/stat", &stat, NULL, NULL) || !(end = strrchr(stat, ')')))
        return;
    f = g_strsplit(end + 2, " ", 0);
    if (g_strv_length(f) < 22 || tick <= 0)
        return;
    family(s, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    sample_double(s, "process_cpu_seconds_total",
                  (g_ascii_strtod(f[11], NULL) + g_ascii_strtod(f[12], NULL)) / tick);
    family(s, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    sample_u64(s, "process_resident_memory_bytes",
               g_ascii_strtoull(f[21], NULL, 10) * (guint64)sysconf(_SC_PAGESIZE));
    family(s, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    sample_u64(s, "process_virtual_memory_bytes", g_ascii_strtoull(f[20], NULL, 10));
    family(s, "process_open_fds", "gauge", "Number of open file descriptors.");
    sample_u64(s, "process_open_fds", open_fds());
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        family(s, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        sample_u64(s, "process_max_fds", rl.rlim_cur);
    }
    if (proc_stat_value("btime", &btime)) {
        family(s, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
        sample_double(s, "process_start_time_seconds", (double)btime + g_ascii_strtod(f[19], NULL) / tick);
    }
}

static void
creation(GString *s, const CvMgrMetrics *m)
{
    family(s, "covirt_cvm_creations_total", "counter", "CVMs created successfully.");
    sample_u64(s, "covirt_cvm_creations_total", m->creations);
    family(s, "covirt_cvm_creation_failures_total", "counter",
           "CVM creations that failed after the request was accepted (refusals are counted apart).");
    sample_u64(s, "covirt_cvm_creation_failures_total", m->creation_failures);
    family(s, "covirt_cvm_create_refused_total", "counter",
           "CVM creations turned away before anything was made, by reason.");
    for (guint i = 0; i < CV_MGR_REFUSAL_COUNT; i++)
        g_string_append_printf(s, "covirt_cvm_create_refused_total{reason=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               cv_mgr_refusal_to_string(i), m->refusals[i]);
    histogram(s, "covirt_cvm_create_duration_seconds",
              "Time from a create request to its CVM running (creations that succeeded).", &m->create_duration);
}

char *
cv_mgr_metrics_render(const CvMgrMetrics *m, const guint *state_counts,
                      const char *const *state_names, guint n_states, gboolean libvirt_up)
{
    GString *s = g_string_new(NULL);

    family(s, "covirt_build_info", "gauge", "The covirt-manager version; always 1.");
    g_string_append(s, "covirt_build_info{version=\"");
    label_value(s, COVIRT_VERSION);
    g_string_append(s, "\"} 1\n");
    family(s, "covirt_cvms", "gauge", "CVMs known to the manager, by state.");
    for (guint i = 0; i < n_states; i++)
        g_string_append_printf(s, "covirt_cvms{state=\"%s\"} %u\n", state_names[i], state_counts[i]);
    creation(s, m);
    family(s, "covirt_cvm_deletions_total", "counter", "CVMs deleted (API or TTL).");
    sample_u64(s, "covirt_cvm_deletions_total", m->deletions);
    family(s, "covirt_cvm_ttl_expiries_total", "counter", "CVMs removed because their TTL expired.");
    sample_u64(s, "covirt_cvm_ttl_expiries_total", m->ttl_expiries);
    family(s, "covirt_libvirt_up", "gauge", "1 when the libvirt connection is open and answers.");
    sample_u64(s, "covirt_libvirt_up", libvirt_up ? 1 : 0);
    family(s, "covirt_libvirt_reconnects_total", "counter", "Connections re-opened after libvirt went away.");
    sample_u64(s, "covirt_libvirt_reconnects_total", m->libvirt_reconnects);
    http_requests(s, m->requests);
    histogram(s, "covirt_http_request_duration_seconds", "HTTP request latency (event streams excluded).",
              &m->request_latency);
    process(s);
    return g_string_free(s, FALSE);
}
