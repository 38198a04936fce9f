/* tools/encode: writes a profile (as tools/profile holds it) back as pprof protobuf
 * (profile.proto), gzip'd: the output of `heapprof symbolize` and `heapprof convert
 * --to pprof`. Every field the reader keeps is written; sample labels, which it does not
 * keep, are lost. */
#ifndef HPT_ENCODE_H
#define HPT_ENCODE_H
#include <stddef.h>
#include <stdint.h>
#include "profile.h"

/* Encodes p into a malloc'd buffer (*out, *len), uncompressed. Returns 0 or -ENOMEM. */
int en_encode(const pf_profile *p, uint8_t **out, size_t *len);

/* Writes p gzip'd to path, or to standard output when path is "-". A file is written
 * whole or not at all: a temporary file in the same directory renamed over path.
 * Returns 0, or -1 with "path: why" in err. */
int en_write(const pf_profile *p, const char *path, char *err, size_t errlen);

#endif
