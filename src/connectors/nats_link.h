/* nats_link.h - what the `nats` onramp and offramp share: the 0.11
 * connection keys (hosts, options) turned into libnats options, and a
 * mailbox that carries what libnats's own threads report (a message, a
 * publish ack, "connected", "disconnected", "closed") to the libuv loop.
 *
 * Threading: libnats reads, reconnects and runs callbacks on threads of its
 * own. Those threads touch nothing of a connector but its mailbox: they
 * push an item under the mailbox mutex and wake the loop with uv_async;
 * the loop pops under the same mutex and owns every item it popped. Not a
 * NATS client: libnats is.
 */
#ifndef TR_NATS_LINK_H
#define TR_NATS_LINK_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/error.h"
#include "core/value.h"

struct tr_conn_spec;

/* ------------------------------------------------------------ options */

/* Build libnats options from 0.11's `hosts` (array of "host:port" or
 * nats:// URLs) and `options` record (token, username, password,
 * credentials_path, cert_path, key_path, name, echo, max_reconnects,
 * reconnect_buffer_size, tls, root_cert). Reconnects forever unless
 * max_reconnects says otherwise, retries a failed first connect, and
 * reports connected / disconnected / closed through cb(closure, kind).
 * Returns 0 and *out (the caller destroys it with natsOptions_Destroy), or
 * TR_EINVAL_CFG with d located at the key, or -ENOMEM. */
enum tr_nats_ev { TR_NATS_UP = 1, TR_NATS_DOWN, TR_NATS_CLOSED };
int tr_nats_options(const struct tr_conn_spec *spec, const tr_value *hosts, const tr_value *options,
                    natsConnectionHandler up, natsConnectionHandler down,
                    natsConnectionHandler closed, void *closure, natsOptions **out,
                    struct tr_diag *d);

/* "message (status text)" of the last libnats error of this thread. */
const char *tr_nats_err(natsStatus s, char *buf, size_t n);

/* ------------------------------------------------------------ mailbox */

struct tr_nats_item {
    struct tr_nats_item *next;
    int kind;            /* the owner's; TR_NATS_UP/DOWN/CLOSED for connection events */
    natsMsg *msg;        /* owned by whoever holds the item */
    uint64_t token;
    int status;          /* 0 or a natsStatus */
};

struct tr_nats_mbox {
    uv_mutex_t mu;
    uv_cond_t cv;        /* the owner's waits (a worker thread waiting for room) */
    uv_async_t async;    /* wakes the loop; its data is the owner's */
    struct tr_nats_item *head, *tail;
    uint64_t n;
    bool closed;         /* libnats's closed callback, the connection's last, has run */
};

/* On the loop thread: init mutex, condition and async (cb runs on the loop
 * after any push). Returns 0 or a negative libuv error (nothing to undo). */
int tr_nats_mbox_init(struct tr_nats_mbox *m, uv_loop_t *loop, uv_async_cb cb, void *data);
/* Any thread: append it (allocated by the caller with tr_malloc; taken) and
 * wake the loop. Call with m->mu held when locked is true. */
void tr_nats_mbox_push(struct tr_nats_mbox *m, struct tr_nats_item *it, bool locked);
/* Any thread, allocates: push an item of kind with no message. -ENOMEM
 * drops it (a connection event; the next one restates the state). */
int tr_nats_mbox_post(struct tr_nats_mbox *m, int kind, uint64_t token, int status);
/* Loop thread: take the whole list (oldest first), NULL when empty. */
struct tr_nats_item *tr_nats_mbox_take(struct tr_nats_mbox *m);
/* Loop thread: close the async handle (close_cb gets it), after which no
 * thread may push; the mutex and condition are destroyed by _fini. */
void tr_nats_mbox_close(struct tr_nats_mbox *m, uv_close_cb close_cb);
/* Free the items left (messages destroyed) and the mutex and condition. */
void tr_nats_mbox_fini(struct tr_nats_mbox *m);
/* libnats's thread, from the closed callback: note it and wake waiters. */
void tr_nats_mbox_closed(struct tr_nats_mbox *m);
/* A thread that closed the connection: wait up to ms for that callback, so
 * nothing of libnats calls into the owner after it is freed. Returns
 * whether it came. */
bool tr_nats_mbox_wait_closed(struct tr_nats_mbox *m, uint64_t ms);
/* Free a list returned by _take from it on (messages destroyed). */
void tr_nats_items_free(struct tr_nats_item *it);

/* ------------------------------------------------------------ headers */

/* $nats.headers (a record of arrays of strings, 0.11's shape) and the
 * configured headers into msg. Entries that are not strings are skipped,
 * as 0.11 skips them. Returns 0 or a natsStatus. */
int tr_nats_add_headers(natsMsg *msg, const tr_value *headers);
/* msg's headers as such a record into *out (TR_NULL when it has none).
 * Returns 0 or -ENOMEM. */
int tr_nats_headers_value(natsMsg *msg, tr_value *out);

#endif
