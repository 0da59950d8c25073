/* fuzz_dns_answer.c - the DNS answer parser (connectors/dns_answer.c) on
 * any bytes as a resolver's response: the first byte picks the type asked
 * for, the rest is the message. It parses or fails with TR_EPARSE, never
 * reads outside the message, and what it returns is well-formed: one
 * {"<TYPE>": string, "ttl": 0..2^32-1} per answer, no more answers than the
 * message has room for (11 bytes each at least).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/dns_answer.h"
#include "core/error.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int qtypes[] = {1, 28, 5, 16, 15, 33, 6, 12, 2, 255, 65305, 99};
    if (size < 1) return 0;
    int qtype = qtypes[data[0] % (sizeof qtypes / sizeof qtypes[0])];
    /* a copy of exactly the message: ASan sees any read past it */
    size_t n = size - 1;
    uint8_t *msg = malloc(n ? n : 1);
    if (!msg) return 0;
    memcpy(msg, data + 1, n);
    tr_value arr;
    if (tr_v_arr(4, &arr)) {
        free(msg);
        return 0;
    }
    int rcode = -1;
    int rc = tr_dns_answer_parse(msg, n, qtype, &arr, &rcode);
    free(msg);
    if (rc != 0 && rc != TR_EPARSE && rc != -ENOMEM) fuzz_fail("unexpected code %d", rc);
    if (rc == 0 && (rcode < 0 || rcode > 15)) fuzz_fail("rcode %d", rcode);
    if (tr_arr_len(&arr) > n / 11) fuzz_fail("%u records from %zu bytes", tr_arr_len(&arr), n);
    for (uint32_t i = 0; i < tr_arr_len(&arr); i++) {
        const tr_value *r = tr_arr_at(&arr, i);
        if (r->type != TR_REC || tr_rec_len(r) != 2) fuzz_fail("record %u is not {type, ttl}", i);
        const struct tr_field *f = tr_rec_at(r, 0);
        if (f->val.type != TR_STR) fuzz_fail("record %u: data is not a string", i);
        if (qtype != 255) {
            char b[16];
            const char *want = tr_dns_type_name(qtype, b, sizeof b);
            if (strcmp(f->key->data, want) != 0) fuzz_fail("record %u: %s, asked %s", i, f->key->data, want);
        }
        const tr_value *ttl = tr_rec_get_cstr(r, "ttl");
        if (!ttl || ttl->type != TR_I64 || ttl->as.i < 0 || ttl->as.i > 4294967295LL)
            fuzz_fail("record %u: bad ttl", i);
    }
    tr_value_unref(arr);
    return 0;
}
