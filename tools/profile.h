/* tools/profile: reads a pprof profile (profile.proto of github.com/google/pprof), gzip'd
 * or raw, into plain C structures for the heapprof commands.
 *
 * Everything is decoded and cross-checked up front (string indexes, ids, value counts), so
 * the commands can walk the result without any further validation. A profile lives in one
 * arena: pf_free releases it all at once. */
#ifndef HPT_PROFILE_H
#define HPT_PROFILE_H
#include <stddef.h>
#include <stdint.h>

typedef struct pf_value_type {
	const char *type, *unit;	/* e.g. "inuse_space", "bytes"; never NULL */
} pf_value_type;

typedef struct pf_function {
	uint64_t id;
	const char *name, *system_name, *filename;	/* never NULL, may be "" */
	int64_t start_line;
} pf_function;

typedef struct pf_mapping {
	uint64_t id, start, limit, offset;
	const char *filename, *build_id;	/* never NULL, may be "" */
} pf_mapping;

typedef struct pf_line {
	uint64_t function_id;
	const pf_function *function;	/* NULL when function_id is 0 */
	int64_t line;
	const char *name;		/* the frame's name: function name, system name or
					 * the location's addr_name (set by pf_link) */
	const char *where;		/* name plus " file:line" when both are known, else
					 * name (set by pf_link) */
} pf_line;

typedef struct pf_location {
	uint64_t id, mapping_id, address;
	const pf_mapping *mapping;	/* NULL when mapping_id is 0 */
	pf_line *lines;			/* innermost (inlined) first, the caller last */
	size_t nlines;
	const char *addr_name;		/* "module+0xoffset" (or "0xaddress"): for no Line */
} pf_location;

typedef struct pf_sample {
	uint64_t *location_ids;
	const pf_location **locs;	/* the leaf first */
	size_t nlocs;
	int64_t *values;		/* one per sample type */
} pf_sample;

typedef struct pf_profile {
	pf_value_type *sample_types;
	size_t ntypes;
	pf_sample *samples;
	size_t nsamples;
	pf_mapping *mappings;		/* sorted by id */
	size_t nmappings;
	pf_location *locations;		/* sorted by id */
	size_t nlocations;
	pf_function *functions;		/* sorted by id */
	size_t nfunctions;
	const char **comments;
	size_t ncomments;
	pf_value_type period_type;
	int64_t period, time_nanos, duration_nanos;
	const char *default_sample_type;	/* "" when the profile names none */
	struct pf_arena *arena;
} pf_profile;

/* Reads and decodes the file at path. Returns the profile, or NULL with a one-line reason
 * in err (what is wrong with the file, or the errno text when it cannot be read). */
pf_profile *pf_load(const char *path, char *err, size_t errlen);

/* Decodes buf[0..len), gzip'd (by its magic) or raw protobuf. Same contract as pf_load. */
pf_profile *pf_parse(const uint8_t *buf, size_t len, char *err, size_t errlen);

void pf_free(pf_profile *p);

/* The index of the sample type called name (NULL: the profile's default, else the last
 * type, as pprof does), or -1 if the profile has no such type. */
int pf_sample_index(const pf_profile *p, const char *name);

/* How many frames a sample has once inlined lines are expanded (at least one per
 * location), and the frames' names, leaf first, into out[0..pf_sample_depth(s)). */
size_t pf_sample_depth(const pf_sample *s);
void pf_sample_frames(const pf_sample *s, const char **out);

/* The same frames named with their file and line where known ("f /src/a.c:12"), as
 * `pprof -lines` does; frames without a line keep their plain name. */
void pf_sample_lines(const pf_sample *s, const char **out);

/* --- building or changing a profile (the legacy text reader, symbolize) ---------------
 * Fill the arrays and the id fields (location_ids, mapping_id, function_id) with memory
 * from pf_alloc and strings from pf_strdup (or string literals), then call pf_link, which
 * sorts by id, checks and resolves every reference (the pointers: mapping, function,
 * locs), and names each line and location, exactly as the decoder does. After a change
 * (new functions, replaced lines arrays), call pf_link again: pointers into replaced
 * arrays are resolved afresh. The arena lives until pf_free. */
pf_profile *pf_new(void);			/* empty; NULL when out of memory */
void *pf_alloc(pf_profile *p, size_t n, size_t size);	/* zeroed; NULL: out of memory */
const char *pf_strdup(pf_profile *p, const char *s);	/* NULL: out of memory */
int pf_link(pf_profile *p, char *err, size_t errlen);	/* 0, or -1 with the reason */

#endif
