/* ws_io.c - the byte hand-over between a connection and its wslay context,
 * the same for the ws offramp (client) and the ws onramp (server). */
#include <string.h>

#include "connectors/ws_int.h"

ssize_t tr_ws_io_recv(wslay_event_context_ptr ctx, struct tr_ws_io *io, uint8_t *buf, size_t len,
                      bool hold) {
    if (hold || !io->in_len || !io->slice) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < io->in_len ? len : io->in_len;
    if (n > io->slice) n = io->slice;
    memcpy(buf, io->in, n);
    io->in += n;
    io->in_len -= n;
    io->slice -= n;
    return (ssize_t)n;
}

ssize_t tr_ws_io_send(wslay_event_context_ptr ctx, struct tr_ws_io *io, const uint8_t *data,
                      size_t len) {
    if (tr_buf_append(&io->out, data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}
