/* The registry's libvirt connection: opened in a worker (it takes seconds on qemu:///system), kept
 * alive, watched by a close callback and reopened with exponential backoff. */
#include "registry-priv.h"

CV_ENUM_DECL(close_reason, int);
CV_ENUM_IMPL(close_reason, int, VIR_CONNECT_CLOSE_REASON_CLIENT + 1,
             "error", "end of file", "keepalive timeout", "client closed");

/* how often a round trip checks that libvirt answers (keepalive alone takes 5 s × 3) */
#define PROBE_INTERVAL_S 5

static void connect_start(CvMgrRegistry *r);

static void
quiet_libvirt_errors(void *data, virErrorPtr err)
{
    /* errors are reported once, where handled, from virGetLastError() */
}

void
cv_mgr_conn_init(CvMgrRegistry *r)
{
    r->lifecycle_cb = -1;
    r->backoff_s = 1;
    virSetErrorFunc(NULL, quiet_libvirt_errors);
}

void
cv_mgr_conn_drop(CvMgrRegistry *r)
{
    virConnectPtr conn = g_steal_pointer(&r->conn);

    if (!conn)
        return;
    if (r->lifecycle_cb >= 0)
        virConnectDomainEventDeregisterAny(conn, r->lifecycle_cb);
    r->lifecycle_cb = -1;
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
cv_mgr_registry_check_conn(CvMgrRegistry *r, GError **error)
{
    if (r->conn)
        return TRUE;
    g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "libvirt (%s) is unavailable", cv_mgr_registry_uri(r));
    return FALSE;
}

gboolean
cv_mgr_registry_connected(CvMgrRegistry *r)
{
    return r->conn != NULL && !r->unresponsive;
}

gboolean
cv_mgr_registry_has_conn(CvMgrRegistry *r)
{
    return r->conn != NULL;
}

const char *
cv_mgr_registry_uri(CvMgrRegistry *r)
{
    return r->config->defaults->libvirt_uri;
}

char *
cv_mgr_registry_libvirt_version(CvMgrRegistry *r)
{
    if (!r->conn)
        return NULL;
    return g_strdup_printf("%lu.%lu.%lu", r->lib_version / 1000000, (r->lib_version / 1000) % 1000,
                           r->lib_version % 1000);
}

gboolean
cv_mgr_registry_connecting(CvMgrRegistry *r)
{
    return r->connecting;
}

void
cv_mgr_registry_stop(CvMgrRegistry *r)
{
    r->stopping = TRUE;
    if (r->reconnect_source)
        g_source_remove(r->reconnect_source);
    r->reconnect_source = 0;
    g_clear_handle_id(&r->probe_source, g_source_remove);
}

static gboolean probe_tick(gpointer data);

void
cv_mgr_registry_start(CvMgrRegistry *r)
{
    connect_start(r);
    r->probe_source = g_timeout_add_seconds(PROBE_INTERVAL_S, probe_tick, r);
}

static gboolean
reconnect_cb(gpointer data)
{
    CvMgrRegistry *r = data;

    r->reconnect_source = 0;
    connect_start(r);
    return G_SOURCE_REMOVE;
}

static void
schedule_reconnect(CvMgrRegistry *r)
{
    if (r->stopping || r->reconnect_source || r->connecting)
        return;
    r->reconnect_source = g_timeout_add_seconds(r->backoff_s, reconnect_cb, r);
    r->backoff_s = MIN(r->backoff_s * 2, r->config->reconnect_max_s);
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
    CvMgrRegistry *r = opaque;
    const char *why = close_reason_to_string(reason);

    if (conn != r->conn)
        return;
    g_warning("libvirt connection to %s closed (%s); API keeps serving, reconnecting",
              cv_mgr_registry_uri(r), why ? why : "unknown");
    r->conn = NULL;
    cv_mgr_channels_close_all(r);
    /* event callbacks die with the connection; closing inside the callback is not allowed */
    r->lifecycle_cb = -1;
    g_idle_add(close_later, conn);
    r->backoff_s = 1;
    schedule_reconnect(r);
}

static void
conn_close(gpointer p)
{
    virConnectClose(p);
}

static void
connect_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    const char *uri = data;
    virConnectPtr conn = virConnectOpen(uri);

    if (!conn) {
        g_autoptr(GError) error = NULL;

        cv_mgr_libvirt_error(&error, NULL, uri);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    g_task_return_pointer(task, conn, conn_close);
}

/* Takes conn: events first, then the listing, so that nothing that happens in between is missed. */
static void
connected(CvMgrRegistry *r, virConnectPtr conn)
{
    g_autofree char *version = NULL;

    if (virConnectGetLibVersion(conn, &r->lib_version) < 0)
        r->lib_version = 0;
    (void)virConnectSetKeepAlive(conn, 5, 3);
    if (virConnectRegisterCloseCallback(conn, close_cb, r, NULL) < 0)
        g_debug("no close callback on %s", cv_mgr_registry_uri(r));
    r->lifecycle_cb = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                       VIR_DOMAIN_EVENT_CALLBACK(cv_mgr_sync_lifecycle_cb), r, NULL);
    if (r->lifecycle_cb < 0) {
        g_warning("cannot register for libvirt events: %s; retrying", cv_mgr_libvirt_message());
        virConnectUnregisterCloseCallback(conn, close_cb);
        virConnectClose(conn);
        schedule_reconnect(r);
        return;
    }
    r->conn = conn;
    r->unresponsive = FALSE;
    r->backoff_s = 1;
    if (r->ever_connected)
        r->metrics->libvirt_reconnects++;
    r->ever_connected = TRUE;
    cv_mgr_sync_resync(r);
    version = cv_mgr_registry_libvirt_version(r);
    g_info("connected to %s (libvirt %s), %u CVMs", cv_mgr_registry_uri(r), version, cv_mgr_registry_count(r));
}

static void
connect_done(GObject *src, GAsyncResult *res, gpointer data)
{
    CvMgrRegistry *r = data;
    g_autoptr(GError) error = NULL;
    virConnectPtr conn = g_task_propagate_pointer(G_TASK(res), &error);

    r->connecting = FALSE;
    if (!conn) {
        g_warning("libvirt unavailable, retrying in %u s: %s", r->backoff_s, error->message);
        schedule_reconnect(r);
        return;
    }
    if (r->stopping) {
        virConnectClose(conn);
        return;
    }
    connected(r, conn);
}

static void
connect_start(CvMgrRegistry *r)
{
    g_autoptr(GTask) task = NULL;

    if (r->connecting || r->conn || r->stopping)
        return;
    r->connecting = TRUE;
    task = g_task_new(NULL, NULL, connect_done, r);
    g_task_set_task_data(task, g_strdup(cv_mgr_registry_uri(r)), g_free);
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
    CvMgrRegistry *r;
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
    if (expired && !w->r->unresponsive)
        g_warning("libvirt (%s) did not answer within %u s: /health says degraded until it does",
                  cv_mgr_registry_uri(w->r), w->r->config->libvirt_timeout_s);
    else if (!expired && w->r->unresponsive)
        g_info("libvirt (%s) answers again", cv_mgr_registry_uri(w->r));
    w->r->unresponsive = expired;
    w->r->calls--;
    w->cb(src, res, w->user_data);
    g_object_unref(w->cancel);
    g_free(w);
}

void
cv_mgr_libvirt_call(CvMgrRegistry *r, CvMgrLibvirtFunc func, gpointer data, GDestroyNotify data_free,
                    GDestroyNotify result_free, GAsyncReadyCallback cb, gpointer user_data)
{
    BoundWait *w = g_new0(BoundWait, 1);
    BoundCall *call = g_new0(BoundCall, 1);
    g_autoptr(GTask) task = NULL;

    r->calls++;
    w->r = r;
    w->cb = cb;
    w->user_data = user_data;
    w->cancel = g_cancellable_new();
    w->timer = g_timeout_add_seconds(r->config->libvirt_timeout_s, bound_expired, w);
    call->conn = r->conn;
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
cv_mgr_libvirt_call_finish(CvMgrRegistry *r, GAsyncResult *res, GError **error)
{
    g_autoptr(GError) local = NULL;
    gpointer result = g_task_propagate_pointer(G_TASK(res), &local);

    if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "libvirt (%s) did not answer within %u s",
                    cv_mgr_registry_uri(r), r->config->libvirt_timeout_s);
    else if (local)
        g_propagate_error(error, g_steal_pointer(&local));
    return result;
}

/* ---- the probe: /health knows within the bound when libvirt stops answering ---- */

static gpointer
probe_work(virConnectPtr conn, gpointer data, GError **error)
{
    unsigned long version;

    /* a round trip to the daemon (virConnectIsAlive only looks at the socket) */
    if (virConnectGetLibVersion(conn, &version) < 0)
        cv_mgr_libvirt_error(error, conn, "probing libvirt");
    return NULL;
}

static void
probe_done(GObject *src, GAsyncResult *res, gpointer data)
{
    CvMgrRegistry *r = data;

    r->probing = FALSE;
    (void)cv_mgr_libvirt_call_finish(r, res, NULL);
}

static gboolean
probe_tick(gpointer data)
{
    CvMgrRegistry *r = data;

    if (r->conn && !r->probing && !r->stopping) {
        r->probing = TRUE;
        cv_mgr_libvirt_call(r, probe_work, NULL, NULL, NULL, probe_done, r);
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
