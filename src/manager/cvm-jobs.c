/* The worker jobs that change libvirt (create in cvm-create.c, delete here), run by one helper:
 * the CVM's record is marked busy in the main loop, the libvirt calls run in a worker thread with
 * the job's own connection reference, and the outcome is recorded back in the main loop. */
#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>
#include "registry-priv.h"
#include "cvm-spec.h"

static void
job_free(gpointer p)
{
    CvMgrJob *job = p;

    if (job->conn)
        virConnectClose(job->conn);
    g_clear_object(&job->task);
    g_free(job->id);
    g_free(job->name);
    g_free(job->xml);
    g_free(job->metadata_running);
    g_free(job->channel_path);
    g_free(job->reason);
    g_free(job->log_dir);
    if (job->files)
        g_ptr_array_unref(job->files);
    g_free(job);
}

CvMgrJob *
cv_mgr_job_new(CvMgrRegistry *r, GTask *task, const CvMgrCvm *cvm)
{
    CvMgrJob *job = g_new0(CvMgrJob, 1);

    job->r = r;
    job->task = task;
    job->host = cv_mgr_host_of(cvm);
    job->conn = job->host->conn;
    virConnectRef(job->conn);
    job->id = g_strdup(cvm->id);
    job->name = g_strdup(cvm->name);
    return job;
}

static void
job_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    CvMgrJob *job = data;
    g_autoptr(GError) error = NULL;

    if (!job->work(job, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    g_task_return_boolean(task, TRUE);
}

static void
job_finished(GObject *src, GAsyncResult *res, gpointer data)
{
    CvMgrJob *job = g_task_get_task_data(G_TASK(res));
    g_autoptr(GError) error = NULL;

    g_ptr_array_remove_fast(job->r->jobs, job);
    (void)g_task_propagate_boolean(G_TASK(res), &error);
    job->done(job, g_steal_pointer(&error));
}

void
cv_mgr_job_run(CvMgrJob *job)
{
    g_autoptr(GTask) worker = g_task_new(NULL, NULL, job_finished, NULL);

    g_ptr_array_add(job->r->jobs, job);
    g_task_set_task_data(worker, job, job_free);
    g_task_run_in_thread(worker, job_thread);
}

void
cv_mgr_task_fail(GTask *task, GError *error)
{
    g_task_return_error(task, error);
    g_object_unref(task);
}

#define UNDEFINE_FLAGS (VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_TPM | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | \
                        VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)

/* drivers without NVRAM or TPM state (the test driver) refuse those flags; remembered so
 * that the refused call is made once */
static gint undefine_plain;

int
cv_mgr_undefine(virDomainPtr dom)
{
    virErrorPtr e;
    int rc;

    if (!g_atomic_int_get(&undefine_plain)) {
        rc = virDomainUndefineFlags(dom, UNDEFINE_FLAGS);
        if (rc == 0)
            return 0;
        e = virGetLastError();
        if (!e || (e->code != VIR_ERR_INVALID_ARG && e->code != VIR_ERR_NO_SUPPORT) || !e->message ||
            !strstr(e->message, "flags"))
            return rc;
        g_atomic_int_set(&undefine_plain, 1);
    }
    rc = virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
    if (rc < 0) {
        e = virGetLastError();
        if (e && e->code == VIR_ERR_INVALID_ARG)
            rc = virDomainUndefine(dom);
    }
    return rc;
}

/* Only files under the log directory: the list comes from metadata that anyone with libvirt
 * access can edit, and it drives unlink(). */
void
cv_mgr_remove_files(const char *log_dir, GPtrArray *files)
{
    g_autofree char *prefix = g_strconcat(log_dir, G_DIR_SEPARATOR_S, NULL);

    for (guint i = 0; files && i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);

        if (!g_str_has_prefix(path, prefix) || strstr(path, "/..") || strchr(path + strlen(prefix), '/')) {
            g_warning("not removing %s: outside %s", path, log_dir);
            continue;
        }
        if (g_unlink(path) < 0 && errno != ENOENT)
            g_warning("cannot remove %s: %s", path, g_strerror(errno));
    }
}

/* The logs libvirt keeps of a domain after it is undefined (QEMU's and swtpm's, in Debian's default
 * places): a deleted CVM leaves nothing behind. Names come from libvirt, so they are checked again
 * before they become paths. */
static void
remove_libvirt_logs(const char *name)
{
    g_autofree char *qemu_log = NULL;
    g_autofree char *swtpm_log = NULL;

    if (!cv_cvm_name_valid(name, NULL))
        return;
    qemu_log = g_strdup_printf("/var/log/libvirt/qemu/%s.log", name);
    swtpm_log = g_strdup_printf("/var/log/swtpm/libvirt/qemu/%s-swtpm.log", name);
    for (const char *const *p = (const char *const[]){ qemu_log, swtpm_log, NULL }; *p; p++) {
        const char *path = *p;

        if (g_unlink(path) < 0 && errno != ENOENT)
            g_warning("cannot remove %s: %s", path, g_strerror(errno));
    }
}

/* The calling thread's last libvirt error has this code (the outcome a step may accept). */
static gboolean
libvirt_error_is(int code)
{
    virErrorPtr e = virGetLastError();

    return e && e->code == code;
}

static gboolean
delete_work(CvMgrJob *job, GError **error)
{
    g_autoptr(virDomain) dom = virDomainLookupByName(job->conn, job->name);

    if (!dom) {
        if (!libvirt_error_is(VIR_ERR_NO_DOMAIN)) {
            cv_mgr_libvirt_error(error, job->conn, "looking up the domain");
            return FALSE;
        }
    } else {
        /* no IsActive/IsPersistent beforehand: libvirt's answers say the same. A domain that
         * does not run refuses the destroy (OPERATION_INVALID); a transient one is gone once
         * destroyed (NO_DOMAIN at the undefine). */
        if (virDomainDestroy(dom) < 0 && !libvirt_error_is(VIR_ERR_OPERATION_INVALID)) {
            cv_mgr_libvirt_error(error, job->conn, "destroying the domain");
            return FALSE;
        }
        if (cv_mgr_undefine(dom) < 0 && !libvirt_error_is(VIR_ERR_NO_DOMAIN)) {
            cv_mgr_libvirt_error(error, job->conn, "undefining the domain");
            return FALSE;
        }
        remove_libvirt_logs(job->name);
    }
    cv_mgr_remove_files(job->log_dir, job->files);
    return TRUE;
}

static void
delete_done(CvMgrJob *job, GError *error)
{
    CvMgrRegistry *r = job->r;
    CvMgrCvm *cvm = g_hash_table_lookup(r->by_id, job->id);

    if (error) {
        if (cvm)
            cv_mgr_sync_set_state(r, cvm, job->prev, NULL, "delete-failed", error->message);
        g_task_return_error(job->task, error);
        return;
    }
    r->metrics->deletions++;
    if (cvm) {
        g_info("cvm %s (%s) deleted", cvm->name, cvm->id);
        cv_mgr_registry_remove(r, cvm, "deleted", job->reason);
    }
    g_task_return_boolean(job->task, TRUE);
}

/* Destroy, undefine (NVRAM, TPM state), remove the CVM's files; reason goes into its events. */
void
cv_mgr_jobs_delete(CvMgrRegistry *r, const char *id_or_name, const char *reason, GAsyncReadyCallback cb,
                   gpointer data)
{
    GTask *task = g_task_new(NULL, NULL, cb, data);
    GError *error = NULL;
    CvMgrCvm *cvm = cv_mgr_registry_lookup(r, id_or_name, &error);
    CvMgrJob *job;

    if (!cvm || !cv_mgr_registry_check_idle(cvm, &error) || !cv_mgr_host_check_conn(cv_mgr_host_of(cvm), &error)) {
        cv_mgr_task_fail(task, error);
        return;
    }
    job = cv_mgr_job_new(r, task, cvm);
    job->kind = "delete";
    job->work = delete_work;
    job->done = delete_done;
    job->reason = g_strdup(reason);
    job->files = g_ptr_array_ref(cvm->files);
    job->log_dir = g_strdup(r->config->log_dir);
    job->prev = cvm->state;
    cvm->state = CV_MGR_STATE_DELETING;
    cv_mgr_channels_close(r, cvm);
    cv_mgr_events_lifecycle(r, cvm, "deleting", reason);
    cv_mgr_job_run(job);
}

void
cv_mgr_registry_delete_async(CvMgrRegistry *r, const char *id_or_name, GAsyncReadyCallback cb, gpointer data)
{
    cv_mgr_jobs_delete(r, id_or_name, "api", cb, data);
}

gboolean
cv_mgr_registry_delete_finish(CvMgrRegistry *r, GAsyncResult *res, GError **error)
{
    return g_task_propagate_boolean(G_TASK(res), error);
}
