#include "swtpm-fixture.h"

#include <gio/gio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static guint
free_port_pair(void)
{
    for (int tries = 0; tries < 50; tries++) {
        g_autoptr(GSocket) s1 = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
        g_autoptr(GSocket) s2 = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
        g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
        g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
        g_autoptr(GSocketAddress) bound = NULL;
        g_autoptr(GSocketAddress) next = NULL;
        guint port;

        if (!g_socket_bind(s1, any, FALSE, NULL))
            continue;
        bound = g_socket_get_local_address(s1, NULL);
        port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
        if (port >= 65535)
            continue;
        next = g_inet_socket_address_new(lo, port + 1);
        if (g_socket_bind(s2, next, FALSE, NULL))
            return port;
    }
    return 0;
}

static gboolean
run(const char *const *argv, const char *const *envp, char **out, GError **error)
{
    g_autofree char *err_text = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, (char **)envp, G_SPAWN_SEARCH_PATH, NULL, NULL, out, &err_text, &status,
                      error))
        return FALSE;
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_autofree char *cmd = g_strjoinv(" ", (char **)argv);
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s failed: %s", cmd, err_text);
        return FALSE;
    }
    return TRUE;
}

#define SETUP_CONF \
    "create_certs_tool = /usr/bin/swtpm_localca\n" \
    "create_certs_tool_config = %s/localca.conf\n" \
    "create_certs_tool_options = /etc/swtpm-localca.options\n"
#define LOCALCA_CONF \
    "statedir = %s/ca\n" \
    "signingkey = %s/ca/signkey.pem\n" \
    "issuercert = %s/ca/issuercert.pem\n" \
    "certserial = %s/ca/certserial\n"

gboolean
swtpm_fixture_start(SwtpmFixture *f, gboolean provision, GError **error)
{
    g_autofree char *server = NULL, *ctrl = NULL, *state = NULL, *pidfile = NULL, *pidtext = NULL;

    memset(f, 0, sizeof(*f));
    f->dir = g_dir_make_tmp("covirt-swtpm-XXXXXX", error);
    if (!f->dir)
        return FALSE;
    if (provision) {
        g_autofree char *conf = g_strdup_printf(SETUP_CONF, f->dir);
        g_autofree char *ca = g_strdup_printf(LOCALCA_CONF, f->dir, f->dir, f->dir, f->dir);
        g_autofree char *conf_path = g_build_filename(f->dir, "setup.conf", NULL);
        g_autofree char *ca_path = g_build_filename(f->dir, "localca.conf", NULL);
        g_autofree char *ca_dir = g_build_filename(f->dir, "ca", NULL);
        g_autofree char *tpm_dir = g_build_filename(f->dir, "tpm", NULL);
        g_autofree char *config_arg = NULL;
        g_mkdir_with_parents(ca_dir, 0700);
        g_mkdir_with_parents(tpm_dir, 0700);
        if (!g_file_set_contents(conf_path, conf, -1, error) || !g_file_set_contents(ca_path, ca, -1, error))
            return FALSE;
        {
            const char *argv[] = { "swtpm_setup", "--tpm2", "--tpmstate", tpm_dir, "--create-ek-cert",
                                   "--create-platform-cert", "--overwrite", "--config", conf_path, NULL };
            if (!run(argv, NULL, NULL, error))
                return FALSE;
        }
    }
    f->port = free_port_pair();
    if (!f->port) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "no free loopback port");
        return FALSE;
    }
    server = g_strdup_printf("type=tcp,port=%u,bindaddr=127.0.0.1", f->port);
    ctrl = g_strdup_printf("type=tcp,port=%u,bindaddr=127.0.0.1", f->port + 1);
    state = g_strdup_printf("dir=%s/tpm", f->dir);
    pidfile = g_strdup_printf("%s/swtpm.pid", f->dir);
    {
        g_autofree char *tpm_dir = g_build_filename(f->dir, "tpm", NULL);
        g_autofree char *pidarg = g_strdup_printf("file=%s", pidfile);
        const char *argv[] = { "swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl, "--tpmstate", state,
                               "--flags", "not-need-init,startup-clear", "--daemon", "--pid", pidarg, NULL };
        g_mkdir_with_parents(tpm_dir, 0700);
        if (!run(argv, NULL, NULL, error))
            return FALSE;
    }
    if (!g_file_get_contents(pidfile, &pidtext, NULL, error))
        return FALSE;
    f->pid = (GPid)g_ascii_strtoll(pidtext, NULL, 10);
    f->tcti = g_strdup_printf("swtpm:host=127.0.0.1,port=%u", f->port);
    /* wait until it answers */
    for (int i = 0; i < 100; i++) {
        const char *argv[] = { "tpm2_getrandom", "4", NULL };
        g_autofree char *out = NULL;
        if (swtpm_fixture_run(f, argv, &out, NULL))
            return TRUE;
        g_usleep(50000);
    }
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "swtpm did not answer");
    return FALSE;
}

gboolean
swtpm_fixture_run(SwtpmFixture *f, const char *const *argv, char **out, GError **error)
{
    g_auto(GStrv) env = g_get_environ();

    env = g_environ_setenv(env, "TPM2TOOLS_TCTI", f->tcti, TRUE);
    return run(argv, (const char *const *)env, out, error);
}

void
swtpm_fixture_stop(SwtpmFixture *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        for (int i = 0; i < 100 && kill(f->pid, 0) == 0; i++)
            g_usleep(20000);
    }
    if (f->dir) {
        const char *argv[] = { "rm", "-rf", f->dir, NULL };
        run(argv, NULL, NULL, NULL);
    }
    g_free(f->dir);
    g_free(f->tcti);
    memset(f, 0, sizeof(*f));
}
