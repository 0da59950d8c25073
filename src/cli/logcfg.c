/* logcfg.c - read a log4rs YAML file with libyaml's document API and set
 * core/log from it (see logcfg.h). */
#include "cli/logcfg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "core/log.h"

static FILE *opened;

void tr_logcfg_close(void) {
    if (opened) {
        tr_log_set_stream(NULL);
        fclose(opened);
        opened = NULL;
    }
}

static const char *scalar(yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The value of key in mapping node m, or NULL. */
static yaml_node_t *get(yaml_document_t *doc, yaml_node_t *m, const char *key) {
    if (!m || m->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(doc, p->key));
        if (k && !strcmp(k, key)) return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static void note(char *out, size_t n, const char *fmt, ...) {
    size_t len = strlen(out);
    if (len + 1 >= n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + len, n - len, fmt, ap);
    va_end(ap);
}

/* mkdir -p of path's folder */
static void make_parent(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    char *slash = strrchr(tmp, '/');
    if (!slash || slash == tmp) return;
    *slash = 0;
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

static int is_ours(const char *target) {
    return !strcmp(target, "tremor") || !strncmp(target, "tremor_", 7) ||
           !strncmp(target, "tremor::", 8);
}

static int located(char *err, size_t n, const char *path, yaml_node_t *at, const char *fmt, ...) {
    int k = snprintf(err, n, "%s:%zu:%zu: ", path, at ? at->start_mark.line + 1 : 1,
                     at ? at->start_mark.column + 1 : 1);
    if (k < 0 || (size_t)k >= n) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + k, n - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

int tr_logcfg_apply(const char *path, char *notes, char *err, size_t n) {
    notes[0] = err[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, n, "%s: cannot read the logger config: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int ok = yaml_parser_load(&parser, &doc);
    fclose(f);
    if (!ok) {
        snprintf(err, n, "%s:%zu:%zu: logger config is not valid YAML: %s", path,
                 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "error");
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_parser_delete(&parser);
    int rc = -1;
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    if (!top || top->type != YAML_MAPPING_NODE) {
        located(err, n, path, top, "a logger config is a mapping with appenders and root");
        goto out;
    }
    char ignored[1024] = "";
    for (yaml_node_pair_t *p = top->data.mapping.pairs.start; p < top->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(&doc, p->key));
        if (k && strcmp(k, "appenders") && strcmp(k, "root") && strcmp(k, "loggers"))
            note(ignored, sizeof ignored, "%s%s", ignored[0] ? ", " : "", k);
    }
    /* level: root's, raised by loggers for our own targets */
    enum tr_log_level lvl = TR_LOG_ERROR;
    const char *level_from = "log4rs's default (debug)";
    yaml_node_t *root = get(&doc, top, "root");
    const char *rl = scalar(get(&doc, root, "level"));
    if (rl) {
        if (tr_log_level_parse(rl, &lvl)) {
            located(err, n, path, get(&doc, root, "level"), "unknown level '%s' (off, error, warn, info, debug, trace)", rl);
            goto out;
        }
        level_from = "root";
    } else {
        lvl = TR_LOG_DEBUG;
    }
    const char *appender = NULL;
    yaml_node_t *ra = get(&doc, root, "appenders");
    if (ra && ra->type == YAML_SEQUENCE_NODE && ra->data.sequence.items.top > ra->data.sequence.items.start)
        appender = scalar(yaml_document_get_node(&doc, *ra->data.sequence.items.start));
    yaml_node_t *loggers = get(&doc, top, "loggers");
    static char from[160];
    if (loggers && loggers->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = loggers->data.mapping.pairs.start; p < loggers->data.mapping.pairs.top; p++) {
            const char *k = scalar(yaml_document_get_node(&doc, p->key));
            yaml_node_t *v = yaml_document_get_node(&doc, p->value);
            if (!k) continue;
            if (!is_ours(k)) {
                note(ignored, sizeof ignored, "%sloggers.%s", ignored[0] ? ", " : "", k);
                continue;
            }
            const char *ll = scalar(get(&doc, v, "level"));
            enum tr_log_level l2;
            if (ll && tr_log_level_parse(ll, &l2)) {
                located(err, n, path, get(&doc, v, "level"), "unknown level '%s'", ll);
                goto out;
            }
            if (ll && l2 > lvl) {
                lvl = l2;
                snprintf(from, sizeof from, "loggers.%s", k);
                level_from = from;
            }
            yaml_node_t *la = get(&doc, v, "appenders");
            if (!appender && la && la->type == YAML_SEQUENCE_NODE &&
                la->data.sequence.items.top > la->data.sequence.items.start)
                appender = scalar(yaml_document_get_node(&doc, *la->data.sequence.items.start));
            if (get(&doc, v, "additive"))
                note(ignored, sizeof ignored, "%sloggers.%s.additive", ignored[0] ? ", " : "", k);
        }
    }
    yaml_node_t *apps = get(&doc, top, "appenders");
    yaml_node_t *app = appender ? get(&doc, apps, appender) : NULL;
    if (appender && !app) {
        located(err, n, path, ra ? ra : root, "appender '%s' is not defined under appenders", appender);
        goto out;
    }
    if (apps && apps->type == YAML_MAPPING_NODE)
        for (yaml_node_pair_t *p = apps->data.mapping.pairs.start; p < apps->data.mapping.pairs.top; p++) {
            const char *k = scalar(yaml_document_get_node(&doc, p->key));
            if (k && (!appender || strcmp(k, appender)))
                note(ignored, sizeof ignored, "%sappenders.%s (one appender is used)", ignored[0] ? ", " : "", k);
        }
    FILE *out = stderr;
    const char *kind = app ? scalar(get(&doc, app, "kind")) : NULL;
    char where[512] = "stderr (no appender)";
    if (app) {
        if (!kind) {
            located(err, n, path, app, "appender '%s' has no kind", appender);
            goto out;
        }
        if (!strcmp(kind, "console")) {
            const char *t = scalar(get(&doc, app, "target"));
            out = t && !strcmp(t, "stderr") ? stderr : stdout;
            snprintf(where, sizeof where, "'%s' (console, %s)", appender, out == stdout ? "stdout" : "stderr");
        } else if (!strcmp(kind, "file") || !strcmp(kind, "rolling_file")) {
            const char *fp = scalar(get(&doc, app, "path"));
            if (!fp) {
                located(err, n, path, app, "appender '%s' (%s) has no path", appender, kind);
                goto out;
            }
            make_parent(fp);
            out = fopen(fp, "a");
            if (!out) {
                located(err, n, path, get(&doc, app, "path"), "cannot open log file %s: %s", fp, strerror(errno));
                goto out;
            }
            snprintf(where, sizeof where, "'%s' (%s %s)", appender, kind, fp);
            if (!strcmp(kind, "rolling_file"))
                note(ignored, sizeof ignored, "%sappenders.%s.policy (never rolled)", ignored[0] ? ", " : "", appender);
        } else {
            located(err, n, path, get(&doc, app, "kind"), "appender kind '%s' is not supported (console, file, rolling_file)", kind);
            goto out;
        }
        if (get(&doc, app, "filters"))
            note(ignored, sizeof ignored, "%sappenders.%s.filters", ignored[0] ? ", " : "", appender);
    }
    yaml_node_t *enc = app ? get(&doc, app, "encoder") : NULL;
    const char *pat = scalar(get(&doc, enc, "pattern"));
    const char *ekind = scalar(get(&doc, enc, "kind"));
    char pnote[256] = "";
    int json = ekind && !strcmp(ekind, "json");
    if (pat && !json && tr_log_set_pattern(pat, pnote, sizeof pnote)) {
        located(err, n, path, get(&doc, enc, "pattern"), "unbalanced braces in pattern '%s'", pat);
        if (out != stdout && out != stderr) fclose(out);
        goto out;
    }
    if (json) tr_log_set_format(TR_LOG_JSON);
    if (out != stdout && out != stderr) opened = out;
    tr_log_set_stream(out);
    tr_log_set_level(lvl);
    static const char *lname[] = {"error", "warn", "info", "debug", "trace"};
    note(notes, n, "level %s (from %s), appender %s, %s", lname[lvl], level_from, where,
         json ? "JSON lines" : pat ? "its pattern" : "the default layout");
    if (pnote[0]) note(notes, n, "; pattern: %s", pnote);
    if (ignored[0]) note(notes, n, "; ignored: %s", ignored);
    rc = 0;
out:
    yaml_document_delete(&doc);
    return rc;
}
