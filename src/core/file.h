/* file.h - read a whole (bounded) file into memory.
 *
 * For sources and configurations that are parsed in one piece. Not for data
 * streams: those are read through the event loop. Only regular files are
 * read: a FIFO, device or socket named by mistake (or malice) would block
 * the reader or never end, so it is refused before a single read.
 */
#ifndef TR_FILE_H
#define TR_FILE_H

#include <stddef.h>

/* Open path for reading if it is a regular file. The open does not block
 * (O_NONBLOCK, so a FIFO without a writer cannot hang it), and the check is
 * fstat on the opened descriptor, so the file cannot be swapped between
 * check and read. Returns the descriptor (blocking again, O_CLOEXEC), -errno
 * from open/fstat, -EISDIR for a directory or -EINVAL for any other kind;
 * then *kind, when not NULL, says what it is ("a directory", "a FIFO", ...). */
int tr_file_open_regular(const char *path, const char **kind);

/* Read path into a fresh NUL-terminated buffer (*out, tr_free it; *len
 * excludes the NUL). Returns 0, the errors of tr_file_open_regular, -errno
 * from read, TR_ETOOBIG when the file holds more than max bytes, or
 * -ENOMEM. *out is NULL on failure. */
int tr_file_read(const char *path, size_t max, char **out, size_t *len);

#endif
