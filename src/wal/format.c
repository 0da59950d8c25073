/* format.c - the WAL's on-disk format: encode and check, no I/O.
 *
 * This file owns the format; docs/ARCHITECTURE.md repeats it. Every integer is
 * little-endian whatever the host. A checksum is always verified before any
 * field it covers is trusted (a corrupt length never sizes an allocation).
 *
 * Directory: <dir>/<20-digit first sequence number>.wal   segments
 *            <dir>/checkpoint                              A/B slots
 *            <dir>/quarantine/<segment>-<offset>.bad       copies of damaged bytes
 *
 * Segment header, 32 bytes at offset 0:
 *    0  8  magic "TRWALSEG"
 *    8  4  format version (1)
 *   12  4  header size (32)
 *   16  8  first sequence number (same as the file name)
 *   24  4  reserved, 0
 *   28  4  CRC32C of bytes 0..27
 *
 * Frames follow back to back from offset 32; a segment never exceeds its
 * configured size. A frame is:
 *    0  4  length of the payload in bytes; bit 31 set = frontier marker
 *    4  8  sequence number (record) / the next record's number (marker)
 *   12  4  CRC32C of bytes 0..11 (header CRC)
 *   16  n  payload
 * 16+n  4  CRC32C of the payload
 * A record's payload is 1..max_record_bytes opaque bytes; its sequence number
 * is one more than the previous record's. A marker does not use a sequence
 * number; its 24-byte payload is the acknowledged-through frontier (8), and
 * where record frontier+1 starts: first sequence number of its segment (8)
 * and byte offset in that segment (8). Markers make the frontier durable with
 * the data, by the same fdatasync.
 *
 * Checkpoint file, 1024 bytes: slot A at 0, slot B at 512 (separate sectors).
 * Slot, 76 bytes used, rest zero:
 *    0  8  magic "TRWALCKP"
 *    8  4  checkpoint format version (2)
 *   12  4  used bytes (76)
 *   16  8  generation (slot = generation % 2; the valid slot with the
 *          highest generation wins)
 *   24  8  acknowledged-through frontier
 *   32  8  next sequence number known durable (a floor for numbering)
 *   40  8  hint: first sequence number of the segment holding frontier+1
 *   48  8  hint: byte offset of that record in it
 *   56 16  log identity: random, chosen when the log is created and kept
 *          for its life (a reopen checks it: another directory at the same
 *          path, e.g. an unmounted file system's mount point, is not it)
 *   72  4  CRC32C of bytes 0..71
 * Version 1 (still read, never written) had no identity: 60 bytes used,
 * its CRC32C of bytes 0..55 at 56; a log opened from it gets an identity.
 */
#include "wal/wal_int.h"

#include <string.h>

static const unsigned char seg_magic[8] = {'T', 'R', 'W', 'A', 'L', 'S', 'E', 'G'};
static const unsigned char ckpt_magic[8] = {'T', 'R', 'W', 'A', 'L', 'C', 'K', 'P'};

void tr_wal_seghdr_encode(unsigned char *b, uint64_t first_seq) {
    memset(b, 0, TR_WAL_SEG_HDR);
    memcpy(b, seg_magic, 8);
    tr_wal_put32(b + 8, TR_WAL_VERSION);
    tr_wal_put32(b + 12, TR_WAL_SEG_HDR);
    tr_wal_put64(b + 16, first_seq);
    tr_wal_put32(b + 28, tr_wal_crc32c(0, b, 28));
}

/* Does a magic that fails its CRC still look like ours? Yes when at most
 * two bits differ (bit rot) or when every byte is ours or zero (a header torn
 * by a crash: unwritten sectors read as zeros). Anything else is somebody
 * else's file. */
static int damaged_magic(const unsigned char *m, const unsigned char *ours) {
    int bits = 0, zero_or_ours = 1;
    for (int i = 0; i < 8; i++) {
        bits += __builtin_popcount((unsigned)(m[i] ^ ours[i]));
        if (m[i] && m[i] != ours[i]) zero_or_ours = 0;
    }
    return bits <= 2 || zero_or_ours;
}

int tr_wal_seghdr_decode(const unsigned char *b, size_t n, uint64_t *first_seq, uint32_t *version) {
    *first_seq = 0;
    *version = 0;
    if (n < TR_WAL_SEG_HDR) return TR_WAL_HDR_DAMAGED;   /* torn at creation */
    int crc_ok = tr_wal_crc32c(0, b, 28) == tr_wal_get32(b + 28);
    int magic_ok = memcmp(b, seg_magic, 8) == 0;
    if (!crc_ok) return magic_ok || damaged_magic(b, seg_magic) ? TR_WAL_HDR_DAMAGED : TR_ECORRUPT;
    if (!magic_ok) return TR_ECORRUPT;
    *version = tr_wal_get32(b + 8);
    if (*version != TR_WAL_VERSION || tr_wal_get32(b + 12) != TR_WAL_SEG_HDR)
        return TR_EUNSUPPORTED;
    *first_seq = tr_wal_get64(b + 16);
    return TR_WAL_HDR_OK;
}

void tr_wal_frame_hdr_encode(unsigned char *b, uint32_t len, int marker, uint64_t seq) {
    tr_wal_put32(b, len | (marker ? TR_WAL_MARKER_FLAG : 0));
    tr_wal_put64(b + 4, seq);
    tr_wal_put32(b + 12, tr_wal_crc32c(0, b, 12));
}

int tr_wal_frame_hdr_decode(const unsigned char *b, uint32_t max_rec, struct tr_wal_frame *f) {
    if (tr_wal_crc32c(0, b, 12) != tr_wal_get32(b + 12)) return TR_ECORRUPT;
    uint32_t lt = tr_wal_get32(b);
    f->marker = (lt & TR_WAL_MARKER_FLAG) != 0;
    f->len = lt & ~TR_WAL_MARKER_FLAG;
    f->seq = tr_wal_get64(b + 4);
    if (f->marker ? f->len != TR_WAL_MARKER_PAYLOAD : (f->len == 0 || f->len > max_rec)) return TR_ECORRUPT;
    f->size = (uint64_t)f->len + TR_WAL_FRAME_OVERHEAD;
    f->payload = NULL;
    return 0;
}

void tr_wal_marker_encode(unsigned char *b, uint64_t next_seq, uint64_t frontier,
                          uint64_t hint_seg, uint64_t hint_off) {
    tr_wal_frame_hdr_encode(b, TR_WAL_MARKER_PAYLOAD, 1, next_seq);
    unsigned char *p = b + TR_WAL_FRAME_HDR;
    tr_wal_put64(p, frontier);
    tr_wal_put64(p + 8, hint_seg);
    tr_wal_put64(p + 16, hint_off);
    tr_wal_put32(p + TR_WAL_MARKER_PAYLOAD, tr_wal_crc32c(0, p, TR_WAL_MARKER_PAYLOAD));
}

void tr_wal_ckpt_encode(unsigned char *slot, const struct tr_wal_ckpt *c) {
    memset(slot, 0, TR_WAL_CKPT_SLOT);
    memcpy(slot, ckpt_magic, 8);
    tr_wal_put32(slot + 8, TR_WAL_CKPT_VERSION);
    tr_wal_put32(slot + 12, TR_WAL_CKPT_USED);
    tr_wal_put64(slot + 16, c->gen);
    tr_wal_put64(slot + 24, c->frontier);
    tr_wal_put64(slot + 32, c->next_seq);
    tr_wal_put64(slot + 40, c->hint_seg);
    tr_wal_put64(slot + 48, c->hint_off);
    memcpy(slot + 56, c->id, TR_WAL_ID_BYTES);
    tr_wal_put32(slot + 72, tr_wal_crc32c(0, slot, 72));
}

int tr_wal_ckpt_decode(const unsigned char *slot, struct tr_wal_ckpt *c, uint32_t *version) {
    memset(c, 0, sizeof *c);
    *version = 0;
    /* Which layout the CRC proves decides how the rest is read: a version 1
     * slot has zeros where version 2 keeps the identity and its CRC. */
    int v2 = tr_wal_crc32c(0, slot, 72) == tr_wal_get32(slot + 72);
    int v1 = tr_wal_crc32c(0, slot, 56) == tr_wal_get32(slot + 56);
    if (!v1 && !v2) return TR_WAL_HDR_DAMAGED;
    if (memcmp(slot, ckpt_magic, 8) != 0) return TR_ECORRUPT;
    *version = tr_wal_get32(slot + 8);
    uint32_t used = tr_wal_get32(slot + 12);
    if (v2 && *version == TR_WAL_CKPT_VERSION && used == TR_WAL_CKPT_USED)
        memcpy(c->id, slot + 56, TR_WAL_ID_BYTES);
    else if (!(v1 && *version == 1 && used == 60))
        return TR_EUNSUPPORTED;
    c->gen = tr_wal_get64(slot + 16);
    c->frontier = tr_wal_get64(slot + 24);
    c->next_seq = tr_wal_get64(slot + 32);
    c->hint_seg = tr_wal_get64(slot + 40);
    c->hint_off = tr_wal_get64(slot + 48);
    return TR_WAL_HDR_OK;
}
