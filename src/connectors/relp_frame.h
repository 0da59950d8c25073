/* relp_frame.h - reading RELP frames (the Reliable Event Logging Protocol
 * that rsyslog's omrelp/imrelp speak), incrementally, from any cut of the
 * byte stream:
 *
 *   frame   = txnr SP command SP datalen [SP data] LF
 *   txnr    = 1*9DIGIT          (transaction number, 1..999999999)
 *   command = 1*32ALPHA         (open, syslog, close, rsp, serverclose, ...)
 *   datalen = 1*9DIGIT          (bytes of data; 0: no data, the SP optional)
 *
 * Bounded: data longer than max_data is refused before a byte of it is
 * kept, and the parser holds at most one frame's data. Ownership: the
 * parser owns its buffer; a frame's data points into it until the next
 * call. Not thread-safe.
 */
#ifndef TR_RELP_FRAME_H
#define TR_RELP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

#define TR_RELP_CMD_MAX 32
#define TR_RELP_TXNR_MAX 999999999u

struct tr_relp_frame {
    uint64_t txnr;
    char cmd[TR_RELP_CMD_MAX + 1];   /* NUL-terminated */
    const char *data;                /* len bytes (not NUL-terminated) */
    size_t len;
};

struct tr_relp_parser {
    int st;
    uint64_t txnr, datalen;
    int digits;
    char cmd[TR_RELP_CMD_MAX + 1];
    size_t cmd_len;
    struct tr_buf data;
    uint64_t max_data;
};

void tr_relp_parser_init(struct tr_relp_parser *p, uint64_t max_data);
void tr_relp_parser_fini(struct tr_relp_parser *p);

/* Read from p[0..n). Returns 1 with *f filled when a frame is complete
 * (*used bytes were taken; call again with the rest), 0 when all n bytes
 * were taken and more are needed, TR_EPARSE (malformed: d says where and
 * why) or TR_ETOOBIG (datalen over max_data) after which the stream cannot
 * go on, or -ENOMEM. */
int tr_relp_parse(struct tr_relp_parser *p, const char *buf, size_t n, size_t *used,
                  struct tr_relp_frame *f, struct tr_diag *d);

#endif
