/* lib/sampler: which allocations are sampled, and what each sample stands for.
 *
 * The allocation stream of each thread is cut by a point process of mean spacing `rate`
 * bytes; an allocation that contains a point is sampled. Spacings are exponential draws
 * (-rate * ln U), so the process is memoryless and an allocation of s bytes is sampled with
 * probability 1 - e^(-s/rate); a sample therefore stands for 1 / (1 - e^(-s/rate))
 * allocations (hp_sampler_weight), added when it is recorded.
 * U comes from a golden-ratio sequence with a random start per thread rather than from a
 * pseudo-random generator: each U is still uniform, so each spacing is still exponential
 * with mean `rate`, but the spacings cover [0,1) evenly, which cuts the variance of the
 * estimates several-fold (doc/DESIGN.md has the figures).
 *
 * The fast path lives in lib/alloc.c: subtract the size from bytes_left, call jemalloc
 * unless it reached zero. */
#ifndef HP_SAMPLER_H
#define HP_SAMPLER_H
#include <stddef.h>
#include <stdint.h>

typedef struct hp_tls {
	int64_t bytes_left;	/* bytes until this thread's next sample; <= 0: slow path */
	uint32_t guard;		/* > 0 inside the profiler: this thread's allocations are not sampled */
	uint32_t seeded;	/* phase has been drawn */
	double phase;		/* position in the golden-ratio sequence, [0, 1) */
	void *deferred;		/* sampled blocks freed while guard > 0, linked through their
				 * first word: a signal handler interrupted the profiler */
} hp_tls_t;

extern __thread hp_tls_t hp_tls __attribute__((tls_model("initial-exec")));

/* While sampling is off or the profiler is not ready, threads come back to the slow path
 * after this many bytes to notice a change. */
#define HP_OFF_RECHECK ((int64_t)1 << 30)

/* Next spacing in bytes for this thread (>= 1). rate >= 2. */
int64_t hp_sampler_draw(hp_tls_t *t, size_t rate);

/* The number of allocations a sample of `size` bytes stands for at `rate`. */
double hp_sampler_weight(size_t size, size_t rate);

/* Slow-path decision. Called after the fast path subtracted `size` from t->bytes_left and
 * found it at or below zero (so also for the first allocation of a thread). Sets the next spacing and
 * returns 1 when this allocation is to be sampled. `rate` is the rate in force (0 off,
 * 1 every allocation); `on` is 0 while the profiler cannot record. */
int hp_sampler_tick(hp_tls_t *t, size_t size, size_t rate, int on);

/* Seeds t's phase from the thread, the time and a counter. */
void hp_sampler_seed(hp_tls_t *t);

#endif
