/* file.h - read a whole (bounded) file into memory.
 *
 * For sources and configurations that are parsed in one piece. Not for data
 * streams: those are read through the event loop.
 */
#ifndef TR_FILE_H
#define TR_FILE_H

#include <stddef.h>

/* Read path into a fresh NUL-terminated buffer (*out, tr_free it; *len
 * excludes the NUL). Returns 0, -errno from open/read, TR_ETOOBIG when the
 * file holds more than max bytes, or -ENOMEM. *out is NULL on failure. */
int tr_file_read(const char *path, size_t max, char **out, size_t *len);

#endif
