/* config.h - Tremor 0.11 YAML configuration files loaded into typed structs.
 *
 * A config file is one YAML mapping with the optional keys onramp, offramp,
 * binding and mapping (Tremor 0.11 src/config.rs). Several files load into one
 * struct tr_config, each appending its entries. Loading checks the shape and
 * types of everything and the cross-file rules (unique ids per kind, mappings
 * name a binding of this or an earlier file, link URLs well formed and in an
 * allowed direction); it does not check that a connector type exists or that
 * a pipeline is defined, which is for whoever deploys the config. As in
 * Tremor, a binding instance may be mapped again by a later file (deploying
 * it re-links). Every entry remembers file:line:col so later errors can point
 * back at the text. Invariant: a failed load leaves the config as it was.
 */
#ifndef TR_CONFIG_H
#define TR_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"

#define TR_CFG_MAX_FILE_BYTES (16u * 1024 * 1024)

struct tr_cmap_pos;   /* config/cmap.h */

/* A place in a config file; 1-based. file points into the owning config. */
struct tr_cfg_loc {
    const char *file;
    int line, col;
};

/* An onramp or offramp entry. Optional strings are NULL when not given. */
struct tr_cfg_artefact {
    char *id, *type, *description, *codec;
    char **preprocessors;
    size_t npre;                  /* names as given, in order */
    char **postprocessors;
    size_t npost;
    tr_value codec_map;           /* record: mime type -> codec name; TR_NULL when absent */
    tr_value config;              /* the `config:` mapping as a record; TR_NULL when absent */
    /* Where each key of config was written, in the record's order (a YAML
     * mapping has no duplicate keys, so record field i is mapping key i), so
     * a connector's config errors point at the key itself. NULL when absent. */
    struct tr_cmap_pos *config_keys;
    uint32_t nconfig_keys;
    int64_t metrics_interval_s;   /* -1 when not given */
    int linked;                   /* bool, default 0 */
    int err_required;             /* bool, default 0; onramps only */
    struct tr_cfg_loc loc;        /* the entry: its first key, right after "- " */
    int cut;                      /* tr_config_check_*: a YAML error ended the entry early */
};

/* One `links:` entry: a source URL and its target URLs, as written
 * (placeholders such as {instance} are left in). */
struct tr_cfg_link {
    char *from;
    char **to;
    size_t nto;
    struct tr_cfg_loc loc;        /* of the source URL */
    struct tr_cfg_loc *to_loc;    /* nto entries, of each target */
};

struct tr_cfg_binding {
    char *id, *description;       /* description NULL when not given */
    struct tr_cfg_link *links;    /* in file order */
    size_t nlinks;
    struct tr_cfg_loc loc;
};

/* One binding instance to deploy: `/binding/ID/INSTANCE: {name: value}`. */
struct tr_cfg_mapping {
    char *binding_url;            /* "/binding/ID/INSTANCE" as written */
    char *binding_id, *instance;  /* its parts */
    tr_value vars;                /* record: placeholder name -> string (scalars as written) */
    struct tr_cfg_loc loc;
};

struct tr_config {
    struct tr_cfg_artefact *onramps;
    size_t nonramps;
    struct tr_cfg_artefact *offramps;
    size_t nofframps;
    struct tr_cfg_binding *bindings;
    size_t nbindings;
    struct tr_cfg_mapping *mappings;   /* in load order: deploy them in this order */
    size_t nmappings;
    char **files;                      /* names of loaded files; loc.file points here */
    size_t nfiles;
    /* Set by a user that deploys mappings only after every file is loaded
     * (and reports an unknown binding itself then): a mapping may name a
     * binding of a later file, so files may be given in any order. */
    int mappings_any_order;
};

void tr_config_init(struct tr_config *c);
void tr_config_fini(struct tr_config *c);   /* frees everything; c is then empty */

/* Parse one YAML file and append its entries to c. An empty file or one that
 * holds only comments adds nothing and succeeds. Errors fill d with
 * path:line:col and what was found versus what was expected:
 *   TR_EPARSE      YAML syntax (libyaml's problem text)
 *   TR_EINVAL_CFG  wrong shape, type, key, URL, duplicate id, unknown binding
 *   TR_EDEPTH      YAML nesting deeper than 256 levels
 *   TR_ETOOBIG     file larger than TR_CFG_MAX_FILE_BYTES, more than 262144
 *                  YAML nodes, or aliases that multiply the checking work
 *   -errno         the file could not be read; -ENOMEM
 * On any error c is unchanged. */
int tr_config_load_file(struct tr_config *c, const char *path, struct tr_diag *d);

/* The same for text in memory; name is used for locations. */
int tr_config_load_string(struct tr_config *c, const char *name, const char *yaml, size_t len,
                          struct tr_diag *d);

/* tremor check: the same loads, but every error goes to report (located;
 * detail NULL) and loading goes on past errors in an entry's contents: a
 * bad key, type, value, URL or link, a duplicate id, a mapping to nothing.
 * A YAML syntax error is reported and ends the file, after what was read
 * before it has been checked. Bounds, nesting limits and -ENOMEM end it
 * too (reported). The entries that still have an id (and a type) are
 * added to c, so later references to them are not reported again.
 * Returns the number of errors reported. */
int tr_config_check_file(struct tr_config *c, const char *path, tr_diag_sink report, void *arg);
int tr_config_check_string(struct tr_config *c, const char *name, const char *yaml, size_t len,
                           tr_diag_sink report, void *arg);

/* Lookups by id; NULL when absent. Pointers are valid until the next load. */
const struct tr_cfg_artefact *tr_config_onramp(const struct tr_config *c, const char *id);
const struct tr_cfg_artefact *tr_config_offramp(const struct tr_config *c, const char *id);
const struct tr_cfg_binding *tr_config_binding(const struct tr_config *c, const char *id);

#endif
