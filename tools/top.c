/* tools/top.c: `heapprof top`: the sites of tools/sites as a table, with the columns
 * and figures of `go tool pprof -top`, so that the two can be compared line for line.
 * --lines adds file and line from DWARF first (tools/symbolize); --cum sorts by cum. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "sites.h"
#include "top.h"
#include "units.h"

typedef struct top_opts {
	const char *sample;	/* NULL: the profile's default */
	long count;		/* rows to print; 0: all */
	int raw, lines, cum;
} top_opts;

static const char usage[] =
	"usage: heapprof top [--sample TYPE] [-n N] [--lines] [--cum] [--raw] PROFILE\n"
	"\n"
	"Lists the allocation sites of PROFILE (pprof, gzip'd or not, or gperftools text)\n"
	"by flat value, with flat, flat%, sum%, cum and cum% columns as\n"
	"`go tool pprof -top` prints them.\n"
	"\n"
	"  -s, --sample TYPE  alloc_space, alloc_objects, inuse_space or inuse_objects\n"
	"                     (default: the profile's default type, inuse_space)\n"
	"  -n N               print the first N sites (default 10; 0 = all)\n"
	"  -l, --lines        one row per source line (function file:line), from the\n"
	"                     programs' debug information (see heapprof symbolize)\n"
	"  -c, --cum          sort by cumulative value (the function and its callees)\n"
	"  -r, --raw          exact integers (bytes) instead of KiB/MiB/GiB\n"
	"  -h, --help         this help\n";

static void print_rows(const si_site *e, size_t n, int64_t total, const pf_value_type *vt,
		       int raw)
{
	char flat[32], cum[32];
	int64_t sum = 0;

	printf("%10s %6s %7s %10s %6s\n", "flat", "flat%", "sum%", "cum", "cum%");
	for (size_t i = 0; i < n; i++) {
		sum = un_add(sum, e[i].flat);
		un_format(flat, sizeof(flat), e[i].flat, vt->unit, raw);
		un_format(cum, sizeof(cum), e[i].cum, vt->unit, raw);
		printf("%10s %6.2f%% %6.2f%% %10s %6.2f%%  %s\n", flat, un_pct(e[i].flat, total),
		       un_pct(sum, total), cum, un_pct(e[i].cum, total), e[i].name);
	}
}

static int report(const pf_profile *p, int sidx, const top_opts *o)
{
	const pf_value_type *vt = &p->sample_types[sidx];
	size_t shown, n;
	char tot[32];
	si_table t;

	if (si_build(&t, p, sidx, o->lines)) {
		cli_error("top", "out of memory");
		return CLI_BAD_FILE;
	}
	n = si_sort(&t, o->cum);
	shown = o->count > 0 && (size_t)o->count < n ? (size_t)o->count : n;
	un_format(tot, sizeof(tot), t.total, vt->unit, o->raw);
	printf("Type: %s, total %s, showing top %zu of %zu %s\n", vt->type, tot, shown, n,
	       o->lines ? "lines" : "functions");
	print_rows(t.slots, shown, t.total, vt, o->raw);
	si_free(&t);
	return CLI_OK;
}

/* Parses the options; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, top_opts *o)
{
	static const struct option longopts[] = {
		{ "sample", required_argument, NULL, 's' },
		{ "raw", no_argument, NULL, 'r' },
		{ "lines", no_argument, NULL, 'l' },
		{ "cum", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:n:rlch", longopts, NULL)) != -1) {
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
		case 'l':
			o->lines = 1;
			break;
		case 'c':
			o->cum = 1;
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
	if (o.lines && cli_symbolize("top", p) < 0) {
		pf_free(p);
		return CLI_BAD_FILE;
	}
	st = report(p, sidx, &o);
	pf_free(p);
	return st;
}
