/* One file per subcommand (covirt-builtins-<command>.c), as flatpak's CLI; each entry point
 * gets argv with argv[0] = the subcommand, prints its own errors and returns the exit code.
 * Every usage mistake exits CV_CLI_EXIT_USAGE through cv_cli_parse() or cv_cli_usage(). */
#pragma once
#include <glib.h>
#include "cv-error.h"

G_BEGIN_DECLS

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} CvCliCommand;

#define CV_CLI_EXIT_USAGE 2

/* Prints "covirt: MESSAGE" on stderr and returns the exit code for the error. */
int cv_cli_fail(const GError *error);
/* A usage mistake: prints "covirt COMMAND: MESSAGE" and "Try 'covirt COMMAND --help'." on stderr and
 * returns CV_CLI_EXIT_USAGE. COMMAND is what follows covirt: "algo", "verify tdx". */
int cv_cli_usage(const char *command, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Parses COMMAND's options (--help prints them and exits 0); FALSE after cv_cli_usage() on a mistake. */
gboolean cv_cli_parse(GOptionContext *ctx, const char *command, int *argc, char ***argv);
/* covirt COMMAND SUB …: runs the entry of `subs` (NULL-ended) that argv[1] names; --help prints `help`;
 * no SUB or an unknown one is a usage mistake. */
int cv_cli_dispatch(const char *command, const CvCliCommand *subs, const char *help, int argc, char **argv);

int cv_cli_domain(int argc, char **argv);
int cv_cli_cvm(int argc, char **argv);
int cv_cli_host(int argc, char **argv);
int cv_cli_verify(int argc, char **argv);
int cv_cli_attest(int argc, char **argv);
int cv_cli_policy(int argc, char **argv);
int cv_cli_keys(int argc, char **argv);
int cv_cli_checksum(int argc, char **argv);
int cv_cli_manifest(int argc, char **argv);
int cv_cli_algo(int argc, char **argv);
int cv_cli_data(int argc, char **argv);
int cv_cli_result(int argc, char **argv);
int cv_cli_measure(int argc, char **argv);
/* covirt policy sev-snp, tdx: in covirt-builtins-measure.c, which holds the options it shares with measure */
int cv_cli_policy_snp(int argc, char **argv);
int cv_cli_policy_tdx(int argc, char **argv);
int cv_cli_kbs(int argc, char **argv);

G_END_DECLS
