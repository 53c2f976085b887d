/* What the reliability programs (tests/reliability, docs/reliability.md) share: running a helper
 * within a bound, stopping a server within a bound, an agent's manifest, the summary line. */
#pragma once
#include <gio/gio.h>

/* "ASAN_OPTIONS=…" for a manager this test starts: it unwinds fully on malloc, because libsoup 3.2 leaks
 * the path of a head it refuses (tests/lsan.supp) and the fast unwinder, stopped by GLib's missing frame
 * pointers, often hides the frame the suppression names. Not for the agent: every TLS connection it
 * accepts loads the system's CA list, and slow unwinding makes that seconds each. */
char *rel_manager_asan_env(void);
/* argv run with the test's stdout and stderr, killed after timeout_s; its exit status (-1: killed) */
int rel_run(const char *const *argv, guint timeout_s);
/* SIGTERM, then waits up to timeout_s: TRUE when it exited with status 0 (otherwise it is killed) */
gboolean rel_stop(GSubprocess *proc, guint timeout_s);
void rel_rm_rf(const char *path);
/* the process runs (it has not exited, even unreaped) */
gboolean rel_alive(GSubprocess *proc);

typedef struct {
    const char *name;   /* the manifest's file name */
    const char *file;   /* what will be uploaded: its hash goes in the manifest */
} RelDataset;

/* DIR/manifest.json: algorithm DIR/algo.bin (made here when absent) of type bin by DIR/algo.key, the datasets
 * (decompress: true) and the result by DIR/data.key; keys made here; its path */
char *rel_agent_manifest(const char *dir, const RelDataset *sets, guint n);

/* "reliability: PART WHAT=TOTAL NAME=COUNT …" on stdout; FALSE when a count is not 0 */
gboolean rel_summary(const char *part, const char *what, guint total, const char *const *names, const guint *counts,
                     guint n);
