#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include "port-pool.h"

struct _CvMgrPortPool {
    guint min, max;
    guint next;            /* round robin, so a just-released port is not reused at once */
    GHashTable *used;      /* GUINT_TO_POINTER(port) set */
};

CvMgrPortPool *
cv_mgr_port_pool_new(guint min, guint max)
{
    CvMgrPortPool *pool = g_new0(CvMgrPortPool, 1);

    pool->min = min;
    pool->max = max >= min ? max : min;
    pool->next = min;
    pool->used = g_hash_table_new(g_direct_hash, g_direct_equal);
    return pool;
}

void
cv_mgr_port_pool_free(CvMgrPortPool *pool)
{
    if (!pool)
        return;
    g_hash_table_unref(pool->used);
    g_free(pool);
}

gboolean
cv_mgr_port_is_free(const char *bind_address, guint port)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t len;
    int fd, one = 1;
    gboolean ok;
    const char *addr = bind_address && *bind_address ? bind_address : "127.0.0.1";

    if (strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
            return FALSE;
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
            return FALSE;
        len = sizeof(*s4);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return FALSE;
    /* QEMU's hostfwd listener sets SO_REUSEADDR too: a port in TIME_WAIT is usable */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
    close(fd);
    return ok;
}

gboolean
cv_mgr_port_pool_in_use(CvMgrPortPool *pool, guint port)
{
    return g_hash_table_contains(pool->used, GUINT_TO_POINTER(port));
}

guint
cv_mgr_port_pool_allocate(CvMgrPortPool *pool, const char *bind_address, GError **error)
{
    guint span = pool->max - pool->min + 1;

    for (guint i = 0; i < span; i++) {
        guint port = pool->next;

        pool->next = port >= pool->max ? pool->min : port + 1;
        if (port == 0 || cv_mgr_port_pool_in_use(pool, port))
            continue;
        if (!cv_mgr_port_is_free(bind_address, port))
            continue;
        g_hash_table_add(pool->used, GUINT_TO_POINTER(port));
        return port;
    }
    g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "no free host port in %u-%u", pool->min, pool->max);
    return 0;
}

gboolean
cv_mgr_port_pool_reserve(CvMgrPortPool *pool, guint port, GError **error)
{
    if (port == 0 || port > 65535) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "host_port: %u is not a port", port);
        return FALSE;
    }
    if (cv_mgr_port_pool_in_use(pool, port)) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "host_port: %u is used by another CVM", port);
        return FALSE;
    }
    g_hash_table_add(pool->used, GUINT_TO_POINTER(port));
    return TRUE;
}

void
cv_mgr_port_pool_release(CvMgrPortPool *pool, guint port)
{
    g_hash_table_remove(pool->used, GUINT_TO_POINTER(port));
}
