/* test_lang_api.c - the language's one compile entry (lang.h): the module
 * path built from the file and TREMOR_PATH, `use` inside `define script`
 * bodies searching it, and errors that render themselves. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "lang/lang.h"
#include "lang/query.h"
#include "lang/script.h"

static const char *const query_src = "define script s\n"
                                     "script\n"
                                     "  use utils;\n"
                                     "  emit utils::double(event)\n"
                                     "end;\n"
                                     "create script s;\n"
                                     "select event from in into s;\n"
                                     "select event from s into out;\n";

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void opts_from_env_puts_the_folder_first(void **state) {
    (void)state;
    struct tr_lang_opts o;
    setenv("TREMOR_PATH", "/x::/y:", 1);
    assert_int_equal(0, tr_lang_opts_from_env(&o, "a/b/q.trickle"));
    assert_int_equal(3, o.n_module_path);
    assert_string_equal("a/b", o.module_path[0]);
    assert_string_equal("/x", o.module_path[1]);
    assert_string_equal("/y", o.module_path[2]);
    assert_string_equal("a/b/q.trickle", o.file);
    tr_lang_opts_fini(&o);
    unsetenv("TREMOR_PATH");
    assert_int_equal(0, tr_lang_opts_from_env(&o, "q.trickle"));
    assert_int_equal(1, o.n_module_path);
    assert_string_equal(".", o.module_path[0]);
    tr_lang_opts_fini(&o);
    assert_int_equal(0, tr_lang_opts_from_env(&o, "/q.trickle"));
    assert_string_equal("/", o.module_path[0]);
    tr_lang_opts_fini(&o);
}

static void opts_bound_what_comes_from_outside(void **state) {
    (void)state;
    size_t n = TR_LANG_MAX_MODULE_DIRS + 2;
    char *env = tr_malloc(n * 3 + 1);
    assert_non_null(env);
    for (size_t i = 0; i < n; i++) memcpy(env + 3 * i, "/d:", 3);
    env[n * 3] = 0;
    setenv("TREMOR_PATH", env, 1);
    tr_free(env);
    struct tr_lang_opts o;
    assert_int_equal(TR_ETOOBIG, tr_lang_opts_from_env(&o, "q.trickle"));
    tr_lang_opts_fini(&o);
    unsetenv("TREMOR_PATH");
    tr_lang_opts_init(&o);
    static char big[TR_LANG_MAX_DIR_LEN + 2];
    memset(big, 'a', sizeof big - 1);
    assert_int_equal(TR_ETOOBIG, tr_lang_opts_add_path(&o, big, strlen(big)));
    assert_int_equal(0, o.n_module_path);
    tr_lang_opts_fini(&o);
}

/* Compile query_src from dir/q.trickle with the module path from the
 * environment and run its script node on 21. */
static void check_query_doubles(const char *qpath) {
    struct tr_lang_opts o;
    assert_int_equal(0, tr_lang_opts_from_env(&o, qpath));
    struct tr_query *q = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    int rc = tr_lang_compile_query(query_src, strlen(query_src), &o, &q, &err);
    tr_lang_opts_fini(&o);
    if (rc) {
        struct tr_buf b;
        tr_buf_init(&b);
        tr_lang_err_render(&err, &b);
        fail_msg("expected a compiled query, got %d:\n%s", rc, b.data ? b.data : "");
    }
    const struct tr_qnode *n = tr_query_node(q, 0);
    assert_int_equal(TR_QN_SCRIPT, n->kind);
    tr_value ev = tr_v_int(21), meta = tr_v_null(), st = tr_v_null();
    enum tr_script_outcome oc;
    const char *port;
    struct tr_diag d;
    tr_diag_clear(&d);
    struct tr_lang_ctx ctx = {.instance = "test"};
    assert_int_equal(0, tr_script_run(n->script, &ctx, &ev, &meta, &st, &oc, &port, &d));
    assert_int_equal(TR_SCRIPT_EMIT, oc);
    assert_int_equal(TR_I64, ev.type);
    assert_int_equal(42, ev.as.i);
    tr_value_unref(ev);
    tr_value_unref(meta);
    tr_value_unref(st);
    tr_query_destroy(q);
}

static void use_in_define_script_searches_the_module_path(void **state) {
    (void)state;
    char dir[] = "/tmp/tr-langapi-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char lib[64], mod[96], qpath[96], beside[96];
    snprintf(lib, sizeof lib, "%s/lib", dir);
    assert_int_equal(0, mkdir(lib, 0700));
    snprintf(mod, sizeof mod, "%s/utils.tremor", lib);
    write_file(mod, "fn double(x) with x * 2 end;\n");
    snprintf(qpath, sizeof qpath, "%s/q.trickle", dir);
    /* on TREMOR_PATH */
    setenv("TREMOR_PATH", lib, 1);
    check_query_doubles(qpath);
    unsetenv("TREMOR_PATH");
    /* beside the query */
    snprintf(beside, sizeof beside, "%s/utils.tremor", dir);
    write_file(beside, "fn double(x) with x + x end;\n");
    check_query_doubles(qpath);
    unlink(beside);
    unlink(mod);
    rmdir(lib);
    rmdir(dir);
}

static void compile_error_renders_itself(void **state) {
    (void)state;
    unsetenv("TREMOR_PATH");
    struct tr_lang_opts o;
    assert_int_equal(0, tr_lang_opts_from_env(&o, "/nonexistent-dir/q.trickle"));
    char *src = tr_strdup(query_src);
    assert_non_null(src);
    struct tr_query *q = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    assert_int_equal(TR_EINVAL_CFG, tr_lang_compile_query(src, strlen(src), &o, &q, &err));
    assert_null(q);
    tr_lang_opts_fini(&o);
    /* the error keeps its own copy of the source */
    memset(src, 'x', strlen(src));
    tr_free(src);
    struct tr_buf b;
    tr_buf_init(&b);
    assert_int_equal(0, tr_lang_err_render(&err, &b));
    /* 0.11's preprocessor points at the newline after the `use` line (as in
     * its query_errors/pp_mod_not_found case) */
    const char *want = "Error: \n"
                       "    1 | define script s\n"
                       "    2 | script\n"
                       "    3 |   use utils;\n"
                       "      |             ^ Module `utils` not found or not readable error in module path: \n"
                       "                         - /nonexistent-dir\n"
                       "    4 |   emit utils::double(event)\n";
    if (strncmp(b.data, want, strlen(want))) fail_msg("expected:\n%s\nactual:\n%s", want, b.data);
    tr_buf_fini(&b);
    tr_lang_err_clear(&err);
    assert_null(err.src);
}

/* Errors inside a module file point into that file: the error carries the
 * module's text and names it, as Tremor's "Error in <file>:<line>:<col>". */
static void module_error_renders_the_module_source(void **state) {
    (void)state;
    unsetenv("TREMOR_PATH");
    char dir[] = "/tmp/tr-langapi-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char mod[64], spath[64];
    snprintf(mod, sizeof mod, "%s/snot.tremor", dir);
    snprintf(spath, sizeof spath, "%s/s.tremor", dir);
    const char *src = "use snot;\n\nevent + snot\n";
    const struct {
        const char *module, *want;
    } cases[] = {
        {"fn badger() with\n  snot::badger::boo\nend\n",
         "Error in %s:2:3 \n"
         "    2 |   snot::badger::boo\n"
         "      |   ^^^^^^^^^^^^^^^^^ The constant snot::snot::badger::boo (absolute path) is not defined.\n"},
        {"const a = 1;\nconst = 2;\n", "Error in %s:2:7 \n    2 | const = 2;\n"},
        /* a module's own `use` lines are read by the preprocessor step, with
         * 0.11's texts (its pp_unrecognized_token and pp_mod_not_found) */
        {"use ;\nconst a = 1;\n",
         "Error in %s:1:5 \n    1 | use ;\n      |     ^ Found the token `;` but expected `<ident>`\n"},
        {"use nothere;\nconst a = 1;\n",
         "Error in %s:1:13 \n    1 | use nothere;\n      |             ^ Module `nothere` not found or not "
         "readable error in module path: \n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(mod, cases[i].module);
        struct tr_lang_opts o;
        assert_int_equal(0, tr_lang_opts_from_env(&o, spath));
        struct tr_script *s = NULL;
        struct tr_lang_err err;
        memset(&err, 0, sizeof err);
        assert_int_not_equal(0, tr_lang_compile_script(src, strlen(src), &o, &s, &err));
        tr_lang_opts_fini(&o);
        struct tr_buf b;
        tr_buf_init(&b);
        assert_int_equal(0, tr_lang_err_render(&err, &b));
        char want[512];
        snprintf(want, sizeof want, cases[i].want, mod);
        if (strncmp(b.data, want, strlen(want))) fail_msg("case %zu expected:\n%s\nactual:\n%s", i, want, b.data);
        tr_buf_fini(&b);
        tr_lang_err_clear(&err);
    }
    unlink(mod);
    rmdir(dir);
}

/* Modules that include each other twice per level: the preprocessor step
 * stops at its bound on module files instead of reading 2^13 of them. */
static void module_includes_are_bounded(void **state) {
    (void)state;
    unsetenv("TREMOR_PATH");
    char dir[] = "/tmp/tr-langapi-XXXXXX";
    assert_non_null(mkdtemp(dir));
    enum { LEVELS = 13 };
    char path[LEVELS][64], text[128];
    for (int i = 0; i < LEVELS; i++) {
        snprintf(path[i], sizeof path[i], "%s/m%d.tremor", dir, i);
        if (i + 1 < LEVELS) snprintf(text, sizeof text, "use m%d;\nuse m%d as x;\nconst a = 1;\n", i + 1, i + 1);
        else snprintf(text, sizeof text, "const a = 1;\n");
        write_file(path[i], text);
    }
    char spath[64];
    snprintf(spath, sizeof spath, "%s/s.tremor", dir);
    const char *src = "use m0;\nevent\n";
    struct tr_lang_opts o;
    assert_int_equal(0, tr_lang_opts_from_env(&o, spath));
    struct tr_script *s = NULL;
    struct tr_lang_err err;
    memset(&err, 0, sizeof err);
    assert_int_equal(TR_EINVAL_CFG, tr_lang_compile_script(src, strlen(src), &o, &s, &err));
    assert_null(s);
    assert_non_null(strstr(err.msg, "too many module files"));
    tr_lang_err_clear(&err);
    tr_lang_opts_fini(&o);
    for (int i = 0; i < LEVELS; i++) unlink(path[i]);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(opts_from_env_puts_the_folder_first),
        cmocka_unit_test(opts_bound_what_comes_from_outside),
        cmocka_unit_test(use_in_define_script_searches_the_module_path),
        cmocka_unit_test(compile_error_renders_itself),
        cmocka_unit_test(module_error_renders_the_module_source),
        cmocka_unit_test(module_includes_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
