/* A host's libvirt connection: opened in a worker (it takes seconds on qemu:///system), kept alive,
 * watched by a close callback and reopened with exponential backoff, each host on its own. */
#include "registry-priv.h"

CV_ENUM_DECL(close_reason, int);
CV_ENUM_IMPL(close_reason, int, VIR_CONNECT_CLOSE_REASON_CLIENT + 1,
             "error", "end of file", "keepalive timeout", "client closed");

/* how often a round trip checks that libvirt answers (keepalive alone takes 5 s × 3) */
#define PROBE_INTERVAL_S 5

static void connect_start(CvMgrHost *h);

static void
quiet_libvirt_errors(void *data, virErrorPtr err)
{
    /* errors are reported once, where handled, from virGetLastError() */
}

void
cv_mgr_conn_init(CvMgrHost *h)
{
    h->lifecycle_cb = -1;
    h->backoff_s = 1;
    h->view.down = TRUE;
    virSetErrorFunc(NULL, quiet_libvirt_errors);
}

void
cv_mgr_conn_drop(CvMgrHost *h)
{
    virConnectPtr conn = g_steal_pointer(&h->conn);

    if (!conn)
        return;
    if (h->lifecycle_cb >= 0)
        virConnectDomainEventDeregisterAny(conn, h->lifecycle_cb);
    h->lifecycle_cb = -1;
    virConnectUnregisterCloseCallback(conn, NULL);
    virConnectClose(conn);
}

const char *
cv_mgr_libvirt_message(void)
{
    virErrorPtr e = virGetLastError();

    return e && e->message ? e->message : "libvirt error";
}

void
cv_mgr_libvirt_error(GError **error, virConnectPtr conn, const char *what)
{
    virErrorPtr e = virGetLastError();
    CvErrorCode code = CV_ERROR_INTERNAL;

    if (e && (e->code == VIR_ERR_NO_DOMAIN))
        code = CV_ERROR_NOT_FOUND;
    else if (e && e->code == VIR_ERR_DOM_EXIST)
        code = CV_ERROR_CONFLICT;
    else if (!conn || virConnectIsAlive(conn) != 1 ||
             (e && (e->code == VIR_ERR_NO_CONNECT || e->code == VIR_ERR_RPC)))
        code = CV_ERROR_UNAVAILABLE;
    g_set_error(error, CV_ERROR, code, "%s: %s", what, e && e->message ? e->message : "libvirt error");
}

gboolean
cv_mgr_host_check_conn(CvMgrHost *h, GError **error)
{
    if (h->conn)
        return TRUE;
    g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "libvirt (%s) is unavailable", h->view.uri);
    return FALSE;
}

static CvMgrHost *
host_at(CvMgrRegistry *r, guint i)
{
    return g_ptr_array_index(r->hosts, i);
}

gboolean
cv_mgr_registry_connected(CvMgrRegistry *r)
{
    for (guint i = 0; i < r->hosts->len; i++)
        if (host_at(r, i)->conn && !host_at(r, i)->unresponsive)
            return TRUE;
    return FALSE;
}

gboolean
cv_mgr_registry_all_connected(CvMgrRegistry *r)
{
    for (guint i = 0; i < r->hosts->len; i++)
        if (!host_at(r, i)->conn || host_at(r, i)->unresponsive)
            return FALSE;
    return TRUE;
}

gboolean
cv_mgr_registry_hung(CvMgrRegistry *r)
{
    for (guint i = 0; i < r->hosts->len; i++)
        if (host_at(r, i)->conn && host_at(r, i)->unresponsive)
            return TRUE;
    return FALSE;
}

const char *
cv_mgr_registry_uri(CvMgrRegistry *r)
{
    return host_at(r, 0)->view.uri;
}

static char *
version_text(unsigned long v)
{
    return g_strdup_printf("%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000);
}

char *
cv_mgr_registry_libvirt_version(CvMgrRegistry *r)
{
    CvMgrHost *h = host_at(r, 0);

    return h->conn ? version_text(h->lib_version) : NULL;
}

gboolean
cv_mgr_registry_connecting(CvMgrRegistry *r)
{
    for (guint i = 0; i < r->hosts->len; i++)
        if (host_at(r, i)->connecting)
            return TRUE;
    return FALSE;
}

void
cv_mgr_registry_stop(CvMgrRegistry *r)
{
    r->stopping = TRUE;
    for (guint i = 0; i < r->hosts->len; i++)
        g_clear_handle_id(&host_at(r, i)->reconnect_source, g_source_remove);
    g_clear_handle_id(&r->probe_source, g_source_remove);
}

static gboolean probe_tick(gpointer data);

void
cv_mgr_registry_start(CvMgrRegistry *r)
{
    for (guint i = 0; i < r->hosts->len; i++)
        connect_start(host_at(r, i));
    r->probe_source = g_timeout_add_seconds(PROBE_INTERVAL_S, probe_tick, r);
}

static gboolean
reconnect_cb(gpointer data)
{
    CvMgrHost *h = data;

    h->reconnect_source = 0;
    connect_start(h);
    return G_SOURCE_REMOVE;
}

static void
schedule_reconnect(CvMgrHost *h)
{
    if (h->r->stopping || h->reconnect_source || h->connecting)
        return;
    h->reconnect_source = g_timeout_add_seconds(h->backoff_s, reconnect_cb, h);
    h->backoff_s = MIN(h->backoff_s * 2, h->r->config->reconnect_max_s);
}

static gboolean
close_later(gpointer data)
{
    virConnectClose(data);
    return G_SOURCE_REMOVE;
}

static void
close_cb(virConnectPtr conn, int reason, void *opaque)
{
    CvMgrHost *h = opaque;
    const char *why = close_reason_to_string(reason);

    if (conn != h->conn)
        return;
    g_warning("libvirt connection to %s closed (%s); API keeps serving, reconnecting",
              h->view.uri, why ? why : "unknown");
    h->conn = NULL;
    h->view.down = TRUE;
    cv_mgr_channels_close_all(h);
    /* event callbacks die with the connection; closing inside the callback is not allowed */
    h->lifecycle_cb = -1;
    g_idle_add(close_later, conn);
    h->backoff_s = 1;
    schedule_reconnect(h);
}

/* what the connect's worker gets (copies: the config is not read from its thread) and returns */
typedef struct {
    char *uri;
    char *domain_type;
    gboolean domain_type_auto;
    char *machine;
    virConnectPtr conn;
    CvMgrHostCaps *caps;
} Connect;

static void
connect_free(gpointer p)
{
    Connect *c = p;

    if (c->conn)
        virConnectClose(c->conn);
    cv_mgr_host_caps_free(c->caps);
    g_free(c->uri);
    g_free(c->domain_type);
    g_free(c->machine);
    g_free(c);
}

static void
connect_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    Connect *c = data;

    c->conn = virConnectOpen(c->uri);
    if (!c->conn) {
        g_autoptr(GError) error = NULL;

        cv_mgr_libvirt_error(&error, NULL, c->uri);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    /* known before the host counts as up: no create is placed on a host whose platforms are unknown */
    c->caps = cv_mgr_host_caps_read(c->conn, c->domain_type, c->domain_type_auto, c->machine);
    g_task_return_boolean(task, TRUE);
}

/* Takes conn: events first, then the listing, so that nothing that happens in between is missed. */
static void
connected(CvMgrHost *h, virConnectPtr conn)
{
    g_autofree char *version = NULL;

    if (virConnectGetLibVersion(conn, &h->lib_version) < 0)
        h->lib_version = 0;
    (void)virConnectSetKeepAlive(conn, 5, 3);
    if (virConnectRegisterCloseCallback(conn, close_cb, h, NULL) < 0)
        g_debug("no close callback on %s", h->view.uri);
    h->lifecycle_cb = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                       VIR_DOMAIN_EVENT_CALLBACK(cv_mgr_sync_lifecycle_cb), h, NULL);
    if (h->lifecycle_cb < 0) {
        g_warning("cannot register for libvirt events on %s: %s; retrying", h->view.uri, cv_mgr_libvirt_message());
        virConnectUnregisterCloseCallback(conn, close_cb);
        virConnectClose(conn);
        schedule_reconnect(h);
        return;
    }
    h->conn = conn;
    h->view.down = FALSE;
    h->unresponsive = FALSE;
    h->backoff_s = 1;
    if (h->ever_connected) {
        h->r->metrics->libvirt_reconnects++;
        h->reconnects++;
    }
    h->ever_connected = TRUE;
    cv_mgr_sync_resync(h);
    version = version_text(h->lib_version);
    g_info("connected to %s (libvirt %s), %u CVMs there", h->view.uri, version, h->cvms);
}

static void
connect_done(GObject *src, GAsyncResult *res, gpointer data)
{
    CvMgrHost *h = data;
    g_autoptr(GError) error = NULL;
    Connect *c = g_task_get_task_data(G_TASK(res));

    h->connecting = FALSE;
    if (!g_task_propagate_boolean(G_TASK(res), &error)) {
        g_warning("libvirt unavailable, retrying in %u s: %s", h->backoff_s, error->message);
        schedule_reconnect(h);
        return;
    }
    if (h->r->stopping)
        return;
    cv_mgr_host_caps_free(h->caps);
    h->caps = g_steal_pointer(&c->caps);
    h->free_memory = h->caps->free_memory;
    h->placed_memory = 0;
    connected(h, g_steal_pointer(&c->conn));
}

static void
connect_start(CvMgrHost *h)
{
    const CvDefaults *d = h->r->config->defaults;
    g_autoptr(GTask) task = NULL;
    Connect *c;

    if (h->connecting || h->conn || h->r->stopping)
        return;
    h->connecting = TRUE;
    c = g_new0(Connect, 1);
    c->uri = g_strdup(h->view.uri);
    c->domain_type = g_strdup(d->domain_type);
    c->domain_type_auto = d->domain_type_auto;
    c->machine = g_strdup(d->machine);
    task = g_task_new(NULL, NULL, connect_done, h);
    g_task_set_task_data(task, c, connect_free);
    g_task_run_in_thread(task, connect_thread);
}

/* ---- libvirt calls off the main loop, with a bound ---- */

typedef struct {
    virConnectPtr conn;          /* the call's own reference */
    CvMgrLibvirtFunc func;
    gpointer data;
    GDestroyNotify data_free;
    GDestroyNotify result_free;
} BoundCall;

typedef struct {
    CvMgrHost *h;
    GAsyncReadyCallback cb;
    gpointer user_data;
    GCancellable *cancel;
    guint timer;
} BoundWait;

static void
bound_call_free(gpointer p)
{
    BoundCall *call = p;

    virConnectClose(call->conn);
    if (call->data_free)
        call->data_free(call->data);
    g_free(call);
}

static void
bound_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    BoundCall *call = data;
    GError *error = NULL;
    gpointer result = call->func(call->conn, call->data, &error);

    if (error)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, result, call->result_free);
}

static gboolean
bound_expired(gpointer data)
{
    BoundWait *w = data;

    w->timer = 0;
    /* the task returns at once (return-on-cancel); the thread goes on and its result is dropped */
    g_cancellable_cancel(w->cancel);
    return G_SOURCE_REMOVE;
}

static void
bound_done(GObject *src, GAsyncResult *res, gpointer data)
{
    BoundWait *w = data;
    gboolean expired = w->timer == 0;

    g_clear_handle_id(&w->timer, g_source_remove);
    if (expired && !w->h->unresponsive)
        g_warning("libvirt (%s) did not answer within %u s: /health says degraded until it does",
                  w->h->view.uri, w->h->r->config->libvirt_timeout_s);
    else if (!expired && w->h->unresponsive)
        g_info("libvirt (%s) answers again", w->h->view.uri);
    w->h->unresponsive = expired;
    w->h->calls--;
    if (expired)
        /* the message names the host and the bound; the task only knows it was cancelled */
        g_object_set_data_full(G_OBJECT(res), "cv-expired",
                               g_strdup_printf("libvirt (%s) did not answer within %u s", w->h->view.uri,
                                               w->h->r->config->libvirt_timeout_s), g_free);
    w->cb(src, res, w->user_data);
    g_object_unref(w->cancel);
    g_free(w);
}

void
cv_mgr_libvirt_call(CvMgrHost *h, CvMgrLibvirtFunc func, gpointer data, GDestroyNotify data_free,
                    GDestroyNotify result_free, GAsyncReadyCallback cb, gpointer user_data)
{
    BoundWait *w = g_new0(BoundWait, 1);
    BoundCall *call = g_new0(BoundCall, 1);
    g_autoptr(GTask) task = NULL;

    h->calls++;
    w->h = h;
    w->cb = cb;
    w->user_data = user_data;
    w->cancel = g_cancellable_new();
    w->timer = g_timeout_add_seconds(h->r->config->libvirt_timeout_s, bound_expired, w);
    call->conn = h->conn;
    virConnectRef(call->conn);
    call->func = func;
    call->data = data;
    call->data_free = data_free;
    call->result_free = result_free;
    task = g_task_new(NULL, w->cancel, bound_done, w);
    g_task_set_task_data(task, call, bound_call_free);
    g_task_set_return_on_cancel(task, TRUE);
    g_task_run_in_thread(task, bound_thread);
}

gpointer
cv_mgr_libvirt_call_finish(GAsyncResult *res, GError **error)
{
    g_autoptr(GError) local = NULL;
    gpointer result = g_task_propagate_pointer(G_TASK(res), &local);

    if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "%s",
                    (const char *)g_object_get_data(G_OBJECT(res), "cv-expired"));
    else if (local)
        g_propagate_error(error, g_steal_pointer(&local));
    return result;
}

/* ---- the probe: /health knows within the bound when libvirt stops answering ---- */

static void
probe_done(GObject *src, GAsyncResult *res, gpointer data)
{
    CvMgrHost *h = data;
    g_autofree guint64 *free_memory = cv_mgr_libvirt_call_finish(res, NULL);

    h->probing = FALSE;
    if (free_memory && *free_memory) {
        h->free_memory = *free_memory;
        h->placed_memory = 0;
    }
}

static gboolean
probe_tick(gpointer data)
{
    CvMgrRegistry *r = data;

    for (guint i = 0; i < r->hosts->len; i++) {
        CvMgrHost *h = host_at(r, i);

        if (h->conn && !h->probing && !r->stopping) {
            h->probing = TRUE;
            cv_mgr_libvirt_call(h, cv_mgr_host_probe_work, NULL, NULL, g_free, probe_done, h);
        }
    }
    return G_SOURCE_CONTINUE;
}

/* ---- a domain for a worker: the handle the main loop had, or its name ---- */

CvMgrDomainRef *
cv_mgr_domain_ref_new(virDomainPtr dom, const char *name, char *xml)
{
    CvMgrDomainRef *d = g_new0(CvMgrDomainRef, 1);

    if (dom && virDomainRef(dom) == 0)
        d->dom = dom;
    d->name = g_strdup(name);
    d->xml = xml;
    return d;
}

void
cv_mgr_domain_ref_free(gpointer p)
{
    CvMgrDomainRef *d = p;

    if (d->dom)
        virDomainFree(d->dom);
    g_free(d->name);
    g_free(d->xml);
    g_free(d);
}

virDomainPtr
cv_mgr_domain_ref_get(CvMgrDomainRef *d, virConnectPtr conn, GError **error)
{
    if (!d->dom)
        d->dom = virDomainLookupByName(conn, d->name);
    if (!d->dom)
        cv_mgr_libvirt_error(error, conn, d->name);
    return d->dom;
}
