/* For the unit tests: the profiler's internal allocator backed by the C library. The
 * accounting of lib/arena.c is left out (hp_mem_bytes counts nothing here). */
#include <stdlib.h>
#include <string.h>
#include "arena.h"

/* Set by a test to make hp_ialloc_k and hp_icalloc_k fail (out of memory). */
int hp_stub_fail_alloc;

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

void *hp_ialloc_k(int kind, size_t n)
{
	(void)kind;
	return hp_stub_fail_alloc ? NULL : malloc(n);
}

void *hp_icalloc_k(int kind, size_t n)
{
	(void)kind;
	return hp_stub_fail_alloc ? NULL : calloc(1, n);
}

void *hp_irealloc_k(int kind, void *p, size_t n)
{
	(void)kind;
	return realloc(p, n ? n : 1);
}

char *hp_istrdup_k(int kind, const char *s)
{
	(void)kind;
	return strdup(s);
}

void hp_ifree_k(int kind, void *p)
{
	(void)kind;
	free(p);
}

void hp_mem_static(int kind, const void *p, size_t len)
{
	(void)kind;
	(void)p;
	(void)len;
}

size_t hp_mem_bytes(int kind)
{
	(void)kind;
	return 0;
}

size_t hp_mem_heap(void)
{
	return 0;
}
