/* inspect.c - read-only scan of a WAL directory (see wal.h, "offline
 * inspection"). Uses the same frame parser as the reader (segment.c), but
 * where recovery repairs, this only counts and reports. */
#include "wal/wal_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void damage(const struct tr_wal_inspect_opts *o, struct tr_wal_summary *sum,
                   const char *seg, uint64_t off, uint64_t len, const char *what) {
    sum->damaged++;
    sum->damaged_bytes += len;
    if (o && o->on_damage) o->on_damage(o->arg, seg, off, len, what);
}

static int read_checkpoint(const char *dir, const struct tr_wal_inspect_opts *o,
                           struct tr_wal_summary *sum, struct tr_diag *d) {
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : tr_diag_set(d, -errno, path, 0, 0, "cannot open: %s", strerror(errno));
    unsigned char buf[TR_WAL_CKPT_FILE_BYTES];
    ssize_t r = tr_wal_pread_full(tr_wal_io_posix(), fd, buf, sizeof buf, 0);
    close(fd);
    if (r < 0) return tr_diag_set(d, (int)r, path, 0, 0, "cannot read: %s", tr_strerror((int)r));
    memset(buf + r, 0, sizeof buf - (size_t)r);
    uint64_t gen = 0;
    int bad = 0;
    for (int i = 0; i < 2; i++) {
        struct tr_wal_ckpt c;
        uint32_t version;
        int s = tr_wal_ckpt_decode(buf + (unsigned)i * TR_WAL_CKPT_SLOT, &c, &version);
        if (s == TR_ECORRUPT)
            return tr_diag_set(d, TR_ECORRUPT, path, 0, 0, "not a tremor WAL checkpoint (bad magic)");
        if (s == TR_EUNSUPPORTED)
            return tr_diag_set(d, TR_EUNSUPPORTED, path, 0, 0,
                               "checkpoint format version %u is not read by this build", version);
        if (s != TR_WAL_HDR_OK) {
            bad++;
            continue;
        }
        if (!sum->checkpoint || c.gen > gen) {
            gen = c.gen;
            sum->ckpt_frontier = c.frontier;
            sum->ckpt_next_seq = c.next_seq;
        }
        sum->checkpoint = 1;
    }
    /* one empty slot is normal (written once); none usable is damage */
    if (bad == 2) damage(o, sum, "checkpoint", 0, TR_WAL_CKPT_FILE_BYTES, "no valid checkpoint slot");
    return 0;
}

static void count_quarantine(const char *dir, struct tr_wal_summary *sum) {
    char path[4096];
    snprintf(path, sizeof path, "%s/quarantine", dir);
    DIR *q = opendir(path);
    if (!q) return;
    struct dirent *e;
    while ((e = readdir(q))) {
        if (e->d_name[0] == '.') continue;
        char f[4400];
        struct stat st;
        snprintf(f, sizeof f, "%s/%s", path, e->d_name);
        if (stat(f, &st) == 0 && S_ISREG(st.st_mode)) {
            sum->quarantined++;
            sum->quarantined_bytes += (uint64_t)st.st_size;
        }
    }
    closedir(q);
}

/* Older content of a reused file shows at `at` (the trouble began at *off):
 * the segment's own records going on past it make what lies between damage
 * (returns 1, *off moved to them); else the rest is the file's older
 * content (0). Or -errno. */
static int older_content(struct tr_wal_inspect_opts *o, struct tr_wal_summary *sum, const char *name,
                         struct tr_wal_scan *sc, const struct tr_wal_seg *seg, uint64_t min_seq,
                         uint64_t size, uint64_t at, uint64_t *off) {
    uint64_t resume = size;
    int rc = tr_wal_scan_past_stale(sc, at, min_seq, seg->first_seq, &resume);
    if (rc < 0) return rc;
    if (resume < size) {
        damage(o, sum, name, *off, resume - *off, "older content of the reused file amid its records");
        *off = resume;
        return 1;
    }
    sum->reused_bytes += size - *off;
    return 0;
}

static int scan_segment(const char *dir, uint64_t first_seq, uint64_t next_first,
                        struct tr_wal_inspect_opts *o, struct tr_wal_summary *sum,
                        struct tr_wal_scan *sc, struct tr_diag *d) {
    struct tr_wal_seg *seg = tr_wal_seg_new(dir, first_seq);
    if (!seg) return -ENOMEM;
    const char *name = strrchr(seg->path, '/') + 1;
    const int last = next_first == 0;
    uint64_t seg_last = 0;   /* its last intact record */
    int rc = 0;
    int fd = open(seg->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = tr_diag_set(d, -errno, seg->path, 0, 0, "cannot open: %s", strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        rc = tr_diag_set(d, -errno, seg->path, 0, 0, "cannot stat: %s", strerror(errno));
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    sum->segments++;
    sum->file_bytes += size;
    unsigned char hdr[TR_WAL_SEG_HDR];
    ssize_t r = tr_wal_pread_full(tr_wal_io_posix(), fd, hdr, sizeof hdr, 0);
    if (r < 0) {
        rc = tr_diag_set(d, (int)r, seg->path, 0, 0, "cannot read: %s", tr_strerror((int)r));
        goto out;
    }
    uint64_t hseq = 0;
    uint32_t version = 0;
    int h = tr_wal_seghdr_decode(hdr, (size_t)r, &hseq, &version);
    if (h == TR_EUNSUPPORTED) {
        rc = tr_diag_set(d, TR_EUNSUPPORTED, seg->path, 0, 0,
                         "segment format version %u is not read by this build", version);
        goto out;
    }
    if (h == TR_ECORRUPT) {
        damage(o, sum, name, 0, size, "not a tremor WAL segment header");
        goto out;
    }
    if (h == TR_WAL_HDR_DAMAGED) damage(o, sum, name, 0, TR_WAL_SEG_HDR, "damaged segment header");
    else if (hseq != first_seq) damage(o, sum, name, 0, TR_WAL_SEG_HDR, "header numbers differ from the file name");
    tr_wal_scan_reset(sc, fd, size);
    uint64_t off = TR_WAL_SEG_HDR;
    while (off < size) {
        struct tr_wal_frame f;
        int s = tr_wal_scan_frame(sc, off, &f);
        if (s < 0) {
            rc = tr_diag_set(d, s, seg->path, 0, 0, "cannot read at %" PRIu64 ": %s", off, tr_strerror(s));
            goto out;
        }
        if (s == TR_WAL_F_OK && tr_wal_frame_stale(seg, off, &f)) {
            s = older_content(o, sum, name, sc, seg, seg_last + 1, size, off, &off);
            if (s < 0) {
                rc = tr_diag_set(d, s, seg->path, 0, 0, "cannot read: %s", tr_strerror(s));
                goto out;
            }
            if (s) continue;
            break;
        }
        if (s == TR_WAL_F_OK && f.marker) {
            sum->markers++;
            if (f.m_frontier > sum->frontier) sum->frontier = f.m_frontier;
            off += f.size;
            continue;
        }
        if (s == TR_WAL_F_OK && !tr_wal_seq_plausible(seg, off, f.seq)) {
            damage(o, sum, name, off, f.size, "record number impossible at this offset");
            off += f.size;
            continue;
        }
        if (s == TR_WAL_F_OK) {
            sum->records++;
            sum->payload_bytes += f.len;
            if (!sum->first_seq) sum->first_seq = f.seq;
            if (f.seq > sum->last_seq) sum->last_seq = f.seq;
            if (f.seq > seg_last) seg_last = f.seq;
            if (f.seq > o->after) {
                sum->after++;
                if (o->on_record && o->on_record(o->arg, name, off, f.seq, f.payload, f.len))
                    o->on_record = NULL;
            }
            off += f.size;
            continue;
        }
        if (s == TR_WAL_F_BADPAYLOAD) {
            if (last && off + f.size >= size) {   /* the last write, cut short */
                sum->torn_bytes += size - off;
                break;
            }
            char what[96];
            snprintf(what, sizeof what, "payload checksum mismatch (%s %" PRIu64 ")",
                     f.marker ? "marker before record" : "record", f.seq);
            damage(o, sum, name, off, f.size, what);
            off += f.size;
            continue;
        }
        /* no frame starts here: find the next one */
        uint64_t next = size;
        s = tr_wal_scan_resync(sc, off, 0, seg->first_seq, &next);
        if (s < 0) {
            rc = tr_diag_set(d, s, seg->path, 0, 0, "cannot read: %s", tr_strerror(s));
            goto out;
        }
        /* a reused file's earlier content: a frame of it, or the rest of
         * one cut by the data's end once this segment's records are all
         * there (they end below the next segment's first) */
        if (s == 1) {
            s = older_content(o, sum, name, sc, seg, seg_last + 1, size, next, &off);
            if (s < 0) {
                rc = tr_diag_set(d, s, seg->path, 0, 0, "cannot read: %s", tr_strerror(s));
                goto out;
            }
            if (s) continue;
            break;
        }
        if (next >= size && !last && seg_last + 1 >= next_first) {
            sum->reused_bytes += size - off;
            break;
        }
        if (next >= size && last) {
            sum->torn_bytes += size - off;
            break;
        }
        damage(o, sum, name, off, next - off, next >= size ? "no valid frame to the end of the segment"
                                                           : "no valid frame (damaged header)");
        off = next;
    }
out:
    if (fd >= 0) close(fd);
    tr_wal_seg_free(seg);
    return rc;
}

int tr_wal_inspect(const char *dir, const struct tr_wal_inspect_opts *opts,
                   struct tr_wal_summary *sum, struct tr_diag *d) {
    struct tr_wal_inspect_opts none = {0};
    struct tr_wal_inspect_opts o = opts ? *opts : none;
    memset(sum, 0, sizeof *sum);
    DIR *dh = opendir(dir);
    if (!dh) return tr_diag_set(d, -errno, dir, 0, 0, "cannot open the directory: %s", strerror(errno));
    uint64_t *seqs = NULL;
    size_t n = 0, cap = 0;
    int rc = 0, has_ckpt = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        uint64_t seq;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (tr_wal_seg_name_parse(e->d_name, &seq)) {
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 64;
                uint64_t *ns = tr_realloc(seqs, nc * sizeof *ns);
                if (!ns) {
                    rc = -ENOMEM;
                    break;
                }
                seqs = ns;
                cap = nc;
            }
            seqs[n++] = seq;
        } else if (!strcmp(e->d_name, "checkpoint")) {
            has_ckpt = 1;
        } else if (strcmp(e->d_name, "checkpoint.tmp") && strcmp(e->d_name, "quarantine")) {
            sum->foreign++;
        }
    }
    closedir(dh);
    if (rc) goto out;
    if (!has_ckpt && !n && sum->foreign) {
        rc = tr_diag_set(d, TR_ECORRUPT, dir, 0, 0,
                         "not a WAL directory: %" PRIu64 " entr%s, but no checkpoint and no "
                         "segment (NNNNNNNNNNNNNNNNNNNN.wal)", sum->foreign, sum->foreign == 1 ? "y" : "ies");
        goto out;
    }
    if (has_ckpt && (rc = read_checkpoint(dir, &o, sum, d))) goto out;
    sum->frontier = sum->ckpt_frontier;
    count_quarantine(dir, sum);
    if (n) qsort(seqs, n, sizeof *seqs, cmp_u64);
    struct tr_wal_scan sc;
    tr_wal_scan_init(&sc, tr_wal_io_posix(), TR_WAL_MAX_RECORD_LIMIT);
    for (size_t i = 0; i < n && !rc; i++) rc = scan_segment(dir, seqs[i], i + 1 < n ? seqs[i + 1] : 0, &o, sum, &sc, d);
    tr_wal_scan_fini(&sc);
out:
    tr_free(seqs);
    return rc;
}
