/* tests/fuzz/replay.c: runs files through the fuzz target (tests/fuzz/fuzz_profile.c)
 * without libFuzzer, for make check's regression run (tests/fuzz/replay.sh) and to
 * reproduce a crash under gdb or valgrind.
 *
 *   replay [-q] [-n] FILE|DIR...  each FILE, and each regular file in each DIR (sorted)
 *   replay --canary asan|ubsan    a deliberate heap overflow or signed overflow, to show
 *                                 that a sanitized build reports them
 *
 * Each input runs in a child process (-n: in this one, for a debugger), so that one
 * crash does not hide the verdicts on the others. For each input it prints "parsed
 * NAME", "rejected NAME: REASON" (-q: neither) or "crashed NAME: exit N|signal N", before
 * that "running NAME" on stderr, and at the end "replayed N inputs: P parsed, R rejected,
 * C crashed". Exit status 0; 1 if an input crashed (a property abort()s, a sanitizer
 * exits or aborts); 2 for a file that cannot be read or a bad command line. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "fuzz_profile.h"

static int quiet, nofork;
static unsigned long nrun, nparsed, ncrashed;

/* Reads path whole into a malloc'd buffer of exactly its size (so ASan sees overreads). */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	if (!f || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return NULL;
	}
	*len = (size_t)st.st_size;
	buf = malloc(*len ? *len : 1);
	if (!buf || fread(buf, 1, *len, f) != *len) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	return buf;
}

/* Runs buf through the target here; prints the verdict. Returns whether it parsed. */
static int run_here(const char *path, const uint8_t *buf, size_t len)
{
	LLVMFuzzerTestOneInput(buf, len);
	if (!quiet && fz_parsed)
		printf("parsed %s\n", path);
	else if (!quiet)
		printf("rejected %s: %s\n", path, fz_err);
	fflush(stdout);
	return fz_parsed != 0;
}

/* Runs buf through the target in a child: 0 rejected, 1 parsed, -1 crashed (printed). */
static int run_child(const char *path, const uint8_t *buf, size_t len)
{
	int st;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("replay: fork");
		exit(2);
	}
	if (pid == 0)
		exit(run_here(path, buf, len) ? 10 : 11);	/* exit: LSan checks here */
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("replay: waitpid");
			exit(2);
		}
	if (WIFEXITED(st) && (WEXITSTATUS(st) == 10 || WEXITSTATUS(st) == 11))
		return WEXITSTATUS(st) == 10;
	if (WIFSIGNALED(st))
		printf("crashed %s: signal %d\n", path, WTERMSIG(st));
	else
		printf("crashed %s: exit %d\n", path, WEXITSTATUS(st));
	return -1;
}

static int run_file(const char *path)
{
	size_t len;
	uint8_t *buf = slurp(path, &len);
	int r;

	if (!buf)
		return -1;
	fprintf(stderr, "running %s\n", path);
	r = nofork ? run_here(path, buf, len) : run_child(path, buf, len);
	free(buf);
	nrun++;
	nparsed += r == 1;
	ncrashed += r == -1;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir, sorted by name. */
static int run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				abort();
		}
		if (asprintf(&names[n++], "%s/%s", dir, e->d_name) < 0)
			abort();
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode) && run_file(names[i]))
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

/* A heap overflow that ASan must report (read back through a volatile, so that the
 * compiler cannot drop the allocation; UBSan's object-size check, which would report it
 * first, is off here). */
__attribute__((noinline, no_sanitize("undefined")))
static int canary_asan(void)
{
	volatile size_t i = 8;
	volatile char sink;
	char *p = malloc(8);

	if (!p)
		return 1;
	p[i] = 1;
	sink = p[i];
	free(p);
	return sink;
}

/* A signed overflow that UBSan must report. */
__attribute__((noinline))
static int canary_ubsan(void)
{
	volatile int big = INT_MAX;
	int x = big + 1;

	printf("%d\n", x);
	return 0;
}

static int canary(const char *what)
{
	if (strcmp(what, "asan") == 0)
		return canary_asan();
	if (strcmp(what, "ubsan") == 0)
		return canary_ubsan();
	fprintf(stderr, "replay: --canary asan|ubsan\n");
	return 2;
}

int main(int argc, char **argv)
{
	int rc = 0, i = 1;

	if (argc == 3 && strcmp(argv[1], "--canary") == 0)
		return canary(argv[2]);
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (strcmp(argv[i], "-q") == 0) {
			quiet = 1;
		} else if (strcmp(argv[i], "-n") == 0) {
			nofork = 1;
		} else {
			i = argc;	/* usage */
			break;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: replay [-q] [-n] FILE|DIR... | replay --canary asan|ubsan\n");
		return 2;
	}
	for (; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? run_dir(argv[i])
		    : run_file(argv[i]))
			rc = 2;
	}
	printf("replayed %lu inputs: %lu parsed, %lu rejected, %lu crashed\n", nrun, nparsed,
	       nrun - nparsed - ncrashed, ncrashed);
	return rc ? rc : ncrashed ? 1 : 0;
}
