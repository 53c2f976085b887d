/* Runs the algorithm: a list of steps (the requirements resolved and installed, then the algorithm; or umoci
 * unpack, then crun run), each a child process whose stdout/stderr come back
 * line by line, or an in-process action between them. */
#pragma once
#include <glib.h>
#include "manifest.h"

G_BEGIN_DECLS

typedef struct _CvAgentRunner CvAgentRunner;

typedef void (*CvAgentRunnerLineFunc)(const char *source, const char *line, gpointer user_data);
/* ok: every step ran and the last exited 0; exit_code: the failing step's code (or -1) */
typedef void (*CvAgentRunnerDoneFunc)(gboolean ok, int exit_code, const char *message, gpointer user_data);

#define CV_AGENT_LINE_MAX 4096

/* The environment of every step (and of the requirements check at upload): PATH, HOME and TMPDIR
 * (the work dir), LANG. */
GStrv cv_agent_runner_environ(const char *work_dir);
/* Plans and starts the run for the manifest's algo_type in work_dir (algo/, datasets/, results/). */
CvAgentRunner *cv_agent_runner_start(const CvManifest *manifest, const char *work_dir,
                                     CvAgentRunnerLineFunc on_line, CvAgentRunnerDoneFunc on_done,
                                     gpointer user_data, GError **error);
/* Drops the caller's reference: kills the running step if any; on_done is not
 * called after this (it may be called from on_done itself). */
void cv_agent_runner_cancel(CvAgentRunner *runner);
/* A container's config.json (umoci's, from the user's image) with datasets/ (read-only) and results/
 * bound in and no tty; its members are checked before they are used. */
char *cv_agent_oci_config_patch(const char *text, gsize len, const char *work_dir, GError **error);

G_END_DECLS
