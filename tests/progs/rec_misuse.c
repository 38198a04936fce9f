/* tests/progs/rec_misuse.c: a program that misuses sampled blocks, for
 * tests/integration/records.sh (lib/liverec: the record in front of a sampled block).
 * Run under the library at rate=1, so that every block is sampled.
 *
 *   rec_misuse double     frees a block twice, then allocates and uses 1000 more
 *   rec_misuse underflow  writes one byte in front of a block, reallocs it (must fail with
 *                         ENOMEM, the block intact), frees it, then allocates 1000 more
 *   rec_misuse aligned    aligned_alloc of 32 B .. 64 KiB alignments: aligned, usable size,
 *                         content kept by realloc; heapprof's in-use count back to where
 *                         it was after the frees (heapprof_get_totals, found with dlsym)
 *
 * Prints one line per check ("ok ..." or "bad ..."), exits 0 when all are ok, 1 if not,
 * 2 on a bad argument. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad;

static void check(int cond, const char *what)
{
	printf("%s %s\n", cond ? "ok" : "bad", what);
	bad |= !cond;
}

/* The misuse is deliberate: the compiler must not see where p came from. */
static void *launder(void *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

static int more_blocks(void)
{
	static void *keep[1000];
	int fine = 1;

	for (int i = 0; i < 1000; i++) {
		keep[i] = malloc(100 + (size_t)i);
		if (!keep[i])
			return 0;
		memset(keep[i], i & 0xff, 100 + (size_t)i);
	}
	for (int i = 0; i < 1000; i++) {
		fine &= ((unsigned char *)keep[i])[99 + i] == (i & 0xff);
		free(keep[i]);
	}
	return fine;
}

typedef struct {
	uint64_t alloc_objects, alloc_bytes, inuse_objects, inuse_bytes, samples, stacks;
} totals;

static int inuse(uint64_t *n)
{
	int (*get)(totals *) = (int (*)(totals *))dlsym(RTLD_DEFAULT, "heapprof_get_totals");
	totals t;

	if (!get || get(&t) != 0)
		return 0;
	*n = t.inuse_objects;
	return 1;
}

int main(int argc, char **argv)
{
	const char *mode = argc == 2 ? argv[1] : "";

	if (strcmp(mode, "double") == 0) {
		char *p = malloc(100);

		memset(p, 1, 100);
		free(launder(p));
		free(launder(p));	/* the misuse */
		check(more_blocks(), "1000 blocks allocated, filled and freed after a double free");
	} else if (strcmp(mode, "underflow") == 0) {
		unsigned char *p = malloc(64), *q, *r;

		memset(p, 7, 64);
		r = (unsigned char *)launder(p) - 1;
		*r ^= 0x55;	/* the misuse: a write in front of the block */
		errno = 0;
		q = realloc(launder(p), 4096);
		p = launder(p);
		check(q == NULL && errno == ENOMEM, "realloc of the block returns NULL with ENOMEM");
		check(p[0] == 7 && p[63] == 7, "the block is intact");
		free(p);
		check(more_blocks(), "1000 blocks allocated, filled and freed after that");
	} else if (strcmp(mode, "aligned") == 0) {
		uint64_t before = 0, after = 0;
		int aligned = 1, usable = 1, kept = 1, have;

		inuse(&before);	/* a first dlsym may allocate */
		have = inuse(&before);

		for (size_t al = 32; al <= 65536; al *= 2) {
			size_t n = 3 * al;
			unsigned char *p = aligned_alloc(al, n), *q;

			if (!p)
				return 1;
			aligned &= ((uintptr_t)p & (al - 1)) == 0;
			usable &= malloc_usable_size(p) >= n;
			memset(p, (int)(al & 0xff) | 1, malloc_usable_size(p));
			q = realloc(p, 10 * al);
			if (!q)
				return 1;
			kept &= q[0] == ((al & 0xff) | 1) && q[n - 1] == ((al & 0xff) | 1);
			free(q);
		}
		have = have && inuse(&after);	/* before printf allocates stdout's buffer */
		check(aligned, "aligned_alloc's blocks are aligned, 32 B to 64 KiB");
		check(usable, "and have the usable size asked for (filled to it)");
		check(kept, "realloc keeps their content");
		check(have && after == before,
		      "heapprof's in-use count is back where it was after the frees");
	} else {
		fprintf(stderr, "usage: rec_misuse double|underflow|aligned\n");
		return 2;
	}
	return bad;
}
