/* quarantine.c - keep a copy of damaged log bytes before they are skipped.
 *
 * When recovery or the reader skips a damaged region it copies the raw bytes
 * to <dir>/quarantine/<segment>-<offset>.bad so they can be examined after
 * the segment itself is reclaimed. Best effort: a failure here is logged and
 * never stops the WAL, and nothing in quarantine/ is ever read back.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

void tr_wal_quarantine(struct tr_wal *w, const struct tr_wal_seg *seg, uint64_t off, uint64_t len) {
    const struct tr_wal_io *io = w->io;
    size_t n = strlen(w->dir) + 64;
    char *qdir = tr_malloc(n), *qpath = tr_malloc(n);
    unsigned char *buf = tr_malloc(64 << 10);
    int in = -1, out = -1, rc = 0;
    if (!qdir || !qpath || !buf) {
        rc = -ENOMEM;
        goto out;
    }
    snprintf(qdir, n, "%s/quarantine", w->dir);
    snprintf(qpath, n, "%s/%020" PRIu64 "-%" PRIu64 ".bad", qdir, seg->first_seq, off);
    rc = io->mkdir(io->ctx, qdir, 0755);
    if (rc < 0 && rc != -EEXIST) goto out;
    in = io->open(io->ctx, seg->path, O_RDONLY, 0);
    if (in < 0) {
        rc = in;
        goto out;
    }
    out = io->open(io->ctx, qpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        rc = out;
        goto out;
    }
    for (uint64_t done = 0; done < len;) {
        size_t want = len - done < (64u << 10) ? (size_t)(len - done) : (64u << 10);
        ssize_t r = tr_wal_pread_full(io, in, buf, want, off + done);
        if (r <= 0) {
            rc = (int)r;
            break;
        }
        rc = tr_wal_pwrite_full(io, out, buf, (size_t)r, done);
        if (rc < 0) break;
        done += (uint64_t)r;
    }
out:
    if (rc < 0)
        TR_WARN("wal", "%s: could not quarantine %" PRIu64 " bytes at %" PRIu64 ": %s",
                seg->path, len, off, tr_strerror(rc));
    if (in >= 0) io->close(io->ctx, in);
    if (out >= 0) io->close(io->ctx, out);
    tr_free(buf);
    tr_free(qpath);
    tr_free(qdir);
}
