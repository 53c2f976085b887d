/* A progress bar on stderr for the CLI's uploads and downloads. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS
/* A CvAgentClientProgress callback (user_data: the label). */
void cv_cli_progress_bar(guint64 done, guint64 total, gpointer label);
/* Ends the bar's line, if one was drawn. */
void cv_cli_progress_end(void);
G_END_DECLS
