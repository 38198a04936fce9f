/* tools/sites.c: adding up a profile's samples by site (see sites.h). An open-addressing
 * table keyed by name, sized once for every distinct frame name there can be. */
#include <stdlib.h>
#include <string.h>
#include "sites.h"
#include "units.h"

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static size_t slot_of(const si_table *t, const char *name)
{
	size_t i = (size_t)hash_str(name) & t->mask;

	while (t->slots[i].name && strcmp(t->slots[i].name, name) != 0)
		i = (i + 1) & t->mask;
	return i;
}

static si_site *lookup(si_table *t, const char *name)
{
	si_site *s = &t->slots[slot_of(t, name)];

	if (!s->name) {
		s->name = name;
		t->n++;
	}
	return s;
}

const si_site *si_get(const si_table *t, const char *name)
{
	const si_site *s = &t->slots[slot_of(t, name)];

	return s->name ? s : NULL;
}

/* Room for every distinct frame name there can be, at most half full. */
static int table_init(si_table *t, const pf_profile *p)
{
	size_t bound = 16, cap = 1;

	for (size_t i = 0; i < p->nlocations; i++)
		bound += p->locations[i].nlines ? p->locations[i].nlines : 1;
	while (cap < 2 * bound)
		cap *= 2;
	t->slots = calloc(cap, sizeof(*t->slots));
	t->mask = cap - 1;
	t->n = 0;
	t->total = 0;
	return t->slots ? 0 : -1;
}

static void add_sample(si_table *t, const pf_sample *s, int64_t v, size_t idx,
		       const char **frames, int lines)
{
	size_t depth = pf_sample_depth(s);

	if (lines)
		pf_sample_lines(s, frames);
	else
		pf_sample_frames(s, frames);
	for (size_t i = 0; i < depth; i++) {
		si_site *e = lookup(t, frames[i]);
		if (i == 0)
			e->flat = un_add(e->flat, v);
		if (e->seen != idx + 1) {
			e->cum = un_add(e->cum, v);
			e->seen = idx + 1;
		}
	}
}

int si_build(si_table *t, const pf_profile *p, int sidx, int lines)
{
	size_t maxdepth = 1;

	for (size_t i = 0; i < p->nsamples; i++) {
		size_t d = pf_sample_depth(&p->samples[i]);
		maxdepth = d > maxdepth ? d : maxdepth;
	}
	const char **frames = malloc(maxdepth * sizeof(*frames));
	if (!frames || table_init(t, p)) {
		free(frames);
		return -1;
	}
	for (size_t i = 0; i < p->nsamples; i++) {
		int64_t v = p->samples[i].values[sidx];
		t->total = un_add(t->total, v);
		if (v)
			add_sample(t, &p->samples[i], v, i, frames, lines);
	}
	free(frames);
	return 0;
}

static int cmp_flat(const void *a, const void *b)
{
	const si_site *x = a, *y = b;

	if (x->flat != y->flat)
		return x->flat > y->flat ? -1 : 1;
	if (x->cum != y->cum)
		return x->cum > y->cum ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmp_cum(const void *a, const void *b)
{
	const si_site *x = a, *y = b;

	if (x->cum != y->cum)
		return x->cum > y->cum ? -1 : 1;
	return cmp_flat(a, b);
}

size_t si_sort(si_table *t, int by_cum)
{
	size_t n = 0;

	for (size_t i = 0; i <= t->mask; i++)
		if (t->slots[i].name)
			t->slots[n++] = t->slots[i];
	qsort(t->slots, n, sizeof(*t->slots), by_cum ? cmp_cum : cmp_flat);
	return n;
}

void si_free(si_table *t)
{
	free(t->slots);
	t->slots = NULL;
}
