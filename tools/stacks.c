/* tools/stacks.c: samples -> merged, sorted stacks. Sorting frame by frame (not as joined
 * strings) is what keeps every subtree contiguous for the flame graph's single-pass tree
 * build: "f" sorts before "f1" at one level whatever the separator's byte value. */
#include <stdlib.h>
#include <string.h>
#include "stacks.h"
#include "units.h"

int st_cmp(const st_stack *x, const st_stack *y)
{
	size_t n = x->depth < y->depth ? x->depth : y->depth;

	for (size_t i = 0; i < n; i++) {
		if (x->frames[i] == y->frames[i])	/* same function: the common case */
			continue;
		int c = strcmp(x->frames[i], y->frames[i]);
		if (c)
			return c;
	}
	return x->depth < y->depth ? -1 : x->depth > y->depth;
}

static int cmp_stack(const void *a, const void *b)
{
	return st_cmp(a, b);
}

/* Adds adjacent equal stacks together, then drops those that sum to zero. */
static void merge(st_set *s)
{
	size_t w = 0, k = 0;

	for (size_t i = 0; i < s->n; i++) {
		st_stack *last = w ? &s->stacks[w - 1] : NULL;
		if (last && cmp_stack(last, &s->stacks[i]) == 0)
			last->value = un_add(last->value, s->stacks[i].value);
		else
			s->stacks[w++] = s->stacks[i];
	}
	for (size_t i = 0; i < w; i++)
		if (s->stacks[i].value)
			s->stacks[k++] = s->stacks[i];
	s->n = k;
}

/* Frames a sample takes in the pool: a sample without locations still gets one, so that
 * its value is not lost from collapse's output. */
static size_t depth_of(const pf_sample *sm)
{
	size_t d = pf_sample_depth(sm);

	return d ? d : 1;
}

/* How a stack's frames are named: pf_sample_frames or pf_sample_lines. */
typedef void namer(const pf_sample *s, const char **out);

/* Fills one stack from sample sm (frames reversed to outermost first) at pool + *used. */
static void fill(st_set *s, const pf_sample *sm, int sidx, size_t *used, namer *name)
{
	st_stack *st = &s->stacks[s->n++];
	size_t depth = depth_of(sm);

	st->frames = s->pool + *used;
	st->depth = depth;
	st->value = sm->values[sidx];
	st->frames[0] = "[no stack]";
	name(sm, st->frames);
	for (size_t i = 0; i < depth / 2; i++) {
		const char *t = st->frames[i];
		st->frames[i] = st->frames[depth - 1 - i];
		st->frames[depth - 1 - i] = t;
	}
	*used += depth;
	if (depth > s->maxdepth)
		s->maxdepth = depth;
}

static int build(const pf_profile *p, int sidx, st_set *out, namer *name)
{
	size_t nframes = 0, used = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < p->nsamples; i++)
		if (p->samples[i].values[sidx])
			nframes += depth_of(&p->samples[i]);
	out->stacks = malloc((p->nsamples ? p->nsamples : 1) * sizeof(*out->stacks));
	out->pool = malloc((nframes ? nframes : 1) * sizeof(*out->pool));
	if (!out->stacks || !out->pool) {
		st_free(out);
		return -1;
	}
	for (size_t i = 0; i < p->nsamples; i++) {
		const pf_sample *sm = &p->samples[i];
		out->total = un_add(out->total, sm->values[sidx]);
		if (sm->values[sidx])
			fill(out, sm, sidx, &used, name);
	}
	qsort(out->stacks, out->n, sizeof(*out->stacks), cmp_stack);
	merge(out);
	return 0;
}

int st_build(const pf_profile *p, int sidx, st_set *out)
{
	return build(p, sidx, out, pf_sample_frames);
}

int st_build_lines(const pf_profile *p, int sidx, st_set *out)
{
	return build(p, sidx, out, pf_sample_lines);
}

void st_free(st_set *s)
{
	free(s->stacks);
	free(s->pool);
	memset(s, 0, sizeof(*s));
}
