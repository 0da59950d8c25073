/* test_config.c - the Tremor 0.11 YAML config loader: shapes, types, located
 * errors, appending files, duplicate ids, aliases, and absurd inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cmap.h"
#include "config/config.h"
#include "config/url.h"
#include "config/yaml.h"
#include "core/alloc.h"

#define CONFORMANCE "../shared/conformance/tremor-0.11"

/* The tutorial's shipped config.yaml, verbatim. */
static const char *const TUTORIAL =
    "onramp:\n"
    "  - id: metronome\n"
    "    type: metronome\n"
    "    config:\n"
    "      interval: 1000 # Every second\n"
    "offramp:\n"
    "  - id: ws\n"
    "    type: ws\n"
    "    config:\n"
    "      url: ws://localhost:8080/\n"
    "binding:\n"
    "  - id: default\n"
    "    links:\n"
    "      \"/onramp/metronome/{instance}/out\": [\"/pipeline/persistent/{instance}/in\"]\n"
    "      \"/pipeline/persistent/{instance}/out\": [\"/offramp/ws/{instance}/in\"]\n"
    "mapping:\n"
    "  /binding/default/01:\n"
    "    instance: \"01\"\n";

static int load(struct tr_config *c, const char *name, const char *yaml, struct tr_diag *d) {
    return tr_config_load_string(c, name, yaml, strlen(yaml), d);
}

/* Load yaml into a fresh config and expect an error with this code, location
 * and message text (msg_part must occur in the message). */
static void expect_error(const char *yaml, int rc, int line, int col, const char *msg_part) {
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    size_t before = tr_alloc_used();
    int got = load(&c, "t.yaml", yaml, &d);
    if (got != rc || d.line != line || d.col != col || !strstr(d.msg, msg_part))
        print_error("expected rc %d at %d:%d with '%s'\n     got rc %d at %d:%d: %s\n", rc, line,
                    col, msg_part, got, d.line, d.col, d.msg);
    assert_int_equal(got, rc);
    assert_int_equal(d.line, line);
    assert_int_equal(d.col, col);
    assert_non_null(strstr(d.msg, msg_part));
    assert_string_equal(d.file, "t.yaml");
    assert_int_equal(c.nonramps + c.nofframps + c.nbindings + c.nmappings + c.nfiles, 0);
    assert_int_equal(tr_alloc_used(), before);
    tr_config_fini(&c);
}

static void expect_loc(const struct tr_cfg_loc *l, const char *file, int line, int col) {
    if (strcmp(l->file, file) || l->line != line || l->col != col)
        print_error("expected %s:%d:%d, got %s:%d:%d\n", file, line, col, l->file, l->line,
                    l->col);
    assert_string_equal(l->file, file);
    assert_int_equal(l->line, line);
    assert_int_equal(l->col, col);
}

static const tr_value *field(const tr_value *rec, const char *key) {
    assert_int_equal(rec->type, TR_REC);
    const tr_value *v = tr_rec_get_cstr(rec, key);
    if (!v) print_error("no key '%s'\n", key);
    assert_non_null(v);
    return v;
}

static void expect_str(const tr_value *v, const char *s) {
    assert_int_equal(v->type, TR_STR);
    assert_int_equal(v->as.s->len, strlen(s));
    assert_memory_equal(v->as.s->data, s, strlen(s));
}

/* ---- the tutorial ---- */

static void test_tutorial_config(void **state) {
    (void)state;
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    size_t before = tr_alloc_used();
    assert_int_equal(load(&c, "config.yaml", TUTORIAL, &d), 0);

    assert_int_equal(c.nonramps, 1);
    const struct tr_cfg_artefact *on = &c.onramps[0];
    assert_string_equal(on->id, "metronome");
    assert_string_equal(on->type, "metronome");
    assert_null(on->codec);
    assert_null(on->description);
    assert_int_equal(on->npre + on->npost, 0);
    assert_int_equal(on->linked, 0);
    assert_int_equal(on->metrics_interval_s, -1);
    assert_int_equal(on->codec_map.type, TR_NULL);
    const tr_value *iv = field(&on->config, "interval");
    assert_int_equal(iv->type, TR_I64);
    assert_int_equal(iv->as.i, 1000);
    expect_loc(&on->loc, "config.yaml", 2, 5);

    assert_int_equal(c.nofframps, 1);
    assert_string_equal(c.offramps[0].id, "ws");
    assert_string_equal(c.offramps[0].type, "ws");
    expect_str(field(&c.offramps[0].config, "url"), "ws://localhost:8080/");
    expect_loc(&c.offramps[0].loc, "config.yaml", 7, 5);

    assert_int_equal(c.nbindings, 1);
    const struct tr_cfg_binding *b = &c.bindings[0];
    assert_string_equal(b->id, "default");
    expect_loc(&b->loc, "config.yaml", 12, 5);
    assert_int_equal(b->nlinks, 2);
    assert_string_equal(b->links[0].from, "/onramp/metronome/{instance}/out");
    expect_loc(&b->links[0].loc, "config.yaml", 14, 7);
    assert_int_equal(b->links[0].nto, 1);
    assert_string_equal(b->links[0].to[0], "/pipeline/persistent/{instance}/in");
    expect_loc(&b->links[0].to_loc[0], "config.yaml", 14, 44);
    assert_string_equal(b->links[1].from, "/pipeline/persistent/{instance}/out");
    assert_string_equal(b->links[1].to[0], "/offramp/ws/{instance}/in");

    assert_int_equal(c.nmappings, 1);
    const struct tr_cfg_mapping *m = &c.mappings[0];
    assert_string_equal(m->binding_url, "/binding/default/01");
    assert_string_equal(m->binding_id, "default");
    assert_string_equal(m->instance, "01");
    expect_str(field(&m->vars, "instance"), "01");
    expect_loc(&m->loc, "config.yaml", 17, 3);

    /* what deploying does with it: every link URL gets the mapping's values */
    char *url = NULL;
    assert_int_equal(tr_url_substitute(b->links[0].from, &m->vars, &url, &d), 0);
    assert_string_equal(url, "/onramp/metronome/01/out");
    tr_free(url);
    assert_int_equal(tr_url_substitute(b->links[1].to[0], &m->vars, &url, &d), 0);
    assert_string_equal(url, "/offramp/ws/01/in");
    tr_free(url);

    assert_ptr_equal(tr_config_onramp(&c, "metronome"), on);
    assert_null(tr_config_onramp(&c, "ws"));
    assert_ptr_equal(tr_config_offramp(&c, "ws"), &c.offramps[0]);
    assert_ptr_equal(tr_config_binding(&c, "default"), b);
    assert_int_equal(c.nfiles, 1);
    assert_string_equal(c.files[0], "config.yaml");
    tr_config_fini(&c);
    assert_int_equal(c.nonramps, 0);
    assert_int_equal(tr_alloc_used(), before);
}

/* The docs page shows the entries without their section keys and with the
 * connector settings beside id/type; Tremor cannot load that either. */
static void test_tutorial_page_forms_rejected(void **state) {
    (void)state;
    /* as the page renders it (indentation lost) */
    expect_error("- id: metronome\ntype: metronome\ninterval: 1000 # Every second\n", TR_EPARSE,
                 2, 1, "YAML syntax error: did not find expected '-' indicator");
    /* as the page means it */
    expect_error("- id: metronome\n  type: metronome\n  interval: 1000 # Every second\n",
                 TR_EINVAL_CFG, 1, 1,
                 "expected a mapping with keys onramp, offramp, binding, mapping at top level, "
                 "found a sequence; a list of onramps, offramps or bindings must be nested under "
                 "'onramp:', 'offramp:' or 'binding:', with connector settings under 'config:'");
    /* nested under onramp: but without config: */
    expect_error("onramp:\n  - id: metronome\n    type: metronome\n    interval: 1000\n",
                 TR_EINVAL_CFG, 4, 5,
                 "unknown key 'interval' in onramp 'metronome'; expected one of: id, type, "
                 "description, linked, err_required, codec, codec_map, preprocessors, "
                 "postprocessors, metrics_interval_s, config (connector settings such as "
                 "'interval' belong under 'config:')");
    expect_error("offramp:\n  - id: ws\n    type: ws\n    url: ws://localhost:8080/\n",
                 TR_EINVAL_CFG, 4, 5, "unknown key 'url' in offramp 'ws'");
    /* the binding snippet: links written straight into the entry */
    expect_error("binding:\n  - id: default\n"
                 "    \"/onramp/metronome/{instance}/out\": [\"/pipeline/main/{instance}/in\"]\n",
                 TR_EINVAL_CFG, 3, 5,
                 "unknown key '/onramp/metronome/{instance}/out' in binding 'default'; expected "
                 "one of: id, description, links (links belong under 'links:')");
    /* the mapping snippet alone */
    expect_error("instance: \"01\"\n", TR_EINVAL_CFG, 1, 1,
                 "unknown top-level key 'instance'; expected one of: onramp, offramp, binding, "
                 "mapping (placeholder values belong under 'mapping:'");
}

/* ---- top level ---- */

static void test_top_level(void **state) {
    (void)state;
    expect_error("pipeline:\n  - id: main\n    query: select event from in into out\n",
                 TR_EINVAL_CFG, 1, 1,
                 "pipeline definitions in YAML are not supported in Tremor 0.11; put the query "
                 "in a .trickle file");
    expect_error("onramp: []\nonramps: []\n", TR_EINVAL_CFG, 2, 1,
                 "unknown top-level key 'onramps'; expected one of: onramp, offramp, binding, "
                 "mapping (the keys are singular)");
    expect_error("hello\n", TR_EINVAL_CFG, 1, 1,
                 "expected a mapping with keys onramp, offramp, binding, mapping at top level, "
                 "found a string 'hello'");
    expect_error("onramp:\n  id: a\n  type: b\n", TR_EINVAL_CFG, 2, 3,
                 "onramp must be a list of onramp entries (each starting with '- id: ...'), "
                 "found a mapping");
    expect_error("offramp: [ws]\n", TR_EINVAL_CFG, 1, 11,
                 "each offramp entry must be a mapping with at least 'id' and 'type', found a "
                 "string 'ws'");
    expect_error("binding: {id: x}\n", TR_EINVAL_CFG, 1, 10, "binding must be a list");
    expect_error("mapping: [a]\n", TR_EINVAL_CFG, 1, 10, "mapping must be a mapping of binding");
}

static void test_empty_inputs(void **state) {
    (void)state;
    const char *empties[] = {"", "# only a comment\n\n   # and another\n", "---\n", "~\n",
                             "onramp:\nofframp:\nbinding:\nmapping:\n",
                             "onramp: []\nofframp: []\nbinding: []\nmapping: {}\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        struct tr_config c;
        struct tr_diag d;
        tr_config_init(&c);
        assert_int_equal(load(&c, "e.yaml", empties[i], &d), 0);
        assert_int_equal(c.nonramps + c.nofframps + c.nbindings + c.nmappings, 0);
        tr_config_fini(&c);
    }
}

/* ---- entries ---- */

static void test_entry_keys(void **state) {
    (void)state;
    expect_error("offramp:\n  - id: a\n    type: x\n    err_required: true\n", TR_EINVAL_CFG, 4,
                 5,
                 "unknown key 'err_required' in offramp 'a'; expected one of: id, type, "
                 "description, linked, codec, codec_map, preprocessors, postprocessors, "
                 "metrics_interval_s, config ('err_required' is only allowed for onramps)");
    expect_error("onramp:\n  - id: a\n    description: no type\n", TR_EINVAL_CFG, 2, 5,
                 "onramp 'a' is missing the required key 'type'");
    expect_error("onramp:\n  - type: metronome\n", TR_EINVAL_CFG, 2, 5,
                 "onramp entry is missing the required key 'id'");
    expect_error("binding:\n  - id: b\n", TR_EINVAL_CFG, 2, 5,
                 "binding 'b' is missing the required key 'links'");
    expect_error("onramp:\n  - id: a\n    type: x\n    type: y\n", TR_EINVAL_CFG, 4, 5,
                 "duplicate key 'type' (first at 3:5)");
}

static void test_field_types(void **state) {
    (void)state;
    expect_error("onramp:\n  - id: [a]\n    type: x\n", TR_EINVAL_CFG, 2, 9,
                 "id of onramp entry must be a string, found a sequence");
    expect_error("onramp:\n  - id: a\n    type:\n", TR_EINVAL_CFG, 3, 10,
                 "type of onramp 'a' must be a string, found nothing");
    expect_error("onramp:\n  - id: a\n    type: ''\n", TR_EINVAL_CFG, 3, 11,
                 "type of onramp 'a' must not be empty");
    expect_error("onramp:\n  - id: a/b\n    type: x\n", TR_EINVAL_CFG, 2, 9,
                 "id of onramp 'a/b' must not contain '/' (ids are path segments of URLs");
    expect_error("onramp:\n  - id: 'a b'\n    type: x\n", TR_EINVAL_CFG, 2, 9,
                 "must not contain spaces");
    expect_error("onramp:\n  - id: a\n    type: x\n    linked: yes\n", TR_EINVAL_CFG, 4, 13,
                 "linked of onramp 'a' must be true or false, found a string 'yes'");
    expect_error("onramp:\n  - id: a\n    type: x\n    metrics_interval_s: -3\n", TR_EINVAL_CFG,
                 4, 25,
                 "metrics_interval_s of onramp 'a' must be a whole number of seconds (0 or "
                 "more), found an integer '-3'");
    expect_error("onramp:\n  - id: a\n    type: x\n    metrics_interval_s: 1.5\n", TR_EINVAL_CFG,
                 4, 25, "found a float '1.5'");
    expect_error("onramp:\n  - id: a\n    type: x\n    preprocessors: lines\n", TR_EINVAL_CFG, 4,
                 20,
                 "preprocessors of onramp 'a' must be a list of names (e.g. [lines]), found a "
                 "string 'lines'");
    expect_error("onramp:\n  - id: a\n    type: x\n    postprocessors: [lines, {a: 1}]\n",
                 TR_EINVAL_CFG, 4, 29,
                 "each entry of postprocessors of onramp 'a' must be a string, found a mapping");
    expect_error("onramp:\n  - id: a\n    type: x\n    config: [1, 2]\n", TR_EINVAL_CFG, 4, 13,
                 "config of onramp 'a' must be a mapping of settings, found a sequence");
    expect_error("onramp:\n  - id: a\n    type: x\n    codec_map: json\n", TR_EINVAL_CFG, 4, 16,
                 "codec_map of onramp 'a' must be a mapping of name to codec");
    expect_error("onramp:\n  - id: a\n    type: x\n    codec_map: {application/json: [json]}\n",
                 TR_EINVAL_CFG, 4, 35, "value of 'application/json' in codec_map");
    expect_error("onramp:\n  - id: a\n    type: x\n    description: [a]\n", TR_EINVAL_CFG, 4,
                 18, "description of onramp 'a' must be a string, found a sequence");
    expect_error("onramp:\n  - id: \"a\\0b\"\n    type: x\n", TR_EINVAL_CFG, 2, 9,
                 "must not contain NUL characters");
}

static void test_all_artefact_fields(void **state) {
    (void)state;
    static const char *const yaml =
        "onramp:\n"
        "  - id: in\n"
        "    type: file\n"
        "    description: reads the input\n"
        "    linked: true\n"
        "    err_required: false\n"
        "    codec: json\n"
        "    codec_map:\n"
        "      application/yaml: yaml\n"
        "      text/plain: string\n"
        "    preprocessors: [lines, base64]\n"
        "    postprocessors:\n"
        "      - gzip\n"
        "    metrics_interval_s: 3\n"
        "    config:\n"
        "      source: in.json.xz\n"
        "offramp:\n"
        "  - id: 42\n"
        "    type: stdout\n"
        "    codec: ~\n"
        "    config:\n";
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    assert_int_equal(load(&c, "f.yaml", yaml, &d), 0);
    const struct tr_cfg_artefact *a = &c.onramps[0];
    assert_string_equal(a->description, "reads the input");
    assert_int_equal(a->linked, 1);
    assert_int_equal(a->err_required, 0);
    assert_string_equal(a->codec, "json");
    expect_str(field(&a->codec_map, "application/yaml"), "yaml");
    expect_str(field(&a->codec_map, "text/plain"), "string");
    assert_int_equal(a->npre, 2);
    assert_string_equal(a->preprocessors[0], "lines");
    assert_string_equal(a->preprocessors[1], "base64");
    assert_int_equal(a->npost, 1);
    assert_string_equal(a->postprocessors[0], "gzip");
    assert_int_equal(a->metrics_interval_s, 3);
    expect_str(field(&a->config, "source"), "in.json.xz");
    /* string fields take any scalar as written, as Tremor does */
    assert_string_equal(c.offramps[0].id, "42");
    assert_null(c.offramps[0].codec);
    assert_int_equal(c.offramps[0].config.type, TR_NULL);
    tr_config_fini(&c);
}

static void test_scalar_values(void **state) {
    (void)state;
    static const char *const yaml =
        "onramp:\n"
        "  - id: a\n"
        "    type: x\n"
        "    config:\n"
        "      i: 42\n"
        "      neg: -7\n"
        "      lead0: 010\n"
        "      hex: 0x1F\n"
        "      oct: 0o17\n"
        "      big: 18446744073709551615\n"
        "      huge: 123456789012345678901234567890\n"
        "      f: 1.5\n"
        "      e: 1e3\n"
        "      inf: -.inf\n"
        "      t: true\n"
        "      F: False\n"
        "      n: null\n"
        "      tilde: ~\n"
        "      empty:\n"
        "      qs: \"42\"\n"
        "      sq: 'true'\n"
        "      tagged: !!str 12\n"
        "      word: yes\n"
        "      ver: 1.2.3\n"
        "      block: |\n"
        "        two\n"
        "        lines\n"
        "      list: [1, two, {three: 3}]\n";
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    int rc = load(&c, "s.yaml", yaml, &d);
    if (rc) print_error("%s:%d:%d: %s\n", d.file, d.line, d.col, d.msg);
    assert_int_equal(rc, 0);
    const tr_value *cfg = &c.onramps[0].config;
    assert_int_equal(tr_rec_len(cfg), 22);
    /* insertion order is kept */
    assert_memory_equal(tr_rec_at(cfg, 0)->key->data, "i", 1);
    assert_memory_equal(tr_rec_at(cfg, 21)->key->data, "list", 4);
    assert_int_equal(field(cfg, "i")->as.i, 42);
    assert_int_equal(field(cfg, "neg")->as.i, -7);
    assert_int_equal(field(cfg, "lead0")->as.i, 10);
    assert_int_equal(field(cfg, "hex")->as.i, 31);
    assert_int_equal(field(cfg, "oct")->as.i, 15);
    assert_int_equal(field(cfg, "big")->type, TR_U64);
    assert_true(field(cfg, "big")->as.u == UINT64_MAX);
    assert_int_equal(field(cfg, "huge")->type, TR_F64);
    assert_int_equal(field(cfg, "f")->type, TR_F64);
    assert_true(field(cfg, "f")->as.f == 1.5);
    assert_true(field(cfg, "e")->as.f == 1000.0);
    assert_true(field(cfg, "inf")->as.f < -1e308);
    assert_int_equal(field(cfg, "t")->type, TR_BOOL);
    assert_int_equal(field(cfg, "t")->as.b, 1);
    assert_int_equal(field(cfg, "F")->as.b, 0);
    assert_int_equal(field(cfg, "n")->type, TR_NULL);
    assert_int_equal(field(cfg, "tilde")->type, TR_NULL);
    assert_int_equal(field(cfg, "empty")->type, TR_NULL);
    expect_str(field(cfg, "qs"), "42");
    expect_str(field(cfg, "sq"), "true");
    expect_str(field(cfg, "tagged"), "12");
    expect_str(field(cfg, "word"), "yes");   /* YAML 1.1 booleans are not booleans here */
    expect_str(field(cfg, "ver"), "1.2.3");
    expect_str(field(cfg, "block"), "two\nlines\n");
    const tr_value *list = field(cfg, "list");
    assert_int_equal(list->type, TR_ARR);
    assert_int_equal(tr_arr_len(list), 3);
    assert_int_equal(tr_arr_at(list, 0)->as.i, 1);
    expect_str(tr_arr_at(list, 1), "two");
    assert_int_equal(field(tr_arr_at(list, 2), "three")->as.i, 3);
    tr_config_fini(&c);
}

/* ---- bindings ---- */

static void test_links(void **state) {
    (void)state;
    static const char *const yaml =
        "binding:\n"
        "  - id: b\n"
        "    description: every direction Tremor allows\n"
        "    links:\n"
        "      /onramp/in/{i}/out: /pipeline/p/{i}/in\n"
        "      /pipeline/p/{i}/out:\n"
        "        - /offramp/o/{i}/in\n"
        "        - /pipeline/q/{i}/in\n"
        "        - /onramp/in/{i}/in\n"
        "      /offramp/o/{i}/out: [\"/pipeline/r/{i}/in\"]\n"
        "      tremor://localhost/pipeline/q/{i}/out: []\n";
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    int rc = load(&c, "l.yaml", yaml, &d);
    if (rc) print_error("%s:%d:%d: %s\n", d.file, d.line, d.col, d.msg);
    assert_int_equal(rc, 0);
    const struct tr_cfg_binding *b = &c.bindings[0];
    assert_string_equal(b->description, "every direction Tremor allows");
    assert_int_equal(b->nlinks, 4);
    /* a single target string is a list of one */
    assert_int_equal(b->links[0].nto, 1);
    assert_string_equal(b->links[0].to[0], "/pipeline/p/{i}/in");
    expect_loc(&b->links[0].to_loc[0], "l.yaml", 5, 27);
    assert_int_equal(b->links[1].nto, 3);
    assert_string_equal(b->links[1].to[2], "/onramp/in/{i}/in");
    expect_loc(&b->links[1].to_loc[2], "l.yaml", 9, 11);
    assert_int_equal(b->links[3].nto, 0);
    tr_config_fini(&c);

    expect_error("binding:\n  - id: b\n    links:\n      /onramp/a/1/out: [/offramp/b/1/in]\n",
                 TR_EINVAL_CFG, 4, 25,
                 "a link from an onramp can only go to a pipeline, found offramp URL "
                 "'/offramp/b/1/in'");
    expect_error("binding:\n  - id: b\n    links:\n      /offramp/a/1/out: [/onramp/b/1/in]\n",
                 TR_EINVAL_CFG, 4, 26, "a link from an offramp can only go to a pipeline");
    expect_error("binding:\n  - id: b\n    links:\n      /binding/a/1: [/pipeline/b/1/in]\n",
                 TR_EINVAL_CFG, 4, 7, "link source '/binding/a/1' is a binding URL");
    expect_error("binding:\n  - id: b\n    links:\n      /onramp/a/1/out: [/offramps/b/1/in]\n",
                 TR_EINVAL_CFG, 4, 25,
                 "link target: invalid URL '/offramps/b/1/in': unknown artefact kind "
                 "'offramps' (expected onramp, offramp, pipeline or binding) (at character 2)");
    expect_error("binding:\n  - id: b\n    links:\n      onramp/a: [/pipeline/b/1/in]\n",
                 TR_EINVAL_CFG, 4, 7, "link source: invalid URL 'onramp/a'");
    expect_error("binding:\n  - id: b\n    links:\n      /onramp/a/1/out:\n", TR_EINVAL_CFG, 4,
                 23, "targets of link '/onramp/a/1/out' must be a list of URLs, found nothing");
    expect_error("binding:\n  - id: b\n    links: [/onramp/a/1/out]\n", TR_EINVAL_CFG, 3, 12,
                 "links of binding 'b' must be a mapping of source URL to a list of target URLs, "
                 "found a sequence");
    expect_error("binding:\n  - id: b\n    links:\n      /onramp/a/1/out: [[/pipeline/b/1/in]]\n",
                 TR_EINVAL_CFG, 4, 25, "link target must be a URL string, found a sequence");
}

/* ---- mappings ---- */

static void test_mappings(void **state) {
    (void)state;
    static const char *const yaml =
        "binding:\n"
        "  - id: b\n"
        "    links: {}\n"
        "mapping:\n"
        "  /binding/b/01:\n"
        "    instance: 01\n"
        "    n: 1.50\n"
        "    flag: true\n"
        "    none: ~\n"
        "  /binding/b/02:\n";
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    int rc = load(&c, "m.yaml", yaml, &d);
    if (rc) print_error("%s:%d:%d: %s\n", d.file, d.line, d.col, d.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(c.nmappings, 2);
    /* placeholder values are text, exactly as written */
    expect_str(field(&c.mappings[0].vars, "instance"), "01");
    expect_str(field(&c.mappings[0].vars, "n"), "1.50");
    expect_str(field(&c.mappings[0].vars, "flag"), "true");
    expect_str(field(&c.mappings[0].vars, "none"), "~");
    assert_string_equal(c.mappings[1].instance, "02");
    assert_int_equal(c.mappings[1].vars.type, TR_REC);
    assert_int_equal(tr_rec_len(&c.mappings[1].vars), 0);
    tr_config_fini(&c);

    expect_error("mapping:\n  /binding/nope/01:\n    instance: \"01\"\n", TR_EINVAL_CFG, 2, 3,
                 "mapping '/binding/nope/01' refers to binding 'nope', which is not defined in "
                 "this or an earlier file (defined bindings: none)");
    expect_error("binding:\n  - id: a\n    links: {}\n  - id: c\n    links: {}\n"
                 "mapping:\n  /binding/b/01: {}\n",
                 TR_EINVAL_CFG, 7, 3, "(defined bindings: a, c)");
    expect_error("mapping:\n  /pipeline/main/01:\n    instance: \"01\"\n", TR_EINVAL_CFG, 2, 3,
                 "mapping key must be a binding instance URL '/binding/<id>/<instance>', found "
                 "'/pipeline/main/01'");
    expect_error("mapping:\n  /binding/b:\n    instance: \"01\"\n", TR_EINVAL_CFG, 2, 3,
                 "mapping key must be a binding instance URL");
    expect_error("binding:\n  - id: b\n    links: {}\nmapping:\n  /binding/b/01:\n"
                 "    instance: [1]\n",
                 TR_EINVAL_CFG, 6, 15,
                 "value of 'instance' in mapping '/binding/b/01' must be a scalar, found a "
                 "sequence");
    expect_error("binding:\n  - id: b\n    links: {}\nmapping:\n  /binding/b/01: \"01\"\n",
                 TR_EINVAL_CFG, 5, 18, "values of mapping '/binding/b/01' must be a mapping");
}

/* ---- several files ---- */

static void test_append_files(void **state) {
    (void)state;
    static const char *const ramps =
        "onramp:\n  - id: metronome\n    type: metronome\n    config: {interval: 1000}\n"
        "offramp:\n  - id: ws\n    type: ws\n";
    static const char *const flow =
        "binding:\n  - id: default\n    links:\n"
        "      /onramp/metronome/{instance}/out: \"/pipeline/persistent/{instance}/in\"\n"
        "      /pipeline/persistent/{instance}/out:\n"
        "        - /offramp/ws/{instance}/in\n";
    static const char *const deploy = "mapping:\n  /binding/default/01:\n    instance: \"01\"\n";
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    size_t before = tr_alloc_used();
    assert_int_equal(load(&c, "ramps.yaml", ramps, &d), 0);
    assert_int_equal(load(&c, "flow.yaml", flow, &d), 0);
    assert_int_equal(load(&c, "deploy.yaml", deploy, &d), 0);
    assert_int_equal(c.nonramps, 1);
    assert_int_equal(c.nofframps, 1);
    assert_int_equal(c.nbindings, 1);
    assert_int_equal(c.nmappings, 1);
    assert_int_equal(c.nfiles, 3);
    expect_loc(&c.onramps[0].loc, "ramps.yaml", 2, 5);
    expect_loc(&c.offramps[0].loc, "ramps.yaml", 6, 5);
    expect_loc(&c.bindings[0].loc, "flow.yaml", 2, 5);
    expect_loc(&c.mappings[0].loc, "deploy.yaml", 2, 3);
    tr_config_fini(&c);
    assert_int_equal(tr_alloc_used(), before);

    /* a mapping only sees bindings of earlier files (or its own) */
    tr_config_init(&c);
    assert_int_equal(load(&c, "deploy.yaml", deploy, &d), TR_EINVAL_CFG);
    assert_string_equal(d.file, "deploy.yaml");
    assert_int_equal(c.nfiles, 0);
    tr_config_fini(&c);
}

static void test_duplicate_ids(void **state) {
    (void)state;
    expect_error("onramp:\n  - id: a\n    type: x\n  - id: b\n    type: x\n  - id: a\n"
                 "    type: y\n",
                 TR_EINVAL_CFG, 6, 5, "duplicate onramp id 'a' (first defined at t.yaml:2:5)");
    expect_error("binding:\n  - id: b\n    links: {}\n  - id: b\n    links: {}\n", TR_EINVAL_CFG,
                 4, 5, "duplicate binding id 'b' (first defined at t.yaml:2:5)");

    /* across files, naming both */
    struct tr_config c;
    struct tr_diag d;
    char msg[1400];
    tr_config_init(&c);
    assert_int_equal(load(&c, "one.yaml", "offramp:\n  - id: out\n    type: stdout\n", &d), 0);
    /* the same id in another kind is fine */
    assert_int_equal(load(&c, "two.yaml", "onramp:\n  - id: out\n    type: file\n", &d), 0);
    assert_int_equal(
        load(&c, "three.yaml",
             "offramp:\n  - id: other\n    type: x\n  - id: out\n    type: file\n", &d),
        TR_EINVAL_CFG);
    tr_diag_format(&d, msg, sizeof msg);
    assert_string_equal(msg, "three.yaml:4:5: duplicate offramp id 'out' (first defined at "
                             "one.yaml:2:5)");
    /* the failed file added nothing */
    assert_int_equal(c.nofframps, 1);
    assert_int_equal(c.nfiles, 2);

    /* the same binding instance may be mapped again (Tremor re-links it) */
    assert_int_equal(load(&c, "b.yaml", "binding:\n  - id: b\n    links: {}\nmapping:\n"
                                        "  /binding/b/01: {instance: \"01\"}\n", &d),
                     0);
    assert_int_equal(load(&c, "b2.yaml", "mapping:\n  tremor://localhost/binding/b/01: {}\n", &d),
                     0);
    assert_int_equal(c.nmappings, 2);
    assert_string_equal(c.mappings[1].binding_id, "b");
    tr_config_fini(&c);
}

/* A file that fails late, after entries were built, leaves nothing behind. */
static void test_failed_load_changes_nothing(void **state) {
    (void)state;
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    assert_int_equal(load(&c, "config.yaml", TUTORIAL, &d), 0);
    size_t used = tr_alloc_used();
    static const char *const bad =
        "onramp:\n  - id: x\n    type: x\nofframp:\n  - id: y\n    type: y\n"
        "binding:\n  - id: z\n    links: {}\nmapping:\n  /binding/missing/1: {}\n";
    assert_int_equal(load(&c, "bad.yaml", bad, &d), TR_EINVAL_CFG);
    assert_int_equal(d.line, 11);
    assert_int_equal(c.nonramps, 1);
    assert_int_equal(c.nofframps, 1);
    assert_int_equal(c.nbindings, 1);
    assert_int_equal(c.nmappings, 1);
    assert_int_equal(c.nfiles, 1);
    assert_int_equal(tr_alloc_used(), used);
    tr_config_fini(&c);
}

/* ---- YAML level ---- */

static void test_yaml_errors(void **state) {
    (void)state;
    expect_error("onramp: [a, b\n", TR_EPARSE, 2, 1,
                 "YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
                 "sequence that starts at 1:9)");
    expect_error("binding:\n  - id: b\n    links:\n"
                 "      \"/onramp/a/{i}/out\": [/pipeline/p/{i}/in]\n",
                 TR_EPARSE, 4, 41,
                 "(while parsing a flow sequence that starts at 4:28); URLs with {placeholders} "
                 "inside [...] must be quoted, e.g. [\"/pipeline/main/{instance}/in\"]");
    expect_error("onramp:\n\t- id: a\n", TR_EPARSE, 2, 1,
                 "YAML syntax error: found character that cannot start any token");
    expect_error("onramp:\n  - id: \"abc\n", TR_EPARSE, 3, 1,
                 "YAML syntax error: found unexpected end of stream");
    expect_error("onramp:\n  - id: \xff\n", TR_EPARSE, 2, 9,
                 "YAML syntax error: invalid leading UTF-8 octet (byte 0xFF)");
    expect_error("onramp: []\n---\nofframp: []\n", TR_EINVAL_CFG, 2, 1,
                 "a second YAML document starts here");
    expect_error("onramp:\n  - id: a\n    type: x\n    config: !include other.yaml\n",
                 TR_EINVAL_CFG, 4, 13, "unsupported YAML tag '!include'");
    expect_error("onramp:\n  - id: a\n    type: x\n    config:\n      [1, 2]: pair\n",
                 TR_EINVAL_CFG, 5, 7, "mapping keys must be scalars, found a sequence");
    /* a leading document marker is fine (Tremor's ut.passthrough.yaml has one) */
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    assert_int_equal(load(&c, "t.yaml", "---\nonramp:\n  - id: a\n    type: b\n", &d), 0);
    assert_int_equal(c.nonramps, 1);
    tr_config_fini(&c);
}

static void test_aliases(void **state) {
    (void)state;
    static const char *const yaml =
        "onramp:\n"
        "  - id: a\n"
        "    type: file\n"
        "    config: &common\n"
        "      source: in.json\n"
        "      sleep_on_done: 1000\n"
        "  - id: b\n"
        "    type: file\n"
        "    config: *common\n"
        "    preprocessors: &pre [lines]\n"
        "  - id: c\n"
        "    type: &t file\n"
        "    config: {nested: *common}\n"
        "    preprocessors: *pre\n";
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    int rc = load(&c, "a.yaml", yaml, &d);
    if (rc) print_error("%s:%d:%d: %s\n", d.file, d.line, d.col, d.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(c.nonramps, 3);
    assert_true(tr_value_eq(&c.onramps[0].config, &c.onramps[1].config));
    assert_true(tr_value_eq(field(&c.onramps[2].config, "nested"), &c.onramps[0].config));
    assert_int_equal(field(&c.onramps[1].config, "sleep_on_done")->as.i, 1000);
    assert_string_equal(c.onramps[2].preprocessors[0], "lines");
    assert_string_equal(c.onramps[2].type, "file");
    tr_config_fini(&c);

    expect_error("x: &a [1, *a]\n", TR_EINVAL_CFG, 1, 11,
                 "recursive YAML alias '*a' (it refers to the collection it is inside, anchored "
                 "at 1:4)");
    expect_error("onramp: *nope\n", TR_EINVAL_CFG, 1, 9,
                 "unknown YAML alias '*nope' (no anchor '&nope' before it)");
    expect_error("onramp:\n  - id: a\n    type: x\n    config:\n      <<: {a: 1}\n", TR_EINVAL_CFG,
                 5, 7, "YAML merge keys ('<<') are not supported");
    /* an aliased entry is reported at the alias */
    expect_error("onramp:\n  - &e\n    id: a\n    type: x\n  - *e\n", TR_EINVAL_CFG, 5, 5,
                 "duplicate onramp id 'a' (first defined at t.yaml:2:5)");
}

/* Nine levels of ten aliases each would be a billion values if expanded;
 * anchored values are built once and shared. */
static void test_alias_bomb(void **state) {
    (void)state;
    char yaml[4096];
    size_t n = (size_t)snprintf(yaml, sizeof yaml,
                                "onramp:\n  - id: a\n    type: x\n    config:\n"
                                "      l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i <= 9; i++)
        n += (size_t)snprintf(yaml + n, sizeof yaml - n,
                              "      l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, "
                              "*l%d, *l%d]\n",
                              i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
                              i - 1);
    assert_true(n < sizeof yaml);
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    size_t before = tr_alloc_used();
    assert_int_equal(load(&c, "bomb.yaml", yaml, &d), 0);
    const tr_value *top = field(&c.onramps[0].config, "l9");
    assert_int_equal(tr_arr_len(top), 10);
    assert_int_equal(tr_arr_len(tr_arr_at(tr_arr_at(top, 9), 9)), 10);
    /* shared, not copied: far below the 10^9 * sizeof(tr_value) of a full expansion */
    assert_true(tr_alloc_used() - before < 1024 * 1024);
    tr_config_fini(&c);
    assert_int_equal(tr_alloc_used(), before);
}

/* Aliases can also make the checker walk one big subtree again and again;
 * that work is bounded too: 100 bindings sharing 1000 links would be
 * 200,000 URL checks from a 40 kB file. */
static void test_alias_work_bounded(void **state) {
    (void)state;
    size_t cap = 1u << 16, n = 0;
    char *p = malloc(cap);
    assert_non_null(p);
    n += (size_t)snprintf(p, cap, "binding:\n  - id: b0\n    links: &l\n");
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(p + n, cap - n, "      /onramp/o%d/1/out: /pipeline/p/1/in\n", i);
    for (int i = 1; i < 100; i++)
        n += (size_t)snprintf(p + n, cap - n, "  - {id: b%d, links: *l}\n", i);
    assert_true(n < cap);
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    int rc = tr_config_load_string(&c, "work.yaml", p, n, &d);
    assert_int_equal(rc, TR_ETOOBIG);
    assert_non_null(strstr(d.msg, "configuration too large once YAML aliases are expanded"));
    assert_int_equal(c.nbindings, 0);
    /* ten such bindings are fine */
    size_t ten = (size_t)(strstr(p, "  - {id: b10,") - p);
    assert_int_equal(tr_config_load_string(&c, "work.yaml", p, ten, &d), 0);
    assert_int_equal(c.nbindings, 10);
    assert_int_equal(c.bindings[9].nlinks, 1000);
    tr_config_fini(&c);
    free(p);
}

/* ---- absurd inputs ---- */

static char *temp_file(const char *content, size_t len) {
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    assert_non_null(path);
    snprintf(path, 4096, "%s/tr_cfg_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, content + off, len - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    close(fd);
    return path;
}

/* An onramp whose config holds `levels` nested lists. */
static void nested_config(char *buf, size_t cap, int levels) {
    size_t n = (size_t)snprintf(buf, cap, "onramp:\n  - id: a\n    type: x\n    config: {k: ");
    assert_true(n + 2 * (size_t)levels + 3 <= cap);
    for (int i = 0; i < levels; i++) buf[n++] = '[';
    for (int i = 0; i < levels; i++) buf[n++] = ']';
    buf[n++] = '}';
    buf[n++] = '\n';
    buf[n] = 0;
}

static void test_depth_limits(void **state) {
    (void)state;
    /* a 10 MB file of nested flow lists */
    size_t len = 10u * 1024 * 1024;
    char *text = malloc(len);
    assert_non_null(text);
    memset(text, '[', len);
    char *path = temp_file(text, len);
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    size_t before = tr_alloc_used();
    assert_int_equal(tr_config_load_file(&c, path, &d), TR_EDEPTH);
    assert_string_equal(d.file, path);
    assert_int_equal(d.line, 1);
    assert_int_equal(d.col, 257);
    assert_string_equal(d.msg, "YAML nesting deeper than 256 levels");
    assert_int_equal(tr_alloc_used(), before);
    unlink(path);
    free(path);

    /* the same with block sequences: "- - - - ..." */
    for (size_t i = 0; i + 1 < len; i += 2) {
        text[i] = '-';
        text[i + 1] = ' ';
    }
    assert_int_equal(tr_config_load_string(&c, "block.yaml", text, len, &d), TR_EDEPTH);
    assert_int_equal(d.line, 1);
    assert_int_equal(d.col, 2 * 256 + 1);
    free(text);

    /* exactly 256 levels is fine: root, onramp list, entry and config are 4 */
    char deep[1024];
    nested_config(deep, sizeof deep, 252);
    assert_int_equal(load(&c, "deep.yaml", deep, &d), 0);
    tr_config_fini(&c);
    /* one more level is not */
    nested_config(deep, sizeof deep, 253);
    tr_config_init(&c);
    assert_int_equal(load(&c, "deep.yaml", deep, &d), TR_EDEPTH);
    assert_int_equal(d.col, 16 + 253);
    tr_config_fini(&c);
}

static void test_size_limits(void **state) {
    (void)state;
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    /* too many nodes: a flat list of more numbers than the limit */
    size_t count = TR_YAML_MAX_NODES, len = 9 + 2 * count + 2;
    char *text = malloc(len);
    assert_non_null(text);
    memcpy(text, "onramp: [", 9);
    for (size_t i = 0; i < count; i++) {
        text[9 + 2 * i] = '1';
        text[9 + 2 * i + 1] = ',';
    }
    text[len - 3] = '1';
    text[len - 2] = ']';
    text[len - 1] = '\n';
    assert_int_equal(tr_config_load_string(&c, "many.yaml", text, len, &d), TR_ETOOBIG);
    char want[64];
    snprintf(want, sizeof want, "more than %d YAML nodes", TR_YAML_MAX_NODES);
    assert_non_null(strstr(d.msg, want));
    free(text);

    /* more bytes than any config file may have */
    size_t big = TR_CFG_MAX_FILE_BYTES + 1;
    text = malloc(big);
    assert_non_null(text);
    memset(text, ' ', big);
    assert_int_equal(tr_config_load_string(&c, "big.yaml", text, big, &d), TR_ETOOBIG);
    assert_non_null(strstr(d.msg, "the limit is"));
    free(text);

    /* files that cannot be read */
    assert_int_equal(tr_config_load_file(&c, "/nonexistent/dir/x.yaml", &d), -ENOENT);
    assert_string_equal(d.file, "/nonexistent/dir/x.yaml");
    assert_non_null(strstr(d.msg, "cannot open config file"));
    assert_int_equal(tr_config_load_file(&c, "/", &d), -EISDIR);
    assert_int_equal(c.nfiles, 0);
    tr_config_fini(&c);
}

/* Fail every allocation in turn: each load either succeeds or reports
 * -ENOMEM with the config as it was, and nothing leaks. */
static void test_alloc_failures(void **state) {
    (void)state;
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    assert_int_equal(load(&c, "ramps.yaml", "onramp:\n  - id: other\n    type: x\n", &d), 0);
    size_t used = tr_alloc_used();
    int ok = 0;
    for (uint64_t n = 1; n < 400; n++) {
        tr_alloc_fail_at(n, 0);
        int rc = load(&c, "config.yaml", TUTORIAL, &d);
        tr_alloc_fail_at(0, 0);
        if (rc == 0) {
            ok++;
            assert_int_equal(c.nonramps, 2);
            assert_int_equal(c.nmappings, 1);
            /* drop it again to try the next failure point against the same start */
            tr_config_fini(&c);
            tr_config_init(&c);
            assert_int_equal(load(&c, "ramps.yaml", "onramp:\n  - id: other\n    type: x\n", &d),
                             0);
            assert_int_equal(tr_alloc_used(), used);
            continue;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(c.nonramps, 1);
        assert_int_equal(c.nmappings, 0);
        assert_int_equal(c.nfiles, 1);
        assert_int_equal(tr_alloc_used(), used);
    }
    assert_true(ok > 0);
    tr_config_fini(&c);
}

/* Each key of an artefact's config: keeps where it was written, in the
 * record's order, so a connector can point at the key; block and flow
 * style alike, and none for an absent or empty config. */
static void test_config_key_positions(void **state) {
    (void)state;
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    assert_int_equal(load(&c, "config.yaml", TUTORIAL, &d), 0);
    const struct tr_cfg_artefact *a = tr_config_onramp(&c, "metronome");
    assert_non_null(a);
    assert_int_equal(a->nconfig_keys, 1);
    assert_int_equal(a->config_keys[0].line, 5);
    assert_int_equal(a->config_keys[0].col, 7);
    a = tr_config_offramp(&c, "ws");
    assert_int_equal(a->nconfig_keys, 1);
    assert_int_equal(a->config_keys[0].line, 10);
    assert_int_equal(a->config_keys[0].col, 7);
    assert_int_equal(load(&c, "more.yaml",
                          "onramp:\n"
                          "  - id: in\n"
                          "    type: tcp\n"
                          "    config: {port: 1,\n"
                          "             host: x,   max_connections: 2}\n"
                          "  - id: bare\n"
                          "    type: tcp\n"
                          "  - id: empty\n"
                          "    type: tcp\n"
                          "    config: {}\n",
                          &d),
                     0);
    a = tr_config_onramp(&c, "in");
    assert_int_equal(tr_rec_len(&a->config), 3);
    assert_int_equal(a->nconfig_keys, 3);
    const char *keys[] = {"port", "host", "max_connections"};
    const int at[][2] = {{4, 14}, {5, 14}, {5, 25}};
    for (uint32_t i = 0; i < 3; i++) {
        assert_string_equal(tr_rec_at(&a->config, i)->key->data, keys[i]);
        if (a->config_keys[i].line != at[i][0] || a->config_keys[i].col != at[i][1])
            fail_msg("%s: expected %d:%d, got %d:%d", keys[i], at[i][0], at[i][1],
                     a->config_keys[i].line, a->config_keys[i].col);
    }
    a = tr_config_onramp(&c, "bare");
    assert_null(a->config_keys);
    assert_int_equal(a->nconfig_keys, 0);
    a = tr_config_onramp(&c, "empty");
    assert_null(a->config_keys);
    assert_int_equal(a->nconfig_keys, 0);
    tr_config_fini(&c);
}

/* ---- Tremor's own configs ---- */

static int is_config_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int yes = 0;
    while (!yes && fgets(line, sizeof line, f))
        yes = !strncmp(line, "onramp:", 7) || !strncmp(line, "offramp:", 8) ||
              !strncmp(line, "binding:", 8) || !strncmp(line, "mapping:", 8);
    fclose(f);
    return yes;
}

static int mapping_only(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int other = 0;
    while (fgets(line, sizeof line, f))
        other |= !strncmp(line, "onramp:", 7) || !strncmp(line, "offramp:", 8) ||
                 !strncmp(line, "binding:", 8);
    fclose(f);
    return !other;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load every config file of one case folder into one config: files in name
 * order, except that files holding only a mapping go last, since a mapping
 * needs its binding loaded first (as with Tremor's -f). Returns files loaded. */
static int load_case(const char *dir) {
    DIR *dp = opendir(dir);
    if (!dp) return 0;
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) && n < 64) {
        size_t l = strlen(e->d_name);
        if (l < 6 || (strcmp(e->d_name + l - 5, ".yaml") && strcmp(e->d_name + l - 4, ".yml")))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!is_config_file(path)) continue;
        names[n] = malloc(strlen(path) + 1);
        strcpy(names[n++], path);
    }
    closedir(dp);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if (mapping_only(names[i]) != pass) continue;
            int rc = tr_config_load_file(&c, names[i], &d);
            if (rc) {
                char msg[1400];
                tr_diag_format(&d, msg, sizeof msg);
                print_error("%s\n", msg);
            }
            assert_int_equal(rc, 0);
        }
    assert_int_equal(c.nfiles, (size_t)n);
    tr_config_fini(&c);
    for (int i = 0; i < n; i++) free(names[i]);
    return n;
}

static void test_conformance_configs(void **state) {
    (void)state;
    struct stat st;
    if (stat(CONFORMANCE, &st) != 0) {
        print_message("no %s here: skipped\n", CONFORMANCE);
        skip();
    }
    const char *suites[] = {"cli-integration", "cli-bench", "configs"};
    int files = 0;
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
        char sdir[512];
        snprintf(sdir, sizeof sdir, "%s/%s", CONFORMANCE, suites[s]);
        DIR *dp = opendir(sdir);
        assert_non_null(dp);
        struct dirent *e;
        while ((e = readdir(dp))) {
            if (e->d_name[0] == '.') continue;
            char cdir[1024];
            snprintf(cdir, sizeof cdir, "%s/%s", sdir, e->d_name);
            files += load_case(cdir);
            char bdir[1100];
            snprintf(bdir, sizeof bdir, "%s/before", cdir);
            files += load_case(bdir);
        }
        closedir(dp);
    }
    files += load_case(CONFORMANCE "/cli-command/api/before");
    files += load_case(CONFORMANCE "/cli-command/api-cli/before");
    print_message("loaded %d config files\n", files);
    assert_true(files >= 50);

    /* what Tremor's own unit tests check of these two */
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    assert_int_equal(
        tr_config_load_file(&c, CONFORMANCE "/configs/deploy_simple/deploy.simple.yaml", &d), 0);
    assert_int_equal(c.nonramps, 1);
    assert_int_equal(c.nofframps, 1);
    assert_int_equal(c.nbindings, 0);
    tr_config_fini(&c);
    tr_config_init(&c);
    assert_int_equal(
        tr_config_load_file(&c, CONFORMANCE "/configs/ut_passthrough/ut.passthrough.yaml", &d), 0);
    assert_int_equal(c.nonramps, 1);
    assert_int_equal(c.nofframps, 1);
    assert_int_equal(c.bindings[0].nlinks, 2);
    assert_string_equal(c.bindings[0].links[0].from, "/onramp/blaster/{instance}/");
    tr_config_fini(&c);
}

/* tremor check: every error of a file, each located, loading going on. */
struct seen_errs {
    size_t n;
    int line[16];
    char msg[16][256];
};

static int seen(void *arg, const struct tr_diag *d, const char *detail) {
    struct seen_errs *s = arg;
    assert_null(detail);
    assert_string_equal(d->file, "c.yaml");
    if (s->n < 16) {
        s->line[s->n] = d->line;
        snprintf(s->msg[s->n], sizeof s->msg[0], "%.200s", d->msg);
    }
    s->n++;
    return 0;
}

static void test_check_keeps_going(void **state) {
    (void)state;
    static const char yaml[] =
        "onramp:\n"
        "  - id: a\n"                    /* 2 */
        "    type: metronome\n"
        "    colour: red\n"              /* 4: unknown key */
        "  - id: b\n"                    /* 5: no type: reported, dropped */
        "  - id: a\n"                    /* 6: duplicate id */
        "    type: metronome\n"
        "    linked: maybe\n"            /* 8: not a bool */
        "    type: x\n"                  /* 9: duplicate key */
        "binding:\n"
        "  - id: bb\n"
        "    links:\n"
        "      '/onramp/a/{instance}/out': [ '/pipeline/p/{instance}/in', 'nope' ]\n" /* 13 */
        "      '/binding/x/y': [ '/offramp/o/{instance}/in' ]\n"                     /* 14 */
        "wat: 1\n";                      /* 15: unknown top-level key */
    struct tr_config c;
    tr_config_init(&c);
    struct seen_errs s = {0};
    int n = tr_config_check_string(&c, "c.yaml", yaml, sizeof yaml - 1, seen, &s);
    for (size_t i = 0; i < s.n && i < 16; i++) print_message("  %d %s\n", s.line[i], s.msg[i]);
    assert_int_equal(n, (int)s.n);
    assert_int_equal(n, 8);
    int want[] = {9, 4, 5, 8, 13, 14, 15, 6};   /* as found: YAML first, ids last */
    for (size_t i = 0; i < 8; i++) assert_int_equal(s.line[i], want[i]);
    assert_non_null(strstr(s.msg[0], "duplicate key 'type'"));
    assert_non_null(strstr(s.msg[7], "duplicate onramp id 'a'"));
    /* kept: both 'a' (ids and types), the binding with its good link */
    assert_int_equal(c.nonramps, 2);
    assert_int_equal(c.nbindings, 1);
    assert_int_equal(c.bindings[0].nlinks, 1);
    assert_int_equal(c.bindings[0].links[0].nto, 1);
    tr_config_fini(&c);

    /* the plain load stops at the first and changes nothing */
    struct tr_diag d;
    tr_config_init(&c);
    assert_int_equal(tr_config_load_string(&c, "c.yaml", yaml, sizeof yaml - 1, &d), TR_EINVAL_CFG);
    assert_int_equal(d.line, 9);
    assert_int_equal(c.nonramps, 0);
    tr_config_fini(&c);
}

static void test_check_syntax_error_after_entries(void **state) {
    (void)state;
    static const char yaml[] =
        "onramp:\n"
        "  - id: a\n"
        "    type: metronome\n"
        "    bogus: 1\n"                  /* 4 */
        "  - id: b\n"
        "    config: {interval: [1\n"     /* cut here: b has no type, not reported */
        "    type: metronome\n";
    struct tr_config c;
    tr_config_init(&c);
    struct seen_errs s = {0};
    int n = tr_config_check_string(&c, "c.yaml", yaml, sizeof yaml - 1, seen, &s);
    for (size_t i = 0; i < s.n && i < 16; i++) print_message("  %d %s\n", s.line[i], s.msg[i]);
    assert_int_equal(n, 2);
    assert_non_null(strstr(s.msg[0], "YAML syntax error"));
    assert_non_null(strstr(s.msg[0], "the rest of this file is not checked"));
    assert_int_equal(s.line[1], 4);
    assert_int_equal(c.nonramps, 1);
    tr_config_fini(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tutorial_config),
        cmocka_unit_test(test_tutorial_page_forms_rejected),
        cmocka_unit_test(test_top_level),
        cmocka_unit_test(test_empty_inputs),
        cmocka_unit_test(test_entry_keys),
        cmocka_unit_test(test_field_types),
        cmocka_unit_test(test_all_artefact_fields),
        cmocka_unit_test(test_scalar_values),
        cmocka_unit_test(test_links),
        cmocka_unit_test(test_mappings),
        cmocka_unit_test(test_append_files),
        cmocka_unit_test(test_duplicate_ids),
        cmocka_unit_test(test_failed_load_changes_nothing),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_config_key_positions),
        cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_alias_work_bounded),
        cmocka_unit_test(test_depth_limits),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_conformance_configs),
        cmocka_unit_test(test_check_keeps_going),
        cmocka_unit_test(test_check_syntax_error_after_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
