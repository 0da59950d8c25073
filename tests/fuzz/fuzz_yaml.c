/* fuzz_yaml.c - the YAML config loader from a buffer (src/config).
 *
 * The input is loaded on top of a small valid config: success or a located
 * error, and a failed load must leave the config exactly as it was. The raw
 * YAML tree is also converted to a value, which must stay within the
 * documented limits.
 */
#include <errno.h>
#include <string.h>

#include "config/config.h"
#include "config/yaml.h"
#include "fuzz_util.h"

static const char base_yaml[] =
    "onramp:\n"
    "  - id: base-in\n"
    "    type: metronome\n"
    "    config:\n"
    "      interval: 1000\n"
    "binding:\n"
    "  - id: base\n"
    "    links:\n"
    "      '/onramp/base-in/{instance}/out': ['/pipeline/p/{instance}/in']\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void check_loaded(const struct tr_config *c) {
    for (size_t i = 0; i < c->nonramps; i++)
        if (!c->onramps[i].id || !c->onramps[i].loc.file) fuzz_fail("onramp %zu without id/location", i);
    for (size_t i = 0; i < c->nofframps; i++)
        if (!c->offramps[i].id || !c->offramps[i].loc.file) fuzz_fail("offramp %zu without id/location", i);
    for (size_t i = 0; i < c->nbindings; i++) {
        const struct tr_cfg_binding *b = &c->bindings[i];
        if (!b->id) fuzz_fail("binding %zu without id", i);
        for (size_t k = 0; k < b->nlinks; k++)
            if (!b->links[k].from) fuzz_fail("link without a source");
    }
    for (size_t i = 0; i < c->nmappings; i++)
        if (!c->mappings[i].binding_id || !c->mappings[i].instance) fuzz_fail("mapping %zu incomplete", i);
}

struct counted {
    size_t n;
};

static int count_err(void *arg, const struct tr_diag *e, const char *detail) {
    struct counted *c = arg;
    (void)detail;
    if (!e->msg[0] || strcmp(e->file, "fuzz.yaml")) fuzz_fail("error without a message or file");
    c->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct tr_config c;
    struct tr_diag d;
    tr_config_init(&c);
    tr_diag_clear(&d);
    if (tr_config_load_string(&c, "base.yaml", base_yaml, sizeof base_yaml - 1, &d))
        fuzz_fail("base config does not load: %s", d.msg);
    size_t non = c.nonramps, noff = c.nofframps, nb = c.nbindings, nm = c.nmappings, nf = c.nfiles;
    tr_diag_clear(&d);
    int rc = tr_config_load_string(&c, "fuzz.yaml", (const char *)data, size, &d);
    if (rc) {
        if (rc != TR_EPARSE && rc != TR_EINVAL_CFG && rc != TR_EDEPTH && rc != TR_ETOOBIG && rc != -ENOMEM)
            fuzz_fail("unexpected load error %d (%s)", rc, d.msg);
        if (!d.msg[0]) fuzz_fail("load error %d without a message", rc);
        if (c.nonramps != non || c.nofframps != noff || c.nbindings != nb || c.nmappings != nm ||
            c.nfiles != nf)
            fuzz_fail("a failed load changed the config");
    }
    check_loaded(&c);
    tr_config_fini(&c);

    /* tremor check's loader: every error located in the file, at least one
     * exactly when the plain load failed, and what it keeps is whole */
    tr_config_init(&c);
    if (tr_config_load_string(&c, "base.yaml", base_yaml, sizeof base_yaml - 1, &d))
        fuzz_fail("base config does not load: %s", d.msg);
    struct counted cnt = {0};
    int n = tr_config_check_string(&c, "fuzz.yaml", (const char *)data, size, count_err, &cnt);
    if (n < 0 || (size_t)n != cnt.n) fuzz_fail("check returned %d for %zu errors", n, cnt.n);
    if ((rc != 0) != (n > 0)) fuzz_fail("load says %d, check found %d errors", rc, n);
    check_loaded(&c);
    tr_config_fini(&c);

    struct tr_yaml_doc *doc = NULL;
    tr_diag_clear(&d);
    rc = tr_yaml_parse("fuzz.yaml", (const char *)data, size, &doc, &d);
    if (rc) {
        if (doc) fuzz_fail("failed parse returned a document");
        return 0;
    }
    if (tr_yaml_nodes(doc) > TR_YAML_MAX_NODES) fuzz_fail("%zu nodes over the limit", tr_yaml_nodes(doc));
    const struct tr_yaml_node *root = tr_yaml_root(doc);
    if (root) {
        tr_value v = tr_v_null();
        rc = tr_yaml_value(doc, root, &v, &d);
        if (rc && v.type != TR_NULL) fuzz_fail("failed conversion left a value");
        enum tr_type t = tr_yaml_type(root);
        int num = t == TR_I64 || t == TR_U64 || t == TR_F64;
        int vnum = v.type == TR_I64 || v.type == TR_U64 || v.type == TR_F64;
        /* an integer too large for int64 may come back as u64 or a float */
        if (!rc && (num ? !vnum : v.type != t)) fuzz_fail("value type %d, node says %d", v.type, t);
        tr_value_unref(v);
    }
    tr_yaml_free(doc);
    return 0;
}
