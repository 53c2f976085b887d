/* An algorithm's python requirements: satisfied by the image's own packages first, then by the wheels
 * its owner uploaded, never from a network. Checked when they arrive (a pip dry run, so a requirement
 * nothing satisfies is refused by name before any dataset is sent); at run time the same resolution
 * picks the wheels to install into algo/site-packages, and nothing else is installed. */
#pragma once
#include <gio/gio.h>

G_BEGIN_DECLS
/* Only requirement lines (name, extras, versions, markers, --hash=): no pip option lines, paths, URLs or
 * direct references, which would reach past the uploaded wheels. Refusals name the line. */
gboolean cv_agent_requirements_check_text(const char *text, gsize len, GError **error);
/* pip's dry run over work_dir/algo/wheels and the image's packages, writing its JSON report */
GStrv cv_agent_requirements_resolve_argv(const char *work_dir, const char *requirements, const char *report);
/* the run's install of exactly the wheels in algo/pip-install.txt, without their dependencies, into
 * algo/site-packages */
GStrv cv_agent_requirements_install_argv(const char *work_dir);
/* The wheels a report (pip install --report) would install: each must be a file in wheels_dir. */
GStrv cv_agent_requirements_wheels_from_report(const char *text, gsize len, const char *wheels_dir, GError **error);
/* A run step: algo/pip-plan.json (the dry run's report) → algo/pip-install.txt (one wheel a line) */
gboolean cv_agent_requirements_plan(const char *work_dir, GError **error);
/* The check when the requirements arrive: their text, then the dry run with env (the runner's). */
void cv_agent_requirements_check_async(const char *work_dir, const char *const *env, const char *requirements,
                                       GCancellable *cancel, GAsyncReadyCallback callback, gpointer data);
gboolean cv_agent_requirements_check_finish(GAsyncResult *result, GError **error);
G_END_DECLS
