/* yaml.h - YAML text to a tree of located nodes (the only user of libyaml).
 *
 * Builds a read-only tree from libyaml's event stream in which every node
 * knows the 1-based line and column where it was written, so that the config
 * checker can point at the exact spot of a mistake. It knows nothing of
 * Tremor's schema (that is config.c). Invariants of a parsed tree: nesting
 * depth <= TR_YAML_MAX_DEPTH, at most TR_YAML_MAX_NODES nodes, every mapping
 * key is a scalar and unique within its mapping, every alias is resolved and
 * never recursive. An alias node is a copy of the anchored node's header with
 * the alias's own position; its text and children are shared, not copied.
 */
#ifndef TR_CONFIG_YAML_H
#define TR_CONFIG_YAML_H

#include <stddef.h>

#include "core/error.h"
#include "core/value.h"

#define TR_YAML_MAX_DEPTH 256       /* nested sequences/mappings */
#define TR_YAML_MAX_NODES 262144    /* scalars + collections + aliases */
#define TR_YAML_MAX_ANCHORS 65536

enum tr_yaml_kind { TR_YAML_SCALAR, TR_YAML_SEQ, TR_YAML_MAP };

struct tr_yaml_memo;   /* conversion cache shared by an anchor and its aliases */

struct tr_yaml_node {
    unsigned char kind;      /* enum tr_yaml_kind */
    unsigned char plain;     /* scalar written plain (unquoted, no !!str): its type is resolved */
    unsigned char cut;       /* collection closed early by an error (TR_YAML_KEEP_GOING) */
    int line, col;           /* 1-based start of this occurrence */
    const char *text;        /* scalar: len bytes, NUL-terminated */
    size_t len;
    struct tr_yaml_node **kids;  /* seq: n items; map: n pairs, kids[2i] key, kids[2i+1] value */
    size_t n;
    struct tr_yaml_memo *memo;   /* NULL unless the node carries an anchor */
};

struct tr_yaml_doc;   /* owns every node of one parsed stream */

/* Parse len bytes of YAML. The stream may hold no document (empty file,
 * only comments): then tr_yaml_root() is NULL. More than one document is
 * an error. Errors: TR_EPARSE (syntax, with libyaml's problem text), TR_EDEPTH,
 * TR_ETOOBIG, TR_EINVAL_CFG (duplicate key, non-scalar key, merge key, bad
 * alias, unsupported tag), -ENOMEM; d gets name:line:col. *out is NULL on failure. */
int tr_yaml_parse(const char *name, const char *text, size_t len,
                  struct tr_yaml_doc **out, struct tr_diag *d);
/* tremor check: with TR_YAML_KEEP_GOING each repeated key is reported to
 * report (and counted in *nerr) and dropped, and an error that ends the
 * stream (syntax, nesting, bad alias...) is reported, noting that the rest
 * is not checked; the tree read up to it is still returned in *out (its
 * open collections closed and marked cut) together with the error code.
 * Without the flag this is tr_yaml_parse. */
#define TR_YAML_KEEP_GOING 0x1u
int tr_yaml_parse_ex(const char *name, const char *text, size_t len, unsigned flags,
                     struct tr_yaml_doc **out, struct tr_diag *d, tr_diag_sink report, void *arg,
                     size_t *nerr);
const struct tr_yaml_node *tr_yaml_root(const struct tr_yaml_doc *doc);
/* Nodes in the document, alias nodes included (each counts once). */
size_t tr_yaml_nodes(const struct tr_yaml_doc *doc);
void tr_yaml_free(struct tr_yaml_doc *doc);   /* NULL is a no-op */

/* The type a scalar stands for under the YAML 1.2 core rules used by Tremor
 * (plain true/false, null/~/empty, decimal/0x/0o integers, floats with
 * .inf/.nan; anything quoted, block or tagged !!str is a string).
 * Collections give TR_ARR / TR_REC. Never allocates. */
enum tr_type tr_yaml_type(const struct tr_yaml_node *n);

/* Convert a node to a value (scalars as tr_yaml_type says; integers beyond
 * int64 become TR_U64 or a float; mapping keys are the keys' text). Values of
 * anchored nodes are built once and shared by every alias. Errors: TR_EDEPTH
 * when aliases nest deeper than TR_YAML_MAX_DEPTH, -ENOMEM. *out is TR_NULL
 * on failure. */
int tr_yaml_value(const struct tr_yaml_doc *doc, const struct tr_yaml_node *n,
                  tr_value *out, struct tr_diag *d);

/* "a mapping", "a sequence", "null", "a boolean", "an integer", "a float",
 * "a string": for "found ..." in messages. */
const char *tr_yaml_what(const struct tr_yaml_node *n);

#endif
