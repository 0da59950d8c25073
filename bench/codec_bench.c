/* codec_bench.c - our decoders beside the well-known C library for the same
 * format, where Debian has one.
 *
 * msgpack:
 * Decodes a ~100-byte event and a ~1 KiB nested document (the JSON bench's
 * two documents, as MessagePack) in loops, three ways: our codec into
 * tr_values; msgpack-c's msgpack_unpack_next into its own zone-allocated
 * objects (the library alone); and msgpack-c followed by the walk that
 * turns its objects into tr_values (what a codec built on it would cost).
 * yaml: our codec (libyaml's parser building tr_values) beside libyaml's
 * parser alone (its events, nothing built), over the same two documents
 * written as YAML by our encoder. influx and syslog: ours only; Debian 12
 * has no C library that parses line protocol or RFC 5424/3164 messages
 * (rsyslog's and syslog-ng's parsers live inside their daemons).
 * Prints ops/s and MB/s from the best of five rounds. Not a test.
 * Usage: codec_bench [scale].
 */
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include "codec/codec.h"
#include "codec/json.h"

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
    "\"message\":\"GET /api/v1/status HTTP/1.1 200 ok\","
    "\"headers\":{\"host\":\"example.com\",\"user-agent\":\"curl/7.88.1\",\"accept\":\"*/*\","
    "\"x-request-id\":\"4f1c2a9e-8d3b-4e6f-9a1c-2b3d4e5f6a7b\"}}";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* msgpack-c objects -> tr_value, as a codec on the library would need. */
static int convert(const msgpack_object *o, tr_value *out) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: *out = tr_v_null(); return 0;
    case MSGPACK_OBJECT_BOOLEAN: *out = tr_v_bool(o->via.boolean); return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = tr_v_uint(o->via.u64); return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = tr_v_int(o->via.i64); return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = tr_v_float(o->via.f64); return 0;
    case MSGPACK_OBJECT_STR: return tr_v_str(o->via.str.ptr, o->via.str.size, out);
    case MSGPACK_OBJECT_BIN: return tr_v_bin(o->via.bin.ptr, o->via.bin.size, out);
    case MSGPACK_OBJECT_ARRAY: {
        if (tr_v_arr(o->via.array.size, out)) return -1;
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            tr_value v;
            if (convert(&o->via.array.ptr[i], &v) || tr_arr_push(out, v)) return -1;
        }
        return 0;
    }
    case MSGPACK_OBJECT_MAP: {
        if (tr_v_rec(o->via.map.size, out)) return -1;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            tr_value v;
            if (kv->key.type != MSGPACK_OBJECT_STR || convert(&kv->val, &v) ||
                tr_rec_set(out, kv->key.via.str.ptr, kv->key.via.str.size, v))
                return -1;
        }
        return 0;
    }
    default: return -1;
    }
}

static double best_of(int (*fn)(const void *, size_t, void *), const void *data, size_t len, void *arg,
                      long iters) {
    double best = 1e9;
    for (int round = 0; round < 5; round++) {
        double t = now();
        for (long i = 0; i < iters; i++)
            if (fn(data, len, arg)) abort();
        double d = now() - t;
        if (d < best) best = d;
    }
    return best;
}

static int our_decode(const void *data, size_t len, void *arg) {
    const struct tr_codec *c = arg;
    tr_value v;
    int rc = c->decode(data, len, 1, &v, NULL);
    if (rc) return rc;
    tr_value_unref(v);
    return 0;
}

static int libyaml_events(const void *data, size_t len, void *arg) {
    (void)arg;
    yaml_parser_t p;
    yaml_event_t e;
    if (!yaml_parser_initialize(&p)) return -1;
    yaml_parser_set_input_string(&p, data, len);
    int rc = 0;
    for (;;) {
        if (!yaml_parser_parse(&p, &e)) {
            rc = -1;
            break;
        }
        int end = e.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&e);
        if (end) break;
    }
    yaml_parser_delete(&p);
    return rc;
}

static void print_row(const char *codec, const char *name, size_t len, const char *what, long iters, double t) {
    printf("%-7s decode %-5s (%4zu B) %-28s %10.0f ops/s %8.1f MB/s\n", codec, name, len, what,
           (double)iters / t, (double)iters * (double)len / t / 1e6);
}

static void run_yaml(const char *name, const char *json, long iters) {
    tr_value v;
    if (tr_json_decode(json, strlen(json), &v, NULL)) abort();
    struct tr_buf b;
    tr_buf_init(&b);
    const struct tr_codec *y = tr_codec_find("yaml");
    if (y->encode(&v, &b)) abort();
    tr_value_unref(v);
    print_row("yaml", name, b.len, "ours -> tr_value", iters, best_of(our_decode, b.data, b.len, (void *)y, iters));
    print_row("yaml", name, b.len, "libyaml parse events only", iters,
              best_of(libyaml_events, b.data, b.len, NULL, iters));
    tr_buf_fini(&b);
}

static void run_line(const char *codec, const char *name, const char *line, long iters) {
    const struct tr_codec *c = tr_codec_find(codec);
    print_row(codec, name, strlen(line), "ours -> tr_value", iters,
              best_of(our_decode, line, strlen(line), (void *)c, iters));
}

static void run(const char *name, const char *json, long iters) {
    tr_value v;
    if (tr_json_decode(json, strlen(json), &v, NULL)) abort();
    struct tr_buf b;
    tr_buf_init(&b);
    const struct tr_codec *mp = tr_codec_find("msgpack");
    if (mp->encode(&v, &b)) abort();
    tr_value_unref(v);
    double best[3] = {1e9, 1e9, 1e9};
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    for (int round = 0; round < 5; round++) {
        double t = now();
        for (long i = 0; i < iters; i++) {
            if (mp->decode(b.data, b.len, 0, &v, NULL)) abort();
            tr_value_unref(v);
        }
        double d = now() - t;
        if (d < best[0]) best[0] = d;
        t = now();
        for (long i = 0; i < iters; i++) {
            size_t off = 0;
            if (msgpack_unpack_next(&u, b.data, b.len, &off) != MSGPACK_UNPACK_SUCCESS) abort();
        }
        d = now() - t;
        if (d < best[1]) best[1] = d;
        t = now();
        for (long i = 0; i < iters; i++) {
            size_t off = 0;
            if (msgpack_unpack_next(&u, b.data, b.len, &off) != MSGPACK_UNPACK_SUCCESS || convert(&u.data, &v))
                abort();
            tr_value_unref(v);
        }
        d = now() - t;
        if (d < best[2]) best[2] = d;
    }
    msgpack_unpacked_destroy(&u);
    const char *what[3] = {"ours -> tr_value", "msgpack-c unpack only", "msgpack-c unpack + convert"};
    for (int k = 0; k < 3; k++)
        print_row("msgpack", name, b.len, what[k], iters, best[k]);
    tr_buf_fini(&b);
}

int main(int argc, char **argv) {
    long scale = argc > 1 ? atol(argv[1]) : 1;
    if (scale < 1) scale = 1;
    run("small", small_doc, 400000 * scale);
    run("big", big_doc, 40000 * scale);
    run_yaml("small", small_doc, 100000 * scale);
    run_yaml("big", big_doc, 10000 * scale);
    run_line("influx", "line", "weather,location=us-midwest,season=summer temperature=82,humidity=71.5,"
             "ok=true,note=\"too hot\" 1465839830100400200", 400000 * scale);
    run_line("syslog", "5424", "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
             "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event",
             200000 * scale);
    run_line("syslog", "3164", "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
             200000 * scale);
    return 0;
}
