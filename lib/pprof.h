/* lib/pprof: encodes a heap profile as pprof protobuf (profile.proto), uncompressed.
 * Runs on the dumper side only (never inside the allocator): it may call malloc, which the
 * caller's re-entrancy guard sends straight to jemalloc, unprofiled. */
#ifndef HP_PPROF_H
#define HP_PPROF_H
#include <stddef.h>
#include <stdint.h>

/* Sample value indexes, in the order they are written. */
enum {
	HP_ALLOC_OBJECTS = 0,	/* alloc_objects/count */
	HP_ALLOC_SPACE = 1,	/* alloc_space/bytes */
	HP_INUSE_OBJECTS = 2,	/* inuse_objects/count */
	HP_INUSE_SPACE = 3,	/* inuse_space/bytes */
	HP_NVALUES = 4
};

typedef struct hp_pprof_mapping {
	uint64_t start, limit, offset;	/* executable segment as in /proc/self/maps */
	const char *file;		/* absolute path */
	const char *build_id;		/* GNU build id, lowercase hex; "" if none */
} hp_pprof_mapping;

typedef struct hp_pprof_sample {
	const uint64_t *pcs;		/* return addresses, innermost (the allocator's caller) first */
	uint32_t depth;
	int64_t values[HP_NVALUES];	/* already scaled (unbiased estimates) */
} hp_pprof_sample;

/* Resolves the function containing addr; returns its name (valid until the encode call
 * returns) or NULL when unknown. */
typedef const char *(*hp_pprof_symbolize_fn)(void *ctx, uint64_t addr);

typedef struct hp_pprof_profile {
	const hp_pprof_sample *samples;
	size_t nsamples;
	const hp_pprof_mapping *mappings;
	size_t nmappings;
	int64_t period;			/* the sampling rate, bytes (period_type space/bytes) */
	int64_t time_nanos;		/* wall time of the dump */
	int64_t duration_nanos;		/* since the profiler started */
	int default_sample_type;	/* one of HP_ALLOC_OBJECTS..HP_INUSE_SPACE */
	const char *const *comments;	/* free-text comments, may be NULL */
	size_t ncomments;
	hp_pprof_symbolize_fn symbolize;	/* may be NULL: no function names */
	void *symbolize_ctx;
	/* May be NULL. Called once, after every location was symbolized and just before the
	 * string table is written; the string it returns (NULL: none) is the last comment,
	 * so it can report what the encoding itself used (the profiler's own memory). The
	 * string must live until hp_pprof_encode returns. */
	const char *(*last_comment)(void *ctx);
	void *last_comment_ctx;
} hp_pprof_profile;

/* Encodes prof into a buffer (*out, *outlen) from hp_ialloc_k(HP_MEM_DUMP, ...): the
 * caller frees it with hp_ifree_k(HP_MEM_DUMP, ...) (free() in the unit tests' stub).
 * Each location's address is the return address minus one; locations are shared between
 * samples by address; each location gets its mapping (by address range) and one Line whose
 * Function carries the resolved name (name = system_name). Mappings are written with
 * has_functions set when a symbolizer is given.
 * Returns 0, or -ENOMEM / -EINVAL. */
int hp_pprof_encode(const hp_pprof_profile *prof, uint8_t **out, size_t *outlen);

#endif
