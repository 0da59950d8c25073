/* wal_int.h - what the files of src/wal share and nobody else sees.
 *
 * struct tr_wal and its parts. Fields are grouped by who may touch them:
 * "owner" fields only on the owner thread, "shared" fields only with mu held,
 * "thread" fields only on the sync thread. A segment struct is created and
 * freed by the owner; the sync thread reaches it only through the chunks of
 * the write queue and the seal and reclaim lists, all handed over under mu.
 */
#ifndef TR_WAL_INT_H
#define TR_WAL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/check.h"
#include "core/error.h"
#include "core/ring.h"
#include "wal/wal.h"

#define TR_WAL_VERSION 1u
#define TR_WAL_SEG_HDR 32u           /* segment header bytes */
#define TR_WAL_FRAME_HDR 16u         /* len + seq + hdr crc */
#define TR_WAL_FRAME_OVERHEAD 20u    /* header + payload crc */
#define TR_WAL_MARKER_FLAG 0x80000000u
#define TR_WAL_MARKER_PAYLOAD 24u
#define TR_WAL_MARKER_BYTES (TR_WAL_FRAME_OVERHEAD + TR_WAL_MARKER_PAYLOAD)
#define TR_WAL_MAX_RECORD_LIMIT (256u << 20)
#define TR_WAL_CKPT_SLOT 512u
#define TR_WAL_CKPT_FILE_BYTES (2u * TR_WAL_CKPT_SLOT)
#define TR_WAL_CHUNK_MIN (256u << 10)
/* Chunks at most (8 MiB handed over and not yet written: the owner waits
 * for the disk beyond that), and kept on the free list at most. */
#define TR_WAL_CHUNKS_MAX 32u
#define TR_WAL_CHUNKS_KEEP 4u
#define TR_WAL_READ_BUF (256u << 10)

#define TR_WAL_NOSPACE_MIN_NS 10000000ull      /* 10 ms */
#define TR_WAL_NOSPACE_MAX_NS 1280000000ull    /* 1.28 s */
/* Append -> durable latency (wal.c): appends are timed in runs (marks); a
 * new mark starts when the clock moved TR_WAL_LAT_RES_NS (doubled each time
 * the mark array fills and is thinned) past the newest one. */
#define TR_WAL_LAT_RES_NS 20000ull
/* The clock is read for the first append after a flush and then for every
 * TR_WAL_LAT_EVERY-th: appends between two flushes come back to back (one
 * loop turn), and reading the clock for each was 2% of a relay's CPU. A
 * record not clocked counts from an earlier mark, so its latency can only
 * be overstated, by the time a few appends of one turn take. */
#define TR_WAL_LAT_EVERY 8u
#define TR_WAL_LAT_MARKS 1024u
#define TR_WAL_LAT_PUBS 64u
#define TR_WAL_LAT_HIGHEST 3600000000000ull   /* 1 h: longer is counted as 1 h */
/* A run of lost numbers longer than this is not tracked one ring entry per
 * number (reader.c): the frontier jumps over it once nothing before is out. */
#define TR_WAL_GAP_ENTRIES 4096u

/* ---- little-endian helpers (the format is LE whatever the host) ---- */
static inline void tr_wal_put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static inline void tr_wal_put64(unsigned char *p, uint64_t v) {
    tr_wal_put32(p, (uint32_t)v);
    tr_wal_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t tr_wal_get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t tr_wal_get64(const unsigned char *p) {
    return (uint64_t)tr_wal_get32(p) | (uint64_t)tr_wal_get32(p + 4) << 32;
}

/* ---- crc32c.c ---- */
/* CRC32C (Castagnoli), hardware when the CPU has it; crc = 0 to start.
 * CRC32C("123456789") = 0xE3069283. */
uint32_t tr_wal_crc32c(uint32_t crc, const void *p, size_t n);
uint32_t tr_wal_crc32c_sw(uint32_t crc, const void *p, size_t n);  /* table path */
int tr_wal_crc32c_hw(void);   /* 1 if the hardware path is in use */

/* ---- format.c: encode / decode, no I/O ---- */
enum { TR_WAL_HDR_OK = 0, TR_WAL_HDR_DAMAGED = 1 };
void tr_wal_seghdr_encode(unsigned char *b, uint64_t first_seq);
/* TR_WAL_HDR_OK (*first_seq set), TR_WAL_HDR_DAMAGED (a torn or bit-flipped
 * header of ours: trust the file name), TR_ECORRUPT (not ours) or
 * TR_EUNSUPPORTED (ours, unknown version). */
int tr_wal_seghdr_decode(const unsigned char *b, size_t n, uint64_t *first_seq, uint32_t *version);

struct tr_wal_frame {
    int marker;                 /* 1 = frontier marker, 0 = record */
    uint64_t seq;               /* record: its number; marker: the next record's */
    uint32_t len;               /* payload bytes */
    uint64_t size;              /* whole frame */
    const unsigned char *payload;
    uint64_t m_frontier, m_hint_seg, m_hint_off;   /* marker payload */
};
/* Encode a frame header (16 bytes) into b. */
void tr_wal_frame_hdr_encode(unsigned char *b, uint32_t len, int marker, uint64_t seq);
/* Decode and check a frame header: 0 if the CRC holds and the length is
 * plausible (1..max_rec for a record, exactly 24 for a marker), else
 * TR_ECORRUPT. */
int tr_wal_frame_hdr_decode(const unsigned char *b, uint32_t max_rec, struct tr_wal_frame *f);
/* Encode a complete marker frame (TR_WAL_MARKER_BYTES) into b. */
void tr_wal_marker_encode(unsigned char *b, uint64_t next_seq, uint64_t frontier,
                          uint64_t hint_seg, uint64_t hint_off);

#define TR_WAL_CKPT_VERSION 2u   /* checkpoint slots; 1 is still read */
#define TR_WAL_CKPT_USED 76u
struct tr_wal_ckpt {
    uint64_t gen, frontier, next_seq, hint_seg, hint_off;
    unsigned char id[TR_WAL_ID_BYTES];   /* all zero: none (version 1) */
};
void tr_wal_ckpt_encode(unsigned char *slot, const struct tr_wal_ckpt *c);  /* 512 bytes */
/* TR_WAL_HDR_OK, TR_WAL_HDR_DAMAGED (slot unusable), TR_ECORRUPT (a valid
 * slot of something else) or TR_EUNSUPPORTED (valid slot, unknown version). */
int tr_wal_ckpt_decode(const unsigned char *slot, struct tr_wal_ckpt *c, uint32_t *version);

/* ---- io.c ---- */
int tr_wal_pwrite_full(const struct tr_wal_io *io, int fd, const void *buf, size_t n, uint64_t off);
/* Reads up to n bytes; returns bytes read (short only at end of file) or -errno. */
ssize_t tr_wal_pread_full(const struct tr_wal_io *io, int fd, void *buf, size_t n, uint64_t off);

/* ---- segment.c ---- */
struct tr_wal_seg {
    uint64_t first_seq;     /* from the file name */
    uint64_t g0;            /* log position (G) of file offset TR_WAL_SEG_HDR */
    uint64_t size;          /* file size; grows while active (changed under mu) */
    uint64_t checked_off;   /* damage before this offset was already counted */
    int wfd;                /* write fd while active or unsealed, else -1 */
    /* separate bytes, not bitfields: the two threads write different ones */
    unsigned char dirty;         /* thread: written since its last fdatasync */
    unsigned char gone;          /* owner: file missing when the reader came */
    unsigned char hdr_ok;        /* open: its header is sound and names its file's number */
    struct tr_wal_seg *next_dirty;   /* thread */
    /* A sealed segment whose records are all acknowledged can be reclaimed
     * before the sync thread took the seal list (records synced while it
     * was active), so it may sit on both lists at once: each list has its
     * own link. */
    struct tr_wal_seg *seal_next;    /* seal list */
    struct tr_wal_seg *next_link;    /* reclaim / dead lists */
    char path[];
};
struct tr_wal_seg *tr_wal_seg_new(const char *dir, uint64_t first_seq);
void tr_wal_seg_free(struct tr_wal_seg *s);
/* "%020llu.wal" -> 1 and *seq, else 0. */
int tr_wal_seg_name_parse(const char *name, uint64_t *seq);

/* A read window over one segment file: large preads, frames parsed in place. */
struct tr_wal_scan {
    const struct tr_wal_io *io;
    int fd;
    uint64_t limit;         /* bytes past this offset are not to be read */
    uint32_t max_rec;
    uint64_t held_seq;      /* a record whose payload is not checked (tr_wal_read_held); 0: none */
    unsigned char *buf;
    size_t cap;
    uint64_t boff;          /* file offset of buf[0] */
    size_t blen;            /* valid bytes in buf */
};
enum { TR_WAL_F_OK = 0, TR_WAL_F_END = 1, TR_WAL_F_BAD = 2, TR_WAL_F_BADPAYLOAD = 3 };
void tr_wal_scan_init(struct tr_wal_scan *s, const struct tr_wal_io *io, uint32_t max_rec);
void tr_wal_scan_fini(struct tr_wal_scan *s);   /* frees buf, does not close fd */
void tr_wal_scan_reset(struct tr_wal_scan *s, int fd, uint64_t limit);
/* The frame at off: F_OK (f filled, payload points into the window), F_END
 * (off >= limit), F_BAD (no valid frame starts here), F_BADPAYLOAD (valid
 * header, f->seq/size/marker set, payload CRC wrong) or -errno. */
int tr_wal_scan_frame(struct tr_wal_scan *s, uint64_t off, struct tr_wal_frame *f);
/* A frame whose checksums hold but that is numbered below the first record
 * of its segment (for a marker: names a next number below it, or that very
 * number anywhere but at the segment's start, where only the start marker
 * names it) cannot have been written there in the segment's current use:
 * the file is a reused one (spare_segments) and this is older content. Every
 * record the current use wrote is numbered first_seq or more, and a kept
 * file only ever holds frames numbered below any number assigned after it
 * was kept (recovery truncates what follows a last segment's data, so not
 * even records a crash lost are left numbered above). */
static inline int tr_wal_frame_stale_at(uint64_t first_seq, uint64_t off, const struct tr_wal_frame *f) {
    return f->seq < first_seq || (f->marker && f->seq == first_seq && off > TR_WAL_SEG_HDR);
}
static inline int tr_wal_frame_stale(const struct tr_wal_seg *s, uint64_t off, const struct tr_wal_frame *f) {
    return tr_wal_frame_stale_at(s->first_seq, off, f);
}
/* First offset after off where a complete valid frame with seq >= min_seq
 * starts (returns 0), or s->limit if none (0). Stops early, returning 1 with
 * *found at it, at a complete valid frame that is older content of a reused
 * file (tr_wal_frame_stale_at with first_seq). */
int tr_wal_scan_resync(struct tr_wal_scan *s, uint64_t off, uint64_t min_seq, uint64_t first_seq,
                       uint64_t *found);
/* From off, where older content of a reused file shows, the first record
 * numbered min_seq or more that is not older content (the current use's
 * data going on after a write a power cut lost left older bytes showing),
 * stepping over older frames by their lengths; *found = s->limit if none.
 * 0 or -errno. */
int tr_wal_scan_past_stale(struct tr_wal_scan *s, uint64_t off, uint64_t min_seq, uint64_t first_seq,
                           uint64_t *found);

/* ---- quarantine.c ---- */
/* Copy bytes [off, off+len) of seg into dir/quarantine/ (best effort). */
void tr_wal_quarantine(struct tr_wal *w, const struct tr_wal_seg *seg, uint64_t off, uint64_t len);

/* ---- checkpoint.c ---- */
int tr_wal_ckpt_load(struct tr_wal *w, struct tr_wal_ckpt *ck, int *valid, struct tr_diag *d);
/* Write ck (generation assigned here) into the older slot; fdatasync unless
 * policy NONE. Creates the file (temp + rename) the first time. */
int tr_wal_ckpt_write(struct tr_wal *w, struct tr_wal_ckpt *ck);

/* ---- ack.c: handed-out records between the frontier and the read horizon ---- */
#define TR_WAL_RING_ACKED (1ull << 63)
struct tr_wal_ring {
    struct tr_ring e;       /* of uint64_t; entry i: log position of record frontier+1+i | ACKED */
    uint64_t nacked;        /* entries with ACKED set */
};
static inline size_t tr_wal_ring_n(const struct tr_wal_ring *r) { return tr_ring_len(&r->e); }
static inline uint64_t *tr_wal_ring_at(const struct tr_wal_ring *r, size_t i) {
    return (uint64_t *)tr_ring_at(&r->e, i);
}
/* Append an entry, counting it when ACKED: 0 or -ENOMEM. */
static inline int tr_wal_ring_push(struct tr_wal_ring *r, uint64_t v) {
    int rc = tr_ring_push(&r->e, &v);
    if (!rc && (v & TR_WAL_RING_ACKED)) r->nacked++;
    return rc;
}
/* Pop acked entries at the head, advance w->frontier, publish it and hand
 * fully acknowledged segments to the sync thread. */
void tr_wal_frontier_advance(struct tr_wal *w);
/* Position of the first unacknowledged record (log position G). */
uint64_t tr_wal_first_unacked_pos(struct tr_wal *w);
/* While there is no space for a new segment, hand the active segment to the
 * sync thread for unlinking if every record appended is acknowledged (so the
 * space it holds comes back); no-op otherwise. */
void tr_wal_reclaim_active(struct tr_wal *w);
/* The ring is empty and every number through frontier is acknowledged or
 * lost: move the frontier there without an entry per number, publish it. */
void tr_wal_frontier_jump(struct tr_wal *w, uint64_t frontier);

/* ---- invariants.c ---- */
/* NULL when the owner's state is consistent, else the invariant that does
 * not hold. Run through TR_CHECK (core/check.h) after public operations. */
const char *tr_wal_broken(const struct tr_wal *w);

/* ---- reader.c ---- */
/* Can a record numbered seq start at offset off of segment s? Record k of a
 * segment (0-based) is numbered first_seq + k and every frame before it takes
 * more than TR_WAL_FRAME_OVERHEAD bytes, so a larger number cannot have been
 * written there: the frame is corrupt even if its checksums hold. */
static inline int tr_wal_seq_plausible(const struct tr_wal_seg *s, uint64_t off, uint64_t seq) {
    uint64_t room = off > TR_WAL_SEG_HDR ? (off - TR_WAL_SEG_HDR) / (TR_WAL_FRAME_OVERHEAD + 1) : 0;
    return seq <= s->first_seq || seq - s->first_seq <= room;
}
/* Index of the segment holding log position pos (-1 if none). */
long tr_wal_seg_lookup(struct tr_wal *w, uint64_t pos);
/* Log position of the first frame at or after the record numbered seq
 * (used at open). */
int tr_wal_reader_locate(struct tr_wal *w, uint64_t seq, uint64_t hint_seg, uint64_t hint_off,
                         uint64_t *pos);
void tr_wal_reader_drop(struct tr_wal *w);   /* close the reader's segment */

/* ---- wal.c ---- */
/* The active segment was reclaimed: the owner's chunk takes no more. mu held. */
void tr_wal_chunk_retire(struct tr_wal *w);

/* ---- syncer.c ---- */
int tr_wal_syncer_start(struct tr_wal *w);
void tr_wal_syncer_stop(struct tr_wal *w);

/* ---- recover.c ---- */
int tr_wal_recover(struct tr_wal *w, struct tr_diag *d);

/* ---- the WAL ---- */
struct tr_wal_lat_mark {
    uint64_t seq;           /* first record of the run */
    uint64_t ns;            /* when it was appended */
};

/* The owner's write buffers. The owner frames records at the end of its
 * chunk and hands the new bytes over to the sync thread at every flush, when
 * the chunk is full and when the segment rolls. The sync thread writes what
 * was handed over (pwrite, no fdatasync) at the start of each pass, so the
 * owner thread makes no write system call. Every chunk is on the write
 * queue from the moment the owner takes it; one the owner is done with
 * (full, its segment rolled or reclaimed) leaves the queue for the free list
 * once all of it is written. */
struct tr_wal_chunk {
    struct tr_wal_chunk *next;   /* shared: next on the write queue or the free list */
    struct tr_wal_seg *seg;      /* owner, set before the first handover */
    uint64_t off;                /* file offset of buf[0], likewise */
    uint64_t last_seq;           /* owner: highest record framed in it (0 = none) */
    int framed;                  /* owner: a record was framed since the last handover */
    size_t len;                  /* owner: bytes framed; the owner writes only buf[hand..] */
    size_t hand;                 /* shared, written by the owner: bytes handed over */
    int done;                    /* shared: the owner frames no more in it */
    size_t take, wrote;          /* thread: bytes this pass writes through, bytes written */
    size_t cap;
    unsigned char buf[];
};
struct tr_wal {
    struct tr_wal_config cfg;
    char *dir;
    const struct tr_wal_io *io;
    int dirfd;
    int ckpt_fd;            /* -1 until the file exists */
    uint64_t ckpt_gen;
    unsigned char id[TR_WAL_ID_BYTES];   /* the log's identity (set by recovery) */
    uint64_t dev;           /* device number of dir's file system */
    int reopening;          /* opened with cfg.expect: want says where the log was */
    struct tr_wal_ident want;

    /* owner */
    struct tr_wal_seg **segs;   /* live segments, oldest first; the active one last */
    size_t nsegs, segcap;
    uint64_t frontier;          /* acknowledged through */
    struct tr_wal_ring ring;    /* records frontier+1 .. frontier+tr_wal_ring_n handed out */
    uint64_t cur;               /* the next record the reader hands out */
    uint64_t hpos;              /* log position of record frontier+tr_wal_ring_n+1 */
    struct tr_wal_scan rscan;
    struct tr_wal_seg *rseg;    /* segment rscan.fd belongs to */
    uint64_t durable_seq, durable_g;   /* copied from the shared ones by pump */
    struct tr_wal_chunk *chunk;        /* the one being framed in (on the queue); NULL: none */
    int wrote_early;            /* append wrote without a flush since the last tr_wal_flush */
    uint64_t dropped, refused_full, refused_too_big;
    uint64_t corrupt_records, corrupt_bytes, torn_bytes, bad_seq_frames;
    /* No space for a new segment (wal.c): appends that need one are refused
     * without I/O until nospace_retry_ns, then one creation is tried; the
     * wait doubles from TR_WAL_NOSPACE_MIN_NS to TR_WAL_NOSPACE_MAX_NS and
     * restarts at the minimum whenever segments were unlinked. */
    int nospace;
    uint64_t nospace_retry_ns, nospace_backoff_ns;
    uint64_t refused_nospace, space_retries;
    uint64_t recycled;          /* segments that reused a kept file */
    /* append -> durable latency: runs of appends not yet timed as durable,
     * (struct tr_wal_lat_mark, oldest first, room for TR_WAL_LAT_MARKS
     * reserved at open); lat_done is the last record timed */
    struct tr_hist *lat;
    struct tr_ring marks;
    uint64_t lat_res_ns, lat_done;
    unsigned lat_unclocked;     /* appends since the clock was last read; 0 after a flush */

    /* shared (mu) */
    pthread_mutex_t mu;
    pthread_cond_t work;        /* the sync thread waits here */
    pthread_cond_t done;        /* owner waits here (tr_wal_sync, buffer full) */
    pthread_t thread;
    int thread_started;
    /* the write queue, oldest first (the owner's chunk last), and written
     * chunks for the owner to take again; nchunks counts both */
    struct tr_wal_chunk *wq, **wq_tail, *cfree;
    unsigned nchunks, nfree;
    uint64_t handovers;         /* handovers with new bytes so far */
    uint64_t flushed_seq, flushed_g;   /* the owner handed over everything through these */
    struct tr_wal_seg *seals, *reclaim, *dead;
    /* acknowledged segment files kept for reuse (the sync thread adds, the
     * owner takes); spared: some were added since the owner last looked */
    struct tr_wal_seg *spares;
    uint32_t nspares;
    int spared;
    struct tr_wal_seg *active;  /* appends go here; NULL until the first append */
    uint64_t dir_changes;       /* segment files created so far (the sync thread fsyncs the directory) */
    struct tr_wal_lat_mark pubs[TR_WAL_LAT_PUBS];   /* durable-through advances and when; pump takes them */
    size_t npubs;
    uint64_t active_off;        /* next write offset in active */
    uint64_t end_g;             /* log position after the last appended byte */
    uint64_t next_seq;
    uint64_t pub_frontier, pub_hint_seg, pub_hint_off;
    uint64_t persisted_frontier;      /* last frontier put in a marker or checkpoint */
    uint64_t written_seq, written_g, synced_seq, synced_g;
    uint64_t s_durable_seq, s_durable_g;
    uint64_t sync_req, sync_done;
    int closing, idle, fail_told, thread_exited;
    /* Written under mu, but atomic so that an append (owner) can read them
     * without it: a record that does not start a segment touches only
     * owner fields, and taking mu for each one had the owner block on the
     * sync thread a thousand times per million records. A stale read
     * costs nothing: an append that misses a just-set failure is one the
     * failure would have found in the buffer anyway (it never becomes
     * durable, and the owner hears of the failure at its next pump), and
     * a stale busy only moves an early write to the next flush or adds
     * one write. */
    _Atomic int busy;   /* the sync thread is inside a pass */
    _Atomic int failed; /* the first write or sync error (negative errno), for good */
    uint64_t syncs, checkpoints, dir_syncs;
    uint64_t wakeups;   /* times the sync thread woke from an idle wait */
};

#endif
