/* checkpoint.c - the checkpoint file: two slots, never updated in place.
 *
 * Each write goes to the slot the newer valid one is not in (generation % 2),
 * then fdatasync (unless policy NONE); a torn or lost write therefore leaves
 * the previous slot intact. The file itself is created once by temp file +
 * fdatasync + rename + directory fsync, so it never exists half-written. The
 * checkpoint is a hint for speed and for the frontier: the log is the truth,
 * and a missing or unreadable checkpoint only costs duplicates, never data.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

static char *ckpt_path(const struct tr_wal *w, const char *suffix) {
    size_t n = strlen(w->dir) + 32;
    char *p = tr_malloc(n);
    if (p) snprintf(p, n, "%s/checkpoint%s", w->dir, suffix);
    return p;
}

int tr_wal_ckpt_load(struct tr_wal *w, struct tr_wal_ckpt *ck, int *valid, struct tr_diag *d) {
    const struct tr_wal_io *io = w->io;
    unsigned char buf[TR_WAL_CKPT_FILE_BYTES];
    int rc = 0;
    *valid = 0;
    memset(ck, 0, sizeof *ck);
    char *path = ckpt_path(w, "");
    if (!path) return -ENOMEM;
    int fd = io->open(io->ctx, path, O_RDWR, 0);
    if (fd == -ENOENT) goto out;   /* a new WAL, or lost: recovery scans */
    if (fd < 0) {
        rc = tr_diag_set(d, fd, path, 0, 0, "cannot open checkpoint: %s", tr_strerror(fd));
        goto out;
    }
    w->ckpt_fd = fd;
    ssize_t r = tr_wal_pread_full(io, fd, buf, sizeof buf, 0);
    if (r < 0) {
        rc = tr_diag_set(d, (int)r, path, 0, 0, "cannot read checkpoint: %s", tr_strerror((int)r));
        goto out;
    }
    memset(buf + r, 0, sizeof buf - (size_t)r);
    for (int i = 0; i < 2; i++) {
        struct tr_wal_ckpt c;
        uint32_t version;
        int s = tr_wal_ckpt_decode(buf + (unsigned)i * TR_WAL_CKPT_SLOT, &c, &version);
        if (s == TR_ECORRUPT) {
            rc = tr_diag_set(d, TR_ECORRUPT, path, 0, 0,
                             "not a tremor WAL checkpoint (bad magic); move it out of %s", w->dir);
            goto out;
        }
        if (s == TR_EUNSUPPORTED) {
            rc = tr_diag_set(d, TR_EUNSUPPORTED, path, 0, 0,
                             "checkpoint format version %u is not supported (this build reads 1 and "
                             "%u); open it with the tremor that wrote it",
                             version, TR_WAL_CKPT_VERSION);
            goto out;
        }
        if (s != TR_WAL_HDR_OK) {
            TR_WARN("wal", "%s: slot %c unreadable, using the other one", path, 'A' + i);
            continue;
        }
        if (c.gen > w->ckpt_gen) w->ckpt_gen = c.gen;
        if (!*valid || c.gen > ck->gen) *ck = c;
        *valid = 1;
    }
    if (!*valid) TR_WARN("wal", "%s: no valid slot, recovering from the log alone", path);
out:
    tr_free(path);
    return rc;
}

static int create_file(struct tr_wal *w, const unsigned char *slot, int slot_ix) {
    const struct tr_wal_io *io = w->io;
    unsigned char buf[TR_WAL_CKPT_FILE_BYTES];
    int sync = w->cfg.sync != TR_WAL_SYNC_NONE, rc, fd = -1;
    char *tmp = ckpt_path(w, ".tmp"), *path = ckpt_path(w, "");
    if (!tmp || !path) {
        rc = -ENOMEM;
        goto out;
    }
    memset(buf, 0, sizeof buf);
    memcpy(buf + (unsigned)slot_ix * TR_WAL_CKPT_SLOT, slot, TR_WAL_CKPT_SLOT);
    fd = io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    rc = tr_wal_pwrite_full(io, fd, buf, sizeof buf, 0);
    if (!rc && sync) rc = io->fdatasync(io->ctx, fd);
    io->close(io->ctx, fd);
    if (rc) goto out;
    rc = io->rename(io->ctx, tmp, path);
    if (!rc && sync) rc = io->fsync(io->ctx, w->dirfd);
    if (rc) goto out;
    fd = io->open(io->ctx, path, O_RDWR, 0);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    w->ckpt_fd = fd;
out:
    tr_free(tmp);
    tr_free(path);
    return rc;
}

int tr_wal_ckpt_write(struct tr_wal *w, struct tr_wal_ckpt *ck) {
    const struct tr_wal_io *io = w->io;
    unsigned char slot[TR_WAL_CKPT_SLOT];
    ck->gen = ++w->ckpt_gen;
    memcpy(ck->id, w->id, sizeof ck->id);
    int ix = (int)(ck->gen % 2);
    tr_wal_ckpt_encode(slot, ck);
    if (w->ckpt_fd < 0) return create_file(w, slot, ix);
    int rc = tr_wal_pwrite_full(io, w->ckpt_fd, slot, sizeof slot, (uint64_t)ix * TR_WAL_CKPT_SLOT);
    if (!rc && w->cfg.sync != TR_WAL_SYNC_NONE) rc = io->fdatasync(io->ctx, w->ckpt_fd);
    return rc;
}
