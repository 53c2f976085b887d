/* The CVM registry: one libvirt connection per host (MANAGER_LIBVIRT_URI) whose events arrive in
 * the GLib main loop (gvir_event_register), the CVMs known from their domains' <metadata>, host ports, TTL
 * timers, control channels and each CVM's event stream. Everything here runs in the main loop;
 * libvirt calls that can take long (define + start, destroy + undefine, connect) run in worker
 * threads. Its parts, one file each, are listed in registry-priv.h. */
#pragma once
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include "cv-error.h"
#include "cvm-record.h"
#include "manager-config.h"
#include "metrics.h"

G_BEGIN_DECLS

typedef struct _CvMgrRegistry CvMgrRegistry;

/* config and metrics are borrowed and must outlive the registry. gvir_event_register() must
 * have been called before. */
CvMgrRegistry *cv_mgr_registry_new(const CvMgrConfig *config, CvMgrMetrics *metrics);
void cv_mgr_registry_free(CvMgrRegistry *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvMgrRegistry, cv_mgr_registry_free)

/* Opens each host's connection in the background, adopts the CVMs found, and keeps reconnecting
 * (with backoff) whenever a host's libvirt goes away. */
void cv_mgr_registry_start(CvMgrRegistry *r);
/* some host is connected, and its last libvirt call answered within MANAGER_LIBVIRT_TIMEOUT */
gboolean cv_mgr_registry_connected(CvMgrRegistry *r);
/* every host is */
gboolean cv_mgr_registry_all_connected(CvMgrRegistry *r);
/* some host holds a connection that does not answer (closing it could wait) */
gboolean cv_mgr_registry_hung(CvMgrRegistry *r);
/* of the first host: "9.0.0" or NULL when not connected */
char *cv_mgr_registry_libvirt_version(CvMgrRegistry *r);
/* the first host's URI */
const char *cv_mgr_registry_uri(CvMgrRegistry *r);
/* GET /v1/hosts: {"hosts":[{uri,state,cvms,free_memory,platforms,libvirt_version,...}]} */
JsonNode *cv_mgr_registry_hosts_json(CvMgrRegistry *r);
/* the per-host lines of GET /metrics (Prometheus text) */
char *cv_mgr_registry_hosts_metrics(CvMgrRegistry *r);

/* POST /v1/cvms: body is the JSON spec. The result is the new CVM's JSON view. */
void cv_mgr_registry_create_async(CvMgrRegistry *r, GBytes *body, GAsyncReadyCallback cb, gpointer data);
JsonNode *cv_mgr_registry_create_finish(CvMgrRegistry *r, GAsyncResult *res, GError **error);
/* DELETE: destroy, undefine (NVRAM, TPM state), remove the files created for it. */
void cv_mgr_registry_delete_async(CvMgrRegistry *r, const char *id_or_name, GAsyncReadyCallback cb, gpointer data);
gboolean cv_mgr_registry_delete_finish(CvMgrRegistry *r, GAsyncResult *res, GError **error);

/* id (uuid) or name; NULL + CV_ERROR_NOT_FOUND */
CvMgrCvm *cv_mgr_registry_lookup(CvMgrRegistry *r, const char *id_or_name, GError **error);
/* CVMs sorted by creation time (borrowed pointers) */
GPtrArray *cv_mgr_registry_list(CvMgrRegistry *r);
guint cv_mgr_registry_count(CvMgrRegistry *r);
void cv_mgr_registry_count_states(CvMgrRegistry *r, guint counts[CV_MGR_STATE_COUNT]);

/* The live XML of the CVM's domain, read in a worker: CV_ERROR_UNAVAILABLE when libvirt does not
 * answer within MANAGER_LIBVIRT_TIMEOUT. */
void cv_mgr_registry_live_xml_async(CvMgrRegistry *r, const char *id_or_name, GAsyncReadyCallback cb,
                                    gpointer data);
char *cv_mgr_registry_live_xml_finish(CvMgrRegistry *r, GAsyncResult *res, GError **error);
/* From that XML, for the CVM with this id (gone meanwhile: CV_ERROR_NOT_FOUND):
 * the seed's CVMInfo: ovmf_version, cpu_num, cpu_type, kernel_cmd, eos_version (= HAL) */
JsonNode *cv_mgr_registry_info(CvMgrRegistry *r, const char *id, const char *xml, GError **error);
/* the vtpm attestation policy of the CVM's boot (src/attest): expected event log digests
 * of its kernel, initrd and command line as libvirt holds them. */
JsonNode *cv_mgr_registry_attestation_policy(CvMgrRegistry *r, const char *id, const char *xml, GError **error);

/* POST /v1/cvms/{id}/computation/stop and …/reset: sent to the CVM's agent over its control channel
 * (CV_ERROR_CONFLICT when the CVM does not run or its computation's state refuses it, as far as the
 * manager knows it; CV_ERROR_UNAVAILABLE while the agent is not connected). A reset's manifest (NULL:
 * the one the agent had) also becomes the spec's computation. */
gboolean cv_mgr_registry_computation_stop(CvMgrRegistry *r, const char *id, const char *reason, GError **error);
gboolean cv_mgr_registry_computation_reset(CvMgrRegistry *r, const char *id, const char *reason, JsonNode *manifest,
                                           GError **error);

/* Event streams. The callback gets every new event of the CVM; after the last one
 * (kind "deleted" or "removed") the subscription ends by itself. */
typedef void (*CvMgrEventFunc)(const char *cvm_id, const CvMgrEvent *ev, gboolean last, gpointer data);
guint cv_mgr_registry_subscribe(CvMgrRegistry *r, const char *id, CvMgrEventFunc func, gpointer data);
void cv_mgr_registry_unsubscribe(CvMgrRegistry *r, guint token);

/* TRUE while a connection attempt runs in a worker thread (the registry must not be freed). */
gboolean cv_mgr_registry_connecting(CvMgrRegistry *r);
/* Stops reconnecting (at shutdown). */
void cv_mgr_registry_stop(CvMgrRegistry *r);

/* In-flight worker jobs (creates, deletes) and bounded libvirt calls; the daemon waits for 0 before
 * exiting. */
guint cv_mgr_registry_jobs(CvMgrRegistry *r);
/* "create of NAME (ID), delete of …": what a shutdown past its bound abandons */
char *cv_mgr_registry_jobs_describe(CvMgrRegistry *r);

G_END_DECLS
