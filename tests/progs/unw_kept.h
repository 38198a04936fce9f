/* tests/progs/unw_kept.h: what tests/progs/unw_coro.c and unw_badslot.c share. Each keeps
 * every block it allocates (in use at exit, in an array from mmap: the program allocates
 * nothing else with malloc), counts them, and says why it stops when it cannot go on.
 * Each defines KEPT_PROG (its name, for messages) before including this. */
#ifndef UNW_KEPT_H
#define UNW_KEPT_H
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NOFP __attribute__((noipa, optimize("omit-frame-pointer")))
#define FP __attribute__((noipa, optimize("no-omit-frame-pointer")))

/* The leaves' type (KEPT_LEAF below), for the assembly frames that call them. */
typedef int (*leaf_fn)(size_t);

static volatile int sink;	/* what the chains return: used, so that no call is dropped */
static void **kept_blocks;
static int kept_n, kept_max;
static size_t kept_bytes;

static void kept_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", KEPT_PROG, what);
	exit(1);
}

/* Room for n blocks. */
static void kept_init(int n)
{
	kept_blocks = mmap(NULL, (size_t)n * sizeof(void *), PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (kept_blocks == MAP_FAILED)
		kept_die("cannot map the array of blocks");
	kept_max = n;
}

/* p, a block of size bytes from malloc, kept. */
static void kept_add(void *p, size_t size)
{
	if (!p)
		kept_die("malloc failed");
	if (kept_n >= kept_max)
		kept_die("too many blocks");
	memset(p, 1, 16);
	kept_blocks[kept_n++] = p;
	kept_bytes += size;
}

/* A leaf that allocates size bytes, keeps the block and returns 1: a function of its own,
 * so that its name is the first frame of its blocks' stacks. */
#define KEPT_LEAF(name)							\
	static NOFP int name(size_t size)				\
	{								\
		kept_add(malloc(size), size);				\
		return 1;						\
	}

#endif
