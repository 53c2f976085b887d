#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <locale.h>
#include "covirt-builtins.h"
#include "client-session.h"

/* Subcommands; a helper adds its line here and its file to meson.build. */
static const CvCliCommand commands[] = {
    { "domain", "render a CVM spec into libvirt domain XML", cv_cli_domain },
    { "cvm", "create, list, show, remove CVMs and follow their events (covirt-manager)", cv_cli_cvm },
    { "host", "list the libvirt hosts behind covirt-manager", cv_cli_host },
    { "attest", "attest a CVM's agent against a policy and show the TLS key to pin", cv_cli_attest },
    { "policy", "check attestation policies, make vtpm, sev-snp or tdx policies", cv_cli_policy },
    { "verify", "verify SEV-SNP, TDX or TPM evidence offline against a policy", cv_cli_verify },
    { "measure", "compute the SEV-SNP launch digest or TDX MRTD a CVM will report", cv_cli_measure },
    { "keys", "make an RSA, ECDSA or Ed25519 key pair for uploads and results", cv_cli_keys },
    { "checksum", "SHA3-256 of files, or check a manifest's hashes", cv_cli_checksum },
    { "manifest", "build a computation manifest from files and keys; print its hash", cv_cli_manifest },
    { "algo", "upload the algorithm to a CVM's agent", cv_cli_algo },
    { "data", "upload a dataset to a CVM's agent", cv_cli_data },
    { "result", "download and unpack a computation's result", cv_cli_result },
    { "kbs", "encrypt a file for an HTTPS source whose key a KBS releases", cv_cli_kbs },
    { NULL, NULL, NULL },
};

int
cv_cli_fail(const GError *error)
{
    fprintf(stderr, "covirt: %s\n", error ? error->message : "unknown error");
    return cv_error_exit_code(error);
}

int
cv_cli_usage(const char *command, const char *fmt, ...)
{
    g_autofree char *message = NULL;
    va_list ap;

    va_start(ap, fmt);
    message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "covirt %s: %s\nTry 'covirt %s --help'.\n", command, message, command);
    return CV_CLI_EXIT_USAGE;
}

gboolean
cv_cli_parse(GOptionContext *ctx, const char *command, int *argc, char ***argv)
{
    g_autoptr(GError) error = NULL;

    /* --help's usage line then reads "covirt algo [OPTION…] …", not "algo [OPTION…] …" (GLib names the
     * program after argv[0], the subcommand, unless told); one command runs per process */
    if (!g_get_prgname()) {
        g_autofree char *name = g_strconcat("covirt ", command, NULL);
        g_set_prgname(name);
    }

    if (g_option_context_parse(ctx, argc, argv, &error))
        return TRUE;
    cv_cli_usage(command, "%s", error->message);
    return FALSE;
}

int
cv_cli_dispatch(const char *command, const CvCliCommand *subs, const char *help, int argc, char **argv)
{
    g_autoptr(GString) names = g_string_new(NULL);

    for (const CvCliCommand *c = subs; argc >= 2 && c->name; c++) {
        if (strcmp(argv[1], c->name) == 0)
            return c->run(argc - 1, argv + 1);
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(help, stdout);
        return 0;
    }
    for (const CvCliCommand *c = subs; c->name; c++)
        g_string_append_printf(names, "%s%s", names->len ? ", " : "", c->name);
    if (argc < 2)
        return cv_cli_usage(command, "which one: %s", names->str);
    return cv_cli_usage(command, "unknown subcommand '%s' (%s)", argv[1], names->str);
}

static void
usage(FILE *out)
{
    fprintf(out, "Usage: covirt COMMAND [OPTION…]\n       covirt --timeout SECONDS COMMAND [OPTION…]\n\nCommands:\n");
    for (const CvCliCommand *c = commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\nOptions:\n  --timeout SECONDS  how long each step of a request (connect, TLS, each read and\n"
                 "                     write) may wait for the other side: 30, 90s, 2m; 0 for none\n"
                 "                     (default: $COVIRT_TIMEOUT or %u)\n"
                 "\nRun 'covirt COMMAND --help' for a command's options.\n", CV_CLIENT_TIMEOUT_DEFAULT_S);
}

/* The options before COMMAND (--timeout S, --timeout=S) and COVIRT_TIMEOUT; *first: COMMAND's index.
 * FALSE after a usage message. */
static gboolean
global_options(int argc, char **argv, int *first)
{
    const char *value = g_getenv("COVIRT_TIMEOUT");
    const char *from = "COVIRT_TIMEOUT";
    g_autoptr(GError) error = NULL;
    guint seconds;
    int i = 1;

    for (; i < argc && g_str_has_prefix(argv[i], "--timeout"); i++) {
        from = "--timeout";
        if (argv[i][strlen("--timeout")] == '=') {
            value = argv[i] + strlen("--timeout=");
        } else if (argv[i][strlen("--timeout")] == '\0' && i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(stderr, "covirt: %s: %s\nTry 'covirt --help'.\n", argv[i],
                    argv[i][strlen("--timeout")] ? "unknown option" : "a number of seconds must follow");
            return FALSE;
        }
    }
    *first = i;
    if (!value || (g_strcmp0(from, "COVIRT_TIMEOUT") == 0 && !*value))
        return TRUE;
    if (!cv_client_timeout_parse(value, &seconds, &error)) {
        fprintf(stderr, "covirt: %s: %s\nTry 'covirt --help'.\n", from, error->message);
        return FALSE;
    }
    cv_client_set_timeout(seconds);
    return TRUE;
}

int
main(int argc, char **argv)
{
    int first;

    setlocale(LC_ALL, "");
    if (!global_options(argc, argv, &first))
        return CV_CLI_EXIT_USAGE;
    argc -= first - 1;
    argv += first - 1;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("covirt %s\n", COVIRT_VERSION);
        return 0;
    }
    for (const CvCliCommand *c = commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "covirt: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
