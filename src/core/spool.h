/* spool.h - byte copies let go in the order they were made.
 *
 * A producer that keeps a copy of every record until a later event (the WAL
 * operator keeps each appended record until a second sync succeeded) and
 * drops them oldest first needs no allocation per copy: the copies are laid
 * end to end in blocks, and a block goes back (to a short list of spares,
 * then to the allocator) once every copy in it was let go. A copy never
 * straddles two blocks, so a pointer handed out stays valid until its own
 * release. Not thread-safe: one owner. What the bytes mean is the caller's.
 */
#ifndef TR_SPOOL_H
#define TR_SPOOL_H

#include <stddef.h>

/* Bytes of a block; a copy larger than that gets a block of its own size. */
#define TR_SPOOL_BLOCK (64u * 1024u)
/* Empty blocks kept for the next copies instead of freed. */
#define TR_SPOOL_SPARES 4

struct tr_spool_block;
struct tr_spool {
    struct tr_spool_block *head, *tail;   /* oldest block (releases), newest (copies) */
    struct tr_spool_block *spare;         /* empty blocks, a list */
    unsigned nspare;
    size_t bytes;                         /* copied and not released */
};

/* An empty spool; allocates nothing. */
void tr_spool_init(struct tr_spool *s);
/* Frees every block; pointers it handed out are dangling from here. */
void tr_spool_fini(struct tr_spool *s);
/* Where the next n bytes go: room for them is made (0 < n), nothing is
 * committed yet, so a caller can find room first and decide later, with
 * no tr_spool_release in between (it may empty the block in place). NULL
 * when there is no memory (the spool is unchanged). */
void *tr_spool_room(struct tr_spool *s, size_t n);
/* Commits the n bytes written at the pointer the last tr_spool_room(s, n)
 * returned: they stay put until released. */
void tr_spool_commit(struct tr_spool *s, size_t n);
/* Lets go of the oldest n committed bytes, which must be exactly the
 * oldest copy not released yet (copies are released in commit order). */
void tr_spool_release(struct tr_spool *s, size_t n);

#endif
