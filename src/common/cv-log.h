/* Logging: programs log through GLib's structured log with G_LOG_DOMAIN "covirt";
 * library code returns errors instead of logging them (reported once, where handled). */
#pragma once
#include <glib.h>

G_BEGIN_DECLS
/* level: "debug", "info", "warn", "error" (COVIRT_LOG_LEVEL / MANAGER_LOG_LEVEL / AGENT_LOG_LEVEL) */
void cv_log_init(const char *program, const char *level);
G_END_DECLS
