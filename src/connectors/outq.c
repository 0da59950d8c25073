/* outq.c - pending transactional messages on a TCP stream (see outq.h).
 *
 * The ring (core/ring.h) holds only tokens, offsets and send times, so a
 * million messages in flight cost 24 MiB.
 */
#include "connectors/outq.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>


void tr_outq_init(struct tr_outq *q) { tr_ring_init(&q->q, sizeof(struct tr_outq_ent)); }

void tr_outq_fini(struct tr_outq *q) { tr_ring_fini(&q->q); }

int tr_outq_push(struct tr_outq *q, uint64_t token, uint64_t end, uint64_t sent_ns) {
    struct tr_outq_ent *e = tr_ring_push_slot(&q->q);   /* one per message: stored in place */
    if (!e) return -ENOMEM;
    *e = (struct tr_outq_ent){.token = token, .end = end, .sent_ns = sent_ns};
    return 0;
}

/* Unstamped messages are the newest (a suffix): walk back to the first
 * stamped one. */
void tr_outq_stamp(struct tr_outq *q, uint64_t written, uint64_t now_ns) {
    for (size_t i = tr_ring_len(&q->q); i-- > 0;) {
        struct tr_outq_ent *e = tr_ring_at(&q->q, i);
        if (e->sent_ns) break;
        if (e->end <= written) e->sent_ns = now_ns;
    }
}

bool tr_outq_pop(struct tr_outq *q, uint64_t acked, struct tr_outq_ent *out) {
    const struct tr_outq_ent *e = tr_ring_peek(&q->q);
    if (!e || e->end > acked) return false;
    return tr_ring_pop(&q->q, out);
}

uint64_t tr_outq_first_end(const struct tr_outq *q) {
    const struct tr_outq_ent *e = tr_ring_peek(&q->q);
    return e ? e->end : UINT64_MAX;
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

int tr_outq_txack_enable(int fd) {
    int v = SOF_TIMESTAMPING_TX_ACK | SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY |
            SOF_TIMESTAMPING_SOFTWARE;
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &v, sizeof v) != 0) return -errno;
    return 0;
}

/* Between two reports the peer acknowledges far less than 2 GiB (the send
 * buffer bounds what is in flight), so the nearest offset ahead is right. */
void tr_outq_txack_raise(uint64_t *acked, uint32_t last_byte) {
    uint32_t end32 = last_byte + 1u;   /* wraps like the offsets it counts */
    int64_t ahead = (int32_t)(end32 - (uint32_t)*acked);
    if (ahead > 0) *acked += (uint64_t)ahead;
}

int tr_outq_txack_drain(int fd, uint64_t *acked) {
    int n = 0;
    for (;;) {
        char ctrl[512];
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_control = ctrl;
        mh.msg_controllen = sizeof ctrl;
        ssize_t r = recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return n;
            if (errno == EINTR) continue;
            return -errno;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            bool ip = (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                      (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR);
            if (!ip) continue;
            struct sock_extended_err ee;
            memcpy(&ee, CMSG_DATA(c), sizeof ee);
            if (ee.ee_errno != ENOMSG || ee.ee_origin != SO_EE_ORIGIN_TIMESTAMPING ||
                ee.ee_info != SCM_TSTAMP_ACK)
                continue;
            tr_outq_txack_raise(acked, ee.ee_data);
            n++;
        }
    }
}
