#include "covirt-progress.h"
#include <stdio.h>

static gint64 last_draw;
static gboolean drawn;

void
cv_cli_progress_bar(guint64 done, guint64 total, gpointer label)
{
    gint64 now = g_get_monotonic_time();
    int width = 30, filled;
    g_autofree char *d = g_format_size(done);
    g_autofree char *t = g_format_size(total);

    /* at most 10 redraws a second, and always the last one */
    if (done < total && now - last_draw < G_USEC_PER_SEC / 10)
        return;
    last_draw = now;
    filled = total ? (int)(done * width / total) : width;
    fprintf(stderr, "\r%-12s [%.*s%*s] %s / %s", label ? (const char *)label : "",
            filled, "##############################", width - filled, "", d, t);
    fflush(stderr);
    drawn = TRUE;
}

void
cv_cli_progress_end(void)
{
    if (drawn)
        fputc('\n', stderr);
    drawn = FALSE;
}
