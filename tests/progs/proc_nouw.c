/* tests/progs/proc_nouw.c: allocation sites WITHOUT unwind information, for the fd-reuse
 * test (tests/hazards/proc_fdreuse.sh, program tests/progs/proc_fdreuse.c).
 *
 * Built alone into the convenience library tests/progs/libproc_nouw.la with
 * -fno-asynchronous-unwind-tables -fno-unwind-tables -fomit-frame-pointer (see
 * tests/hazards/process.mk), so that .eh_frame has no FDE for these functions. Unwinding
 * through them is where libunwind's own (local) unwinder gives up on DWARF and falls back
 * to reading the frame chain with "validated" memory reads, which it does by writing the
 * address to a pipe it opened at initialisation: in a program that closed and reused those
 * descriptor numbers, those writes and reads would hit the program's own files. heapprof
 * uses its own accessors (doc/DESIGN.md), which must touch no descriptor.
 * proc_fdreuse.sh checks with readelf that no FDE covers proc_nouw_alloc. */
#include <stdlib.h>
#include <string.h>

#include "proc_nouw.h"

/* Allocates n bytes, fills them with fill and returns the block (not a tail call: the
 * return address into this function is on the stack while malloc runs). */
__attribute__((noinline)) unsigned char *proc_nouw_alloc(size_t n, unsigned char fill)
{
	unsigned char *p = malloc(n);

	if (p)
		memset(p, fill, n);
	return p;
}

/* Allocates and frees count blocks of n bytes; returns a checksum of their first bytes. */
__attribute__((noinline)) unsigned proc_nouw_churn(int count, size_t n)
{
	unsigned sum = 0;

	for (int i = 0; i < count; i++) {
		unsigned char *volatile p = proc_nouw_alloc(n, (unsigned char)i);

		if (!p)
			return 0;
		sum += p[0];
		free(p);
	}
	return sum;
}
