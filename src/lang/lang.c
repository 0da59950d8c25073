/* lang.c - compile options, the module path and self-rendering errors.
 *
 * The module path is built here and nowhere else: the compiled file's
 * folder, then TREMOR_PATH's folders in order, as Tremor resolves `use`.
 * This is not the compiler (compile.c) nor the renderer (errfmt.c); it
 * ties them together so callers never assemble diagnostics themselves.
 * Invariant: o->module_path == o->owned whenever o->owned is set.
 */
#include "lang/lang.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/compile_int.h"
#include "lang/query.h"
#include "lang/script.h"

void tr_lang_opts_init(struct tr_lang_opts *o) { memset(o, 0, sizeof *o); }

void tr_lang_opts_fini(struct tr_lang_opts *o) {
    if (!o) return;
    for (size_t i = 0; o->owned && i < o->n_module_path; i++) tr_free(o->owned[i]);
    tr_free(o->owned);
    tr_free(o->owned_file);
    memset(o, 0, sizeof *o);
}

int tr_lang_opts_add_path(struct tr_lang_opts *o, const char *dir, size_t len) {
    if (len == 0) return 0;
    if (len > TR_LANG_MAX_DIR_LEN || o->n_module_path >= TR_LANG_MAX_MODULE_DIRS) return TR_ETOOBIG;
    /* a caller-provided array cannot be grown: the builder owns its own */
    if (o->module_path && !o->owned) return -EINVAL;
    if (o->n_module_path == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4;
        char **v = tr_realloc(o->owned, cap * sizeof *v);
        if (!v) return -ENOMEM;
        o->owned = v;
        o->cap = cap;
        o->module_path = (const char *const *)v;
    }
    char *d = tr_strndup(dir, len);
    if (!d) return -ENOMEM;
    o->owned[o->n_module_path++] = d;
    return 0;
}

int tr_lang_opts_from_env(struct tr_lang_opts *o, const char *file) {
    tr_lang_opts_init(o);
    if (file) {
        o->owned_file = tr_strdup(file);
        if (!o->owned_file) return -ENOMEM;
        o->file = o->owned_file;
        const char *slash = strrchr(file, '/');
        int rc = slash ? tr_lang_opts_add_path(o, file, slash == file ? 1 : (size_t)(slash - file))
                       : tr_lang_opts_add_path(o, ".", 1);
        if (rc) return rc;
    }
    const char *env = getenv("TREMOR_PATH");
    while (env && *env) {
        const char *end = strchr(env, ':');
        size_t len = end ? (size_t)(end - env) : strlen(env);
        int rc = tr_lang_opts_add_path(o, env, len);
        if (rc) return rc;
        env = end ? end + 1 : NULL;
    }
    return 0;
}

int tr_lang_err_attach(struct tr_lang_err *e, const char *file, const char *src, size_t len) {
    char *s = tr_strndup(src ? src : "", src ? len : 0);
    char *f = file ? tr_strdup(file) : NULL;
    if (!s || (file && !f)) {
        tr_free(s);
        tr_free(f);
        return -ENOMEM;
    }
    tr_free(e->src);
    tr_free(e->file);
    e->src = s;
    e->len = src ? len : 0;
    e->file = f;
    return 0;
}

int tr_lang_err_render(const struct tr_lang_err *e, struct tr_buf *out) {
    if (!e->src) {
        const char *lvl = e->level == TR_LVL_WARNING ? "Warning" : "Error";
        return tr_buf_printf(out, "%s: %s%s%s\n", lvl, e->msg, e->hint[0] ? "\n" : "", e->hint);
    }
    if (!e->in_module) return tr_lang_render_in(e->src, e->len, NULL, e, out);
    /* Tremor shows only the offending lines of an included module */
    struct tr_lang_err m = *e;
    m.outer = e->inner;
    return tr_lang_render_in(e->src, e->len, e->file, &m, out);
}

/* On a compile failure make sure err can render itself: the compiler
 * already attached a module's source when the error is inside one. */
static int finish(int rc, const char *file, const char *src, size_t len, struct tr_lang_err *err) {
    if (rc && err->set && !err->src && tr_lang_err_attach(err, file, src, len)) return -ENOMEM;
    return rc;
}

int tr_lang_compile_script(const char *src, size_t len, const struct tr_lang_opts *opts,
                           struct tr_script **out, struct tr_lang_err *err) {
    const char *file = opts && opts->file ? opts->file : "<input>";
    return finish(tr_script_compile_opts(file, src, len, opts, out, err), file, src, len, err);
}

int tr_lang_compile_query(const char *src, size_t len, const struct tr_lang_opts *opts,
                          struct tr_query **out, struct tr_lang_err *err) {
    const char *file = opts && opts->file ? opts->file : "<input>";
    return finish(tr_query_compile_opts(file, src, len, opts, out, err), file, src, len, err);
}
