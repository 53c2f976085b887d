/* One CVM as the manager knows it. Its durable part is written into the domain's <metadata>
 * (one element in CV_XML_NAMESPACE) so that libvirt, not the manager, holds the truth. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "cv-error.h"
#include "cv-enum.h"
#include "cvm-spec.h"

G_BEGIN_DECLS

typedef enum {
    CV_MGR_STATE_CREATING,
    CV_MGR_STATE_RUNNING,
    CV_MGR_STATE_PAUSED,
    CV_MGR_STATE_SHUTDOWN,   /* the guest is shutting down */
    CV_MGR_STATE_STOPPED,
    CV_MGR_STATE_CRASHED,
    CV_MGR_STATE_DELETING,
    CV_MGR_STATE_COUNT,
} CvMgrState;

CV_ENUM_DECL(cv_mgr_state, CvMgrState);

/* Events kept per CVM for clients that connect late. */
#define CV_MGR_EVENT_HISTORY 64

/* One allocation, as every CVM keeps a history of them: the kind, then after its NUL the
 * event's own members as JSON text without braces (cv_mgr_event_members()). The envelope
 * (seq, time, cvm, kind) is not stored: cv_mgr_event_to_json() writes it when the event is
 * sent, which keeps a lifecycle event at ~70 bytes instead of ~180. */
typedef struct _CvMgrEvent CvMgrEvent;
struct _CvMgrEvent {
    CvMgrEvent *next;  /* the CVM's history, oldest first */
    guint64 seq;
    gint64 time;       /* unix seconds */
    char kind[];       /* "lifecycle", "agent", "log", ... */
};

void cv_mgr_event_free(CvMgrEvent *ev);
const char *cv_mgr_event_members(const CvMgrEvent *ev);
/* The event as one JSON object: {"seq","time","cvm","kind", then its own members}. */
char *cv_mgr_event_to_json(const CvMgrEvent *ev, const char *cvm_id);

/* The host a CVM's domain is on, as the CVM's JSON shows it; the registry's host object starts
 * with it (registry-priv.h). */
typedef struct {
    char *uri;             /* as configured in MANAGER_LIBVIRT_URI */
    gboolean down;         /* its connection is lost: its CVMs show their last known state */
} CvMgrHostView;

typedef struct {
    /* durable: in the domain's metadata */
    char *id;              /* uuid */
    char *name;            /* the libvirt domain name */
    CvPlatform platform;
    CvMgrState state;
    gint64 created_at;     /* unix seconds */
    gint64 expires_at;     /* unix seconds, 0 = no TTL */
    guint host_port;
    char *agent_host;
    char *hal_version;
    char *spec_json;       /* the spec as applied, every default filled in */
    GPtrArray *files;      /* host files the manager created for it (removed on delete) */

    /* runtime only */
    const CvMgrHostView *host;  /* where the domain is (the domain's libvirt, not its metadata, says so) */
    CvMgrEvent *events;    /* oldest first, at most CV_MGR_EVENT_HISTORY */
    CvMgrEvent *last_event;
    guint n_events;
    guint64 next_seq;
    gboolean channel_checked;  /* running and its control channel looked for (channel-table.c holds one found) */
    /* the computation as its agent last reported it (State frames); NULL while no agent reported */
    char *agent_state;
    char *agent_error;
    gboolean result_available;
} CvMgrCvm;

CvMgrCvm *cv_mgr_cvm_new(void);
void cv_mgr_cvm_free(CvMgrCvm *cvm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvMgrCvm, cv_mgr_cvm_free)

/* TRUE while a create or delete job owns the CVM: libvirt's events and state are the job's to
 * record then, and no other job may start. */
gboolean cv_mgr_cvm_busy(const CvMgrCvm *cvm);

/* The <covirt:cvm> element (the domain name is not part of it: libvirt holds it). with_ns:
 * declare the namespace (for the renderer); virDomainSetMetadata wants the element without
 * it and adds it itself. */
char *cv_mgr_cvm_to_metadata(const CvMgrCvm *cvm, gboolean with_ns);
/* Parses what cv_mgr_cvm_to_metadata wrote; the text comes from libvirt, which anyone with
 * libvirt access can change, so every field is checked. */
CvMgrCvm *cv_mgr_cvm_from_metadata(const char *xml, const char *domain_name, GError **error);

/* The API view: {id,name,platform,state,host[,host_down],agent:{host,port},computation:{state,error,
 * result_available},created_at,expires_at[,spec,hal_version]} */
JsonNode *cv_mgr_cvm_to_json(const CvMgrCvm *cvm, gboolean with_spec);

/* Appends to the history (dropping the oldest past CV_MGR_EVENT_HISTORY); data is a JSON
 * object whose members are added to the event. Returns the event (owned by the CVM). */
const CvMgrEvent *cv_mgr_cvm_add_event(CvMgrCvm *cvm, const char *kind, JsonObject *data);

G_END_DECLS
