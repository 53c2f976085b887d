#include "upload-sink.h"
#include "cv-error.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

typedef struct {
    gsize len;
    guint8 data[CV_AGENT_SINK_BLOCK];
} Block;

struct _CvAgentSink {
    int fd;
    gnutls_hash_hd_t sha3;  /* GnuTLS, as sha3.c (cv-user-key.h says why not OpenSSL) */
    GThread *thread;
    GAsyncQueue *queue;     /* full Block*, or the sink itself as the end marker */
    GMutex lock;
    GCond returned;
    GSList *spare;          /* blocks the worker is done with */
    guint allocated;
    int write_errno;        /* first write error, set by the worker */
    Block *current;
};

static gpointer
worker(gpointer data)
{
    CvAgentSink *s = data;

    for (;;) {
        gpointer item = g_async_queue_pop(s->queue);
        Block *b = item;
        const guint8 *p;
        gsize left;

        if (item == s)
            break;
        gnutls_hash(s->sha3, b->data, b->len);
        p = b->data;
        left = b->len;
        while (left > 0 && !g_atomic_int_get(&s->write_errno)) {
            ssize_t n = write(s->fd, p, left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                g_atomic_int_set(&s->write_errno, errno);
                break;
            }
            p += n;
            left -= n;
        }
        g_mutex_lock(&s->lock);
        s->spare = g_slist_prepend(s->spare, b);
        g_cond_signal(&s->returned);
        g_mutex_unlock(&s->lock);
    }
    return NULL;
}

CvAgentSink *
cv_agent_sink_new(int fd, GError **error)
{
    CvAgentSink *s = g_new0(CvAgentSink, 1);
    int rc = gnutls_hash_init(&s->sha3, GNUTLS_DIG_SHA3_256);

    if (rc < 0) {
        g_free(s);
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "SHA3-256 is not available: %s", gnutls_strerror(rc));
        return NULL;
    }
    s->fd = fd;
    g_mutex_init(&s->lock);
    g_cond_init(&s->returned);
    s->queue = g_async_queue_new();
    s->thread = g_thread_new("covirt-upload", worker, s);
    return s;
}

/* back-pressure: with every block in flight, the main loop waits for the worker
 * rather than buffering without bound */
static Block *
take_block(CvAgentSink *s)
{
    Block *b = NULL;

    g_mutex_lock(&s->lock);
    while (!s->spare && s->allocated >= CV_AGENT_SINK_BLOCKS)
        g_cond_wait(&s->returned, &s->lock);
    if (s->spare) {
        b = s->spare->data;
        s->spare = g_slist_delete_link(s->spare, s->spare);
    } else {
        s->allocated++;
    }
    g_mutex_unlock(&s->lock);
    if (!b)
        b = g_new(Block, 1);
    b->len = 0;
    return b;
}

static void
send_current(CvAgentSink *s)
{
    if (!s->current || s->current->len == 0)
        return;
    g_async_queue_push(s->queue, s->current);
    s->current = NULL;
}

void
cv_agent_sink_push(CvAgentSink *s, const guint8 *data, gsize len)
{
    while (len > 0) {
        gsize n;
        if (!s->current)
            s->current = take_block(s);
        n = MIN(len, CV_AGENT_SINK_BLOCK - s->current->len);
        memcpy(s->current->data + s->current->len, data, n);
        s->current->len += n;
        data += n;
        len -= n;
        if (s->current->len == CV_AGENT_SINK_BLOCK)
            send_current(s);
    }
}

static void
stop_worker(CvAgentSink *s)
{
    if (!s->thread)
        return;
    g_async_queue_push(s->queue, s);
    g_thread_join(s->thread);
    s->thread = NULL;
}

gboolean
cv_agent_sink_finish(CvAgentSink *s, guint8 sha3[32], GError **error)
{
    int err;

    send_current(s);
    stop_worker(s);
    err = g_atomic_int_get(&s->write_errno);
    if (!err && fsync(s->fd) < 0)
        err = errno;
    if (close(s->fd) < 0 && !err)
        err = errno;
    s->fd = -1;
    if (err) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot store the upload: %s", g_strerror(err));
        return FALSE;
    }
    gnutls_hash_output(s->sha3, sha3);
    return TRUE;
}

void
cv_agent_sink_free(CvAgentSink *s)
{
    gpointer item;

    if (!s)
        return;
    stop_worker(s);
    while ((item = g_async_queue_try_pop(s->queue)))
        if (item != s)
            g_free(item);
    g_async_queue_unref(s->queue);
    g_slist_free_full(s->spare, g_free);
    g_free(s->current);
    if (s->fd >= 0)
        close(s->fd);
    gnutls_hash_deinit(s->sha3, NULL);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->returned);
    g_free(s);
}
