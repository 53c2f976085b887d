/* The registry's parts, one file each, and what they share. Only src/manager/ includes this.
 *
 *   registry.c       the CVM table: insert, remove, lookup, list, counts, the busy guard
 *   host-table.c     the hosts (one per MANAGER_LIBVIRT_URI entry), placement, /v1/hosts, their metrics
 *   host-caps.c      what a host can run (domain capabilities) and its free memory, read in a worker
 *   libvirt-conn.c   a host's connection: open in a worker, backoff, close callback, libvirt errors,
 *                    bounded calls in workers and the probe that tells /health libvirt answers
 *   domain-sync.c    adopt, resync, lifecycle events, libvirt's states, the record in <metadata>
 *   cvm-jobs.c       the worker-job helper, delete (destroy, undefine, files and logs)
 *   cvm-create.c     create (checks, host port, render, define + start)
 *   event-bus.c      a CVM's events to its subscribers
 *   ttl.c            expiry timers, keyed by CVM id
 *   channel-table.c  the control channels of running CVMs, keyed by CVM id
 *   cvm-info.c       /domain, /info (firmware version), the vtpm attestation policy
 *
 * Everything runs in the main loop except a job's work function, the connect and the bounded calls
 * (cv_mgr_libvirt_call), which get their own reference on the connection and nothing else of the
 * registry: no libvirt call that waits for the daemon runs in the main loop.
 *
 * Every host has its own connection, events, close callback, backoff and resync: one that is down or
 * hung delays no call to another. A CVM belongs to the host its domain is on (cvm->host). */
#pragma once
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include "registry.h"
#include "port-pool.h"

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)

/* What a host can run, read in the connect's worker (host-caps.c). */
typedef struct {
    guint platforms;             /* 1 << CvPlatform for each platform the host can run */
    char *why_not[CV_PLATFORM_COUNT]; /* the host's reason for each one it cannot */
    char *domain_type;           /* kvm or qemu, as MANAGER_DOMAIN_TYPE (auto: what the host offers) */
    guint64 free_memory;         /* bytes, 0: unknown */
    gboolean checked;            /* from domain capabilities; FALSE: the driver has none, nothing refused */
} CvMgrHostCaps;

typedef struct _CvMgrHost CvMgrHost;
struct _CvMgrHost {
    CvMgrHostView view;          /* first: a CVM's JSON reads it through cvm->host */
    CvMgrRegistry *r;
    guint index;                 /* in MANAGER_LIBVIRT_URI */
    gboolean local;              /* the URI names this machine: its ports can be checked here */
    CvMgrPortPool *ports;        /* agent ports are per host: two hosts may forward the same one */
    guint cvms;                  /* CVMs of the registry on this host */
    /* libvirt-conn.c */
    virConnectPtr conn;          /* NULL while the host is unavailable */
    unsigned long lib_version;
    int lifecycle_cb;
    gboolean connecting;
    gboolean ever_connected;
    guint reconnect_source;
    guint backoff_s;
    gboolean unresponsive;       /* the last bounded call or probe timed out */
    gboolean probing;
    guint calls;                 /* bounded calls not yet answered (or expired) */
    guint64 reconnects;
    /* host-caps.c */
    CvMgrHostCaps *caps;         /* read with each connect; NULL before the first */
    guint64 free_memory;         /* bytes, virNodeGetFreeMemory at the last probe; 0: unknown */
    guint64 placed_memory;       /* memory of the CVMs placed here since that reading */
    guint64 creations;
    guint64 creation_failures;
};

/* the host object of a CVM (cvm->host is its first member) */
static inline CvMgrHost *
cv_mgr_host_of(const CvMgrCvm *cvm)
{
    return (CvMgrHost *)cvm->host;
}

struct _CvMgrRegistry {
    const CvMgrConfig *config;
    CvMgrMetrics *metrics;
    /* registry.c */
    GHashTable *by_id;           /* id → CvMgrCvm (owned) */
    GHashTable *by_name;         /* name → CvMgrCvm (borrowed): names are unique over all hosts */
    /* host-table.c */
    GPtrArray *hosts;            /* CvMgrHost, in MANAGER_LIBVIRT_URI's order (owned) */
    /* libvirt-conn.c */
    gboolean stopping;
    guint probe_source;
    /* domain-sync.c */
    GHashTable *transient;       /* ids of CVMs undefined outside covirt while running (owned) */
    /* cvm-jobs.c */
    GPtrArray *jobs;             /* the CvMgrJobs running (borrowed) */
    /* event-bus.c */
    GHashTable *subs;            /* token → subscription */
    guint next_token;
    /* ttl.c */
    GHashTable *ttl;             /* id → timer */
    /* channel-table.c */
    GHashTable *channels;        /* id → channel entry, for running CVMs with a control channel socket */
    /* cvm-info.c */
    GHashTable *ovmf_versions;   /* loader path → version */
};

/* registry.c */
/* cvm->host must be set */
void cv_mgr_registry_insert(CvMgrRegistry *r, CvMgrCvm *cvm);
/* Drops the CVM (its port, channel and timer) after a last event of kind "deleted" or "removed". */
void cv_mgr_registry_remove(CvMgrRegistry *r, CvMgrCvm *cvm, const char *kind, const char *message);
/* CV_ERROR_CONFLICT while a job owns the CVM (cv_mgr_cvm_busy). */
gboolean cv_mgr_registry_check_idle(CvMgrCvm *cvm, GError **error);

/* host-table.c */
void cv_mgr_hosts_init(CvMgrRegistry *r);
void cv_mgr_hosts_free(CvMgrRegistry *r);
/* The host the new CVM goes to: spec->host's, or the least loaded that is up and can run the spec's
 * platform; *reason (owned) says why. CV_ERROR_INVALID for an unknown host or a platform it cannot
 * run, CV_ERROR_UNAVAILABLE when no host is up. */
CvMgrHost *cv_mgr_hosts_place(CvMgrRegistry *r, const CvCvmSpec *spec, char **reason, GError **error);
/* The agent's address as the operator reaches it: a wildcard bind address on a remote host is that
 * host's name. */
char *cv_mgr_host_agent_address(CvMgrHost *h, const char *bind);

/* host-caps.c. In the connect's worker: the domain capabilities and the free memory, d's domain type
 * and machine applied (a copy: d is not read elsewhere from that thread). */
CvMgrHostCaps *cv_mgr_host_caps_read(virConnectPtr conn, const char *domain_type, gboolean domain_type_auto,
                                     const char *machine);
void cv_mgr_host_caps_free(CvMgrHostCaps *caps);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvMgrHostCaps, cv_mgr_host_caps_free)
/* the probe's round trip: the free memory (guint64 *), or the libvirt version where it is not known */
gpointer cv_mgr_host_probe_work(virConnectPtr conn, gpointer data, GError **error);

/* libvirt-conn.c */
/* CV_ERROR_UNAVAILABLE while the host has no connection. */
gboolean cv_mgr_host_check_conn(CvMgrHost *h, GError **error);
/* The calling thread's last libvirt error as a CV_ERROR. */
void cv_mgr_libvirt_error(GError **error, virConnectPtr conn, const char *what);
/* The last libvirt error's text, for logs. */
const char *cv_mgr_libvirt_message(void);
void cv_mgr_conn_init(CvMgrHost *h);
void cv_mgr_conn_drop(CvMgrHost *h);
/* A libvirt call off the main loop: func runs in a worker thread with its own reference on the
 * connection (and must touch nothing of the registry); cb gets, in the main loop, its result, or
 * CV_ERROR_UNAVAILABLE once MANAGER_LIBVIRT_TIMEOUT passes without an answer (the call goes on in
 * its thread and its result is dropped) — then libvirt counts as not answering until a call does.
 * Needs a connection (cv_mgr_host_check_conn). */
typedef gpointer (*CvMgrLibvirtFunc)(virConnectPtr conn, gpointer data, GError **error);
void cv_mgr_libvirt_call(CvMgrHost *h, CvMgrLibvirtFunc func, gpointer data, GDestroyNotify data_free,
                         GDestroyNotify result_free, GAsyncReadyCallback cb, gpointer user_data);
gpointer cv_mgr_libvirt_call_finish(GAsyncResult *res, GError **error);
/* What a worker's call needs of a domain: the handle the main loop had (a reference of its own), or
 * the name it looks up; xml (owned) is what to write. */
typedef struct {
    virDomainPtr dom;
    char *name;
    char *xml;
} CvMgrDomainRef;
CvMgrDomainRef *cv_mgr_domain_ref_new(virDomainPtr dom, const char *name, char *xml);
void cv_mgr_domain_ref_free(gpointer p);
/* in the worker: the handle (borrowed), looked up the first time when none was given */
virDomainPtr cv_mgr_domain_ref_get(CvMgrDomainRef *d, virConnectPtr conn, GError **error);

/* domain-sync.c */
CvMgrState cv_mgr_state_from_libvirt(virDomainPtr dom, CvMgrState fallback);
/* Writes the record into the domain (dom NULL: looked up by name), best effort, in a worker. */
void cv_mgr_sync_persist(CvMgrRegistry *r, CvMgrCvm *cvm, virDomainPtr dom);
void cv_mgr_sync_set_state(CvMgrRegistry *r, CvMgrCvm *cvm, CvMgrState state, virDomainPtr dom,
                           const char *event, const char *detail);
/* Re-reads every domain of the host: states, adoptions, CVMs whose domain is gone. */
void cv_mgr_sync_resync(CvMgrHost *h);
int cv_mgr_sync_lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque);

/* cvm-jobs.c: one helper runs both jobs. work() runs in a worker thread with the job's own
 * connection reference and must not touch the registry; done() runs in the main loop, gets the
 * work's error (NULL on success; owned) and completes job->task. */
typedef struct _CvMgrJob CvMgrJob;
struct _CvMgrJob {
    CvMgrRegistry *r;
    GTask *task;                /* the caller's */
    CvMgrHost *host;
    virConnectPtr conn;
    char *id;
    char *name;
    const char *kind;           /* "create", "delete": for the log */
    gboolean (*work)(CvMgrJob *job, GError **error);
    void (*done)(CvMgrJob *job, GError *error);
    /* create */
    gint64 start_us;            /* when the request came: covirt_cvm_create_duration_seconds */
    char *xml;
    char *metadata_running;     /* the record as it is once the domain runs */
    CvMgrState state;           /* after start */
    gboolean persisted;         /* the worker wrote metadata_running */
    char *channel_path;         /* of the running domain; NULL: it has no socket */
    /* create: where the CVM was placed and why; delete: why it goes */
    char *reason;
    char *log_dir;
    GPtrArray *files;
    CvMgrState prev;
};
CvMgrJob *cv_mgr_job_new(CvMgrRegistry *r, GTask *task, const CvMgrCvm *cvm);
void cv_mgr_job_run(CvMgrJob *job);
/* Completes task with error (owned) and drops the caller's task. */
void cv_mgr_task_fail(GTask *task, GError *error);
int cv_mgr_undefine(virDomainPtr dom);
/* Removes the files the manager created for a CVM: only under log_dir. */
void cv_mgr_remove_files(const char *log_dir, GPtrArray *files);
void cv_mgr_jobs_delete(CvMgrRegistry *r, const char *id_or_name, const char *reason, GAsyncReadyCallback cb,
                        gpointer data);

/* event-bus.c */
void cv_mgr_events_init(CvMgrRegistry *r);
void cv_mgr_events_emit(CvMgrRegistry *r, CvMgrCvm *cvm, const char *kind, JsonObject *data, gboolean last);
void cv_mgr_events_lifecycle(CvMgrRegistry *r, CvMgrCvm *cvm, const char *event, const char *detail);

/* ttl.c */
void cv_mgr_ttl_init(CvMgrRegistry *r);
void cv_mgr_ttl_arm(CvMgrRegistry *r, CvMgrCvm *cvm);
void cv_mgr_ttl_disarm(CvMgrRegistry *r, const char *id);

/* channel-table.c */
void cv_mgr_channels_init(CvMgrRegistry *r);
/* Records that the running CVM's channel was looked for, and opens it when path is a socket. */
void cv_mgr_channels_open(CvMgrRegistry *r, CvMgrCvm *cvm, const char *path);
void cv_mgr_channels_close(CvMgrRegistry *r, CvMgrCvm *cvm);
/* A running CVM has its channel open (dom NULL: looked up by name; the live XML read in a worker,
 * the channel opened when it answers); any other has none. */
void cv_mgr_channels_sync(CvMgrRegistry *r, CvMgrCvm *cvm, virDomainPtr dom);
/* The host's connection went away: each of its channels is looked for again once it is back. */
void cv_mgr_channels_close_all(CvMgrHost *h);

/* cvm-info.c */
void cv_mgr_info_init(CvMgrRegistry *r);

G_END_DECLS
