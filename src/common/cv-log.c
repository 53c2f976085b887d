#include "cv-log.h"
#include "cv-log-priv.h"
#include "cv-enum.h"
#include "cv-error.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

typedef enum {
    CV_LOG_DEBUG,
    CV_LOG_INFO,
    CV_LOG_WARN,
    CV_LOG_ERROR,
    CV_LOG_LEVEL_COUNT,
} CvLogLevel;

CV_ENUM_DECL(cv_log_level, CvLogLevel);
CV_ENUM_IMPL(cv_log_level, CvLogLevel, CV_LOG_LEVEL_COUNT, "debug", "info", "warn", "error");

static CvLogLevel min_level = CV_LOG_INFO;
static const char *prog = "covirt";
static int journal_fd = -1;
static int stream_fd = STDERR_FILENO;
static gboolean stream_is_journal;
static gboolean installed;

static CvLogLevel
level_of(GLogLevelFlags l)
{
    if (l & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) return CV_LOG_ERROR;
    if (l & G_LOG_LEVEL_WARNING) return CV_LOG_WARN;
    if (l & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO)) return CV_LOG_INFO;
    return CV_LOG_DEBUG;
}

/* syslog(3) priorities: err, warning, notice, info, debug */
static int
priority_of(GLogLevelFlags l)
{
    if (l & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) return 3;
    if (l & G_LOG_LEVEL_WARNING) return 4;
    if (l & G_LOG_LEVEL_MESSAGE) return 5;
    if (l & G_LOG_LEVEL_INFO) return 6;
    return 7;
}

/* journald's native protocol: KEY=value lines; a value holding a newline goes as KEY, a little-endian
 * 64-bit length and the bytes */
static void
journal_field(GString *out, const char *key, const char *value)
{
    if (!strchr(value, '\n')) {
        g_string_append_printf(out, "%s=%s\n", key, value);
        return;
    }
    guint64 len = GUINT64_TO_LE(strlen(value));
    g_string_append_printf(out, "%s\n", key);
    g_string_append_len(out, (const char *)&len, sizeof len);
    g_string_append_printf(out, "%s\n", value);
}

/* GLib's CODE_FILE, CODE_LINE, CODE_FUNC, GLIB_DOMAIN…: text fields with a name journald accepts */
static gboolean
journal_key_ok(const GLogField *f)
{
    if (f->length != -1 || !f->key[0] || f->key[0] == '_' || strcmp(f->key, "MESSAGE") == 0 ||
        strcmp(f->key, "PRIORITY") == 0)
        return FALSE;
    for (const char *p = f->key; *p; p++)
        if (!g_ascii_isupper(*p) && !g_ascii_isdigit(*p) && *p != '_')
            return FALSE;
    return TRUE;
}

static gboolean
write_journal(int priority, const char *msg, const GLogField *fields, gsize n_fields)
{
    g_autoptr(GString) out = g_string_new(NULL);
    g_autofree char *prio = g_strdup_printf("%d", priority);

    journal_field(out, "PRIORITY", prio);
    journal_field(out, "SYSLOG_IDENTIFIER", prog);
    journal_field(out, "MESSAGE", msg);
    for (gsize i = 0; i < n_fields; i++)
        if (journal_key_ok(&fields[i]))
            journal_field(out, fields[i].key, fields[i].value);
    return send(journal_fd, out->str, out->len, MSG_NOSIGNAL) == (ssize_t)out->len;
}

static void
write_stream(GLogLevelFlags level, const char *msg)
{
    g_autoptr(GString) line = g_string_new(NULL);

    if (stream_is_journal) {
        g_string_append_printf(line, "<%d>", priority_of(level));
    } else {
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();
        g_autofree char *ts = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S");

        g_string_append_printf(line, "%s.%03dZ %s %s: ", ts, g_date_time_get_microsecond(now) / 1000, prog,
                               cv_log_level_to_string(level_of(level)));
    }
    /* one line a message: libvirt's and libxml2's texts end in a newline or hold several */
    for (const char *p = msg; *p; p++)
        g_string_append_c(line, *p == '\n' ? ' ' : *p);
    g_string_append_c(line, '\n');
    if (write(stream_fd, line->str, line->len) < 0)
        return;  /* nowhere left to report it */
}

static GLogWriterOutput
writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
    g_autofree char *msg = NULL;

    if (level_of(level) < min_level)
        return G_LOG_WRITER_HANDLED;
    for (gsize i = 0; i < n_fields && !msg; i++)
        if (strcmp(fields[i].key, "MESSAGE") == 0 && fields[i].value)
            msg = fields[i].length < 0 ? g_strdup(fields[i].value) : g_strndup(fields[i].value, fields[i].length);
    if (!msg)
        msg = g_strdup("");
    g_strchomp(msg);
    if (journal_fd < 0 || !write_journal(priority_of(level), msg, fields, n_fields))
        write_stream(level, msg);
    return G_LOG_WRITER_HANDLED;
}

gboolean
cv_log_fd_is_journal(int fd)
{
    const char *env = g_getenv("JOURNAL_STREAM");
    guint64 dev, ino;
    struct stat st;

    if (!env || sscanf(env, "%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, &dev, &ino) != 2)
        return FALSE;
    return fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

gboolean
cv_log_goes_to(int fd)
{
    struct stat a, b;

    if (cv_log_fd_is_journal(fd))
        return TRUE;
    return fstat(fd, &a) == 0 && fstat(STDERR_FILENO, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

void
cv_log_set_output(int journal, int stream, gboolean is_journal)
{
    journal_fd = journal;
    stream_fd = stream;
    stream_is_journal = is_journal;
}

static int
journal_connect(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

gboolean
cv_log_init(const char *program, const char *level, GError **error)
{
    gboolean journal = cv_log_fd_is_journal(STDERR_FILENO);
    g_autofree char *lower = level ? g_ascii_strdown(level, -1) : NULL;
    gboolean ok = TRUE;

    prog = program;
    min_level = CV_LOG_INFO;
    if (lower && *lower && !cv_log_level_from_string(lower, &min_level)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "'%s' is not one of debug, info, warn, error", level);
        ok = FALSE;
    }
    if (journal_fd < 0 && journal)
        cv_log_set_output(journal_connect(), STDERR_FILENO, TRUE);
    else
        cv_log_set_output(journal_fd, STDERR_FILENO, journal);
    /* GLib takes one writer per process (a second one aborts) */
    if (!installed)
        g_log_set_writer_func(writer, NULL, NULL);
    installed = TRUE;
    return ok;
}

void
cv_log_notify(const char *state)
{
    const char *path = g_getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    socklen_t len;
    int fd;

    /* a path, or '@' for Linux's abstract namespace */
    if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof sa.sun_path)
        return;
    memcpy(sa.sun_path, path, strlen(path));
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
        g_debug("sd_notify %s: %s", state, g_strerror(errno));
    close(fd);
}
