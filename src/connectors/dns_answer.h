/* dns_answer.h - DNS names, record types and answers as 0.11's dns offramp
 * shows them (src/sink/dns.rs, trust-dns 0.20).
 *
 * Pure functions on the loop thread or any other; no resolver here (dns.c
 * drives c-ares). The answer parser reads a whole DNS response message
 * (RFC 1035 4.1) as c-ares hands it over; names, compression pointers
 * included, are expanded by c-ares (ares_expand_name), the rest is read
 * here with every length checked against the message, so a hostile or
 * truncated message is an error, never a read past its end.
 */
#ifndef TR_DNS_ANSWER_H
#define TR_DNS_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"

/* The record type number of 0.11's names ("A", "AAAA", "ANAME", "ANY",
 * "AXFR", "CAA", "CNAME", "HINFO", "HTTPS", "IXFR", "MX", "NAPTR", "NS",
 * "NULL", "OPENPGPKEY", "OPT", "PTR", "SOA", "SRV", "SSHFP", "SVCB",
 * "TLSA", "TXT", "ZERO"; case-sensitive as in 0.11), or -1. */
int tr_dns_type_from_name(const char *name);
/* The name of a type number, "TYPE<n>" for others (buf >= 16 bytes). */
const char *tr_dns_type_name(int type, char *buf, size_t n);

/* Parse the response msg[0..len) and append to *arr (a TR_ARR) one record
 * {"<TYPE>": "<rdata as text>", "ttl": <u32>} per answer of type qtype
 * (every answer for ANY, 255). Rendered as trust-dns prints them: A and
 * AAAA addresses, names fully qualified with a trailing dot (CNAME, NS,
 * PTR, ANAME), TXT strings concatenated (invalid UTF-8 repaired), MX
 * "pref name", SRV "prio weight port target", SOA "mname rname serial
 * refresh retry expire minimum"; answers of other types are skipped.
 * *rcode gets the response code of the header. Returns 0, TR_EPARSE for a
 * malformed message (*arr may hold the records read before), -ENOMEM. */
int tr_dns_answer_parse(const uint8_t *msg, size_t len, int qtype, tr_value *arr, int *rcode);

#endif
