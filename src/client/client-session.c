#include "client-session.h"
#include "cv-error.h"
#include "cv-util.h"

/* set once by a program's start (covirt's main), read by every session after */
static guint client_timeout = CV_CLIENT_TIMEOUT_DEFAULT_S;

void
cv_client_set_timeout(guint seconds)
{
    client_timeout = seconds;
}

guint
cv_client_get_timeout(void)
{
    return client_timeout;
}

gboolean
cv_client_timeout_parse(const char *text, guint *seconds, GError **error)
{
    guint64 v = 0;

    if (g_strcmp0(text, "0") != 0 && !cv_parse_duration(text, &v, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "'%s' is not a timeout (seconds, e.g. 30 or 2m; 0 for none)",
                    text ? text : "");
        return FALSE;
    }
    if (v > CV_CLIENT_TIMEOUT_MAX_S) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "'%s' is over a day (%u s); 0 means no timeout", text,
                    CV_CLIENT_TIMEOUT_MAX_S);
        return FALSE;
    }
    *seconds = (guint)v;
    return TRUE;
}

SoupSession *
cv_client_session_new(const char *user_agent)
{
    return soup_session_new_with_options("timeout", client_timeout, "idle-timeout", 60, "user-agent",
                                         user_agent ? user_agent : "covirt/" COVIRT_VERSION, NULL);
}

char *
cv_client_transport_message(const GError *error)
{
    if (!error)
        return g_strdup("unknown error");
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        return g_strdup_printf("no progress within the timeout of %u s (covirt --timeout SECONDS or "
                               "COVIRT_TIMEOUT; 0 for none): %s", client_timeout, error->message);
    return g_strdup(error->message);
}
