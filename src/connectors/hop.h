/* hop.h - hop-to-hop acknowledgement between two tremor-c instances.
 *
 * A ws offramp in ack_mode "hop" and a ws onramp with hop_ack: true agree
 * on it in the WebSocket upgrade (subprotocol TR_HOP_PROTOCOL). Then the
 * receiver tells the sender, on the same connection, how many of its data
 * messages (counted from 1 on that connection) its own pipeline has
 * acknowledged, every one before them included: an unsolicited pong whose
 * payload is TR_HOP_ACK_TAG followed by that count as 8 bytes big-endian
 * (RFC 6455 5.5.3 allows unsolicited pongs; plain peers ignore them). The
 * sender forgets a record only then, so with a qos::wal on both sides a
 * record leaves the first log only once it is on the second one's disk.
 * A message whose events failed downstream ends the connection (close
 * 1011); the sender replays everything not yet counted.
 *
 * The ledger is the receiver's bookkeeping: the messages of every hop
 * connection of one onramp in event-id order, each with the ids of the
 * events it became, and which of those ids were acknowledged. Messages are
 * settled from the oldest on, so each connection sees its messages settle
 * in order. Not thread-safe: the loop's.
 */
#ifndef TR_HOP_H
#define TR_HOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ring.h"

#define TR_HOP_PROTOCOL "tremor-hop-ack.v1"
#define TR_HOP_ACK_TAG 'A'
#define TR_HOP_ACK_LEN 9

/* Encode / decode an ack payload. decode: 1 and *count when p[0..n) is
 * one, else 0 (another pong). */
void tr_hop_ack_encode(uint64_t count, uint8_t out[TR_HOP_ACK_LEN]);
int tr_hop_ack_decode(const uint8_t *p, size_t n, uint64_t *count);

struct tr_hop_ledger {
    struct tr_ring msgs;     /* struct tr_hop_msg, oldest first */
    uint64_t *bits;          /* acked ids base.., a ring of nbits bits */
    uint64_t nbits;          /* 0 or a power of two (>= 64) */
    uint64_t base;           /* first id the bits cover */
    uint64_t top;            /* one past the last id noted */
    uint64_t scan;           /* ids of the oldest message below this are known acked */
};

/* Why a message left the ledger. */
enum tr_hop_outcome { TR_HOP_ACKED, TR_HOP_FAILED };

void tr_hop_ledger_init(struct tr_hop_ledger *l);
void tr_hop_ledger_fini(struct tr_hop_ledger *l);

/* A message of conn became the events [first, end) (first == end: none,
 * e.g. it did not decode; it settles when everything before it has).
 * Ids must not go down from one call to the next. 0, -ENOMEM (nothing
 * noted: the caller ends that connection) or TR_EINVAL (ids went down). */
int tr_hop_note(struct tr_hop_ledger *l, void *conn, uint64_t first, uint64_t end);
/* Ids min..max were acknowledged downstream. Ids outside the ledger are
 * ignored; acking twice is harmless. */
void tr_hop_ack(struct tr_hop_ledger *l, uint64_t min, uint64_t max);
/* The event with this id failed downstream: its message fails. */
void tr_hop_fail(struct tr_hop_ledger *l, uint64_t id);
/* conn is gone: its messages stay (their ids will still be answered) but
 * settle() no longer names it. */
void tr_hop_forget(struct tr_hop_ledger *l, const void *conn);
/* Remove the settled messages from the oldest on, calling settled(arg,
 * conn, outcome) for each one whose connection is known. settled must not
 * call into the ledger. Returns how many were removed. */
size_t tr_hop_settle(struct tr_hop_ledger *l,
                     void (*settled)(void *arg, void *conn, enum tr_hop_outcome o), void *arg);
/* Messages noted and not yet settled. */
static inline size_t tr_hop_pending(const struct tr_hop_ledger *l) { return tr_ring_len(&l->msgs); }

#endif
