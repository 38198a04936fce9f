/* tools/convert.c: `heapprof convert`: a heap profile from pprof to the legacy gperftools
 * text format (tools/legacy) and back. Text profiles carry addresses only: on the way to
 * pprof the frames are named from the mapped binaries (tools/symbolize) when they can be
 * found. Output files are written whole or not at all. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "convert.h"
#include "encode.h"
#include "gzout.h"
#include "legacy.h"
#include "symbolize.h"

/* Larger inputs are refused, as the reader does. */
#define CV_MAX_FILE ((size_t)1 << 31)

enum { TO_GUESS, TO_TEXT, TO_PPROF };

typedef struct cv_opts {
	int to;
	const char *out;	/* NULL: standard output (text) or derived (pprof) */
	int no_symbolize, quiet;
} cv_opts;

static const char usage[] =
	"usage: heapprof convert [--to text|pprof] [-o OUT] [--no-symbolize] PROFILE\n"
	"\n"
	"Converts a heap profile between pprof (gzip'd or not) and the legacy gperftools\n"
	"text format ('heap profile: ... @ heap_v2/RATE' with MAPPED_LIBRARIES), which\n"
	"google-pprof, jeprof and go tool pprof read. jemalloc's heap_v2 dumps are read too.\n"
	"\n"
	"  -t, --to FORMAT     text or pprof (default: the other format than PROFILE's)\n"
	"  -o, --output OUT    where to write; '-' is standard output. Default: standard\n"
	"                      output for text, PROFILE with .heap replaced by (or with\n"
	"                      added) .pb.gz for pprof\n"
	"      --no-symbolize  to pprof: do not name frames from the binaries' symbols\n"
	"                      and DWARF (a text profile has addresses only)\n"
	"  -q, --quiet         no warnings about binaries that cannot be found\n"
	"  -h, --help          this help\n"
	"\n"
	"Figures in the text format are the sampled counts, which readers scale back up\n"
	"with the rate: the conversion round-trips the estimates to within rounding.\n";

/* Parses the options; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, cv_opts *o)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "no-symbolize", no_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (strcmp(optarg, "text") == 0)
				o->to = TO_TEXT;
			else if (strcmp(optarg, "pprof") == 0)
				o->to = TO_PPROF;
			else
				return cli_usage("convert", "--to wants text or pprof, not '%s'",
						 optarg);
			break;
		case 'o':
			if (!optarg[0])
				return cli_usage("convert", "-o wants a file name");
			o->out = optarg;
			break;
		case 'S':
			o->no_symbolize = 1;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("convert", c, argv);
		}
	}
	return -1;
}

/* The whole file at path into a malloc'd buffer; NULL after printing why. */
static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f) {
		cli_error(path, "%s", strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 65536;
			uint8_t *nb = cap < CV_MAX_FILE ? realloc(buf, nc) : NULL;
			if (!nb) {
				cli_error(path, "%s", cap < CV_MAX_FILE ? "out of memory"
					  : "file too large");
				break;
			}
			buf = nb;
			cap = nc;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0) {
			if (!ferror(f)) {
				fclose(f);
				*len = n;
				return buf;
			}
			cli_error(path, "%s", strerror(errno));
			break;
		}
	}
	fclose(f);
	free(buf);
	return NULL;
}

/* Whether buf (gzip'd or not) holds a text profile. */
static int input_is_text(const uint8_t *buf, size_t len)
{
	uint8_t *raw;
	size_t rawlen;
	int text;

	if (len < 2 || buf[0] != 0x1f || buf[1] != 0x8b)
		return lg_is_text(buf, len);
	if (hp_gz_inflate(buf, len, &raw, &rawlen))
		return 0;	/* pf_parse reports the damage */
	text = lg_is_text(raw, rawlen);
	free(raw);
	return text;
}

/* PROFILE with ".heap" (or ".txt") replaced by ".pb.gz", or ".pb.gz" added; NULL when
 * out of memory. */
static char *derive_pprof_name(const char *path)
{
	size_t n = strlen(path);
	char *out = malloc(n + 8);

	if (!out)
		return NULL;
	memcpy(out, path, n + 1);
	if (n > 5 && strcmp(path + n - 5, ".heap") == 0)
		out[n - 5] = '\0';
	else if (n > 4 && strcmp(path + n - 4, ".txt") == 0)
		out[n - 4] = '\0';
	strcat(out, ".pb.gz");
	return out;
}

/* Writes p as text to out ("-": standard output), whole or not at all. */
static int write_text(const pf_profile *p, const char *path, const char *out)
{
	char err[512], tmp[4096];
	FILE *f = stdout;
	int fd = -1;

	if (strcmp(out, "-") != 0) {
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", out, (long)getpid()) >=
		    sizeof(tmp)) {
			cli_error(out, "path too long");
			return CLI_BAD_FILE;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || !(f = fdopen(fd, "w"))) {
			cli_error(out, "cannot write: %s", strerror(errno));
			if (fd >= 0) {
				close(fd);
				unlink(tmp);
			}
			return CLI_BAD_FILE;
		}
	}
	if (lg_write(p, f, err, sizeof(err))) {
		cli_error(path, "%s", err);
		if (f != stdout) {
			fclose(f);
			unlink(tmp);
		}
		return CLI_BAD_FILE;
	}
	if (f == stdout) {
		if (fflush(f) == 0 && !ferror(f))
			return CLI_OK;
		cli_error("standard output", "%s", strerror(errno));
		return CLI_BAD_FILE;
	}
	int e = fflush(f) != 0 || ferror(f) || fsync(fd) != 0 ? errno : 0;
	if (fclose(f) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, out) != 0)
		e = errno;
	if (e) {
		unlink(tmp);
		cli_error(out, "cannot write: %s", strerror(e ? e : EIO));
		return CLI_BAD_FILE;
	}
	return CLI_OK;
}

/* Names the frames (unless told not to) and writes p as gzip'd pprof to out. */
static int write_pprof(pf_profile *p, const cv_opts *o, const char *out)
{
	char err[512];

	if (!o->no_symbolize && sy_symbolize(p, o->quiet, err, sizeof(err)) < 0) {
		cli_error("convert", "symbolize: %s", err);
		return CLI_BAD_FILE;
	}
	if (en_write(p, out, err, sizeof(err))) {
		fprintf(stderr, "heapprof: %s\n", err);
		return CLI_BAD_FILE;
	}
	return CLI_OK;
}

static int convert(const char *path, const cv_opts *o)
{
	char err[512], *derived = NULL;
	size_t len;
	uint8_t *buf = read_all(path, &len);
	int to = o->to, st;

	if (!buf)
		return CLI_BAD_FILE;
	if (to == TO_GUESS)
		to = input_is_text(buf, len) ? TO_PPROF : TO_TEXT;
	pf_profile *p = pf_parse(buf, len, err, sizeof(err));
	free(buf);
	if (!p) {
		cli_error(path, "%s", err);
		return CLI_BAD_FILE;
	}
	if (to == TO_TEXT) {
		st = write_text(p, path, o->out ? o->out : "-");
	} else if (!o->out && !(derived = derive_pprof_name(path))) {
		cli_error("convert", "out of memory");
		st = CLI_BAD_FILE;
	} else {
		st = write_pprof(p, o, o->out ? o->out : derived);
		if (st == CLI_OK && derived)
			printf("wrote %s\n", derived);
	}
	free(derived);
	pf_free(p);
	return st;
}

int convert_main(int argc, char **argv)
{
	cv_opts o = { .to = TO_GUESS };
	const char *path;
	int st = parse(argc, argv, &o);

	if (st >= 0)
		return st;
	if (!(path = cli_one_file("convert", argc, argv)))
		return CLI_USAGE;
	return convert(path, &o);
}
