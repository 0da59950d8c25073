/* json_bench.c - JSON codec throughput on one core.
 *
 * Decodes and encodes a typical ~100-byte metronome event and a ~1 KiB
 * nested document in loops with a fixed iteration count, and prints ops/s
 * and MB/s (of JSON text) for each, from the fastest of five rounds. Not a test: it checks only that every
 * call succeeds. Usage: json_bench [scale], scale multiplies the counts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/json.h"
#include "core/buf.h"

static const char small_doc[] =
    "{\"onramp\":\"metronome\",\"ingest_ns\":1637340000123456789,\"id\":123456,"
    "\"hostname\":\"tremor-host-01.example\"}";

static const char big_doc[] =
    "{\"event\":{\"onramp\":\"metronome\",\"ingest_ns\":1637340000123456789,\"id\":123456,"
    "\"hostname\":\"tremor-host-01.example.com\",\"tags\":[\"prod\",\"eu-west-1\",\"wal\",\"ws\"]},"
    "\"meta\":{\"source\":{\"uid\":1,\"stream\":0,\"url\":\"tremor://localhost/onramp/metronome/01/out\"},"
    "\"tracked\":[{\"source\":1,\"stream\":0,\"min\":120000,\"max\":123456},"
    "{\"source\":140737488355329,\"stream\":0,\"min\":7,\"max\":9}],\"transactional\":true},"
    "\"metrics\":{\"latency_ms\":{\"p50\":0.42,\"p90\":1.25,\"p99\":7.5,\"max\":31.0625},"
    "\"counts\":[1,2,3,5,8,13,21,34,55,89,144,233,377,610,987],"
    "\"rates\":[0.5,1.5,2.25,3.125,1e-3,6.02e23],\"ok\":true,\"errors\":null},"
    "\"message\":\"GET /api/v1/status HTTP/1.1\\\" 200 \\u00e9t\\u00e9 \\\"ok\\\"\\n\","
    "\"labels\":{\"app\":\"tremor\",\"component\":\"pipeline\",\"instance\":\"tremor-0\","
    "\"region\":\"eu-west-1\",\"zone\":\"eu-west-1a\",\"team\":\"platform\",\"tier\":\"backend\"},"
    "\"history\":[{\"t\":1637340000000000000,\"v\":-12},{\"t\":1637340001000000000,\"v\":7},"
    "{\"t\":1637340002000000000,\"v\":19},{\"t\":1637340003000000000,\"v\":-3}]}";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The machine is shared, so each figure is the best of ROUNDS rounds: the
 * run least disturbed by other work. */
#define ROUNDS 5

static void report(const char *what, size_t bytes, long iters, double best, double total) {
    printf("%-22s %5zu B  %10.0f ops/s  %8.1f MB/s  (best of %d x %ld, %.2f s total)\n", what, bytes,
           (double)iters / best, (double)bytes * (double)iters / best / 1e6, ROUNDS, iters, total);
}

static int run(const char *name, const char *doc, long iters) {
    size_t len = strlen(doc), out = 0;
    char label[64];
    tr_value v;
    struct tr_diag d;
    struct tr_buf b;
    double best = 1e9, total = 0;
    tr_diag_clear(&d);

    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (long i = 0; i < iters; i++) {
            if (tr_json_decode(doc, len, &v, &d)) {
                fprintf(stderr, "%s: decode failed: %s (%d:%d)\n", name, d.msg, d.line, d.col);
                return 1;
            }
            tr_value_unref(v);
        }
        double t = now_s() - t0;
        total += t;
        if (t < best) best = t;
    }
    snprintf(label, sizeof label, "decode %s", name);
    report(label, len, iters, best, total);

    if (tr_json_decode(doc, len, &v, &d)) return 1;
    tr_buf_init(&b);
    best = 1e9;
    total = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (long i = 0; i < iters; i++) {
            tr_buf_reset(&b);
            if (tr_json_encode(&v, &b)) {
                fprintf(stderr, "%s: encode failed\n", name);
                return 1;
            }
            out = b.len;
        }
        double t = now_s() - t0;
        total += t;
        if (t < best) best = t;
    }
    snprintf(label, sizeof label, "encode %s", name);
    report(label, out, iters, best, total);
    tr_buf_fini(&b);
    tr_value_unref(v);
    return 0;
}

int main(int argc, char **argv) {
    long scale = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    if (scale < 1 || scale > 100) scale = 1;
    int rc = run("small event", small_doc, 200000 * scale);
    rc |= run("1 KiB nested", big_doc, 30000 * scale);
    return rc;
}
