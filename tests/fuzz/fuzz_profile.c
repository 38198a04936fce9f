/* tests/fuzz/fuzz_profile.c: the libFuzzer target of the profile reader (tools/profile.c,
 * which hands legacy text to tools/legacy.c), also linked with tests/fuzz/replay.c for
 * make check's regression run.
 *
 * Each input goes to pf_parse. A rejected input must come back with a one-line reason. A
 * parsed profile must keep the reader's contract (every pointer resolved, every string
 * set, ids sorted and unique) and is then put through what the commands do with it: the
 * sample type lookup, every sample's frames and lines, st_build and st_build_lines for
 * every sample type, value formatting, en_encode (whose output must parse back to the
 * same profile and encode again to the same bytes) and lg_write (whose text, when it
 * writes one, must parse back). A broken property is reported on stderr and abort()s,
 * which libFuzzer and the replay count as a crash, as they count any sanitizer report.
 *
 * Environment: HP_FUZZ_TEXT_LAX=1 skips the check that lg_write's text parses back (to
 * keep a campaign going past a known text round-trip bug). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "encode.h"
#include "legacy.h"
#include "profile.h"
#include "stacks.h"
#include "units.h"
#include "fuzz_profile.h"

int fz_parsed;
char fz_err[512];

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_profile: property failed: %s: ", #cond); \
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* Touches every byte of s (so ASan sees a dangling or unterminated string). */
static size_t touch(const char *s, const char *what)
{
	CHECK(s != NULL, "%s is NULL", what);
	return strlen(s);
}

/* An error from pf_parse or lg_write: non-empty, NUL-terminated, one line without
 * control characters (it is printed on a terminal: no escape sequences from the file). */
static void check_err(const char *err, size_t len, const char *who)
{
	CHECK(memchr(err, '\0', len) != NULL, "%s: error not terminated", who);
	CHECK(err[0] != '\0', "%s failed without a reason", who);
	for (const unsigned char *c = (const unsigned char *)err; *c; c++)
		CHECK(*c >= 0x20 && *c != 0x7f, "%s: error has control character 0x%02x: %s",
		      who, *c, err);
}

/* Ids nonzero and strictly increasing (sorted, unique); stride is the element size. */
static void check_ids(const void *base, size_t n, size_t size, const char *what)
{
	const char *p = base;
	uint64_t prev = 0;

	CHECK(n == 0 || base != NULL, "%s array is NULL", what);
	for (size_t i = 0; i < n; i++) {
		uint64_t id = *(const uint64_t *)(p + i * size);
		CHECK(id > prev, "%s ids not sorted/unique at %zu", what, i);
		prev = id;
	}
}

static void check_location(const pf_location *loc)
{
	CHECK((loc->mapping != NULL) == (loc->mapping_id != 0), "location %" PRIu64
	      " mapping link", loc->id);
	CHECK(!loc->mapping || loc->mapping->id == loc->mapping_id, "location mapping id");
	touch(loc->addr_name, "addr_name");
	CHECK(loc->nlines == 0 || loc->lines, "location %" PRIu64 " lines NULL", loc->id);
	for (size_t j = 0; j < loc->nlines; j++) {
		const pf_line *l = &loc->lines[j];
		CHECK((l->function != NULL) == (l->function_id != 0), "line function link");
		CHECK(!l->function || l->function->id == l->function_id, "line function id");
		touch(l->name, "line name");
		touch(l->where, "line where");
	}
}

/* The reader's contract: what the commands rely on without checking. */
static void check_profile(const pf_profile *p)
{
	CHECK(p->ntypes > 0 && p->sample_types, "no sample types");
	for (size_t i = 0; i < p->ntypes; i++) {
		touch(p->sample_types[i].type, "sample type");
		touch(p->sample_types[i].unit, "sample unit");
	}
	touch(p->period_type.type, "period type");
	touch(p->period_type.unit, "period unit");
	touch(p->default_sample_type, "default sample type");
	for (size_t i = 0; i < p->ncomments; i++)
		touch(p->comments[i], "comment");
	check_ids(p->mappings, p->nmappings, sizeof(pf_mapping), "mapping");
	check_ids(p->locations, p->nlocations, sizeof(pf_location), "location");
	check_ids(p->functions, p->nfunctions, sizeof(pf_function), "function");
	for (size_t i = 0; i < p->nmappings; i++) {
		touch(p->mappings[i].filename, "mapping filename");
		touch(p->mappings[i].build_id, "mapping build id");
	}
	for (size_t i = 0; i < p->nfunctions; i++) {
		touch(p->functions[i].name, "function name");
		touch(p->functions[i].system_name, "function system name");
		touch(p->functions[i].filename, "function filename");
	}
	for (size_t i = 0; i < p->nlocations; i++)
		check_location(&p->locations[i]);
	CHECK(p->nsamples == 0 || p->samples, "samples NULL");
	for (size_t i = 0; i < p->nsamples; i++) {
		const pf_sample *s = &p->samples[i];
		CHECK(s->values != NULL, "sample %zu values NULL", i);
		CHECK(s->nlocs == 0 || (s->locs && s->location_ids), "sample %zu locs NULL", i);
		for (size_t j = 0; j < s->nlocs; j++)
			CHECK(s->locs[j] && s->locs[j]->id == s->location_ids[j],
			      "sample %zu location %zu link", i, j);
	}
}

/* Every sample's frames and lines, as top and collapse take them. */
static void walk_samples(const pf_profile *p)
{
	for (size_t i = 0; i < p->nsamples; i++) {
		const pf_sample *s = &p->samples[i];
		size_t d = pf_sample_depth(s);
		const char **f = malloc((d ? d : 1) * sizeof(*f));
		const char **l = malloc((d ? d : 1) * sizeof(*l));

		CHECK(d >= s->nlocs, "depth %zu below %zu locations", d, s->nlocs);
		if (f && l) {
			pf_sample_frames(s, f);
			pf_sample_lines(s, l);
			for (size_t j = 0; j < d; j++) {
				touch(f[j], "frame");
				touch(l[j], "frame line");
			}
		}
		free(f);
		free(l);
	}
}

/* The sample type lookups the commands make: default, each name, a missing name. */
static void check_index(const pf_profile *p)
{
	int def = pf_sample_index(p, NULL);

	CHECK(def >= -1 && def < (int)p->ntypes, "default index %d", def);
	CHECK(def >= 0 || p->default_sample_type[0], "no default without a named one");
	for (size_t i = 0; i < p->ntypes; i++) {
		if (!p->sample_types[i].type[0])
			continue;	/* "" asks for the default */
		int k = pf_sample_index(p, p->sample_types[i].type);
		CHECK(k >= 0 && k <= (int)i, "index of type %zu is %d", i, k);
		CHECK(strcmp(p->sample_types[k].type, p->sample_types[i].type) == 0,
		      "index of type %zu names another type", i);
	}
	pf_sample_index(p, "no such type \x01");
}

/* A stack set (st_build or st_build_lines): merged (strictly sorted by st_cmp and by
 * frame names), no zero stacks, total = sum of values. */
static void check_stacks(const pf_profile *p, int sidx, int lines)
{
	st_set s;
	uint64_t sum = 0;

	if ((lines ? st_build_lines : st_build)(p, sidx, &s) != 0)
		return;		/* out of memory: reported by the commands, not a crash */
	for (size_t i = 0; i < p->nsamples; i++)
		sum += (uint64_t)p->samples[i].values[sidx];
	CHECK((uint64_t)s.total == sum, "stack total differs from the sum of values");
	CHECK(s.n <= p->nsamples, "more stacks than samples");
	for (size_t i = 0; i < s.n; i++) {
		const st_stack *st = &s.stacks[i];
		CHECK(st->depth >= 1 && st->depth <= s.maxdepth, "stack %zu depth", i);
		CHECK(st->value != 0, "stack %zu has value 0", i);
		for (size_t j = 0; j < st->depth; j++)
			touch(st->frames[j], "stack frame");
		if (i == 0)
			continue;
		const st_stack *pr = &s.stacks[i - 1];
		size_t n = pr->depth < st->depth ? pr->depth : st->depth, j = 0;
		while (j < n && strcmp(pr->frames[j], st->frames[j]) == 0)
			j++;
		CHECK(j < n ? strcmp(pr->frames[j], st->frames[j]) < 0 : pr->depth < st->depth,
		      "stacks %zu and %zu not strictly sorted", i - 1, i);
		CHECK(st_cmp(pr, st) < 0 && st_cmp(st, pr) > 0, "st_cmp of stacks %zu, %zu",
		      i - 1, i);
	}
	st_free(&s);
}

/* Value formatting of the first sample's values (what top prints). */
static void format_values(const pf_profile *p)
{
	char buf[64];

	if (!p->nsamples)
		return;
	for (size_t i = 0; i < p->ntypes; i++) {
		un_format(buf, sizeof(buf), p->samples[0].values[i], p->sample_types[i].unit, 0);
		un_format(buf, sizeof(buf), p->samples[0].values[i], "bytes", 0);
		un_pct(p->samples[0].values[i], p->samples[p->nsamples - 1].values[i]);
	}
}

static void same_str(const char *a, const char *b, const char *what)
{
	CHECK(strcmp(a, b) == 0, "%s changed by encoding: \"%s\" -> \"%s\"", what, a, b);
}

static void same_location(const pf_location *a, const pf_location *b)
{
	CHECK(a->id == b->id && a->mapping_id == b->mapping_id && a->address == b->address &&
	      a->nlines == b->nlines, "location %" PRIu64 " changed by encoding", a->id);
	for (size_t j = 0; j < a->nlines; j++)
		CHECK(a->lines[j].function_id == b->lines[j].function_id &&
		      a->lines[j].line == b->lines[j].line, "location %" PRIu64 " line %zu changed"
		      " by encoding", a->id, j);
}

/* q (p encoded and parsed back) holds everything of p that the reader keeps. */
static void same_profile(const pf_profile *p, const pf_profile *q)
{
	CHECK(p->ntypes == q->ntypes && p->nsamples == q->nsamples &&
	      p->nmappings == q->nmappings && p->nlocations == q->nlocations &&
	      p->nfunctions == q->nfunctions && p->ncomments == q->ncomments,
	      "counts changed by encoding (comments %zu -> %zu)", p->ncomments, q->ncomments);
	CHECK(p->period == q->period && p->time_nanos == q->time_nanos &&
	      p->duration_nanos == q->duration_nanos, "scalars changed by encoding");
	same_str(p->period_type.type, q->period_type.type, "period type");
	same_str(p->period_type.unit, q->period_type.unit, "period unit");
	same_str(p->default_sample_type, q->default_sample_type, "default sample type");
	for (size_t i = 0; i < p->ntypes; i++) {
		same_str(p->sample_types[i].type, q->sample_types[i].type, "sample type");
		same_str(p->sample_types[i].unit, q->sample_types[i].unit, "sample unit");
	}
	for (size_t i = 0; i < p->ncomments; i++)
		same_str(p->comments[i], q->comments[i], "comment");
	for (size_t i = 0; i < p->nsamples; i++) {
		const pf_sample *a = &p->samples[i], *b = &q->samples[i];
		CHECK(a->nlocs == b->nlocs && !memcmp(a->location_ids, b->location_ids,
		      a->nlocs * sizeof(uint64_t)), "sample %zu locations changed", i);
		CHECK(!memcmp(a->values, b->values, p->ntypes * sizeof(int64_t)),
		      "sample %zu values changed", i);
	}
	for (size_t i = 0; i < p->nmappings; i++) {
		const pf_mapping *a = &p->mappings[i], *b = &q->mappings[i];
		CHECK(a->id == b->id && a->start == b->start && a->limit == b->limit &&
		      a->offset == b->offset, "mapping %" PRIu64 " changed", a->id);
		same_str(a->filename, b->filename, "mapping filename");
		same_str(a->build_id, b->build_id, "mapping build id");
	}
	for (size_t i = 0; i < p->nlocations; i++)
		same_location(&p->locations[i], &q->locations[i]);
	for (size_t i = 0; i < p->nfunctions; i++) {
		const pf_function *a = &p->functions[i], *b = &q->functions[i];
		CHECK(a->id == b->id && a->start_line == b->start_line, "function changed");
		same_str(a->name, b->name, "function name");
		same_str(a->system_name, b->system_name, "function system name");
		same_str(a->filename, b->filename, "function filename");
	}
}

/* en_encode's output parses back to the same profile and encodes to the same bytes. */
static void check_encode(const pf_profile *p)
{
	uint8_t *out, *again;
	size_t len, len2;
	char err[512] = "";
	pf_profile *q;

	if (en_encode(p, &out, &len) != 0)
		return;		/* -ENOMEM */
	q = pf_parse(out, len, err, sizeof(err));
	CHECK(q != NULL, "en_encode's output does not parse: %s", err);
	same_profile(p, q);
	if (en_encode(q, &again, &len2) == 0) {
		CHECK(len2 == len && memcmp(out, again, len) == 0,
		      "encoding is not stable (%zu then %zu bytes)", len, len2);
		free(again);
	}
	pf_free(q);
	free(out);
}

/* lg_write into memory; its text, when it writes one, parses back. */
static void check_text(const pf_profile *p)
{
	char *text = NULL, err[512] = "";
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (!f)
		return;
	rc = lg_write(p, f, err, sizeof(err));
	if (fclose(f) != 0 || rc != 0) {
		if (rc != 0)
			check_err(err, sizeof(err), "lg_write");
		free(text);
		return;
	}
	const char *lax = getenv("HP_FUZZ_TEXT_LAX");
	if (!lax || strcmp(lax, "1") != 0) {
		pf_profile *q = pf_parse((const uint8_t *)text, len, err, sizeof(err));
		CHECK(q != NULL, "lg_write's text does not parse: %s", err);
		check_profile(q);
		pf_free(q);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pf_profile *p;

	memset(fz_err, 0, sizeof(fz_err));
	p = pf_parse(data, size, fz_err, sizeof(fz_err));
	fz_parsed = p != NULL;
	if (!p) {
		check_err(fz_err, sizeof(fz_err), "pf_parse");
		return 0;
	}
	check_profile(p);
	check_index(p);
	format_values(p);
	walk_samples(p);
	for (size_t i = 0; i < p->ntypes; i++) {
		check_stacks(p, (int)i, 0);
		check_stacks(p, (int)i, 1);
	}
	check_encode(p);
	check_text(p);
	pf_free(p);
	return 0;
}
