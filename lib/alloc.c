/* lib/alloc: the interposed C allocation functions.
 *
 * Cost budget of the fast path (doc/PERFORMANCE.md has the callgrind figures): malloc
 * subtracts the size from a thread-local counter (initial-exec TLS) and, unless it reached
 * zero, tail-calls jemalloc's malloc; free compares the pointer with the sampled
 * arena's range and tail-calls jemalloc's free. Anything else (sampling, the profiler's
 * initialisation, argument normalisation for the rarer functions) is out of line. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "arena.h"
#include "prof.h"
#include "sampler.h"
#include "trigger.h"

void cfree(void *p);

/* Slow path of every entry point: the thread's counter reached zero (it starts at zero, so
 * a thread's first allocation comes here too). Returns 1 when this
 * allocation of n bytes is to be sampled. */
static __attribute__((noinline)) int slow_tick(size_t n)
{
	hp_tls_t *t = &hp_tls;

	if (t->guard) {
		t->bytes_left += (int64_t)n;	/* the profiler's own allocation: not counted */
		return 0;
	}
	if (HP_UNLIKELY(__atomic_load_n(&hp_state, __ATOMIC_ACQUIRE) != HP_READY) &&
	    !hp_prof_init()) {
		t->bytes_left = hp_state == HP_INERT ? INT64_MAX / 2 : 0;
		return 0;
	}
	if (!hp_sampler_tick(t, n, __atomic_load_n(&hp_rate, __ATOMIC_RELAXED),
			     __atomic_load_n(&hp_active, __ATOMIC_RELAXED)))
		return 0;
	hp_trigger_poll();
	return 1;
}

/* The counter update as one read-modify-write instruction whose flags decide: the compiler
 * would otherwise load, subtract, store and test (three instructions more per malloc).
 * The counter is never negative when this runs, so "n >= bytes_left, unsigned" (borrow or
 * zero) is the slow-path test: the same as "bytes_left - n <= 0" for every sane n, and
 * also true for a request over PTRDIFF_MAX (malloc(SIZE_MAX)), which as a signed
 * subtraction would add to the counter and stop this thread's sampling for a long time. */
static inline int sample_this(size_t n)
{
	int be;

	__asm__("subq %2, %0" : "+m"(hp_tls.bytes_left), "=@ccbe"(be) : "r"(n));
	return HP_UNLIKELY(be) && slow_tick(n);
}

static void *enomem(void)
{
	errno = ENOMEM;
	return NULL;
}

HP_EXPORT void *malloc(size_t n)
{
	if (sample_this(n))
		return hp_prof_alloc(n, 0, 0);
	return hpje_malloc(n);
}

HP_EXPORT void free(void *p)
{
	if (HP_UNLIKELY(hp_maybe_sampled(p))) {
		hp_prof_free(p);
		return;
	}
	hpje_free(p);
}

HP_EXPORT void *calloc(size_t a, size_t b)
{
	size_t n;

	if (__builtin_mul_overflow(a, b, &n))
		return enomem();
	if (sample_this(n))
		return hp_prof_alloc(n, 0, 1);
	return hpje_calloc(a, b);
}

/* realloc when the new block is sampled or the old one was: a sampled block is resized in
 * place if jemalloc can (lib/prof.c), else the block moves. */
static __attribute__((noinline)) void *realloc_move(void *p, size_t n, int sampled)
{
	size_t old;
	void *q;

	if (hp_is_sampled(p)) {
		if ((q = hp_prof_resize(p, n, sampled)) != NULL)
			return q;
		if ((old = hp_prof_usable(p)) == 0)
			return enomem();	/* its record is not sound: left alone (logged) */
	} else {
		old = hp_usable_size(p);
	}
	q = sampled ? hp_prof_alloc(n, 0, 0) : hpje_malloc(n);

	if (!q)
		return enomem();	/* the old block is intact */
	memcpy(q, p, old < n ? old : n);
	free(p);
	return q;
}

HP_EXPORT void *realloc(void *p, size_t n)
{
	int sampled;

	if (!p)
		return malloc(n);
	if (n == 0) {
		free(p);	/* glibc: realloc(p, 0) frees p and returns NULL */
		return NULL;
	}
	sampled = sample_this(n);
	if (HP_UNLIKELY(sampled || hp_maybe_sampled(p)) && (sampled || hp_is_sampled(p)))
		return realloc_move(p, n, sampled);
	/* jemalloc's realloc leaves errno alone when the size overflows its classes */
	return (p = hpje_realloc(p, n)) ? p : enomem();
}

HP_EXPORT void *reallocarray(void *p, size_t a, size_t b)
{
	size_t n;

	if (__builtin_mul_overflow(a, b, &n))
		return enomem();
	return realloc(p, n);
}

void *hp_alloc_aligned(size_t align, size_t n)
{
	void *p;

	if (sample_this(n))
		p = hp_prof_alloc(n, align, 0);
	else
		p = hp_plain_alloc(n, align, 0);
	return p ? p : enomem();
}

/* glibc 2.36's memalign, which aligned_alloc also is: small alignments are malloc's, an
 * alignment that is not a power of two is rounded up to one, an impossible one is EINVAL.
 * jemalloc's 8-byte class is only 8-aligned: a smaller block asks for at least align. */
HP_EXPORT void *memalign(size_t align, size_t n)
{
	if (align <= 16)
		return malloc(n < align ? align : n);
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (align & (align - 1))
		align = (size_t)1 << (64 - __builtin_clzl(align));
	if (n > SIZE_MAX - align)
		return enomem();
	return hp_alloc_aligned(align, n);
}

HP_EXPORT void *aligned_alloc(size_t align, size_t n)
{
	return memalign(align, n);
}

HP_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	int saved = errno;
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	p = memalign(align, n);
	errno = saved;
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

static size_t page_size(void)
{
	static size_t ps;

	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

HP_EXPORT void *valloc(size_t n)
{
	return memalign(page_size(), n);
}

HP_EXPORT void *pvalloc(size_t n)
{
	size_t ps = page_size();

	if (n > SIZE_MAX - ps)
		return enomem();
	return memalign(ps, n ? (n + ps - 1) & ~(ps - 1) : ps);
}

HP_EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	return HP_UNLIKELY(hp_maybe_sampled(p)) && hp_is_sampled(p) ? hp_prof_usable(p)
								    : hp_usable_size(p);
}

HP_EXPORT void cfree(void *p)
{
	free(p);
}

HP_EXPORT void *__libc_malloc(size_t n) __attribute__((alias("malloc"), copy(malloc)));
HP_EXPORT void __libc_free(void *p) __attribute__((alias("free"), copy(free)));
HP_EXPORT void *__libc_calloc(size_t a, size_t b) __attribute__((alias("calloc"), copy(calloc)));
HP_EXPORT void *__libc_realloc(void *p, size_t n) __attribute__((alias("realloc"), copy(realloc)));
HP_EXPORT void *__libc_memalign(size_t a, size_t n) __attribute__((alias("memalign"), copy(memalign)));
HP_EXPORT void *__libc_valloc(size_t n) __attribute__((alias("valloc"), copy(valloc)));
HP_EXPORT void *__libc_pvalloc(size_t n) __attribute__((alias("pvalloc"), copy(pvalloc)));
