/* state.c - the REST API's changes on disk (format and guarantees in
 * state.h).
 *
 * The state is five arrays of values (pipelines, onramps, offramps,
 * bindings, mappings). A change builds the one array it alters anew,
 * writes the whole file with it and only then swaps it in, so a failed
 * write leaves memory and disk as they were. The file is never patched in
 * place: the rename is the commit point.
 */
#include "api/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "codec/json.h"
#include "config/url.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/file.h"
#include "core/log.h"

enum { S_PIPELINE, S_ONRAMP, S_OFFRAMP, S_BINDING, S_MAPPING, S_N };
static const char *const slot_key[S_N] = {"pipeline", "onramp", "offramp", "binding", "mapping"};

#define MAGIC "tremor-c api state "
#define VERSION 1
/* "tremor-c api state 1 " + 10 digits + " " + 8 hex + "\n", with room */
#define MAX_HEADER 64
#define MAX_ID 255

struct tr_api_state {
    char *dir, *path, *tmp;
    tr_value list[S_N];   /* TR_ARR each */
};

static int slot_of(enum tr_world_kind k) {
    switch (k) {
    case TR_WORLD_ONRAMP: return S_ONRAMP;
    case TR_WORLD_OFFRAMP: return S_OFFRAMP;
    case TR_WORLD_PIPELINE: return S_PIPELINE;
    case TR_WORLD_BINDING: return S_BINDING;
    }
    return S_ONRAMP;
}

static int is_system(const char *id) {
    return strncmp(id, TR_WORLD_SYSTEM_PREFIX, strlen(TR_WORLD_SYSTEM_PREFIX)) == 0;
}

/* ---- format ---- */

static int corrupt(struct tr_diag *d, const char *name, int line, int col, const char *fmt,
                   const char *a, const char *b) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a, b);
    return tr_diag_set(d, TR_ECORRUPT, name, line, col, "%s", msg);
}

static int str_ok(const tr_value *v, size_t max) {
    return v && v->type == TR_STR && v->as.s->len > 0 && v->as.s->len <= max &&
           memchr(v->as.s->data, 0, v->as.s->len) == NULL;
}

/* One entry of slot i at index n: the shape state.h promises. */
static int check_entry(int slot, const tr_value *e, uint32_t n, const char *name,
                       struct tr_diag *d) {
    char where[64];
    snprintf(where, sizeof where, "%s[%u]", slot_key[slot], n);
    if (e->type != TR_REC) return corrupt(d, name, 0, 0, "%s: %s", where, "not a record");
    if (slot == S_MAPPING) {
        const tr_value *url = tr_rec_get_cstr(e, "url"), *vars = tr_rec_get_cstr(e, "vars");
        if (!str_ok(url, 1023) || strncmp(url->as.s->data, "/binding/", 9) != 0)
            return corrupt(d, name, 0, 0, "%s: %s", where, "'url' is not a /binding/ID/INSTANCE string");
        if (!vars || vars->type != TR_REC)
            return corrupt(d, name, 0, 0, "%s: %s", where, "'vars' is not a record");
        for (uint32_t i = 0; i < tr_rec_len(vars); i++)
            if (tr_rec_at(vars, i)->val.type != TR_STR)
                return corrupt(d, name, 0, 0, "%s: vars.%s is not a string", where,
                               tr_rec_at(vars, i)->key->data);
        return 0;
    }
    const tr_value *id = tr_rec_get_cstr(e, "id");
    if (!str_ok(id, MAX_ID))
        return corrupt(d, name, 0, 0, "%s: %s", where, "no string 'id' of 1 to 255 bytes");
    if (is_system(id->as.s->data))
        return corrupt(d, name, 0, 0, "%s: '%s' is a system artefact, which is never kept", where,
                       id->as.s->data);
    if (slot == S_PIPELINE && !str_ok(tr_rec_get_cstr(e, "query"), TR_API_STATE_MAX_BYTES))
        return corrupt(d, name, 0, 0, "%s: %s", where, "no string 'query'");
    return 0;
}

static int check_body(const tr_value *v, const char *name, struct tr_diag *d) {
    if (v->type != TR_REC) return corrupt(d, name, 2, 1, "%s%s", "the body is not a record", "");
    for (uint32_t i = 0; i < tr_rec_len(v); i++) {
        const char *k = tr_rec_at(v, i)->key->data;
        int known = 0;
        for (int s = 0; s < S_N; s++) known |= strcmp(k, slot_key[s]) == 0;
        if (!known) return corrupt(d, name, 0, 0, "unknown key '%s' in the body%s", k, "");
    }
    for (int s = 0; s < S_N; s++) {
        const tr_value *a = tr_rec_get_cstr(v, slot_key[s]);
        if (!a || a->type != TR_ARR)
            return corrupt(d, name, 0, 0, "'%s' is missing or not an array%s", slot_key[s], "");
        for (uint32_t i = 0; i < tr_arr_len(a); i++) {
            int rc = check_entry(s, tr_arr_at(a, i), i, name, d);
            if (rc) return rc;
        }
    }
    return 0;
}

/* Parse the header line (hdr, n bytes without its '\n'). */
static int parse_header(const char *hdr, size_t n, const char *name, size_t *len, uint32_t *crc,
                        struct tr_diag *d) {
    size_t m = strlen(MAGIC);
    if (n < m || memcmp(hdr, MAGIC, m) != 0)
        return corrupt(d, name, 1, 1, "%s%s", "not a tremor-c API state file (no \"" MAGIC "\" header)", "");
    size_t i = m;
    unsigned long ver = 0;
    size_t v0 = i;
    while (i < n && i - v0 < 6 && hdr[i] >= '0' && hdr[i] <= '9') ver = ver * 10 + (unsigned)(hdr[i++] - '0');
    if (i == v0 || i >= n || hdr[i] != ' ')
        return corrupt(d, name, 1, (int)i + 1, "%s%s", "bad format version in the header", "");
    if (ver != VERSION) {
        char vs[16];
        snprintf(vs, sizeof vs, "%lu", ver);
        return corrupt(d, name, 1, (int)v0 + 1,
                       "format version %s is not one this tremor-c reads (it reads %s)", vs, "1");
    }
    i++;
    size_t l0 = i;
    unsigned long long l = 0;
    while (i < n && i - l0 < 11 && hdr[i] >= '0' && hdr[i] <= '9') l = l * 10 + (unsigned)(hdr[i++] - '0');
    if (i == l0 || (hdr[l0] == '0' && i - l0 > 1) || l > TR_API_STATE_MAX_BYTES || i >= n ||
        hdr[i] != ' ')
        return corrupt(d, name, 1, (int)l0 + 1, "%s%s", "bad body length in the header", "");
    i++;
    uint32_t c = 0;
    size_t c0 = i;
    for (; i < n && i - c0 < 8; i++) {
        char h = hdr[i];
        int x = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
        if (x < 0) break;
        c = c << 4 | (uint32_t)x;
    }
    if (i - c0 != 8 || i != n)
        return corrupt(d, name, 1, (int)c0 + 1, "%s%s", "bad checksum in the header (8 hex digits, then the end of the line)", "");
    *len = (size_t)l;
    *crc = c;
    return 0;
}

int tr_api_state_decode(const char *name, const char *buf, size_t len, tr_value *out,
                        struct tr_diag *d) {
    *out = tr_v_null();
    const char *nl = memchr(buf, '\n', len < MAX_HEADER ? len : MAX_HEADER);
    if (!nl)
        return corrupt(d, name, 1, 1, "%s%s",
                       len ? "no header line (the file is cut short or not a state file)"
                           : "the file is empty (cut short)", "");
    size_t blen = 0;
    uint32_t crc = 0;
    int rc = parse_header(buf, (size_t)(nl - buf), name, &blen, &crc, d);
    if (rc) return rc;
    const char *body = nl + 1;
    size_t have = len - (size_t)(body - buf);
    if (have != blen) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%zu", have);
        snprintf(b, sizeof b, "%zu", blen);
        return corrupt(d, name, 2, 1, "the body has %s bytes where the header says %s (cut short "
                       "or appended to)", a, b);
    }
    uint32_t got = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)body, (uInt)blen);
    if (got != crc) {
        char a[16], b[16];
        snprintf(a, sizeof a, "%08x", got);
        snprintf(b, sizeof b, "%08x", crc);
        return corrupt(d, name, 2, 1, "checksum mismatch: the body's CRC-32 is %s, the header "
                       "says %s (the file is damaged)", a, b);
    }
    struct tr_diag jd;
    tr_diag_clear(&jd);
    rc = tr_json_decode(body, blen, out, &jd);
    if (rc) {
        if (rc == -ENOMEM) return tr_diag_set(d, rc, name, 0, 0, "out of memory");
        return tr_diag_set(d, rc, name, jd.line + 1, jd.col, "%s", jd.msg);
    }
    rc = check_body(out, name, d);
    if (rc) {
        tr_value_unref(*out);
        *out = tr_v_null();
    }
    return rc;
}

int tr_api_state_encode(const tr_value *body, struct tr_buf *out) {
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = tr_json_encode_pretty(body, &b);
    if (!rc) rc = tr_buf_putc(&b, '\n');
    if (!rc && b.len > TR_API_STATE_MAX_BYTES) rc = TR_ETOOBIG;
    if (!rc) {
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)b.data, (uInt)b.len);
        rc = tr_buf_printf(out, MAGIC "%d %zu %08x\n", VERSION, b.len, crc);
    }
    if (!rc) rc = tr_buf_append(out, b.data, b.len);
    tr_buf_fini(&b);
    return rc;
}

/* ---- the file ---- */

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write bytes to s->tmp, fsync, rename over s->path, fsync the directory.
 * Owner-only: connector configs may hold credentials. */
static int replace_file(struct tr_api_state *s, const struct tr_buf *b, struct tr_diag *d) {
    const char *what = "open";
    int rc = 0;
    int fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    what = "write";
    rc = write_all(fd, b->data, b->len);
    if (!rc) {
        what = "fsync";
        if (fsync(fd) < 0) rc = -errno;
    }
    if (close(fd) < 0 && !rc) {
        what = "close";
        rc = -errno;
    }
    if (rc) goto fail;
    if (rename(s->tmp, s->path) < 0) {
        rc = -errno;
        return tr_diag_set(d, rc, s->path, 0, 0, "cannot keep the API change: rename %s: %s",
                           s->tmp, tr_strerror(rc));
    }
    /* the rename itself is durable only once the directory is */
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) rc = -errno;
    if (dfd >= 0) close(dfd);
    if (rc)
        return tr_diag_set(d, rc, s->path, 0, 0, "cannot keep the API change: fsync of directory "
                           "%s: %s (the new state may not survive a crash)", s->dir, tr_strerror(rc));
    return 0;
fail:
    unlink(s->tmp);   /* fails harmlessly when open did */
    return tr_diag_set(d, rc, s->path, 0, 0, "cannot keep the API change: %s %s: %s", what, s->tmp,
                       tr_strerror(rc));
}

/* Write the state with list[slot] replaced by arr (not taken). */
static int save(struct tr_api_state *s, int slot, const tr_value *arr, struct tr_diag *d) {
    tr_value body;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = tr_v_rec(S_N, &body);
    for (int i = 0; !rc && i < S_N; i++)
        rc = tr_rec_set(&body, slot_key[i], strlen(slot_key[i]),
                        tr_value_ref(i == slot ? *arr : s->list[i]));
    if (!rc) rc = tr_api_state_encode(&body, &b);
    if (rc)
        tr_diag_set(d, rc, s->path, 0, 0, "cannot keep the API change: %s",
                    rc == TR_ETOOBIG ? "the state would exceed 64 MiB" : tr_strerror(rc));
    else
        rc = replace_file(s, &b, d);
    if (!rc) TR_DEBUG("api", "kept the API's state in %s (%zu bytes)", s->path, b.len);
    tr_buf_fini(&b);
    tr_value_unref(body);
    return rc;
}

/* A copy of list[slot] without index skip (UINT32_MAX: none) and with add
 * appended (when not TR_NULL; taken). */
static int rebuild(const struct tr_api_state *s, int slot, uint32_t skip, tr_value add,
                   tr_value *out) {
    const tr_value *a = &s->list[slot];
    int rc = tr_v_arr(tr_arr_len(a) + 1, out);
    for (uint32_t i = 0; !rc && i < tr_arr_len(a); i++)
        if (i != skip) rc = tr_arr_push(out, tr_value_ref(*tr_arr_at(a, i)));
    if (!rc && add.type != TR_NULL) rc = tr_arr_push(out, add), add = tr_v_null();
    tr_value_unref(add);
    if (rc) {
        tr_value_unref(*out);
        *out = tr_v_null();
    }
    return rc;
}

static int commit(struct tr_api_state *s, int slot, tr_value arr, struct tr_diag *d) {
    int rc = save(s, slot, &arr, d);
    if (rc) {
        tr_value_unref(arr);
        return rc;
    }
    tr_value_unref(s->list[slot]);
    s->list[slot] = arr;
    return 0;
}

static int mkdir_p(const char *dir) {
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) return -ENAMETOOLONG;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST) return -errno;
        p[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) < 0) return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = tr_malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

int tr_api_state_open(const char *dir, struct tr_api_state **out, struct tr_diag *d) {
    *out = NULL;
    int rc = mkdir_p(dir);
    if (rc) return tr_diag_set(d, rc, dir, 0, 0, "cannot create the storage directory: %s", tr_strerror(rc));
    struct tr_api_state *s = tr_calloc(1, sizeof *s);
    char *text = NULL;
    size_t len = 0;
    tr_value body = tr_v_null();
    if (!s || !(s->dir = tr_strdup(dir)) || !(s->path = join(dir, TR_API_STATE_FILE)) ||
        !(s->tmp = join(dir, TR_API_STATE_FILE ".tmp"))) {
        rc = tr_diag_set(d, -ENOMEM, dir, 0, 0, "out of memory");
        goto out;
    }
    for (int i = 0; i < S_N; i++) s->list[i] = tr_v_null();
    rc = tr_file_read(s->path, TR_API_STATE_MAX_BYTES + MAX_HEADER, &text, &len);
    if (rc == -ENOENT) {
        rc = 0;
        for (int i = 0; !rc && i < S_N; i++) rc = tr_v_arr(0, &s->list[i]);
        if (rc) tr_diag_set(d, rc, s->path, 0, 0, "out of memory");
    } else if (rc) {
        tr_diag_set(d, rc, s->path, 0, 0, "cannot read the API state: %s",
                    rc == TR_ETOOBIG ? "larger than 64 MiB" : tr_strerror(rc));
    } else {
        rc = tr_api_state_decode(s->path, text, len, &body, d);
        for (int i = 0; !rc && i < S_N; i++)
            s->list[i] = tr_value_ref(*tr_rec_get_cstr(&body, slot_key[i]));
    }
    if (!rc && access(s->tmp, F_OK) == 0) {
        /* a write that crashed before its rename: the file above is the state */
        TR_INFO("api", "removing %s, left by an interrupted write", s->tmp);
        unlink(s->tmp);
    }
out:
    tr_free(text);
    tr_value_unref(body);
    if (rc) {
        tr_api_state_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

void tr_api_state_destroy(struct tr_api_state *s) {
    if (!s) return;
    for (int i = 0; i < S_N; i++) tr_value_unref(s->list[i]);
    tr_free(s->dir);
    tr_free(s->path);
    tr_free(s->tmp);
    tr_free(s);
}

const char *tr_api_state_path(const struct tr_api_state *s) { return s->path; }

/* ---- restore ---- */

static const char *const kind_name[] = {"onramp", "offramp", "pipeline", "binding"};
static const enum tr_world_kind slot_kind[] = {TR_WORLD_PIPELINE, TR_WORLD_ONRAMP,
                                               TR_WORLD_OFFRAMP, TR_WORLD_BINDING};

/* d names the state file and the entry in front of the world's message. */
static int restore_failed(const struct tr_api_state *s, const char *what, int rc,
                          struct tr_diag *d) {
    char msg[1024];
    if (d->line)
        snprintf(msg, sizeof msg, "%.200s:%d:%d: %.700s", d->file[0] ? d->file : "<API>", d->line,
                 d->col, d->msg);
    else
        snprintf(msg, sizeof msg, "%.900s", d->msg[0] ? d->msg : tr_strerror(rc));
    return tr_diag_set(d, rc, s->path, 0, 0,
                       "cannot restore %s kept from the REST API: %s (start with the files it "
                       "needs, or remove the file to forget the API's changes)", what, msg);
}

static int restore_artefact(struct tr_api_state *s, struct tr_world *w, int slot,
                            const tr_value *e, struct tr_diag *d) {
    enum tr_world_kind k = slot_kind[slot];
    const char *id = tr_rec_get_cstr(e, "id")->as.s->data;
    char what[300];
    snprintf(what, sizeof what, "%s '%s'", kind_name[k], id);
    tr_value have;
    if (tr_world_describe(w, k, id, &have) == 0) {
        tr_value_unref(have);
        TR_WARN("api", "%s is defined by the files; the one kept in %s is not restored", what,
                s->path);
        return 0;
    }
    int rc;
    if (k == TR_WORLD_PIPELINE) {
        const tr_value *q = tr_rec_get_cstr(e, "query");
        rc = tr_world_publish_query(w, "<API>", q->as.s->data, q->as.s->len, d);
    } else {
        tr_value wrap = tr_v_null(), arr = tr_v_null();
        struct tr_buf text;
        tr_buf_init(&text);
        rc = tr_v_arr(1, &arr);
        if (!rc) rc = tr_arr_push(&arr, tr_value_ref(*e));
        if (!rc) rc = tr_v_rec(1, &wrap);
        if (!rc) rc = tr_rec_set(&wrap, kind_name[k], strlen(kind_name[k]), arr), arr = tr_v_null();
        if (!rc) rc = tr_json_encode(&wrap, &text);
        if (rc) tr_diag_set(d, rc, NULL, 0, 0, "%s", tr_strerror(rc));
        else rc = tr_world_publish_config(w, "<API>", text.data, text.len, d);
        tr_buf_fini(&text);
        tr_value_unref(arr);
        tr_value_unref(wrap);
    }
    if (rc) return restore_failed(s, what, rc, d);
    TR_INFO("api", "restored /%s/%s from %s", kind_name[k], id, s->path);
    return 0;
}

static int restore_mapping(struct tr_api_state *s, struct tr_world *w, const tr_value *e,
                           struct tr_diag *d) {
    const char *url = tr_rec_get_cstr(e, "url")->as.s->data;
    const tr_value *vars = tr_rec_get_cstr(e, "vars");
    char what[1100];
    snprintf(what, sizeof what, "binding instance %s", url);
    struct tr_url u;
    int rc = tr_url_parse(url, &u, d);
    if (rc || u.kind != TR_URL_BINDING || !u.instance[0]) {
        tr_diag_set(d, TR_EINVAL_CFG, NULL, 0, 0, "not /binding/ID/INSTANCE");
        return restore_failed(s, what, TR_ECORRUPT, d);
    }
    tr_value have;
    if (tr_world_describe_bound(w, u.artefact, u.instance, &have) == 0) {
        tr_value_unref(have);
        TR_WARN("api", "%s is deployed by the files' mappings; the one kept in %s is not "
                "deployed again", what, s->path);
        return 0;
    }
    rc = tr_world_bind(w, url, vars, d);
    if (rc) return restore_failed(s, what, rc, d);
    TR_INFO("api", "restored %s from %s", what, s->path);
    return 0;
}

int tr_api_state_restore(struct tr_api_state *s, struct tr_world *w, int phase, struct tr_diag *d) {
    int rc = 0;
    if (phase == 0) {
        for (int slot = S_PIPELINE; !rc && slot <= S_BINDING; slot++)
            for (uint32_t i = 0; !rc && i < tr_arr_len(&s->list[slot]); i++)
                rc = restore_artefact(s, w, slot, tr_arr_at(&s->list[slot], i), d);
        return rc;
    }
    for (uint32_t i = 0; !rc && i < tr_arr_len(&s->list[S_MAPPING]); i++)
        rc = restore_mapping(s, w, tr_arr_at(&s->list[S_MAPPING], i), d);
    return rc;
}

/* ---- changes ---- */

static uint32_t find_id(const tr_value *a, const char *id) {
    for (uint32_t i = 0; i < tr_arr_len(a); i++)
        if (strcmp(tr_rec_get_cstr(tr_arr_at(a, i), "id")->as.s->data, id) == 0) return i;
    return UINT32_MAX;
}

static int oom(const struct tr_api_state *s, int rc, struct tr_diag *d) {
    return tr_diag_set(d, rc, s->path, 0, 0, "cannot keep the API change: %s", tr_strerror(rc));
}

int tr_api_state_publish(struct tr_api_state *s, enum tr_world_kind k, const char *id,
                         const tr_value *entry, struct tr_diag *d) {
    if (is_system(id)) return 0;
    int slot = slot_of(k);
    tr_value e = tr_v_null(), arr;
    int rc;
    if (slot == S_PIPELINE) {
        tr_value v;
        rc = tr_v_rec(2, &e);
        if (!rc) rc = tr_v_cstr(id, &v);
        if (!rc) rc = tr_rec_set(&e, "id", 2, v);
        if (!rc) rc = tr_rec_set(&e, "query", 5, tr_value_ref(*entry));
    } else {
        rc = 0;
        e = tr_value_ref(*entry);
    }
    if (!rc) rc = rebuild(s, slot, UINT32_MAX, e, &arr), e = tr_v_null();
    tr_value_unref(e);
    if (rc) return oom(s, rc, d);
    return commit(s, slot, arr, d);
}

int tr_api_state_unpublish(struct tr_api_state *s, enum tr_world_kind k, const char *id,
                           tr_value *removed, struct tr_diag *d) {
    int slot = slot_of(k);
    if (removed) *removed = tr_v_null();
    uint32_t at = find_id(&s->list[slot], id);
    if (at == UINT32_MAX) return 0;
    tr_value old = tr_value_ref(*tr_arr_at(&s->list[slot], at)), arr;
    int rc = rebuild(s, slot, at, tr_v_null(), &arr);
    if (rc) rc = oom(s, rc, d);
    else rc = commit(s, slot, arr, d);
    if (!rc && removed)
        *removed = tr_value_ref(slot == S_PIPELINE ? *tr_rec_get_cstr(&old, "query") : old);
    tr_value_unref(old);
    return rc;
}

int tr_api_state_bind(struct tr_api_state *s, const char *url, const tr_value *vars,
                      struct tr_diag *d) {
    tr_value e, v, arr;
    int rc = tr_v_rec(2, &e);
    if (!rc) rc = tr_v_cstr(url, &v);
    if (!rc) rc = tr_rec_set(&e, "url", 3, v);
    if (!rc) rc = tr_rec_set(&e, "vars", 4, tr_value_ref(*vars));
    if (!rc) rc = rebuild(s, S_MAPPING, UINT32_MAX, e, &arr), e = tr_v_null();
    tr_value_unref(e);
    if (rc) return oom(s, rc, d);
    return commit(s, S_MAPPING, arr, d);
}

int tr_api_state_unbind(struct tr_api_state *s, const char *url, tr_value *had, struct tr_diag *d) {
    const tr_value *a = &s->list[S_MAPPING];
    if (had) *had = tr_v_null();
    uint32_t at = UINT32_MAX;
    for (uint32_t i = tr_arr_len(a); i-- > 0;)
        if (strcmp(tr_rec_get_cstr(tr_arr_at(a, i), "url")->as.s->data, url) == 0) {
            at = i;
            break;
        }
    if (at == UINT32_MAX) return 0;
    tr_value vars = tr_value_ref(*tr_rec_get_cstr(tr_arr_at(a, at), "vars")), arr;
    int rc = rebuild(s, S_MAPPING, at, tr_v_null(), &arr);
    if (rc) rc = oom(s, rc, d);
    else rc = commit(s, S_MAPPING, arr, d);
    if (!rc && had) *had = tr_value_ref(vars);
    tr_value_unref(vars);
    return rc;
}
