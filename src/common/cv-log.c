#include "cv-log.h"
#include <stdio.h>
#include <string.h>

static GLogLevelFlags min_level = G_LOG_LEVEL_INFO;
static const char *prog = "covirt";

static int
rank(GLogLevelFlags l)
{
    if (l & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) return 4;
    if (l & G_LOG_LEVEL_WARNING) return 3;
    if (l & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO)) return 2;
    return 1;
}

static GLogWriterOutput
writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
    const char *msg = NULL;
    const char *tag;
    g_autoptr(GDateTime) now = NULL;
    g_autofree char *ts = NULL;

    /* before the timestamp: a daemon's info and debug lines are mostly filtered out */
    if (rank(level) < rank(min_level))
        return G_LOG_WRITER_HANDLED;
    now = g_date_time_new_now_utc();
    ts = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S");
    for (gsize i = 0; i < n_fields; i++)
        if (strcmp(fields[i].key, "MESSAGE") == 0)
            msg = fields[i].value;
    switch (rank(level)) {
    case 4: tag = "error"; break;
    case 3: tag = "warn"; break;
    case 2: tag = "info"; break;
    default: tag = "debug"; break;
    }
    fprintf(stderr, "%s.%03dZ %s %s: %s\n", ts, g_date_time_get_microsecond(now) / 1000, prog, tag,
            msg ? msg : "");
    return G_LOG_WRITER_HANDLED;
}

void
cv_log_init(const char *program, const char *level)
{
    prog = program;
    if (level) {
        if (g_ascii_strcasecmp(level, "debug") == 0) min_level = G_LOG_LEVEL_DEBUG;
        else if (g_ascii_strcasecmp(level, "warn") == 0) min_level = G_LOG_LEVEL_WARNING;
        else if (g_ascii_strcasecmp(level, "error") == 0) min_level = G_LOG_LEVEL_CRITICAL;
        else min_level = G_LOG_LEVEL_INFO;
    }
    g_log_set_writer_func(writer, NULL, NULL);
}
