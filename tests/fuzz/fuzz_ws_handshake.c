/* fuzz_ws_handshake.c - the WebSocket upgrade handshake (RFC 6455 4):
 * collecting an HTTP head over split reads, then checking it as a server
 * (request) and as a client (response to a fixed key).
 *
 * Input: byte 0 unused flags, bytes 1..4 chunk sizes (fuzz_util.h), then
 * the bytes that arrive. Oracles: where the head ends and how many bytes
 * were taken do not depend on the split; the head never exceeds
 * TR_WS_HEAD_MAX; a refused request answers 400 or 426 with a message; an
 * accepted one has a 24-character key.
 */
#include <errno.h>
#include <string.h>

#include "connectors/ws_int.h"
#include "fuzz_util.h"

#define HEAD 5
/* RFC 6455 1.3's example key and the accept value it implies */
static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

/* Feed data in chunks until the head is complete or refused; returns the
 * last feed result and the bytes of data taken in *taken. */
static int collect(struct tr_ws_head *h, const uint8_t *pat, const uint8_t *data, size_t len,
                   size_t *taken) {
    struct fuzz_chunks c = {{0}, 0};
    int rc = 0;
    if (pat) memcpy(c.pat, pat, 4);
    c.i = 0;
    tr_ws_head_init(h);
    *taken = 0;
    for (size_t off = 0; off < len;) {
        size_t k = pat ? fuzz_next_chunk(&c, len - off) : len - off;
        size_t used = 0;
        rc = tr_ws_head_feed(h, data + off, k, &used);
        if (used > k) fuzz_fail("used %zu of a %zu-byte read", used, k);
        *taken += used;
        if (h->len > TR_WS_HEAD_MAX) fuzz_fail("head of %zu bytes", h->len);
        if (rc != 0) break;
        if (used != k) fuzz_fail("incomplete head took %zu of %zu bytes", used, k);
        off += k;
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < HEAD) return 0;
    static struct tr_ws_head a, b;   /* 8 KiB each: keep them off the stack */
    size_t ta, tb;
    int ra = collect(&a, data + 1, data + HEAD, size - HEAD, &ta);
    int rb = collect(&b, NULL, data + HEAD, size - HEAD, &tb);
    if (ra != rb || ta != tb || a.done != b.done || a.len != b.len)
        fuzz_fail("split changes the head: rc %d/%d taken %zu/%zu len %zu/%zu", ra, rb, ta, tb, a.len, b.len);
    if (ra != 1) {
        if (ra != 0 && ra != TR_ETOOBIG) fuzz_fail("head feed returned %d", ra);
        return 0;
    }
    if (memcmp(a.buf, b.buf, a.len)) fuzz_fail("split changes the head's bytes");
    if (a.buf[a.len] != 0) fuzz_fail("head not NUL-terminated");

    struct tr_ws_request r;
    struct tr_diag d;
    int status = 0;
    tr_diag_clear(&d);
    int rc = tr_ws_request_parse(&a, &r, &status, &d);
    if (rc == 0) {
        if (strlen(r.key) != TR_WS_KEY_LEN) fuzz_fail("accepted a key of %zu characters", strlen(r.key));
        struct tr_buf resp;
        tr_buf_init(&resp);
        if (tr_ws_response_build(&resp, r.key)) fuzz_fail("response build");
        tr_buf_fini(&resp);
    } else {
        if (rc != TR_EPARSE && rc != -ENOMEM) fuzz_fail("request parse returned %d", rc);
        if (rc == TR_EPARSE && ((status != 400 && status != 426) || !d.msg[0]))
            fuzz_fail("refusal with status %d and message '%s'", status, d.msg);
    }
    tr_diag_clear(&d);
    rc = tr_ws_response_check(&a, key, &d);
    if (rc != 0 && rc != TR_EPARSE && rc != -ENOMEM) fuzz_fail("response check returned %d", rc);
    if (rc == TR_EPARSE && !d.msg[0]) fuzz_fail("response refused without a message");
    return 0;
}
