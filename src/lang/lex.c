/* lex.c - tokeniser for tremor-script and trickle.
 *
 * One pass over the bytes with a small mode stack for strings: inside a
 * string "#{" opens an interpolation that is lexed as ordinary tokens until
 * its matching "}". Not a parser: keywords are recognised, nothing else about
 * the grammar is. Invariant: every token's span starts at the previous
 * token's end, so the error renderer can rebuild lines from tokens alone.
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

#define MAX_INTERP_DEPTH 64

struct lx {
    const char *src;
    size_t len;
    struct tr_pos p;       /* current position */
    struct tr_toks *out;
    int modes[MAX_INTERP_DEPTH]; /* brace depth of each open interpolation */
    struct tr_pos interp_at[MAX_INTERP_DEPTH]; /* where each "#{" starts */
    uint8_t interp_hd[MAX_INTERP_DEPTH];       /* it sits in a here document */
    int nmodes;
    /* the outermost string being lexed: its tokens are dropped on an error */
    int in_str;
    size_t str_tok;
    struct tr_pos str_pos;
    int str_err_ident;   /* the error inside it is an unterminated ident */
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

/* Text from s to the end of its line (for unfinished-token rendering). */
static char *line_from(const struct lx *l, struct tr_pos s) {
    size_t e = s.off;
    while (e < l->len && l->src[e] != '\n') e++;
    return tr_strndup(l->src + s.off, e - s.off);
}

static int lex_error(struct lx *l, struct tr_span inner, int outer_lines, const char *tok_text,
                     struct tr_span tok_span, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int lex_error(struct lx *l, struct tr_span inner, int outer_lines, const char *tok_text,
                     struct tr_span tok_span, const char *fmt, ...) {
    struct tr_lex_err *e = &l->out->err;
    e->set = 1;
    e->inner = inner;
    e->outer = inner;
    e->outer.s.line = inner.s.line > (uint32_t)outer_lines ? inner.s.line - (uint32_t)outer_lines : 0;
    e->outer.e.line = inner.e.line + (uint32_t)outer_lines;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (tok_text) {
        e->token_text = tr_strdup(tok_text);
        e->token_span = tok_span;
    }
    return TR_EPARSE;
}

static struct tr_span tr_lex_expand(struct tr_span s) {
    s.s.line = s.s.line > 2 ? s.s.line - 2 : 0;
    s.e.line += 2;
    return s;
}

/* --- strings --- */

/* Lex the body of a string after its opening quote (or after the "}" that
 * closes an interpolation). Emits TK_STR parts, TK_ESC_HASH, and either the
 * closing TK_DQUOTE or a TK_INTERP (then returns to token mode). */
static int lex_string_body(struct lx *l, struct tr_pos total_start, int hd) {
    struct tr_buf b;
    tr_buf_init(&b);
    struct tr_pos seg = l->p;
    int rc = 0;
    for (;;) {
        int c = peekc(l, 0);
        if (hd && c < 0) {
            struct tr_span in = {total_start, l->p};
            rc = lex_error(l, in, 2, NULL, in,
                           "It looks like you forgot to terminate a here doc with with a closing '\"\"\"'");
            goto out;
        }
        if (hd && c == '"' && peekc(l, 1) == '"' && peekc(l, 2) == '"') {
            if (b.len && (rc = push_str(l, TK_STR, seg, b.data, b.len))) goto out;
            struct tr_pos s = l->p;
            bump(l);
            bump(l);
            bump(l);
            rc = push(l, TK_HEREDOC_END, s, NULL);
            if (l->nmodes == 0) l->in_str = 0;
            goto out;
        }
        if (hd && c == '\n') {
            /* each line of a here document is its own token */
            bump(l);
            if ((rc = tr_buf_putc(&b, '\n'))) goto out;
            if ((rc = push_str(l, TK_STR, seg, b.data, b.len))) goto out;
            tr_buf_reset(&b);
            seg = l->p;
            continue;
        }
        if (hd && c == '"') {
            bump(l);
            if ((rc = tr_buf_putc(&b, '"'))) goto out;
            continue;
        }
        if (c < 0 || c == '\n') {
            char *t = line_from(l, total_start);
            struct tr_span in = {total_start, l->p};
            struct tr_pos te = total_start;
            te.col += (uint32_t)(t ? strlen(t) : 0);
            struct tr_span ts = {total_start, te};
            rc = lex_error(l, in, 2, t, ts,
                           "It looks like you forgot to terminate a string with a closing '\"'");
            tr_free(t);
            goto out;
        }
        if (c == '"') {
            if (b.len) {
                if ((rc = push_str(l, TK_STR, seg, b.data, b.len))) goto out;
            }
            struct tr_pos s = l->p;
            bump(l);
            rc = push(l, TK_DQUOTE, s, NULL);
            if (l->nmodes == 0) l->in_str = 0;
            goto out;
        }
        if (c == '#' && peekc(l, 1) == '{') {
            if (b.len) {
                if ((rc = push_str(l, TK_STR, seg, b.data, b.len))) goto out;
            }
            struct tr_pos s = l->p;
            bump(l);
            bump(l);
            if ((rc = push(l, TK_INTERP, s, NULL))) goto out;
            if (l->nmodes >= MAX_INTERP_DEPTH) {
                struct tr_span in = {s, l->p};
                rc = lex_error(l, in, 2, NULL, in, "interpolation nested too deeply");
                goto out;
            }
            l->interp_at[l->nmodes] = s;
            l->interp_hd[l->nmodes] = (uint8_t)hd;
            l->modes[l->nmodes++] = 0;
            goto out;
        }
        if (c == '\\') {
            struct tr_pos es = l->p;
            bump(l);
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
            case '#': ch = '#'; break;
            case 'u': {
                bump(l);
                uint32_t cp = 0;
                for (int i = 0; i < 4; i++) {
                    int h = peekc(l, 0);
                    if (!is_hex(h)) {
                        struct tr_span in = {es, l->p};
                        in.e.col++;
                        char *t = line_from(l, total_start);
                        rc = lex_error(l, in, 2, t, in, "An invalid UTF8 escape sequence was found");
                        tr_free(t);
                        goto out;
                    }
                    cp = cp * 16 + (uint32_t)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
                    bump(l);
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) {
                    struct tr_span in = {es, l->p};
                    char *t = line_from(l, total_start);
                    rc = lex_error(l, in, 2, t, in, "An invalid UTF8 escape sequence was found");
                    tr_free(t);
                    goto out;
                }
                char u[4];
                size_t n;
                if (cp < 0x80) { u[0] = (char)cp; n = 1; }
                else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 63)); n = 2; }
                else { u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 63)); u[2] = (char)(0x80 | (cp & 63)); n = 3; }
                if ((rc = tr_buf_append(&b, u, n))) goto out;
                continue;
            }
            default: {
                struct tr_span in = {l->p, l->p};
                in.e.col++;
                char *t = line_from(l, total_start);
                rc = lex_error(l, in, 2, t, in, "An unexpected escape code '%c' was found",
                               e < 0 ? ' ' : e);
                tr_free(t);
                goto out;
            }
            }
            if (ch == '#') {
                /* an escaped hash is its own token so "#{" can be written literally */
                if (b.len) {
                    struct tr_pos save = l->p;
                    l->p = es;
                    rc = push_str(l, TK_STR, seg, b.data, b.len);
                    l->p = save;
                    if (rc) goto out;
                    tr_buf_reset(&b);
                }
                bump(l);
                if ((rc = push(l, TK_ESC_HASH, es, NULL))) goto out;
                seg = l->p;
                continue;
            }
            bump(l);
            if ((rc = tr_buf_putc(&b, ch))) goto out;
            continue;
        }
        size_t o = l->p.off;
        bump(l);
        if ((rc = tr_buf_append(&b, l->src + o, l->p.off - o))) goto out;
    }
out:
    tr_buf_fini(&b);
    return rc;
}

/* --- numbers --- */

static int lex_number(struct lx *l, struct tr_pos s) {
    int neg = 0;
    if (peekc(l, 0) == '-') {
        neg = 1;
        bump(l);
    }
    char digits[128];
    size_t nd = 0;
    if (peekc(l, 0) == '0' && peekc(l, 1) == 'x') {
        bump(l);
        bump(l);
        uint64_t v = 0;
        int any = 0, over = 0;
        while (is_hex(peekc(l, 0)) || peekc(l, 0) == '_') {
            int h = peekc(l, 0);
            if (h != '_') {
                any = 1;
                if (v >> 60) over = 1;
                v = v * 16 + (uint64_t)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
            }
            bump(l);
        }
        if (!any || over || v > (uint64_t)INT64_MAX) {
            struct tr_span in = {s, l->p};
            char *t = line_from(l, s);
            int rc = lex_error(l, in, 2, t, in, "An invalid hexadecimal");
            tr_free(t);
            return rc;
        }
        struct tr_tok *k;
        int rc = push(l, TK_INT, s, &k);
        if (rc) return rc;
        k->ival = neg ? -(int64_t)v : (int64_t)v;
        return 0;
    }
    if (neg) digits[nd++] = '-';
    /* The literal's digits (without '_') go to a buffer as long as the
     * literal: a float is read by strtod from all of them, so any length
     * is correctly rounded. The bounded copy in digits serves integers,
     * which overflow long before it fills. */
    struct tr_buf fb;
    tr_buf_init(&fb);
    int frc = neg ? tr_buf_putc(&fb, '-') : 0;
    while (is_digit(peekc(l, 0)) || peekc(l, 0) == '_') {
        if (peekc(l, 0) != '_') {
            if (nd < sizeof digits - 8) digits[nd++] = (char)peekc(l, 0);
            if (!frc) frc = tr_buf_putc(&fb, (char)peekc(l, 0));
        }
        bump(l);
    }
    int is_float = 0;
    if (peekc(l, 0) == '.' && is_digit(peekc(l, 1))) {
        is_float = 1;
        if (!frc) frc = tr_buf_putc(&fb, '.');
        bump(l);
        while (is_digit(peekc(l, 0)) || peekc(l, 0) == '_') {
            if (peekc(l, 0) != '_' && !frc) frc = tr_buf_putc(&fb, (char)peekc(l, 0));
            bump(l);
        }
        if (peekc(l, 0) == 'e' || peekc(l, 0) == 'E') {
            if (!frc) frc = tr_buf_putc(&fb, 'e');
            bump(l);
            if (peekc(l, 0) == '+' || peekc(l, 0) == '-') {
                if (!frc) frc = tr_buf_putc(&fb, (char)peekc(l, 0));
                bump(l);
            }
            if (!is_digit(peekc(l, 0))) {
                tr_buf_fini(&fb);
                struct tr_span in = {s, l->p};
                char *t = line_from(l, s);
                int rc = lex_error(l, in, 2, t, in, "An invalid float literal");
                tr_free(t);
                return rc;
            }
            while (is_digit(peekc(l, 0))) {
                if (!frc) frc = tr_buf_putc(&fb, (char)peekc(l, 0));
                bump(l);
            }
        }
    }
    if (frc) {
        tr_buf_fini(&fb);
        return frc;
    }
    digits[nd] = 0;
    int c = peekc(l, 0);
    if (c >= 0 && is_ident_start(c)) {
        tr_buf_fini(&fb);
        struct tr_span in = {l->p, l->p};
        char *t = line_from(l, s);
        int rc = lex_error(l, in, 2, t, in, "An unexpected character '%c' was found", c);
        tr_free(t);
        return rc;
    }
    struct tr_tok *k;
    int rc = push(l, is_float ? TK_FLOAT : TK_INT, s, &k);
    if (!rc && is_float) k->fval = strtod(fb.data, NULL);
    tr_buf_fini(&fb);
    if (rc) return rc;
    if (is_float) {
        k->sval = tr_str_new(l->src + s.off, l->p.off - s.off);
        if (!k->sval) return -ENOMEM;
    } else {
        errno = 0;
        long long v = strtoll(digits, NULL, 10);
        if (errno == ERANGE) {
            l->out->n--;
            struct tr_span in = {s, l->p};
            char *t = line_from(l, s);
            rc = lex_error(l, in, 2, t, in, "An invalid integer literal");
            tr_free(t);
            return rc;
        }
        k->ival = v;
    }
    return 0;
}

/* An extractor pattern |...|: \| and \\ escape, a backslash before a
 * newline continues on the next line (common indentation removed). */
static int lex_test(struct lx *l, struct tr_pos s) {
    bump(l);
    struct tr_buf lines[64];
    int nl = 0, rc = 0;
    tr_buf_init(&lines[0]);
    nl = 1;
    for (;;) {
        int c = peekc(l, 0);
        if (c < 0 || c == '\n') {
            struct tr_span in = {s, l->p};
            char *t = line_from(l, s);
            rc = lex_error(l, in, 2, t, in, "It looks like you forgot to terminate an extractor with a closing '|'");
            tr_free(t);
            goto out;
        }
        if (c == '|') {
            bump(l);
            break;
        }
        if (c == '\\') {
            int n = peekc(l, 1);
            if (n == '\\' || n == '|') {
                bump(l);
                bump(l);
                if ((rc = tr_buf_putc(&lines[nl - 1], (char)n))) goto out;
                continue;
            }
            if (n == '\n') {
                bump(l);
                bump(l);
                if (nl >= 64) {
                    struct tr_span in = {s, l->p};
                    rc = lex_error(l, in, 2, NULL, in, "extractor spans too many lines");
                    goto out;
                }
                tr_buf_init(&lines[nl++]);
                continue;
            }
            struct tr_span in = {l->p, l->p};
            in.e.col += 2;
            char *t = line_from(l, s);
            rc = lex_error(l, in, 2, t, in, "An unexpected escape code '%c' was found", n < 0 ? ' ' : n);
            tr_free(t);
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

/* --- main loop --- */

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
    case '_':
        /* `_` alone is the don't-care token; `_name` is an identifier */
        if (c1 >= 0 && is_ident_cont(c1)) goto ident;
        k = TK_DONTCARE;
        break;
    case '{':
        k = TK_LBRACE;
        if (l->nmodes) l->modes[l->nmodes - 1]++;
        break;
    case '}':
        k = TK_RBRACE;
        if (l->nmodes) {
            if (l->modes[l->nmodes - 1] == 0) {
                int hd = l->interp_hd[l->nmodes - 1];
                l->nmodes--;
                bump(l);
                int rc = push(l, TK_RBRACE, s, NULL);
                if (rc) return rc;
                return lex_string_body(l, s, hd);
            }
            l->modes[l->nmodes - 1]--;
        }
        break;
    case ':':
        if (c1 == ':') {
            k = TK_COLONCOLON;
            n = 2;
            if (peekc(l, 2) == ':') {
                k = TK_BAD;
                n = 3;
            }
        } else {
            k = TK_COLON;
        }
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
        else k = TK_LT;
        break;
    case '>':
        if (c1 == '>') {
            if (peekc(l, 2) == '>') { k = TK_RSHIFTU; n = 3; }
            else { k = TK_RSHIFT; n = 2; }
        } else if (c1 == '=') { k = TK_GTE; n = 2; }
        else k = TK_GT;
        break;
    case '%':
        if (c1 == '[') { k = TK_LPATBRACKET; n = 2; }
        else if (c1 == '(') { k = TK_LPATPAREN; n = 2; }
        else if (c1 == '{') { k = TK_LPATBRACE; n = 2; }
        else k = TK_PERCENT;
        break;
    case '~':
        if (c1 == '=') { k = TK_TILDEEQ; n = 2; }
        else k = TK_TILDE;
        break;
    case '!':
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
        bump(l);
        size_t st = l->p.off;
        while (peekc(l, 0) >= 0 && peekc(l, 0) != '`' && peekc(l, 0) != '\n') bump(l);
        if (peekc(l, 0) != '`') {
            l->str_err_ident = 1;
            struct tr_span in = {s, l->p};
            char *t = line_from(l, s);
            int rc = lex_error(l, in, 2, t, in,
                               "It looks like you forgot to terminate an ident with a closing '`'");
            tr_free(t);
            return rc;
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
    case '"': {
        bump(l);
        if (peekc(l, 0) == '"' && peekc(l, 1) == '"') {
            bump(l);
            bump(l);
            if (peekc(l, 0) != '\n') {
                struct tr_pos e = l->p;
                while (peekc(l, 0) >= 0 && peekc(l, 0) != '\n') bump(l);
                struct tr_span in = {s, l->p};
                (void)e;
                char *t = line_from(l, s);
                int rc = lex_error(l, in, 2, t, in,
                                   "It looks like you have characters tailing the here doc opening, it needs to be followed by a newline");
                tr_free(t);
                return rc;
            }
            bump(l);
            if (!l->in_str) {
                l->in_str = 1;
                l->str_tok = l->out->n;
                l->str_pos = s;
            }
            int rc = push(l, TK_HEREDOC_START, s, NULL);
            if (rc) return rc;
            return lex_string_body(l, s, 1);
        }
        if (!l->in_str) {
            l->in_str = 1;
            l->str_tok = l->out->n;
            l->str_pos = s;
        }
        int rc = push(l, TK_DQUOTE, s, NULL);
        if (rc) return rc;
        return lex_string_body(l, s, 0);
    }
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
    if (k == TK_BAD) {
        return push_str(l, TK_BAD, s, l->src + s.off, l->p.off - s.off);
    }
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
        lex_error(&l, in, 0, NULL, in, "source larger than %u bytes", TR_LEX_MAX_SRC);
        rc = TR_ETOOBIG;
    }
    while (!rc && l.p.off < len) rc = lex_one(&l);
    if (!rc && l.nmodes) {
        struct tr_span in = {l.p, l.p};
        rc = lex_error(&l, in, 2, NULL, in,
                       "It looks like you forgot to terminate a string interpolation with a closing '}'");
    }
    if (rc == TR_EPARSE && l.in_str) {
        /* An error inside a string drops the whole string's tokens; the
         * renderer shows its source text instead. Inside an interpolation
         * anything but a broken identifier means the "#{" was not closed. */
        for (size_t i = l.str_tok; i < toks->n; i++) tr_str_unref(toks->v[i].sval);
        toks->n = l.str_tok;
        struct tr_lex_err *e = &toks->err;
        tr_free(e->token_text);
        e->token_text = line_from(&l, l.str_pos);
        e->token_span.s = l.str_pos;
        e->token_span.e = l.str_pos;
        if (e->token_text) e->token_span.e.col += (uint32_t)strlen(e->token_text);
        if (l.nmodes && !l.str_err_ident) {
            struct tr_pos at = l.interp_at[l.nmodes - 1];
            struct tr_span in = {at, at};
            in.e.col += 2;
            in.e.off += 2;
            e->inner = in;
            e->outer = tr_lex_expand(in);
            snprintf(e->msg, sizeof e->msg,
                     "It looks like you forgot to terminate a string interpolation with a closing '}'");
            snprintf(e->hint, sizeof e->hint, "Did you mean to write a literal '#{'? Escape it as '\\#{'.");
        }
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
