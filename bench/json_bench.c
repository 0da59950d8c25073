/* json_bench.c - JSON codec throughput on one core, beside simdjson and jansson.
 *
 * The main rows use the events of Tremor's bench_pipe_passthrough_json
 * (demo-data/data.json.xz, 629 B per event on average): our decoder with
 * each string scanner this CPU can run (json_scan.h), our encoder, both
 * together (what the passthrough config pays per event), simdjson's
 * parse-only DOM (the speed ceiling; C++, linked into this program only)
 * and jansson's decoder and encoder (what C programs usually use; its
 * encoder writes into a fixed buffer), and decode and encode split over
 * two threads (what an egress stage on the second core would pay). Then
 * the two older synthetic
 * documents, and one of eight floats whose shortest digits are the
 * encoder's slow path (16 and 17 digits, big exponents, a subnormal).
 * MB/s is JSON text (input for decoders, output for encoders) per
 * second, from the fastest of five rounds: the machine is shared and
 * the least disturbed round is the one that measures the code. Not a test:
 * it checks only that every call succeeds.
 *
 *   json_bench [scale]     scale (1..100) multiplies the iteration counts;
 *   JSON_BENCH_DATA names the .xz (or plain) file of events, one per line
 *   (default ../shared/conformance/tremor-0.11/demo-data/data.json.xz).
 *   JSON_BENCH_PASSES and JSON_BENCH_ROUNDS override the passes over the
 *   events per round and the rounds (5), e.g. 20 and 1 under valgrind
 *   --tool=callgrind, whose instruction counts do not depend on the load of
 *   a shared machine the way times do (each row is its own function).
 *   JSON_BENCH_SCANNER=NAME (portable, sse2, sse4.2, avx2) runs the decoder
 *   rows with that scanner only (valgrind cannot run PCMPESTRI).
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/json.h"
#include "codec/json_scan.h"
#include "core/buf.h"

double tr_bench_simdjson(const char *const *docs, const size_t *lens, size_t n, long iters, int rounds,
                         const char **impl);

static int ROUNDS = 5;
#define MAX_DOCS 4096

static const char small_doc[] =
    "{\"onramp\":\"metronome\",\"ingest_ns\":1637340000123456789,\"id\":123456,"
    "\"hostname\":\"tremor-host-01.example\"}";

/* Floats as arithmetic leaves them (16 and 17 digits, big exponents):
 * their shortest digits take the encoder's slow path (core/fmtnum.c). */
static const char float_doc[] =
    "{\"mean\":0.30000000000000004,\"p90\":33.333333333333336,\"p99\":0.7999999999999999,"
    "\"ratio\":0.6666666666666666,\"rate\":1234.5678901234567,\"avogadro\":6.02e23,"
    "\"max\":1.7976931348623157e308,\"tiny\":1e-310}";

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

static const char *docs[MAX_DOCS];
static size_t lens[MAX_DOCS], ndocs, doc_bytes;
static tr_value vals[MAX_DOCS];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void row(const char *what, size_t bytes_per_pass, long passes, double best) {
    printf("%-40s %9.1f MB/s  %8.0f ns/event  (%zu events x %ld, best of %d)\n", what,
           (double)bytes_per_pass * (double)passes / best / 1e6, best * 1e9 / (double)passes / (double)ndocs,
           ndocs, passes, ROUNDS);
}

/* One event per line of the file (xz-compressed when its name says so). */
static int load(const char *path) {
    char cmd[4200];
    size_t pl = strlen(path);
    if (pl > 4000) return -1;
    if (pl > 3 && strcmp(path + pl - 3, ".xz") == 0)
        snprintf(cmd, sizeof cmd, "xz -dc '%s'", path);
    else
        snprintf(cmd, sizeof cmd, "cat '%s'", path);
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (ndocs < MAX_DOCS && (n = getline(&line, &cap, f)) > 0) {
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        if (!n) continue;
        char *d = malloc((size_t)n);
        if (!d) break;
        memcpy(d, line, (size_t)n);
        docs[ndocs] = d;
        lens[ndocs++] = (size_t)n;
        doc_bytes += (size_t)n;
    }
    free(line);
    return pclose(f) == 0 && ndocs ? 0 : -1;
}

__attribute__((noinline)) static double ours_decode(long passes) {
    double best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (long k = 0; k < passes; k++)
            for (size_t i = 0; i < ndocs; i++) {
                tr_value v;
                if (tr_json_decode(docs[i], lens[i], &v, NULL)) return -1;
                tr_value_unref(v);
            }
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    return best;
}

__attribute__((noinline)) static double ours_encode(long passes, size_t *out_bytes) {
    struct tr_buf b;
    double best = 1e9;
    tr_buf_init(&b);
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        *out_bytes = 0;
        for (long k = 0; k < passes; k++)
            for (size_t i = 0; i < ndocs; i++) {
                tr_buf_reset(&b);
                if (tr_json_encode(&vals[i], &b)) return -1;
                *out_bytes += b.len;
            }
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    tr_buf_fini(&b);
    *out_bytes /= (size_t)passes;
    return best;
}

/* decode, encode, release: what a json -> json passthrough does per event */
__attribute__((noinline)) static double ours_both(long passes) {
    struct tr_buf b;
    double best = 1e9;
    tr_buf_init(&b);
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (long k = 0; k < passes; k++)
            for (size_t i = 0; i < ndocs; i++) {
                tr_value v;
                if (tr_json_decode(docs[i], lens[i], &v, NULL)) return -1;
                tr_buf_reset(&b);
                if (tr_json_encode(&v, &b)) return -1;
                tr_value_unref(v);
            }
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    tr_buf_fini(&b);
    return best;
}

/* The same work split over two threads, the way an egress stage would
 * split it: this thread decodes and releases, a second one encodes. Events
 * go through a ring of cache-line slots (no lock, each slot handed back and
 * forth by its state); both threads spin rather than sleep, so the figure
 * is the split's best case. What it measures is the value tree crossing
 * cores: written here, read there, released here again. */
#define SPLIT_SLOTS 1024
enum { SLOT_FREE, SLOT_DECODED, SLOT_ENCODED };
struct split_slot {
    tr_value v;
    _Atomic int st;
    int rc;
} __attribute__((aligned(64)));
static struct split_slot split_ring[SPLIT_SLOTS];
static long split_total;

static void *split_encoder(void *arg) {
    (void)arg;
    struct tr_buf b;
    tr_buf_init(&b);
    for (long i = 0; i < split_total; i++) {
        struct split_slot *s = &split_ring[i % SPLIT_SLOTS];
        while (atomic_load_explicit(&s->st, memory_order_acquire) != SLOT_DECODED) continue;
        tr_buf_reset(&b);
        s->rc = tr_json_encode(&s->v, &b);
        atomic_store_explicit(&s->st, SLOT_ENCODED, memory_order_release);
    }
    tr_buf_fini(&b);
    return NULL;
}

/* Release the oldest slot if the encoder is done with it: 1, or 0. */
static int split_collect(long *head, int *rc) {
    struct split_slot *h = &split_ring[*head % SPLIT_SLOTS];
    if (atomic_load_explicit(&h->st, memory_order_acquire) != SLOT_ENCODED) return 0;
    *rc |= h->rc;
    tr_value_unref(h->v);
    atomic_store_explicit(&h->st, SLOT_FREE, memory_order_relaxed);
    (*head)++;
    return 1;
}

__attribute__((noinline)) static double ours_split(long passes) {
    double best = 1e9;
    int rc = 0;
    for (int r = 0; r < ROUNDS && !rc; r++) {
        split_total = passes * (long)ndocs;
        pthread_t th;
        if (pthread_create(&th, NULL, split_encoder, NULL)) return -1;
        long head = 0, n = 0;
        double t0 = now_s();
        for (long k = 0; k < passes; k++)
            for (size_t i = 0; i < ndocs; i++, n++) {
                struct split_slot *s = &split_ring[n % SPLIT_SLOTS];
                while (atomic_load_explicit(&s->st, memory_order_acquire) != SLOT_FREE) split_collect(&head, &rc);
                if (tr_json_decode(docs[i], lens[i], &s->v, NULL)) s->v = tr_v_null(), rc = 1;
                atomic_store_explicit(&s->st, SLOT_DECODED, memory_order_release);
                if (head < n) split_collect(&head, &rc);
            }
        while (head < n) split_collect(&head, &rc);
        double t = now_s() - t0;
        pthread_join(th, NULL);
        if (t < best) best = t;
    }
    return rc ? -1 : best;
}

__attribute__((noinline)) static double jansson_decode(long passes) {
    double best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (long k = 0; k < passes; k++)
            for (size_t i = 0; i < ndocs; i++) {
                json_error_t e;
                json_t *j = json_loadb(docs[i], lens[i], 0, &e);
                if (!j) return -1;
                json_decref(j);
            }
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    return best;
}

__attribute__((noinline)) static double jansson_encode(long passes, size_t *out_bytes) {
    static json_t *js[MAX_DOCS];
    static char out[1 << 16];
    double best = 1e9;
    for (size_t i = 0; i < ndocs; i++) {
        json_error_t e;
        if (!(js[i] = json_loadb(docs[i], lens[i], 0, &e))) return -1;
    }
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        *out_bytes = 0;
        for (long k = 0; k < passes; k++)
            for (size_t i = 0; i < ndocs; i++) {
                size_t n = json_dumpb(js[i], out, sizeof out, JSON_COMPACT);
                if (!n || n > sizeof out) return -1;
                *out_bytes += n;
            }
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    for (size_t i = 0; i < ndocs; i++) json_decref(js[i]);
    *out_bytes /= (size_t)passes;
    return best;
}

/* The older synthetic rows: one document decoded and encoded in a loop. */
static int synthetic(const char *name, const char *doc, long iters) {
    size_t len = strlen(doc);
    const char *sd = docs[0];
    size_t sl = lens[0], sn = ndocs;
    docs[0] = doc;
    lens[0] = len;
    ndocs = 1;
    char label[64];
    int rc = 1;
    double t = ours_decode(iters);
    if (t > 0) {
        snprintf(label, sizeof label, "decode ours, %s (%zu B)", name, len);
        row(label, len, iters, t);
        if (tr_json_decode(doc, len, &vals[0], NULL) == 0) {
            size_t out = 0;
            t = ours_encode(iters, &out);
            tr_value_unref(vals[0]);
            vals[0] = tr_v_null();
            if (t > 0) {
                snprintf(label, sizeof label, "encode ours, %s", name);
                row(label, out, iters, t);
                rc = 0;
            }
        }
    }
    docs[0] = sd;
    lens[0] = sl;
    ndocs = sn;
    return rc;
}

int main(int argc, char **argv) {
    long scale = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    if (scale < 1 || scale > 100) scale = 1;
    const char *path = getenv("JSON_BENCH_DATA");
    if (!path || !*path) path = "../shared/conformance/tremor-0.11/demo-data/data.json.xz";
    if (load(path)) {
        fprintf(stderr, "json_bench: cannot read events from %s (JSON_BENCH_DATA)\n", path);
        return 1;
    }
    /* about 64 MB of text per round: long enough to be timed reliably */
    long passes = (long)(64e6 / (double)doc_bytes) * scale + 1;
    long small_iters = 200000 * scale, big_iters = 30000 * scale;
    const char *env = getenv("JSON_BENCH_PASSES");
    if (env && atol(env) > 0) {
        passes = atol(env);
        small_iters = passes * 10;
        big_iters = passes * 2;
    }
    env = getenv("JSON_BENCH_ROUNDS");
    if (env && atoi(env) > 0 && atoi(env) <= 100) ROUNDS = atoi(env);
    enum tr_json_scan_kind chosen = tr_json_scan_current();
    char label[96];
    printf("events: %zu from %s, %.0f B mean; string scanner chosen at start-up: %s\n", ndocs, path,
           (double)doc_bytes / (double)ndocs, tr_json_scan_name(chosen));

    int rc = 0;
    for (int k = TR_JSON_SCAN_KINDS - 1; k >= 0; k--) {
        const char *only = getenv("JSON_BENCH_SCANNER");
        if (only && *only && strcmp(only, tr_json_scan_name((enum tr_json_scan_kind)k))) continue;
        if (tr_json_scan_use((enum tr_json_scan_kind)k)) continue;
        double t = ours_decode(passes);
        if (t < 0) {
            fprintf(stderr, "json_bench: our decoder failed\n");
            return 1;
        }
        snprintf(label, sizeof label, "decode ours (%s scanner)", tr_json_scan_name((enum tr_json_scan_kind)k));
        row(label, doc_bytes, passes, t);
    }
    tr_json_scan_use(chosen);
    for (size_t i = 0; i < ndocs; i++)
        if (tr_json_decode(docs[i], lens[i], &vals[i], NULL)) return 1;
    size_t out = 0;
    double t = ours_encode(passes, &out);
    if (t > 0)
        row("encode ours", out, passes, t);
    else
        rc = 1;
    for (size_t i = 0; i < ndocs; i++) tr_value_unref(vals[i]);
    t = ours_both(passes);
    if (t > 0)
        row("decode+encode ours (input MB/s)", doc_bytes, passes, t);
    else
        rc = 1;
    t = ours_split(passes);
    if (t > 0)
        row("decode | encode on two threads (input)", doc_bytes, passes, t);
    else
        rc = 1;

    const char *impl = "?";
    t = tr_bench_simdjson(docs, lens, ndocs, passes, ROUNDS, &impl);
    snprintf(label, sizeof label, "parse simdjson %s (parse only)", impl);
    if (t > 0)
        row(label, doc_bytes, passes, t);
    else
        printf("%-40s failed\n", label);
    t = jansson_decode(passes);
    snprintf(label, sizeof label, "decode jansson %s", JANSSON_VERSION);
    if (t > 0)
        row(label, doc_bytes, passes, t);
    else
        printf("%-40s failed\n", label);
    t = jansson_encode(passes, &out);
    snprintf(label, sizeof label, "encode jansson %s", JANSSON_VERSION);
    if (t > 0)
        row(label, out, passes, t);
    else
        printf("%-40s failed\n", label);

    rc |= synthetic("metronome", small_doc, small_iters);
    rc |= synthetic("1 KiB nested", big_doc, big_iters);
    rc |= synthetic("computed floats", float_doc, big_iters);
    return rc;
}
