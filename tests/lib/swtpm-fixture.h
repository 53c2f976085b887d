/* A real `swtpm socket` on free loopback ports for a test, stopped by its pid. */
#pragma once
#include <glib.h>

typedef struct {
    char *dir;          /* state directory (removed on stop) */
    GPid pid;
    guint port;         /* TPM command port; control port is port + 1 */
    char *tcti;         /* "swtpm:host=127.0.0.1,port=N" */
} SwtpmFixture;

/* provision: run swtpm_setup first (EK + EK certificate from a local CA in dir/ca) */
gboolean swtpm_fixture_start(SwtpmFixture *f, gboolean provision, GError **error);
void swtpm_fixture_stop(SwtpmFixture *f);
/* runs a tpm2-tools command line (argv) against the fixture; stdout returned */
gboolean swtpm_fixture_run(SwtpmFixture *f, const char *const *argv, char **out, GError **error);
