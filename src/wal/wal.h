/* wal.h - the write-ahead log engine: the whole public API.
 *
 * A durable, checksummed, append-only log of opaque records numbered from 1;
 * a number is never reused once its record was reported durable. A cursor
 * hands out durable records in order; acks (any order) advance a contiguous
 * frontier; segments behind it are unlinked. The owner thread frames records
 * in memory; the WAL's own thread writes them (into the page cache) and
 * fdatasyncs them (group commit).
 * Not an event queue: no events, pipelines or libuv.
 * Threading: one owner thread makes every call; only notify runs on the sync
 * thread. Format: format.c and docs/ARCHITECTURE.md.
 */
#ifndef TR_WAL_H
#define TR_WAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"

struct tr_buf;
struct tr_hist;
struct tr_wal;

/* When a record counts as durable (what tr_wal_read and the durable-through
 * number wait for):
 *   ALWAYS   after the fdatasync that followed its write (group commit:
 *            one fdatasync covers every record written since the last;
 *            a segment's first records wait for the directory fsync that
 *            makes its file name durable too). Survives power loss.
 *   INTERVAL once written to the kernel; fdatasync every sync_interval_ms.
 *            Survives a process crash; a power loss may cost the last interval.
 *   NONE     once written to the kernel; never fdatasync. Survives a process crash.
 * Numbers of records lost before they were durable under the policy (a crash
 * before the write, or a power loss under INTERVAL/NONE) may be given again. */
enum tr_wal_sync_policy { TR_WAL_SYNC_ALWAYS, TR_WAL_SYNC_INTERVAL, TR_WAL_SYNC_NONE };

/* What an append does when max_records / max_bytes would be exceeded:
 *   BLOCK        refuse with TR_EFULL (the caller applies backpressure and retries)
 *   DROP_NEWEST  refuse with TR_EDROPPED and count it in stats.dropped */
enum tr_wal_on_full { TR_WAL_ON_FULL_BLOCK, TR_WAL_ON_FULL_DROP_NEWEST };

/* The I/O seam. Every file operation of the WAL goes through it so tests can
 * fail the Nth call, tear writes or kill the process at a named step.
 * Functions return >= 0 on success and -errno on failure; they are called
 * from the owner thread AND the sync thread, so an implementation must be
 * thread-safe. Offsets and sizes are bytes. */
struct tr_wal_io {
    void *ctx;
    int (*open)(void *ctx, const char *path, int flags, int mode);   /* fd */
    int (*close)(void *ctx, int fd);
    ssize_t (*pread)(void *ctx, int fd, void *buf, size_t n, uint64_t off);
    ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t n, uint64_t off);
    int (*fdatasync)(void *ctx, int fd);
    int (*fsync)(void *ctx, int fd);                                 /* directories */
    int (*ftruncate)(void *ctx, int fd, uint64_t len);
    int (*fallocate)(void *ctx, int fd, uint64_t len);  /* reserve, size unchanged */
    int (*fsize)(void *ctx, int fd, uint64_t *size);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*mkdir)(void *ctx, const char *path, int mode);
};

/* The plain POSIX implementation (immutable, shared). */
const struct tr_wal_io *tr_wal_io_posix(void);

/* Where a log lives: its identity (random bytes drawn when it is created,
 * kept in its checkpoint for its life) and the file system (device number)
 * its directory was on when this process opened it. */
#define TR_WAL_ID_BYTES 16
struct tr_wal_ident {
    unsigned char id[TR_WAL_ID_BYTES];
    uint64_t dev;
};

#define TR_WAL_SPARES_MAX 64

struct tr_wal_config {
    const char *dir;             /* created (mkdir -p) if missing; see expect */
    uint64_t segment_bytes;      /* max size of one segment file; default 64 MiB */
    uint32_t max_record_bytes;   /* largest payload accepted; default 1 MiB, at most 256 MiB */
    uint64_t max_records;        /* unacked records admitted; 0 = no limit */
    uint64_t max_bytes;          /* unacked log bytes admitted; 0 = no limit */
    enum tr_wal_on_full on_full; /* default BLOCK */
    enum tr_wal_sync_policy sync;/* default ALWAYS */
    uint32_t sync_interval_ms;   /* for INTERVAL; default 100 */
    /* The checkpoint is written when a segment is created or removed, at
     * open, close and tr_wal_sync, and otherwise only when the frontier
     * moved without a data write to carry it in a marker, at most once per
     * this interval: default 1000, 1..3600000. So a crash or power loss
     * may hand out again records acknowledged up to this long before it
     * (duplicates, never loss); what tr_wal_sync covered is never replayed. */
    uint32_t checkpoint_interval_ms;
    /* Segment files kept for reuse once all their records are acknowledged
     * (default 2, at most 64; 0 = unlink them). A new segment then takes a
     * kept file (renamed, its blocks rewritten in place) instead of a new
     * one: freeing a segment's blocks costs tens of ms on a file system
     * mounted with discard, and the fdatasync after it waits for that. */
    uint32_t spare_segments;   /* 0..TR_WAL_SPARES_MAX */
    /* Called FROM THE SYNC THREAD (never the owner's) each time the durable-
     * through number advances or the WAL fails; durable_seq is the new value.
     * It must be quick and must not call into the WAL: wire it to
     * uv_async_send and call tr_wal_pump on the owner's loop. Never called
     * after tr_wal_close returns. May be NULL. */
    void (*notify)(void *arg, uint64_t durable_seq);
    void *notify_arg;
    const struct tr_wal_io *io;  /* NULL = tr_wal_io_posix() */
    /* For reopening a log this process had open (after a failure): where
     * it was (tr_wal_ident), or NULL for any log. When set, dir is taken
     * only if it holds that log (on any device: a file system mounted
     * again gets a new number), or if it holds no log at all and is on
     * the same file system as before (the log was wiped in place: a new
     * one is started there, with a warning). Anything else fails with
     * -ENOENT and creates nothing: a directory that is gone from a file
     * system that is not the log's (the mount point of a disk not mounted
     * yet), an empty one on another file system, another log. Without
     * this, a bare mount point would be taken for an empty log and the
     * records on the real disk stranded. Not kept past open. */
    const struct tr_wal_ident *expect;
};

/* Fill cfg with the defaults above (dir = NULL, notify = NULL). */
void tr_wal_config_init(struct tr_wal_config *cfg);

/* Open (creating if needed) the WAL in cfg->dir and recover it: read the
 * checkpoint, scan the last segment, truncate a torn tail, skip and count
 * corrupt records, and position the reader just after the acknowledged
 * frontier. What was dropped is logged and reported by tr_wal_stats. The
 * checkpoint is written and synced at every open, so opening on a disk that
 * still fails fails (the way to recover from a failed WAL is close + open).
 * Starts the sync thread. cfg is copied (dir too).
 * Errors: TR_EINVAL_CFG (bad config), TR_ECORRUPT (a file that is not ours,
 * e.g. wrong magic), TR_EUNSUPPORTED (unknown format version), -EBUSY
 * (another process has the directory open), -ENOENT (expect set and the
 * directory is not that log's), -errno from the file system;
 * each fills diag (may be NULL) with the file and what to do. *out is NULL on
 * failure. */
int tr_wal_open(const struct tr_wal_config *cfg, struct tr_wal **out, struct tr_diag *diag);

/* Where w lives (for cfg.expect when reopening it). Owner thread. */
void tr_wal_ident(const struct tr_wal *w, struct tr_wal_ident *out);

/* Write out everything appended, sync it (unless policy NONE), write the
 * final checkpoint, stop the sync thread and free w. Blocks. Returns 0 or the
 * first error the WAL met (w is freed either way). tr_wal_close(NULL) is 0. */
int tr_wal_close(struct tr_wal *w);

/* Append one record of len bytes (copied). *seq_out (may be NULL) gets its
 * sequence number. The record is durable later, once handed over to the
 * sync thread (tr_wal_flush, or when the write buffer fills), written and
 * synced under the policy: watch tr_wal_durable_seq or the notify callback.
 * Makes no system call unless the segment rolls. Hands the buffer over when
 * it is full, and under ALWAYS (once between two tr_wal_flush calls) when
 * the sync thread is between passes with nothing to take. Never waits for
 * a sync; waits for the sync thread's writes only when 8 MiB handed over
 * are still unwritten (a disk that does not keep up). A write error fails
 * the WAL; the append before it returned 0 and the next call reports it.
 * Errors: -EINVAL (len 0), TR_ETOOBIG (len > max_record_bytes, counted),
 * TR_EFULL (limit reached under BLOCK, or no disk space for a new segment),
 * TR_EDROPPED (limit reached under DROP_NEWEST, counted), or the error that
 * put the WAL in the failed state (e.g. -EIO from a write or fdatasync, or
 * a segment that cannot be created for another reason than space: close and
 * reopen to recover from what is durable).
 * Disk full (ENOSPC/EDQUOT creating a segment) is not a failure: stats
 * no_space is set, appends that need a new segment are refused (as full, or
 * dropped under DROP_NEWEST) without any I/O until a retry is due (10 ms
 * doubling to 1.28 s; at once after segments were unlinked); reading,
 * acking and reclaiming go on, and once every record is acknowledged the
 * current segment is reclaimed too. The first creation that succeeds ends
 * it. Logged once when it starts and once when it ends, with counts. */
int tr_wal_append(struct tr_wal *w, const void *data, size_t len, uint64_t *seq_out);

/* Owner thread: hand every record appended so far over to the sync thread,
 * which writes it into the segment file (the page cache) at the start of
 * its next pass, then makes it durable under the policy and notifies. Call
 * it once per loop turn when something was appended (records are not
 * durable until handed over). No system call; cheap when there is nothing
 * new. Returns 0 or the error that failed the WAL (a write error fails it
 * for good, and shows at the call after it). */
int tr_wal_flush(struct tr_wal *w);

/* Owner thread: collect the sync thread's completions (durable-through
 * number, unlinked segments to free). Returns 0, or the error that
 * failed the WAL. Cheap; call it from the loop callback the notify wakes. */
int tr_wal_pump(struct tr_wal *w);

/* Owner thread: flush, pump, then return the highest sequence number that is
 * durable under the sync policy (every lower one is durable too; 0 = none). */
uint64_t tr_wal_durable_seq(struct tr_wal *w);

/* Flush, then block until everything appended so far is fdatasynced, whatever
 * the policy (under NONE only the segment being written is synced), and the
 * frontier as it was at the call is durable too. For shutdown and tests.
 * Returns 0 or the WAL's failure. */
int tr_wal_sync(struct tr_wal *w);

struct tr_wal_record {
    uint64_t seq;
    const void *data;   /* valid until the next tr_wal_read, tr_wal_rewind or tr_wal_close */
    size_t len;
};

/* Hand out the next durable record at the cursor, in sequence order,
 * skipping records already acknowledged and records found corrupt (those are
 * counted, quarantined and treated as acknowledged). Payloads are checked
 * against their CRC; a frame whose number cannot be where it is (far ahead
 * of its segment's numbering) is corrupt too. Memory: 8 bytes per record
 * handed out and not yet behind the frontier, nothing per lost number: a
 * run of more than 4096 lost numbers is stepped over once every record
 * handed out before it is acknowledged (until then -EAGAIN). Returns 0 with
 * *rec filled, -EAGAIN when no durable record is waiting, -ENOMEM, or
 * -errno from a read. */
int tr_wal_read(struct tr_wal *w, struct tr_wal_record *rec);

/* tr_wal_read for a caller that still holds the contents of record held
 * (it appended them in this process and kept them): when that is the
 * record handed out, its payload is neither checked nor given (rec->data
 * is NULL); any other record is read and checked as by tr_wal_read. The
 * frame header is checked either way, so the cursor's walk is the same.
 * Damage to a held record's bytes on disk is then found when a later run
 * reads it, the only time those bytes are used. held = 0: none. */
int tr_wal_read_held(struct tr_wal *w, uint64_t held, struct tr_wal_record *rec);

/* Move the cursor back to seq so records from seq on are handed out again
 * (go-back-N replay after a failed delivery). seq at or below the frontier
 * means "the first unacknowledged record". -EINVAL if seq is beyond the next
 * record the cursor would hand out (the cursor never skips forward). */
int tr_wal_rewind(struct tr_wal *w, uint64_t seq);

/* Acknowledge one record that was handed out (in any order). The frontier
 * advances over the contiguous acknowledged prefix; segments wholly behind it
 * are unlinked by the sync thread after the frontier is checkpointed. Acking
 * at or below the frontier is a no-op. -EINVAL for a record never handed out. */
int tr_wal_ack(struct tr_wal *w, uint64_t seq);

/* Acknowledge every handed-out record up to and including seq. -EINVAL if seq
 * was never handed out. */
int tr_wal_ack_through(struct tr_wal *w, uint64_t seq);

/* Acknowledge records lo..hi, as tr_wal_ack on each in turn but with one
 * frontier move (and one hand-over to the sync thread) for the run. Those
 * at or below the frontier are no-ops; those handed out are acknowledged
 * even when the run goes past the last one handed out, which gives
 * -EINVAL (as tr_wal_ack would for each of those). */
int tr_wal_ack_range(struct tr_wal *w, uint64_t lo, uint64_t hi);

struct tr_wal_stats {
    uint64_t records;          /* records appended and not yet acknowledged */
    uint64_t bytes;            /* log bytes from the first unacked record to the end */
    uint64_t segments;         /* segment files in use */
    uint64_t syncs;            /* fdatasync calls on segment data */
    uint64_t dir_syncs;        /* directory fsyncs (segment created or removed) */
    uint64_t checkpoints;      /* checkpoint slots written */
    uint64_t sync_wakeups;     /* times the sync thread woke from an idle wait (signalled or timed) */
    uint64_t dropped;          /* refused under DROP_NEWEST */
    uint64_t refused_full;     /* refused with TR_EFULL */
    uint64_t refused_too_big;  /* refused with TR_ETOOBIG */
    uint64_t corrupt_records;  /* records lost to corruption, skipped and counted */
    uint64_t corrupt_bytes;    /* bytes of those damaged regions (quarantined) */
    uint64_t torn_bytes;       /* bytes of torn tails truncated at open */
    uint64_t bad_seq_frames;   /* frames with sound checksums but an impossible number (quarantined) */
    int no_space;              /* 1 while no new segment could be created (ENOSPC/EDQUOT) */
    uint64_t refused_no_space; /* appends refused for lack of disk space (also in refused_full/dropped) */
    uint64_t space_retries;    /* segment creations retried after a disk-full */
    uint64_t recycled;         /* segments that reused a kept file (spare_segments) */
    uint64_t spares;           /* acknowledged segment files kept for reuse now */
    uint64_t durable_seq;      /* durable through this sequence number (0 = none) */
    uint64_t synced_seq;       /* fdatasynced through this one */
    uint64_t frontier;         /* acknowledged through this one (0 = none) */
    uint64_t next_seq;         /* the number the next append gets */
    uint64_t read_seq;         /* the number the next read is at */
    int failed;                /* 0, or the error that failed the WAL */
};

/* Owner thread: a snapshot of the counters above (pumps first). */
void tr_wal_stats(struct tr_wal *w, struct tr_wal_stats *st);

/* Owner thread: the append -> durable latency of every record appended
 * since open, in ns (pumps first): from tr_wal_append to the moment the sync
 * thread found it durable under the policy. Each record is timed to within
 * 20 us or 1/512 of the oldest not-yet-durable record's age, whichever is
 * more (appends are timed in runs, not one clock read each); never
 * understated. The histogram belongs to w: read it (core/hist.h) on the
 * owner thread until the next WAL call; never NULL for an open WAL. */
const struct tr_hist *tr_wal_durable_hist(struct tr_wal *w);

/* Owner thread: append one line to out summarising that histogram:
 * "append->durable: N records, p50 A ms, p99 B ms, p99.9 C ms, max D ms"
 * (or "append->durable: no record" when empty). For a report at close
 * (call it after the last tr_wal_sync, before tr_wal_close). Returns 0 or
 * -ENOMEM. */
int tr_wal_durable_report(struct tr_wal *w, struct tr_buf *out);

/* ---- offline inspection: `tremor wal inspect` / `tremor wal verify` ----
 *
 * Reads a WAL directory that no process has open, without writing, locking
 * or repairing anything (tr_wal_open's recovery may truncate and quarantine;
 * this never does): the checkpoint, every segment's header and every frame,
 * each payload checked against its CRC. Memory is one read window, whatever
 * the log's size. */
struct tr_wal_summary {
    int checkpoint;               /* 1: a valid checkpoint slot was found */
    uint64_t ckpt_frontier, ckpt_next_seq;
    uint64_t segments;            /* segment files */
    uint64_t file_bytes;          /* their sizes, summed */
    uint64_t records;             /* intact records */
    uint64_t payload_bytes;       /* their payload bytes */
    uint64_t markers;             /* intact frontier markers */
    uint64_t first_seq, last_seq; /* of intact records (0: none) */
    uint64_t frontier;            /* acknowledged through: checkpoint and markers */
    uint64_t after;               /* records numbered above opts.after */
    uint64_t damaged;             /* damaged regions (reported through on_damage) */
    uint64_t damaged_bytes;
    uint64_t torn_bytes;          /* an unfinished last write at the end of the last segment */
    uint64_t reused_bytes;        /* past the data of reused segment files: their earlier content */
    uint64_t quarantined;         /* files in quarantine/ (kept by earlier recoveries) */
    uint64_t quarantined_bytes;
    uint64_t foreign;             /* directory entries that are not the WAL's */
};

struct tr_wal_inspect_opts {
    void *arg;
    /* every intact record numbered above `after`, in log order; segment is
     * the file name, off the frame's offset in it. Return non-zero to stop
     * being called (counting goes on). May be NULL. */
    int (*on_record)(void *arg, const char *segment, uint64_t off, uint64_t seq,
                     const void *data, size_t len);
    uint64_t after;
    /* every damaged region: what is wrong, where, how many bytes. May be NULL. */
    void (*on_damage)(void *arg, const char *segment, uint64_t off, uint64_t len,
                      const char *what);
};

/* Scan dir into *sum. 0 (damage is counted, not an error); -ENOENT or
 * -ENOTDIR when dir is not a directory; TR_ECORRUPT when it holds files but
 * neither a checkpoint nor a segment of ours (not a WAL directory), or a
 * checkpoint of something else; TR_EUNSUPPORTED for a format version this
 * build does not read; -errno from reading; -ENOMEM. d says which file. An
 * empty directory is 0 with everything zero. */
int tr_wal_inspect(const char *dir, const struct tr_wal_inspect_opts *opts,
                   struct tr_wal_summary *sum, struct tr_diag *d);

#endif
