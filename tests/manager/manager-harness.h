/* Test harness: runs the real covirt-manager binary with a given environment and talks to
 * it over HTTP with libsoup, as an operator's client would. */
#pragma once
#include <gio/gio.h>
#include <libsoup/soup.h>
#include <json-glib/json-glib.h>

typedef struct {
    GSubprocess *proc;
    char *url;
    char *tmpdir;         /* kernel/initrd/firmware stand-ins and the log dir */
    SoupSession *session;
    GPtrArray *env;
    gboolean wait_ready;
} CvTestManager;

/* extra: NULL-terminated "NAME=VALUE" list added to (and overriding) the defaults
 * (test:///default, port 0, files in a temp dir). */
CvTestManager *cv_test_manager_start(const char *const *extra);
/* wait_ready FALSE: return once it listens (for TLS tests, whose client differs) */
CvTestManager *cv_test_manager_start_full(const char *const *extra, gboolean wait_ready);
/* Runs a manager expected not to start: its exit status (-1: killed, e.g. after 30 s), its stderr
 * into *err. */
int cv_test_manager_refuses(const char *const *extra, char **err);
/* "COVIRT_TEST_NOFILE=N" in extra: the manager's descriptor limit. */
/* Same environment, new process (for restart tests). */
void cv_test_manager_restart(CvTestManager *m);
void cv_test_manager_kill(CvTestManager *m, int signum);
/* Waits for exit, returns the exit status (or -1 when killed by a signal). */
int cv_test_manager_wait(CvTestManager *m);
void cv_test_manager_free(CvTestManager *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvTestManager, cv_test_manager_free)

/* Synchronous request; returns the status, body into *body (may be NULL). */
guint cv_test_request(CvTestManager *m, const char *method, const char *path, const char *content_type,
                      const void *data, gsize len, GBytes **body);
/* Same, parsing the body as JSON (NULL when not JSON). */
guint cv_test_request_json(CvTestManager *m, const char *method, const char *path, const char *json,
                           JsonNode **out);
/* The "error" object's code of an error answer, or NULL. */
const char *cv_test_error_code(JsonNode *node);
/* POSTs a spec, asserts 201, returns the answer */
JsonNode *cv_test_create(CvTestManager *m, const char *spec_json);
guint cv_test_count(CvTestManager *m);
/* value of a metric line "NAME VALUE" (exact name incl. labels) or -1 */
double cv_test_metric(CvTestManager *m, const char *name);
/* Polls GET path until the JSON member `member` equals `value` (or timeout_s). */
gboolean cv_test_wait_member(CvTestManager *m, const char *path, const char *member, const char *value,
                             guint timeout_s);
/* the pid a daemon wrote to its pid file, 0 when there is none */
GPid cv_test_read_pid(const char *file);

/* A private libvirtd serving the test driver on loopback TCP (test+tcp://127.0.0.1:PORT/default), run
 * as nobody in a temporary directory with its own configuration; the system daemon is never touched.
 * NULL when this cannot be done here (not root, no libvirtd): the caller skips. */
typedef struct {
    GSubprocess *proc;
    GPid pid;
    char *dir;
    guint port;
    char *uri;
} CvTestLibvirtd;

CvTestLibvirtd *cv_test_libvirtd_start(void);
/* SIGKILL, then a new daemon on the same port (its test driver starts afresh) */
void cv_test_libvirtd_kill(CvTestLibvirtd *d);
void cv_test_libvirtd_restart(CvTestLibvirtd *d);
void cv_test_libvirtd_free(CvTestLibvirtd *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvTestLibvirtd, cv_test_libvirtd_free)
/* a loopback TCP port nothing listens on now */
guint cv_test_free_port(void);
/* virsh -c URI ARGS…: TRUE when it exits 0; its stdout into *out when out is not NULL */
gboolean cv_test_virsh(const char *uri, const char *const *args, char **out);
