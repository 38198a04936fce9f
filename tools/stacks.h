/* tools/stacks: a profile's samples as call stacks for one sample type, outermost frame
 * first, identical stacks merged and the result sorted frame by frame. The common input
 * of collapse (folded stacks) and flame (whose layout relies on the sort order: stacks
 * with a common prefix are adjacent). */
#ifndef HPT_STACKS_H
#define HPT_STACKS_H
#include <stddef.h>
#include <stdint.h>
#include "profile.h"

typedef struct st_stack {
	const char **frames;	/* outermost first; names owned by the profile */
	size_t depth;
	int64_t value;		/* never 0: empty stacks are dropped */
} st_stack;

typedef struct st_set {
	st_stack *stacks;
	size_t n;
	size_t maxdepth;
	int64_t total;		/* sum of the values of all samples */
	const char **pool;	/* backing store of every frames array */
} st_set;

/* Builds the stacks of sample type index sidx. Returns 0, or -1 when out of memory. */
int st_build(const pf_profile *p, int sidx, st_set *out);

/* The same with frames named with their file and line where known (pf_sample_lines). */
int st_build_lines(const pf_profile *p, int sidx, st_set *out);

/* The order of the stacks in a set: frame by frame (strcmp), then the shorter first.
 * Two sets can be merge-joined by it (flame --base). */
int st_cmp(const st_stack *a, const st_stack *b);

void st_free(st_set *s);

#endif
