/* check.c - load everything, deploy nothing, report every error of every
 * file, at most MAX_SHOWN per file (see check.h). */
#include "cli/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/hints.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "pipeline/world.h"

static const char *ext(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot ? dot : "";
}

void tr_cli_print_load_error(struct tr_world *w, const struct tr_diag *d, int rc) {
    char hint[4096], buf[1600];
    /* the advice first: it is what the reader needs, the rest is why */
    if (tr_hint_for(d, hint, sizeof hint)) {
        tr_diag_format(d, buf, sizeof buf);
        char *colon = strstr(buf, ": ");
        fprintf(stderr, "error: %.*s: %s", colon ? (int)(colon - buf) : 0, buf, hint);
    }
    /* the excerpt belongs to the last query load; a YAML error has none */
    const char *detail = w && !strcmp(ext(d->file), ".trickle") ? tr_world_error_detail(w) : NULL;
    if (detail) fputs(detail, stderr);
    if (d->msg[0]) {
        tr_diag_format(d, buf, sizeof buf);
        fprintf(stderr, "error: %s\n", buf);
    } else {
        fprintf(stderr, "error: %s\n", tr_strerror(rc));
    }
}

/* Errors shown per file; the rest are counted. */
#define MAX_SHOWN 100

struct item {
    struct tr_diag d;
    char *detail;
    size_t seq;
};

/* One file's errors, printed once its check is over: the first as found
 * (it is what `server run` reports), the others in file order. */
struct shown {
    int yaml;
    struct item v[MAX_SHOWN];
    size_t n, hidden;
};

static int collect(void *arg, const struct tr_diag *d, const char *detail) {
    struct shown *s = arg;
    if (s->n >= MAX_SHOWN) {
        s->hidden++;
        return 0;
    }
    struct item *it = &s->v[s->n];
    it->d = *d;
    it->detail = detail ? tr_strdup(detail) : NULL;
    it->seq = s->n++;
    return 0;
}

static int by_place(const void *pa, const void *pb) {
    const struct item *a = pa, *b = pb;
    if (a->d.line != b->d.line) return a->d.line < b->d.line ? -1 : 1;
    if (a->d.col != b->d.col) return a->d.col < b->d.col ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* The advice first where there is one (for YAML it concerns the whole
 * file: only with its first error), then the excerpt, then
 * file:line:col and the message. */
static void print_all(struct shown *s, const char *file) {
    char hint[4096], buf[1600];
    if (s->n > 2) qsort(s->v + 1, s->n - 1, sizeof s->v[0], by_place);
    for (size_t i = 0; i < s->n; i++) {
        const struct item *it = &s->v[i];
        if ((!s->yaml || i == 0) && tr_hint_for(&it->d, hint, sizeof hint)) {
            tr_diag_format(&it->d, buf, sizeof buf);
            char *colon = strstr(buf, ": ");
            fprintf(stderr, "error: %.*s: %s", colon ? (int)(colon - buf) : 0, buf, hint);
        }
        if (it->detail) fputs(it->detail, stderr);
        tr_diag_format(&it->d, buf, sizeof buf);
        fprintf(stderr, "error: %s\n", buf[0] ? buf : "unknown error");
        tr_free(it->detail);
    }
    if (s->hidden)
        fprintf(stderr, "error: %s: %zu more error%s not shown\n", file, s->hidden,
                s->hidden == 1 ? "" : "s");
}

static void report_ref(void *arg, const struct tr_diag *d) {
    (void)arg;
    char buf[1600];
    tr_diag_format(d, buf, sizeof buf);
    fprintf(stderr, "error: %s\n", buf);
}

int tr_cli_check_files(const char *const *files, size_t n, const char *instance) {
    size_t errors = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = ext(files[i]);
        if (strcmp(e, ".trickle") && strcmp(e, ".yaml") && strcmp(e, ".yml")) {
            fprintf(stderr, "error: %s: unsupported file type '%s' (expected .trickle, .yaml or .yml)\n",
                    files[i], e[0] ? e : "(none)");
            errors++;
        }
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    /* nothing is deployed, so no operator ever opens the data directory */
    struct tr_world_opts wo = {&loop, instance, "/nonexistent/tremor-check", NULL, NULL, NULL, 0};
    struct tr_world *w = NULL;
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_world_create(&wo, &w);
    if (rc) {
        tr_cli_print_load_error(NULL, &d, rc);
        uv_loop_close(&loop);
        return 1;
    }
    /* as server run: queries first, then YAML in argument order; every
     * error of a file is reported, and the next file is checked too */
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            const char *e = ext(files[i]);
            int q = !strcmp(e, ".trickle"), y = !strcmp(e, ".yaml") || !strcmp(e, ".yml");
            if ((pass == 0 && !q) || (pass == 1 && !y)) continue;
            static struct shown s;   /* large; one file at a time */
            memset(&s, 0, sizeof s);
            s.yaml = y;
            int truncated = 0;
            rc = q ? tr_world_check_query(w, files[i], collect, &s, &truncated)
                   : tr_world_check_config(w, files[i], collect, &s);
            print_all(&s, files[i]);
            if (truncated)
                fprintf(stderr, "error: %s: stopped looking for more errors (each costs a "
                        "recompile of the file, and the bound on them was reached)\n", files[i]);
            if (rc > 0) {
                errors++;
                total += (size_t)rc;
            }
        }
    /* what deploy would find missing, once everything is loaded */
    size_t refs = tr_world_check_refs(w, report_ref, NULL);
    tr_world_stop(w, 0, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    tr_world_destroy(w);
    uv_loop_close(&loop);
    if (errors || refs) {
        fprintf(stderr, "check: %zu of %zu file%s failed", errors, n, n == 1 ? "" : "s");
        if (total) fprintf(stderr, " (%zu error%s)", total, total == 1 ? "" : "s");
        if (refs) fprintf(stderr, ", %zu reference%s to nothing defined", refs, refs == 1 ? "" : "s");
        fputc('\n', stderr);
        return 1;
    }
    printf("check: %zu file%s OK (loaded and compiled; nothing deployed)\n", n, n == 1 ? "" : "s");
    return 0;
}

int tr_cli_check_cmd(int argc, char **argv, const struct tr_cli_globals *g) {
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    size_t n = 0;
    if (!files) return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) continue;
        if (!strcmp(argv[i], "--help")) {
            printf("usage: tremor check FILE...\n"
                   "  loads and compiles .trickle and .yaml/.yml files as `server run` would,\n"
                   "  deploys nothing, reports every error of every file (at most 100 per\n"
                   "  file shown); exit 1 if there was one\n");
            free(files);
            return 0;
        }
        files[n++] = argv[i];
    }
    if (!n) {
        fprintf(stderr, "usage: tremor check FILE...\n");
        free(files);
        return 1;
    }
    tr_log_set_level(g->verbose ? TR_LOG_DEBUG : TR_LOG_WARN);
    if (g->log_json) tr_log_set_format(TR_LOG_JSON);
    int code = tr_cli_check_files(files, n, g->instance);
    free(files);
    return code;
}
