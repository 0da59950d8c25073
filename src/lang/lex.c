/* lex.c - tokeniser for tremor-script and trickle.
 *
 * One pass over the bytes following 0.11's lexer (tremor-script/src/lexer.rs)
 * rule for rule: a string is lexed whole, "#{" inside it by lexing ordinary
 * tokens recursively until the "}" that balances it, and its errors carry
 * the spans and unfinished-token text 0.11 shows. Not a parser: keywords are
 * recognised, nothing else about the grammar is. Invariant: every token's
 * span starts at the previous token's end, and a token that fails (a whole
 * string included) leaves nothing, so the error renderer can rebuild lines
 * from the tokens before the error alone.
 */
#include "lang/lex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"

/* Interpolations nest by recursion (a string inside "#{...}" of a string);
 * the bound keeps hostile input from exhausting the stack. */
#define MAX_INTERP_DEPTH 64

/* What went wrong, as 0.11's lexer error kinds (tremor-script/src/errors.rs):
 * an interpolation rewrites some kinds of the errors inside it. */
enum lexk {
    LK_OTHER, LK_EXTRACTOR, LK_STRING, LK_HEREDOC, LK_TAILING, LK_INTERP, LK_EMPTY_INTERP,
    LK_IDENT, LK_CHAR, LK_ESCAPE, LK_UTF8, LK_HEX, LK_INT, LK_FLOAT, LK_EOS
};

struct lx {
    const char *src;
    size_t len;
    struct tr_pos p;       /* current position */
    struct tr_toks *out;
    int depth;             /* open interpolations */
    enum lexk kind;        /* of the error in out->err */
    char found[8];         /* the character an LK_CHAR / LK_ESCAPE error names */
};

static const struct { const char *kw; enum tr_tk tk; } keywords[] = {
    {"intrinsic", TK_INTRINSIC}, {"mod", TK_MOD}, {"const", TK_CONST}, {"let", TK_LET},
    {"match", TK_MATCH}, {"end", TK_END}, {"fn", TK_FN}, {"null", TK_NULL},
    {"case", TK_CASE}, {"of", TK_OF}, {"when", TK_WHEN}, {"default", TK_DEFAULT},
    {"patch", TK_PATCH}, {"insert", TK_INSERT}, {"upsert", TK_UPSERT},
    {"update", TK_UPDATE}, {"erase", TK_ERASE}, {"move", TK_MOVE}, {"copy", TK_COPY},
    {"merge", TK_MERGE}, {"for", TK_FOR}, {"event", TK_EVENT}, {"state", TK_STATE},
    {"present", TK_PRESENT}, {"absent", TK_ABSENT}, {"true", TK_TRUE},
    {"false", TK_FALSE}, {"and", TK_AND}, {"or", TK_OR}, {"xor", TK_XOR},
    {"not", TK_NOT}, {"drop", TK_DROP}, {"emit", TK_EMIT}, {"select", TK_SELECT},
    {"from", TK_FROM}, {"where", TK_WHERE}, {"with", TK_WITH}, {"group", TK_GROUP},
    {"by", TK_BY}, {"having", TK_HAVING}, {"into", TK_INTO}, {"create", TK_CREATE},
    {"tumbling", TK_TUMBLING}, {"sliding", TK_SLIDING}, {"window", TK_WINDOW},
    {"stream", TK_STREAM}, {"operator", TK_OPERATOR}, {"script", TK_SCRIPT},
    {"set", TK_SET}, {"each", TK_EACH}, {"define", TK_DEFINE}, {"args", TK_ARGS},
    {"use", TK_USE}, {"as", TK_AS}, {"recur", TK_RECUR},
};

enum tr_tk tr_lex_keyword(const char *s, size_t n) {
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strlen(keywords[i].kw) == n && memcmp(keywords[i].kw, s, n) == 0)
            return keywords[i].tk;
    return TK_IDENT;
}

static const char *punct_name(enum tr_tk k) {
    switch (k) {
    case TK_BSLASH: return "\\";
    case TK_COLON: return ":";
    case TK_COLONCOLON: return "::";
    case TK_COMMA: return ",";
    case TK_DOT: return ".";
    case TK_DOLLAR: return "$";
    case TK_BITNOT: return "!";
    case TK_DONTCARE: return "_";
    case TK_EQARROW: return "=>";
    case TK_SEMI: return ";";
    case TK_LPATPAREN: return "%(";
    case TK_LPAREN: return "(";
    case TK_RPAREN: return ")";
    case TK_LPATBRACE: return "%{";
    case TK_LBRACE: return "{";
    case TK_RBRACE: return "}";
    case TK_LBRACKET: return "[";
    case TK_LPATBRACKET: return "%[";
    case TK_RBRACKET: return "]";
    case TK_BITAND: return "&";
    case TK_BITXOR: return "^";
    case TK_EQ: return "=";
    case TK_EQEQ: return "==";
    case TK_NOTEQ: return "!=";
    case TK_TILDEEQ: return "~=";
    case TK_TILDE: return "~";
    case TK_GTE: return ">=";
    case TK_GT: return ">";
    case TK_LTE: return "<=";
    case TK_LT: return "<";
    case TK_RSHIFT: return ">>";
    case TK_RSHIFTU: return ">>>";
    case TK_LSHIFT: return "<<";
    case TK_MUL: return "*";
    case TK_DIV: return "/";
    case TK_ADD: return "+";
    case TK_SUB: return "-";
    case TK_PERCENT: return "%";
    case TK_DQUOTE: return "\"";
    case TK_INTERP: return "#{";
    case TK_ESC_HASH: return "\\#";
    case TK_CONFIG: return "#!config";
    case TK_HEREDOC_START: return "\"\"\"\n";
    case TK_HEREDOC_END: return "\"\"\"";
    default: return NULL;
    }
}

/* --- character helpers --- */

static int peekc(const struct lx *l, size_t ahead) {
    size_t o = l->p.off + ahead;
    return o < l->len ? (unsigned char)l->src[o] : -1;
}

/* Advance one code point (UTF-8 aware so columns count characters). */
static void bump(struct lx *l) {
    if (l->p.off >= l->len) return;
    unsigned char c = (unsigned char)l->src[l->p.off];
    size_t n = 1;
    if (c >= 0xF0) n = 4;
    else if (c >= 0xE0) n = 3;
    else if (c >= 0xC0) n = 2;
    if (l->p.off + n > l->len) n = l->len - l->p.off;
    l->p.off += (uint32_t)n;
    if (c == '\n') {
        l->p.line++;
        l->p.col = 1;
    } else {
        l->p.col++;
    }
}

static int is_ident_start(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
static int is_ident_cont(int c) {
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '-';
}
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_hex(int c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int push(struct lx *l, enum tr_tk kind, struct tr_pos s, struct tr_tok **out) {
    struct tr_toks *t = l->out;
    if (tr_grow((void **)&t->v, &t->cap, t->n + 1, sizeof *t->v)) return -ENOMEM;
    struct tr_tok *k = &t->v[t->n++];
    memset(k, 0, sizeof *k);
    k->kind = (uint16_t)kind;
    k->sp.s = s;
    k->sp.e = l->p;
    if (out) *out = k;
    return 0;
}

static int push_str(struct lx *l, enum tr_tk kind, struct tr_pos s, const char *p, size_t n) {
    struct tr_tok *k;
    int rc = push(l, kind, s, &k);
    if (rc) return rc;
    k->sval = tr_str_new(p, n);
    if (!k->sval) return -ENOMEM;
    return 0;
}

/* --- positions and slices of the source (0.11's Location and Lexer::slice_*) --- */

static size_t clamp(const struct lx *l, uint32_t off) { return off < l->len ? off : l->len; }

/* The text from s to the end of its line. */
static char *line_from(const struct lx *l, struct tr_pos s) {
    size_t b = clamp(l, s.off), e = b;
    while (e < l->len && l->src[e] != '\n') e++;
    return tr_strndup(l->src + b, e - b);
}

/* The text from s to the end of the line e is on (whole lines after s's). */
static char *full_lines(const struct lx *l, struct tr_pos s, struct tr_pos e) {
    uint32_t take = (e.line > s.line ? e.line - s.line : 0) + 1;
    size_t b = clamp(l, s.off), i = b;
    for (; i < l->len; i++)
        if (l->src[i] == '\n' && --take == 0) break;
    return tr_strndup(l->src + b, i - b);
}

/* p moved one column: 0.11 marks the end of a bad character so. */
static struct tr_pos col1(struct tr_pos p) {
    p.col++;
    p.off++;
    return p;
}

/* p moved over the text t (newlines start lines). */
static struct tr_pos over_text(struct tr_pos p, const char *t) {
    for (; *t; t++) {
        unsigned char c = (unsigned char)*t;
        p.off++;
        if (c == '\n') {
            p.line++;
            p.col = 1;
        } else if ((c & 0xC0) != 0x80) {
            p.col++;
        }
    }
    return p;
}

static struct tr_span mkspan(struct tr_pos a, struct tr_pos b) {
    struct tr_span s = {a, b};
    return s;
}

/* Range::expand_lines(2): the lines shown around an error. */
static struct tr_span expand2(struct tr_span s) {
    s.s.line = s.s.line > 2 ? s.s.line - 2 : 0;
    s.e.line += 2;
    return s;
}

/* --- errors --- */

/* The message and hint of the error kind (0.11 errors.rs). */
static void describe(struct lx *l) {
    struct tr_lex_err *e = &l->out->err;
    e->hint[0] = 0;
    const char *m = NULL;
    switch (l->kind) {
    case LK_OTHER: return;
    case LK_EXTRACTOR: m = "It looks like you forgot to terminate an extractor with a closing '|'"; break;
    case LK_STRING: m = "It looks like you forgot to terminate a string with a closing '\"'"; break;
    case LK_HEREDOC: m = "It looks like you forgot to terminate a here doc with with a closing '\"\"\"'"; break;
    case LK_TAILING:
        m = "It looks like you have characters tailing the here doc opening, it needs to be followed by a newline";
        break;
    case LK_INTERP: m = "It looks like you forgot to terminate a string interpolation with a closing '}'"; break;
    case LK_EMPTY_INTERP: m = "You have an interpolation without content."; break;
    case LK_IDENT: m = "It looks like you forgot to terminate an ident with a closing '`'"; break;
    case LK_CHAR: snprintf(e->msg, sizeof e->msg, "An unexpected character '%s' was found", l->found); return;
    case LK_ESCAPE: snprintf(e->msg, sizeof e->msg, "An unexpected escape code '%s' was found", l->found); return;
    case LK_UTF8: m = "An invalid UTF8 escape sequence was found"; break;
    case LK_HEX: m = "An invalid hexadecimal"; break;
    case LK_INT: m = "An invalid integer literal"; break;
    case LK_FLOAT: m = "An invalid float literal"; break;
    case LK_EOS: m = "An unexpected end of stream was found"; break;
    }
    snprintf(e->msg, sizeof e->msg, "%s", m);
    if (l->kind == LK_INTERP || l->kind == LK_EMPTY_INTERP)
        snprintf(e->hint, sizeof e->hint, "Did you mean to write a literal '#{'? Escape it as '\\#{'.");
}

/* Remember the character at p (one UTF-8 sequence) for the message. */
static void found_at(struct lx *l, struct tr_pos p) {
    size_t o = clamp(l, p.off), n = 0;
    if (o < l->len) {
        unsigned char c = (unsigned char)l->src[o];
        n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (o + n > l->len) n = l->len - o;
    }
    memcpy(l->found, l->src + o, n);
    l->found[n] = 0;
}

/* Record a lexer error. tok is the unfinished token's text shown in place of
 * the tokens (taken; NULL when it could not be allocated: -ENOMEM). */
static int fail(struct lx *l, enum lexk kind, struct tr_span outer, struct tr_span inner, struct tr_pos tok_at,
                char *tok) {
    if (!tok) return -ENOMEM;
    struct tr_lex_err *e = &l->out->err;
    tr_free(e->token_text);
    e->set = 1;
    e->nopos = 0;
    e->inner = inner;
    e->outer = outer;
    e->token_text = tok;
    e->token_span = mkspan(tok_at, tok_at);
    l->kind = kind;
    describe(l);
    return TR_EPARSE;
}

/* 0.11's UnexpectedEndOfStream: an error without a place. */
static int fail_eos(struct lx *l) {
    struct tr_lex_err *e = &l->out->err;
    tr_free(e->token_text);
    memset(e, 0, sizeof *e);
    e->set = 1;
    e->nopos = 1;
    l->kind = LK_EOS;
    describe(l);
    return TR_EPARSE;
}

/* An error of our own bounds. */
static int fail_other(struct lx *l, struct tr_span inner, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_other(struct lx *l, struct tr_span inner, const char *fmt, ...) {
    struct tr_lex_err *e = &l->out->err;
    tr_free(e->token_text);
    memset(e, 0, sizeof *e);
    e->set = 1;
    e->inner = inner;
    e->outer = expand2(inner);
    l->kind = LK_OTHER;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return TR_EPARSE;
}

/* --- strings ---
 *
 * As 0.11's lexer (Lexer::qs_or_hd, qs, hd, handle_interpol): a string is
 * lexed whole, an interpolation "#{" by lexing ordinary tokens (strings in
 * them recursively) until the "}" that balances it. An error inside an
 * interpolation is restated for the enclosing string (intercept below), and
 * a failed string leaves none of its tokens. */

struct strx {
    struct tr_pos start; /* the opening quote(s) */
    int hd;              /* a here document */
    struct tr_buf b;     /* decoded text of the current part */
    struct tr_pos seg;   /* where the current part starts */
    struct tr_pos end;   /* where 0.11 ends an unterminated here document */
};

static int lex_one(struct lx *l);

/* Emit the pending text part, ending at e. */
static int flush(struct lx *l, struct strx *x, struct tr_pos e) {
    if (!x->b.len) return 0;
    struct tr_pos save = l->p;
    l->p = e;
    int rc = push_str(l, TK_STR, x->seg, x->b.data, x->b.len);
    l->p = save;
    tr_buf_reset(&x->b);
    return rc;
}

/* An escape sequence at the backslash (0.11 Lexer::escape_code). */
static int escape(struct lx *l, struct strx *x) {
    struct tr_pos bs = l->p;
    bump(l);
    if (l->p.off >= l->len) return fail_eos(l);
    struct tr_pos at = l->p;
    int e = peekc(l, 0);
    char ch = 0;
    switch (e) {
    case '\'': ch = '\''; break;
    case '"': ch = '"'; break;
    case '\\': ch = '\\'; break;
    case '/': ch = '/'; break;
    case 'b': ch = '\b'; break;
    case 'f': ch = '\f'; break;
    case 'n': ch = '\n'; break;
    case 'r': ch = '\r'; break;
    case 't': ch = '\t'; break;
    case '#': {
        /* an escaped hash is its own token so "#{" can be written literally */
        int rc = flush(l, x, bs);
        if (rc) return rc;
        bump(l);
        if ((rc = push(l, TK_ESC_HASH, bs, NULL))) return rc;
        x->seg = l->p;
        return 0;
    }
    case 'u': {
        bump(l);
        struct tr_pos last = at; /* the 'u', then each good digit */
        uint32_t cp = 0;
        for (int i = 0; i < 4; i++) {
            if (l->p.off >= l->len) {
                struct tr_pos e1 = col1(last);
                return fail(l, LK_UTF8, expand2(mkspan(bs, e1)), mkspan(bs, e1), bs, full_lines(l, x->start, e1));
            }
            struct tr_pos hp = l->p;
            int h = peekc(l, 0);
            bump(l);
            if (!is_hex(h)) {
                struct tr_pos e1 = col1(hp);
                return fail(l, LK_UTF8, expand2(mkspan(bs, e1)), mkspan(bs, e1), bs, full_lines(l, x->start, e1));
            }
            cp = cp * 16 + (uint32_t)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
            last = hp;
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            char *t = full_lines(l, x->start, last);
            struct tr_pos e1 = col1(last);
            return fail(l, LK_UTF8, expand2(mkspan(bs, e1)), mkspan(bs, e1), bs, t);
        }
        char u[3];
        size_t n;
        if (cp < 0x80) {
            u[0] = (char)cp;
            n = 1;
        } else if (cp < 0x800) {
            u[0] = (char)(0xC0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 63));
            n = 2;
        } else {
            u[0] = (char)(0xE0 | (cp >> 12));
            u[1] = (char)(0x80 | ((cp >> 6) & 63));
            u[2] = (char)(0x80 | (cp & 63));
            n = 3;
        }
        return tr_buf_append(&x->b, u, n);
    }
    default: {
        char *t = full_lines(l, x->start, at);
        found_at(l, at);
        struct tr_pos e1 = col1(at);
        return fail(l, LK_ESCAPE, expand2(mkspan(bs, e1)), mkspan(bs, e1), bs, t);
    }
    }
    bump(l);
    return tr_buf_putc(&x->b, ch);
}

/* An error from inside the interpolation at hash, restated for the string
 * around it (0.11 Lexer::intercept_heredoc_error): the unfinished token
 * becomes the string from its start, the context grows to its first line;
 * an unterminated here document inside a here document's interpolation and
 * an unterminated string inside a string's are reported as an unterminated
 * interpolation. Errors of other kinds pass unchanged. */
static int intercept(struct lx *l, struct strx *x, struct tr_pos hash) {
    struct tr_lex_err *e = &l->out->err;
    enum lexk k = l->kind;
    if (k != LK_EXTRACTOR && k != LK_IDENT && k != LK_INTERP && k != LK_ESCAPE && k != LK_UTF8 &&
        k != LK_HEREDOC && k != LK_TAILING && k != LK_STRING)
        return TR_EPARSE;
    char *tok = full_lines(l, x->start, e->inner.e);
    if (!tok) return -ENOMEM;
    struct tr_pos tend = over_text(x->start, tok);
    uint32_t up = e->outer.s.line > x->start.line ? e->outer.s.line - x->start.line : 0;
    struct tr_span grown = e->outer;
    grown.s.line -= up;
    grown.e.line += up;
    struct tr_span outer = grown, inner = e->inner;
    if (k == LK_HEREDOC || k == LK_TAILING) {
        if (x->hd) {
            k = LK_INTERP;
            inner = mkspan(x->start, tend);
            outer = inner;
            outer.e.line += 2;
        } else {
            k = LK_HEREDOC;
        }
    } else if (k == LK_STRING && !x->hd) {
        k = LK_INTERP;
        struct tr_pos he = hash;
        he.col += 2;
        he.off += 2;
        inner = mkspan(hash, he);
    }
    return fail(l, k, outer, inner, x->start, tok);
}

/* "#{" ... "}" inside a string, at the '#'. */
static int interp(struct lx *l, struct strx *x) {
    struct tr_pos hash = l->p;
    int rc = flush(l, x, hash);
    if (rc) return rc;
    bump(l);
    bump(l);
    if ((rc = push(l, TK_INTERP, hash, NULL))) return rc;
    struct tr_pos end = l->p;
    if (l->depth >= MAX_INTERP_DEPTH) return fail_other(l, mkspan(hash, end), "interpolation nested too deeply");
    l->depth++;
    int open = 0, first = 1;
    for (;;) {
        if (l->p.off >= l->len) {
            struct tr_span outer = mkspan(x->start, end);
            outer.e.line += 2;
            rc = fail(l, LK_INTERP, outer, mkspan(hash, end), x->start, full_lines(l, x->start, l->p));
            break;
        }
        size_t before = l->out->n;
        rc = lex_one(l);
        if (rc == TR_EPARSE) rc = intercept(l, x, hash);
        if (rc) break;
        int closed = 0;
        for (size_t i = before; i < l->out->n && !closed; i++) {
            int kind = l->out->v[i].kind;
            if (kind == TK_RBRACE && open == 0) {
                closed = 1;
            } else {
                if (kind == TK_RBRACE) open--;
                else if (kind == TK_LBRACE || kind == TK_INTERP) open++;
                first = 0;
            }
        }
        if (!closed) continue;
        if (first) {
            struct tr_span sp = mkspan(hash, l->p);
            rc = fail(l, LK_EMPTY_INTERP, mkspan(x->start, l->p), sp, hash, full_lines(l, x->start, l->p));
        }
        break;
    }
    l->depth--;
    x->seg = l->p;
    return rc;
}

/* A character of the string body that is neither its end nor a newline. */
static int body_char(struct lx *l, struct strx *x) {
    int c = peekc(l, 0);
    if (c == '\\') return escape(l, x);
    if (c == '#' && peekc(l, 1) == '{') return interp(l, x);
    size_t o = l->p.off;
    bump(l);
    x->end = l->p;
    return tr_buf_append(&x->b, l->src + o, l->p.off - o);
}

/* The body of a "..." string after its opening quote (0.11 Lexer::qs). */
static int quoted(struct lx *l, struct strx *x) {
    for (;;) {
        if (l->p.off >= l->len) {
            /* 0.11 reports a string cut by the end of the input so */
            char *t = line_from(l, x->start);
            struct tr_span sp = mkspan(x->start, t ? over_text(x->start, t) : x->start);
            return fail(l, LK_EXTRACTOR, expand2(sp), sp, x->start, t);
        }
        int c = peekc(l, 0), rc;
        if (c == '"') {
            if ((rc = flush(l, x, l->p))) return rc;
            struct tr_pos s = l->p;
            bump(l);
            return push(l, TK_DQUOTE, s, NULL);
        }
        if (c == '\n') {
            struct tr_span sp = mkspan(x->start, l->p);
            return fail(l, LK_STRING, expand2(sp), sp, x->start, line_from(l, x->start));
        }
        if ((rc = body_char(l, x))) return rc;
    }
}

/* The body of a here document after the newline that follows """ (0.11
 * Lexer::hd): every line is a part of its own. */
static int heredoc(struct lx *l, struct strx *x) {
    for (;;) {
        if (l->p.off >= l->len) {
            struct tr_span sp = mkspan(x->start, x->end);
            size_t b = clamp(l, x->start.off);
            return fail(l, LK_HEREDOC, expand2(sp), sp, x->start, tr_strndup(l->src + b, l->len - b));
        }
        int c = peekc(l, 0), rc;
        if (c == '"' && peekc(l, 1) == '"' && peekc(l, 2) == '"') {
            if ((rc = flush(l, x, l->p))) return rc;
            struct tr_pos s = l->p;
            bump(l);
            bump(l);
            bump(l);
            return push(l, TK_HEREDOC_END, s, NULL);
        }
        if (c == '\n') {
            bump(l);
            if ((rc = tr_buf_putc(&x->b, '\n')) || (rc = flush(l, x, l->p))) return rc;
            x->seg = x->end = l->p;
            continue;
        }
        if ((rc = body_char(l, x))) return rc;
    }
}

/* A string or here document at its first quote (0.11 Lexer::qs_or_hd). */
static int lex_quoted(struct lx *l, struct tr_pos start) {
    bump(l);
    if (l->p.off >= l->len) {
        struct tr_span sp = mkspan(start, start);
        return fail(l, LK_STRING, expand2(sp), sp, start, tr_strdup("\""));
    }
    struct strx x = {.start = start, .seg = l->p, .end = l->p};
    tr_buf_init(&x.b);
    int rc;
    if (peekc(l, 0) == '"') {
        struct tr_pos q2 = l->p;
        bump(l);
        if (peekc(l, 0) != '"') {
            /* "" is the empty string */
            struct tr_pos save = l->p;
            l->p = q2;
            rc = push(l, TK_DQUOTE, start, NULL);
            l->p = save;
            return rc ? rc : push(l, TK_DQUOTE, q2, NULL);
        }
        struct tr_pos q3 = l->p;
        bump(l);
        if (l->p.off >= l->len) {
            struct tr_span sp = mkspan(start, q3);
            return fail(l, LK_HEREDOC, expand2(sp), sp, start, line_from(l, start));
        }
        if (peekc(l, 0) != '\n') {
            struct tr_span sp = mkspan(start, l->p);
            return fail(l, LK_TAILING, expand2(sp), sp, start, line_from(l, start));
        }
        bump(l);
        if ((rc = push(l, TK_HEREDOC_START, start, NULL))) return rc;
        x.hd = 1;
        x.seg = l->p;
        x.end = q3;
        rc = heredoc(l, &x);
    } else {
        if ((rc = push(l, TK_DQUOTE, start, NULL))) return rc;
        rc = quoted(l, &x);
    }
    tr_buf_fini(&x.b);
    return rc;
}

/* --- numbers (0.11 Lexer::nm, nm_float, nm_hex) --- */

/* After a number 0.11 refuses what could start an identifier, '-' too. */
static int ident_after_number(int c) { return c >= 0 && (is_ident_start(c) || c == '-'); }

/* Digits (and '_' separators, dropped) into d; returns 0 or TR_ETOOBIG. */
static int take_digits(struct lx *l, struct tr_buf *d, int hex) {
    for (;;) {
        int c = peekc(l, 0);
        if (c != '_' && !(hex ? is_hex(c) : is_digit(c))) return 0;
        if (c != '_' && tr_buf_putc(d, (char)c)) return -ENOMEM;
        bump(l);
    }
}

static int number_error(struct lx *l, enum lexk k, struct tr_pos s, struct tr_pos e) {
    return fail(l, k, expand2(mkspan(s, e)), mkspan(s, e), s, line_from(l, s));
}

static int lex_float(struct lx *l, struct tr_pos s, struct tr_buf *d) {
    bump(l); /* the '.' */
    int rc = tr_buf_putc(d, '.');
    if (!rc) rc = take_digits(l, d, 0);
    if (rc) return rc;
    struct tr_pos end = l->p;
    if (peekc(l, 0) == 'e') {
        bump(l);
        if (l->p.off >= l->len) return number_error(l, LK_FLOAT, s, end);
        /* 0.11 takes the character after 'e' whatever it is, then a sign */
        size_t o = l->p.off;
        bump(l);
        if ((rc = tr_buf_putc(d, 'e')) || (rc = tr_buf_append(d, l->src + o, l->p.off - o))) return rc;
        if (peekc(l, 0) == '+' || peekc(l, 0) == '-') {
            if ((rc = tr_buf_putc(d, (char)peekc(l, 0)))) return rc;
            bump(l);
        }
        if ((rc = take_digits(l, d, 0))) return rc;
        end = l->p;
    } else if (ident_after_number(peekc(l, 0))) {
        found_at(l, l->p);
        return fail(l, LK_CHAR, expand2(mkspan(s, end)), mkspan(end, end), s, line_from(l, s));
    }
    /* Rust's f64 grammar: digits, '.', digits, then e, an optional sign, digits */
    const char *t = d->data;
    size_t i = t[0] == '-' ? 1 : 0;
    while (is_digit(t[i])) i++;
    i++;
    while (is_digit(t[i])) i++;
    if (t[i] == 'e') {
        i++;
        if (t[i] == '+' || t[i] == '-') i++;
        size_t ds = i;
        while (is_digit(t[i])) i++;
        if (i == ds) i = 0;
    }
    if (i == 0 || i != d->len) return number_error(l, LK_FLOAT, s, end);
    struct tr_tok *k;
    if ((rc = push(l, TK_FLOAT, s, &k))) return rc;
    k->fval = strtod(t, NULL);
    k->sval = tr_str_new(t, d->len);
    return k->sval ? 0 : -ENOMEM;
}

static int lex_hex(struct lx *l, struct tr_pos s, const struct tr_buf *d) {
    bump(l); /* the 'x' */
    if (l->p.off >= l->len) return fail_eos(l);
    /* 0.11 takes the character after "0x" whatever it is (a sign parses) */
    struct tr_buf h;
    tr_buf_init(&h);
    int c0 = peekc(l, 0);
    size_t o = l->p.off;
    bump(l);
    int rc = c0 == '_' ? 0 : tr_buf_append(&h, l->src + o, l->p.off - o);
    if (!rc) rc = take_digits(l, &h, 1);
    if (rc) goto out;
    struct tr_pos end = l->p;
    int neg = d->data[0] == '-';
    if (strcmp(d->data + neg, "0") != 0) {
        rc = number_error(l, LK_HEX, s, end);
        goto out;
    }
    if (ident_after_number(peekc(l, 0))) {
        found_at(l, l->p);
        rc = fail(l, LK_CHAR, expand2(mkspan(s, end)), mkspan(s, end), s, line_from(l, s));
        goto out;
    }
    /* i64::from_str_radix: an optional sign, then at least one hex digit */
    const char *t = h.data ? h.data : "";
    int sneg = t[0] == '-';
    size_t i = t[0] == '+' || t[0] == '-' ? 1 : 0;
    uint64_t v = 0;
    int ok = t[i] != 0;
    for (; t[i] && ok; i++) {
        if (!is_hex(t[i]) || v >> 59) {
            ok = 0;
            break;
        }
        v = v * 16 + (uint64_t)(t[i] <= '9' ? t[i] - '0' : (t[i] | 32) - 'a' + 10);
    }
    if (ok && v > (uint64_t)INT64_MAX + (uint64_t)sneg) ok = 0;
    int64_t val = 0;
    if (ok) {
        val = sneg ? (int64_t)(0 - v) : (int64_t)v;
        if (neg) {
            if (val == INT64_MIN) ok = 0;
            else val = -val;
        }
    }
    if (!ok) {
        rc = number_error(l, LK_HEX, s, end);
        goto out;
    }
    struct tr_tok *k;
    if (!(rc = push(l, TK_INT, s, &k))) k->ival = val;
out:
    tr_buf_fini(&h);
    return rc;
}

/* A number at its first digit or at the '-' before it. */
static int lex_number(struct lx *l, struct tr_pos s) {
    struct tr_buf d;
    tr_buf_init(&d);
    int rc = 0;
    if (peekc(l, 0) == '-') {
        rc = tr_buf_putc(&d, '-');
        bump(l);
    }
    if (!rc) rc = take_digits(l, &d, 0);
    if (rc) goto out;
    struct tr_pos end = l->p;
    int c = peekc(l, 0);
    if (c == '.') {
        rc = lex_float(l, s, &d);
    } else if (c == 'x') {
        rc = lex_hex(l, s, &d);
    } else if (ident_after_number(c)) {
        found_at(l, l->p);
        rc = fail(l, LK_CHAR, expand2(mkspan(s, end)), mkspan(l->p, l->p), s, line_from(l, s));
    } else {
        errno = 0;
        long long v = strtoll(d.data, NULL, 10);
        if (errno == ERANGE) {
            rc = number_error(l, LK_INT, s, end);
        } else {
            struct tr_tok *k;
            if (!(rc = push(l, TK_INT, s, &k))) k->ival = v;
        }
    }
out:
    tr_buf_fini(&d);
    return rc;
}

/* --- extractors --- */

/* An extractor pattern |...| (0.11 Lexer::pl): \| and \\ escape, a
 * backslash before a newline continues on the next line (common
 * indentation removed). */
static int lex_test(struct lx *l, struct tr_pos s) {
    bump(l);
    struct tr_buf lines[64];
    int nl = 0, rc = 0;
    tr_buf_init(&lines[0]);
    nl = 1;
    for (;;) {
        int c = peekc(l, 0);
        if (c < 0) {
            char *t = line_from(l, s);
            struct tr_span sp = mkspan(s, t ? over_text(s, t) : s);
            rc = fail(l, LK_EXTRACTOR, expand2(sp), sp, s, t);
            goto out;
        }
        if (c == '\n') {
            struct tr_span sp = mkspan(s, l->p);
            rc = fail(l, LK_EXTRACTOR, expand2(sp), sp, s, line_from(l, s));
            goto out;
        }
        if (c == '|') {
            bump(l);
            break;
        }
        if (c == '\\') {
            bump(l);
            int n = peekc(l, 0);
            if (n < 0) {
                rc = fail_eos(l);
                goto out;
            }
            if (n == '\\' || n == '|') {
                bump(l);
                if ((rc = tr_buf_putc(&lines[nl - 1], (char)n))) goto out;
                continue;
            }
            if (n == '\n') {
                bump(l);
                if (nl >= 64) {
                    rc = fail_other(l, mkspan(s, l->p), "extractor spans too many lines");
                    goto out;
                }
                tr_buf_init(&lines[nl++]);
                continue;
            }
            /* the token shown is the pattern so far with the bad escape */
            struct tr_buf t;
            tr_buf_init(&t);
            struct tr_pos at = l->p;
            found_at(l, at);
            const struct tr_buf *cur = &lines[nl - 1];
            if (tr_buf_putc(&t, '|') || tr_buf_append(&t, cur->data ? cur->data : "", cur->len) ||
                tr_buf_putc(&t, '\\') || tr_buf_append(&t, l->found, strlen(l->found))) {
                tr_buf_fini(&t);
                rc = -ENOMEM;
                goto out;
            }
            rc = fail(l, LK_ESCAPE, expand2(mkspan(at, at)), mkspan(at, at), s, tr_buf_steal(&t, NULL));
            goto out;
        }
        size_t o = l->p.off;
        bump(l);
        if ((rc = tr_buf_append(&lines[nl - 1], l->src + o, l->p.off - o))) goto out;
    }
    {
        size_t indent = (size_t)-1;
        for (int i = 1; i < nl; i++) {
            size_t k = 0;
            while (k < lines[i].len && (lines[i].data[k] == ' ' || lines[i].data[k] == '\t')) k++;
            if (k < lines[i].len && k < indent) indent = k;
        }
        if (indent == (size_t)-1) indent = 0;
        struct tr_buf all;
        tr_buf_init(&all);
        for (int i = 0; i < nl && !rc; i++) {
            size_t skip = i == 0 ? 0 : (indent < lines[i].len ? indent : lines[i].len);
            rc = tr_buf_append(&all, lines[i].data ? lines[i].data + skip : "", lines[i].len - skip);
        }
        if (!rc) rc = push_str(l, TK_TEST, s, all.data ? all.data : "", all.len);
        tr_buf_fini(&all);
    }
out:
    for (int i = 0; i < nl; i++) tr_buf_fini(&lines[i]);
    return rc;
}

/* --- main loop (0.11's Lexer::next) --- */

static int lex_one(struct lx *l) {
    struct tr_pos s = l->p;
    int c = peekc(l, 0);
    int c1 = peekc(l, 1);
    enum tr_tk k = TK_BAD;
    int n = 1;
    switch (c) {
    case ',': k = TK_COMMA; break;
    case '$': k = TK_DOLLAR; break;
    case '.': k = TK_DOT; break;
    case ';': k = TK_SEMI; break;
    case '+': k = TK_ADD; break;
    case '*': k = TK_MUL; break;
    case '\\': k = TK_BSLASH; break;
    case '(': k = TK_LPAREN; break;
    case ')': k = TK_RPAREN; break;
    case '[': k = TK_LBRACKET; break;
    case ']': k = TK_RBRACKET; break;
    case '/': k = TK_DIV; break;
    case '^': k = TK_BITXOR; break;
    case '&': k = TK_BITAND; break;
    case '{': k = TK_LBRACE; break;
    case '}': k = TK_RBRACE; break;
    case '_':
        /* `_` alone is the don't-care token; `_name` is an identifier */
        if (c1 >= 0 && is_ident_cont(c1)) goto ident;
        k = TK_DONTCARE;
        break;
    case ':':
        /* a run of colons: `:`, `::`, anything longer is a bad token */
        n = 1;
        while (peekc(l, (size_t)n) == ':') n++;
        k = n == 1 ? TK_COLON : n == 2 ? TK_COLONCOLON : TK_BAD;
        break;
    case '-':
        if (is_digit(c1)) return lex_number(l, s);
        k = TK_SUB;
        break;
    case '=':
        if (c1 == '>') { k = TK_EQARROW; n = 2; }
        else if (c1 == '=') { k = TK_EQEQ; n = 2; }
        else k = TK_EQ;
        break;
    case '<':
        if (c1 == '<') { k = TK_LSHIFT; n = 2; }
        else if (c1 == '=') { k = TK_LTE; n = 2; }
        else if (c1 >= 0) k = TK_LT;
        break;
    case '>':
        if (c1 == '>') {
            if (peekc(l, 2) == '>') { k = TK_RSHIFTU; n = 3; }
            else { k = TK_RSHIFT; n = 2; }
        } else if (c1 == '=') { k = TK_GTE; n = 2; }
        else if (c1 >= 0) k = TK_GT;
        break;
    case '%':
        if (c1 < 0) return fail_eos(l);
        if (c1 == '[') { k = TK_LPATBRACKET; n = 2; }
        else if (c1 == '(') { k = TK_LPATPAREN; n = 2; }
        else if (c1 == '{') { k = TK_LPATBRACE; n = 2; }
        else k = TK_PERCENT;
        break;
    case '~':
        if (c1 < 0) return fail_eos(l);
        if (c1 == '=') { k = TK_TILDEEQ; n = 2; }
        else k = TK_TILDE;
        break;
    case '!':
        if (c1 < 0) return fail_eos(l);
        if (c1 == '=') { k = TK_NOTEQ; n = 2; }
        else k = TK_BITNOT;
        break;
    case '\n':
        bump(l);
        return push(l, TK_NL, s, NULL);
    case '|': return lex_test(l, s);
    case '#': {
        if (l->len - s.off >= 9 && memcmp(l->src + s.off, "#!config ", 9) == 0) {
            for (int i = 0; i < 8; i++) bump(l);
            return push(l, TK_CONFIG, s, NULL);
        }
        size_t e = s.off;
        while (e < l->len && l->src[e] != '\n') e++;
        const char *txt = l->src + s.off;
        size_t tl = e - s.off;
        enum tr_tk ck = TK_COMMENT;
        size_t skip;
        if (tl >= 3 && memcmp(txt, "###", 3) == 0) { ck = TK_MOD_COMMENT; skip = 3; }
        else if (tl >= 2 && memcmp(txt, "##", 2) == 0) { ck = TK_DOC_COMMENT; skip = 2; }
        else { skip = 0; while (skip < tl && txt[skip] == '#') skip++; }
        while (l->p.off < e) bump(l);
        return push_str(l, ck, s, txt + skip, tl - skip);
    }
    case '`': {
        /* 0.11 Lexer::id2: a quoted identifier ends on its line */
        bump(l);
        size_t st = l->p.off;
        struct tr_pos last = s;
        while (peekc(l, 0) >= 0 && peekc(l, 0) != '`' && peekc(l, 0) != '\n') {
            last = l->p;
            bump(l);
        }
        if (peekc(l, 0) != '`') {
            struct tr_span sp = mkspan(s, peekc(l, 0) == '\n' ? l->p : last);
            char *t = tr_malloc(l->p.off - st + 2);
            if (t) {
                t[0] = '`';
                memcpy(t + 1, l->src + st, l->p.off - st);
                t[l->p.off - st + 1] = 0;
            }
            return fail(l, LK_IDENT, expand2(sp), sp, s, t);
        }
        size_t en = l->p.off;
        bump(l);
        struct tr_tok *t;
        int rc = push(l, TK_IDENT, s, &t);
        if (rc) return rc;
        t->quoted = 1;
        t->sval = tr_str_new(l->src + st, en - st);
        return t->sval ? 0 : -ENOMEM;
    }
    case '"': return lex_quoted(l, s);
    default:
        if (c >= 0 && is_digit(c)) return lex_number(l, s);
        if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
            while (peekc(l, 0) == ' ' || peekc(l, 0) == '\t' || peekc(l, 0) == '\r' ||
                   peekc(l, 0) == '\v' || peekc(l, 0) == '\f')
                bump(l);
            return push_str(l, TK_WS, s, l->src + s.off, l->p.off - s.off);
        }
        if (c >= 0 && is_ident_start(c)) goto ident;
        break;
    }
    for (int i = 0; i < n; i++) bump(l);
    if (k == TK_BAD) return push_str(l, TK_BAD, s, l->src + s.off, l->p.off - s.off);
    return push(l, k, s, NULL);
ident: {
        while (peekc(l, 0) >= 0 && is_ident_cont(peekc(l, 0))) bump(l);
        size_t nlen = l->p.off - s.off;
        enum tr_tk kw = tr_lex_keyword(l->src + s.off, nlen);
        if (kw != TK_IDENT) return push(l, kw, s, NULL);
        return push_str(l, TK_IDENT, s, l->src + s.off, nlen);
    }
}

int tr_lex_all(const char *src, size_t len, struct tr_toks *toks) {
    memset(toks, 0, sizeof *toks);
    struct lx l = {.src = src, .len = len, .out = toks};
    l.p.line = 1;
    l.p.col = 1;
    int rc = 0;
    if (len > TR_LEX_MAX_SRC) {
        struct tr_span in = {l.p, l.p};
        fail_other(&l, in, "source larger than %u bytes", TR_LEX_MAX_SRC);
        rc = TR_ETOOBIG;
    }
    while (!rc && l.p.off < len) {
        size_t before = toks->n;
        rc = lex_one(&l);
        /* like 0.11's tokenize_until_err: nothing of a token that failed,
         * a whole string with its interpolations included */
        if (rc == TR_EPARSE)
            while (toks->n > before) tr_str_unref(toks->v[--toks->n].sval);
    }
    if (rc == -ENOMEM) return rc;
    int rc2 = push(&l, TK_EOF, l.p, NULL);
    return rc ? rc : rc2;
}

void tr_lex_free(struct tr_toks *toks) {
    if (!toks) return;
    for (size_t i = 0; i < toks->n; i++) tr_str_unref(toks->v[i].sval);
    tr_free(toks->v);
    tr_free(toks->err.token_text);
    memset(toks, 0, sizeof *toks);
}

/* JSON-style escaping of string contents, as the renderer shows them. */
static int put_escaped(struct tr_buf *out, const char *p, size_t n) {
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)p[i];
        switch (c) {
        case '"': rc = tr_buf_append(out, "\\\"", 2); break;
        case '\\': rc = tr_buf_append(out, "\\\\", 2); break;
        case '\n': rc = tr_buf_append(out, "\\n", 2); break;
        case '\r': rc = tr_buf_append(out, "\\r", 2); break;
        case '\t': rc = tr_buf_append(out, "\\t", 2); break;
        case '\b': rc = tr_buf_append(out, "\\b", 2); break;
        case '\f': rc = tr_buf_append(out, "\\f", 2); break;
        default:
            if (c < 0x20) rc = tr_buf_printf(out, "\\u%04x", c);
            else rc = tr_buf_putc(out, (char)c);
        }
    }
    return rc;
}

int tr_lex_render(const struct tr_tok *t, const char *src, struct tr_buf *out) {
    switch (t->kind) {
    case TK_EOF: return 0;
    case TK_NL: return tr_buf_putc(out, '\n');
    case TK_WS:
    case TK_BAD: return tr_buf_append(out, t->sval->data, t->sval->len);
    case TK_IDENT:
        if (t->quoted) return tr_buf_printf(out, "`%s`", t->sval->data);
        return tr_buf_append(out, t->sval->data, t->sval->len);
    case TK_COMMENT: return tr_buf_printf(out, "# %s", t->sval->data);
    case TK_DOC_COMMENT: return tr_buf_printf(out, "## %s", t->sval->data);
    case TK_MOD_COMMENT: return tr_buf_printf(out, "### %s", t->sval->data);
    case TK_INT: return tr_buf_printf(out, "%lld", (long long)t->ival);
    case TK_FLOAT: return tr_buf_append(out, t->sval->data, t->sval->len);
    case TK_STR:
        /* a here document line ends in a raw newline */
        if (t->sval->len && t->sval->data[t->sval->len - 1] == '\n' && t->sp.e.line > t->sp.s.line) {
            int rc = put_escaped(out, t->sval->data, t->sval->len - 1);
            return rc ? rc : tr_buf_putc(out, '\n');
        }
        return put_escaped(out, t->sval->data, t->sval->len);
    case TK_TEST: {
        int rc = tr_buf_putc(out, '|');
        for (uint32_t i = 0; i < t->sval->len && !rc; i++) {
            char c = t->sval->data[i];
            if (c == '|' || c == '\\') rc = tr_buf_putc(out, '\\');
            if (!rc) rc = tr_buf_putc(out, c);
        }
        return rc ? rc : tr_buf_putc(out, '|');
    }
    case TK_TRUE: return tr_buf_append(out, "true", 4);
    case TK_FALSE: return tr_buf_append(out, "false", 5);
    case TK_NULL: return tr_buf_append(out, "null", 4);
    default: break;
    }
    (void)src;
    const char *p = punct_name((enum tr_tk)t->kind);
    if (p) return tr_buf_append(out, p, strlen(p));
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (keywords[i].tk == t->kind) return tr_buf_append(out, keywords[i].kw, strlen(keywords[i].kw));
    return 0;
}
