/* A CVM's time to live: one timer per CVM with an expiry, kept here by CVM id (the record holds
 * only expires_at), that deletes the CVM when it fires. */
#include "registry-priv.h"

typedef struct {
    CvMgrRegistry *r;
    char *id;
    guint source;   /* 0 while it fires */
} Timer;

static void
timer_free(Timer *t)
{
    if (t->source)
        g_source_remove(t->source);
    g_free(t->id);
    g_free(t);
}

void
cv_mgr_ttl_init(CvMgrRegistry *r)
{
    /* keyed by the timer's own id */
    r->ttl = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)timer_free);
}

void
cv_mgr_ttl_disarm(CvMgrRegistry *r, const char *id)
{
    g_hash_table_remove(r->ttl, id);
}

static void
ttl_delete_done(GObject *src, GAsyncResult *res, gpointer data)
{
    CvMgrRegistry *r = data;
    g_autoptr(GError) error = NULL;

    if (cv_mgr_registry_delete_finish(r, res, &error))
        r->metrics->ttl_expiries++;
    else
        g_warning("TTL expiry: %s", error->message);
}

static gboolean
ttl_expired(gpointer data)
{
    Timer *t = data;
    CvMgrRegistry *r = t->r;
    CvMgrCvm *cvm = g_hash_table_lookup(r->by_id, t->id);
    g_autofree char *id = NULL;

    t->source = 0;
    if (cvm && (!cv_mgr_host_of(cvm)->conn || cv_mgr_cvm_busy(cvm))) {
        /* try again shortly: libvirt away or a job running */
        t->source = g_timeout_add_seconds(5, ttl_expired, t);
        return G_SOURCE_REMOVE;
    }
    id = g_strdup(t->id);
    g_hash_table_remove(r->ttl, id);
    if (!cvm)
        return G_SOURCE_REMOVE;
    g_info("cvm %s (%s): TTL expired, deleting", cvm->name, cvm->id);
    cv_mgr_jobs_delete(r, id, "ttl", ttl_delete_done, r);
    return G_SOURCE_REMOVE;
}

void
cv_mgr_ttl_arm(CvMgrRegistry *r, CvMgrCvm *cvm)
{
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    gint64 delay;
    Timer *t;

    if (!cvm->expires_at || g_hash_table_contains(r->ttl, cvm->id))
        return;
    delay = cvm->expires_at > now ? cvm->expires_at - now : 0;
    t = g_new0(Timer, 1);
    t->r = r;
    t->id = g_strdup(cvm->id);
    t->source = g_timeout_add_seconds((guint)MIN(delay, G_MAXUINT / 2), ttl_expired, t);
    g_hash_table_insert(r->ttl, t->id, t);
}
