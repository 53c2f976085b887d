#include "upload-sink.h"
#include "cv-error.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

typedef struct {
    gsize len;
    guint8 data[];
} Block;

struct _CvAgentSink {
    int fd;
    EVP_MD_CTX *sha3;
    GThread *thread;
    GAsyncQueue *queue;   /* Block*, or the sink itself as the end marker */
    GMutex lock;
    GCond drained;
    guint in_flight;
    int write_errno;      /* first write error, set by the worker */
    Block *current;
    gboolean finished;
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
        EVP_DigestUpdate(s->sha3, b->data, b->len);
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
        g_free(b);
        g_mutex_lock(&s->lock);
        s->in_flight--;
        g_cond_signal(&s->drained);
        g_mutex_unlock(&s->lock);
    }
    return NULL;
}

CvAgentSink *
cv_agent_sink_new(int fd, GError **error)
{
    CvAgentSink *s = g_new0(CvAgentSink, 1);
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA3-256", NULL);

    s->fd = fd;
    s->sha3 = EVP_MD_CTX_new();
    if (!md || !s->sha3 || !EVP_DigestInit_ex(s->sha3, md, NULL)) {
        EVP_MD_free(md);
        EVP_MD_CTX_free(s->sha3);
        g_free(s);
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "SHA3-256 is not available");
        return NULL;
    }
    EVP_MD_free(md);
    g_mutex_init(&s->lock);
    g_cond_init(&s->drained);
    s->queue = g_async_queue_new();
    s->thread = g_thread_new("covirt-upload", worker, s);
    return s;
}

static void
send_current(CvAgentSink *s)
{
    if (!s->current || s->current->len == 0)
        return;
    /* back-pressure: the main loop waits for the worker rather than buffering without bound */
    g_mutex_lock(&s->lock);
    while (s->in_flight >= CV_AGENT_SINK_BLOCKS)
        g_cond_wait(&s->drained, &s->lock);
    s->in_flight++;
    g_mutex_unlock(&s->lock);
    g_async_queue_push(s->queue, s->current);
    s->current = NULL;
}

void
cv_agent_sink_push(CvAgentSink *s, const guint8 *data, gsize len)
{
    while (len > 0) {
        gsize n;
        if (!s->current) {
            s->current = g_malloc(sizeof(Block) + CV_AGENT_SINK_BLOCK);
            s->current->len = 0;
        }
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
    unsigned int len = 0;
    int err;

    send_current(s);
    stop_worker(s);
    s->finished = TRUE;
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
    EVP_DigestFinal_ex(s->sha3, sha3, &len);
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
    g_free(s->current);
    if (s->fd >= 0)
        close(s->fd);
    EVP_MD_CTX_free(s->sha3);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->drained);
    g_free(s);
}
