/* relp_frame.c - the RELP frame reader (relp_frame.h): a byte-at-a-time
 * state machine for the header and trailer, bulk copies for the data. */
#include <errno.h>
#include <string.h>

#include "connectors/relp_frame.h"

enum { S_TXNR, S_CMD, S_LEN, S_SP, S_DATA, S_LF };

void tr_relp_parser_init(struct tr_relp_parser *p, uint64_t max_data) {
    memset(p, 0, sizeof *p);
    tr_buf_init(&p->data);
    p->max_data = max_data;
}

void tr_relp_parser_fini(struct tr_relp_parser *p) { tr_buf_fini(&p->data); }

static void restart(struct tr_relp_parser *p) {
    p->st = S_TXNR;
    p->txnr = p->datalen = 0;
    p->digits = 0;
    p->cmd_len = 0;
    tr_buf_reset(&p->data);
}

static int bad(struct tr_diag *d, const char *what, unsigned char c) {
    if (c >= 0x20 && c < 0x7f)
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "malformed RELP frame: %s, found '%c'", what, c);
    return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "malformed RELP frame: %s, found byte 0x%02x", what, c);
}

static int done(struct tr_relp_parser *p, struct tr_relp_frame *f) {
    f->txnr = p->txnr;
    memcpy(f->cmd, p->cmd, p->cmd_len);
    f->cmd[p->cmd_len] = 0;
    f->data = p->data.data ? p->data.data : "";
    f->len = p->data.len;
    p->st = -1;   /* restart on the next call, keeping the data until then */
    return 1;
}

int tr_relp_parse(struct tr_relp_parser *p, const char *buf, size_t n, size_t *used,
                  struct tr_relp_frame *f, struct tr_diag *d) {
    size_t i = 0;
    if (p->st < 0) restart(p);
    while (i < n) {
        unsigned char c = (unsigned char)buf[i];
        switch (p->st) {
        case S_TXNR:
        case S_LEN: {
            uint64_t *v = p->st == S_TXNR ? &p->txnr : &p->datalen;
            if (c >= '0' && c <= '9') {
                if (++p->digits > 9) return bad(d, "number of more than 9 digits", c);
                *v = *v * 10 + (uint64_t)(c - '0');
                i++;
                continue;
            }
            if (!p->digits) return bad(d, p->st == S_TXNR ? "transaction number expected" : "data length expected", c);
            if (p->st == S_TXNR) {
                if (c != ' ') return bad(d, "space after the transaction number expected", c);
                p->st = S_CMD;
                i++;
                continue;
            }
            /* after the length: SP and data, or the trailer when there is none */
            if (p->datalen > p->max_data) {
                *used = i;
                return tr_diag_set(d, TR_ETOOBIG, NULL, 0, 0,
                                   "RELP frame of %llu data bytes is over the %llu allowed",
                                   (unsigned long long)p->datalen, (unsigned long long)p->max_data);
            }
            if (c == ' ') {
                p->st = p->datalen ? S_DATA : S_LF;
                i++;
                if (p->datalen && tr_buf_reserve(&p->data, (size_t)p->datalen) != 0) return -ENOMEM;
                continue;
            }
            if (c == '\n' && !p->datalen) {
                *used = i + 1;
                return done(p, f);
            }
            return bad(d, "space or end of frame after the data length expected", c);
        }
        case S_CMD:
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
                if (p->cmd_len == TR_RELP_CMD_MAX) return bad(d, "command of more than 32 letters", c);
                p->cmd[p->cmd_len++] = (char)c;
                i++;
                continue;
            }
            if (!p->cmd_len || c != ' ') return bad(d, "command of letters then a space expected", c);
            p->st = S_LEN;
            p->digits = 0;
            i++;
            continue;
        case S_DATA: {
            size_t want = (size_t)p->datalen - p->data.len, take = n - i < want ? n - i : want;
            if (tr_buf_append(&p->data, buf + i, take) != 0) return -ENOMEM;
            i += take;
            if (p->data.len == p->datalen) p->st = S_LF;
            continue;
        }
        case S_LF:
            if (c != '\n') return bad(d, "end of frame (LF) after the data expected", c);
            *used = i + 1;
            return done(p, f);
        }
    }
    *used = n;
    return 0;
}
