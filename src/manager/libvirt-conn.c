/* The registry's libvirt connection: opened in a worker (it takes seconds on qemu:///system), kept
 * alive, watched by a close callback and reopened with exponential backoff. */
#include "registry-priv.h"

CV_ENUM_DECL(close_reason, int);
CV_ENUM_IMPL(close_reason, int, VIR_CONNECT_CLOSE_REASON_CLIENT + 1,
             "error", "end of file", "keepalive timeout", "client closed");

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
}

void
cv_mgr_registry_start(CvMgrRegistry *r)
{
    connect_start(r);
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
