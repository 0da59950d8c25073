/* ast.h - syntax tree of tremor-script and trickle (module-internal).
 *
 * One node type for every construct keeps the parser, the compile pass and
 * the evaluator small; which fields mean what is listed beside each kind.
 * Nodes live in an arena owned by the compiled script or query and are freed
 * at once. The compile pass annotates nodes in place (slots, resolved
 * functions, folded literals); after it the tree is what the evaluator runs.
 */
#ifndef TR_LANG_AST_H
#define TR_LANG_AST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/value.h"
#include "lang/lex.h"

struct tr_fn;

enum tr_nk {
    /* expressions */
    N_LIT,       /* lit */
    N_STRI,      /* interpolated string: v = parts (N_LIT strings or exprs) */
    N_REC,       /* v = N_FIELD */
    N_FIELD,     /* a = key expr, b = value expr */
    N_ARR,       /* v = items */
    N_PATH,      /* op = root (R_*), slot = local/const slot, v = segments, name = root name */
    N_UNARY,     /* op = U_*, a */
    N_BINARY,    /* op = B_*, a, b */
    N_PRESENT,   /* a = N_PATH */
    N_CALL,      /* fn, v = args, name = "mod::fn"; op 1 = recur, 2 = aggregate (slot = index),
                    3 = user function (c = its N_FN_DECL) */
    N_MATCH,     /* a = target, v = N_CASE */
    N_CASE,      /* a = pattern (P_*), b = guard or NULL, v = body exprs */
    N_PATCH,     /* a = target, v = N_POP */
    N_POP,       /* op = PO_*, a = key, b = value/to */
    N_MERGE,     /* a = target, b = value */
    N_LET,       /* a = N_PATH target, b = value */
    N_EMIT,      /* a = value (NULL: event), b = port expr or NULL */
    N_DROP,
    N_CONST,     /* const declaration: name, a = value, slot */
    N_FOR,       /* a = target, v = N_FOR_CASE; op = 1 for records */
    N_FOR_CASE,  /* slot = key slot, slot2 = value slot, b = guard, v = body */
    N_FN_DECL,   /* name, b = arg names (N_BLOCK of N_LIT with name), a = body (N_BLOCK);
                    op 1 = open (varargs), 2 = intrinsic (name2 = "module::fn");
                    compiled: slot = locals, slot2 = declared arguments */
    N_MOD,       /* name, v = declarations */
    N_USE,       /* name = "a::b" module path, name2 = alias; a = the loaded N_MOD once compiled */
    N_BLOCK,     /* v = exprs */
    N_BYTES,     /* binary literal `<< part, ... >>`: v = N_BYTES_PART */
    N_BYTES_PART,/* a = data, op = BT_*, slot = bits (0: a whole binary), slot2 = 1 little endian */
    /* patterns */
    P_DEFAULT,   /* `default` */
    P_ANY,       /* `_` */
    P_EXPR,      /* a = expr compared with == */
    P_REC,       /* v = PF_* */
    P_ARR,       /* v = PA_* */
    P_TUPLE,     /* v = PA_*, op = 1 when open (`...`) */
    P_ASSIGN,    /* slot = bind slot, a = inner pattern */
    P_EXTRACT,   /* ~ kind|pattern|: name = kind, name2 = pattern, ext once compiled */
    /* record pattern fields: name = key */
    PF_PRESENT, PF_ABSENT,
    PF_CMP,      /* op = B_*, a = expr */
    PF_REC,      /* a = P_REC */
    PF_ARR,      /* a = P_ARR */
    PF_TILDE,    /* key ~= kind|pattern|: name = key, name2 = kind, name3 = pattern,
                    name4 = the name the result is stored under */
    /* array pattern elements */
    PA_IGNORE, PA_EXPR /* a */, PA_REC /* a = P_REC */,
    PA_TILDE,    /* ~ kind|pattern|: name = kind, name2 = pattern */
    /* path segments */
    S_FIELD,     /* name */
    S_IDX,       /* a = index expr (a literal int once folded) */
    S_RANGE,     /* a = start, b = end */
    /* group by clauses */
    G_EXPR,      /* a */
    G_SET,       /* v = G_* */
    G_EACH,      /* a */
    /* query statements */
    Q_DEFINE_OP,     /* name = id, name2 = "module::op", v = with fields (N_FIELD, key literal) */
    Q_CREATE_OP,     /* name = id, name2 = target def, v = with fields */
    Q_DEFINE_SCRIPT, /* name, v = with fields, a = N_BLOCK script body */
    Q_CREATE_SCRIPT, /* name, name2 = target, v = with fields */
    Q_DEFINE_WINDOW, /* name, name2 = kind, v = with fields, a = script or NULL */
    Q_CREATE_STREAM, /* name */
    Q_SELECT,        /* a = target, b = where, c = having, d = group by, v = windows,
                        name/name2 = from node/port, name3/name4 = into node/port */
    N__COUNT
};

enum { BT_UNSIGNED, BT_SIGNED, BT_BINARY };
enum { R_EVENT, R_META, R_STATE, R_LOCAL, R_CONST, R_ARGS, R_GROUP, R_WINDOW };
enum { U_PLUS, U_MINUS, U_NOT, U_BITNOT };
enum {
    B_OR, B_XOR, B_AND, B_BITXOR, B_BITAND, B_EQ, B_NEQ, B_GTE, B_GT, B_LTE, B_LT,
    B_RSHIFT, B_RSHIFTU, B_LSHIFT, B_ADD, B_SUB, B_MUL, B_DIV, B_MOD,
};
enum { PO_INSERT, PO_UPSERT, PO_UPDATE, PO_ERASE, PO_MOVE, PO_COPY, PO_MERGE, PO_MERGE_ALL };

struct tr_node {
    uint8_t kind;
    uint8_t op;
    uint8_t flags;            /* NF_* */
    struct tr_span sp;        /* whole construct */
    struct tr_span sp2;       /* secondary span (e.g. a name inside a statement) */
    struct tr_node *a, *b, *c, *d;
    struct tr_node **v;
    uint32_t n;
    struct tr_str *name, *name2, *name3, *name4;  /* owned by the arena */
    struct tr_span nsp[4];    /* spans of name..name4 */
    tr_value lit;             /* owned by the arena */
    int32_t slot, slot2;
    const struct tr_fn *fn;
    struct tr_extractor *ext;     /* compiled tilde extractor (owned by the program) */
    /* S_FIELD: where the field was found last time (tr_rec_get_hinted); the
     * one field of a node written while running, relaxed: a program runs
     * on one thread at a time, and a stale hint only costs a scan */
    _Atomic uint32_t hint;
};

#define NF_CONST 1            /* subtree is a compile-time constant (lit holds the value) */
#define NF_QUOTED_KEY 2       /* field written as an identifier (tutorial spelling) */
#define NF_MOVE 4             /* merge/patch may consume a bare `event` target */

/* Arena: a bump allocator plus a list of values released at destroy. */
struct tr_arena;
struct tr_arena *tr_arena_create(void);
void tr_arena_destroy(struct tr_arena *a);
void *tr_arena_alloc(struct tr_arena *a, size_t n);
/* The arena takes one reference of v; returns 0 or -ENOMEM (v released). */
int tr_arena_keep(struct tr_arena *a, tr_value v);
int tr_arena_keep_str(struct tr_arena *a, struct tr_str *s);

struct tr_node *tr_node_new(struct tr_arena *a, enum tr_nk kind, struct tr_span sp);
/* Append child to n->v; -ENOMEM on failure. */
int tr_node_push(struct tr_arena *a, struct tr_node *n, struct tr_node *child);

#endif
