/* For the unit tests: the profiler's internal allocator backed by the C library. The
 * *_k functions count the C library's usable size of each block per kind, as lib/arena.c
 * counts jemalloc's (hp_mem_bytes); static tables and hp_mem_heap are not counted. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"

static size_t stub_bytes[HP_MEM_NKINDS];

static void *stub_count(int kind, void *p)
{
	if (p && kind >= 0 && kind < HP_MEM_NKINDS)
		__atomic_fetch_add(&stub_bytes[kind], malloc_usable_size(p), __ATOMIC_RELAXED);
	return p;
}

static void stub_uncount(int kind, void *p)
{
	if (p && kind >= 0 && kind < HP_MEM_NKINDS)
		__atomic_fetch_sub(&stub_bytes[kind], malloc_usable_size(p), __ATOMIC_RELAXED);
}

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
	return hp_stub_fail_alloc ? NULL : stub_count(kind, malloc(n));
}

void *hp_icalloc_k(int kind, size_t n)
{
	return hp_stub_fail_alloc ? NULL : stub_count(kind, calloc(1, n));
}

void *hp_irealloc_k(int kind, void *p, size_t n)
{
	size_t old = p ? malloc_usable_size(p) : 0;
	void *q = realloc(p, n ? n : 1);

	if (q && kind >= 0 && kind < HP_MEM_NKINDS) {
		__atomic_fetch_sub(&stub_bytes[kind], old, __ATOMIC_RELAXED);
		stub_count(kind, q);
	}
	return q;
}

char *hp_istrdup_k(int kind, const char *s)
{
	return stub_count(kind, strdup(s));
}

void hp_ifree_k(int kind, void *p)
{
	stub_uncount(kind, p);
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
	return kind >= 0 && kind < HP_MEM_NKINDS ?
	       __atomic_load_n(&stub_bytes[kind], __ATOMIC_RELAXED) : 0;
}

size_t hp_mem_heap(void)
{
	return 0;
}
