/* tools/collapse.c: `heapprof collapse`. One line per distinct stack, outermost frame
 * first, frames joined with ';' and the value after the last space; lines sorted as byte
 * strings (LC_ALL=C sort order), so the output is stable and diff-able.
 * A ';' or newline inside a name would break the format, so those become ':' and ' '. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "collapse.h"
#include "stacks.h"

static const char usage[] =
	"usage: heapprof collapse [--sample TYPE] [--lines] PROFILE\n"
	"\n"
	"Prints the stacks of PROFILE as folded lines \"outer;...;leaf value\" (values in\n"
	"bytes or counts), sorted, for flamegraph.pl, speedscope or inferno.\n"
	"\n"
	"  -s, --sample TYPE  alloc_space, alloc_objects, inuse_space or inuse_objects\n"
	"                     (default: the profile's default type)\n"
	"  -l, --lines        frames as \"function file:line\", with inlined frames, from\n"
	"                     the programs' debug information (see heapprof symbolize)\n"
	"  -h, --help         this help\n";

/* Joins a stack into a malloc'd line; NULL when out of memory. */
static char *join(const st_stack *st)
{
	size_t len = 32;
	char *line, *w;

	for (size_t i = 0; i < st->depth; i++)
		len += strlen(st->frames[i]) + 1;
	line = malloc(len);
	if (!line)
		return NULL;
	w = line;
	for (size_t i = 0; i < st->depth; i++) {
		for (const char *s = st->frames[i]; *s; s++)
			*w++ = *s == ';' ? ':' : *s == '\n' || *s == '\r' ? ' ' : *s;
		*w++ = i + 1 < st->depth ? ';' : ' ';
	}
	snprintf(w, 32, "%" PRId64, st->value);
	return line;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int print_folded(const st_set *s)
{
	char **lines = calloc(s->n ? s->n : 1, sizeof(*lines));
	int st = CLI_OK;

	for (size_t i = 0; lines && i < s->n; i++)
		if (!(lines[i] = join(&s->stacks[i])))
			st = CLI_BAD_FILE;
	if (!lines || st) {
		cli_error("collapse", "out of memory");
		st = CLI_BAD_FILE;
	} else {
		qsort(lines, s->n, sizeof(*lines), cmp_line);
		for (size_t i = 0; i < s->n; i++)
			puts(lines[i]);
	}
	for (size_t i = 0; lines && i < s->n; i++)
		free(lines[i]);
	free(lines);
	return st;
}

static int parse(int argc, char **argv, const char **sample, int *lines)
{
	static const struct option longopts[] = {
		{ "sample", required_argument, NULL, 's' },
		{ "lines", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:lh", longopts, NULL)) != -1) {
		if (c == 's') {
			*sample = optarg;
		} else if (c == 'l') {
			*lines = 1;
		} else if (c == 'h') {
			fputs(usage, stdout);
			return CLI_OK;
		} else {
			return cli_bad_option("collapse", c, argv);
		}
	}
	return -1;
}

int collapse_main(int argc, char **argv)
{
	const char *sample = NULL;
	pf_profile *p;
	st_set set;
	int lines = 0, st = parse(argc, argv, &sample, &lines), sidx;

	if (st >= 0)
		return st;
	if (!(p = cli_open("collapse", argc, argv, sample, &sidx, &st)))
		return st;
	if (lines && cli_symbolize("collapse", p) < 0) {
		pf_free(p);
		return CLI_BAD_FILE;
	}
	if ((lines ? st_build_lines(p, sidx, &set) : st_build(p, sidx, &set))) {
		cli_error("collapse", "out of memory");
		st = CLI_BAD_FILE;
	} else {
		st = print_folded(&set);
		st_free(&set);
	}
	pf_free(p);
	return st;
}
