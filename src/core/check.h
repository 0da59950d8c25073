/* check.h - invariant checks too costly for a release build.
 *
 * A module writes a function that returns NULL when its data structure is
 * consistent, or the text of the first invariant that does not hold, and
 * calls it through TR_CHECK at the end of its public operations. In the
 * sanitizer build (`make unit-asan`: -DTR_CHECKED) a broken invariant
 * aborts there, naming it, while the operation that broke it is still on
 * the stack; elsewhere the call is compiled out. Tests call the checking
 * functions directly, so the checks themselves are tested in every build.
 */
#ifndef TR_CHECK_H
#define TR_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#ifdef TR_CHECKED
#define TR_CHECK(broken_expr)                                                              \
    do {                                                                                   \
        const char *tr_check_why_ = (broken_expr);                                         \
        if (tr_check_why_) {                                                               \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, tr_check_why_); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)
#else
#define TR_CHECK(broken_expr) ((void)0)
#endif

#endif
