/* test_codec_msgpack.c - the msgpack codec: 0.11's test value, the
 * MessagePack spec's encodings (shortest integer forms, float 64, bin for
 * binaries), interop both ways with python3-msgpack, a round-trip property
 * over generated values, and hostile input (huge length prefixes, deep
 * nesting, truncation, ext types) ending in an error with bounded memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <unistd.h>

#include "codec_check.h"

#define MP(s) s, sizeof(s) - 1

static void snot_badger_round_trips(void **state) {
    (void)state;
    tr_value v = J("{\"snot\":\"badger\"}");
    expect_encode("msgpack", &v, MP("\x81\xa4snot\xa6" "badger"));
    round_trip("msgpack", &v);
    tr_value_unref(v);
}

static void spec_encodings(void **state) {
    (void)state;
    static const struct {
        const char *json;
        const char *bytes;
        size_t n;
    } cases[] = {
        {"0", MP("\x00")},
        {"127", MP("\x7f")},
        {"128", MP("\xcc\x80")},
        {"255", MP("\xcc\xff")},
        {"256", MP("\xcd\x01\x00")},
        {"65536", MP("\xce\x00\x01\x00\x00")},
        {"4294967296", MP("\xcf\x00\x00\x00\x01\x00\x00\x00\x00")},
        {"18446744073709551615", MP("\xcf\xff\xff\xff\xff\xff\xff\xff\xff")},
        {"-1", MP("\xff")},
        {"-32", MP("\xe0")},
        {"-33", MP("\xd0\xdf")},
        {"-129", MP("\xd1\xff\x7f")},
        {"-32769", MP("\xd2\xff\xff\x7f\xff")},
        {"-9223372036854775808", MP("\xd3\x80\x00\x00\x00\x00\x00\x00\x00")},
        {"1.5", MP("\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00")},
        {"null", MP("\xc0")},
        {"[true,false]", MP("\x92\xc3\xc2")},
        {"\"\"", MP("\xa0")},
        {"{}", MP("\x80")},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tr_value v = J(cases[i].json);
        expect_encode("msgpack", &v, cases[i].bytes, cases[i].n);
        round_trip("msgpack", &v);
        tr_value_unref(v);
    }
    /* 32-byte string: str8; 16 items: array16; a binary: bin8 */
    tr_value s = J("\"0123456789abcdef0123456789abcdef\"");
    expect_encode("msgpack", &s, MP("\xd9\x20" "0123456789abcdef0123456789abcdef"));
    tr_value_unref(s);
    tr_value a = J("[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]");
    expect_encode("msgpack", &a, MP("\xdc\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"));
    tr_value_unref(a);
    tr_value b;
    assert_int_equal(tr_v_bin("\x01\x02", 2, &b), 0);
    expect_encode("msgpack", &b, MP("\xc4\x02\x01\x02"));
    round_trip("msgpack", &b);
    tr_value_unref(b);
}

static void decodes_every_width(void **state) {
    (void)state;
    /* float 32 widens; int8..64 and uint8..64 read as integers; str8/16/32 as strings */
    expect_decode("msgpack", MP("\xca\x3f\xc0\x00\x00"), "1.5");
    expect_decode("msgpack", MP("\xd0\x05"), "5");
    expect_decode("msgpack", MP("\xd3\x00\x00\x00\x00\x00\x00\x00\x07"), "7");
    expect_decode("msgpack", MP("\xcd\x00\x05"), "5");
    expect_decode("msgpack", MP("\xda\x00\x02hi"), "\"hi\"");
    expect_decode("msgpack", MP("\xdb\x00\x00\x00\x02hi"), "\"hi\"");
    expect_decode("msgpack", MP("\xde\x00\x01\xa1k\x90"), "{\"k\":[]}");
    expect_decode("msgpack", MP("\xdf\x00\x00\x00\x01\xa1k\xc0"), "{\"k\":null}");
    expect_decode("msgpack", MP("\xdd\x00\x00\x00\x01\x01"), "[1]");
    /* a str that is not UTF-8 becomes a binary (rmp-serde falls back to bytes) */
    tr_value v;
    assert_int_equal(dec("msgpack", MP("\xa2\xff\xfe"), &v), 0);
    assert_int_equal(v.type, TR_BIN);
    tr_value_unref(v);
    /* past the eight-byte ASCII scan: a bad byte at 12, a valid é at 16 */
    assert_int_equal(dec("msgpack", MP("\xb0" "abcdefghijkl\xff" "mno"), &v), 0);
    assert_int_equal(v.type, TR_BIN);
    tr_value_unref(v);
    assert_int_equal(dec("msgpack", MP("\xb2" "abcdefghijklmnop\xc3\xa9"), &v), 0);
    assert_int_equal(v.type, TR_STR);
    tr_value_unref(v);
}

/* A frame's values share arena blocks: a string or binary kept from it
 * outlives the map it came in (ASan sees any use after free), and the
 * rest goes with the last reference. */
static void values_outlive_their_frame(void **state) {
    (void)state;
    static const char frame[] = "\x83\xa1s\xa5hello\xa1" "b\xc4\x02\x00\xff\xa1" "a\x92\x01\xa2ok";
    tr_value m;
    assert_int_equal(tr_codec_find("msgpack")->decode(frame, sizeof frame - 1, 0, &m, NULL), 0);
    tr_value s = tr_value_ref(*tr_rec_get_cstr(&m, "s"));
    tr_value b = tr_value_ref(*tr_rec_get_cstr(&m, "b"));
    tr_value a = tr_value_ref(*tr_rec_get_cstr(&m, "a"));
    tr_value_unref(m);
    assert_int_equal(s.type, TR_STR);
    assert_memory_equal(s.as.s->data, "hello", 5);
    assert_int_equal(b.type, TR_BIN);
    assert_int_equal(b.as.s->len, 2);
    assert_memory_equal(b.as.s->data, "\x00\xff", 2);
    assert_int_equal(a.type, TR_ARR);
    assert_int_equal(a.as.a->items[1].type, TR_STR);
    assert_memory_equal(a.as.a->items[1].as.s->data, "ok", 2);
    tr_value_unref(s);
    tr_value_unref(a);
    tr_value_unref(b);
}

static void rejects_what_0_11_rejects(void **state) {
    (void)state;
    tr_value v;
    static const struct {
        const char *b;
        size_t n;
    } bad[] = {
        {MP("\xc1")},                      /* reserved */
        {MP("\xd4\x01\x00")},              /* fixext 1 */
        {MP("\xc7\x01\x05\x00")},          /* ext 8 */
        {MP("\x81\x01\x02")},              /* integer key */
        {MP("\x81\x90\x02")},              /* array key */
        {MP("\xc0\xc0")},                  /* trailing bytes */
        {MP("")},                          /* nothing */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = tr_v_int(1);
        assert_int_equal(dec("msgpack", bad[i].b, bad[i].n, &v), TR_EPARSE);
        assert_int_equal(v.type, TR_NULL);
    }
}

static void hostile_lengths_and_nesting(void **state) {
    (void)state;
    size_t before = tr_alloc_used();
    static const struct {
        const char *b;
        size_t n;
    } huge[] = {
        {MP("\xdd\xff\xff\xff\xff\x00")},   /* array of 2^32-1 */
        {MP("\xdf\xff\xff\xff\xff\xa1k")},  /* map of 2^32-1 */
        {MP("\xdb\xff\xff\xff\xff" "abc")},    /* str of 2^32-1 */
        {MP("\xc6\xff\xff\xff\xff")},       /* bin of 2^32-1 */
        {MP("\xcf\xff\xff\xff\xff")},       /* u64 cut short */
        {MP("\xcb\x00\x00")},               /* float cut short */
        {MP("\x92\x01")},                   /* array cut short */
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        tr_value v;
        assert_int_equal(dec("msgpack", huge[i].b, huge[i].n, &v), TR_EPARSE);
    }
    assert_int_equal(tr_alloc_used(), before);
    /* 2^64-1 as a value is fine: the largest u64 */
    expect_decode("msgpack", MP("\xcf\xff\xff\xff\xff\xff\xff\xff\xff"), "18446744073709551615");
    /* deep nesting: 1024 levels decode, 1025 and 100000 are TR_EDEPTH */
    size_t n = 100001;
    char *deep = tr_malloc(n);
    assert_non_null(deep);
    memset(deep, 0x91, n - 1);
    deep[n - 1] = (char)0xc0;
    tr_value v;
    assert_int_equal(dec("msgpack", deep, n, &v), TR_EDEPTH);
    assert_int_equal(dec("msgpack", deep + n - 1026, 1026, &v), TR_EDEPTH);
    assert_int_equal(dec("msgpack", deep + n - 1025, 1025, &v), 0);
    tr_value_unref(v);
    tr_free(deep);
    /* every truncation of a real document is an error, never a crash */
    tr_value doc = J("{\"a\":[1,2.5,\"x\",{\"b\":null}],\"c\":\"0123456789012345678901234567890123456789\"}");
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(tr_codec_find("msgpack")->encode(&doc, &b), 0);
    for (size_t cut = 0; cut < b.len; cut++) assert_int_equal(dec("msgpack", b.data, cut, &v), TR_EPARSE);
    tr_buf_fini(&b);
    tr_value_unref(doc);
    assert_int_equal(tr_alloc_used(), before);
}

static void round_trip_property(void **state) {
    (void)state;
    rng_state = 42;
    for (int i = 0; i < 3000; i++) {
        tr_value v = gen_value(4, 1);
        round_trip("msgpack", &v);
        tr_value_unref(v);
    }
}

/* Runs python3 with script, feeding in[0..n) on stdin; its stdout into out. */
static int python(const char *script, const void *in, size_t n, struct tr_buf *out) {
    char inpath[] = "/tmp/tr-mp-in-XXXXXX";
    int fd = mkstemp(inpath);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, in, n), (ssize_t)n);
    close(fd);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c '%s' < %s", script, inpath);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, p)) > 0) assert_int_equal(tr_buf_append(out, buf, k), 0);
    int st = pclose(p);
    unlink(inpath);
    return st;
}

static void python_msgpack_reads_and_writes_the_same_bytes(void **state) {
    (void)state;
    /* python unpacks our bytes and packs them again: identical bytes means
     * it read the same value and both sides choose the same shortest forms */
    const char *repack =
        "import sys, msgpack\n"
        "d = sys.stdin.buffer.read()\n"
        "v = msgpack.unpackb(d, raw=False, strict_map_key=False)\n"
        "sys.stdout.buffer.write(msgpack.packb(v, use_bin_type=True))\n";
    rng_state = 7;
    for (int i = 0; i < 200; i++) {
        tr_value v = gen_value(3, 1);
        struct tr_buf ours, theirs;
        tr_buf_init(&ours);
        tr_buf_init(&theirs);
        assert_int_equal(tr_codec_find("msgpack")->encode(&v, &ours), 0);
        assert_int_equal(python(repack, ours.data, ours.len, &theirs), 0);
        if (ours.len != theirs.len || memcmp(ours.data, theirs.data, ours.len)) {
            show("value", &v);
            fail_msg("python3-msgpack wrote different bytes");
        }
        tr_buf_fini(&ours);
        tr_buf_fini(&theirs);
        tr_value_unref(v);
    }
    /* python writes, we read: float 32, every integer width, bin, nested map */
    const char *gen =
        "import sys, msgpack\n"
        "v = {\"f\": 0.25, \"i\": [-1, -200, 70000, -3000000000, 2**64-1], \"b\": b\"\\x00\\x01\","
        " \"s\": \"h\\u00e9\", \"m\": {\"n\": None, \"t\": True}}\n"
        "sys.stdout.buffer.write(msgpack.packb(v, use_bin_type=True, use_single_float=True))\n";
    struct tr_buf out;
    tr_buf_init(&out);
    assert_int_equal(python(gen, "", 0, &out), 0);
    tr_value got;
    assert_int_equal(dec("msgpack", out.data, out.len, &got), 0);
    tr_value bin = *tr_rec_get_cstr(&got, "b");
    assert_int_equal(bin.type, TR_BIN);
    assert_memory_equal(bin.as.s->data, "\x00\x01", 2);
    assert_int_equal(tr_rec_remove(&got, "b", 1), 1);
    tr_value e = J("{\"f\":0.25,\"i\":[-1,-200,70000,-3000000000,18446744073709551615],"
                   "\"s\":\"h\\u00e9\",\"m\":{\"n\":null,\"t\":true}}");
    expect_same(&e, &got);
    tr_value_unref(e);
    tr_value_unref(got);
    tr_buf_fini(&out);
}

static void mime_types_and_names(void **state) {
    (void)state;
    assert_ptr_equal(tr_codec_by_mime("application/msgpack"), tr_codec_find("msgpack"));
    assert_ptr_equal(tr_codec_by_mime("application/x-msgpack"), tr_codec_find("msgpack"));
    assert_ptr_equal(tr_codec_by_mime("application/vnd.msgpack"), tr_codec_find("msgpack"));
    assert_ptr_equal(tr_codec_by_mime("application/yaml"), tr_codec_find("yaml"));
    assert_ptr_equal(tr_codec_by_mime("application/json"), tr_codec_find("json"));
    assert_ptr_equal(tr_codec_by_mime("text/plain"), tr_codec_find("string"));
    assert_ptr_equal(tr_codec_by_mime("text/html"), tr_codec_find("string"));
    assert_ptr_equal(tr_codec_by_mime("application/octet-stream"), tr_codec_find("binary"));
    assert_null(tr_codec_by_mime("application/badger"));
    const char *names[] = {"json", "msgpack", "influx", "binflux", "null", "string", "statsd", "yaml", "binary", "syslog"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) assert_non_null(tr_codec_find(names[i]));
    assert_null(tr_codec_find("snot"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snot_badger_round_trips),
        cmocka_unit_test(spec_encodings),
        cmocka_unit_test(decodes_every_width),
        cmocka_unit_test(values_outlive_their_frame),
        cmocka_unit_test(rejects_what_0_11_rejects),
        cmocka_unit_test(hostile_lengths_and_nesting),
        cmocka_unit_test(round_trip_property),
        cmocka_unit_test(python_msgpack_reads_and_writes_the_same_bytes),
        cmocka_unit_test(mime_types_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
