/* One file per subcommand (covirt-builtins-<command>.c), as flatpak's CLI; each entry point
 * gets argv with argv[0] = the subcommand, prints its own errors and returns the exit code. */
#pragma once
#include <glib.h>
#include "cv-error.h"

G_BEGIN_DECLS

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} CvCliCommand;

/* Prints "covirt: MESSAGE" on stderr and returns the exit code for the error. */
int cv_cli_fail(const GError *error);

int cv_cli_domain(int argc, char **argv);
int cv_cli_cvm(int argc, char **argv);
int cv_cli_verify(int argc, char **argv);
int cv_cli_attest(int argc, char **argv);
int cv_cli_policy(int argc, char **argv);
int cv_cli_keys(int argc, char **argv);
int cv_cli_checksum(int argc, char **argv);
int cv_cli_algo(int argc, char **argv);
int cv_cli_data(int argc, char **argv);
int cv_cli_result(int argc, char **argv);

G_END_DECLS
