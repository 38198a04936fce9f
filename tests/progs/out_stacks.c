/* tests/progs/out_stacks.c: a program with many distinct allocation stacks, so that a
 * profile of it is large and each dump takes a while; used by tests/hazards/out_*.sh to
 * test what happens to profile files when things go wrong (killed mid-dump, full disk,
 * ulimit -f, unwritable or planted paths).
 *
 *   out_stacks [--bits B] [--seconds S] [--pidfile F] [--go F] [--dumps N]
 *              [--dump-to PATH] [--dump-log F] [--ready F] [--wait-end F]
 *              [--xfsz handler|ignore] [--own-write F]
 *
 *   --bits B       2^B distinct call stacks (default 10, at most 20): each allocation goes
 *                  through B levels of two mutually recursive functions, the path chosen
 *                  by the bits of its index. One block per stack is kept to the end.
 *   --seconds S    after that, replace random blocks (random stacks) for S seconds
 *   --pidfile F    write the pid to F.tmp and rename it to F once main runs
 *   --go F         then wait (up to 60 s) until F exists before going on
 *   --dump-to PATH call heapprof_dump(PATH) once the blocks are allocated
 *   --dumps N      then call heapprof_dump(NULL) N times, allocating another 1/8 of the
 *                  stacks before each
 *   --dump-log F   append one line per heapprof_dump call to F: "api N: RESULT", RESULT 0
 *                  or "-ERRNO (text)"
 *   --ready F      create F once the blocks are allocated and the dumps made (before
 *                  --seconds), so that a test can ask for a profile of all the stacks
 *   --wait-end F   at the end (before the output and the exit profile), wait (up to 60 s)
 *                  until F exists
 *   --xfsz handler install a SIGXFSZ handler that counts its calls;
 *   --xfsz ignore  set SIGXFSZ to SIG_IGN. Either way the program checks at the end that
 *                  the disposition is still its own and reports it on stdout.
 *   --own-write F  at the end, write 64 KiB to F itself (with --xfsz set and a small
 *                  ulimit -f, to see its own SIGXFSZ/EFBIG still behave as before)
 *
 * heapprof_dump is looked up with dlsym, so the same binary runs with LD_PRELOAD=
 * libheapprof.so and without it (then every dump is logged as "heapprof not loaded"); its
 * stdout is the same either way: one line of counts and a checksum (and the SIGXFSZ
 * report), so a test can compare the two. Exits 0, or 2 on bad arguments, 3 if --go or
 * --wait-end timed out or memory ran out. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pidfile.h"

#if defined(__GNUC__) && !defined(__clang__)
#define NOINLINE __attribute__((noinline, noclone))
#else
#define NOINLINE __attribute__((noinline))
#endif

typedef int (*dump_fn)(const char *);

static volatile unsigned long sink;
static volatile sig_atomic_t xfsz_calls;
static unsigned long rng_state = 0x9e3779b97f4a7c15UL;

static void *walk_a(unsigned long bits, int level, size_t n);
static void *walk_b(unsigned long bits, int level, size_t n);

static unsigned long next_rand(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dUL;
}

/* The next level is walk_a or walk_b by the lowest bit; the work after the call keeps it
 * from being a tail call, so each level leaves its own frame. */
static void *step(unsigned long bits, int level, size_t n)
{
	void *p;

	if (level == 0)
		return malloc(n);
	p = (bits & 1) ? walk_b(bits >> 1, level - 1, n) : walk_a(bits >> 1, level - 1, n);
	sink += (unsigned long)level;
	return p;
}

NOINLINE static void *walk_a(unsigned long bits, int level, size_t n)
{
	void *p = step(bits, level, n);

	sink ^= 1;
	return p;
}

NOINLINE static void *walk_b(unsigned long bits, int level, size_t n)
{
	void *p = step(bits, level, n);

	sink ^= 2;
	return p;
}

static void on_xfsz(int sig)
{
	(void)sig;
	xfsz_calls++;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int wait_for(const char *path)
{
	for (int i = 0; i < 6000; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

static void log_dump(const char *log, unsigned n, int have, int err)
{
	FILE *f;

	if (!log)
		return;
	f = fopen(log, "a");
	if (!f)
		return;
	if (!have)
		fprintf(f, "api %u: heapprof not loaded\n", n);
	else if (err == 0)
		fprintf(f, "api %u: 0\n", n);
	else
		fprintf(f, "api %u: %d (%s)\n", n, err, strerror(-err));
	fclose(f);
}

static int do_dump(dump_fn dump, const char *path, const char *log, unsigned n)
{
	int err = dump ? dump(path) : 0;

	log_dump(log, n, dump != NULL, err);
	return err;
}

static const char *disposition(int sig)
{
	struct sigaction sa;

	if (sigaction(sig, NULL, &sa) != 0)
		return "unknown";
	if (sa.sa_flags & SA_SIGINFO)
		return "siginfo";
	if (sa.sa_handler == SIG_DFL)
		return "default";
	if (sa.sa_handler == SIG_IGN)
		return "ignore";
	return sa.sa_handler == on_xfsz ? "handler" : "foreign";
}

static const char *own_write(const char *path)
{
	static char block[65536];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t w;
	size_t done = 0;

	if (fd < 0)
		return "open failed";
	while (done < sizeof block) {
		w = write(fd, block + done, sizeof block - done);
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	close(fd);
	return done == sizeof block ? "complete" : errno == EFBIG ? "EFBIG" : "short";
}

static void usage(void)
{
	fprintf(stderr, "usage: out_stacks [--bits B] [--seconds S] [--pidfile F] [--go F] "
		"[--dumps N] [--dump-to PATH] [--dump-log F] [--ready F] [--wait-end F] "
		"[--xfsz handler|ignore] [--own-write F]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int bits = 10, dumps = 0;
	double seconds = 0;
	const char *pidfile = NULL, *go = NULL, *dump_to = NULL, *log = NULL, *xfsz = NULL;
	const char *own = NULL, *wait_end = NULL, *ready = NULL;
	unsigned long nstacks, fails = 0, sum = 0, replaced = 0;
	unsigned ndump = 0;
	void **kept;
	dump_fn dump;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (strcmp(a, "--bits") == 0)
			bits = atoi(v);
		else if (strcmp(a, "--seconds") == 0)
			seconds = strtod(v, NULL);
		else if (strcmp(a, "--pidfile") == 0)
			pidfile = v;
		else if (strcmp(a, "--go") == 0)
			go = v;
		else if (strcmp(a, "--dumps") == 0)
			dumps = atoi(v);
		else if (strcmp(a, "--dump-to") == 0)
			dump_to = v;
		else if (strcmp(a, "--dump-log") == 0)
			log = v;
		else if (strcmp(a, "--xfsz") == 0)
			xfsz = v;
		else if (strcmp(a, "--ready") == 0)
			ready = v;
		else if (strcmp(a, "--wait-end") == 0)
			wait_end = v;
		else if (strcmp(a, "--own-write") == 0)
			own = v;
		else
			usage();
	}
	if (bits < 1 || bits > 20 || dumps < 0)
		usage();
	if (xfsz) {
		if (strcmp(xfsz, "handler") == 0) {
			struct sigaction sa;

			memset(&sa, 0, sizeof sa);
			sa.sa_handler = on_xfsz;
			sigemptyset(&sa.sa_mask);
			sigaction(SIGXFSZ, &sa, NULL);
		} else if (strcmp(xfsz, "ignore") == 0) {
			signal(SIGXFSZ, SIG_IGN);
		} else {
			usage();
		}
	}
	dump = (dump_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "heapprof_dump");
	if (pidfile && write_pidfile(pidfile) != 0) {
		perror("out_stacks: pidfile");
		return 2;
	}
	if (go && wait_for(go) != 0) {
		fprintf(stderr, "out_stacks: %s did not appear within 60 s\n", go);
		return 3;
	}

	nstacks = 1UL << bits;
	kept = calloc(nstacks, sizeof(*kept));
	if (!kept)
		return 3;
	for (unsigned long k = 0; k < nstacks; k++) {
		kept[k] = walk_a(k, bits, 16 + (k & 255));
		if (kept[k])
			((char *)kept[k])[0] = (char)(k * 7 + 1);
		else
			fails++;
	}
	if (dump_to)
		do_dump(dump, dump_to, log, ++ndump);
	for (int d = 0; d < dumps; d++) {
		for (unsigned long k = 0; k < nstacks / 8; k++) {
			unsigned long i = next_rand() % nstacks;

			free(kept[i]);
			kept[i] = walk_b(i, bits, 32 + (i & 127));
			if (kept[i])
				((char *)kept[i])[0] = (char)(i * 7 + 1);
			replaced++;
		}
		do_dump(dump, NULL, log, ++ndump);
	}
	if (ready) {
		int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0) {
			perror("out_stacks: ready file");
			return 2;
		}
		close(fd);
	}
	if (seconds > 0) {
		double end = now() + seconds;

		for (unsigned long it = 0;; it++) {
			unsigned long i = next_rand() % nstacks;

			free(kept[i]);
			kept[i] = (it & 1) ? walk_a(i, bits, 64) : walk_b(i, bits, 48);
			if (kept[i])
				((char *)kept[i])[0] = (char)(i * 7 + 1);
			if ((it & 255) == 0 && now() >= end)
				break;
		}
	}
	if (wait_end && wait_for(wait_end) != 0) {
		fprintf(stderr, "out_stacks: %s did not appear within 60 s\n", wait_end);
		return 3;
	}
	for (unsigned long k = 0; k < nstacks; k++) {
		if (kept[k])
			sum += (unsigned char)((char *)kept[k])[0];
		else
			fails++;
		free(kept[k]);
	}
	free(kept);
	sink += sum;
	printf("out_stacks: %lu stacks, %d dumps requested, %lu replaced, %lu failed, "
	       "checksum %lu\n", nstacks, dumps + (dump_to != NULL), replaced, fails, sum);
	if (xfsz) {
		const char *w = own ? own_write(own) : "not tried";

		printf("out_stacks: SIGXFSZ disposition %s (set %s), own write %s, "
		       "handler calls %d\n", disposition(SIGXFSZ), xfsz, w, (int)xfsz_calls);
	}
	return fails ? 3 : 0;
}
