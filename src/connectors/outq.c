/* outq.c - pending transactional messages on a TCP stream (see outq.h).
 *
 * The ring grows by doubling and never shrinks while in use; it holds only
 * tokens and offsets, so a million messages in flight cost 16 MiB.
 */
#include "connectors/outq.h"

#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include "core/alloc.h"

void tr_outq_init(struct tr_outq *q) {
    q->v = NULL;
    q->head = q->len = q->cap = 0;
}

void tr_outq_fini(struct tr_outq *q) {
    tr_free(q->v);
    tr_outq_init(q);
}

int tr_outq_push(struct tr_outq *q, uint64_t token, uint64_t end) {
    if (q->len == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 256;
        if (nc < q->cap) return -ENOMEM;
        struct tr_outq_ent *v = tr_calloc(nc, sizeof *v);
        if (!v) return -ENOMEM;
        for (size_t i = 0; i < q->len; i++) v[i] = q->v[(q->head + i) & (q->cap - 1)];
        tr_free(q->v);
        q->v = v;
        q->cap = nc;
        q->head = 0;
    }
    struct tr_outq_ent *e = &q->v[(q->head + q->len) & (q->cap - 1)];
    e->token = token;
    e->end = end;
    q->len++;
    return 0;
}

bool tr_outq_pop(struct tr_outq *q, uint64_t acked, uint64_t *token) {
    if (!q->len) return false;
    struct tr_outq_ent *e = &q->v[q->head];
    if (e->end > acked) return false;
    *token = e->token;
    q->head = (q->head + 1) & (q->cap - 1);
    q->len--;
    return true;
}

int tr_outq_peer_acked(uv_tcp_t *tcp, uint64_t queued, uint64_t *acked) {
    uv_os_fd_t fd;
    int rc = uv_fileno((uv_handle_t *)tcp, &fd);
    if (rc) return rc;
    int outq = 0;
    if (ioctl(fd, SIOCOUTQ, &outq) != 0) return -errno;
    if (outq < 0) return -EINVAL;
    uint64_t waiting = uv_stream_get_write_queue_size((uv_stream_t *)tcp);
    uint64_t in_kernel = queued > waiting ? queued - waiting : 0;
    *acked = (uint64_t)outq > in_kernel ? 0 : in_kernel - (uint64_t)outq;
    return 0;
}
