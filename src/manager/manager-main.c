/* covirt-manager: the daemon an operator runs. One GLib main loop carries libvirt's events
 * (libvirt-glib), the HTTP API (libsoup) and the TTL timers. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <locale.h>
#include <dlfcn.h>
#include <glib-unix.h>
#include <libvirt-glib/libvirt-glib.h>
#include "cv-log.h"
#include "http-api.h"
#include "registry.h"

#define SHUTDOWN_TIMEOUT_S 30

typedef struct {
    GMainLoop *loop;
    CvMgrHttpApi *api;
    CvMgrRegistry *registry;
    gint64 deadline;
    guint drain_source;
    gboolean abandoned;         /* the deadline passed with work unfinished */
    guint ready_source;
} Daemon;

/* systemd's Type=notify: ready once libvirt answered the first time (the registry connects in a worker) */
static gboolean
notify_ready(gpointer data)
{
    Daemon *d = data;

    if (!cv_mgr_registry_connected(d->registry))
        return G_SOURCE_CONTINUE;
    cv_log_notify("READY=1");
    d->ready_source = 0;
    return G_SOURCE_REMOVE;
}

static gboolean
drain(gpointer data)
{
    Daemon *d = data;
    guint requests = cv_mgr_http_api_in_flight(d->api), jobs = cv_mgr_registry_jobs(d->registry);

    if (requests + jobs > 0 && g_get_monotonic_time() <= d->deadline)
        return G_SOURCE_CONTINUE;
    if (requests + jobs > 0) {
        g_autofree char *what = cv_mgr_registry_jobs_describe(d->registry);

        /* a job waits on libvirt in its thread: libvirt finishes or drops it, and the record
         * in the domain's metadata says how far it got (adopted at the next start) */
        g_warning("stopping after %d s with work unfinished, abandoning %u requests in flight and %u libvirt "
                  "jobs%s%s", SHUTDOWN_TIMEOUT_S, requests, jobs, jobs ? ": " : "", what);
        d->abandoned = TRUE;
    }
    d->drain_source = 0;
    g_main_loop_quit(d->loop);
    return G_SOURCE_REMOVE;
}

static gboolean
on_signal(gpointer data)
{
    Daemon *d = data;

    if (d->drain_source)
        return G_SOURCE_CONTINUE;
    /* stop listening, let the requests in flight finish; the CVMs are libvirt's and stay */
    g_info("stopping: no new connections, finishing %u requests in flight", cv_mgr_http_api_in_flight(d->api));
    cv_log_notify("STOPPING=1");
    cv_mgr_http_api_stop(d->api);
    cv_mgr_registry_stop(d->registry);
    d->deadline = g_get_monotonic_time() + SHUTDOWN_TIMEOUT_S * G_USEC_PER_SEC;
    d->drain_source = g_timeout_add(50, drain, d);
    return G_SOURCE_CONTINUE;
}

/* libvirt's first connection runs curl_global_init() → libssh2_init(0), which initialises OpenSSL:
 * ~1.4 MiB of libcrypto pages that nothing here uses; OpenSSL 3 initialises itself on first use. */
static void
skip_libssh2_crypto_init(void)
{
    /* looked up: libssh2 comes with libcurl, if at all, and has no headers here */
    int (*libssh2_init)(int flags) = (int (*)(int))dlsym(RTLD_DEFAULT, "libssh2_init");

    if (libssh2_init)
        libssh2_init(0x1 /* LIBSSH2_INIT_NO_CRYPTO */);
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CvMgrConfig) config = NULL;
    g_auto(CvMgrMetrics) metrics = { 0 };
    Daemon d = { 0 };
    guint sig_term, sig_int;

    setlocale(LC_ALL, "");
    if (argc > 1) {
        if (g_strcmp0(argv[1], "--version") == 0) {
            printf("covirt-manager %s\n", COVIRT_VERSION);
            return 0;
        }
        fprintf(argc > 1 && g_strcmp0(argv[1], "--help") == 0 ? stdout : stderr,
                "Usage: covirt-manager\n\nConfigured through MANAGER_* environment variables (docs/manager.md).\n"
                "Logs \"listening on URL\" once the API is served, and prints it on stdout when\n"
                "stdout is not where the log goes.\n");
        return g_strcmp0(argv[1], "--help") == 0 ? 0 : 2;
    }
    skip_libssh2_crypto_init();
    /* glib-networking's GnuTLS backend reads this once: the API's TLS is 1.2 at least, so an old
     * client fails in the handshake (http-listener.c also checks what was negotiated) */
    g_setenv("G_TLS_GNUTLS_PRIORITY", "NORMAL:%COMPAT:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1", FALSE);
    if (!cv_log_init("covirt-manager", g_getenv("MANAGER_LOG_LEVEL"), &error)) {
        g_critical("configuration: MANAGER_LOG_LEVEL: %s", error->message);
        return 2;
    }
    config = cv_mgr_config_new(NULL, &error);
    if (!config) {
        g_critical("configuration: %s", error->message);
        return 2;
    }
    /* before any connection: libvirt's events then run in this main loop */
    gvir_event_register();
    cv_mgr_metrics_init(&metrics);
    d.loop = g_main_loop_new(NULL, FALSE);
    d.registry = cv_mgr_registry_new(config, &metrics);
    d.api = cv_mgr_http_api_new(d.registry, &metrics, config, &error);
    if (!d.api || !cv_mgr_http_api_listen(d.api, &error)) {
        g_critical("%s", error->message);
        cv_mgr_registry_free(d.registry);
        g_main_loop_unref(d.loop);
        return 1;
    }
    cv_mgr_registry_start(d.registry);
    sig_term = g_unix_signal_add(SIGTERM, on_signal, &d);
    sig_int = g_unix_signal_add(SIGINT, on_signal, &d);
    g_info("listening on %s (libvirt %s, at most %u CVMs)", cv_mgr_http_api_url(d.api),
           config->defaults->libvirt_uri, config->max_vms);
    /* for a parent reading stdout; not again where the log line above already went */
    if (!cv_log_goes_to(STDOUT_FILENO)) {
        printf("listening on %s\n", cv_mgr_http_api_url(d.api));
        fflush(stdout);
    }
    d.ready_source = g_timeout_add(100, notify_ready, &d);
    g_main_loop_run(d.loop);
    g_source_remove(sig_term);
    g_source_remove(sig_int);
    if (d.ready_source)
        g_source_remove(d.ready_source);
    /* threads still wait on libvirt, or closing the connection would: exit without them */
    if (d.abandoned || cv_mgr_registry_hung(d.registry)) {
        g_info("stopped%s", d.abandoned ? " (work abandoned)" : "; libvirt does not answer, its connection left");
        fflush(stdout);
        fflush(stderr);
        _exit(d.abandoned ? EXIT_FAILURE : EXIT_SUCCESS);
    }
    g_info("stopped");
    cv_mgr_http_api_free(d.api);
    /* a connection attempt still running in a worker holds the registry: leave it to exit() */
    if (!cv_mgr_registry_connecting(d.registry))
        cv_mgr_registry_free(d.registry);
    g_main_loop_unref(d.loop);
    return 0;
}
