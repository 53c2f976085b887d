/* cv-log's internals, for tests/common */
#pragma once
#include <glib.h>

/* TRUE when $JOURNAL_STREAM ("DEV:INO") names the file fd is */
gboolean cv_log_fd_is_journal(int fd);
/* journal_fd >= 0: messages go there in journald's native protocol; else on stream_fd, with the "<N>"
 * prefix when stream_is_journal */
void cv_log_set_output(int journal_fd, int stream_fd, gboolean stream_is_journal);
