/* Host ports for the agents' forwarded port, from MANAGER_QEMU_HOST_FWD_RANGE. The pool is used
 * from the main loop only, so a port handed out is never handed out again before release. */
#pragma once
#include <glib.h>
#include "cv-error.h"

G_BEGIN_DECLS

typedef struct _CvMgrPortPool CvMgrPortPool;

CvMgrPortPool *cv_mgr_port_pool_new(guint min, guint max);
void cv_mgr_port_pool_free(CvMgrPortPool *pool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvMgrPortPool, cv_mgr_port_pool_free)

/* A free port of the range that also nothing else on the host has bound on bind_address. */
guint cv_mgr_port_pool_allocate(CvMgrPortPool *pool, const char *bind_address, GError **error);
/* A port asked for explicitly (a spec's host_port) or recorded by an adopted CVM. */
gboolean cv_mgr_port_pool_reserve(CvMgrPortPool *pool, guint port, GError **error);
void cv_mgr_port_pool_release(CvMgrPortPool *pool, guint port);
gboolean cv_mgr_port_pool_in_use(CvMgrPortPool *pool, guint port);
/* TRUE when a TCP socket can be bound to address:port right now. */
gboolean cv_mgr_port_is_free(const char *bind_address, guint port);

G_END_DECLS
