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
 * 1011); the sender replays everything not yet counted. The receiver keeps
 * its messages in a ledger (connectors/ledger.h).
 */
#ifndef TR_HOP_H
#define TR_HOP_H

#include <stddef.h>
#include <stdint.h>

#define TR_HOP_PROTOCOL "tremor-hop-ack.v1"
#define TR_HOP_ACK_TAG 'A'
#define TR_HOP_ACK_LEN 9

/* Encode / decode an ack payload. decode: 1 and *count when p[0..n) is
 * one, else 0 (another pong). */
void tr_hop_ack_encode(uint64_t count, uint8_t out[TR_HOP_ACK_LEN]);
int tr_hop_ack_decode(const uint8_t *p, size_t n, uint64_t *count);

#endif
