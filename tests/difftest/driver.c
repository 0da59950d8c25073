/* driver.c - our side of `make difftest`: the same cases as the Rust
 * reference (tests/difftest/ref), computed by libtremor.
 *
 * Reads one JSON array per line on stdin and writes one JSON result per
 * line, in the shapes ref/src/main.rs writes: strftime through the module
 * datetime::format uses, strptime through the reader of datetime::parse,
 * regex through lang/regex.h (captures) and the std::re functions
 * (replace, replace_all, split), floats through the JSON encoder and the
 * ToString form array::join uses (Rust's `{}`; interpolation prints JSON).
 * Not a test by itself: scripts/difftest.sh compares the two outputs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/buf.h"
#include "core/value.h"
#include "lang/extract_int.h"
#include "lang/regex.h"
#include "lang/std_int.h"
#include "lang/timefmt_int.h"

static const tr_value *at(const tr_value *c, size_t i) {
    return i < c->as.a->len ? &c->as.a->items[i] : NULL;
}

static const struct tr_str *field(const tr_value *c, size_t i) {
    const tr_value *v = at(c, i);
    if (!v || v->type != TR_STR) {
        fprintf(stderr, "driver: field %zu is not a string\n", i);
        exit(2);
    }
    return v->as.s;
}

static void put_str(struct tr_buf *o, const char *s, size_t n) {
    tr_value v;
    if (tr_v_str(s, n, &v) || tr_json_encode(&v, o)) exit(3);
    tr_value_unref(v);
}

static void strftime_case(const tr_value *c, struct tr_buf *o) {
    const struct tr_str *ns = field(c, 0), *fmt = field(c, 1);
    unsigned long long t = strtoull(ns->data, NULL, 10);
    struct tr_buf r;
    size_t pos;
    tr_buf_init(&r);
    int rc = tr_timefmt_format((int64_t)(t / 1000000000ull), (uint32_t)(t % 1000000000ull), fmt->data, fmt->len,
                               tr_timefmt_has_tz(fmt->data, fmt->len), &r, &pos);
    if (rc) tr_buf_printf(o, "{\"error\":true}");
    else put_str(o, r.data ? r.data : "", r.len);
    tr_buf_fini(&r);
}

static void strptime_case(const tr_value *c, struct tr_buf *o) {
    const struct tr_str *in = field(c, 0), *fmt = field(c, 1);
    int64_t ns;
    if (memchr(fmt->data, 0, fmt->len) || !tr_datetime_parse(in->data, in->len, fmt->data, &ns))
        tr_buf_printf(o, "{\"error\":true}");
    else
        tr_buf_printf(o, "\"%llu\"", (unsigned long long)(uint64_t)ns);
}

/* std::re::name(pattern, subject[, to]) as the language calls it. */
static int call_re(const char *name, const tr_value *args, size_t n, tr_value *out) {
    const struct tr_fn *f = tr_std_find("re", 2, name, strlen(name));
    struct tr_fcall fc = {.ctx = NULL};
    return f->impl(&fc, args, n, out);
}

static void regex_case(const tr_value *c, struct tr_buf *o) {
    const struct tr_str *pat = field(c, 0), *sub = field(c, 1);
    struct tr_regex *re;
    struct tr_regex_match *m;
    char msg[256];
    if (tr_regex_create(pat->data, pat->len, TR_REGEX_NO_JIT, &re, msg, sizeof msg)) {
        tr_buf_printf(o, "{\"error\":true}");
        return;
    }
    if (tr_regex_match_create(re, &m)) exit(3);
    int hit = tr_regex_exec(m, sub->data, sub->len, 0);
    if (hit < 0 || hit > 1) {
        tr_buf_printf(o, "{\"limit\":\"%s\"}", tr_regex_match_error(m));
        goto out;
    }
    tr_buf_printf(o, "{\"is_match\":%s,\"captures\":", hit ? "true" : "false");
    if (!hit) {
        tr_buf_printf(o, "null");
    } else {
        tr_buf_putc(o, '[');
        for (int g = 0; g <= tr_regex_ngroups(re); g++) {
            size_t so, eo;
            if (g) tr_buf_putc(o, ',');
            if (tr_regex_group(m, g, &so, &eo)) tr_buf_printf(o, "[%zu,%zu]", so, eo);
            else tr_buf_printf(o, "null");
        }
        tr_buf_putc(o, ']');
    }
    static const char *const fns[] = {"replace", "replace_all", "split"};
    for (size_t i = 0; i < 3; i++) {
        tr_value args[3] = {*at(c, 0), *at(c, 1), *at(c, 2)}, r;
        tr_buf_printf(o, ",\"%s\":", fns[i]);
        int rc = call_re(fns[i], args, i == 2 ? 2 : 3, &r);
        if (rc) {
            tr_buf_printf(o, "{\"error\":%d}", rc);
            continue;
        }
        if (tr_json_encode(&r, o)) exit(3);
        tr_value_unref(r);
    }
    tr_buf_putc(o, '}');
out:
    tr_regex_match_destroy(m);
    tr_regex_destroy(re);
}

static void float_case(const tr_value *c, struct tr_buf *o) {
    unsigned long long bits = strtoull(field(c, 0)->data, NULL, 16);
    double d;
    memcpy(&d, &bits, sizeof d);
    tr_value v = tr_v_float(d);
    struct tr_buf disp, js;
    tr_buf_init(&disp);
    tr_buf_init(&js);
    int rd = tr_value_to_string(&v, &disp), rj = tr_json_encode(&v, &js);
    tr_buf_printf(o, "{\"display\":");
    if (rd) tr_buf_printf(o, "{\"error\":%d}", rd);
    else put_str(o, disp.data ? disp.data : "", disp.len);
    tr_buf_printf(o, ",\"json\":");
    if (rj) tr_buf_printf(o, "{\"error\":%d}", rj);
    else put_str(o, js.data ? js.data : "", js.len);
    tr_buf_putc(o, '}');
    tr_buf_fini(&disp);
    tr_buf_fini(&js);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: driver strftime|strptime|regex|float < cases\n");
        return 2;
    }
    void (*run)(const tr_value *, struct tr_buf *) = !strcmp(argv[1], "strftime") ? strftime_case
                                                     : !strcmp(argv[1], "strptime") ? strptime_case
                                                     : !strcmp(argv[1], "regex")  ? regex_case
                                                     : !strcmp(argv[1], "float")  ? float_case
                                                                                  : NULL;
    if (!run) return 2;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    struct tr_buf o;
    tr_buf_init(&o);
    while ((n = getline(&line, &cap, stdin)) > 0) {
        tr_value c;
        if (tr_json_decode(line, (size_t)n, &c, NULL) || c.type != TR_ARR) {
            fprintf(stderr, "driver: bad case line\n");
            return 2;
        }
        tr_buf_reset(&o);
        run(&c, &o);
        tr_buf_putc(&o, '\n');
        fwrite(o.data, 1, o.len, stdout);
        tr_value_unref(c);
    }
    free(line);
    tr_buf_fini(&o);
    return 0;
}
