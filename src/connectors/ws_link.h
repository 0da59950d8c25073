/* ws_link.h - the linked ws offramp (`linked: true`): pairing what the
 * server sends back with the messages sent, as 0.11 does.
 *
 * 0.11 waits, after each message, for the server's next text or binary
 * message and makes it the response: an event out of the port `out` with the
 * ids of the message sent and meta {binary, correlation}. Errors (nothing
 * connected, the connection lost before the answer, a response the codec
 * cannot read) are events out of `err`: {"error"} with meta {error,
 * correlation}. Here the pairing is the same (in send order, per
 * connection), but nothing waits: responses are matched as they come.
 *
 * Acks stay those of the ws offramp (on peer receipt): an ack of a message
 * whose response has not come yet is held back until it comes, since the
 * response must reach the host before the message's ack (conn.h). When the
 * connection ends, messages still waiting get an error event instead and
 * their held ack goes out. Fails are answered at once, after an error event.
 *
 * Not a connector: ws_client.c owns one, calls it on the loop thread,
 * never from inside wslay (received messages are copied into the inbox
 * there and delivered after wslay returns).
 */
#ifndef TR_WS_LINK_H
#define TR_WS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connectors/conn.h"
#include "core/log.h"
#include "core/ring.h"

struct tr_codec;

/* Bounds: a response larger than this ends the connection (wslay refuses
 * to assemble it: close 1009), so what waits gets an error event; more messages waiting for a response than this and a new
 * send is refused (failed, error event). */
#define TR_WS_LINK_MAX_MSG ((size_t)16 << 20)
#define TR_WS_LINK_MAX_WAITING 65536
#define TR_WS_LINK_MAX_INBOX 4096   /* messages of one read pass */

struct tr_ws_link {
    struct tr_offramp_host *host;
    const struct tr_codec *codec;
    const char *url;             /* for error texts; borrowed from the owner */
    struct tr_ring wait;         /* struct tr_ws_link_wait, in send order */
    struct tr_ring inbox;        /* struct tr_ws_link_msg, in arrival order */
    size_t unpaired;             /* entries of wait before this index have their response or gave up */
    uint64_t responses, errors, unsolicited;
    struct tr_log_limit lim;
};

/* Set up l (caller's storage). codec: decodes responses. Never fails. */
void tr_ws_link_init(struct tr_ws_link *l, struct tr_offramp_host *host, const struct tr_codec *codec,
                     const char *url);
/* Drop everything (values, copied messages); answers nothing. */
void tr_ws_link_fini(struct tr_ws_link *l);

/* A message with this host token went on the current connection: it waits
 * for a response. meta is the event's (its correlation is copied); may be
 * NULL. 0, TR_EFULL (too many waiting) or -ENOMEM: then the caller refuses
 * it (tr_ws_link_refuse). */
int tr_ws_link_sent(struct tr_ws_link *l, uint64_t token, const tr_value *meta);

/* The message of the last tr_ws_link_sent did not go out after all (its
 * frame could not be queued): it waits for nothing. The caller refuses it. */
void tr_ws_link_unsend(struct tr_ws_link *l);

/* A message that will not be sent: an error event with why, then a fail. */
void tr_ws_link_refuse(struct tr_ws_link *l, uint64_t token, const tr_value *meta, const char *why);

/* The ws offramp's answer for a token: acks wait for the response (or the
 * end of the connection); fails go out at once after an error event.
 * Tokens never passed to tr_ws_link_sent are answered directly. */
void tr_ws_link_answer(struct tr_ws_link *l, uint64_t token, bool ok);

/* From inside wslay's message callback: copy a text/binary message into the
 * inbox. 0, or TR_EFULL / -ENOMEM (the message is dropped and counted: the
 * caller ends the connection, as its pairing would be lost). */
int tr_ws_link_received(struct tr_ws_link *l, const uint8_t *data, size_t len, bool binary);

/* Outside wslay: pair the inbox with waiting messages, in order; emit each
 * response (or error) and answer the acks it held back. */
void tr_ws_link_deliver(struct tr_ws_link *l);

/* The connection ended: whatever still waits gets no response. Held acks go
 * out after an error event; later answers for these tokens likewise. */
void tr_ws_link_down(struct tr_ws_link *l, const char *why);

#endif
