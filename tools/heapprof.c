/* tools/heapprof.c: the `heapprof` command: reads the profiles libheapprof writes (or
 * any pprof profile) without Go. One binary, a table of subcommands; each subcommand
 * parses its own options and returns its exit status:
 *   0 ok, 1 a file could not be read or is not a valid profile, 2 a usage error. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "collapse.h"
#include "convert.h"
#include "diff.h"
#include "flame.h"
#include "run.h"
#include "symbolize.h"
#include "top.h"

#ifndef HP_VERSION
#define HP_VERSION "unknown"
#endif

typedef struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} command;

static const command commands[] = {
	{ "run", run_main, "runs a program under the profiler, then shows its top sites" },
	{ "top", top_main, "sites by flat and cumulative value, like go tool pprof -top" },
	{ "diff", diff_main, "growth by site between two profiles: the leak hunter" },
	{ "flame", flame_main, "an interactive SVG flame graph (also of a diff)" },
	{ "collapse", collapse_main, "folded stacks for flamegraph.pl, inferno and speedscope" },
	{ "symbolize", symbolize_main, "adds file, line and inlined frames (DWARF)" },
	{ "convert", convert_main, "to and from the gperftools text format" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: heapprof COMMAND [OPTIONS] PROFILE\n\n"
		"Reads heap profiles written by libheapprof (pprof format, gzip'd or not).\n\n"
		"Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nOptions:\n"
		"  -h, --help     this help ('heapprof COMMAND --help' for a command)\n"
		"  -V, --version  the version\n");
}

static const command *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const command *c;
	const char *name = argc > 1 ? argv[1] : NULL;

	if (!name) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
		if (argc > 2 && !strcmp(name, "help") && (c = find(argv[2]))) {
			char *args[] = { argv[2], (char *)"--help", NULL };
			return c->run(2, args);
		}
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(name, "-V") || !strcmp(name, "--version")) {
		printf("heapprof %s\n", HP_VERSION);
		return CLI_OK;
	}
	c = find(name);
	if (!c) {
		cli_error(name, "unknown %s (see 'heapprof --help')",
			  name[0] == '-' ? "option" : "command");
		return CLI_USAGE;
	}
	return c->run(argc - 1, argv + 1);
}
