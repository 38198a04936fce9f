/* tools/top.c: `heapprof top`. Figures are computed the way pprof computes them, so that
 * the two can be compared line for line:
 *   flat  the values of the samples whose leaf frame (innermost line of the first
 *         location) is the function;
 *   cum   the values of the samples in which the function appears at least once, however
 *         often (recursion must not count a sample twice).
 * Functions are keyed by name, as pprof's default function granularity does. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "top.h"
#include "units.h"

typedef struct entry {
	const char *name;
	int64_t flat, cum;
	size_t seen;		/* 1 + the last sample counted into cum */
} entry;

/* An open-addressing table keyed by name; sized once, never grows. */
typedef struct table {
	entry *slots;
	size_t mask, n;
} table;

typedef struct top_opts {
	const char *sample;	/* NULL: the profile's default */
	long count;		/* rows to print; 0: all */
	int raw;
} top_opts;

static const char usage[] =
	"usage: heapprof top [--sample TYPE] [-n N] [--raw] PROFILE\n"
	"\n"
	"Lists the functions of PROFILE (pprof, gzip'd or not) by flat value, with\n"
	"flat, flat%, sum%, cum and cum% columns as `go tool pprof -top` prints them.\n"
	"\n"
	"  -s, --sample TYPE  alloc_space, alloc_objects, inuse_space or inuse_objects\n"
	"                     (default: the profile's default type, inuse_space)\n"
	"  -n N               print the first N functions (default 10; 0 = all)\n"
	"  -r, --raw          exact integers (bytes) instead of KiB/MiB/GiB\n"
	"  -h, --help         this help\n";

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static entry *lookup(table *t, const char *name)
{
	size_t i = (size_t)hash_str(name) & t->mask;

	while (t->slots[i].name && strcmp(t->slots[i].name, name) != 0)
		i = (i + 1) & t->mask;
	if (!t->slots[i].name) {
		t->slots[i].name = name;
		t->n++;
	}
	return &t->slots[i];
}

/* Room for every distinct frame name there can be, at most half full. */
static int table_init(table *t, const pf_profile *p)
{
	size_t bound = 16, cap = 1;

	for (size_t i = 0; i < p->nlocations; i++)
		bound += p->locations[i].nlines ? p->locations[i].nlines : 1;
	while (cap < 2 * bound)
		cap *= 2;
	t->slots = calloc(cap, sizeof(*t->slots));
	t->mask = cap - 1;
	t->n = 0;
	return t->slots ? 0 : -1;
}

static void add_sample(table *t, const pf_sample *s, int64_t v, size_t idx,
		       const char **frames)
{
	size_t depth = pf_sample_depth(s);

	pf_sample_frames(s, frames);
	for (size_t i = 0; i < depth; i++) {
		entry *e = lookup(t, frames[i]);
		if (i == 0)
			e->flat += v;
		if (e->seen != idx + 1) {
			e->cum += v;
			e->seen = idx + 1;
		}
	}
}

static int cmp_entry(const void *a, const void *b)
{
	const entry *x = a, *y = b;

	if (x->flat != y->flat)
		return x->flat > y->flat ? -1 : 1;
	if (x->cum != y->cum)
		return x->cum > y->cum ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Moves the used slots to the front and sorts them; returns their number. */
static size_t compact_sort(table *t)
{
	size_t n = 0;

	for (size_t i = 0; i <= t->mask; i++)
		if (t->slots[i].name)
			t->slots[n++] = t->slots[i];
	qsort(t->slots, n, sizeof(*t->slots), cmp_entry);
	return n;
}

static void print_rows(const entry *e, size_t n, int64_t total, const pf_value_type *vt,
		       int raw)
{
	char flat[32], cum[32];
	int64_t sum = 0;

	printf("%10s %6s %7s %10s %6s\n", "flat", "flat%", "sum%", "cum", "cum%");
	for (size_t i = 0; i < n; i++) {
		sum += e[i].flat;
		un_format(flat, sizeof(flat), e[i].flat, vt->unit, raw);
		un_format(cum, sizeof(cum), e[i].cum, vt->unit, raw);
		printf("%10s %6.2f%% %6.2f%% %10s %6.2f%%  %s\n", flat, un_pct(e[i].flat, total),
		       un_pct(sum, total), cum, un_pct(e[i].cum, total), e[i].name);
	}
}

static int report(const pf_profile *p, int sidx, const top_opts *o)
{
	const pf_value_type *vt = &p->sample_types[sidx];
	size_t maxdepth = 1, shown, n;
	int64_t total = 0;
	char tot[32];
	table t;

	for (size_t i = 0; i < p->nsamples; i++) {
		size_t d = pf_sample_depth(&p->samples[i]);
		maxdepth = d > maxdepth ? d : maxdepth;
	}
	const char **frames = malloc(maxdepth * sizeof(*frames));
	if (!frames || table_init(&t, p)) {
		free(frames);
		cli_error("top", "out of memory");
		return CLI_BAD_FILE;
	}
	for (size_t i = 0; i < p->nsamples; i++) {
		int64_t v = p->samples[i].values[sidx];
		total += v;
		if (v)
			add_sample(&t, &p->samples[i], v, i, frames);
	}
	n = compact_sort(&t);
	shown = o->count > 0 && (size_t)o->count < n ? (size_t)o->count : n;
	un_format(tot, sizeof(tot), total, vt->unit, o->raw);
	printf("Type: %s, total %s, showing top %zu of %zu functions\n", vt->type, tot, shown,
	       n);
	print_rows(t.slots, shown, total, vt, o->raw);
	free(t.slots);
	free(frames);
	return CLI_OK;
}

/* Parses the options; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, top_opts *o)
{
	static const struct option longopts[] = {
		{ "sample", required_argument, NULL, 's' },
		{ "raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:n:rh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->sample = optarg;
			break;
		case 'n':
			o->count = strtol(optarg, &end, 10);
			if (end == optarg || *end || o->count < 0)
				return cli_usage("top", "-n wants a count >= 0, not '%s'", optarg);
			break;
		case 'r':
			o->raw = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("top", c, argv);
		}
	}
	return -1;
}

int top_main(int argc, char **argv)
{
	top_opts o = { .count = 10 };
	pf_profile *p;
	int st = parse(argc, argv, &o), sidx;

	if (st >= 0)
		return st;
	if (!(p = cli_open("top", argc, argv, o.sample, &sidx, &st)))
		return st;
	st = report(p, sidx, &o);
	pf_free(p);
	return st;
}
