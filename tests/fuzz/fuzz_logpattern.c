/* fuzz_logpattern.c - log4rs-style patterns (core/log.h tr_log_set_pattern)
 * as a logger config can give them, and lines laid out by them.
 *
 * Input: a pattern (up to the first NUL), then the message. Oracles: a
 * pattern is accepted or refused with -EINVAL, never anything else; an
 * accepted one lays out a line without overrunning (ASan) and its output
 * holds the message whenever the pattern has a plain {m}. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "fuzz_util.h"

static char out[1 << 16];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char pat[4096], msg[1024];
    size_t i = 0;
    while (i < size && data[i] && i + 1 < sizeof pat) i++;
    memcpy(pat, data, i);
    pat[i] = 0;
    size_t rest = size > i + 1 ? size - i - 1 : 0;
    if (rest >= sizeof msg) rest = sizeof msg - 1;
    if (rest) memcpy(msg, data + i + 1, rest);
    msg[rest] = 0;
    /* the message goes through "%s": no format string from the input */
    for (size_t k = 0; k < rest; k++)
        if (!msg[k]) msg[k] = ' ';
    char note[256];
    int rc = tr_log_set_pattern(pat, note, sizeof note);
    if (rc && rc != -EINVAL) fuzz_fail("pattern refused with %d", rc);
    if (rc) return 0;
    FILE *f = fmemopen(out, sizeof out, "w");
    if (!f) return 0;
    tr_log_set_stream(f);
    tr_log(TR_LOG_ERROR, "fuzz", "%s", msg);
    tr_log_set_stream(NULL);
    long n = ftell(f);
    fclose(f);
    out[n >= 0 && (size_t)n < sizeof out ? (size_t)n : sizeof out - 1] = 0;
    /* a lone {m} outside any {h(...)} must show the message */
    if (!strchr(msg, '{') && !strcmp(pat, "{m}") && strcmp(out, msg))
        fuzz_fail("pattern {m} wrote '%s' for '%s'", out, msg);
    tr_log_set_pattern(NULL, NULL, 0);
    return 0;
}
