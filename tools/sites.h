/* tools/sites: a profile's values by site for one sample type, the way pprof computes
 * them, for top and diff:
 *   flat  the values of the samples whose leaf frame (innermost line of the first
 *         location) is the site;
 *   cum   the values of the samples in which the site appears at least once, however
 *         often (recursion must not count a sample twice).
 * A site is a function name (pprof's default granularity) or, with lines, a function with
 * its file and line ("f /src/a.c:12", pprof -lines). */
#ifndef HPT_SITES_H
#define HPT_SITES_H
#include <stddef.h>
#include <stdint.h>
#include "profile.h"

typedef struct si_site {
	const char *name;	/* owned by the profile */
	int64_t flat, cum;
	size_t seen;		/* 1 + the last sample counted into cum */
} si_site;

typedef struct si_table {
	si_site *slots;		/* open addressing; after si_sort, sites[0..n) */
	size_t mask, n;
	int64_t total;		/* the sum of the sample type over all samples */
} si_table;

/* Adds up sample type sidx of p by site. Returns 0, or -1 when out of memory. */
int si_build(si_table *t, const pf_profile *p, int sidx, int lines);

/* The site called name, or NULL. Only before si_sort. */
const si_site *si_get(const si_table *t, const char *name);

/* Moves the sites to t->slots[0..n), sorted by flat (by_cum: by cum) then by name, and
 * returns n. The table can no longer be searched afterwards. */
size_t si_sort(si_table *t, int by_cum);

void si_free(si_table *t);

#endif
