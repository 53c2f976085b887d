/* covirt-manager's settings, from MANAGER_* variables (docs/manager.md lists them). */
#pragma once
#include <glib.h>
#include "cv-error.h"
#include "cvm-spec.h"

G_BEGIN_DECLS

typedef struct {
    CvDefaults *defaults;      /* spec defaults, libvirt URI, host port range */
    char **libvirt_uris;       /* MANAGER_LIBVIRT_URI split at spaces: one host each, the first the default */
    guint max_vms;             /* MANAGER_MAX_VMS, 10 */
    char *http_host;           /* MANAGER_HTTP_HOST, 127.0.0.1 */
    guint http_port;           /* MANAGER_HTTP_PORT, 7003; 0 = any free port */
    char *server_cert;         /* MANAGER_HTTP_SERVER_CERT */
    char *server_key;          /* MANAGER_HTTP_SERVER_KEY */
    char *client_ca_certs;     /* MANAGER_HTTP_CLIENT_CA_CERTS: client certificates required */
    gsize max_body;            /* MANAGER_HTTP_MAX_BODY, 1M */
    char *token_file;          /* MANAGER_HTTP_TOKEN_FILE: bearer tokens, one a line */
    char **allowed_hosts;      /* MANAGER_HTTP_ALLOWED_HOSTS (','-separated); NULL: MANAGER_HTTP_HOST, and
                                * the loopback names when it listens on loopback */
    guint max_conns;           /* MANAGER_HTTP_MAX_CONNECTIONS, 512 */
    guint max_conns_per_client; /* MANAGER_HTTP_MAX_CONNECTIONS_PER_CLIENT, 64 */
    guint idle_timeout_s;      /* MANAGER_HTTP_IDLE_TIMEOUT, 60 s: waiting for a request's headers */
    guint body_timeout_s;      /* MANAGER_HTTP_BODY_TIMEOUT, 30 s: a request's body, once its headers came */
    gsize stream_queue_max;    /* MANAGER_HTTP_STREAM_QUEUE, 1M: unsent bytes of one event stream */
    char *log_dir;             /* MANAGER_LOG_DIR, /var/log/covirt: serial logs of debug CVMs */
    char *template_dir;        /* MANAGER_TEMPLATE_DIR, NULL = the renderer's default */
    char *hal_version;         /* MANAGER_HAL_VERSION (the seed's EOS version); NULL: the hal-version
                                * file beside the initrd (hal/build-image.sh writes it), else "unknown" */
    char *ovmf_version;        /* MANAGER_OVMF_VERSION, else looked up in dpkg's database */
    char *log_level;           /* MANAGER_LOG_LEVEL */
    guint reconnect_max_s;     /* MANAGER_LIBVIRT_RECONNECT_MAX, 30 s */
    guint libvirt_timeout_s;   /* MANAGER_LIBVIRT_TIMEOUT, 10 s: a request's libvirt calls, then 503 */
    char **vtpm_ek_ca;         /* MANAGER_VTPM_EK_CA: PEM files the vTPMs' EK certificates chain to
                                * (':'-separated), default swtpm's local CA that libvirt's swtpm_setup uses */
} CvMgrConfig;

/* envp: NULL for the process environment */
CvMgrConfig *cv_mgr_config_new(const char *const *envp, GError **error);
void cv_mgr_config_free(CvMgrConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvMgrConfig, cv_mgr_config_free)

G_END_DECLS
