/* tools/cli: what every heapprof command shares: the error format
 * "heapprof: <what>: <why>", exit codes, option errors, loading the profile and choosing
 * the sample type. */
#ifndef HPT_CLI_H
#define HPT_CLI_H
#include "profile.h"

enum {
	CLI_OK = 0,
	CLI_BAD_FILE = 1,	/* unreadable or damaged profile, output not written */
	CLI_USAGE = 2,		/* bad command line */
};

/* Prints "heapprof: what: why" on stderr. */
__attribute__((format(printf, 2, 3)))
void cli_error(const char *what, const char *fmt, ...);

/* A usage error of command cmd: prints it with a pointer to --help, returns CLI_USAGE. */
__attribute__((format(printf, 2, 3)))
int cli_usage(const char *cmd, const char *fmt, ...);

/* Reports getopt_long's '?' or ':' for command cmd; returns CLI_USAGE. */
int cli_bad_option(const char *cmd, int c, char **argv);

/* Checks that exactly one operand (the profile) is left; returns it or NULL (reported). */
const char *cli_one_file(const char *cmd, int argc, char **argv);

/* Loads path; NULL after printing "heapprof: path: why". A profile with no function
 * name at all (the text format) is symbolized quietly (tools/symbolize). */
pf_profile *cli_load(const char *path);

/* The index of sample type name (NULL: the profile's default), or after printing why,
 * minus the exit status: -CLI_USAGE for a name the file lacks, -CLI_BAD_FILE when the
 * file's own default is not one of its types. */
int cli_sample(const char *cmd, const pf_profile *p, const char *path, const char *name);

/* The three steps every reading command starts with: the one operand, the profile loaded,
 * the sample type chosen. Returns the profile (free with pf_free) and sets *sidx, or NULL
 * with the exit status in *status (the error already printed). */
pf_profile *cli_open(const char *cmd, int argc, char **argv, const char *sample, int *sidx,
		     int *status);

/* Adds file, line and inlined frames to p (tools/symbolize), for --lines. Returns the
 * number of locations resolved, or -1 after printing "heapprof: cmd: why". */
int cli_symbolize(const char *cmd, pf_profile *p);

#endif
