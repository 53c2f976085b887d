/* covirt-agent: the only service of a covirt CVM (docs/agent.md). Makes the HTTPS front (api.h) and
 * the core (agent.h) and wires them: the front's TLS key goes into the core, the core behind the front. */
#include "agent.h"
#include "api.h"
#include "cv-error.h"
#include "cv-log.h"
#include "cv-util.h"

#include <locale.h>
#include <signal.h>
#include <string.h>
#include <glib-unix.h>

typedef struct {
    char *work_dir, *control_port, *platform, *hal_file, *log_level, *manifest, *listen, *port_file, *tcti;
    char *dataset_ratio, *dataset_max;
    gint port;
    guint64 ratio, max_bytes;
} Options;

static void
options_clear(Options *o)
{
    g_free(o->work_dir);
    g_free(o->control_port);
    g_free(o->platform);
    g_free(o->hal_file);
    g_free(o->log_level);
    g_free(o->manifest);
    g_free(o->listen);
    g_free(o->port_file);
    g_free(o->tcti);
    g_free(o->dataset_ratio);
    g_free(o->dataset_max);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Options, options_clear)

/* An option not given on the command line falls back to its environment variable. */
static void
env_default(char **value, const char *env)
{
    if (!*value && g_getenv(env))
        *value = g_strdup(g_getenv(env));
}

/* The command line, then the environment; FALSE (the message printed) on a usage error. */
static gboolean
parse_options(Options *o, int *argc, char ***argv)
{
    GOptionEntry entries[] = {
        { "work-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->work_dir, "Working folder, tmpfs in the CVM (AGENT_WORK_DIR)", "DIR" },
        { "port", 0, 0, G_OPTION_ARG_INT, &o->port, "HTTPS port, 0 for any free one (AGENT_PORT, default 7002)", "PORT" },
        { "listen-address", 0, 0, G_OPTION_ARG_STRING, &o->listen, "Listen on this address only (AGENT_LISTEN_ADDRESS)", "IP" },
        { "control-port", 0, 0, G_OPTION_ARG_FILENAME, &o->control_port,
          "Control channel: virtio-serial port, character device or UNIX socket (AGENT_CONTROL_PORT)", "PATH" },
        { "platform", 0, 0, G_OPTION_ARG_STRING, &o->platform, "vtpm, sev-snp, tdx or none (AGENT_PLATFORM)", "NAME" },
        { "hal-version-file", 0, 0, G_OPTION_ARG_FILENAME, &o->hal_file, "File holding the HAL version (AGENT_HAL_VERSION_FILE)", "FILE" },
        { "tcti", 0, 0, G_OPTION_ARG_STRING, &o->tcti, "vtpm: TCTI of the TPM (AGENT_TCTI, default device:/dev/tpmrm0)", "CONF" },
        { "manifest", 0, 0, G_OPTION_ARG_FILENAME, &o->manifest, "Load this manifest at start (host testing)", "FILE" },
        { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &o->port_file, "Write the bound port here once listening", "FILE" },
        { "dataset-expansion", 0, 0, G_OPTION_ARG_STRING, &o->dataset_ratio,
          "A decompressed dataset may be this many times its upload (AGENT_DATASET_EXPANSION, default 100)", "RATIO" },
        { "dataset-max-size", 0, 0, G_OPTION_ARG_STRING, &o->dataset_max,
          "... and at most this size (AGENT_DATASET_MAX_SIZE, default 16G)", "SIZE" },
        { "log-level", 0, 0, G_OPTION_ARG_STRING, &o->log_level, "debug, info, warn, error (AGENT_LOG_LEVEL)", "LEVEL" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- covirt's in-CVM agent");
    g_autoptr(GError) error = NULL;

    o->port = -1;
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, argc, argv, &error)) {
        g_printerr("covirt-agent: %s\n", error->message);
        return FALSE;
    }
    env_default(&o->log_level, "AGENT_LOG_LEVEL");
    env_default(&o->work_dir, "AGENT_WORK_DIR");
    env_default(&o->control_port, "AGENT_CONTROL_PORT");
    env_default(&o->platform, "AGENT_PLATFORM");
    env_default(&o->hal_file, "AGENT_HAL_VERSION_FILE");
    env_default(&o->listen, "AGENT_LISTEN_ADDRESS");
    env_default(&o->tcti, "AGENT_TCTI");
    env_default(&o->dataset_ratio, "AGENT_DATASET_EXPANSION");
    env_default(&o->dataset_max, "AGENT_DATASET_MAX_SIZE");
    if ((o->dataset_ratio && !cv_parse_uint(o->dataset_ratio, 1, 1000000, &o->ratio, &error)) ||
        (o->dataset_max && !cv_parse_size(o->dataset_max, &o->max_bytes, &error))) {
        g_printerr("covirt-agent: --dataset-expansion/--dataset-max-size: %s\n", error->message);
        return FALSE;
    }
    if (o->port < 0) {
        guint64 p = 7002;
        if (g_getenv("AGENT_PORT") && !cv_parse_uint(g_getenv("AGENT_PORT"), 0, 65535, &p, &error)) {
            g_printerr("covirt-agent: AGENT_PORT: %s\n", error->message);
            return FALSE;
        }
        o->port = p;
    }
    if (o->port > 65535) {
        g_printerr("covirt-agent: --port must be 0..65535\n");
        return FALSE;
    }
    if (!o->work_dir) {
        g_printerr("covirt-agent: --work-dir is required\n");
        return FALSE;
    }
    return TRUE;
}

/* The HTTPS front's connection limits: CV_HTTP_LISTEN_LIMITS_DEFAULT unless the environment says
 * otherwise (docs/agent.md, "Limits"). */
static gboolean
parse_limits(CvHttpListenLimits *lim)
{
    struct { const char *env; guint *value; guint64 min, max; } v[] = {
        { "AGENT_HTTP_MAX_CONNECTIONS", &lim->max_conns, 1, 100000 },
        { "AGENT_HTTP_MAX_CONNECTIONS_PER_CLIENT", &lim->max_conns_per_client, 1, 100000 },
        { "AGENT_HTTP_HEADER_TIMEOUT", &lim->header_timeout_s, 1, 3600 },
        { "AGENT_HTTP_IO_TIMEOUT", &lim->io_timeout_s, 1, 3600 },
    };

    for (guint i = 0; i < G_N_ELEMENTS(v); i++) {
        g_autoptr(GError) error = NULL;
        guint64 n = 0;
        if (!g_getenv(v[i].env))
            continue;
        if (!cv_parse_uint(g_getenv(v[i].env), v[i].min, v[i].max, &n, &error)) {
            g_printerr("covirt-agent: %s: %s\n", v[i].env, error->message);
            return FALSE;
        }
        *v[i].value = n;
    }
    return TRUE;
}

/* Not fatal when unreadable: the manager shows an empty HAL version. */
static char *
read_hal_version(const char *file)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) v = file ? cv_read_file(file, 4096, &error) : NULL;

    if (!v) {
        if (error)
            g_warning("HAL version: %s", error->message);
        return NULL;
    }
    return g_strstrip(g_strndup(g_bytes_get_data(v, NULL), g_bytes_get_size(v)));
}

/* --manifest (host testing); a refusal leaves the agent up: another manifest may come over the control channel. */
static void
load_manifest_file(CvAgent *agent, const char *path)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) m = cv_read_file(path, CV_MANIFEST_MAX, &error);

    if (!m || !cv_agent_load_manifest(agent, g_bytes_get_data(m, NULL), g_bytes_get_size(m), &error)) {
        g_warning("manifest %s refused: %s", path, error->message);
        cv_agent_event(agent, "manifest-refused", error->message);
    }
}

static gboolean
on_signal(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_CONTINUE;
}

int
main(int argc, char **argv)
{
    g_auto(Options) o = { 0 };
    g_autofree char *hal_version = NULL, *tls_hex = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(CvAgent) agent = NULL;
    g_autoptr(CvAgentApi) api = NULL;  /* after the agent: freed first */
    g_autoptr(GMainLoop) loop = NULL;
    CvAgentOptions opts = { 0 };
    CvHttpListenLimits limits = CV_HTTP_LISTEN_LIMITS_DEFAULT;

    setlocale(LC_ALL, "");
    signal(SIGPIPE, SIG_IGN);
    if (!parse_options(&o, &argc, &argv) || !parse_limits(&limits))
        return 2;
    if (!cv_log_init("covirt-agent", o.log_level, &error)) {
        g_critical("--log-level: %s", error->message);
        return 2;
    }
    /* tpm2-tss prints its own lines on stderr; the collector's errors already carry the decoded text */
    if (!o.log_level || g_ascii_strcasecmp(o.log_level, "debug") != 0)
        g_setenv("TSS2_LOG", "all+NONE", FALSE);
    hal_version = read_hal_version(o.hal_file);

    api = cv_agent_api_new(&error);
    if (!api) {
        g_critical("%s", error->message);
        return 1;
    }
    opts.work_dir = o.work_dir;
    opts.control_port = o.control_port;
    opts.platform = o.platform;
    opts.hal_version = hal_version;
    opts.tcti = o.tcti;
    opts.dataset_ratio = o.ratio;
    opts.dataset_max_bytes = o.max_bytes;
    memcpy(opts.tls_sha256, cv_agent_api_tls_sha256(api), sizeof(opts.tls_sha256));
    agent = cv_agent_new(&opts, &error);
    if (!agent || !cv_agent_api_listen(api, agent, o.port, o.listen, &limits, &error)) {
        g_critical("%s", error->message);
        return 1;
    }
    tls_hex = cv_hex_encode(opts.tls_sha256, 32);
    g_info("listening on port %u, TLS public key SHA-256 %s", cv_agent_api_port(api), tls_hex);
    if (o.manifest)
        load_manifest_file(agent, o.manifest);
    if (o.port_file) {
        g_autofree char *text = g_strdup_printf("%u\n", cv_agent_api_port(api));
        if (!cv_write_file(o.port_file, text, strlen(text), 0644, &error)) {
            g_critical("%s", error->message);
            return 1;
        }
    }
    loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, on_signal, loop);
    g_unix_signal_add(SIGINT, on_signal, loop);
    g_main_loop_run(loop);
    g_info("stopping");
    return 0;
}
