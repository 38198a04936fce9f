/* wl_realloc: large blocks grown with realloc, like vectors (a workload of bench/run.sh).
 *
 * usage: wl_realloc [ROUNDS [BUFFERS [MAX_MIB]]]
 *   ROUNDS   rounds (default 40)
 *   BUFFERS  buffers grown side by side (default 8)
 *   MAX_MIB  size a buffer grows to, in MiB (default 8)
 *
 * Each round mallocs BUFFERS buffers of 4 KiB and grows them in turn (round robin, so their
 * growth interleaves in the address space) until each reaches MAX_MIB: even-numbered
 * buffers double, odd-numbered ones grow by 1.5x (the two usual vector policies). After
 * each realloc the new tail is written one byte per 4 KiB page, so every page is faulted in
 * as a vector filling it would, without a memset's memory traffic dominating. The first
 * bytes are checked to survive every move. At the end of a round all buffers are freed.
 * Peak live heap: about BUFFERS x MAX_MIB. Prints a checksum and the number of reallocs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define START 4096u
#define PAGE 4096u
#define MAXBUF 64

static void die(const char *msg)
{
	fprintf(stderr, "wl_realloc: %s\n", msg);
	exit(2);
}

static long arg(int argc, char **argv, int i, long def, long lo, long hi)
{
	if (argc <= i)
		return def;
	char *end;
	long v = strtol(argv[i], &end, 10);
	if (end == argv[i] || *end != '\0' || v < lo || v > hi)
		die("usage: wl_realloc [ROUNDS [BUFFERS(1-64) [MAX_MIB(1-1024)]]]");
	return v;
}

static void touch(unsigned char *p, size_t from, size_t to, unsigned char v)
{
	for (size_t off = from; off < to; off += PAGE)
		p[off] = v;
	p[to - 1] = v;
}

int main(int argc, char **argv)
{
	long rounds = arg(argc, argv, 1, 40, 0, 1000000);
	long nbuf = arg(argc, argv, 2, 8, 1, MAXBUF);
	size_t max = (size_t)arg(argc, argv, 3, 8, 1, 1024) << 20;
	unsigned char *buf[MAXBUF];
	size_t len[MAXBUF];
	uint64_t sum = 0;
	long reallocs = 0;

	for (long r = 0; r < rounds; r++) {
		for (long b = 0; b < nbuf; b++) {
			buf[b] = malloc(START);
			if (buf[b] == NULL)
				die("malloc failed");
			len[b] = START;
			buf[b][0] = (unsigned char)(b + r);
			touch(buf[b], 1, START, 1);
		}
		for (int growing = 1; growing;) {
			growing = 0;
			for (long b = 0; b < nbuf; b++) {
				if (len[b] >= max)
					continue;
				size_t n = b % 2 == 0 ? len[b] * 2 : len[b] + len[b] / 2;
				if (n > max)
					n = max;
				unsigned char *p = realloc(buf[b], n);
				if (p == NULL)
					die("realloc failed");
				if (p[0] != (unsigned char)(b + r))
					die("realloc lost the contents");
				touch(p, len[b], n, 2);
				buf[b] = p;
				len[b] = n;
				reallocs++;
				growing |= n < max;
			}
		}
		for (long b = 0; b < nbuf; b++) {
			sum += buf[b][0] + buf[b][len[b] - 1];
			free(buf[b]);
		}
	}
	printf("%llu %ld\n", (unsigned long long)sum, reallocs);
	return 0;
}
