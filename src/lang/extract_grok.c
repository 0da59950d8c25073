/* extract_grok.c - the grok extractor: `%{PATTERN:name}` references to a
 * built-in set of named patterns, expanded into one regular expression
 * (regex.c, so the same syntax checks and match limits as re); every
 * reference with a name becomes a named group and a field of the result.
 *
 * The built-in set covers the common logstash base patterns (numbers,
 * words, hosts and IPs, paths and URIs, dates and times, log levels),
 * written without look-around (which regex.c refuses), so DATA is greedy
 * here. It does not read a patterns file.
 * Invariant: group[i] is the capture group of field names[i].
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "lang/extract_int.h"
#include "lang/regex.h"

#define MAX_GROK_FIELDS 64
#define MAX_GROK_DEPTH 16
#define MAX_GROK_REGEX (64 * 1024)   /* below TR_REGEX_MAX_PATTERN */

static const struct {
    const char *name, *def;
} patterns[] = {
    {"USERNAME", "[a-zA-Z0-9._-]+"},
    {"USER", "%{USERNAME}"},
    {"EMAILLOCALPART", "[a-zA-Z][a-zA-Z0-9_.+-=:]+"},
    {"EMAILADDRESS", "%{EMAILLOCALPART}@%{HOSTNAME}"},
    {"INT", "[+-]?[0-9]+"},
    {"BASE10NUM", "[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)"},
    {"NUMBER", "%{BASE10NUM}"},
    {"BASE16NUM", "[+-]?(0x)?[0-9A-Fa-f]+"},
    {"BASE16FLOAT", "[+-]?(0x)?([0-9A-Fa-f]+(\\.[0-9A-Fa-f]*)?|\\.[0-9A-Fa-f]+)"},
    {"POSINT", "[1-9][0-9]*"},
    {"NONNEGINT", "[0-9]+"},
    {"WORD", "\\b\\w+\\b"},
    {"NOTSPACE", "\\S+"},
    {"SPACE", "\\s*"},
    {"DATA", ".*"},
    {"GREEDYDATA", ".*"},
    {"QUOTEDSTRING", "\"[^\"]*\"|'[^']*'|`[^`]*`"},
    {"QS", "%{QUOTEDSTRING}"},
    {"UUID", "[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}"},
    {"MAC", "%{CISCOMAC}|%{WINDOWSMAC}|%{COMMONMAC}"},
    {"CISCOMAC", "([A-Fa-f0-9]{4}\\.){2}[A-Fa-f0-9]{4}"},
    {"WINDOWSMAC", "([A-Fa-f0-9]{2}-){5}[A-Fa-f0-9]{2}"},
    {"COMMONMAC", "([A-Fa-f0-9]{2}:){5}[A-Fa-f0-9]{2}"},
    {"IPV4", "(25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])){3}"},
    {"IPV6", "([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|([0-9A-Fa-f]{1,4}:){1,7}:|"
             "([0-9A-Fa-f]{1,4}:){1,6}(:[0-9A-Fa-f]{1,4}){1,6}|:(:[0-9A-Fa-f]{1,4}){1,7}|::"},
    {"IP", "%{IPV6}|%{IPV4}"},
    {"HOSTNAME", "\\b[0-9A-Za-z][0-9A-Za-z-]{0,62}(\\.[0-9A-Za-z][0-9A-Za-z-]{0,62})*\\.?\\b"},
    {"HOST", "%{HOSTNAME}"},
    {"IPORHOST", "%{IP}|%{HOSTNAME}"},
    {"HOSTPORT", "%{IPORHOST}:%{POSINT}"},
    {"PATH", "%{UNIXPATH}|%{WINPATH}"},
    {"UNIXPATH", "(/[[:alnum:]_%!$@:.,+~-]*)+"},
    {"WINPATH", "([A-Za-z]+:|\\\\)(\\\\[^\\\\?*]*)+"},
    {"URIPROTO", "[A-Za-z]([A-Za-z0-9+.-]+)"},
    {"URIHOST", "%{IPORHOST}(:%{POSINT})?"},
    {"URIPATH", "(/[A-Za-z0-9$.+!*'(){},~:;=@#%&_-]*)+"},
    {"URIPARAM", "\\?[]A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\\[-]*"},
    {"URIPATHPARAM", "%{URIPATH}(%{URIPARAM})?"},
    {"URI", "%{URIPROTO}://(%{USER}(:[^@]*)?@)?(%{URIHOST})?(%{URIPATHPARAM})?"},
    {"MONTH", "\\b(Jan(uary|uar)?|Feb(ruary|ruar)?|Mar(ch|z)?|Apr(il)?|May|Mai|Jun(e|i)?|Jul(y)?|"
              "Aug(ust)?|Sep(tember)?|Oct(ober)?|Okt(ober)?|Nov(ember)?|Dec(ember)?|Dez(ember)?)\\b"},
    {"MONTHNUM", "0?[1-9]|1[0-2]"},
    {"MONTHNUM2", "0[1-9]|1[0-2]"},
    {"MONTHDAY", "(0[1-9])|([12][0-9])|(3[01])|[1-9]"},
    {"DAY", "Mon(day)?|Tue(sday)?|Wed(nesday)?|Thu(rsday)?|Fri(day)?|Sat(urday)?|Sun(day)?"},
    {"YEAR", "[0-9]{2}([0-9]{2})?"},
    {"HOUR", "2[0123]|[01]?[0-9]"},
    {"MINUTE", "[0-5][0-9]"},
    {"SECOND", "(60|[0-5]?[0-9])([:.,][0-9]+)?"},
    {"TIME", "%{HOUR}:%{MINUTE}(:%{SECOND})?"},
    {"DATE_US", "%{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}"},
    {"DATE_EU", "%{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}"},
    {"DATE", "%{DATE_US}|%{DATE_EU}"},
    {"ISO8601_TIMEZONE", "Z|[+-]%{HOUR}(:?%{MINUTE})?"},
    {"ISO8601_SECOND", "%{SECOND}|60"},
    {"TIMESTAMP_ISO8601", "%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(:?%{SECOND})?(%{ISO8601_TIMEZONE})?"},
    {"DATESTAMP", "%{DATE}[- ]%{TIME}"},
    {"SYSLOGTIMESTAMP", "%{MONTH} +%{MONTHDAY} %{TIME}"},
    {"HTTPDATE", "%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}"},
    {"PROG", "[[:alnum:]._/%-]+"},
    {"SYSLOGPROG", "%{PROG}(\\[%{POSINT}\\])?"},
    {"SYSLOGHOST", "%{IPORHOST}"},
    {"LOGLEVEL", "[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo|INFO|[Ww]arn(ing)?|"
                 "WARN(ING)?|[Ee]rr(or)?|ERR(OR)?|[Cc]rit(ical)?|CRIT(ICAL)?|[Ff]atal|FATAL|[Ss]evere|SEVERE|"
                 "EMERG(ENCY)?|[Ee]merg(ency)?"},
};

struct tr_grok {
    struct tr_regex *re;
    struct tr_regex_match *m;       /* re's scratch, reused by every run */
    int nfields;
    int group[MAX_GROK_FIELDS];     /* capture group of each field */
    char *names[MAX_GROK_FIELDS];
};

static const char *lookup(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
        if (strlen(patterns[i].name) == len && !memcmp(patterns[i].name, name, len)) return patterns[i].def;
    return NULL;
}

/* Append src with every %{NAME[:field]} replaced by its definition in a
 * group: a named one (?<_fN>...) for a field, (?:...) for the rest. */
static int expand(struct tr_grok *g, const char *src, int depth, int top, struct tr_buf *b, char *msg, size_t mlen) {
    if (depth > MAX_GROK_DEPTH) {
        snprintf(msg, mlen, "grok patterns nest too deep");
        return TR_EPARSE;
    }
    int rc = 0;
    for (const char *p = src; *p && !rc; p++) {
        if (b->len > MAX_GROK_REGEX) {
            snprintf(msg, mlen, "grok pattern expands beyond %d bytes", MAX_GROK_REGEX);
            return TR_ETOOBIG;
        }
        if (*p == '\\' && p[1]) {
            rc = tr_buf_append(b, p, 2);
            p++;
            continue;
        }
        if (p[0] != '%' || p[1] != '{') {
            rc = tr_buf_putc(b, *p);
            continue;
        }
        const char *close = strchr(p + 2, '}');
        if (!close) {
            snprintf(msg, mlen, "unterminated grok reference");
            return TR_EPARSE;
        }
        const char *ref = p + 2;
        const char *colon = memchr(ref, ':', (size_t)(close - ref));
        size_t nlen = colon ? (size_t)(colon - ref) : (size_t)(close - ref);
        const char *def = lookup(ref, nlen);
        if (!def) {
            snprintf(msg, mlen, "Failed to compile logstash grok pattern `%s`: unknown pattern %.*s", src,
                     (int)(nlen > 64 ? 64 : nlen), ref);
            return TR_EPARSE;
        }
        /* only names in the extractor's own text become fields */
        if (colon && top) {
            if (g->nfields >= MAX_GROK_FIELDS) {
                snprintf(msg, mlen, "grok pattern has more than %d fields", MAX_GROK_FIELDS);
                return TR_ETOOBIG;
            }
            size_t flen = (size_t)(close - colon - 1);
            g->names[g->nfields] = tr_malloc(flen + 1);
            if (!g->names[g->nfields]) return -ENOMEM;
            memcpy(g->names[g->nfields], colon + 1, flen);
            g->names[g->nfields][flen] = 0;
            /* field names need not be group names (dots, @): number them */
            rc = tr_buf_printf(b, "(?<_f%d>", g->nfields++);
        } else {
            rc = tr_buf_append(b, "(?:", 3);
        }
        if (!rc) rc = expand(g, def, depth + 1, 0, b, msg, mlen);
        if (!rc) rc = tr_buf_putc(b, ')');
        p = close;
    }
    return rc;
}

void tr_grok_destroy(struct tr_grok *g) {
    if (!g) return;
    tr_regex_match_destroy(g->m);
    tr_regex_destroy(g->re);
    for (int i = 0; i < g->nfields; i++) tr_free(g->names[i]);
    tr_free(g);
}

int tr_grok_create(const char *pattern, struct tr_grok **out, char *msg, size_t mlen) {
    *out = NULL;
    struct tr_grok *g = tr_calloc(1, sizeof *g);
    if (!g) return -ENOMEM;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = expand(g, pattern, 0, 1, &b, msg, mlen);
    if (rc == -ENOMEM) snprintf(msg, mlen, "out of memory");
    if (!rc) {
        char why[200];
        rc = tr_regex_create(b.data, b.len, 0, &g->re, why, sizeof why);
        if (rc && rc != -ENOMEM) snprintf(msg, mlen, "Failed to compile logstash grok pattern `%s`: %s", pattern, why);
    }
    if (!rc) rc = tr_regex_match_create(g->re, &g->m);
    for (int i = 0; i < g->nfields && !rc; i++) {
        char name[16];
        int n = snprintf(name, sizeof name, "_f%d", i);
        g->group[i] = tr_regex_group_index(g->re, name, (size_t)n);
        assert(g->group[i] > 0);
    }
    tr_buf_fini(&b);
    if (rc) {
        if (rc == -ENOMEM) snprintf(msg, mlen, "out of memory");
        tr_grok_destroy(g);
        return rc;
    }
    *out = g;
    return 0;
}

int tr_grok_run(const struct tr_grok *g, const struct tr_str *s, int need, tr_value *out) {
    int rc = tr_regex_exec(g->m, s->data, s->len, 0);
    if (rc != 1 || !need) return rc;
    rc = tr_v_rec((size_t)g->nfields, out);
    for (int i = 0; i < g->nfields && !rc; i++) {
        size_t so, eo;
        tr_value v;
        /* a field that took no part in the match is the empty string */
        if (tr_regex_group(g->m, g->group[i], &so, &eo)) rc = tr_v_str(s->data + so, eo - so, &v);
        else rc = tr_v_str("", 0, &v);
        if (!rc) rc = tr_rec_set(out, g->names[i], strlen(g->names[i]), v);
    }
    if (rc) {
        tr_value_unref(*out);
        *out = tr_v_null();
        return rc;
    }
    return 1;
}

const char *tr_grok_error(const struct tr_grok *g) { return tr_regex_match_error(g->m); }
