/* test_world.c - the world with fake connectors: deploy, link, start, stop,
 * the failure of each step, and binding/unbinding while it runs.
 *
 * The fakes (types "fin" and "fout") are handed to the world through its
 * registry option; no network, no real connector. Their `config:` keys
 * make a step fail (fail_create, fail_start) or a close complete only when
 * the test says so (close_later). Every wait is on a condition of the loop,
 * bounded by a deadline that only ever fails the test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "config/cmap.h"
#include "core/alloc.h"
#include "connectors/conn.h"
#include "core/buf.h"
#include "core/log.h"
#include "ops/op.h"
#include "pipeline/world.h"

#include <cmocka.h>   /* after conn.h: cmocka defines a `fail` macro */

#define DEADLINE_MS 5000

/* ------------------------------------------------------------- the fakes */

struct fin {
    struct tr_onramp_host *host;
    int started, closed;
    uint64_t acks, fails, last_ack;
    int triggers, restores;
};

struct fout {
    struct tr_offramp_host *host;
    int started, closed, close_later;
    void (*close_done)(void *);
    void *close_arg;
    char last[256];
    size_t sends;
    uint64_t last_token;
    int last_transactional;
    int last_from_value;   /* data pointed into the event's string or undecoded JSON */
    int last_type;         /* the type of the value it was handed */
    long next_n;           /* the n of the next {"n":N} expected */
    size_t out_of_order;   /* {"n":N} sent with N not next_n */
};

static struct fin *g_in;      /* the newest fake of each kind */
static struct fout *g_out;
static int g_in_creates, g_out_creates;

/* A fake's switches: config keys that are true (read through a one-entry map). */
static int flag(const struct tr_conn_spec *s, const char *key, struct tr_diag *d) {
    bool b = false;
    const tr_value *v = s->config && s->config->type == TR_REC ? tr_rec_get_cstr(s->config, key) : NULL;
    if (!v) return 0;
    const struct tr_cmap_entry e = {TR_CMAP_KEY(TR_CMAP_BOOL, key, NULL, 0, 0, NULL)};
    const struct tr_cmap_src src = {.file = s->file, .line = s->line, .col = s->col, .kind = s->type, .id = s->id};
    return tr_cmap_apply_one(&e, v, &b, &src, d) == 0 && b;
}

static int fin_create(const struct tr_conn_spec *s, struct tr_onramp_host *h, void **self,
                      struct tr_diag *d) {
    if (flag(s, "fail_create", d))
        return tr_diag_set(d, TR_EINVAL_CFG, s->file, s->line, s->col, "fin '%s': told to fail",
                           s->id);
    struct fin *f = calloc(1, sizeof *f);
    f->host = h;
    *self = g_in = f;
    g_in_creates++;
    return 0;
}
static int fin_start(void *self) {
    ((struct fin *)self)->started = 1;
    return 0;
}
static void fin_trigger(void *self) { ((struct fin *)self)->triggers++; }
static void fin_restore(void *self) { ((struct fin *)self)->restores++; }
static void fin_ack(void *self, uint64_t id) {
    struct fin *f = self;
    f->acks++;
    f->last_ack = id;
}
static void fin_fail(void *self, uint64_t id) {
    (void)id;
    ((struct fin *)self)->fails++;
}
static void fin_close(void *self, void (*done)(void *), void *arg) {
    struct fin *f = self;
    f->closed = 1;
    if (g_in == f) g_in = NULL;
    free(f);
    if (done) done(arg);
}

static const struct tr_onramp_ops fin_ops = {
    .type = "fin", .transactional = true, .create = fin_create, .start = fin_start,
    .trigger = fin_trigger, .restore = fin_restore, .ack = fin_ack, .fail = fin_fail,
    .close = fin_close,
};

static int fout_create(const struct tr_conn_spec *s, struct tr_offramp_host *h, void **self,
                       struct tr_diag *d) {
    struct fout *f = calloc(1, sizeof *f);
    f->host = h;
    f->started = flag(s, "fail_start", d) ? -1 : 0;
    f->close_later = flag(s, "close_later", d);
    *self = g_out = f;
    g_out_creates++;
    return 0;
}
static int fout_start(void *self) {
    struct fout *f = self;
    if (f->started < 0) return TR_EUNSUPPORTED;
    f->started = 1;
    return 0;
}
static void fout_send(void *self, const struct tr_out_msg *m) {
    struct fout *f = self;
    snprintf(f->last, sizeof f->last, "%.*s", (int)m->len, m->data);
    f->sends++;
    f->last_token = m->token;
    f->last_transactional = m->transactional;
    f->last_from_value = m->value &&
                         (m->value->type == TR_STR || m->value->type == TR_BIN || m->value->type == TR_RAWJSON) &&
                         m->data == m->value->as.s->data;
    f->last_type = m->value ? m->value->type : -1;
    if (m->len > 5 && !memcmp(m->data, "{\"n\":", 5)) {
        long n = strtol(f->last + 5, NULL, 10);
        if (n != f->next_n) f->out_of_order++;
        f->next_n = n + 1;
    }
}
static bool fout_active(void *self) {
    (void)self;
    return true;
}
static void fout_close(void *self, void (*done)(void *), void *arg) {
    struct fout *f = self;
    f->closed = 1;
    if (f->close_later) {   /* the test completes it */
        f->close_done = done;
        f->close_arg = arg;
        return;
    }
    if (g_out == f) g_out = NULL;
    free(f);
    if (done) done(arg);
}
static void fout_finish_close(struct fout *f) {
    void (*done)(void *) = f->close_done;
    void *arg = f->close_arg;
    if (g_out == f) g_out = NULL;
    free(f);
    if (done) done(arg);
}

/* fout sends bytes only, like a tcp sink; vout stands for a sink that
 * reads values (elastic, kv) */
static const struct tr_offramp_ops fout_ops = {
    .type = "fout", .bytes_only = true, .create = fout_create, .start = fout_start,
    .send = fout_send, .is_active = fout_active, .close = fout_close,
};
static const struct tr_offramp_ops vout_ops = {
    .type = "vout", .create = fout_create, .start = fout_start, .send = fout_send,
    .is_active = fout_active, .close = fout_close,
};

/* fids: fin for a connector that reads the ids its bytes became around
 * its emit calls (kafka, relp) */
static const struct tr_onramp_ops fids_ops = {
    .type = "fids", .transactional = true, .ids_at_emit = true, .create = fin_create,
    .start = fin_start, .trigger = fin_trigger, .restore = fin_restore, .ack = fin_ack,
    .fail = fin_fail, .close = fin_close,
};

static const struct tr_onramp_ops *reg_onramp(const char *t) {
    return strcmp(t, "fin") == 0 ? &fin_ops : strcmp(t, "fids") == 0 ? &fids_ops : NULL;
}
static const struct tr_offramp_ops *reg_offramp(const char *t) {
    return strcmp(t, "fout") == 0 ? &fout_ops : strcmp(t, "vout") == 0 ? &vout_ops : NULL;
}
static const char *reg_on_types(void) { return "fin, fids"; }
static const char *reg_off_types(void) { return "fout, vout"; }

static const struct tr_world_registry fakes = {
    reg_onramp, reg_offramp, reg_on_types, reg_off_types, tr_op_find, tr_op_kinds,
};

/* ------------------------------------------------------------- harness */

struct fx {
    uv_loop_t loop;
    struct tr_world *w;
    char dir[64];
    char query[128];
    int stopped;
};

static const char *PASS_TRICKLE = "select event from in into out;\n";

/* A world with the fakes and pipeline "pass" published; off_loop: its
 * onramps decode on the thread pool. */
static int setup_with(void **state, int off_loop) {
    struct fx *f = calloc(1, sizeof *f);
    g_in = NULL;
    g_out = NULL;
    g_in_creates = g_out_creates = 0;
    uv_loop_init(&f->loop);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_world.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->query, sizeof f->query, "%s/pass.trickle", f->dir);
    FILE *q = fopen(f->query, "w");
    assert_non_null(q);
    fputs(PASS_TRICKLE, q);
    fclose(q);
    struct tr_world_opts o = {.loop = &f->loop, .data_dir = f->dir, .registry = &fakes,
                              .decode_off_loop = off_loop};
    assert_int_equal(tr_world_create(&o, &f->w), 0);
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_world_load_query(f->w, f->query, &d), 0);
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_with(state, 0); }
static int setup_off_loop(void **state) { return setup_with(state, 1); }

static void on_stopped(void *arg) { ((struct fx *)arg)->stopped = 1; }

/* Run the loop until *cond; each turn blocks until something happens (the
 * world's 100 ms tick is always there while it runs). -1: the deadline
 * passed or nothing was left to wait for. */
static int run_until(struct fx *f, int *cond) {
    uint64_t end = uv_now(&f->loop) + DEADLINE_MS;
    while (!*cond) {
        if (!uv_loop_alive(&f->loop) || uv_now(&f->loop) > end) return -1;
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    if (!f->stopped) {
        tr_world_stop(f->w, 0, on_stopped, f);
        assert_int_equal(run_until(f, &f->stopped), 0);
    }
    uv_run(&f->loop, UV_RUN_DEFAULT);
    tr_world_destroy(f->w);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    unlink(f->query);
    rmdir(f->dir);
    free(f);
    return 0;
}

static const char *CONNECTORS =
    "onramp:\n"
    "  - id: src\n"
    "    type: fin\n"
    "offramp:\n"
    "  - id: dst\n"
    "    type: fout\n";

static const char *BINDING =
    "binding:\n"
    "  - id: b\n"
    "    links:\n"
    "      '/onramp/src/{instance}/out': ['/pipeline/pass/{instance}/in']\n"
    "      '/pipeline/pass/{instance}/out': ['/offramp/dst/{instance}/in']\n";

static int publish(struct fx *f, const char *yaml, struct tr_diag *d) {
    return tr_world_publish_config(f->w, "test.yaml", yaml, strlen(yaml), d);
}

static tr_value instance_vars(void) {
    tr_value vars, s;
    assert_int_equal(tr_v_rec(1, &vars), 0);
    assert_int_equal(tr_v_str("01", 2, &s), 0);
    assert_int_equal(tr_rec_set(&vars, "instance", 8, s), 0);
    return vars;
}

/* ---------------------------------------------------------------- tests */

/* Publish the fakes, the binding and its mapping to instance 01, and
 * deploy them (nothing started yet). */
static void deploy_binding(struct fx *f, struct tr_diag *d) {
    char yaml[1024];
    tr_diag_clear(d);
    snprintf(yaml, sizeof yaml, "%s%smapping:\n  /binding/b/01:\n    instance: '01'\n",
             CONNECTORS, BINDING);
    assert_int_equal(publish(f, yaml, d), 0);
    assert_int_equal(tr_world_deploy(f->w, d), 0);
}

/* Publish yaml (artefacts, bindings and mappings), deploy and start it. */
static void run_yaml(struct fx *f, const char *yaml, struct tr_diag *d) {
    assert_int_equal(publish(f, yaml, d), 0);
    assert_int_equal(tr_world_deploy(f->w, d), 0);
    assert_int_equal(tr_world_start(f->w, d), 0);
}

/* Deploy, link and start; an event goes from the onramp through the
 * pipeline to the offramp; the offramp's ack reaches the onramp; stop. */
static void deploy_link_stop(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    deploy_binding(f, &d);
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_PIPELINE, "pass"), 1);
    assert_non_null(g_in);
    assert_non_null(g_out);
    assert_int_equal(g_in->started, 0);     /* deployed, not started */
    assert_int_equal(tr_world_start(f->w, &d), 0);
    assert_int_equal(g_in->started, 1);
    assert_int_equal(g_out->started, 1);
    tr_value v;
    assert_int_equal(tr_v_rec(1, &v), 0);
    assert_int_equal(tr_rec_set(&v, "x", 1, tr_v_int(1)), 0);
    int64_t id = tr_onramp_emit_value(g_in->host, v, tr_v_null());
    assert_int_equal(id, 0);
    assert_int_equal(g_out->sends, 1);
    assert_string_equal(g_out->last, "{\"x\":1}");
    assert_int_equal(g_out->last_transactional, 1);
    tr_offramp_ack(g_out->host, g_out->last_token);
    assert_int_equal(g_in->acks, 0);   /* contraflow comes from the loop, not from inside the ack */
    for (int i = 0; i < 100 && g_in->acks == 0; i++) uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(g_in->acks, 1);
    assert_int_equal(g_in->last_ack, 0);
    tr_world_stop(f->w, 0, on_stopped, f);
    assert_int_equal(run_until(f, &f->stopped), 0);
    assert_null(g_in);    /* both closed */
    assert_null(g_out);
}

/* The passthrough path allocates nothing per event: once the first
 * events sized the buffers, an event decoded into the onramp's carried
 * block goes through the pipeline and out of the offramp with every
 * allocation failing. */
static void passthrough_allocates_nothing_per_event(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    deploy_binding(f, &d);
    assert_int_equal(tr_world_start(f->w, &d), 0);
    static const char line[] = "{\"id\":1,\"host\":\"a.example\",\"tags\":[\"x\",\"y\"],\"ok\":true}";
    for (int i = 0; i < 4; i++) {   /* the first events size the buffers */
        assert_int_equal(tr_onramp_emit_bytes(g_in->host, 0, line, sizeof line - 1, tr_v_null()), 0);
        tr_offramp_ack(g_out->host, g_out->last_token);
        for (int k = 0; k < 100 && g_in->acks < (uint64_t)i + 1; k++) uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(g_out->sends, 4);
    tr_alloc_fail_at(1, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tr_onramp_emit_bytes(g_in->host, 0, line, sizeof line - 1, tr_v_null()), 0);
    tr_alloc_fail_at(0, 0);
    assert_int_equal(g_out->sends, 7);
    assert_string_equal(g_out->last, line);
    assert_int_equal(g_out->last_type, TR_RAWJSON);
}

/* JSON that decoding and encoding again would give back as it is stays
 * undecoded from the onramp to a bytes-only offramp when the pipeline
 * reads nothing, and is sent from the event itself. Everything else is
 * decoded where it is read: other JSON at the codec, every event for a
 * pipeline whose first node reads it, and for a sink that reads values. */
static void raw_json_goes_out_as_it_came(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    tr_diag_clear(&d);
    const char *canon = "{\"id\":7,\"msg\":\"a \\\"b\\\"\\n\",\"f\":1.5,\"t\":[true,null]}";
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "%s  - id: vals\n    type: vout\n%smapping:\n  /binding/b/01:\n    instance: '01'\n",
             CONNECTORS, BINDING);
    run_yaml(f, yaml, &d);
    assert_int_equal(tr_onramp_emit_bytes(g_in->host, 0, canon, strlen(canon), tr_v_null()), 0);
    assert_string_equal(g_out->last, canon);
    assert_int_equal(g_out->last_type, TR_RAWJSON);
    assert_true(g_out->last_from_value);
    /* not in the encoder's form: decoded, written as 0.11 writes it */
    static const char *const other[][2] = {
        {"{\"a\": 1}", "{\"a\":1}"},
        {"{\"a\":1,\"a\":2}", "{\"a\":2}"},
        {"{\"a\":\"\\u0041\\/\"}", "{\"a\":\"A/\"}"},
        {"{\"a\":1.50}", "{\"a\":1.5}"},
        {"-0", "0"},
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        assert_int_equal(tr_onramp_emit_bytes(g_in->host, 0, other[i][0], strlen(other[i][0]), tr_v_null()), 0);
        assert_string_equal(g_out->last, other[i][1]);
        assert_int_not_equal(g_out->last_type, TR_RAWJSON);
    }
    /* a pipeline that reads the event: the onramp decodes for both */
    const char *q = "select event.id from in into out;\n";
    assert_int_equal(tr_world_publish_query(f->w, "mem/pick.trickle", q, strlen(q), &d), 0);
    assert_int_equal(publish(f,
                             "binding:\n  - id: b2\n    links:\n"
                             "      '/onramp/src/{instance}/out': ['/pipeline/pick/{instance}/in']\n"
                             "      '/pipeline/pick/{instance}/out': ['/offramp/vals/{instance}/in']\n",
                             &d), 0);
    struct fout *plain = g_out;
    tr_value vars = instance_vars();
    assert_int_equal(tr_world_bind(f->w, "/binding/b2/01", &vars, &d), 0);
    tr_value_unref(vars);
    struct fout *vals = g_out;
    assert_ptr_not_equal(vals, plain);
    assert_int_equal(tr_onramp_emit_bytes(g_in->host, 0, canon, strlen(canon), tr_v_null()), 0);
    assert_string_equal(vals->last, "7");
    assert_string_equal(plain->last, canon);
    assert_int_equal(plain->last_type, TR_REC);
    /* a sink that reads values gets them decoded, also from a raw event */
    assert_int_equal(tr_world_unbind(f->w, "/binding/b2/01", &d), 0);
    assert_int_equal(publish(f,
                             "binding:\n  - id: b3\n    links:\n"
                             "      '/onramp/src/{instance}/out': ['/pipeline/pass/{instance}/in']\n"
                             "      '/pipeline/pass/{instance}/out': ['/offramp/vals/{instance}/in']\n",
                             &d), 0);
    vars = instance_vars();
    assert_int_equal(tr_world_bind(f->w, "/binding/b3/01", &vars, &d), 0);
    tr_value_unref(vars);
    vals = g_out;
    assert_int_equal(tr_onramp_emit_bytes(g_in->host, 0, canon, strlen(canon), tr_v_null()), 0);
    assert_string_equal(vals->last, canon);
    assert_int_equal(vals->last_type, TR_REC);
    assert_string_equal(plain->last, canon);
    assert_int_equal(plain->last_type, TR_RAWJSON);
}

/* Under the string codec a string goes out as its own bytes, not copied
 * into the encode buffer; a record under it still encodes (as JSON), and a
 * postprocessor gets a buffer to work on. */
static void string_goes_out_uncopied(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    tr_diag_clear(&d);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "onramp:\n  - id: src\n    type: fin\n    codec: string\n"
             "offramp:\n  - id: dst\n    type: fout\n    codec: string\n"
             "  - id: dst2\n    type: fout\n    codec: string\n    postprocessors: [lines]\n"
             "%smapping:\n  /binding/b/01:\n    instance: '01'\n", BINDING);
    run_yaml(f, yaml, &d);
    assert_int_equal(tr_onramp_emit_bytes(g_in->host, 0, "hello", 5, tr_v_null()), 0);
    assert_int_equal(g_out->sends, 1);
    assert_string_equal(g_out->last, "hello");
    assert_true(g_out->last_from_value);
    tr_value v;
    assert_int_equal(tr_v_rec(1, &v), 0);
    assert_int_equal(tr_rec_set(&v, "x", 1, tr_v_int(1)), 0);
    assert_true(tr_onramp_emit_value(g_in->host, v, tr_v_null()) > 0);
    assert_int_equal(g_out->sends, 2);
    assert_string_equal(g_out->last, "{\"x\":1}");
    assert_false(g_out->last_from_value);
    /* the same through a postprocessor: the line ends in a newline */
    struct fout *plain = g_out;
    assert_int_equal(publish(f,
                             "binding:\n  - id: b2\n    links:\n"
                             "      '/onramp/src/{instance}/out': ['/pipeline/pass/{instance}/in']\n"
                             "      '/pipeline/pass/{instance}/out': ['/offramp/dst2/{instance}/in']\n",
                             &d), 0);
    tr_value vars = instance_vars();
    assert_int_equal(tr_world_bind(f->w, "/binding/b2/01", &vars, &d), 0);
    tr_value_unref(vars);
    assert_ptr_not_equal(g_out, plain);
    assert_int_equal(tr_onramp_emit_bytes(g_in->host, 0, "hi", 2, tr_v_null()), 0);
    assert_string_equal(g_out->last, "hi\n");
    assert_false(g_out->last_from_value);
    assert_string_equal(plain->last, "hi");
    assert_true(plain->last_from_value);
}

/* A connector whose create fails: the deploy fails with its message and
 * nothing stays deployed. */
static void create_fails(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(publish(f,
                             "onramp:\n  - id: src\n    type: fin\n    config:\n"
                             "      fail_create: true\n"
                             "offramp:\n  - id: dst\n    type: fout\n",
                             &d), 0);
    assert_int_equal(publish(f, BINDING, &d), 0);
    tr_value vars = instance_vars();
    int rc = tr_world_bind(f->w, "/binding/b/01", &vars, &d);
    tr_value_unref(vars);
    assert_int_equal(rc, TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "fin 'src': told to fail"));
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_ONRAMP, "src"), 0);
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_PIPELINE, "pass"), 0);
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_OFFRAMP, "dst"), 0);
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_BINDING, "b"), 0);
}

/* A link to an artefact nobody published. */
static void link_to_missing(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(publish(f,
                             "onramp:\n  - id: src\n    type: fin\n"
                             "binding:\n  - id: b\n    links:\n"
                             "      '/onramp/src/{instance}/out': ['/pipeline/pass/{instance}/in']\n"
                             "      '/pipeline/pass/{instance}/out': ['/offramp/nope/{instance}/in']\n",
                             &d), 0);
    tr_value vars = instance_vars();
    int rc = tr_world_bind(f->w, "/binding/b/01", &vars, &d);
    tr_value_unref(vars);
    assert_int_equal(rc, TR_ENOTFOUND);
    assert_non_null(strstr(d.msg, "no offramp 'nope' is loaded"));
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_PIPELINE, "pass"), 0);
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_ONRAMP, "src"), 0);
}

/* An offramp that fails to start fails the start, naming it. */
static void start_fails(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    tr_diag_clear(&d);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "onramp:\n  - id: src\n    type: fin\n"
             "offramp:\n  - id: dst\n    type: fout\n    config:\n      fail_start: true\n"
             "%smapping:\n  /binding/b/01:\n    instance: '01'\n", BINDING);
    assert_int_equal(publish(f, yaml, &d), 0);
    assert_int_equal(tr_world_deploy(f->w, &d), 0);
    int rc = tr_world_start(f->w, &d);
    assert_int_equal(rc, TR_EUNSUPPORTED);
    assert_non_null(strstr(d.msg, "offramp 'dst' failed to start"));
    assert_int_equal(g_in->started, 0);   /* onramps start after offramps */
}

/* Stop waits for an offramp whose close completes later. */
static void stop_waits_for_late_close(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    tr_diag_clear(&d);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "onramp:\n  - id: src\n    type: fin\n"
             "offramp:\n  - id: dst\n    type: fout\n    config:\n      close_later: true\n"
             "%smapping:\n  /binding/b/01:\n    instance: '01'\n", BINDING);
    run_yaml(f, yaml, &d);
    struct fout *out = g_out;
    tr_world_stop(f->w, 0, on_stopped, f);
    assert_int_equal(run_until(f, &out->closed), 0);
    for (int i = 0; i < 20; i++) uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(f->stopped, 0);      /* still waiting for the close */
    fout_finish_close(out);
    assert_int_equal(run_until(f, &f->stopped), 0);
}

/* Publish, bind, unbind and unpublish one artefact at a time while the
 * world runs. */
static void bind_unbind_running(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_world_start(f->w, &d), 0);   /* nothing deployed yet */
    assert_int_equal(publish(f, CONNECTORS, &d), 0);
    assert_int_equal(publish(f, BINDING, &d), 0);
    assert_null(g_in);
    tr_value vars = instance_vars();
    assert_int_equal(tr_world_bind(f->w, "/binding/b/01", &vars, &d), 0);
    tr_value_unref(vars);
    assert_non_null(g_in);
    assert_int_equal(g_in->started, 1);                /* started by the bind */
    assert_int_equal(g_out->started, 1);
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_BINDING, "b"), 1);
    int64_t id = tr_onramp_emit_value(g_in->host, tr_v_int(7), tr_v_null());
    assert_true(id >= 0);
    assert_int_equal(g_out->sends, 1);
    assert_string_equal(g_out->last, "7");
    /* in use: refused */
    assert_int_equal(tr_world_unpublish(f->w, TR_WORLD_PIPELINE, "pass", &d), -EBUSY);
    assert_int_equal(tr_world_unpublish(f->w, TR_WORLD_ONRAMP, "src", &d), -EBUSY);
    assert_int_equal(tr_world_unpublish(f->w, TR_WORLD_BINDING, "b", &d), -EBUSY);
    assert_int_equal(tr_world_unbind(f->w, "/binding/b/01", &d), 0);
    assert_null(g_in);    /* retired: closed */
    assert_null(g_out);
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_PIPELINE, "pass"), 0);
    assert_int_equal(tr_world_unbind(f->w, "/binding/b/01", &d), TR_ENOTFOUND);
    /* bound again: new instances */
    vars = instance_vars();
    assert_int_equal(tr_world_bind(f->w, "/binding/b/01", &vars, &d), 0);
    assert_int_equal(g_in_creates, 2);
    assert_int_equal(tr_world_unbind(f->w, "/binding/b/01", &d), 0);
    assert_int_equal(tr_world_unpublish(f->w, TR_WORLD_BINDING, "b", &d), 0);
    assert_int_equal(tr_world_unpublish(f->w, TR_WORLD_PIPELINE, "pass", &d), 0);
    assert_int_equal(tr_world_unpublish(f->w, TR_WORLD_ONRAMP, "src", &d), 0);
    assert_int_equal(tr_world_unpublish(f->w, TR_WORLD_ONRAMP, "src", &d), TR_ENOTFOUND);
    /* the unpublished binding cannot be bound any more */
    int rc = tr_world_bind(f->w, "/binding/b/01", &vars, &d);
    tr_value_unref(vars);
    assert_int_equal(rc, TR_ENOTFOUND);
}

/* Two binding instances share an offramp; unbinding one keeps it. */
static void shared_instance_stays(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(publish(f, CONNECTORS, &d), 0);
    assert_int_equal(publish(f,
                             "binding:\n  - id: b\n    links:\n"
                             "      '/onramp/src/{instance}/out': ['/pipeline/pass/{instance}/in']\n"
                             "      '/pipeline/pass/{instance}/out': ['/offramp/dst/shared/in']\n",
                             &d), 0);
    assert_int_equal(tr_world_start(f->w, &d), 0);
    tr_value vars = instance_vars();
    assert_int_equal(tr_world_bind(f->w, "/binding/b/01", &vars, &d), 0);
    tr_value_unref(vars);
    tr_value v2, s;
    assert_int_equal(tr_v_rec(1, &v2), 0);
    assert_int_equal(tr_v_str("02", 2, &s), 0);
    assert_int_equal(tr_rec_set(&v2, "instance", 8, s), 0);
    assert_int_equal(tr_world_bind(f->w, "/binding/b/02", &v2, &d), 0);
    tr_value_unref(v2);
    assert_int_equal(g_out_creates, 1);
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_PIPELINE, "pass"), 2);
    assert_int_equal(tr_world_unbind(f->w, "/binding/b/01", &d), 0);
    assert_non_null(g_out);                       /* still used by b/02 */
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_OFFRAMP, "dst"), 1);
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_PIPELINE, "pass"), 1);
    /* b/02's path still works */
    assert_non_null(g_in);
    assert_int_equal(tr_onramp_emit_value(g_in->host, tr_v_int(2), tr_v_null()) >= 0, 1);
    assert_int_equal(g_out->sends, 1);
}

/* A bind while running whose offramp fails to start is undone: nothing of
 * it stays, its onramp never started. */
static void bind_running_start_fails(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_world_start(f->w, &d), 0);
    assert_int_equal(publish(f,
                             "onramp:\n  - id: src\n    type: fin\n"
                             "offramp:\n  - id: dst\n    type: fout\n    config:\n"
                             "      fail_start: true\n",
                             &d), 0);
    assert_int_equal(publish(f, BINDING, &d), 0);
    tr_value vars = instance_vars();
    int rc = tr_world_bind(f->w, "/binding/b/01", &vars, &d);
    tr_value_unref(vars);
    assert_int_equal(rc, TR_EUNSUPPORTED);
    assert_non_null(strstr(d.msg, "offramp 'dst' failed to start"));
    assert_null(g_in);     /* created, never started, closed again */
    assert_null(g_out);
    assert_int_equal(g_in_creates, 1);
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_BINDING, "b"), 0);
    assert_int_equal(tr_world_instances(f->w, TR_WORLD_PIPELINE, "pass"), 0);
}

/* A pipeline published from text, its metrics port linked to an offramp:
 * with metrics_interval_s = 0 (0.11: a report at every event later than
 * the last one) the second event brings the counts of the first. */
static void metrics_port_links_like_any_other(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    tr_diag_clear(&d);
    const char *q = "#!config metrics_interval_s = 0\nselect event from in into out;\n";
    assert_int_equal(tr_world_publish_query(f->w, "mem/m.trickle", q, strlen(q), &d), 0);
    assert_int_equal(publish(f, CONNECTORS, &d), 0);
    assert_int_equal(publish(f,
                             "binding:\n  - id: mb\n    links:\n"
                             "      '/onramp/src/{instance}/out': ['/pipeline/m/{instance}/in']\n"
                             "      '/pipeline/m/{instance}/metrics': ['/offramp/dst/{instance}/in']\n",
                             &d), 0);
    assert_int_equal(tr_world_start(f->w, &d), 0);
    tr_value vars = instance_vars();
    assert_int_equal(tr_world_bind(f->w, "/binding/mb/01", &vars, &d), 0);
    tr_value_unref(vars);
    assert_true(tr_onramp_emit_value(g_in->host, tr_v_int(1), tr_v_null()) >= 0);
    assert_int_equal(g_out->sends, 0);      /* nothing counted before the first */
    assert_true(tr_onramp_emit_value(g_in->host, tr_v_int(2), tr_v_null()) >= 0);
    assert_int_equal(g_out->sends, 4);      /* in/out, out/in, select in, select out */
    assert_non_null(strstr(g_out->last, "\"measurement\":\"events\""));
    assert_non_null(strstr(g_out->last, "\"direction\":\"output\""));
    assert_non_null(strstr(g_out->last, "\"count\":1"));
    /* a query that does not compile is not published */
    assert_int_equal(tr_world_publish_query(f->w, "bad.trickle", "select", 6, &d), TR_EPARSE);
}


/* 0.11 takes a link to an offramp's port other than 'in' (its cli tests
 * link to /offramp/out/{i}/out): the events still reach the offramp, but
 * the pipeline is no input of it, so nothing is answered upstream. The
 * port 'metrics' (the offramp's metrics pipeline in 0.11) is refused. */
static void link_to_offramp_side_port(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    tr_diag_clear(&d);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "%sbinding:\n  - id: b\n    links:\n"
             "      '/onramp/src/{instance}/out': ['/pipeline/pass/{instance}/in']\n"
             "      '/pipeline/pass/{instance}/out': ['/offramp/dst/{instance}/out']\n"
             "mapping:\n  /binding/b/01:\n    instance: '01'\n", CONNECTORS);
    run_yaml(f, yaml, &d);
    tr_value v;
    assert_int_equal(tr_v_rec(1, &v), 0);
    assert_int_equal(tr_rec_set(&v, "x", 1, tr_v_int(1)), 0);
    assert_int_equal(tr_onramp_emit_value(g_in->host, v, tr_v_null()), 0);
    assert_int_equal(g_out->sends, 1);
    assert_string_equal(g_out->last, "{\"x\":1}");
    assert_int_equal(g_out->last_transactional, 0);   /* no answer is asked for */
    for (int i = 0; i < 20; i++) uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(g_in->acks, 0);
    assert_int_equal(g_in->fails, 0);
    tr_world_stop(f->w, 0, on_stopped, f);
    assert_int_equal(run_until(f, &f->stopped), 0);

    f->stopped = 0;
    struct tr_world_opts o = {.loop = &f->loop, .data_dir = f->dir, .registry = &fakes};
    uv_run(&f->loop, UV_RUN_DEFAULT);
    tr_world_destroy(f->w);
    assert_int_equal(tr_world_create(&o, &f->w), 0);
    assert_int_equal(tr_world_load_query(f->w, f->query, &d), 0);
    snprintf(yaml, sizeof yaml,
             "%sbinding:\n  - id: b\n    links:\n"
             "      '/pipeline/pass/{instance}/out': ['/offramp/dst/{instance}/metrics']\n"
             "mapping:\n  /binding/b/01:\n    instance: '01'\n", CONNECTORS);
    assert_int_equal(publish(f, yaml, &d), 0);
    assert_int_not_equal(tr_world_deploy(f->w, &d), 0);
    assert_non_null(strstr(d.msg, "'metrics'"));
    assert_non_null(strstr(d.msg, "not implemented"));
}

/* A binding through a pipeline that reads its events (so they are
 * decoded, not carried as text), with onramps decoding off the loop. */
static void deploy_reading_from(struct fx *f, const char *onramp_type, struct tr_diag *d) {
    tr_diag_clear(d);
    const char *q = "select event from in where event.n >= 0 into out;\n";
    assert_int_equal(tr_world_publish_query(f->w, "mem/reads.trickle", q, strlen(q), d), 0);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "onramp:\n  - id: src\n    type: %s\n"
             "offramp:\n  - id: dst\n    type: fout\n"
             "binding:\n  - id: b\n    links:\n"
             "      '/onramp/src/{instance}/out': ['/pipeline/reads/{instance}/in']\n"
             "      '/pipeline/reads/{instance}/out': ['/offramp/dst/{instance}/in']\n"
             "mapping:\n  /binding/b/01:\n    instance: '01'\n", onramp_type);
    run_yaml(f, yaml, d);
}

static void deploy_reading(struct fx *f, struct tr_diag *d) { deploy_reading_from(f, "fin", d); }

/* Run the loop until out sent n events; -1 past the deadline. */
static int run_until_sent(struct fx *f, const struct fout *out, size_t n) {
    uint64_t end = uv_now(&f->loop) + DEADLINE_MS;
    while (out->sends != n) {
        if (uv_now(&f->loop) > end) return -1;
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    return 0;
}

static int emit_n(long n) {
    char line[64];
    int len = snprintf(line, sizeof line, "{\"n\":%ld,\"pad\":\"%s\"}", n, n % 3 ? "x" : "a longer one");
    return tr_onramp_emit_bytes(g_in->host, 0, line, (size_t)len, tr_v_null());
}

/* Off the loop, events come from the loop after the emit call, in the
 * order their bytes came, a frame that does not decode among them
 * (counted, not sent), and the one-thread answers stay: ids from 0. */
static void off_loop_keeps_order(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    deploy_reading(f, &d);
    const long n = 3000;
    for (long i = 0; i < n; i++) {
        if (i == 1000) assert_true(tr_onramp_emit_bytes(g_in->host, 0, "{\"n\":", 5, tr_v_null()) >= 0);
        assert_true(emit_n(i) >= 0);
    }
    assert_int_equal(g_out->sends, 0);   /* none inside the emit calls */
    assert_int_equal(run_until_sent(f, g_out, (size_t)n), 0);
    assert_int_equal(g_out->out_of_order, 0);
    assert_int_equal(g_out->next_n, n);
    /* the tokens are the events' ids: the bad frame took one, as on the loop */
    assert_int_equal(g_out->last_token, (uint64_t)n);
}

/* With a batch in the pool and a full one waiting, the emit call says
 * paused and the connector is triggered from the loop, then restored
 * once when the batch is back. */
static void off_loop_pushes_back(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    deploy_reading(f, &d);
    for (int k = 0; k < 10; k++) uv_run(&f->loop, UV_RUN_NOWAIT);   /* the start's restore */
    int restores = g_in->restores;
    assert_int_equal(emit_n(0), 0);   /* to the pool at once */
    int rc = 0;
    long i = 1;
    while (rc == 0 && i < 100000) rc = emit_n(i++);
    assert_int_equal(rc, TR_ONRAMP_PAUSED);
    assert_int_equal(g_in->triggers, 0);   /* from the loop, not inside the call */
    assert_int_equal(run_until_sent(f, g_out, (size_t)i), 0);
    assert_int_equal(g_in->triggers, 1);
    assert_int_equal(g_in->restores, restores + 1);
    assert_int_equal(g_out->out_of_order, 0);
}

/* A connector that learns its events' ids around its emit calls keeps
 * them there, off the loop too: each frame is decoded inside the call. */
static void off_loop_not_for_ids_at_emit(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    deploy_reading_from(f, "fids", &d);
    for (long i = 0; i < 100; i++) {
        uint64_t id = tr_onramp_next_id(g_in->host), ev = tr_onramp_events(g_in->host);
        assert_int_equal(emit_n(i), 0);
        assert_int_equal(tr_onramp_next_id(g_in->host), id + 1);
        assert_int_equal(tr_onramp_events(g_in->host), ev + 1);
        assert_int_equal(g_out->sends, (size_t)i + 1);
    }
}

/* Frames queued when the world stops are still decoded and sent: the
 * stop waits for them. */
static void off_loop_stop_delivers_queued(void **state) {
    struct fx *f = *state;
    struct tr_diag d;
    deploy_reading(f, &d);
    for (long i = 0; i < 300; i++) assert_true(emit_n(i) >= 0);
    struct fout *out = g_out;
    out->close_later = 1;   /* to read its count after the stop */
    tr_world_stop(f->w, 0, on_stopped, f);
    assert_int_equal(run_until(f, &out->closed), 0);
    assert_int_equal(out->sends, 300);
    assert_int_equal(out->out_of_order, 0);
    fout_finish_close(out);
    assert_int_equal(run_until(f, &f->stopped), 0);
}

int main(void) {
    tr_log_set_level(TR_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(deploy_link_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(off_loop_keeps_order, setup_off_loop, teardown),
        cmocka_unit_test_setup_teardown(off_loop_pushes_back, setup_off_loop, teardown),
        cmocka_unit_test_setup_teardown(off_loop_stop_delivers_queued, setup_off_loop, teardown),
        cmocka_unit_test_setup_teardown(off_loop_not_for_ids_at_emit, setup_off_loop, teardown),
        cmocka_unit_test_setup_teardown(passthrough_allocates_nothing_per_event, setup, teardown),
        cmocka_unit_test_setup_teardown(raw_json_goes_out_as_it_came, setup, teardown),
        cmocka_unit_test_setup_teardown(string_goes_out_uncopied, setup, teardown),
        cmocka_unit_test_setup_teardown(create_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(link_to_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(start_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_waits_for_late_close, setup, teardown),
        cmocka_unit_test_setup_teardown(bind_unbind_running, setup, teardown),
        cmocka_unit_test_setup_teardown(shared_instance_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(bind_running_start_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_port_links_like_any_other, setup, teardown),
        cmocka_unit_test_setup_teardown(link_to_offramp_side_port, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
