/* test_lang.c - lexer, parser, interpreter and query tests beyond the
 * conformance data: the tutorial's select, error rendering, and hostile
 * inputs (deep nesting, huge sources) that must fail cleanly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/event.h"
#include "lang/lang.h"
#include "lang/lex.h"
#include "lang/query.h"
#include "lang/script.h"

/* --- helpers --- */

static tr_value json(const char *s) {
    tr_value v;
    assert_int_equal(0, tr_json_decode(s, strlen(s), &v, NULL));
    return v;
}

static char *encode(const tr_value *v) {
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(0, tr_json_encode(v, &b));
    return tr_buf_steal(&b, NULL);
}

/* Run a script on one JSON event; returns the output JSON (or "DROP"). */
static char *run_script(const char *src, const char *in) {
    struct tr_script *s;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_script_compile("t.tremor", src, strlen(src), &s, &d);
    if (rc) fail_msg("compile failed: %s (%d:%d)", d.msg, d.line, d.col);
    tr_value ev = json(in), meta, state = tr_v_null();
    tr_v_rec(0, &meta);
    enum tr_script_outcome oc;
    const char *port;
    struct tr_lang_ctx ctx = {.instance = "tremor", .ingest_ns = 0};
    rc = tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, &d);
    char *out;
    if (rc) out = tr_strdup("ERROR");
    else if (oc == TR_SCRIPT_DROP) out = tr_strdup("DROP");
    else out = encode(&ev);
    tr_value_unref(ev);
    tr_value_unref(meta);
    tr_value_unref(state);
    tr_script_destroy(s);
    return out;
}

static void expect_script(const char *src, const char *in, const char *want) {
    char *got = run_script(src, in);
    if (strcmp(got, want) != 0) fail_msg("script %s\n  expected %s\n  actual   %s", src, want, got);
    tr_free(got);
}

/* Render the compile error of src. */
static char *compile_error(const char *src) {
    struct tr_script *s = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    struct tr_lang_opts o = {.file = "t.tremor"};
    int rc = tr_lang_compile_script(src, strlen(src), &o, &s, &err);
    assert_int_not_equal(0, rc);
    assert_null(s);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(0, tr_lang_err_render(&err, &b));
    tr_lang_err_clear(&err);
    return tr_buf_steal(&b, NULL);
}

/* --- lexer --- */

static void lex_tokens(void **st) {
    (void)st;
    const char *src = "let a = -42 + 3.5; # note\n\"s\\n\" => %{";
    struct tr_toks t;
    assert_int_equal(0, tr_lex_all(src, strlen(src), &t));
    int want[] = {TK_LET, TK_WS, TK_IDENT, TK_WS, TK_EQ, TK_WS, TK_INT, TK_WS, TK_ADD, TK_WS,
                  TK_FLOAT, TK_SEMI, TK_WS, TK_COMMENT, TK_NL, TK_DQUOTE, TK_STR, TK_DQUOTE,
                  TK_WS, TK_EQARROW, TK_WS, TK_LPATBRACE, TK_EOF};
    assert_int_equal(sizeof want / sizeof want[0], t.n);
    for (size_t i = 0; i < t.n; i++) assert_int_equal(want[i], t.v[i].kind);
    assert_int_equal(-42, t.v[6].ival);
    assert_string_equal("s\n", t.v[16].sval->data);
    assert_int_equal(2, t.v[15].sp.s.line);
    assert_int_equal(1, t.v[15].sp.s.col);
    tr_lex_free(&t);
}

static void lex_unterminated_string(void **st) {
    (void)st;
    const char *src = "let a = \"abc\nnext";
    struct tr_toks t;
    assert_int_equal(TR_EPARSE, tr_lex_all(src, strlen(src), &t));
    assert_true(t.err.set);
    assert_int_equal(1, t.err.inner.s.line);
    assert_int_equal(9, t.err.inner.s.col);
    assert_int_equal(TK_EOF, t.v[t.n - 1].kind);
    tr_lex_free(&t);
}

/* The tokens of src that the parser sees, as kind:start-end columns. */
static char *lex_cols(const char *src) {
    struct tr_toks t;
    int rc = tr_lex_all(src, strlen(src), &t);
    struct tr_buf b;
    tr_buf_init(&b);
    if (rc) tr_buf_printf(&b, "error %d:%d-%d:%d %s", t.err.inner.s.line, t.err.inner.s.col,
                          t.err.inner.e.line, t.err.inner.e.col, t.err.msg);
    for (size_t i = 0; !rc && i < t.n; i++) {
        const struct tr_tok *k = &t.v[i];
        if (k->kind == TK_WS || k->kind == TK_NL || k->kind == TK_EOF) continue;
        tr_buf_printf(&b, "%s%d:%u-%u", b.len ? " " : "", k->kind, k->sp.s.col, k->sp.e.col);
        if (k->kind == TK_INT) tr_buf_printf(&b, "=%lld", (long long)k->ival);
        else if (k->sval) tr_buf_printf(&b, "=%s", k->sval->data);
    }
    tr_lex_free(&t);
    return tr_buf_steal(&b, NULL);
}

static void expect_lex(const char *src, const char *want) {
    char *got = lex_cols(src);
    if (strcmp(got, want) != 0) fail_msg("lexing %s\n  expected %s\n  actual   %s", src, want, got);
    tr_free(got);
}

/* Cases of 0.11's own lexer tests (tremor-script/src/lexer.rs, mod tests),
 * then rules read from its Lexer::nm / nm_hex / cn / escape_code. */
static void lex_follows_upstream(void **st) {
    (void)st;
    char want[512];
    /* interpolate(): a string inside an interpolation inside a string */
    snprintf(want, sizeof want, "%d:3-4 %d:4-10=hello  %d:10-12 %d:13-14 %d:14-19=snot  %d:19-21 %d:21-22=7 "
             "%d:22-23 %d:23-24 %d:25-26 %d:26-27", TK_DQUOTE, TK_STR, TK_INTERP, TK_DQUOTE, TK_STR,
             TK_INTERP, TK_INT, TK_RBRACE, TK_DQUOTE, TK_RBRACE, TK_DQUOTE);
    expect_lex("  \"hello #{ \"snot #{7}\" }\" ", want);
    snprintf(want, sizeof want, "%d:3-4 %d:4-6 %d:6-7=7 %d:7-8 %d:8-14= hello %d:14-15", TK_DQUOTE, TK_INTERP,
             TK_INT, TK_RBRACE, TK_STR, TK_DQUOTE);
    expect_lex("  \"#{7} hello\" ", want);
    /* string(): "" is two quotes; escaped quotes stay in one part */
    snprintf(want, sizeof want, "%d:2-3 %d:3-7=\"\" %d:7-8 %d:8-9 %d:9-13=\"\" %d:13-14", TK_DQUOTE, TK_STR,
             TK_DQUOTE, TK_DQUOTE, TK_STR, TK_DQUOTE);
    expect_lex(" \"\\\"\\\"\"\"\\\"\\\"\" ", want);
    snprintf(want, sizeof want, "%d:3-4 %d:4-5", TK_DQUOTE, TK_DQUOTE);
    expect_lex("  \"\" ", want);
    /* number_parsing(): separators dropped, hex, a float keeps its digits */
    snprintf(want, sizeof want, "%d:1-11=1000000", TK_INT);
    expect_lex("1_000_000_", want);
    snprintf(want, sizeof want, "%d:1-12=100.0000", TK_FLOAT);
    expect_lex("1_00.0_000_", want);
    snprintf(want, sizeof want, "%d:1-11=16755200", TK_INT);
    expect_lex("0xFF_AA_00", want);
    /* should_disambiguate(): colons */
    snprintf(want, sizeof want, "%d:2-3 %d:4-6", TK_COLON, TK_COLONCOLON);
    expect_lex(" : :: ", want);
    /* Lexer::cn: any longer run of colons is one bad token */
    snprintf(want, sizeof want, "%d:1-5=::::", TK_BAD);
    expect_lex("::::", want);
    /* Lexer::nm: a '.' after digits makes a float; after a number nothing
     * that could start an identifier may follow, '-' included */
    snprintf(want, sizeof want, "%d:1-3=1.", TK_FLOAT);
    expect_lex("1.", want);
    expect_lex("5-3", "error 1:2-1:2 An unexpected character '-' was found");
    expect_lex("1.5x", "error 1:4-1:4 An unexpected character 'x' was found");
    /* Lexer::nm_hex: the character after 0x is taken whatever it is */
    expect_lex("0x;", "error 1:1-1:4 An invalid hexadecimal");
    snprintf(want, sizeof want, "%d:1-5=1", TK_INT);
    expect_lex("0x+1", want);
    expect_lex("12x3", "error 1:1-1:5 An invalid hexadecimal");
    expect_lex("0x8000000000000000", "error 1:1-1:19 An invalid hexadecimal");
    expect_lex("0x", "error 0:0-0:0 An unexpected end of stream was found");
    /* operators that need a next character */
    expect_lex("a ~", "error 0:0-0:0 An unexpected end of stream was found");
    expect_lex("a %", "error 0:0-0:0 An unexpected end of stream was found");
    /* Lexer::pl: a bad escape in an extractor points at its character */
    expect_lex("|ab\\x|", "error 1:5-1:5 An unexpected escape code 'x' was found");
    /* an error inside an interpolation is restated for the string */
    expect_lex("\"a #{ \"b\n", "error 1:4-1:6 It looks like you forgot to terminate a string interpolation with a closing '}'");
    expect_lex("\"a #{ 1 ", "error 1:4-1:6 It looks like you forgot to terminate a string interpolation with a closing '}'");
}

static void lex_huge_input(void **st) {
    (void)st;
    size_t n = 4u << 20;
    char *src = malloc(n);
    assert_non_null(src);
    for (size_t i = 0; i < n; i++) src[i] = (i % 2) ? ' ' : '1';
    struct tr_toks t;
    assert_int_equal(0, tr_lex_all(src, n, &t));
    assert_int_equal(n + 1, t.n);
    tr_lex_free(&t);
    free(src);
}

/* --- parser and compiler errors --- */

static void parse_error_has_caret(void **st) {
    (void)st;
    /* the exact text Tremor 0.11 prints for this input (its lexer_ngt case) */
    char *txt = compile_error("!>=\n");
    const char *want =
        "Error: \n"
        "    1 | !>=\n"
        "      |  ^^ Found the token `>=` but expected one of `!`, `\\``, `$`, `(`, `<<`, "
        "`<ident>`, `[`, `absent`, `args`, `bool`, `event`, `float`, `group`, `heredoc_start`, "
        "`int`, `merge`, `nil`, `not`, `patch`, `present`, `recur`, `state`, `window`, `{`\n"
        "      |     NOTE: Did you mean to use `!`?\n";
    if (strncmp(txt, want, strlen(want)) != 0) fail_msg("expected\n%s\nactual\n%s", want, txt);
    tr_free(txt);
    /* a statement in the middle of a file: the lines around it and a caret */
    txt = compile_error("let a = 1;\nlet b = ;\nlet c = 2;\n");
    assert_non_null(strstr(txt, "    1 | let a = 1;\n    2 | let b = ;\n      |         ^ Found the token `;`"));
    assert_non_null(strstr(txt, "    3 | let c = 2;\n"));
    tr_free(txt);
}

static void deep_nesting_is_an_error(void **st) {
    (void)st;
    size_t depth = 100000;
    char *src = malloc(depth * 2 + 2);
    assert_non_null(src);
    for (size_t i = 0; i < depth; i++) src[i] = '[';
    for (size_t i = 0; i < depth; i++) src[depth + i] = ']';
    src[2 * depth] = 0;
    struct tr_script *s = NULL;
    struct tr_diag d;
    int rc = tr_script_compile("deep.tremor", src, strlen(src), &s, &d);
    assert_int_not_equal(0, rc);
    assert_null(s);
    assert_non_null(strstr(d.msg, "nested too deeply"));
    /* also through parentheses, unary operators and `or` chains */
    for (size_t i = 0; i < depth; i++) src[i] = '(';
    for (size_t i = 0; i < depth; i++) src[depth + i] = ')';
    assert_int_not_equal(0, tr_script_compile("deep.tremor", src, strlen(src), &s, &d));
    for (size_t i = 0; i < 2 * depth; i++) src[i] = i % 2 ? ' ' : '-';
    src[2 * depth - 1] = '1';
    assert_int_not_equal(0, tr_script_compile("deep.tremor", src, strlen(src), &s, &d));
    free(src);
    size_t n = 20000;
    char *chain = malloc(n * 7 + 8);
    assert_non_null(chain);
    chain[0] = 0;
    char *p = chain;
    for (size_t i = 0; i < n; i++) p += sprintf(p, "a or ");
    strcpy(p, "a");
    assert_int_not_equal(0, tr_script_compile("or.tremor", chain, strlen(chain), &s, &d));
    free(chain);
}

static void long_flat_input_compiles(void **st) {
    (void)st;
    /* a wide but shallow expression: 100k additions, left-associative */
    size_t n = 100000;
    char *src = malloc(n * 4 + 4);
    assert_non_null(src);
    char *p = src;
    for (size_t i = 0; i < n; i++) p += sprintf(p, "1 + ");
    strcpy(p, "1");
    struct tr_script *s;
    struct tr_diag d;
    int rc = tr_script_compile("wide.tremor", src, strlen(src), &s, &d);
    /* either folded to a constant or refused as too deep: never a crash */
    if (rc == 0) tr_script_destroy(s);
    free(src);
}

static void const_fold_errors_at_compile_time(void **st) {
    (void)st;
    char *txt = compile_error("\"string\" + 1");
    assert_string_equal("Error: \n    1 | \"string\" + 1\n      | ^^^^^^^^^^^^ The binary operation `+` "
                        "is not defined for the type `string` and `integer`\n\n",
                        txt);
    tr_free(txt);
}

/* --- interpreter --- */

/* Warnings as 0.11 keeps them (a BTreeSet of outer span, inner span,
 * message; ast.rs Warning): in that order and each once. The record
 * pattern's warning (RecordPatternRaw::up) reaches two lines above the
 * pattern, so it comes before the match's own (Match::up). */
static void warnings_sorted_and_once(void **st) {
    (void)st;
    const char *src = "match event of\n  case %{ present a, present a, a == 1 } => 1\nend\n";
    struct tr_script *s = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    struct tr_lang_opts o = {.file = "t.tremor"};
    assert_int_equal(0, tr_lang_compile_script(src, strlen(src), &o, &s, &err));
    assert_int_equal(2, tr_script_warning_count(s));
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(0, tr_script_render_warnings(s, &b));
    const char *rec = strstr(b.data, "^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ The field a is checked with both present");
    const char *nodef = strstr(b.data, "This match expression has no default clause");
    assert_non_null(rec);
    assert_non_null(nodef);
    assert_true(rec < nodef);
    assert_null(strstr(strstr(rec, "The field") + 1, "The field a is checked"));
    tr_buf_fini(&b);
    tr_script_destroy(s);
}

static void arithmetic_and_types(void **st) {
    (void)st;
    expect_script("{\"a\": 1 + 2, \"b\": 7 / 2, \"c\": 7 % 4, \"d\": 1.5 * 2, \"e\": \"a\" + \"b\"}", "{}",
                  "{\"a\":3,\"b\":3.5,\"c\":3,\"d\":3.0,\"e\":\"ab\"}");
    expect_script("event.a.b[1]", "{\"a\":{\"b\":[1,2,3]}}", "2");
    expect_script("event[1:3]", "[0,1,2,3]", "[1,2]");
    expect_script("let x = 5; x * x", "null", "25");
    expect_script("not (1 == 2) and true", "null", "true");
    expect_script("drop", "1", "DROP");
    expect_script("emit 42", "1", "42");
    expect_script("let event.x = 1; emit", "{}", "{\"x\":1}");
    /* a new key at the end of a path, inside records made on the way, kept
     * in insertion order; an existing one replaced in place; a value with
     * its own depth stored under a new key */
    expect_script("let event.a.b.c = 1; let event.a.d = [2]; let event.z = {\"q\": {\"r\": 3}}; "
                  "let event.a.b.c = 4; emit",
                  "{\"y\":0}", "{\"y\":0,\"a\":{\"b\":{\"c\":4},\"d\":[2]},\"z\":{\"q\":{\"r\":3}}}");
    expect_script("let event.y.x = 1; emit", "{\"y\":2}", "ERROR");
    expect_script("present event.a", "{\"a\":null}", "true");
    expect_script("absent event.b", "{\"a\":null}", "true");
    expect_script("event.nope", "{}", "ERROR");
}

static void match_patterns(void **st) {
    (void)st;
    const char *src =
        "match event of\n"
        "  case %{ a == 1 } => \"one\"\n"
        "  case r = %{ present b } => r\n"
        "  case %[ 1 ] => \"has one\"\n"
        "  case %(1, _, ...) => \"tuple\"\n"
        "  default => \"none\"\n"
        "end";
    expect_script(src, "{\"a\":1}", "\"one\"");
    expect_script(src, "{\"b\":2,\"c\":3}", "{\"b\":2}");
    expect_script(src, "[0,1]", "\"has one\"");
    expect_script(src, "[2]", "\"none\"");
}

/* One compiled script over events whose keys move, vanish and come back:
 * a path remembers where it found its key last (tr_rec_get_hinted) and
 * must still read the right field, or report it missing, every time. A
 * match on literals compares them in place, including numbers of another
 * type that are equal and a literal that is a record. */
static void paths_over_changing_shapes(void **st) {
    (void)st;
    const char *src =
        "let out = match event.app of\n"
        "  case \"a\" => \"first\"\n"
        "  case 2 => \"two\"\n"
        "  case %{ x == 1 } => \"rec\"\n"
        "  default => \"other\"\n"
        "end;\n"
        "[out, present event.b, event.c.d]";
    static const char *const in[][2] = {
        {"{\"app\":\"a\",\"b\":1,\"c\":{\"d\":1}}", "[\"first\",true,1]"},
        {"{\"b\":1,\"app\":2.0,\"c\":{\"e\":0,\"d\":2}}", "[\"two\",true,2]"},
        {"{\"c\":{\"d\":3},\"app\":{\"x\":1}}", "[\"rec\",false,3]"},
        {"{\"app\":\"b\",\"bb\":1,\"c\":{\"dd\":0,\"d\":4}}", "[\"other\",false,4]"},
        {"{\"app\":\"a\",\"b\":1,\"c\":{\"d\":5}}", "[\"first\",true,5]"},
        {"{\"app\":\"a\",\"b\":1,\"c\":{\"dx\":5}}", "ERROR"},
    };
    struct tr_script *s;
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_script_compile("t.tremor", src, strlen(src), &s, &d)) fail_msg("compile failed: %s", d.msg);
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
            tr_value ev = json(in[i][0]), meta, state = tr_v_null();
            tr_v_rec(0, &meta);
            enum tr_script_outcome oc;
            const char *port;
            struct tr_lang_ctx ctx = {.instance = "tremor", .ingest_ns = 0};
            int rc = tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, &d);
            char *got = rc ? tr_strdup("ERROR") : encode(&ev);
            if (strcmp(got, in[i][1]) != 0)
                fail_msg("round %d event %zu: expected %s, got %s", round, i, in[i][1], got);
            tr_free(got);
            tr_value_unref(ev);
            tr_value_unref(meta);
            tr_value_unref(state);
        }
    tr_script_destroy(s);
}

static void patch_and_merge(void **st) {
    (void)st;
    expect_script("patch event of insert \"b\" => 2, erase \"a\", upsert \"c\" => 3 end",
                  "{\"a\":1}", "{\"b\":2,\"c\":3}");
    expect_script("merge event of {\"a\": null, \"b\": {\"c\": 1}} end", "{\"a\":1,\"b\":{\"d\":2}}",
                  "{\"b\":{\"d\":2,\"c\":1}}");
    expect_script("use std::string; string::format(\"{}-{}\", 1, \"x\")", "null", "\"1-x\"");
}


static void functions_and_modules(void **st) {
    (void)st;
    expect_script("fn fib_(a, b, n) of\n"
                  "  case (a, b, n) when n > 0 => recur(b, a + b, n - 1)\n"
                  "  default => a\n"
                  "end;\n"
                  "fn fib(n) with fib_(0, 1, n) end;\n"
                  "fib(event)",
                  "30", "832040");
    expect_script("mod m with const k = 40; fn add(a) with a + k end; end; m::add(event)", "2", "42");
    expect_script("fn va(a, ...) with [a, args] end; va(1, 2, 3)", "null", "[1,[2,3]]");
    /* a tail call that never ends is cut off, not a crash */
    expect_script("fn loop(n) with recur(n + 1) end; loop(0)", "null", "ERROR");
}


/* --- the tutorial's query --- */

struct sink {
    int n;
    char last[512];
};

static int collect(void *arg, const char *port, struct tr_event *ev) {
    struct sink *s = arg;
    assert_string_equal("out", port);
    char *j = encode(&ev->value);
    snprintf(s->last, sizeof s->last, "%s", j);
    tr_free(j);
    s->n++;
    tr_event_fini(ev);
    return 0;
}

static void tutorial_query(void **st) {
    (void)st;
    const char *src =
        "#!config id = \"main\"\n"
        "use tremor::system;\n"
        "# enrich every event with the host name\n"
        "define qos::wal operator on_disk_wal\n"
        "with\n"
        "  read_count = 20,\n"
        "  max_elements = 1000,\n"
        "  max_bytes = 10485760\n"
        "end;\n"
        "create operator on_disk_wal;\n"
        "select patch event of insert hostname = system::hostname() end from in into on_disk_wal;\n"
        "select event from on_disk_wal into out;\n";
    struct tr_query *q;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_query_compile("persistent.trickle", src, strlen(src), &q, &d);
    if (rc) fail_msg("%s at %d:%d", d.msg, d.line, d.col);
    assert_string_equal("main", tr_query_config_id(q));
    assert_int_equal(3, tr_query_node_count(q));
    const struct tr_qnode *op = tr_query_node(q, 0);
    assert_int_equal(TR_QN_OPERATOR, op->kind);
    assert_string_equal("qos::wal", op->op_kind);
    assert_string_equal("on_disk_wal", op->id);
    tr_value *rcnt = tr_rec_get_cstr(&op->params, "read_count");
    assert_non_null(rcnt);
    assert_int_equal(20, rcnt->as.i);
    const struct tr_qnode *sel = tr_query_node(q, 1);
    assert_int_equal(TR_QN_SELECT, sel->kind);
    assert_string_equal("in", sel->from_node);
    assert_string_equal("out", sel->from_port);
    assert_string_equal("on_disk_wal", sel->into_node);
    assert_string_equal("in", sel->into_port);

    char host[256];
    if (gethostname(host, sizeof host)) strcpy(host, "tremor_host.local");
    host[255] = 0;
    struct sink s = {0};
    struct tr_event ev;
    assert_int_equal(0, tr_event_init(&ev, json("{\"onramp\":\"metronome\",\"ingest_ns\":5,\"id\":0}"),
                                      tr_v_null(), 5));
    struct tr_lang_ctx ctx = {.instance = "tremor", .ingest_ns = 5};
    assert_int_equal(0, tr_select_run(sel->select, &ctx, &ev, collect, &s, &d));
    assert_int_equal(1, s.n);
    char want[512];
    snprintf(want, sizeof want, "{\"onramp\":\"metronome\",\"ingest_ns\":5,\"id\":0,\"hostname\":\"%s\"}", host);
    assert_string_equal(want, s.last);
    tr_query_destroy(q);
}

static void query_where_having(void **st) {
    (void)st;
    const char *src = "create stream s;\n"
                      "select event from in where event.a > 1 into s having event.a < 5;\n"
                      "select {\"v\": event.a, \"m\": $x} from s into out;\n";
    struct tr_query *q;
    struct tr_diag d;
    assert_int_equal(0, tr_query_compile("q.trickle", src, strlen(src), &q, &d));
    const struct tr_qnode *sel = tr_query_node(q, 1);
    struct tr_lang_ctx ctx = {.instance = "tremor"};
    struct sink s = {0};
    int vals[] = {1, 2, 5};
    for (int i = 0; i < 3; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "{\"a\":%d}", vals[i]);
        struct tr_event ev;
        tr_event_init(&ev, json(buf), tr_v_null(), 0);
        assert_int_equal(0, tr_select_run(sel->select, &ctx, &ev, collect, &s, &d));
    }
    assert_int_equal(1, s.n);
    assert_string_equal("{\"a\":2}", s.last);
    const struct tr_qnode *sel2 = tr_query_node(q, 2);
    struct tr_event ev;
    tr_event_init(&ev, json("{\"a\":3}"), json("{\"x\":true}"), 0);
    assert_int_equal(0, tr_select_run(sel2->select, &ctx, &ev, collect, &s, &d));
    assert_string_equal("{\"v\":3,\"m\":true}", s.last);
    tr_query_destroy(q);
}

static void query_errors(void **st) {
    (void)st;
    struct tr_query *q = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    const char *src = "select event from nowhere into out;";
    struct tr_lang_opts o = {.file = "q.trickle"};
    assert_int_not_equal(0, tr_lang_compile_query(src, strlen(src), &o, &q, &err));
    assert_string_equal("Stream used in `from` or `into` is not defined: nowhere", err.msg);
    assert_int_equal(19, err.inner.s.col);
    tr_lang_err_clear(&err);
    src = "select a + b from in into out;";
    assert_int_not_equal(0, tr_lang_compile_query(src, strlen(src), &o, &q, &err));
    assert_string_equal("Local variables are not allowed here", err.msg);
    tr_lang_err_clear(&err);
    src = "select event from in into out\n";
    struct tr_diag d;
    assert_int_equal(0, tr_query_compile("q.trickle", src, strlen(src), &q, &d));
    tr_query_destroy(q);
    src = "select event frm in into out;";
    assert_int_equal(TR_EPARSE, tr_query_compile("q.trickle", src, strlen(src), &q, &d));
    assert_int_equal(1, d.line);
    assert_int_equal(14, d.col);
}

/* The first node of a query that must compile (the caller destroys *q). */
static const struct tr_qnode *compile_query(const char *file, const char *src, struct tr_query **q) {
    struct tr_diag d;
    int rc = tr_query_compile(file, src, strlen(src), q, &d);
    if (rc) fail_msg("%s at %d:%d", d.msg, d.line, d.col);
    return tr_query_node(*q, 0);
}

static void windowed_select(void **st) {
    (void)st;
    const char *src = "define tumbling window two with size = 2 end;\n"
                      "select {\"g\": group[0], \"n\": aggr::stats::count(), \"s\": aggr::stats::sum(event.v),\n"
                      "        \"all\": aggr::win::collect_flattened(event.v)}\n"
                      "from in[two] group by set(event.g) into out;\n";
    struct tr_query *q;
    struct tr_diag d;
    const struct tr_qnode *sel = compile_query("w.trickle", src, &q);
    struct tr_lang_ctx ctx = {.instance = "tremor"};
    struct sink s = {0};
    const char *in[] = {"{\"g\":\"a\",\"v\":1}", "{\"g\":\"b\",\"v\":10}", "{\"g\":\"a\",\"v\":2}",
                        "{\"g\":\"b\",\"v\":20}"};
    const char *want[] = {NULL, NULL, "{\"g\":\"a\",\"n\":2,\"s\":3.0,\"all\":[1,2]}",
                          "{\"g\":\"b\",\"n\":2,\"s\":30.0,\"all\":[10,20]}"};
    for (int i = 0; i < 4; i++) {
        struct tr_event ev;
        tr_event_init(&ev, json(in[i]), tr_v_null(), (uint64_t)i);
        int before = s.n;
        assert_int_equal(0, tr_select_run(sel->select, &ctx, &ev, collect, &s, &d));
        if (want[i]) {
            assert_int_equal(before + 1, s.n);
            assert_string_equal(want[i], s.last);
        } else {
            assert_int_equal(before, s.n);
        }
    }
    tr_query_destroy(q);
    /* event outside an aggregate in a windowed select is refused at compile time */
    src = "define tumbling window two with size = 2 end;\n"
          "select event.x from in[two] into out;\n";
    assert_int_not_equal(0, tr_query_compile("w.trickle", src, strlen(src), &q, &d));
    assert_non_null(strstr(d.msg, "References to `event` or `$` are not allowed"));
}


/* A window's group keeps a copy of its group-by value, not the event's
 * string: that would keep the whole arena block the event was decoded
 * into (an onramp's carried block, 8 KiB) as long as the group lives. */
static void window_groups_keep_no_event(void **st) {
    (void)st;
    const char *src = "define tumbling window w with size = 100 end;\n"
                      "select {\"g\": group[0], \"n\": aggr::stats::count()}\n"
                      "from in[w] group by set(event.g) into out;\n";
    struct tr_query *q;
    struct tr_diag d;
    const struct tr_qnode *sel = compile_query("w.trickle", src, &q);
    struct tr_lang_ctx ctx = {.instance = "tremor"};
    struct sink s = {0};
    char in[2200];
    struct tr_varena_carry c = {0};
    size_t before = tr_alloc_used();
    for (int i = 0; i < 3; i++) {
        snprintf(in, sizeof in, "{\"g\":\"group-%d\",\"pad\":\"%01000d\"}", i, i);
        struct tr_varena_carry *prev = tr_varena_use_carry(&c);
        tr_value v = json(in);
        tr_varena_use_carry(prev);
        struct tr_event ev;
        tr_event_init(&ev, v, tr_v_null(), (uint64_t)i);
        assert_int_equal(0, tr_select_run(sel->select, &ctx, &ev, collect, &s, &d));
    }
    assert_int_equal(s.n, 0);   /* the window is still open */
    tr_varena_carry_drop(&c);
    size_t held = tr_alloc_used() - before;
    if (held >= TR_VARENA_CARRY_BLOCK / 2) fail_msg("3 open groups hold %zu bytes", held);
    tr_query_destroy(q);
}

/* 0.11 lets a select use the bindings of `for` cases and `case x = ...`
 * (its shadow variables); any other local is still refused. */
static void query_case_bindings(void **st) {
    (void)st;
    const char *src = "select {\"t\": for [1, 2] of case (i, d) => {\"i\": i, \"d\": d} end,\n"
                      "        \"m\": match event of case x = %{present a} => x.a default => null end}\n"
                      "from in into out;\n";
    struct tr_query *q;
    struct tr_diag d;
    const struct tr_qnode *sel = compile_query("q.trickle", src, &q);
    struct tr_lang_ctx ctx = {.instance = "tremor"};
    struct sink s = {0};
    for (int i = 0; i < 2; i++) {   /* twice: what a run leaves in the slots is released */
        struct tr_event ev;
        tr_event_init(&ev, json("{\"a\":7}"), tr_v_null(), 0);
        assert_int_equal(0, tr_select_run(sel->select, &ctx, &ev, collect, &s, &d));
        assert_string_equal("{\"t\":[{\"i\":0,\"d\":1},{\"i\":1,\"d\":2}],\"m\":7}", s.last);
    }
    tr_query_destroy(q);
    src = "select for [1] of case (i, d) => j end from in into out;\n";
    assert_int_not_equal(0, tr_query_compile("q.trickle", src, strlen(src), &q, &d));
    assert_non_null(strstr(d.msg, "Local variables are not allowed here"));
}

/* A tilted chain of time windows closes on ticks as 0.11 does, the first
 * window first; a full window reports 0.11's max_groups words, which the
 * pipeline logs without a source excerpt, while a script error of a select
 * has one (0.11's locate_in_source). */
static void query_ticks_and_errors(void **st) {
    (void)st;
    const char *src = "define tumbling window a with interval = 1000 end;\n"
                      "define tumbling window b with interval = 5000 end;\n"
                      "select [window, aggr::stats::count()] from in[a, b] into out;\n";
    struct tr_query *q;
    struct tr_diag d;
    const struct tr_qnode *sel = compile_query("t.trickle", src, &q);
    struct tr_lang_ctx ctx = {.instance = "tremor"};
    struct sink s = {0};
    struct tr_event ev;
    tr_event_init(&ev, json("{}"), tr_v_null(), 10);
    assert_int_equal(0, tr_select_run(sel->select, &ctx, &ev, collect, &s, &d));
    tr_event_init(&ev, json("{}"), tr_v_null(), 20);
    assert_int_equal(0, tr_select_run(sel->select, &ctx, &ev, collect, &s, &d));
    assert_int_equal(0, s.n);
    assert_int_equal(0, tr_select_tick(sel->select, &ctx, 500, collect, &s, &d));
    assert_int_equal(0, s.n);
    assert_int_equal(0, tr_select_tick(sel->select, &ctx, 2000, collect, &s, &d));
    assert_int_equal(1, s.n);
    assert_string_equal("[\"a\",2]", s.last);
    tr_query_destroy(q);

    src = "define tumbling window w with size = 2, max_groups = 1 end;\n"
          "select aggr::stats::count() from in[w] group by event.g into out;\n";
    assert_int_equal(0, tr_query_compile("m.trickle", src, strlen(src), &q, &d));
    sel = tr_query_node(q, 0);
    tr_event_init(&ev, json("{\"g\":1}"), tr_v_null(), 1);
    assert_int_equal(0, tr_select_run(sel->select, &ctx, &ev, collect, &s, &d));
    tr_event_init(&ev, json("{\"g\":2}"), tr_v_null(), 2);
    assert_int_equal(TR_ERUNTIME, tr_select_run(sel->select, &ctx, &ev, collect, &s, &d));
    assert_string_equal("Maxmimum amount of groups reached (1). Ignoring group [2]", d.msg);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(TR_ENOTFOUND, tr_select_locate(sel->select, &b));
    tr_query_destroy(q);

    src = "select\n  event.a\nfrom in into out;\n";
    assert_int_equal(0, tr_query_compile("l.trickle", src, strlen(src), &q, &d));
    sel = tr_query_node(q, 0);
    tr_event_init(&ev, json("{}"), tr_v_null(), 1);
    assert_int_equal(TR_ERUNTIME, tr_select_run(sel->select, &ctx, &ev, collect, &s, &d));
    assert_int_equal(0, tr_select_locate(sel->select, &b));
    assert_non_null(b.data);
    assert_string_equal("    2 |   event.a\n      |         ^ Trying to access a non existing event key `a`",
                        (tr_buf_putc(&b, 0), b.data));
    tr_buf_fini(&b);
    tr_query_destroy(q);
}

/* --- binary literals, std modules, extractors, query modules --- */

static void binary_literals(void **st) {
    (void)st;
    /* two 4-bit fields share a byte; a 16-bit little-endian field swaps its bytes */
    expect_script("use std::binary; binary::into_bytes(<<1:4, 2:4, 0x2122:16/little-integer>>)", "null",
                  "[18,34,33]");
    /* a trailing partial byte keeps its bits low-aligned */
    expect_script("use std::binary; binary::into_bytes(<<1:4>>)", "null", "[1]");
    expect_script("use std::binary; binary::into_bytes(<<event/binary, 0xff/signed-integer>>)", "\"ab\"",
                  "[97,98,255]");
    expect_script("use std::binary; binary::len(<<>>)", "null", "0");
    /* binaries compare with strings byte by byte */
    expect_script("[<<49>> == \"1\", <<50>> > \"1\", <<1>> != <<1>>]", "null", "[true,true,false]");
    expect_script("use std::base64; base64::encode(<<104, 105>>)", "null", "\"aGk=\"");
    char *e = compile_error("<<event:100>>");
    if (!strstr(e, "negative bits or bits > 64 are are not allowed: 100"))
        fail_msg("expected the bits error, actual:\n%s", e);
    tr_free(e);
    e = compile_error("<<event/snot>>");
    if (!strstr(e, "Not a valid data type: 'snot'")) fail_msg("expected the type error, actual:\n%s", e);
    tr_free(e);
    /* a value that does not fit its type is a runtime error */
    expect_script("<<event:8/unsigned-integer>>", "-1", "ERROR");
}

static void std_re_random_chash(void **st) {
    (void)st;
    expect_script("use std::re; [re::replace_all(\"a(b)\", event, \"[$1]\"), re::replace(\"b\", event, \"x\")]",
                  "\"abab\"", "[\"[b][b]\",\"axab\"]");
    expect_script("use std::re; [re::is_match(\"^\\\\d+$\", \"123\"), re::is_match(\"^\\\\d+$\", \"12a\")]",
                  "null", "[true,false]");
    expect_script("use std::re; re::split(\",\", \"a,b,,c\")", "null", "[\"a\",\"b\",\"\",\"c\"]");
    /* a bad pattern known only at run time is a runtime error (a constant one fails compiling) */
    expect_script("use std::re; re::replace(event, \"a\", \"b\")", "\"(\"", "ERROR");
    /* slots agree with Tremor's (its jump test data) */
    expect_script("use tremor::chash; [chash::jump(\"key1\", 5), chash::jump(\"key4\", 5), "
                  "chash::jump_with_keys(23, 42, \"key3\", 5)]",
                  "null", "[0,3,2]");
    /* random values are fixed per event and stay in range */
    expect_script("use std::random; use std::string; let a = random::integer(10); a >= 0 and a < 10 and "
                  "random::string(8) == random::string(8) and string::len(random::string(5)) == 5",
                  "null", "true");
    expect_script("use std::random; random::integer(5, 5)", "null", "ERROR");
}

static void cidr_and_influx(void **st) {
    (void)st;
    expect_script("match event of case r = %{ a ~= cidr|10.0.0.0/8, 192.168.0.0/16| } => r.a default => \"no\" end",
                  "{\"a\":\"10.1.2.3\"}", "{\"prefix\":[10,1,2,3],\"mask\":[255,255,255,255]}");
    expect_script("match event of case r = %{ a ~= cidr|10.0.0.0/8| } => r.a default => \"no\" end",
                  "{\"a\":\"11.1.2.3\"}", "\"no\"");
    expect_script("match event of case r = %{ a ~= cidr|| } => r.a default => \"no\" end",
                  "{\"a\":\"fe80::1/64\"}",
                  "{\"prefix\":[65152,0,0,0,0,0,0,0],\"mask\":[65535,65535,65535,65535,0,0,0,0]}");
    expect_script("match event of case r = %{ a ~= cidr|| } => r.a default => \"no\" end",
                  "{\"a\":\"300.1.1.1\"}", "\"no\"");
    expect_script("match event of case r = %{ a ~= influx|| } => r.a default => \"no\" end",
                  "{\"a\":\"m\\\\,x,t=a\\\\ b f=1i,g=\\\"s\\\",h=t,k=2.5 5\"}",
                  "{\"measurement\":\"m,x\",\"tags\":{\"t\":\"a b\"},"
                  "\"fields\":{\"f\":1,\"g\":\"s\",\"h\":true,\"k\":2.5},\"timestamp\":5}");
    expect_script("match event of case r = %{ a ~= influx|| } => r.a default => \"no\" end",
                  "{\"a\":\"just words\"}", "\"no\"");
}

/* Match event.a with extractor text ex; the result or "no". */
static void expect_extract(const char *ex, const char *a, const char *want) {
    char src[512], in[512];
    snprintf(src, sizeof src, "match event of case r = %%{ a ~= %s } => r.a default => \"no\" end", ex);
    snprintf(in, sizeof in, "{\"a\":\"%s\"}", a);
    expect_script(src, in, want);
}

static void expect_extract_compile_error(const char *ex, const char *needle) {
    char src[512];
    snprintf(src, sizeof src, "match event of case r = %%{ a ~= %s } => r.a default => \"no\" end", ex);
    char *got = compile_error(src);
    if (!strstr(got, needle)) fail_msg("extractor %s\n  expected an error with '%s'\n  actual   %s", ex, needle, got);
    tr_free(got);
}

static void dissect_extractor(void **st) {
    (void)st;
    expect_extract("dissect|%{a} %{b}|", "John Doe", "{\"a\":\"John\",\"b\":\"Doe\"}");
    expect_extract("dissect|%{name}, %{age:int}|", "John Doe, 22", "{\"name\":\"John Doe\",\"age\":22}");
    expect_extract("dissect|%{?name}, %{&name}|", "John Doe, 22", "{\"John Doe\":\"22\"}");
    expect_extract("dissect|%{name}, %{_(-)}%{age}|", "John Doe, -----22", "{\"name\":\"John Doe\",\"age\":\"22\"}");
    expect_extract("dissect|%{+n} %{+n}, %{age}|", "John Doe, 22", "{\"n\":\"John Doe\",\"age\":\"22\"}");
    expect_extract("dissect|%{name}, %{age}|", ", 22", "{\"name\":\"\",\"age\":\"22\"}");
    /* a name given twice keeps its place and takes the last value */
    expect_extract("dissect|%{a} %{b} %{a}|", "x y z", "{\"a\":\"z\",\"b\":\"y\"}");
    /* past the sizes kept inline: 40 fields (a hashed record, names shared
     * by every result) and 20 skips, the last one looked up */
    char pat[400], in[400], want[800];
    size_t pn = 0, in_n = 0, wn = 0;
    pn += (size_t)snprintf(pat + pn, sizeof pat - pn, "dissect|");
    wn += (size_t)snprintf(want + wn, sizeof want - wn, "{");
    for (int i = 0; i < 40; i++) {
        pn += (size_t)snprintf(pat + pn, sizeof pat - pn, "%s%%{f%02d}", i ? " " : "", i);
        in_n += (size_t)snprintf(in + in_n, sizeof in - in_n, "%sv%d", i ? " " : "", i);
        wn += (size_t)snprintf(want + wn, sizeof want - wn, "%s\"f%02d\":\"v%d\"", i ? "," : "", i, i);
    }
    snprintf(pat + pn, sizeof pat - pn, "|");
    snprintf(want + wn, sizeof want - wn, "}");
    expect_extract(pat, in, want);
    pn = (size_t)snprintf(pat, sizeof pat, "dissect|%%{a}");
    in_n = (size_t)snprintf(in, sizeof in, "A");
    for (int i = 0; i < 20; i++) {
        pn += (size_t)snprintf(pat + pn, sizeof pat - pn, " %%{?s%02d}", i);
        in_n += (size_t)snprintf(in + in_n, sizeof in - in_n, " k%d", i);
    }
    snprintf(pat + pn, sizeof pat - pn, " %%{&s19}|");
    snprintf(in + in_n, sizeof in - in_n, " B");
    expect_extract(pat, in, "{\"a\":\"A\",\"k19\":\"B\"}");
    /* no delimiter in the input, data left over, a number that is none */
    expect_extract("dissect|%{a}:%{b}|", "nocolon", "\"no\"");
    expect_extract("dissect|%{a} x|", "1 xy", "\"no\"");
    expect_extract("dissect|%{a} %{b:int}|", "1 two", "\"no\"");
    expect_extract_compile_error("dissect|%{a}%{b}|", "dilimiter needs to be provided");
    expect_extract_compile_error("dissect|%{a|", "Unterminated");
    expect_extract_compile_error("dissect|%{a:bool}|", "Invalid type");
}

static void grok_extractor(void **st) {
    (void)st;
    expect_extract("grok|%{WORD:w} %{INT:n}|", "hello 42", "{\"w\":\"hello\",\"n\":\"42\"}");
    expect_extract("grok|%{IP:ip} %{URIPATHPARAM:req}|", "10.0.0.1 /a/b?c=1",
                   "{\"ip\":\"10.0.0.1\",\"req\":\"/a/b?c=1\"}");
    expect_extract("grok|%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:lvl}|", "2019-04-20T10:11:12Z ERROR",
                   "{\"ts\":\"2019-04-20T10:11:12Z\",\"lvl\":\"ERROR\"}");
    expect_extract("grok|^%{INT:n}$|", "forty", "\"no\"");
    expect_extract_compile_error("grok|%{NOPE:x}|", "The given pattern definition name \"NOPE\" could not be found");
    /* kv separators come from the pattern (tremor-kv 0.2.0) */
    expect_extract("kv|%{key}=%{val}&|", "a=1&b=2", "{\"a\":\"1\",\"b\":\"2\"}");
    expect_extract_compile_error("kv|%{key} %{val} |", "Invalid tilde predicate pattern: The seperator ' ' is used");
}

static void datetime_extractor(void **st) {
    (void)st;
    expect_extract("datetime|%Y-%m-%dT%T%.6f%:z|", "2019-08-07T16:41:12.159975-04:00", "1565210472159975000");
    expect_extract("datetime|%Y-%m-%dT%T%.6f|", "2019-08-07T20:41:12.159975", "1565210472159975000");
    expect_extract("datetime|%d/%b/%Y:%H:%M:%S %z|", "10/Oct/2000:13:55:36 -0700", "971211336000000000");
    expect_extract("datetime|%Y-%m-%d %I:%M %p|", "2019-01-01 12:05 AM", "1546301100000000000");
    /* no time of day, a day the month lacks, trailing text */
    expect_extract("datetime|%Y-%m-%d|", "2019-01-01", "\"no\"");
    expect_extract("datetime|%Y-%m-%d %H:%M|", "2019-02-30 10:00", "\"no\"");
    expect_extract("datetime|%Y-%m-%d %H:%M|", "2019-01-01 10:00 x", "\"no\"");
}

static void origin_without_context(void **st) {
    (void)st;
    /* a context that names no origin: every origin function is null */
    expect_script("use tremor::origin; [origin::as_uri_string(), origin::host(), origin::port(), origin::path()]",
                  "{}", "[null,null,null,null]");
}

static void query_modules(void **st) {
    (void)st;
    char dir[] = "/tmp/tr_lang_modXXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[64], file[96];
    snprintf(sub, sizeof sub, "%s/foo", dir);
    assert_int_equal(0, mkdir(sub, 0700));
    snprintf(file, sizeof file, "%s/bar.trickle", sub);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("define script add script event + 1 end;\n"
          "define tumbling window two with size = 2 end;\n"
          "define generic::counter operator count;\n",
          f);
    fclose(f);
    const char *src = "use foo::bar as baz;\n"
                      "mod c with const one = 1; end;\n"
                      "create script s from baz::add;\n"
                      "create operator n from baz::count;\n"
                      "select event + c::one from in into s;\n"
                      "select aggr::win::collect_flattened(event) from s[baz::two] into out;\n";
    const char *mp[] = {dir};
    struct tr_lang_opts opts = {.module_path = mp, .n_module_path = 1, .file = "q.trickle"};
    struct tr_query *q = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    int rc = tr_lang_compile_query(src, strlen(src), &opts, &q, &err);
    if (rc) fail_msg("compile failed: %s at %u:%u", err.msg, err.inner.s.line, err.inner.s.col);
    assert_int_equal(4, tr_query_node_count(q));
    assert_int_equal(TR_QN_SCRIPT, tr_query_node(q, 0)->kind);
    assert_int_equal(TR_QN_OPERATOR, tr_query_node(q, 1)->kind);
    assert_string_equal("generic::counter", tr_query_node(q, 1)->op_kind);
    const struct tr_qnode *sel = tr_query_node(q, 2);
    assert_int_equal(TR_QN_SELECT, sel->kind);
    struct sink s = {0};
    struct tr_event ev;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(0, tr_event_init(&ev, tr_v_int(41), tr_v_null(), 0));
    struct tr_lang_ctx ctx = {.instance = "tremor", .ingest_ns = 0};
    assert_int_equal(0, tr_select_run(sel->select, &ctx, &ev, collect, &s, &d));
    assert_int_equal(1, s.n);
    assert_string_equal("42", s.last);
    tr_query_destroy(q);
    /* an unknown definition in a module is still an error */
    const char *bad = "use foo::bar;\ncreate script s from bar::nope;\nselect event from in into s;\n";
    memset(&err, 0, sizeof err);
    assert_int_not_equal(0, tr_lang_compile_query(bad, strlen(bad), &opts, &q, &err));
    if (!strstr(err.msg, "Script definition `bar::nope` not found")) fail_msg("actual: %s", err.msg);
    tr_lang_err_clear(&err);
    unlink(file);
    rmdir(sub);
    rmdir(dir);
}

/* Which scripts may change the event they are given (tr_script_writes_event):
 * only a `let` into `event`; a copy changed under another name is another
 * value. */
static void writes_event(void **state) {
    (void)state;
    static const struct { const char *src; bool want; } t[] = {
        {"event", false},
        {"let $class = event.a; emit event", false},
        {"let x = event; let x.a = 1; x", false},
        {"emit {\"a\": event.a}", false},
        {"let event.a = 1; event", true},
        {"let event = {}; event", true},
        {"let event[\"a\"] = 1; event", true},
        {"match event.a of case 1 => let event.b = 2 default => null end; event", true},
        {"let event = merge event of {\"x\": 1} end; event", true},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct tr_script *s = NULL;
        struct tr_diag d;
        tr_diag_clear(&d);
        if (tr_script_compile("w.tremor", t[i].src, strlen(t[i].src), &s, &d))
            fail_msg("%s: %s", t[i].src, d.msg);
        if (tr_script_writes_event(s) != t[i].want)
            fail_msg("%s: writes_event %d, want %d", t[i].src, tr_script_writes_event(s), t[i].want);
        tr_script_destroy(s);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lex_tokens),
        cmocka_unit_test(lex_unterminated_string),
        cmocka_unit_test(lex_huge_input),
        cmocka_unit_test(lex_follows_upstream),
        cmocka_unit_test(parse_error_has_caret),
        cmocka_unit_test(deep_nesting_is_an_error),
        cmocka_unit_test(long_flat_input_compiles),
        cmocka_unit_test(const_fold_errors_at_compile_time),
        cmocka_unit_test(warnings_sorted_and_once),
        cmocka_unit_test(arithmetic_and_types),
        cmocka_unit_test(match_patterns),
        cmocka_unit_test(paths_over_changing_shapes),
        cmocka_unit_test(patch_and_merge),
        cmocka_unit_test(functions_and_modules),
        cmocka_unit_test(tutorial_query),
        cmocka_unit_test(query_where_having),
        cmocka_unit_test(query_errors),
        cmocka_unit_test(query_case_bindings),
        cmocka_unit_test(query_ticks_and_errors),
        cmocka_unit_test(windowed_select),
        cmocka_unit_test(window_groups_keep_no_event),
        cmocka_unit_test(binary_literals),
        cmocka_unit_test(std_re_random_chash),
        cmocka_unit_test(cidr_and_influx),
        cmocka_unit_test(query_modules),
        cmocka_unit_test(dissect_extractor),
        cmocka_unit_test(grok_extractor),
        cmocka_unit_test(datetime_extractor),
        cmocka_unit_test(origin_without_context),
        cmocka_unit_test(writes_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
