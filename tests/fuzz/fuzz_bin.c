/* fuzz_bin.c - the lossless value encoding (codec/bin.c) and the WAL's
 * event records (codec/event_bin.c).
 *
 * The first byte picks the decoder: even = a run of bin values, odd = one
 * event record. Damaged bytes must give TR_ECORRUPT; whatever decodes must
 * be stable: encode -> decode -> encode gives the same bytes again.
 */
#include <errno.h>
#include <string.h>

#include "codec/bin.h"
#include "codec/event_bin.h"
#include "core/event.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void same_bytes(const struct tr_buf *a, const struct tr_buf *b, const char *what) {
    if (a->len != b->len || memcmp(a->data, b->data, a->len))
        fuzz_fail("%s: re-encoding differs (%zu vs %zu bytes)", what, a->len, b->len);
}

static void values(const char *p, size_t len) {
    size_t off = 0;
    while (off < len) {
        tr_value v = tr_v_null(), w = tr_v_null();
        size_t before = off;
        int rc = tr_bin_decode(p, len, &off, &v);
        if (rc) {
            if (rc != TR_ECORRUPT && rc != TR_EDEPTH && rc != -ENOMEM) fuzz_fail("bin decode error %d", rc);
            if (v.type != TR_NULL) fuzz_fail("failed decode left a value");
            return;
        }
        if (off <= before || off > len) fuzz_fail("offset %zu -> %zu of %zu", before, off, len);
        struct tr_buf a, b;
        tr_buf_init(&a);
        tr_buf_init(&b);
        if (tr_bin_encode(&v, &a)) fuzz_fail("encode of a decoded value");
        size_t o2 = 0;
        if (tr_bin_decode(a.data, a.len, &o2, &w) || o2 != a.len) fuzz_fail("own encoding does not decode");
        if (tr_bin_encode(&w, &b)) fuzz_fail("second encode");
        same_bytes(&a, &b, "bin");
        tr_buf_fini(&a);
        tr_buf_fini(&b);
        tr_value_unref(v);
        tr_value_unref(w);
    }
}

static void event(const char *p, size_t len) {
    struct tr_event ev, ev2;
    int rc = tr_event_decode(p, len, &ev);
    if (rc) {
        if (rc != TR_ECORRUPT && rc != TR_EDEPTH && rc != -ENOMEM) fuzz_fail("event decode error %d", rc);
        if (ev.value.type != TR_NULL || ev.meta.type != TR_NULL || ev.ids.ntracked)
            fuzz_fail("failed decode left an event that is not empty");
        tr_event_fini(&ev);
        return;
    }
    struct tr_buf a, b;
    tr_buf_init(&a);
    tr_buf_init(&b);
    if (tr_event_encode(&ev, &a)) fuzz_fail("encode of a decoded event");
    if (tr_event_decode(a.data, a.len, &ev2)) fuzz_fail("own event encoding does not decode");
    if (tr_event_encode(&ev2, &b)) fuzz_fail("second event encode");
    same_bytes(&a, &b, "event");
    if (ev.ingest_ns != ev2.ingest_ns || ev.transactional != ev2.transactional ||
        memcmp(&ev.ids.id, &ev2.ids.id, sizeof ev.ids.id) || ev.ids.ntracked != ev2.ids.ntracked)
        fuzz_fail("event header fields changed in the round trip");
    tr_buf_fini(&a);
    tr_buf_fini(&b);
    tr_event_fini(&ev);
    tr_event_fini(&ev2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1) event((const char *)data + 1, size - 1);
    else values((const char *)data + 1, size - 1);
    return 0;
}
