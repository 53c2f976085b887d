#include "manager-config.h"
#include "cv-util.h"
#include "domain-render.h"

static const char *
env_get(const char *const *envp, const char *name)
{
    const char *v = envp ? g_environ_getenv((char **)envp, name) : g_getenv(name);

    return v && *v ? v : NULL;
}

static gboolean
env_size(const char *const *envp, const char *name, guint64 max, guint64 def, gsize *out, GError **error)
{
    const char *v = env_get(envp, name);
    g_autoptr(GError) local = NULL;
    guint64 bytes;

    if (!v) {
        *out = def;
        return TRUE;
    }
    if (!cv_parse_size(v, &bytes, &local) || bytes == 0 || bytes > max) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: %s", name,
                    local ? local->message : "out of range");
        return FALSE;
    }
    *out = bytes;
    return TRUE;
}

static gboolean
env_uint(const char *const *envp, const char *name, guint64 min, guint64 max, guint64 def,
         guint64 *out, GError **error)
{
    const char *v = env_get(envp, name);
    g_autoptr(GError) local = NULL;

    if (!v) {
        *out = def;
        return TRUE;
    }
    if (!cv_parse_uint(v, min, max, out, &local)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: %s", name, local->message);
        return FALSE;
    }
    return TRUE;
}

static gboolean
http_limits(CvMgrConfig *c, const char *const *envp, GError **error)
{
    guint64 v;

    if (!env_uint(envp, "MANAGER_HTTP_MAX_CONNECTIONS", 1, 1000000, 512, &v, error))
        return FALSE;
    c->max_conns = (guint)v;
    if (!env_uint(envp, "MANAGER_HTTP_MAX_CONNECTIONS_PER_CLIENT", 1, 1000000, 64, &v, error))
        return FALSE;
    c->max_conns_per_client = (guint)v;
    if (!env_uint(envp, "MANAGER_HTTP_IDLE_TIMEOUT", 1, 86400, 60, &v, error))
        return FALSE;
    c->idle_timeout_s = (guint)v;
    if (!env_uint(envp, "MANAGER_HTTP_BODY_TIMEOUT", 1, 86400, 30, &v, error))
        return FALSE;
    c->body_timeout_s = (guint)v;
    return TRUE;
}

/* one host per URI; the same URI twice would be one host with two connections */
static gboolean
libvirt_uris(CvMgrConfig *c, GError **error)
{
    g_auto(GStrv) parts = g_strsplit_set(c->defaults->libvirt_uri, " \t\n", -1);
    g_autoptr(GPtrArray) uris = g_ptr_array_new_with_free_func(g_free);

    for (char **p = parts; *p; p++) {
        guint dup;

        if (!**p)
            continue;
        if (g_ptr_array_find_with_equal_func(uris, *p, g_str_equal, &dup)) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_LIBVIRT_URI: '%s' is listed twice", *p);
            return FALSE;
        }
        g_ptr_array_add(uris, g_strdup(*p));
    }
    if (!uris->len) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_LIBVIRT_URI: no URI");
        return FALSE;
    }
    g_ptr_array_add(uris, NULL);
    c->libvirt_uris = (char **)g_ptr_array_steal(uris, NULL);
    return TRUE;
}

/* without templates every create fails: an installed manager whose data dir is missing says so at start */
static gboolean
templates_present(const char *configured, GError **error)
{
    const char *dir = configured ? configured : cv_domain_template_dir();
    g_autofree char *vtpm = g_build_filename(dir, "vtpm.xml", NULL);

    if (g_file_test(vtpm, G_FILE_TEST_IS_REGULAR))
        return TRUE;
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: no domain templates in %s (vtpm.xml is missing)",
                configured ? "MANAGER_TEMPLATE_DIR" : "COVIRT_TEMPLATE_DIR or the installed data", dir);
    return FALSE;
}

CvMgrConfig *
cv_mgr_config_new(const char *const *envp, GError **error)
{
    g_autoptr(CvMgrConfig) c = g_new0(CvMgrConfig, 1);
    guint64 v;
    const char *s;

    c->defaults = cv_defaults_new(envp, NULL, error);
    if (!c->defaults || !libvirt_uris(c, error))
        return NULL;
    if (!env_uint(envp, "MANAGER_MAX_VMS", 1, 100000, 10, &v, error))
        return NULL;
    c->max_vms = (guint)v;
    if (!env_uint(envp, "MANAGER_HTTP_PORT", 0, 65535, 7003, &v, error))
        return NULL;
    c->http_port = (guint)v;
    if (!env_uint(envp, "MANAGER_LIBVIRT_RECONNECT_MAX", 1, 3600, 30, &v, error))
        return NULL;
    c->reconnect_max_s = (guint)v;
    if (!env_uint(envp, "MANAGER_LIBVIRT_TIMEOUT", 1, 300, 10, &v, error))
        return NULL;
    c->libvirt_timeout_s = (guint)v;
    if (!env_size(envp, "MANAGER_HTTP_MAX_BODY", 64 * 1024 * 1024, 1024 * 1024, &c->max_body, error) ||
        !env_size(envp, "MANAGER_HTTP_STREAM_QUEUE", 64 * 1024 * 1024, 1024 * 1024, &c->stream_queue_max, error))
        return NULL;
    if (!http_limits(c, envp, error))
        return NULL;
    c->http_host = g_strdup((s = env_get(envp, "MANAGER_HTTP_HOST")) ? s : "127.0.0.1");
    c->server_cert = g_strdup(env_get(envp, "MANAGER_HTTP_SERVER_CERT"));
    c->server_key = g_strdup(env_get(envp, "MANAGER_HTTP_SERVER_KEY"));
    c->client_ca_certs = g_strdup(env_get(envp, "MANAGER_HTTP_CLIENT_CA_CERTS"));
    c->token_file = g_strdup(env_get(envp, "MANAGER_HTTP_TOKEN_FILE"));
    if ((s = env_get(envp, "MANAGER_HTTP_ALLOWED_HOSTS"))) {
        c->allowed_hosts = g_strsplit(s, ",", -1);
        for (char **h = c->allowed_hosts; *h; h++)
            g_strstrip(*h);
    }
    if (!c->server_cert != !c->server_key) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "MANAGER_HTTP_SERVER_CERT and MANAGER_HTTP_SERVER_KEY go together");
        return NULL;
    }
    if (c->client_ca_certs && !c->server_cert) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "MANAGER_HTTP_CLIENT_CA_CERTS needs TLS (MANAGER_HTTP_SERVER_CERT and _KEY)");
        return NULL;
    }
    c->log_dir = g_strdup((s = env_get(envp, "MANAGER_LOG_DIR")) ? s : "/var/log/covirt");
    c->template_dir = g_strdup(env_get(envp, "MANAGER_TEMPLATE_DIR"));
    if (!templates_present(c->template_dir, error))
        return NULL;
    c->hal_version = g_strdup(env_get(envp, "MANAGER_HAL_VERSION"));
    c->ovmf_version = g_strdup(env_get(envp, "MANAGER_OVMF_VERSION"));
    c->log_level = g_strdup(env_get(envp, "MANAGER_LOG_LEVEL"));
    c->vtpm_ek_ca = g_strsplit((s = env_get(envp, "MANAGER_VTPM_EK_CA")) ? s :
                               "/var/lib/swtpm-localca/swtpm-localca-rootca-cert.pem:"
                               "/var/lib/swtpm-localca/issuercert.pem", ":", -1);
    for (char **f = c->vtpm_ek_ca; *f; f++) {
        if (!g_path_is_absolute(*f)) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_VTPM_EK_CA: '%s' is not an absolute path", *f);
            return NULL;
        }
    }
    return g_steal_pointer(&c);
}

void
cv_mgr_config_free(CvMgrConfig *c)
{
    if (!c)
        return;
    cv_defaults_free(c->defaults);
    g_strfreev(c->libvirt_uris);
    g_free(c->http_host);
    g_free(c->server_cert);
    g_free(c->server_key);
    g_free(c->client_ca_certs);
    g_free(c->token_file);
    g_strfreev(c->allowed_hosts);
    g_free(c->log_dir);
    g_free(c->template_dir);
    g_free(c->hal_version);
    g_free(c->ovmf_version);
    g_free(c->log_level);
    g_strfreev(c->vtpm_ek_ca);
    g_free(c);
}
