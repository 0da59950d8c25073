/* ledger.h - which messages of which connections became which events, and
 * when each message is answered.
 *
 * An onramp that answers its peer per message once the pipeline has
 * acknowledged that message's events (the ws onramp's hop_ack, the relp
 * onramp) notes each message with the ids of the events it became; acks come
 * back per event id, in any order and maybe twice; messages are settled from
 * the oldest on, so each connection sees its messages settle in the order it
 * sent them. Not thread-safe: the loop's.
 */
#ifndef TR_LEDGER_H
#define TR_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ring.h"

struct tr_ledger {
    struct tr_ring msgs;     /* struct tr_ledger_msg, oldest first */
    uint64_t *bits;          /* acked ids base.., a ring of nbits bits */
    uint64_t nbits;          /* 0 or a power of two (>= 64) */
    uint64_t base;           /* first id the bits cover */
    uint64_t top;            /* one past the last id noted */
    uint64_t scan;           /* ids of the oldest message below this are known acked */
};

/* Why a message left the ledger. */
enum tr_ledger_outcome { TR_LEDGER_ACKED, TR_LEDGER_FAILED };

void tr_ledger_init(struct tr_ledger *l);
void tr_ledger_fini(struct tr_ledger *l);

/* A message of conn became the events [first, end) (first == end: none,
 * e.g. it did not decode; it settles when everything before it has).
 * Ids must not go down from one call to the next. 0, -ENOMEM (nothing
 * noted: the caller ends that connection) or -EINVAL (ids went down). */
int tr_ledger_note(struct tr_ledger *l, void *conn, uint64_t first, uint64_t end);
/* Ids min..max were acknowledged downstream. Ids outside the ledger are
 * ignored; acking twice is harmless. */
void tr_ledger_ack(struct tr_ledger *l, uint64_t min, uint64_t max);
/* The event with this id failed downstream: its message fails. */
void tr_ledger_fail(struct tr_ledger *l, uint64_t id);
/* conn is gone: its messages stay (their ids will still be answered) but
 * settle() no longer names it. */
void tr_ledger_forget(struct tr_ledger *l, const void *conn);
/* Remove the settled messages from the oldest on, calling settled(arg,
 * conn, outcome) for each one whose connection is known. settled must not
 * call into the ledger. Returns how many were removed. */
size_t tr_ledger_settle(struct tr_ledger *l,
                        void (*settled)(void *arg, void *conn, enum tr_ledger_outcome o),
                        void *arg);
/* Messages noted and not yet settled. */
static inline size_t tr_ledger_pending(const struct tr_ledger *l) { return tr_ring_len(&l->msgs); }

#endif
