/* lex.h - the tremor-script / trickle lexer.
 *
 * Turns source text into an array of tokens with 1-based line/column spans
 * (columns count characters, end positions are exclusive). Whitespace,
 * newlines and comments are kept as tokens because the error renderer
 * rebuilds source lines from them; the parser skips them. It does not know
 * the grammar. Invariant: token i+1 starts where token i ended, so the
 * token array covers the source up to the first lexer error.
 */
#ifndef TR_LEX_H
#define TR_LEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/value.h"

enum tr_tk {
    TK_EOF = 0,
    TK_WS, TK_NL, TK_COMMENT, TK_DOC_COMMENT, TK_MOD_COMMENT,
    TK_IDENT,        /* text in sval; quoted (`x`) when flag set */
    TK_INT, TK_FLOAT,
    TK_DQUOTE,       /* opening or closing " */
    TK_STR,          /* a literal part of a string, decoded in sval */
    TK_INTERP,       /* #{ inside a string */
    TK_HEREDOC_START, /* """ and its newline */
    TK_HEREDOC_END,   /* closing """ */
    TK_TEST,          /* |...| extractor pattern, decoded in sval */
    TK_ESC_HASH,     /* \# inside a string */
    TK_CONFIG,       /* #!config */
    /* keywords */
    TK_LET, TK_CONST, TK_MATCH, TK_OF, TK_END, TK_CASE, TK_WHEN, TK_DEFAULT,
    TK_FOR, TK_NULL, TK_TRUE, TK_FALSE, TK_AND, TK_OR, TK_XOR, TK_NOT,
    TK_DROP, TK_EMIT, TK_PATCH, TK_INSERT, TK_UPSERT, TK_UPDATE, TK_ERASE,
    TK_MOVE, TK_COPY, TK_MERGE, TK_EVENT, TK_STATE, TK_PRESENT, TK_ABSENT,
    TK_FN, TK_INTRINSIC, TK_MOD, TK_SELECT, TK_FROM, TK_WHERE, TK_WITH,
    TK_GROUP, TK_BY, TK_HAVING, TK_INTO, TK_CREATE, TK_TUMBLING, TK_SLIDING,
    TK_WINDOW, TK_STREAM, TK_OPERATOR, TK_SCRIPT, TK_SET, TK_EACH,
    TK_DEFINE, TK_ARGS, TK_USE, TK_AS, TK_RECUR,
    /* punctuation */
    TK_BSLASH, TK_COLON, TK_COLONCOLON, TK_COMMA, TK_DOT, TK_DOLLAR,
    TK_BITNOT, TK_DONTCARE, TK_EQARROW, TK_SEMI, TK_LPATPAREN, TK_LPAREN,
    TK_RPAREN, TK_LPATBRACE, TK_LBRACE, TK_RBRACE, TK_LBRACKET, TK_LPATBRACKET,
    TK_RBRACKET, TK_BITAND, TK_BITXOR, TK_EQ, TK_EQEQ, TK_NOTEQ, TK_TILDEEQ,
    TK_TILDE, TK_GTE, TK_GT, TK_LTE, TK_LT, TK_RSHIFT, TK_RSHIFTU, TK_LSHIFT,
    TK_MUL, TK_DIV, TK_ADD, TK_SUB, TK_PERCENT,
    TK_BAD,          /* a character the language does not know */
    TK__COUNT
};

struct tr_pos {
    uint32_t line, col;  /* 1-based; col counts characters */
    uint32_t off;        /* byte offset */
};

struct tr_span {
    struct tr_pos s, e;  /* e is exclusive */
};

struct tr_tok {
    uint16_t kind;
    uint16_t quoted;     /* TK_IDENT written as `name` */
    struct tr_span sp;
    int64_t ival;        /* TK_INT */
    double fval;         /* TK_FLOAT */
    struct tr_str *sval; /* TK_IDENT, TK_STR, comments (owned) */
};

/* A lexer error: where, what, and the unfinished text the renderer shows
 * instead of tokens for the bad part (as 0.11's lexer errors carry it).
 * nopos: an error without a place (0.11's "unexpected end of stream"). */
struct tr_lex_err {
    int set;
    int nopos;
    struct tr_span inner, outer;
    char msg[256];
    char hint[128];
    char *token_text;          /* owned, may be NULL */
    struct tr_span token_span;
};

struct tr_toks {
    struct tr_tok *v;
    size_t n, cap;
    struct tr_lex_err err;
};

/* Tokenise src (len bytes). Always fills toks with the tokens before the
 * first error and a final TK_EOF. Returns 0, TR_EPARSE with toks->err set,
 * TR_ETOOBIG when src exceeds the size bound, or -ENOMEM. */
int tr_lex_all(const char *src, size_t len, struct tr_toks *toks);
void tr_lex_free(struct tr_toks *toks);

/* Append how the renderer prints tok (comments as "# text", strings
 * re-escaped, numbers as values). */
struct tr_buf;
int tr_lex_render(const struct tr_tok *tok, const char *src, struct tr_buf *out);
/* Keyword for an identifier text, or TK_IDENT. */
enum tr_tk tr_lex_keyword(const char *s, size_t n);

/* Largest source accepted (bytes). */
#define TR_LEX_MAX_SRC (64u << 20)

#endif
