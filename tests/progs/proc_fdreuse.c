/* tests/progs/proc_fdreuse.c: the program closes every descriptor it inherited or that a
 * library may have opened, reuses the lowest numbers for its own files, pipes and a socket
 * pair, and checks that nothing but itself wrote to or read from them while it allocated
 * (at rate=1, also through functions without unwind info, tests/progs/proc_nouw.c) and
 * while profiles were written.
 *
 *   proc_fdreuse MODE PREFIX
 *
 * MODE plain   no dumps at all (run without the library: the reference)
 *      signal  dumps by raise(SIGUSR1), waiting for PREFIX.<pid>.NNNN.signal.pb.gz each
 *              time (run with LD_PRELOAD=libheapprof.so and HEAPPROF=prefix=PREFIX,...)
 *      api     dumps by heapprof_dump(NULL) (only in proc_fdreuse_linked, built with
 *              -DUSE_API and linked with -lheapprof)
 * PREFIX's directory also receives the program's own scratch files (PREFIX.own.*).
 *
 * Steps: warm-up allocations (the profiler and libunwind initialise) and one dump; close
 * every descriptor from 3 up to RLIMIT_NOFILE; open pipe A, file F (read-write), pipe B,
 * file R (read-only, known content), file G (O_APPEND), pipe C, socket pair S, which must
 * get the numbers 3..13; ROUNDS rounds of: write one record to each writable channel,
 * read one record of R and compare it, allocate (through the sites without unwind info
 * too), and every DUMP_EVERY rounds dump; finally read every channel back and compare with
 * the records written: no byte added, lost or changed.
 * Prints the open descriptors (/proc/self/fd) at four points, "fds <point>: 0 1 2 ...",
 * which the test compares with the same program run without the library; then
 * "nouw allocs: N" (allocations made in proc_nouw_alloc), "dumps: N", and "data: ok" or
 * "data: BAD ..." lines. Exit status 0 when the data are intact and every dump worked,
 * 1 otherwise, 2 on a usage or setup error. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef USE_API
#include <heapprof.h>
#endif

#include "proc_nouw.h"

enum { ROUNDS = 240, DUMP_EVERY = 40, RING = 16, MAXREC = 64 };

enum kind { K_PIPE, K_FILE_RW, K_FILE_APPEND, K_FILE_READ, K_SOCK };

typedef struct chan {
	const char *name;
	enum kind kind;
	int wfd, rfd;		/* the same for files; rfd only for the read-only file */
	int bad;
} chan;

static chan chans[] = {
	{ "pipe A", K_PIPE, -1, -1, 0 },
	{ "file F", K_FILE_RW, -1, -1, 0 },
	{ "pipe B", K_PIPE, -1, -1, 0 },
	{ "file R (read-only)", K_FILE_READ, -1, -1, 0 },
	{ "file G (append)", K_FILE_APPEND, -1, -1, 0 },
	{ "pipe C", K_PIPE, -1, -1, 0 },
	{ "socket pair S", K_SOCK, -1, -1, 0 },
};
#define NCHANS ((int)(sizeof(chans) / sizeof(chans[0])))

static const char *mode, *prefix;
static char own_path[3][4096];
static int failures, dumps;
static unsigned long nouw_allocs;
static unsigned char *ring[RING];
volatile unsigned long sink;

/* The record channel c carries in round r: deterministic, 16 to 38 bytes. */
static size_t record(int c, int r, char *buf)
{
	size_t len = 16 + (size_t)((r * 7 + c * 3) % 23), n;

	n = (size_t)snprintf(buf, MAXREC, "<%d:%04d:", c, r);
	for (size_t i = n; i < len - 1; i++)
		buf[i] = (char)('a' + (r + c + (int)i) % 26);
	buf[len - 1] = '\n';
	return len;
}

static void list_fds(const char *point)
{
	char line[8192];
	size_t n = 0;
	int fds[4096], count = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d) {
		printf("fds %s: cannot open /proc/self/fd: %s\n", point, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL && count < 4096) {
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if (fd != dirfd(d))
			fds[count++] = fd;
	}
	closedir(d);
	for (int i = 1; i < count; i++)	/* insertion sort: few entries */
		for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
			int t = fds[j];

			fds[j] = fds[j - 1];
			fds[j - 1] = t;
		}
	line[0] = '\0';
	for (int i = 0; i < count && n < sizeof(line) - 16; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%d", i ? " " : "", fds[i]);
	printf("fds %s: %s\n", point, line);
	fflush(stdout);
}

static int count_profiles(const char *trigger)
{
	char pat[4200];
	glob_t g;
	int n = 0;

	snprintf(pat, sizeof(pat), "%s.%d.*.%s.pb.gz", prefix, (int)getpid(), trigger);
	if (glob(pat, 0, NULL, &g) == 0)
		n = (int)g.gl_pathc;
	globfree(&g);
	return n;
}

/* One profile, by the mode's trigger; waits for it (signal) for up to 20 s. */
static void dump(void)
{
	if (strcmp(mode, "signal") == 0) {
		int want = count_profiles("signal") + 1;
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		raise(SIGUSR1);
		for (int i = 0; i < 2000 && count_profiles("signal") < want; i++) {
			sink += proc_nouw_churn(1, 24);	/* allocate meanwhile, too */
			nouw_allocs++;
			nanosleep(&ts, NULL);
		}
		if (count_profiles("signal") < want) {
			printf("data: BAD: dump %d: no signal profile within 20 s\n", dumps + 1);
			failures++;
		}
	}
#ifdef USE_API
	else if (strcmp(mode, "api") == 0) {
		int err = heapprof_dump(NULL);

		if (err != 0) {
			printf("data: BAD: heapprof_dump: %s\n", heapprof_strerror(err));
			failures++;
		}
	}
#endif
	else
		return;
	dumps++;
}

__attribute__((noinline)) static void allocate_some(int r)
{
	unsigned char *p = proc_nouw_alloc(40 + (size_t)(r % 50), (unsigned char)r);
	char *q = malloc(100 + (size_t)r);

	nouw_allocs++;
	if (!p || !q) {
		printf("data: BAD: out of memory\n");
		exit(2);
	}
	free(ring[r % RING]);
	ring[r % RING] = p;
	q[0] = (char)r;
	sink += (unsigned char)q[0];
	free(q);
	sink += proc_nouw_churn(2, 100 + (size_t)r);
	nouw_allocs += 2;
}

static int must(int ret, const char *what)
{
	if (ret < 0) {
		printf("setup: %s: %s\n", what, strerror(errno));
		exit(2);
	}
	return ret;
}

static void close_all(void)
{
	struct rlimit rl;
	long max = 65536;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (long)rl.rlim_cur;
	if (max > (1L << 20))
		max = 1L << 20;
	for (long fd = 3; fd < max; fd++)
		close((int)fd);
}

/* The read-only file's content: the records of channel index NCHANS, all rounds. */
static void make_read_file(void)
{
	char buf[MAXREC];
	int fd = must(open(own_path[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
		      "create the read-only file");

	for (int r = 0; r < ROUNDS; r++) {
		size_t len = record(NCHANS, r, buf);

		if (write(fd, buf, len) != (ssize_t)len)
			must(-1, "write the read-only file");
	}
	close(fd);
}

static void open_chans(void)
{
	for (int c = 0; c < NCHANS; c++) {
		chan *ch = &chans[c];
		int p[2];

		switch (ch->kind) {
		case K_PIPE:
			must(pipe2(p, O_NONBLOCK), "pipe2");
			ch->rfd = p[0];
			ch->wfd = p[1];
			break;
		case K_SOCK:
			must(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p), "socketpair");
			ch->wfd = p[0];
			ch->rfd = p[1];
			break;
		case K_FILE_RW:
			ch->wfd = ch->rfd = must(open(own_path[0], O_RDWR | O_CREAT | O_TRUNC, 0600),
						 "open file F");
			break;
		case K_FILE_APPEND:
			ch->wfd = ch->rfd = must(open(own_path[1],
						      O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, 0600),
						 "open file G");
			break;
		case K_FILE_READ:
			ch->rfd = must(open(own_path[2], O_RDONLY), "open file R");
			break;
		}
	}
}

/* All bytes readable from the channel's read side (files: from offset 0). */
static size_t read_back(chan *ch, int c, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t got;

	if (ch->kind == K_FILE_RW || ch->kind == K_FILE_APPEND) {
		int fd = must(open(own_path[ch->kind == K_FILE_RW ? 0 : 1], O_RDONLY),
			      "reopen a file");

		while (n < cap && (got = pread(fd, buf + n, cap - n, (off_t)n)) > 0)
			n += (size_t)got;
		close(fd);
		return n;
	}
	while (n < cap && (got = read(ch->rfd, buf + n, cap - n)) > 0)
		n += (size_t)got;
	if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		printf("data: BAD: %s (fd %d): read: %s\n", ch->name, ch->rfd, strerror(errno));
		ch->bad = 1;
	}
	(void)c;
	return n;
}

static void verify(void)
{
	static char got[ROUNDS * MAXREC + 4096], want[ROUNDS * MAXREC];

	for (int c = 0; c < NCHANS; c++) {
		chan *ch = &chans[c];
		size_t nw = 0, ng;

		if (ch->kind == K_FILE_READ) {
			char extra;
			ssize_t e = read(ch->rfd, &extra, 1);

			if (e != 0) {
				printf("data: BAD: %s (fd %d): offset moved past the end (read %zd)\n",
				       ch->name, ch->rfd, e);
				ch->bad = 1;
			}
			continue;
		}
		for (int r = 0; r < ROUNDS; r++)
			nw += record(c, r, want + nw);
		ng = read_back(ch, c, got, sizeof(got));
		if (ng != nw || memcmp(got, want, nw) != 0) {
			size_t i = 0;

			while (i < ng && i < nw && got[i] == want[i])
				i++;
			printf("data: BAD: %s (fd %d/%d): %zu bytes written, %zu read back, first "
			       "difference at byte %zu\n", ch->name, ch->wfd, ch->rfd, nw, ng, i);
			ch->bad = 1;
		}
	}
}

int main(int argc, char **argv)
{
	char buf[MAXREC], rbuf[MAXREC];
	off_t roff = 0;

	if (argc != 3 || (strcmp(argv[1], "plain") && strcmp(argv[1], "signal") &&
			  strcmp(argv[1], "api"))) {
		fprintf(stderr, "usage: proc_fdreuse plain|signal|api PREFIX\n");
		return 2;
	}
	mode = argv[1];
	prefix = argv[2];
#ifndef USE_API
	if (strcmp(mode, "api") == 0) {
		fprintf(stderr, "proc_fdreuse: mode api needs the linked build\n");
		return 2;
	}
#endif
	for (int i = 0; i < 3; i++)
		snprintf(own_path[i], sizeof(own_path[i]), "%s.own.%d.%c", prefix, (int)getpid(),
			 "FGR"[i]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	list_fds("start");

	/* Warm up: the profiler, libunwind (its lazy initialisation) and one dump. */
	for (int r = 0; r < 8; r++)
		allocate_some(r);
	dump();
	make_read_file();
	list_fds("init");

	close_all();
	open_chans();
	for (int c = 0, expect = 3; c < NCHANS; c++) {
		int lo = chans[c].wfd >= 0 && chans[c].rfd >= 0 &&
			 chans[c].wfd != chans[c].rfd ?
			 (chans[c].wfd < chans[c].rfd ? chans[c].wfd : chans[c].rfd) :
			 (chans[c].wfd >= 0 ? chans[c].wfd : chans[c].rfd);

		if (lo != expect) {
			printf("setup: %s got fd %d, expected %d (lowest numbers)\n", chans[c].name,
			       lo, expect);
			return 2;
		}
		expect += (chans[c].wfd >= 0 && chans[c].rfd >= 0 &&
			   chans[c].wfd != chans[c].rfd) ? 2 : 1;
	}
	list_fds("open");

	for (int r = 0; r < ROUNDS; r++) {
		for (int c = 0; c < NCHANS; c++) {
			chan *ch = &chans[c];
			size_t len;
			ssize_t w;

			if (ch->kind == K_FILE_READ) {
				len = record(NCHANS, r, buf);
				w = read(ch->rfd, rbuf, len);
				if (w != (ssize_t)len || memcmp(rbuf, buf, len) != 0) {
					if (!ch->bad)
						printf("data: BAD: %s (fd %d): round %d: read %zd bytes at "
						       "offset %lld, not record %d\n", ch->name, ch->rfd,
						       r, w, (long long)roff, r);
					ch->bad = 1;
				}
				roff += (off_t)len;
				continue;
			}
			len = record(c, r, buf);
			w = write(ch->wfd, buf, len);
			if (w != (ssize_t)len && !ch->bad) {
				printf("data: BAD: %s (fd %d): round %d: write returned %zd (%s)\n",
				       ch->name, ch->wfd, r, w, w < 0 ? strerror(errno) : "short");
				ch->bad = 1;
			}
		}
		allocate_some(r);
		if ((r + 1) % DUMP_EVERY == 0)
			dump();
	}
	list_fds("dumped");
	verify();
	for (int c = 0; c < NCHANS; c++) {
		failures += chans[c].bad;
		if (chans[c].wfd >= 0)
			close(chans[c].wfd);
		if (chans[c].rfd >= 0 && chans[c].rfd != chans[c].wfd)
			close(chans[c].rfd);
	}
	for (int i = 0; i < 3; i++)
		unlink(own_path[i]);
	for (int i = 0; i < RING; i++)
		free(ring[i]);
	list_fds("end");
	printf("nouw allocs: %lu\n", nouw_allocs);
	printf("dumps: %d\n", dumps);
	if (!failures)
		printf("data: ok\n");
	return failures ? 1 : 0;
}
