/* tools/cli.c: shared command-line plumbing. getopt's own messages are turned off
 * (opterr = 0 in each command) so that every error has the one documented format. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "symbolize.h"

void cli_error(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "heapprof: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "heapprof: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'heapprof %s --help')\n", cmd);
	return CLI_USAGE;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
	/* After an error optind is past the offending word; optopt names a short option. */
	const char *word = optind > 0 ? argv[optind - 1] : "?";

	if (c == ':')
		return cli_usage(cmd, "option %s needs a value", word);
	if (optopt && optopt != '?')
		return cli_usage(cmd, "unknown option -%c", optopt);
	return cli_usage(cmd, "unknown option %s", word);
}

const char *cli_one_file(const char *cmd, int argc, char **argv)
{
	if (optind >= argc) {
		cli_usage(cmd, "no profile given");
		return NULL;
	}
	if (optind + 1 < argc) {
		cli_usage(cmd, "one profile only, got also '%s'", argv[optind + 1]);
		return NULL;
	}
	return argv[optind];
}

pf_profile *cli_load(const char *path)
{
	char err[512];
	pf_profile *p = pf_load(path, err, sizeof(err));

	if (!p) {
		cli_error(path, "%s", err);
		return NULL;
	}
	/* A profile without a single function name (the text format, an unsymbolized
	 * pprof) is named from the mapped objects, quietly, as pprof does. */
	if (p->nfunctions == 0 && p->nlocations > 0 && sy_symbolize(p, 1, err, sizeof(err)) < 0) {
		cli_error(path, "%s", err[0] ? err : "out of memory");
		pf_free(p);
		return NULL;
	}
	return p;
}

int cli_sample(const char *cmd, const pf_profile *p, const char *path, const char *name)
{
	int i = pf_sample_index(p, name);
	char have[512] = "";
	size_t len = 0;

	if (i >= 0)
		return i;
	for (size_t t = 0; t < p->ntypes && len < sizeof(have); t++)
		len += (size_t)snprintf(have + len, sizeof(have) - len, "%s%s", t ? ", " : "",
					p->sample_types[t].type);
	if (name)
		return -cli_usage(cmd, "no sample type '%s' in %s (it has: %s)", name, path, have);
	cli_error(path, "default sample type '%s' is not one of its sample types",
		  p->default_sample_type);
	return -CLI_BAD_FILE;
}

pf_profile *cli_open(const char *cmd, int argc, char **argv, const char *sample, int *sidx,
		     int *status)
{
	const char *path = cli_one_file(cmd, argc, argv);
	pf_profile *p;

	*status = CLI_USAGE;
	if (!path)
		return NULL;
	*status = CLI_BAD_FILE;
	if (!(p = cli_load(path)))
		return NULL;
	*sidx = cli_sample(cmd, p, path, sample);
	if (*sidx < 0) {
		*status = -*sidx;
		pf_free(p);
		return NULL;
	}
	return p;
}

int cli_symbolize(const char *cmd, pf_profile *p)
{
	char err[512] = "";
	int n = sy_symbolize(p, 0, err, sizeof(err));

	if (n < 0)
		cli_error(cmd, "%s", err[0] ? err : "symbolization failed");
	return n;
}
