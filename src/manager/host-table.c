/* The hosts behind the manager, one per MANAGER_LIBVIRT_URI entry: where a new CVM goes, what
 * GET /v1/hosts and the per-host metrics show. */
#include <string.h>
#include "registry-priv.h"
#include "cv-util.h"

static CvMgrHost *
host_at(CvMgrRegistry *r, guint i)
{
    return g_ptr_array_index(r->hosts, i);
}

/* the URI's server part, NULL for a local one (qemu:///system, qemu+unix://...) */
static char *
uri_server(const char *uri)
{
    g_autoptr(GUri) u = g_uri_parse(uri, G_URI_FLAGS_NON_DNS, NULL);
    const char *host = u ? g_uri_get_host(u) : NULL;

    return host && *host ? g_strdup(host) : NULL;
}

static gboolean
server_is_local(const char *server)
{
    g_autoptr(GInetAddress) addr = server ? g_inet_address_new_from_string(server) : NULL;

    return !server || g_ascii_strcasecmp(server, "localhost") == 0 || (addr && g_inet_address_get_is_loopback(addr));
}

static void
host_free(gpointer p)
{
    CvMgrHost *h = p;

    cv_mgr_conn_drop(h);
    cv_mgr_port_pool_free(h->ports);
    cv_mgr_host_caps_free(h->caps);
    g_free(h->view.uri);
    g_free(h);
}

void
cv_mgr_hosts_init(CvMgrRegistry *r)
{
    const CvDefaults *d = r->config->defaults;

    r->hosts = g_ptr_array_new_with_free_func(host_free);
    for (char **uri = r->config->libvirt_uris; *uri; uri++) {
        CvMgrHost *h = g_new0(CvMgrHost, 1);
        g_autofree char *server = uri_server(*uri);

        h->r = r;
        h->index = r->hosts->len;
        h->view.uri = g_strdup(*uri);
        h->local = server_is_local(server);
        h->ports = cv_mgr_port_pool_new(d->host_port_min, d->host_port_max);
        cv_mgr_conn_init(h);
        g_ptr_array_add(r->hosts, h);
    }
}

void
cv_mgr_hosts_free(CvMgrRegistry *r)
{
    g_ptr_array_unref(r->hosts);
}

char *
cv_mgr_host_agent_address(CvMgrHost *h, const char *bind)
{
    g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(bind);
    g_autofree char *server = NULL;

    /* QEMU listens on the CVM's host: on all of its addresses, the operator reaches it by its name */
    if (h->local || !addr || !g_inet_address_get_is_any(addr))
        return g_strdup(bind);
    server = uri_server(h->view.uri);
    return server ? g_steal_pointer(&server) : g_strdup(bind);
}

static CvMgrHost *
host_by_uri(CvMgrRegistry *r, const char *uri)
{
    for (guint i = 0; i < r->hosts->len; i++)
        if (strcmp(host_at(r, i)->view.uri, uri) == 0)
            return host_at(r, i);
    return NULL;
}

/* The host can run the spec's platform, else its reason. */
static gboolean
host_can_run(CvMgrHost *h, const CvCvmSpec *spec, GError **error)
{
    if (h->caps && h->caps->platforms & (1u << spec->platform))
        return TRUE;
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "platform: %s cannot run %s: %s", h->view.uri,
                cv_platform_to_string(spec->platform),
                h->caps ? h->caps->why_not[spec->platform] : "its capabilities are not read yet");
    return FALSE;
}

/* free memory as last read, less what the CVMs placed since then took */
static guint64
host_free_memory(const CvMgrHost *h)
{
    return h->free_memory > h->placed_memory ? h->free_memory - h->placed_memory : 0;
}

/* The less loaded: more free memory per CVM it would carry, then fewer CVMs, then the earlier URI. */
static gboolean
less_loaded(const CvMgrHost *a, const CvMgrHost *b)
{
    guint64 fa = host_free_memory(a) / (a->cvms + 1), fb = host_free_memory(b) / (b->cvms + 1);

    if (fa != fb)
        return fa > fb;
    return a->cvms < b->cvms;
}

static CvMgrHost *
place_pinned(CvMgrRegistry *r, const CvCvmSpec *spec, char **reason, GError **error)
{
    CvMgrHost *h = host_by_uri(r, spec->host);

    if (!h) {
        g_autoptr(GString) known = g_string_new(NULL);

        for (guint i = 0; i < r->hosts->len; i++)
            g_string_append_printf(known, "%s%s", i ? ", " : "", host_at(r, i)->view.uri);
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "host: '%s' is not one of MANAGER_LIBVIRT_URI (%s)",
                    spec->host, known->str);
        return NULL;
    }
    if (!cv_mgr_host_check_conn(h, error) || !host_can_run(h, spec, error))
        return NULL;
    *reason = g_strdup("named by the spec");
    return h;
}

CvMgrHost *
cv_mgr_hosts_place(CvMgrRegistry *r, const CvCvmSpec *spec, char **reason, GError **error)
{
    g_autoptr(GString) refusals = g_string_new(NULL);
    CvMgrHost *best = NULL;
    guint up = 0, able = 0;

    if (spec->host)
        return place_pinned(r, spec, reason, error);
    if (r->hosts->len == 1)
        return cv_mgr_host_check_conn(host_at(r, 0), error) && host_can_run(host_at(r, 0), spec, error)
                   ? (*reason = g_strdup("the only host"), host_at(r, 0)) : NULL;
    for (guint i = 0; i < r->hosts->len; i++) {
        CvMgrHost *h = host_at(r, i);
        g_autoptr(GError) why = NULL;

        if (!h->conn)
            continue;
        up++;
        if (!host_can_run(h, spec, &why)) {
            g_string_append_printf(refusals, "%s%s", refusals->len ? "; " : "", why->message + strlen("platform: "));
            continue;
        }
        able++;
        if (!best || less_loaded(h, best))
            best = h;
    }
    if (!up) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "no host is available (MANAGER_LIBVIRT_URI)");
        return NULL;
    }
    if (!best) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "platform: no host can run %s (%s)",
                    cv_platform_to_string(spec->platform), refusals->str);
        return NULL;
    }
    *reason = g_strdup_printf("least loaded of %u hosts up that can run %s: %u CVMs, %" G_GUINT64_FORMAT
                              " MiB free", able, cv_platform_to_string(spec->platform), best->cvms,
                              host_free_memory(best) >> 20);
    return best;
}

static void
add_host_json(JsonBuilder *b, CvMgrHost *h)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "uri");
    json_builder_add_string_value(b, h->view.uri);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, !h->conn ? "down" : h->unresponsive ? "unresponsive" : "up");
    json_builder_set_member_name(b, "cvms");
    json_builder_add_int_value(b, h->cvms);
    json_builder_set_member_name(b, "free_memory");
    if (h->free_memory)
        json_builder_add_int_value(b, (gint64)host_free_memory(h));
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "platforms");
    json_builder_begin_array(b);
    for (guint p = 0; h->caps && p < CV_PLATFORM_COUNT; p++)
        if (h->caps->platforms & (1u << p))
            json_builder_add_string_value(b, cv_platform_to_string(p));
    json_builder_end_array(b);
    /* why not the others, in the host's words */
    json_builder_set_member_name(b, "unsupported");
    json_builder_begin_object(b);
    for (guint p = 0; h->caps && p < CV_PLATFORM_COUNT; p++) {
        if (h->caps->platforms & (1u << p) || !h->caps->why_not[p])
            continue;
        json_builder_set_member_name(b, cv_platform_to_string(p));
        json_builder_add_string_value(b, h->caps->why_not[p]);
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "capabilities_checked");
    json_builder_add_boolean_value(b, h->caps && h->caps->checked);
    json_builder_set_member_name(b, "domain_type");
    if (h->caps && h->caps->domain_type)
        json_builder_add_string_value(b, h->caps->domain_type);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "libvirt_version");
    if (h->conn && h->lib_version) {
        g_autofree char *v = g_strdup_printf("%lu.%lu.%lu", h->lib_version / 1000000, (h->lib_version / 1000) % 1000,
                                             h->lib_version % 1000);

        json_builder_add_string_value(b, v);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_end_object(b);
}

JsonNode *
cv_mgr_registry_hosts_json(CvMgrRegistry *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "hosts");
    json_builder_begin_array(b);
    for (guint i = 0; i < r->hosts->len; i++)
        add_host_json(b, host_at(r, i));
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* a label value in Prometheus' text format: backslash, double quote and newline escaped */
static char *
label_value(const char *s)
{
    GString *out = g_string_new(NULL);

    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            g_string_append_c(out, '\\');
        if (*s == '\n')
            g_string_append(out, "\\n");
        else
            g_string_append_c(out, *s);
    }
    return g_string_free(out, FALSE);
}

char *
cv_mgr_registry_hosts_metrics(CvMgrRegistry *r)
{
    static const char *const heads[] = {
        "covirt_host_up", "gauge", "1 when the host's libvirt connection is open and answers.",
        "covirt_host_cvms", "gauge", "CVMs on the host.",
        "covirt_host_free_memory_bytes", "gauge", "The host's free memory (virNodeGetFreeMemory), 0: unknown.",
        "covirt_host_creations_total", "counter", "CVMs created on the host.",
        "covirt_host_creation_failures_total", "counter", "CVM creations on the host that failed in libvirt.",
        "covirt_host_reconnects_total", "counter", "Connections to the host re-opened after it went away.",
    };
    GString *s = g_string_new(NULL);

    for (guint m = 0; m < G_N_ELEMENTS(heads); m += 3) {
        g_string_append_printf(s, "# HELP %s %s\n# TYPE %s %s\n", heads[m], heads[m + 2], heads[m], heads[m + 1]);
        for (guint i = 0; i < r->hosts->len; i++) {
            CvMgrHost *h = host_at(r, i);
            g_autofree char *uri = label_value(h->view.uri);
            guint64 v = m == 0 ? (h->conn && !h->unresponsive) : m == 3 ? h->cvms : m == 6 ? host_free_memory(h)
                        : m == 9 ? h->creations : m == 12 ? h->creation_failures : h->reconnects;

            g_string_append_printf(s, "%s{host=\"%s\"} %" G_GUINT64_FORMAT "\n", heads[m], uri, v);
        }
    }
    return g_string_free(s, FALSE);
}
