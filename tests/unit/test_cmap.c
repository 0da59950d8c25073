/* test_cmap.c - config maps: every type, range, enum, unknown and required
 * keys, aliases, deprecation warnings, defaults, locations and help text;
 * and that the registries hand out the maps of the converted components. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* before cmocka.h, whose fail() macro clashes with a member name */
#include "codec/json.h"
#include "config/cmap.h"
#include "connectors/conn.h"
#include "ops/op.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

struct inst {
    const char *name;
    bool on;
    uint64_t count;
    int64_t offset;
    double ratio;
    uint64_t wait_ns;
    int mode;
    const tr_value *tags;
    const tr_value *extra;
    uint64_t limit;
    bool has_limit;
    const char *old;
};

static const char *const modes[] = {"fast", "safe", "off", NULL};

static const struct tr_cmap_entry map[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "name", NULL, TR_CMAP_REQUIRED, offsetof(struct inst, name),
                 "what to call it"),
     .alias = "title"},
    {TR_CMAP_KEY(TR_CMAP_BOOL, "on", "true", 0, offsetof(struct inst, on), "switched on")},
    {TR_CMAP_KEY(TR_CMAP_U64, "count", "10", TR_CMAP_RANGE, offsetof(struct inst, count),
                 "how many"),
     .lo = 1, .hi = 100},
    {TR_CMAP_KEY(TR_CMAP_I64, "offset", "-5", TR_CMAP_RANGE, offsetof(struct inst, offset),
                 "shift"),
     .lo = -10, .hi = 10},
    {TR_CMAP_KEY(TR_CMAP_F64, "ratio", "0.5", TR_CMAP_RANGE, offsetof(struct inst, ratio),
                 "share"),
     .lo = 0, .hi = 1},
    {TR_CMAP_KEY(TR_CMAP_DURATION_MS, "wait", "250", 0, offsetof(struct inst, wait_ns),
                 "pause")},
    {TR_CMAP_KEY(TR_CMAP_ENUM, "mode", "safe", 0, offsetof(struct inst, mode), "how"),
     .choices = modes},
    {TR_CMAP_KEY(TR_CMAP_STR_LIST, "tags", NULL, TR_CMAP_RANGE, offsetof(struct inst, tags),
                 "labels"),
     .lo = 1, .hi = 3},
    {TR_CMAP_KEY(TR_CMAP_VALUE, "extra", NULL, 0, offsetof(struct inst, extra), "anything")},
    {TR_CMAP_KEY(TR_CMAP_U64, "limit", NULL, TR_CMAP_PRESENCE, offsetof(struct inst, limit),
                 "cap"),
     .seen = offsetof(struct inst, has_limit)},
    {TR_CMAP_KEY(TR_CMAP_STR, "old", NULL, TR_CMAP_DEPRECATED, offsetof(struct inst, old),
                 "use name instead")},
    {0},
};

struct warns {
    int n;
    struct tr_diag last;
};

static void on_warn(void *arg, const struct tr_diag *w) {
    struct warns *ws = arg;
    ws->n++;
    ws->last = *w;
}

static struct tr_cmap_src src_of(enum tr_cmap_style st, struct warns *ws) {
    struct tr_cmap_src s = {.file = "c.yaml", .line = 4, .col = 7, .kind = "thing", .id = "t1",
                            .style = st, .warn = on_warn, .warn_arg = ws};
    return s;
}

/* Apply map to JSON text; inst is filled with garbage first so that a field
 * the map forgets to write shows. */
static int apply_json(const char *json, struct inst *in, enum tr_cmap_style st, struct warns *ws,
                      tr_value *keep, struct tr_diag *d) {
    *keep = tr_v_null();
    if (json) assert_int_equal(tr_json_decode(json, strlen(json), keep, NULL), 0);
    memset(in, 0xA5, sizeof *in);
    struct tr_cmap_src s = src_of(st, ws);
    tr_diag_clear(d);
    return tr_cmap_apply(map, json ? keep : NULL, in, &s, d);
}

/* Expect TR_EINVAL_CFG with a message holding want, at c.yaml:4:7. */
static void expect_err(const char *json, enum tr_cmap_style st, const char *want) {
    struct inst in;
    struct warns ws = {0};
    struct tr_diag d;
    tr_value keep;
    int rc = apply_json(json, &in, st, &ws, &keep, &d);
    if (rc != TR_EINVAL_CFG || !strstr(d.msg, want))
        fail_msg("%s: expected an error with '%s', got %d '%s'", json, want, rc, d.msg);
    assert_string_equal(d.file, "c.yaml");
    assert_int_equal(d.line, 4);
    assert_int_equal(d.col, 7);
    tr_value_unref(keep);
}

static void defaults_are_written_for_absent_keys(void **state) {
    (void)state;
    struct inst in;
    struct warns ws = {0};
    struct tr_diag d;
    tr_value keep;
    assert_int_equal(apply_json("{\"name\":\"x\"}", &in, TR_CMAP_STYLE_CONFIG, &ws, &keep, &d), 0);
    assert_string_equal(in.name, "x");
    assert_true(in.on);
    assert_int_equal(in.count, 10);
    assert_int_equal(in.offset, -5);
    assert_true(in.ratio == 0.5);
    assert_int_equal(in.wait_ns, 250000000ull);
    assert_int_equal(in.mode, 1);
    /* no default: zero, NULL */
    assert_null(in.tags);
    assert_null(in.extra);
    assert_int_equal(in.limit, 0);
    assert_false(in.has_limit);
    assert_null(in.old);
    assert_int_equal(ws.n, 0);
    tr_value_unref(keep);
}

static void every_type_is_read(void **state) {
    (void)state;
    struct inst in;
    struct warns ws = {0};
    struct tr_diag d;
    tr_value keep;
    const char *json = "{\"name\":\"n\",\"on\":false,\"count\":100,\"offset\":-10,\"ratio\":1,"
                       "\"wait\":3,\"mode\":\"off\",\"tags\":[\"a\",\"b\"],\"extra\":{\"k\":[1]},"
                       "\"limit\":0}";
    int rc = apply_json(json, &in, TR_CMAP_STYLE_CONFIG, &ws, &keep, &d);
    if (rc) fail_msg("apply: %s", d.msg);
    assert_string_equal(in.name, "n");
    assert_false(in.on);
    assert_int_equal(in.count, 100);
    assert_int_equal(in.offset, -10);
    assert_true(in.ratio == 1.0);
    assert_int_equal(in.wait_ns, 3000000ull);
    assert_int_equal(in.mode, 2);
    assert_int_equal(in.tags->type, TR_ARR);
    assert_int_equal(tr_arr_len(in.tags), 2);
    assert_int_equal(in.extra->type, TR_REC);
    assert_int_equal(in.limit, 0);
    assert_true(in.has_limit);    /* given as 0: told apart from absent */
    tr_value_unref(keep);
    /* a float within range */
    assert_int_equal(apply_json("{\"name\":\"n\",\"ratio\":0.25}", &in, TR_CMAP_STYLE_CONFIG, &ws, &keep, &d), 0);
    assert_true(in.ratio == 0.25);
    tr_value_unref(keep);
}

static void wrong_types_are_refused(void **state) {
    (void)state;
    expect_err("{\"name\":1}", TR_CMAP_STYLE_CONFIG,
               "thing 't1': config.name must be a string, found integer (what to call it)");
    expect_err("{\"name\":\"n\",\"on\":\"yes\"}", TR_CMAP_STYLE_CONFIG, "config.on must be true or false");
    expect_err("{\"name\":\"n\",\"count\":-1}", TR_CMAP_STYLE_CONFIG,
               "config.count must be a non-negative integer");
    expect_err("{\"name\":\"n\",\"count\":1.5}", TR_CMAP_STYLE_CONFIG,
               "config.count must be a non-negative integer, found float");
    expect_err("{\"name\":\"n\",\"offset\":\"1\"}", TR_CMAP_STYLE_CONFIG, "config.offset must be an integer");
    expect_err("{\"name\":\"n\",\"ratio\":true}", TR_CMAP_STYLE_CONFIG, "config.ratio must be a finite number");
    expect_err("{\"name\":\"n\",\"wait\":-3}", TR_CMAP_STYLE_CONFIG, "config.wait must be a non-negative integer (ms)");
    expect_err("{\"name\":\"n\",\"mode\":1}", TR_CMAP_STYLE_CONFIG, "config.mode must be one of fast, safe, off");
    expect_err("{\"name\":\"n\",\"tags\":\"a\"}", TR_CMAP_STYLE_CONFIG, "config.tags must be a list of strings");
    expect_err("{\"name\":\"n\",\"tags\":[\"a\",2]}", TR_CMAP_STYLE_CONFIG, "config.tags must be a list of strings");
    /* a NUL would cut a path short; an integer beyond int64 is too large, not mistyped */
    expect_err("{\"name\":\"a\\u0000b\"}", TR_CMAP_STYLE_CONFIG, "config.name must not contain a NUL byte");
    expect_err("{\"name\":\"n\",\"mode\":\"off\\u0000\"}", TR_CMAP_STYLE_CONFIG,
               "config.mode must not contain a NUL byte");
    expect_err("{\"name\":\"n\",\"offset\":9223372036854775808}", TR_CMAP_STYLE_CONFIG,
               "config.offset must be at most 9223372036854775807, found 9223372036854775808");
    /* serde wording, as Tremor's operators say it */
    expect_err("{\"name\":1}", TR_CMAP_STYLE_SERDE,
               "thing operator 't1': `name`: invalid type: integer, expected a string");
    expect_err("{\"name\":\"n\",\"on\":1}", TR_CMAP_STYLE_SERDE, "`on`: invalid type: integer, expected a boolean");
}

static void ranges_and_choices_are_checked(void **state) {
    (void)state;
    expect_err("{\"name\":\"n\",\"count\":0}", TR_CMAP_STYLE_CONFIG, "config.count must be between 1 and 100, found 0");
    expect_err("{\"name\":\"n\",\"count\":101}", TR_CMAP_STYLE_CONFIG, "config.count must be between 1 and 100, found 101");
    expect_err("{\"name\":\"n\",\"count\":18446744073709551615}", TR_CMAP_STYLE_CONFIG,
               "found 18446744073709551615");
    expect_err("{\"name\":\"n\",\"offset\":-11}", TR_CMAP_STYLE_CONFIG, "config.offset must be between -10 and 10, found -11");
    expect_err("{\"name\":\"n\",\"ratio\":1.5}", TR_CMAP_STYLE_SERDE, "`ratio` must be between 0 and 1, found 1.5");
    expect_err("{\"name\":\"n\",\"tags\":[]}", TR_CMAP_STYLE_CONFIG, "config.tags must be between 1 and 3 entries, found 0");
    expect_err("{\"name\":\"n\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}", TR_CMAP_STYLE_CONFIG, "found 4");
    /* milliseconds that would wrap as nanoseconds */
    expect_err("{\"name\":\"n\",\"wait\":18446744073709551}", TR_CMAP_STYLE_CONFIG,
               "config.wait must be at most 18446744073709 ms");
    expect_err("{\"name\":\"n\",\"mode\":\"slow\"}", TR_CMAP_STYLE_CONFIG,
               "config.mode must be one of fast, safe, off, found 'slow'");
    /* one-sided ranges name only their bound */
    struct half {
        uint64_t u;
        double f;
    } h;
    static const struct tr_cmap_entry halves[] = {
        {TR_CMAP_KEY(TR_CMAP_U64, "u", "0", TR_CMAP_RANGE, offsetof(struct half, u), "upper"),
         .lo = -INFINITY, .hi = 9},
        {TR_CMAP_KEY(TR_CMAP_F64, "f", "0", TR_CMAP_RANGE, offsetof(struct half, f), "lower"),
         .lo = 0, .hi = INFINITY},
        {0},
    };
    const char *cases[][2] = {{"{\"u\":10}", "thing 't1': config.u must be at most 9, found 10"},
                              {"{\"f\":-0.5}", "thing 't1': config.f must be at least 0, found -0.5"}};
    for (size_t i = 0; i < 2; i++) {
        tr_value v;
        assert_int_equal(tr_json_decode(cases[i][0], strlen(cases[i][0]), &v, NULL), 0);
        struct tr_cmap_src s = src_of(TR_CMAP_STYLE_CONFIG, NULL);
        struct tr_diag d;
        assert_int_equal(tr_cmap_apply(halves, &v, &h, &s, &d), TR_EINVAL_CFG);
        assert_string_equal(d.msg, cases[i][1]);
        tr_value_unref(v);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    tr_cmap_print(halves, f);
    fclose(f);
    assert_non_null(strstr(text, "upper [..9]"));
    assert_non_null(strstr(text, "lower [0..]"));
    free(text);
}

static void unknown_keys_list_the_allowed_ones(void **state) {
    (void)state;
    expect_err("{\"name\":\"n\",\"colour\":1}", TR_CMAP_STYLE_CONFIG,
               "thing 't1': unknown config key 'colour' (known: name, on, count, offset, ratio, "
               "wait, mode, tags, extra, limit, old)");
    expect_err("{\"colour\":1}", TR_CMAP_STYLE_SERDE,
               "thing operator 't1': unknown field `colour`, expected one of `name`, `on`, `count`");
    /* an empty map allows nothing */
    static const struct tr_cmap_entry none[] = {{0}};
    tr_value v;
    assert_int_equal(tr_json_decode("{\"a\":1}", 7, &v, NULL), 0);
    struct tr_cmap_src s = src_of(TR_CMAP_STYLE_CONFIG, NULL);
    struct tr_diag d;
    assert_int_equal(tr_cmap_apply(none, &v, NULL, &s, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "unknown config key 'a' (known: none)"));
    tr_value_unref(v);
    /* a config that is not a mapping at all */
    expect_err("[1]", TR_CMAP_STYLE_CONFIG, "the config must be a mapping of keys, found array");
}

static void required_keys_must_be_given(void **state) {
    (void)state;
    expect_err("{}", TR_CMAP_STYLE_CONFIG, "thing 't1': config.name (what to call it) is required");
    expect_err(NULL, TR_CMAP_STYLE_CONFIG, "config.name (what to call it) is required");
    struct inst in;
    struct warns ws = {0};
    struct tr_diag d;
    tr_value keep;
    assert_int_equal(apply_json("{\"on\":true}", &in, TR_CMAP_STYLE_SERDE, &ws, &keep, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "thing operator 't1': missing field `name`");
    tr_value_unref(keep);
}

static void an_alias_fills_the_same_field(void **state) {
    (void)state;
    struct inst in;
    struct warns ws = {0};
    struct tr_diag d;
    tr_value keep;
    assert_int_equal(apply_json("{\"title\":\"old-style\"}", &in, TR_CMAP_STYLE_CONFIG, &ws, &keep, &d), 0);
    assert_string_equal(in.name, "old-style");
    tr_value_unref(keep);
    expect_err("{\"name\":\"a\",\"title\":\"b\"}", TR_CMAP_STYLE_CONFIG,
               "'name' is given twice (as 'name' and 'title')");
    assert_ptr_equal(tr_cmap_find(map, "title"), &map[0]);
    assert_ptr_equal(tr_cmap_find(map, "name"), &map[0]);
    assert_null(tr_cmap_find(map, "nope"));
}

static void a_deprecated_key_warns_once_located(void **state) {
    (void)state;
    struct inst in;
    struct warns ws = {0};
    struct tr_diag d;
    tr_value keep;
    assert_int_equal(apply_json("{\"name\":\"n\",\"old\":\"v\"}", &in, TR_CMAP_STYLE_CONFIG, &ws, &keep, &d), 0);
    assert_string_equal(in.old, "v");
    assert_int_equal(ws.n, 1);
    assert_string_equal(ws.last.msg, "thing 't1': 'old' is deprecated (use name instead)");
    assert_string_equal(ws.last.file, "c.yaml");
    assert_int_equal(ws.last.line, 4);
    assert_int_equal(ws.last.col, 7);
    tr_value_unref(keep);
}

/* With per-key positions, an error points at the key, not the artefact. */
static void errors_point_at_the_key_when_its_position_is_known(void **state) {
    (void)state;
    tr_value v;
    const char *json = "{\"name\":\"n\",\"count\":500}";
    assert_int_equal(tr_json_decode(json, strlen(json), &v, NULL), 0);
    struct tr_cmap_pos pos[] = {{5, 3}, {6, 3}};
    struct tr_cmap_src s = src_of(TR_CMAP_STYLE_CONFIG, NULL);
    s.keys = pos;
    s.nkeys = 2;
    struct inst in;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_cmap_apply(map, &v, &in, &s, &d), TR_EINVAL_CFG);
    char buf[1200];
    tr_diag_format(&d, buf, sizeof buf);
    assert_string_equal(buf, "c.yaml:6:3: thing 't1': config.count must be between 1 and 100, found 500");
    tr_value_unref(v);
}

static void help_prints_every_entry(void **state) {
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    tr_cmap_print(map, f);
    fclose(f);
    const char *want[] = {"KEY", "name", "string", "required", "alias=title", "what to call it",
                          "count", "uint", "10", "[1..100]", "wait", "250", "mode",
                          "[one of fast, safe, off]", "old", "deprecated", "use name instead"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(text, want[i])) fail_msg("help lacks '%s':\n%s", want[i], text);
    free(text);
    char keys[256];
    tr_cmap_keys(map, keys, sizeof keys);
    assert_string_equal(keys, "name, on, count, offset, ratio, wait, mode, tags, extra, limit, old");
}

/* The registries expose the maps of what was converted, and the help texts. */
static void registries_expose_maps(void **state) {
    (void)state;
    const char *on[] = {"blaster", "file", "metronome", "stdin"};
    const char *off[] = {"file", "stdout", "stderr"};
    int found;
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        assert_non_null(tr_onramp_cmap(on[i], &found));
        assert_true(found);
    }
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        assert_non_null(tr_offramp_cmap(off[i], &found));
        assert_true(found);
    }
    assert_null(tr_onramp_cmap("nope", &found));
    assert_false(found);
    const char *ops[] = {"debug::history", "generic::batch", "qos::backpressure",
                         "generic::backpressure", "qos::percentile", "qos::roundrobin",
                         "grouper::bucket", "generic::counter", "passthrough"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const struct tr_op_ops *o = tr_op_find(ops[i]);
        assert_non_null(o);
        if (!o->cmap) fail_msg("%s has no config map", ops[i]);
    }
    assert_non_null(tr_cmap_find(tr_op_find("generic::batch")->cmap, "count"));

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(tr_conn_help("file", f), 0);
    assert_int_equal(tr_conn_help("nope", f), TR_ENOTFOUND);
    assert_int_equal(tr_op_help("qos::percentile", f), 0);
    assert_int_equal(tr_op_help("nope", f), TR_ENOTFOUND);
    fclose(f);
    const char *want[] = {"onramp file", "offramp file", "sleep_on_done", "the file to write",
                          "unknown connector type 'nope'", "onramp types: ", "step_down", "0.05",
                          "unknown operator kind 'nope'", "operator kinds: "};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(text, want[i])) fail_msg("help lacks '%s':\n%s", want[i], text);
    free(text);
}

/* stdout's map is in force: its errors name what was found and use the help. */
static void stdout_errors_come_from_its_map(void **state) {
    (void)state;
    extern const struct tr_offramp_ops tr_stdout_offramp;
    tr_value v;
    assert_int_equal(tr_json_decode("{\"prefix\":1}", 12, &v, NULL), 0);
    struct tr_conn_spec spec = {.id = "out", .type = "stdout", .instance = "01", .config = &v,
                                .file = "c.yaml", .line = 9, .col = 3};
    struct tr_diag d;
    void *self = NULL;
    tr_diag_clear(&d);
    assert_int_equal(tr_stdout_offramp.create(&spec, NULL, &self, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "stdout 'out': config.prefix must be a string, found integer "
                               "(text written before each event)");
    assert_int_equal(d.line, 9);
    assert_null(self);
    tr_value_unref(v);
}

/* One key at a time (tr_cmap_apply_one): the same checks and words as a
 * whole map; and a connector's map points at the key's own position. */
static void one_key_checks_as_the_map_does(void **state) {
    (void)state;
    struct inst in;
    struct tr_cmap_src s = src_of(TR_CMAP_STYLE_CONFIG, NULL);
    struct tr_diag d;
    tr_value zero = tr_v_int(0), five = tr_v_int(5);
    assert_int_equal(tr_cmap_apply_one(&map[2], &zero, &in, &s, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "thing 't1': config.count must be between 1 and 100, found 0");
    assert_int_equal(tr_cmap_apply_one(&map[2], &five, &in, &s, &d), 0);
    assert_int_equal(in.count, 5);

    tr_value cfg;
    assert_int_equal(tr_json_decode("{\"port\":\"80\"}", 13, &cfg, NULL), 0);
    struct tr_conn_spec spec = {.id = "x", .type = "tcp", .instance = "01", .config = &cfg,
                                .file = "c.yaml", .line = 2, .col = 5};
    struct port_cfg {
        uint64_t port;
        const char *host;
    } pc = {7, NULL};
    const struct tr_cmap_entry port_map[] = {
        {TR_CMAP_KEY(TR_CMAP_U64, "port", NULL, 0, offsetof(struct port_cfg, port), NULL)},
        {0},
    }, host_map[] = {
        {TR_CMAP_KEY(TR_CMAP_STR, "host", NULL, 0, offsetof(struct port_cfg, host), NULL)},
        {0},
    };
    assert_int_equal(tr_conn_cfg_apply(&spec, port_map, &pc, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "tcp 'x': config.port must be a non-negative integer, found string");
    assert_int_equal(d.line, 2);

    /* with positions, the error points at the key */
    const struct tr_cmap_pos keys[] = {{6, 9}};
    spec.keys = keys;
    spec.nkeys = 1;
    tr_diag_clear(&d);
    assert_int_equal(tr_conn_cfg_apply(&spec, port_map, &pc, &d), TR_EINVAL_CFG);
    assert_int_equal(d.line, 6);
    assert_int_equal(d.col, 9);
    tr_diag_clear(&d);
    assert_int_equal(tr_conn_cfg_apply(&spec, host_map, &pc, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "unknown config key 'port'"));
    assert_non_null(strstr(d.msg, "host"));
    assert_int_equal(d.line, 6);
    assert_int_equal(d.col, 9);
    tr_value_unref(cfg);
}

/* Connectors hand each key's position to their map: an error about a
 * key points at that key, one about a missing key at the entry; the
 * connectors' own checks past the map (tr_conn_cfg_fail) do the same. */
static void connector_errors_point_at_the_key(void **state) {
    (void)state;
    extern const struct tr_onramp_ops tr_ws_onramp;
    extern const struct tr_offramp_ops tr_tcp_offramp;
    tr_value cfg;
    const char *js = "{\"port\":0,\"host\":\"example.org\"}";
    assert_int_equal(tr_json_decode(js, strlen(js), &cfg, NULL), 0);
    const struct tr_cmap_pos keys[] = {{7, 9}, {8, 11}};
    struct tr_conn_spec spec = {.id = "in", .type = "ws", .instance = "01", .config = &cfg,
                                .file = "c.yaml", .line = 2, .col = 5, .keys = keys, .nkeys = 2};
    struct tr_diag d;
    void *self = NULL;
    tr_diag_clear(&d);
    assert_int_equal(tr_ws_onramp.create(&spec, NULL, &self, &d), TR_EINVAL_CFG);
    assert_null(self);
    assert_string_equal(d.msg, "ws 'in': config.host must be an IP address or localhost, "
                               "found 'example.org'");
    assert_int_equal(d.line, 8);
    assert_int_equal(d.col, 11);

    spec.type = "tcp";
    tr_diag_clear(&d);
    assert_int_equal(tr_tcp_offramp.create(&spec, NULL, &self, &d), TR_EINVAL_CFG);
    assert_null(self);
    assert_string_equal(d.msg, "tcp 'in': config.port must be between 1 and 65535, found 0");
    assert_int_equal(d.line, 7);
    assert_int_equal(d.col, 9);

    /* a key that is not there: the entry */
    tr_diag_clear(&d);
    assert_int_equal(tr_conn_cfg_fail(&spec, "ttl", &d, "is %d", 3), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "tcp 'in': config.ttl is 3");
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 5);
    tr_value_unref(cfg);

    assert_int_equal(tr_json_decode("{\"host\":\"h\"}", 12, &cfg, NULL), 0);
    spec.config = &cfg;
    spec.nkeys = 1;
    tr_diag_clear(&d);
    assert_int_equal(tr_tcp_offramp.create(&spec, NULL, &self, &d), TR_EINVAL_CFG);
    assert_string_equal(d.msg, "tcp 'in': config.port (TCP port to connect to) is required");
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 5);
    tr_value_unref(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_written_for_absent_keys),
        cmocka_unit_test(every_type_is_read),
        cmocka_unit_test(wrong_types_are_refused),
        cmocka_unit_test(ranges_and_choices_are_checked),
        cmocka_unit_test(unknown_keys_list_the_allowed_ones),
        cmocka_unit_test(required_keys_must_be_given),
        cmocka_unit_test(an_alias_fills_the_same_field),
        cmocka_unit_test(a_deprecated_key_warns_once_located),
        cmocka_unit_test(errors_point_at_the_key_when_its_position_is_known),
        cmocka_unit_test(help_prints_every_entry),
        cmocka_unit_test(registries_expose_maps),
        cmocka_unit_test(stdout_errors_come_from_its_map),
        cmocka_unit_test(one_key_checks_as_the_map_does),
        cmocka_unit_test(connector_errors_point_at_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
