/* lib/gzout: gzip (RFC 1952) through zlib, to a file descriptor or from a buffer.
 * The only module that includes zlib. Dumper side only: may call malloc. */
#ifndef HP_GZOUT_H
#define HP_GZOUT_H
#include <stddef.h>
#include <stdint.h>

/* The level profiles are compressed at: zlib's fastest, as Go's runtime/pprof writes its
 * profiles (gzip.BestSpeed). A profile of 100,000 stacks: 175 ms to dump at level 6, 66 ms
 * at level 1, for a file of 575 KB instead of 408 KB (bench/dump_cost). */
#define HP_GZ_LEVEL 1

/* Compresses data[0..len) as one gzip member and writes it all to fd (retrying short
 * writes and EINTR). level: zlib level 1..9 (HP_GZ_LEVEL for profiles).
 * Returns 0, -errno from write(2), -ENOMEM, or -EIO for a zlib failure. */
int hp_gz_write_fd(int fd, const void *data, size_t len, int level);

/* Writes data[0..len) to fd as it is (retrying short writes and EINTR): 0 or -errno
 * (-EIO if write(2) returns 0). */
int hp_write_fd(int fd, const void *data, size_t len);

/* Compresses data[0..len) as one gzip member into a malloc'd buffer (*out, *outlen; the
 * caller frees it). 0, -ENOMEM, -E2BIG (len over 4 GiB) or -EIO. */
int hp_gz_compress(const void *data, size_t len, int level, uint8_t **out, size_t *outlen);

/* Decompresses one gzip buffer into a malloc'd buffer (*out, *outlen).
 * Returns 0, -ENOMEM, or -EINVAL for data that is not valid gzip. Used by tests and tools. */
int hp_gz_inflate(const void *gz, size_t len, uint8_t **out, size_t *outlen);

#endif
