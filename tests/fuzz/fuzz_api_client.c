/* fuzz_api_client.c - the answer parser of `tremor api`'s HTTP client
 * (api/client.c) on arbitrary bytes, as a server could send them.
 *
 * Oracles: it returns 0 or a negative code and never crashes or leaks; on
 * success the status is 100..599 and the body lies within the input and
 * is NUL-terminated.
 */
#include <string.h>

#include "api/client.h"
#include "core/error.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct tr_api_response r;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_api_client_parse((const char *)data, size, &r, &d);
    if (rc > 0) fuzz_fail("positive return %d", rc);
    if (rc == 0) {
        if (r.status < 100 || r.status > 599) fuzz_fail("status %d", r.status);
        if (r.body_len > size) fuzz_fail("body of %zu bytes from %zu of input", r.body_len, size);
        if (r.body[r.body_len] != '\0') fuzz_fail("body not NUL-terminated");
        if (r.body_len && !memmem(data, size, r.body, r.body_len)) fuzz_fail("body not from the input");
        tr_api_response_fini(&r);
    } else if (!d.msg[0]) {
        fuzz_fail("error %d without a message", rc);
    }
    return 0;
}
