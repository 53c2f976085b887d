/* POST /v1/cvms: the checks, the name, host port and MANAGER_MAX_VMS slot held in one main-loop
 * step, the domain rendered with the record in its <metadata>, then define + start in a job. */
#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>
#include "registry-priv.h"
#include "domain-render.h"
#include "domain-live.h"
#include "cv-util.h"
#include "cv-file.h"

static gboolean
create_work(CvMgrJob *job, GError **error)
{
    g_autoptr(virDomain) existing = virDomainLookupByName(job->conn, job->name);
    g_autoptr(virDomain) dom = NULL;
    g_autofree char *live_xml = NULL;
    g_autoptr(CvDomainLive) live = NULL;

    /* a domain the manager does not know (not a CVM): never redefined */
    if (existing) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "name: a libvirt domain named '%s' exists", job->name);
        return FALSE;
    }
    dom = virDomainDefineXML(job->conn, job->xml);
    if (!dom) {
        cv_mgr_libvirt_error(error, job->conn, "defining the domain");
        return FALSE;
    }
    if (virDomainCreate(dom) < 0) {
        cv_mgr_libvirt_error(error, job->conn, "starting the domain");
        /* nothing half-created: the definition goes with the failed start */
        if (cv_mgr_undefine(dom) < 0)
            g_warning("cvm %s: cannot undefine after a failed start", job->name);
        return FALSE;
    }
    job->state = cv_mgr_state_from_libvirt(dom, CV_MGR_STATE_RUNNING);
    /* The usual outcome is finished here, with the handle in hand, instead of looking the
     * domain up again from the main loop: the record says "running" (live and persistent
     * definition) and the live XML tells the control channel's socket. Any other state is
     * recorded by the main loop. */
    if (job->state != CV_MGR_STATE_RUNNING)
        return TRUE;
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, job->metadata_running, CV_XML_PREFIX,
                             CV_XML_NAMESPACE, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG) == 0)
        job->persisted = TRUE;
    live_xml = virDomainGetXMLDesc(dom, 0);
    live = cv_conf_domain_live_parse(live_xml, -1, NULL);
    job->channel_path = live ? g_steal_pointer(&live->channel_path) : NULL;
    return TRUE;
}

/* a lifecycle event with where the CVM went and why */
static void
created_event(CvMgrRegistry *r, CvMgrCvm *cvm, CvMgrJob *job)
{
    g_autoptr(JsonObject) data = json_object_new();

    json_object_set_string_member(data, "event", "created");
    json_object_set_string_member(data, "state", cv_mgr_state_to_string(cvm->state));
    json_object_set_string_member(data, "host", job->host->view.uri);
    json_object_set_string_member(data, "placement", job->reason);
    cv_mgr_events_emit(r, cvm, "lifecycle", data, FALSE);
}

static void
create_done(CvMgrJob *job, GError *error)
{
    CvMgrRegistry *r = job->r;
    CvMgrCvm *cvm = g_hash_table_lookup(r->by_id, job->id);

    if (error) {
        /* a name taken by a foreign domain is the request's fault, not a failure */
        if (g_error_matches(error, CV_ERROR, CV_ERROR_CONFLICT)) {
            r->metrics->refusals[CV_MGR_REFUSAL_CONFLICT]++;
        } else {
            r->metrics->creation_failures++;
            job->host->creation_failures++;
            g_warning("cvm %s: creation failed: %s", job->name, error->message);
        }
        if (cvm) {
            cv_mgr_remove_files(r->config->log_dir, cvm->files);
            cv_mgr_registry_remove(r, cvm, "removed", error->message);
        }
        g_task_return_error(job->task, error);
        return;
    }
    if (!cvm) {
        g_task_return_new_error(job->task, CV_ERROR, CV_ERROR_INTERNAL, "cvm %s vanished during creation", job->name);
        return;
    }
    r->metrics->creations++;
    job->host->creations++;
    cv_mgr_histogram_observe(&r->metrics->create_duration, (g_get_monotonic_time() - job->start_us) / 1e6);
    cvm->state = job->state;
    created_event(r, cvm, job);
    if (!job->persisted)
        cv_mgr_sync_persist(r, cvm, NULL);
    if (cvm->state == CV_MGR_STATE_RUNNING && job->host->conn && !cvm->channel_checked)
        cv_mgr_channels_open(r, cvm, job->channel_path);
    else
        cv_mgr_channels_sync(r, cvm, NULL);
    cv_mgr_ttl_arm(r, cvm);
    g_info("cvm %s (%s) created (%s) on %s (%s), agent port %u", cvm->name, cvm->id,
           cv_mgr_state_to_string(cvm->state), job->host->view.uri, job->reason, cvm->host_port);
    g_task_return_pointer(job->task, cv_mgr_cvm_to_json(cvm, FALSE), (GDestroyNotify)json_node_unref);
}

/* The HAL builder writes DIR/hal-version beside DIR/initramfs.cpio.gz: one printable line. */
static char *
hal_version_for(const CvMgrConfig *config, const char *initrd)
{
    g_autofree char *dir = NULL, *path = NULL, *text = NULL;
    g_auto(CvFd) fd = -1;
    g_autoptr(GBytes) bytes = NULL;

    if (config->hal_version)
        return g_strdup(config->hal_version);
    if (!initrd)
        return g_strdup("unknown");
    dir = g_path_get_dirname(initrd);
    path = g_build_filename(dir, "hal-version", NULL);
    /* beside a spec's initrd, in an image directory: still no FIFO or link followed */
    fd = cv_file_open_regular(path, 256, NULL, NULL);
    bytes = fd >= 0 ? cv_file_read_fd(fd, 256, path, NULL) : NULL;
    if (!bytes || g_bytes_get_size(bytes) == 0)
        return g_strdup("unknown");
    text = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    text[strcspn(text, "\r\n")] = '\0';
    for (char *p = text; *p; p++)
        if (!g_ascii_isprint(*p))
            return g_strdup("unknown");
    return *text ? g_steal_pointer(&text) : g_strdup("unknown");
}

/* The spec from the body, with a name no CVM or domain has; the CVM gets its id. */
static CvCvmSpec *
spec_of(CvMgrRegistry *r, GBytes *body, CvMgrCvm *cvm, GError **error)
{
    gsize len = 0;
    const char *text = body ? g_bytes_get_data(body, &len) : NULL;
    g_autoptr(CvCvmSpec) spec = NULL;

    if (!text || len == 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "empty body: a CVM spec (JSON object) is required");
        return NULL;
    }
    spec = cv_cvm_spec_from_data(text, (gssize)len, r->config->defaults, error);
    if (!spec)
        return NULL;
    cvm->id = g_uuid_string_random();
    if (!spec->name)
        spec->name = g_strdup_printf("cvm-%.8s", cvm->id);
    if (!cv_cvm_name_valid(spec->name, error))
        return NULL;
    /* ids and names share the API's paths: a name that looks like an id would be ambiguous */
    if (g_uuid_string_is_valid(spec->name)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "name: must not have the form of a CVM id (a UUID)");
        return NULL;
    }
    if (g_hash_table_contains(r->by_name, spec->name)) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "name: a CVM named '%s' exists", spec->name);
        return NULL;
    }
    return g_steal_pointer(&spec);
}

/* The spec's host port, or one from the pool; held from here on (0 and an error when none). */
static guint
reserve_port(CvMgrRegistry *r, CvMgrHost *h, CvCvmSpec *spec, const char *bind, GError **error)
{
    const CvDefaults *d = r->config->defaults;
    /* a remote host's ports cannot be tried from here: its pool alone decides */
    const char *local_bind = h->local ? bind : NULL;

    /* outside the range a port may be any host service's, the manager's own included */
    if (spec->host_port && (spec->host_port < d->host_port_min || spec->host_port > d->host_port_max)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "host_port: %u is outside MANAGER_QEMU_HOST_FWD_RANGE (%u-%u)",
                    spec->host_port, d->host_port_min, d->host_port_max);
        return 0;
    }
    if (!spec->host_port) {
        spec->host_port = cv_mgr_port_pool_allocate(h->ports, local_bind, error);
        return spec->host_port;
    }
    if (!cv_mgr_port_pool_reserve(h->ports, spec->host_port, error))
        return 0;
    if (local_bind && !cv_mgr_port_is_free(bind, spec->host_port)) {
        cv_mgr_port_pool_release(h->ports, spec->host_port);
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "host_port: %u is in use on %s", spec->host_port, bind);
        return 0;
    }
    return spec->host_port;
}

/* The record's fields from the spec, and the log directory a debug CVM's serial file goes to. */
static gboolean
fill_record(CvMgrRegistry *r, CvMgrHost *h, CvMgrCvm *cvm, const CvCvmSpec *spec, const char *bind,
            GError **error)
{
    g_autoptr(JsonNode) spec_json = cv_cvm_spec_to_json(spec);

    cvm->name = g_strdup(spec->name);
    cvm->platform = spec->platform;
    cvm->state = CV_MGR_STATE_CREATING;
    cvm->created_at = g_get_real_time() / G_USEC_PER_SEC;
    cvm->expires_at = spec->ttl_seconds ? cvm->created_at + (gint64)spec->ttl_seconds : 0;
    cvm->host_port = spec->host_port;
    cvm->agent_host = cv_mgr_host_agent_address(h, bind);
    cvm->host = &h->view;
    cvm->hal_version = hal_version_for(r->config, spec->initrd);
    cvm->spec_json = cv_json_to_string(spec_json, FALSE);
    if (!spec->debug)
        return TRUE;
    g_ptr_array_add(cvm->files, g_strdup_printf("%s/%s.serial", r->config->log_dir, spec->name));
    if (g_mkdir_with_parents(r->config->log_dir, 0755) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create %s: %s", r->config->log_dir, g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/* The new CVM's record and its domain XML; the record holds its host port on success, *reason says
 * where it goes and why. A 503 says why in *refusal (the others' reason is their error's code). */
static char *
prepare_create(CvMgrRegistry *r, GBytes *body, CvMgrCvm **out, CvMgrRefusal *refusal, char **reason,
               GError **error)
{
    g_autoptr(CvMgrCvm) cvm = cv_mgr_cvm_new();
    g_autoptr(CvCvmSpec) spec = NULL;
    g_autofree char *metadata = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *why = NULL;
    CvRenderOptions opts = { 0 };
    CvMgrHost *h = NULL;
    const char *bind;

    *refusal = CV_MGR_REFUSAL_LIBVIRT_UNAVAILABLE;
    /* one host: unavailable before anything else, as with a single connection */
    if ((r->hosts->len == 1 && !cv_mgr_host_check_conn(g_ptr_array_index(r->hosts, 0), error)) ||
        !(spec = spec_of(r, body, cvm, error)) || !(h = cv_mgr_hosts_place(r, spec, &why, error)))
        return NULL;
    /* a vtpm CVM runs as the host offers (kvm or qemu); sev-snp and tdx were checked to have kvm */
    if (spec->platform == CV_PLATFORM_VTPM && h->caps->domain_type) {
        g_free(spec->domain_type);
        spec->domain_type = g_strdup(h->caps->domain_type);
    }
    *refusal = CV_MGR_REFUSAL_CAPACITY;
    if (g_hash_table_size(r->by_id) >= r->config->max_vms) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "MANAGER_MAX_VMS (%u) reached", r->config->max_vms);
        return NULL;
    }
    if (!cv_cvm_spec_check_files(spec, r->config->defaults, error))
        return NULL;
    bind = spec->agent_bind_address ? spec->agent_bind_address : r->config->defaults->agent_bind_address;
    *refusal = CV_MGR_REFUSAL_HOST_PORTS;
    if (!reserve_port(r, h, spec, bind, error))
        return NULL;
    metadata = fill_record(r, h, cvm, spec, bind, error) ? cv_mgr_cvm_to_metadata(cvm, TRUE) : NULL;
    opts.libvirt_version = h->lib_version;
    opts.template_dir = r->config->template_dir;
    opts.log_dir = r->config->log_dir;
    opts.metadata_xml = metadata;
    /* libvirt's UUID of the domain is the CVM's id: `virsh dominfo ID` finds it, and a domain
     * adopted after a restart carries the same id in its <uuid> and its metadata */
    opts.uuid = cvm->id;
    xml = metadata ? cv_domain_render(spec, &opts, error) : NULL;
    if (!xml) {
        cv_mgr_port_pool_release(h->ports, spec->host_port);
        return NULL;
    }
    h->placed_memory += spec->memory_bytes;
    *reason = g_steal_pointer(&why);
    *out = g_steal_pointer(&cvm);
    return g_steal_pointer(&xml);
}

/* A create stopped before anything was made: turned away (a full host, a bad spec: counted by
 * reason), or failed (its files, its template). */
static void
count_stopped(CvMgrRegistry *r, CvMgrRefusal unavailable, const GError *error)
{
    CvMgrRefusal reason = CV_MGR_REFUSAL_COUNT;

    if (error->domain == CV_ERROR) {
        switch ((CvErrorCode)error->code) {
        case CV_ERROR_UNAVAILABLE:
            reason = unavailable;
            break;
        case CV_ERROR_CONFLICT:
            reason = CV_MGR_REFUSAL_CONFLICT;
            break;
        case CV_ERROR_INVALID:
        case CV_ERROR_NOT_FOUND:
        case CV_ERROR_FORBIDDEN:
        case CV_ERROR_TOO_LARGE:
            reason = CV_MGR_REFUSAL_INVALID_SPEC;
            break;
        default:
            break;
        }
    }
    if (reason == CV_MGR_REFUSAL_COUNT)
        r->metrics->creation_failures++;
    else
        r->metrics->refusals[reason]++;
}

void
cv_mgr_registry_create_async(CvMgrRegistry *r, GBytes *body, GAsyncReadyCallback cb, gpointer data)
{
    GTask *task = g_task_new(NULL, NULL, cb, data);
    gint64 start_us = g_get_monotonic_time();
    GError *error = NULL;
    CvMgrCvm *cvm = NULL;
    CvMgrRefusal unavailable;
    CvMgrJob *job;
    char *reason = NULL;
    char *xml = prepare_create(r, body, &cvm, &unavailable, &reason, &error);

    if (!xml) {
        count_stopped(r, unavailable, error);
        cv_mgr_task_fail(task, error);
        return;
    }
    /* from here the name, the port and a MANAGER_MAX_VMS slot are held by the record */
    cv_mgr_registry_insert(r, cvm);
    job = cv_mgr_job_new(r, task, cvm);
    job->kind = "create";
    job->start_us = start_us;
    job->work = create_work;
    job->done = create_done;
    job->xml = xml;
    job->reason = reason;
    {
        /* a shallow copy, only read here: the record with the state it will have */
        CvMgrCvm running = *cvm;

        running.state = CV_MGR_STATE_RUNNING;
        job->metadata_running = cv_mgr_cvm_to_metadata(&running, FALSE);
    }
    cv_mgr_job_run(job);
}

JsonNode *
cv_mgr_registry_create_finish(CvMgrRegistry *r, GAsyncResult *res, GError **error)
{
    return g_task_propagate_pointer(G_TASK(res), error);
}
