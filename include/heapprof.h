/* heapprof: a sampling heap profiler that is also the allocator (jemalloc inside).
 *
 * Linking with -lheapprof (or LD_PRELOAD=libheapprof.so) replaces malloc, free, the rest of
 * the C allocation functions and C++ operator new/delete. Allocations are sampled on average
 * once every `rate` bytes (512 KiB by default); profiles are gzip'd pprof protobuf files that
 * `go tool pprof` reads. Settings come from the HEAPPROF environment variable (doc/SETTINGS.md);
 * this header is the programmatic interface. Every function is safe to call from any thread
 * (not from a signal handler), before or after main.
 *
 * Errors are returned as 0 or a negative errno value; heapprof_strerror() describes them. */
#ifndef HEAPPROF_H
#define HEAPPROF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HEAPPROF_VERSION_MAJOR 0
#define HEAPPROF_VERSION_MINOR 1
#define HEAPPROF_VERSION_PATCH 0

/* Counters of the profile as it stands, in unbiased estimates (scaled for the sampling). */
typedef struct heapprof_totals {
	uint64_t alloc_objects;	/* objects allocated since start, estimated */
	uint64_t alloc_bytes;	/* bytes allocated since start, estimated */
	uint64_t inuse_objects;	/* objects live now, estimated */
	uint64_t inuse_bytes;	/* bytes live now, estimated */
	uint64_t samples;	/* sampled allocations recorded since start */
	uint64_t stacks;	/* distinct call stacks in the stack table */
} heapprof_totals;

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *heapprof_version(void);

/* Writes a profile now. path NULL: the next automatic name,
 * "<prefix>.<pid>.<seq>.api.pb.gz". The file is written under a temporary name and renamed,
 * so it is either complete or absent. Returns 0, or -errno (-ENOSYS: profiler inert). */
int heapprof_dump(const char *path);

/* Mean bytes between samples. 0 turns sampling off, 1 records every allocation.
 * The calling thread uses the new rate from its next allocation on; other threads from
 * their next sample (at the latest after 1 GiB when sampling was off).
 * Returns 0 or -EINVAL (above 1 TiB) / -ENOSYS. */
int heapprof_set_rate(size_t bytes);
size_t heapprof_get_rate(void);

/* Starts or stops recording new samples (frees of blocks already sampled are always
 * recorded, so in-use figures stay right). Like a rate change, it takes effect in the
 * calling thread at once and in others at their next sample. Returns 0 or -ENOSYS. */
int heapprof_activate(void);
int heapprof_deactivate(void);
int heapprof_is_active(void);

/* Fills *out with the current totals. Returns 0, -EINVAL (out NULL) or -ENOSYS. */
int heapprof_get_totals(heapprof_totals *out);

/* A description of an error returned by this API (a negative errno). Never NULL. */
const char *heapprof_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
