/* fuzz_cron.c - the cron expression parser (connectors/cron.c) and its
 * next-fire search: any input parses or fails cleanly with a message; a
 * parsed expression's next time is strictly after the start, and searching
 * again from one second before it finds the same time (nothing matches in
 * between).
 */
#include <stdlib.h>
#include <string.h>

#include "connectors/cron.h"
#include "core/error.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    struct tr_cron c;
    char err[200];
    int rc = tr_cron_parse(s, &c, err, sizeof err);
    free(s);
    if (rc) {
        if (rc != TR_EPARSE || !err[0]) abort();
        return 0;
    }
    static const int64_t starts[] = {0, 951782400 /* 2000-02-29 */, 1700000000, 4102444799};
    for (size_t i = 0; i < sizeof starts / sizeof *starts; i++) {
        int64_t next, again;
        if (tr_cron_next(&c, starts[i], &next) != 0) continue;
        if (next <= starts[i]) abort();
        if (tr_cron_next(&c, next - 1, &again) != 0 || again != next) abort();
    }
    return 0;
}
