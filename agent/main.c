/* covirt-agent: the only service of a covirt CVM (docs/agent.md). */
#include "agent.h"
#include "cv-error.h"
#include "cv-log.h"
#include "cv-util.h"

#include <locale.h>
#include <signal.h>
#include <string.h>
#include <glib-unix.h>

static gboolean
on_signal(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_CONTINUE;
}

/* An option not given on the command line falls back to its environment variable. */
static void
env_default(char **value, const char *env)
{
    if (!*value && g_getenv(env))
        *value = g_strdup(g_getenv(env));
}

int
main(int argc, char **argv)
{
    g_autofree char *work_dir = NULL, *control_port = NULL, *platform = NULL, *hal_file = NULL;
    g_autofree char *log_level = NULL, *manifest = NULL, *listen = NULL, *port_file = NULL, *tcti = NULL;
    g_autofree char *hal_version = NULL;
    gint port = -1;
    GOptionEntry entries[] = {
        { "work-dir", 0, 0, G_OPTION_ARG_FILENAME, &work_dir, "Working folder, tmpfs in the CVM (AGENT_WORK_DIR)", "DIR" },
        { "port", 0, 0, G_OPTION_ARG_INT, &port, "HTTPS port, 0 for any free one (AGENT_PORT, default 7002)", "PORT" },
        { "listen-address", 0, 0, G_OPTION_ARG_STRING, &listen, "Listen on this address only (AGENT_LISTEN_ADDRESS)", "IP" },
        { "control-port", 0, 0, G_OPTION_ARG_FILENAME, &control_port,
          "Control channel: virtio-serial port, character device or UNIX socket (AGENT_CONTROL_PORT)", "PATH" },
        { "platform", 0, 0, G_OPTION_ARG_STRING, &platform, "vtpm, sev-snp, tdx or none (AGENT_PLATFORM)", "NAME" },
        { "hal-version-file", 0, 0, G_OPTION_ARG_FILENAME, &hal_file, "File holding the HAL version (AGENT_HAL_VERSION_FILE)", "FILE" },
        { "tcti", 0, 0, G_OPTION_ARG_STRING, &tcti, "vtpm: TCTI of the TPM (AGENT_TCTI, default device:/dev/tpmrm0)", "CONF" },
        { "manifest", 0, 0, G_OPTION_ARG_FILENAME, &manifest, "Load this manifest at start (host testing)", "FILE" },
        { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &port_file, "Write the bound port here once listening", "FILE" },
        { "log-level", 0, 0, G_OPTION_ARG_STRING, &log_level, "debug, info, warn, error (AGENT_LOG_LEVEL)", "LEVEL" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- covirt's in-CVM agent");
    g_autoptr(GError) error = NULL;
    g_autoptr(CvAgent) agent = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    CvAgentOptions opts = { 0 };

    setlocale(LC_ALL, "");
    signal(SIGPIPE, SIG_IGN);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        g_printerr("covirt-agent: %s\n", error->message);
        return 2;
    }
    env_default(&log_level, "AGENT_LOG_LEVEL");
    cv_log_init("covirt-agent", log_level);
    /* tpm2-tss prints its own lines on stderr; the collector's errors already carry the decoded text */
    if (!log_level || g_ascii_strcasecmp(log_level, "debug") != 0)
        g_setenv("TSS2_LOG", "all+NONE", FALSE);

    env_default(&work_dir, "AGENT_WORK_DIR");
    env_default(&control_port, "AGENT_CONTROL_PORT");
    env_default(&platform, "AGENT_PLATFORM");
    env_default(&hal_file, "AGENT_HAL_VERSION_FILE");
    env_default(&listen, "AGENT_LISTEN_ADDRESS");
    env_default(&tcti, "AGENT_TCTI");
    if (port < 0) {
        guint64 p = 7002;
        if (g_getenv("AGENT_PORT") && !cv_parse_uint(g_getenv("AGENT_PORT"), 0, 65535, &p, &error)) {
            g_printerr("covirt-agent: AGENT_PORT: %s\n", error->message);
            return 2;
        }
        port = p;
    }
    if (port > 65535) {
        g_printerr("covirt-agent: --port must be 0..65535\n");
        return 2;
    }
    if (!work_dir) {
        g_printerr("covirt-agent: --work-dir is required\n");
        return 2;
    }
    if (hal_file) {
        g_autoptr(GBytes) v = cv_read_file(hal_file, 4096, &error);
        if (!v) {
            /* not fatal: the manager shows an empty HAL version */
            g_warning("HAL version: %s", error->message);
            g_clear_error(&error);
        } else {
            hal_version = g_strstrip(g_strndup(g_bytes_get_data(v, NULL), g_bytes_get_size(v)));
        }
    }

    opts.work_dir = work_dir;
    opts.port = port;
    opts.listen_address = listen;
    opts.control_port = control_port;
    opts.platform = platform ? platform : "none";
    opts.hal_version = hal_version;
    opts.manifest_file = manifest;
    opts.port_file = port_file;
    opts.tcti = tcti;
    agent = cv_agent_new(&opts, &error);
    if (!agent || !cv_agent_listen(agent, &error)) {
        g_critical("%s", error->message);
        return 1;
    }
    {
        g_autofree char *hex = cv_hex_encode(agent->tls_sha256, 32);
        g_info("listening on port %u, TLS public key SHA-256 %s", agent->port, hex);
    }
    if (manifest) {
        g_autoptr(GBytes) m = cv_read_file(manifest, 1024 * 1024, &error);
        if (!m || !cv_agent_load_manifest(agent, g_bytes_get_data(m, NULL), g_bytes_get_size(m), &error)) {
            /* the agent stays up: another manifest may come over the control channel */
            g_warning("manifest %s refused: %s", manifest, error->message);
            cv_agent_event(agent, "manifest-refused", error->message);
            g_clear_error(&error);
        }
    }
    if (port_file) {
        g_autofree char *text = g_strdup_printf("%u\n", agent->port);
        if (!cv_write_file(port_file, text, strlen(text), 0644, &error)) {
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
