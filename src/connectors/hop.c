/* hop.c - the hop acknowledgement's payload (hop.h). */
#include "connectors/hop.h"

void tr_hop_ack_encode(uint64_t count, uint8_t out[TR_HOP_ACK_LEN]) {
    out[0] = TR_HOP_ACK_TAG;
    for (int i = 0; i < 8; i++) out[1 + i] = (uint8_t)(count >> (56 - 8 * i));
}

int tr_hop_ack_decode(const uint8_t *p, size_t n, uint64_t *count) {
    if (n != TR_HOP_ACK_LEN || p[0] != TR_HOP_ACK_TAG) return 0;
    uint64_t c = 0;
    for (int i = 0; i < 8; i++) c = c << 8 | p[1 + i];
    *count = c;
    return 1;
}
