/* outq.h - transactional messages written to a TCP stream that wait for
 * the peer's TCP to acknowledge their last byte.
 *
 * Each entry is (token, end): end is the stream offset just past the
 * message's last byte. The peer has acknowledged offset A when the bytes
 * handed to the socket, less those libuv still queues, less those the
 * kernel still holds unacknowledged (SIOCOUTQ), reach A. Entries are in
 * stream order, so acks come out in order. Not a sender: the caller writes.
 */
#ifndef TR_OUTQ_H
#define TR_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct tr_outq_ent {
    uint64_t token;
    uint64_t end;
};

struct tr_outq {
    struct tr_outq_ent *v;   /* ring, capacity a power of two */
    size_t head, len, cap;
};

void tr_outq_init(struct tr_outq *q);
void tr_outq_fini(struct tr_outq *q);
static inline size_t tr_outq_len(const struct tr_outq *q) { return q->len; }

/* Append one message; end must not be below the last one's. 0 or -ENOMEM. */
int tr_outq_push(struct tr_outq *q, uint64_t token, uint64_t end);
/* Take the oldest message if its end is at or below acked (or, with acked
 * = UINT64_MAX, whatever is oldest). Callers pop one entry, then answer it:
 * the answer may push more. */
bool tr_outq_pop(struct tr_outq *q, uint64_t acked, uint64_t *token);

/* The stream offset the peer's TCP has acknowledged, given that queued
 * bytes were handed to uv_write on tcp so far. 0, or -errno from the
 * ioctl (then *acked is untouched). */
int tr_outq_peer_acked(uv_tcp_t *tcp, uint64_t queued, uint64_t *acked);

#endif
