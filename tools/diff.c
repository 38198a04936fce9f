/* tools/diff.c: `heapprof diff`. Both profiles are added up by site with tools/sites
 * (flat and cum, as top computes them); a site's growth is its flat value in NEW minus
 * its flat value in BASE (a site missing from one counts 0 there). Rows are sorted by
 * growth, largest first, so a leak is the first row and sites that shrank come last.
 * --min hides sites whose growth, up or down, is smaller than SIZE.
 *
 * The two profiles should come from one process: a different "pid:" comment or a NEW
 * older than BASE gets a warning (the figures are still printed). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "diff.h"
#include "sites.h"
#include "units.h"

typedef struct diff_opts {
	const char *sample;	/* NULL: NEW's default */
	long count;		/* rows to print; 0: all */
	int64_t min;		/* hide |growth| < min */
	int raw, lines;
} diff_opts;

typedef struct row {
	const char *name;
	int64_t base, new, cum_base, cum_new;
} row;

static const char usage[] =
	"usage: heapprof diff [--sample TYPE] [--min SIZE] [-n N] [--lines] [--raw] BASE NEW\n"
	"\n"
	"Shows what grew between two profiles of one process (for instance two dumps taken\n"
	"with kill -USR1 a while apart): each site's flat value in NEW minus its value in\n"
	"BASE, largest growth first. A leak is the first row.\n"
	"\n"
	"  -s, --sample TYPE  alloc_space, alloc_objects, inuse_space or inuse_objects\n"
	"                     (default: NEW's default type, inuse_space)\n"
	"  -m, --min SIZE     hide sites that grew or shrank by less than SIZE (e.g. 1m,\n"
	"                     64k; a count for the _objects types)\n"
	"  -n N               print the first N sites (default 10; 0 = all)\n"
	"  -l, --lines        one row per source line (function file:line)\n"
	"  -r, --raw          exact integers (bytes) instead of KiB/MiB/GiB\n"
	"  -h, --help         this help\n";

/* The integer after "pid: " in p's comments, or -1. */
static long pid_of(const pf_profile *p)
{
	for (size_t i = 0; i < p->ncomments; i++)
		if (strncmp(p->comments[i], "pid: ", 5) == 0)
			return strtol(p->comments[i] + 5, NULL, 10);
	return -1;
}

/* Warns when the two profiles do not look like two moments of one process. */
static void check_pair(const pf_profile *b, const pf_profile *n, const char *bpath,
		       const char *npath)
{
	long pb = pid_of(b), pn = pid_of(n);

	if (pb >= 0 && pn >= 0 && pb != pn)
		fprintf(stderr, "heapprof: diff: warning: %s is of pid %ld and %s of pid %ld: "
			"the growth compares two different processes\n", bpath, pb, npath, pn);
	else if (b->time_nanos && n->time_nanos && n->time_nanos < b->time_nanos)
		fprintf(stderr, "heapprof: diff: warning: %s is older than %s: swap them to "
			"see the growth rather than the shrinkage\n", npath, bpath);
}

static int cmp_row(const void *a, const void *b)
{
	const row *x = a, *y = b;
	int64_t gx = un_sub(x->new, x->base), gy = un_sub(y->new, y->base);

	if (gx != gy)
		return gx > gy ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int64_t abs64(int64_t v)
{
	return v < 0 ? un_sub(0, v) : v;	/* INT64_MIN stays negative: never hidden */
}

/* The union of the sites of both tables, with their growth; NULL when out of memory. */
static row *merge(si_table *tb, si_table *tn, size_t *nrows)
{
	row *r = calloc(tb->n + tn->n + 1, sizeof(*r));
	size_t n = 0;

	if (!r)
		return NULL;
	for (size_t i = 0; i <= tn->mask; i++) {
		const si_site *s = &tn->slots[i], *o;
		if (!s->name)
			continue;
		o = si_get(tb, s->name);
		r[n++] = (row){ s->name, o ? o->flat : 0, s->flat, o ? o->cum : 0, s->cum };
	}
	for (size_t i = 0; i <= tb->mask; i++) {
		const si_site *s = &tb->slots[i];
		if (s->name && !si_get(tn, s->name))
			r[n++] = (row){ s->name, s->flat, 0, s->cum, 0 };
	}
	*nrows = n;
	return r;
}

static void signed_fmt(char *buf, size_t size, int64_t v, const char *unit, int raw)
{
	un_format(buf + 1, size - 1, v, unit, raw);
	if (v >= 0)
		buf[0] = '+';
	else
		memmove(buf, buf + 1, strlen(buf + 1) + 1);
}

static void print_rows(const row *r, size_t n, const diff_opts *o, const pf_value_type *vt)
{
	char g[32], b[32], nw[32], cg[32];
	size_t shown = 0;

	printf("%11s %10s %10s %11s  %s\n", "growth", "base", "new", "cum growth", "site");
	for (size_t i = 0; i < n; i++) {
		int64_t growth = un_sub(r[i].new, r[i].base);
		if ((growth != INT64_MIN && abs64(growth) < o->min) ||
		    (growth == 0 && r[i].cum_new == r[i].cum_base))
			continue;
		if (o->count > 0 && shown == (size_t)o->count)
			break;
		signed_fmt(g, sizeof(g), growth, vt->unit, o->raw);
		un_format(b, sizeof(b), r[i].base, vt->unit, o->raw);
		un_format(nw, sizeof(nw), r[i].new, vt->unit, o->raw);
		signed_fmt(cg, sizeof(cg), un_sub(r[i].cum_new, r[i].cum_base), vt->unit, o->raw);
		printf("%11s %10s %10s %11s  %s\n", g, b, nw, cg, r[i].name);
		shown++;
	}
	if (!shown)
		printf("%11s  (no site changed%s)\n", "", o->min ? " by at least --min" : "");
}

static int report(const pf_profile *pb, const pf_profile *pn, int sb, int sn,
		  const diff_opts *o)
{
	const pf_value_type *vt = &pn->sample_types[sn];
	si_table tb, tn;
	char tot_b[32], tot_n[32], growth[32], apart[64] = "";
	size_t n;
	row *r = NULL;
	int st = CLI_BAD_FILE;

	tb.slots = tn.slots = NULL;
	if (si_build(&tb, pb, sb, o->lines) || si_build(&tn, pn, sn, o->lines) ||
	    !(r = merge(&tb, &tn, &n))) {
		cli_error("diff", "out of memory");
		goto out;
	}
	qsort(r, n, sizeof(*r), cmp_row);
	un_format(tot_b, sizeof(tot_b), tb.total, vt->unit, o->raw);
	un_format(tot_n, sizeof(tot_n), tn.total, vt->unit, o->raw);
	signed_fmt(growth, sizeof(growth), un_sub(tn.total, tb.total), vt->unit, o->raw);
	if (pb->time_nanos && pn->time_nanos)
		snprintf(apart, sizeof(apart), ", %.1f s apart",
			 ((double)pn->time_nanos - (double)pb->time_nanos) / 1e9);
	printf("Type: %s, base %s, new %s, growth %s%s\n", vt->type, tot_b, tot_n, growth, apart);
	print_rows(r, n, o, vt);
	st = CLI_OK;
out:
	free(r);
	si_free(&tb);
	si_free(&tn);
	return st;
}

/* Parses the options; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, diff_opts *o)
{
	static const struct option longopts[] = {
		{ "sample", required_argument, NULL, 's' },
		{ "min", required_argument, NULL, 'm' },
		{ "lines", no_argument, NULL, 'l' },
		{ "raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:m:n:lrh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->sample = optarg;
			break;
		case 'm':
			if (un_parse_size(optarg, &o->min))
				return cli_usage("diff", "--min wants a size such as 1m or 64k, "
						 "not '%s'", optarg);
			break;
		case 'n':
			o->count = strtol(optarg, &end, 10);
			if (end == optarg || *end || o->count < 0)
				return cli_usage("diff", "-n wants a count >= 0, not '%s'", optarg);
			break;
		case 'l':
			o->lines = 1;
			break;
		case 'r':
			o->raw = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("diff", c, argv);
		}
	}
	if (argc - optind != 2)
		return cli_usage("diff", "wants two profiles, BASE and NEW, not %d operand%s",
				 argc - optind, argc - optind == 1 ? "" : "s");
	return -1;
}

int diff_main(int argc, char **argv)
{
	diff_opts o = { .count = 10 };
	pf_profile *pb = NULL, *pn = NULL;
	const char *bpath, *npath;
	int st = parse(argc, argv, &o), sb, sn;

	if (st >= 0)
		return st;
	bpath = argv[optind];
	npath = argv[optind + 1];
	st = CLI_BAD_FILE;
	if (!(pb = cli_load(bpath)) || !(pn = cli_load(npath)))
		goto out;
	/* NEW decides the type; BASE must have it too. */
	if ((sn = cli_sample("diff", pn, npath, o.sample)) < 0) {
		st = -sn;
		goto out;
	}
	if ((sb = cli_sample("diff", pb, bpath, pn->sample_types[sn].type)) < 0) {
		st = -sb;
		goto out;
	}
	if (o.lines && (cli_symbolize("diff", pb) < 0 || cli_symbolize("diff", pn) < 0))
		goto out;
	check_pair(pb, pn, bpath, npath);
	st = report(pb, pn, sb, sn, &o);
out:
	pf_free(pb);
	pf_free(pn);
	return st;
}
