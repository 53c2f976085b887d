/* Logging: programs log through GLib's structured log with G_LOG_DOMAIN "covirt";
 * library code returns errors instead of logging them (reported once, where handled).
 * Where a message goes: journald's socket when stderr is the journal (systemd's JOURNAL_STREAM names it),
 * else stderr, one line a message: "<N>message" for the journal (sd-daemon(3)'s prefix), otherwise
 * "TIME PROGRAM LEVEL: message". */
#pragma once
#include <glib.h>

G_BEGIN_DECLS
/* Installs the writer. level: "debug", "info", "warn", "error" (MANAGER_LOG_LEVEL, AGENT_LOG_LEVEL), NULL or
 * empty for info; another word is refused (the writer is installed with info then, to report it). */
gboolean cv_log_init(const char *program, const char *level, GError **error);
/* TRUE when the log's lines already reach fd: it is stderr's file (a terminal, `>log 2>&1`) or the journal */
gboolean cv_log_goes_to(int fd);
/* sd_notify(3) without libsystemd: sends state ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET, if set. */
void cv_log_notify(const char *state);
G_END_DECLS
