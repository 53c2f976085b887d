/* The manager's HTTP/JSON API (docs/openapi.yaml), served by libsoup-3 on connections that
 * http-listener.c accepts itself (bounded, timed out, surviving EMFILE), so that at shutdown it can
 * stop listening while the requests in flight finish. */
#pragma once
#include <glib.h>
#include "manager-config.h"
#include "metrics.h"
#include "registry.h"

G_BEGIN_DECLS

typedef struct _CvMgrHttpApi CvMgrHttpApi;

CvMgrHttpApi *cv_mgr_http_api_new(CvMgrRegistry *registry, CvMgrMetrics *metrics, const CvMgrConfig *config,
                                  GError **error);
void cv_mgr_http_api_free(CvMgrHttpApi *api);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvMgrHttpApi, cv_mgr_http_api_free)

/* Binds MANAGER_HTTP_HOST:MANAGER_HTTP_PORT (port 0: any free port); refuses an address that is not
 * loopback when neither tokens nor client certificates are configured. */
gboolean cv_mgr_http_api_listen(CvMgrHttpApi *api, GError **error);
const char *cv_mgr_http_api_url(CvMgrHttpApi *api);

/* Shutdown: closes the listening socket and ends every event stream; requests being
 * served go on until cv_mgr_http_api_in_flight() is 0. */
void cv_mgr_http_api_stop(CvMgrHttpApi *api);
guint cv_mgr_http_api_in_flight(CvMgrHttpApi *api);

G_END_DECLS
