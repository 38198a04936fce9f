/* For the unit tests: the profiler's internal allocator backed by the C library. */
#include <stdlib.h>
#include "arena.h"

void *hp_ialloc(size_t n)
{
	return malloc(n);
}

void *hp_icalloc(size_t n)
{
	return calloc(1, n);
}

void hp_ifree(void *p)
{
	free(p);
}
