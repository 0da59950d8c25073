/* outq.h - transactional messages written to a TCP stream that wait for
 * the peer's TCP to acknowledge their last byte, and the two ways to learn
 * how far the peer has acknowledged.
 *
 * Each entry is (token, end, sent_ns): end is the stream offset just past
 * the message's last byte. Event-driven (Linux): with SO_TIMESTAMPING
 * TX_ACK | OPT_ID | OPT_TSONLY the kernel queues a report on the socket's
 * error queue when the peer's ACK covers the last byte of a send; OPT_ID
 * numbers it by that byte's offset (32 bits, counted from when the option
 * was set, so set it before the first write). Fallback: the bytes handed to
 * the socket, less those libuv still queues, less those the kernel still
 * holds unacknowledged (SIOCOUTQ). Entries are in stream order, so acks
 * come out in order. Not a sender: the caller writes.
 */
#ifndef TR_OUTQ_H
#define TR_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/ring.h"

struct tr_outq_ent {
    uint64_t token;
    uint64_t end;
    uint64_t sent_ns;        /* when it was handed over, for ack latency */
};

struct tr_outq {
    struct tr_ring q;        /* of struct tr_outq_ent, oldest first */
};

void tr_outq_init(struct tr_outq *q);
void tr_outq_fini(struct tr_outq *q);
static inline size_t tr_outq_len(const struct tr_outq *q) { return tr_ring_len(&q->q); }

/* Append one message sent at sent_ns; end must not be below the last
 * one's. 0 or -ENOMEM. sent_ns 0: its bytes are not handed to the socket
 * yet, tr_outq_stamp sets it when they are (one clock read per write, not
 * one per message). */
int tr_outq_push(struct tr_outq *q, uint64_t token, uint64_t end, uint64_t sent_ns);
/* The first written bytes of the stream are handed to the socket at now_ns:
 * every message not stamped yet whose end is at or below written gets it. */
void tr_outq_stamp(struct tr_outq *q, uint64_t written, uint64_t now_ns);
/* 1 when the newest message waits for tr_outq_stamp. */
static inline bool tr_outq_unstamped(const struct tr_outq *q) {
    size_t n = tr_ring_len(&q->q);
    return n && ((const struct tr_outq_ent *)tr_ring_at(&q->q, n - 1))->sent_ns == 0;
}
/* Take the oldest message if its end is at or below acked (or, with acked
 * = UINT64_MAX, whatever is oldest) into *e. Callers pop one entry, then
 * answer it: the answer may push more. */
bool tr_outq_pop(struct tr_outq *q, uint64_t acked, struct tr_outq_ent *e);
/* End offset of the oldest message (UINT64_MAX when empty). */
uint64_t tr_outq_first_end(const struct tr_outq *q);

/* The stream offset the peer's TCP has acknowledged, given that queued
 * bytes were handed to uv_write on tcp so far. 0, or -errno from the
 * ioctl (then *acked is untouched). */
int tr_outq_peer_acked(uv_tcp_t *tcp, uint64_t queued, uint64_t *acked);

/* Ask for a TX_ACK report per send on fd (see above). 0, or -errno where
 * the kernel cannot (then use tr_outq_peer_acked alone). */
int tr_outq_txack_enable(int fd);
/* Read every report queued on fd's error queue and raise *acked (a stream
 * offset, 0 before any report) to the highest offset the peer has
 * acknowledged. Reports may be merged or dropped by the kernel; each is
 * cumulative, so a later one covers an earlier one. Returns the number of
 * reports read, or -errno of a failed read other than EAGAIN. A pending
 * socket error (e.g. ECONNRESET) is left for the stream's own read. */
int tr_outq_txack_drain(int fd, uint64_t *acked);
/* One report: raise *acked to just past last_byte, the acknowledged byte's
 * offset modulo 2^32, taken as the nearest such offset ahead of *acked (a
 * report behind it changes nothing). */
void tr_outq_txack_raise(uint64_t *acked, uint32_t last_byte);

#endif
