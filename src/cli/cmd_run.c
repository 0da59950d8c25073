/* cmd_run.c - `tremor run FILE.tremor|FILE.trickle [-i IN] [-o OUT]`.
 *
 * Reads one JSON document per line (stdin or -i), runs each through the
 * script (state kept across events) or the query's pipeline, and writes
 * every emitted value as one JSON line (stdout or -o), as Tremor 0.11's
 * `tremor run` does. Compile errors are rendered and exit 1; runtime errors
 * are rendered on stderr and the next event goes on. Only argument handling
 * and the read/print loop live here; the language and pipeline do the work.
 */
#include "cli/cmd_run.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "codec/json.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/file.h"
#include "core/log.h"
#include "lang/lang.h"
#include "lang/query.h"
#include "lang/script.h"
#include "pipeline/pipeline.h"

#define MAX_SOURCE (16u << 20)
#define MAX_LINE (64u << 20)

static void usage(FILE *f) {
    fprintf(f, "usage: tremor run FILE.tremor|FILE.trickle [-i INFILE] [-o OUTFILE]\n"
               "  reads one JSON document per line and writes each result as a JSON line\n");
}


static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void print_value(FILE *out, const tr_value *v) {
    struct tr_buf b;
    tr_buf_init(&b);
    if (tr_json_encode(v, &b) == 0) {
        fwrite(b.data ? b.data : "", 1, b.len, out);
        fputc('\n', out);
        fflush(out);
    }
    tr_buf_fini(&b);
}

/* Read the next line (without its newline) into b; 0 at EOF, 1 for a line. */
static int next_line(FILE *in, struct tr_buf *b, int *rc) {
    tr_buf_reset(b);
    int c, any = 0;
    while ((c = getc(in)) != EOF) {
        any = 1;
        if (c == '\n') break;
        if (b->len >= MAX_LINE) {
            *rc = TR_ETOOBIG;
            return 0;
        }
        if ((*rc = tr_buf_putc(b, (char)c))) return 0;
    }
    if (b->len && b->data[b->len - 1] == '\r') b->data[--b->len] = 0;
    return any;
}

struct out_ctx {
    FILE *out;
    struct tr_pipeline *p;
};

/* stdout is always ready and, like the stdout offramp, acknowledges what it
 * wrote, so operators that wait for acks (qos::wal) keep going. */
static void on_output(void *arg, struct tr_event *ev) {
    struct out_ctx *o = arg;
    print_value(o->out, &ev->value);
    if (ev->transactional && o->p) {
        struct tr_insight in = {.cb = TR_CB_ACK, .ids = ev->ids};
        tr_pipeline_contraflow(o->p, &in);
    }
    tr_event_fini(ev);
}

/* A scratch data directory for operators that keep state on disk: `tremor
 * run` is for trying things out and leaves nothing behind. */
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int run_script(const char *path, const char *src, size_t len, FILE *in, FILE *out) {
    struct tr_script *s = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    struct tr_buf b;
    tr_buf_init(&b);
    /* modules are looked up beside the script, then along TREMOR_PATH */
    struct tr_lang_opts opts;
    int rc = tr_lang_opts_from_env(&opts, path);
    if (!rc) rc = tr_lang_compile_script(src, len, &opts, &s, &err);
    tr_lang_opts_fini(&opts);
    if (rc) {
        if (err.set) tr_lang_err_render(&err, &b);
        else fprintf(stderr, "Error: %s\n", tr_strerror(rc));
        fputs(b.data ? b.data : "", stderr);
        tr_buf_fini(&b);
        tr_lang_err_clear(&err);
        return 1;
    }
    if (tr_script_warning_count(s)) {
        tr_script_render_warnings(s, &b);
        fputs(b.data ? b.data : "", stderr);
        tr_buf_reset(&b);
    }
    tr_value state = tr_v_null();
    int status = 0;
    size_t lineno = 0;
    while (next_line(in, &b, &rc)) {
        lineno++;
        if (b.len == 0) continue;
        tr_value ev, meta;
        struct tr_diag d;
        tr_diag_clear(&d);
        if (tr_json_decode(b.data, b.len, &ev, &d)) {
            fprintf(stderr, "error: input line %zu: %s\n", lineno, d.msg);
            status = 1;
            break;
        }
        if (tr_v_rec(0, &meta)) {
            tr_value_unref(ev);
            status = 1;
            break;
        }
        struct tr_lang_ctx ctx = {.instance = "tremor-script", .ingest_ns = now_ns()};
        enum tr_script_outcome oc;
        const char *port;
        rc = tr_script_run(s, &ctx, &ev, &meta, &state, &oc, &port, &d);
        if (rc) {
            struct tr_buf e;
            tr_buf_init(&e);
            tr_lang_render_in(src, len, path, tr_script_last_error(s), &e);
            fputs(e.data ? e.data : "", stderr);
            tr_buf_fini(&e);
        } else if (oc == TR_SCRIPT_EMIT) {
            int to_err = port && (!strcmp(port, "err") || !strcmp(port, "error") || !strcmp(port, "stderr"));
            print_value(to_err ? stderr : out, &ev);
        }
        tr_value_unref(ev);
        tr_value_unref(meta);
    }
    if (rc == TR_ETOOBIG || rc == -ENOMEM) {
        fprintf(stderr, "error: reading input: %s\n", tr_strerror(rc));
        status = 1;
    }
    tr_value_unref(state);
    tr_buf_fini(&b);
    tr_script_destroy(s);
    return status;
}

static int run_query(const char *path, const char *src, size_t len, FILE *in, FILE *out) {
    struct tr_query *q = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    struct tr_buf b;
    tr_buf_init(&b);
    /* modules are looked up beside the query, then along TREMOR_PATH */
    struct tr_lang_opts opts;
    int rc = tr_lang_opts_from_env(&opts, path);
    if (!rc) rc = tr_lang_compile_query(src, len, &opts, &q, &err);
    tr_lang_opts_fini(&opts);
    if (rc) {
        if (err.set) tr_lang_err_render(&err, &b);
        else fprintf(stderr, "Error: %s\n", tr_strerror(rc));
        fputs(b.data ? b.data : "", stderr);
        tr_buf_fini(&b);
        tr_lang_err_clear(&err);
        return 1;
    }
    if (tr_query_warning_count(q)) {
        tr_query_render_warnings(q, &b);
        fputs(b.data ? b.data : "", stderr);
        tr_buf_reset(&b);
    }
    struct tr_pipeline *p = NULL;
    char scratch[] = "/tmp/tremor-run-XXXXXX";
    if (!mkdtemp(scratch)) {
        fprintf(stderr, "Error: cannot create a scratch directory: %s\n", strerror(errno));
        tr_query_destroy(q);
        tr_buf_fini(&b);
        return 1;
    }
    struct tr_pipeline_opts o = {.id = "run", .file = path, .server_instance = "tremor",
                                 .data_dir = scratch};
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_pipeline_create(q, &o, &p, &d)) {
        char msg[1400];
        tr_diag_format(&d, msg, sizeof msg);
        fprintf(stderr, "Error: %s\n", msg);
        tr_buf_fini(&b);
        nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return 1;
    }
    struct out_ctx oc = {out, p};
    tr_pipeline_connect_output(p, TR_PORT_OUT, on_output, &oc);
    tr_pipeline_connect_output(p, TR_PORT_ERR, on_output, &oc);
    struct tr_insight ready = {.cb = TR_CB_RESTORE};
    tr_ids_init(&ready.ids, 0, 0, 0);
    tr_pipeline_contraflow(p, &ready);   /* the output is connected and ready */
    int status = 0;
    uint64_t id = 0;
    size_t lineno = 0;
    while (next_line(in, &b, &rc)) {
        lineno++;
        if (b.len == 0) continue;
        tr_value v;
        if (tr_json_decode(b.data, b.len, &v, &d)) {
            fprintf(stderr, "error: input line %zu: %s\n", lineno, d.msg);
            status = 1;
            break;
        }
        struct tr_event ev;
        if (tr_event_init(&ev, v, tr_v_null(), now_ns())) {
            status = 1;
            break;
        }
        tr_ids_init(&ev.ids, 0, 0, id++);
        tr_pipeline_push(p, TR_PORT_IN, &ev);
        if (id % 1024 == 0) tr_pipeline_flush(p);
    }
    tr_pipeline_flush(p);
    if (rc == TR_ETOOBIG || rc == -ENOMEM) {
        fprintf(stderr, "error: reading input: %s\n", tr_strerror(rc));
        status = 1;
    }
    tr_buf_fini(&b);
    tr_pipeline_destroy(p);
    nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int tr_cli_run(int argc, char **argv) {
    const char *file = NULL, *inpath = "-", *outpath = "-";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-i") && i + 1 < argc) inpath = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc) outpath = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "error: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 1;
        } else if (!file) file = argv[i];
        else {
            fprintf(stderr, "error: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 1;
        }
    }
    if (!file) {
        usage(stderr);
        return 1;
    }
    int query = ends_with(file, ".trickle");
    if (!query && !ends_with(file, ".tremor") && !ends_with(file, ".json")) {
        fprintf(stderr, "Error: unsupported file extension for '%s' (expected .tremor or .trickle)\n", file);
        return 1;
    }
    char *src;
    size_t len;
    int rc = tr_file_read(file, MAX_SOURCE, &src, &len);
    if (rc) {
        fprintf(stderr, "Error processing file %s: %s\n", file, tr_strerror(rc));
        return 1;
    }
    FILE *in = strcmp(inpath, "-") ? fopen(inpath, "rb") : stdin;
    if (!in) {
        fprintf(stderr, "Error: cannot open %s: %s\n", inpath, strerror(errno));
        tr_free(src);
        return 1;
    }
    FILE *out = strcmp(outpath, "-") ? fopen(outpath, "wb") : stdout;
    if (!out) {
        fprintf(stderr, "Error: cannot create %s: %s\n", outpath, strerror(errno));
        if (in != stdin) fclose(in);
        tr_free(src);
        return 1;
    }
    tr_log_set_level(TR_LOG_WARN);
    int status = query ? run_query(file, src, len, in, out) : run_script(file, src, len, in, out);
    if (in != stdin) fclose(in);
    if (out != stdout && fclose(out) != 0) status = 1;
    tr_free(src);
    return status;
}
