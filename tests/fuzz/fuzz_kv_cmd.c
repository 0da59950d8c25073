/* fuzz_kv_cmd.c - the kv offramp's command reader and 0.11's Display of a
 * value (connectors/kv_cmd.c) on any JSON document: a command is read or
 * refused with one of 0.11's messages; what is read points into the value;
 * the Display stays within its bound.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "connectors/kv_cmd.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tr_value v;
    if (tr_json_decode((const char *)data, size, &v, NULL)) return 0;
    struct tr_kv_cmd c;
    char msg[512];
    msg[0] = 0;
    int rc = tr_kv_parse(&v, &c, msg, sizeof msg);
    if (rc != 0 && rc != -1) fuzz_fail("code %d", rc);
    if (rc) {
        if (strncmp(msg, "Invalid KV command: ", 20) != 0 && strcmp(msg, "Missing or invalid `key` field") != 0 &&
            strcmp(msg, "Missing `value` field") != 0)
            fuzz_fail("unexpected message '%s'", msg);
    } else {
        if (c.op > TR_KV_CAS) fuzz_fail("op %d", (int)c.op);
        if (c.op != TR_KV_SCAN && !c.key.mv_data) fuzz_fail("no key");
        if (c.op == TR_KV_PUT && !c.value) fuzz_fail("put without value");
        (void)tr_kv_op_name(c.op);
    }
    struct tr_buf b;
    tr_buf_init(&b);
    rc = tr_kv_display(&v, &b);
    if (rc && rc != -ENOMEM) fuzz_fail("display code %d", rc);
    if (b.len > 512 + 256) fuzz_fail("display of %zu bytes", b.len);
    tr_buf_fini(&b);
    tr_value_unref(v);
    return 0;
}
