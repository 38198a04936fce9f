/* lib/sampler: see sampler.h. Cost budget: only hp_sampler_tick runs per sample or per
 * first allocation of a thread; the per-allocation work is in alloc.c. */
#include <math.h>
#include <stdatomic.h>
#include <time.h>

#include "sampler.h"

__thread hp_tls_t hp_tls __attribute__((tls_model("initial-exec")));

/* (sqrt(5) - 1) / 2: the additive step with the most even coverage of [0, 1). */
#define HP_GOLDEN 0.6180339887498948482

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void hp_sampler_seed(hp_tls_t *t)
{
	static _Atomic uint64_t counter;
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	x = (uint64_t)(uintptr_t)t ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
	x = splitmix64(x ^ atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed) *
		       0xd1342543de82ef95ull);
	t->phase = (double)(x >> 11) * 0x1.0p-53;
	t->seeded = 1;
}

int64_t hp_sampler_draw(hp_tls_t *t, size_t rate)
{
	double u, d;

	t->phase += HP_GOLDEN;
	if (t->phase >= 1.0)
		t->phase -= 1.0;
	u = 1.0 - t->phase;	/* (0, 1]: log is finite */
	d = -log(u) * (double)rate;
	if (d < 1.0)
		return 1;
	if (d > (double)(INT64_MAX / 4))
		return INT64_MAX / 4;
	return (int64_t)d;
}

/* 1 / (1 - e^-x), x = size / rate. For x under 1/16 (a block under 32 KiB at the default
 * rate: most samples) its series, 1/x + 1/2 + x/12 - x^3/720, whose next term,
 * x^5/30240, is under 3e-12 of the sum there: a record keeps the weight to 4e-6
 * (hp_liverec_weight). It saves the call to expm1, 40 instructions of a sample of about
 * 900 on small-object churn. */
double hp_sampler_weight(size_t size, size_t rate)
{
	double x;

	if (rate <= 1 || size == 0)
		return 1.0;
	x = (double)size / (double)rate;
	if (x < 0x1p-4)
		return (double)rate / (double)size + 0.5 + x * (1.0 / 12.0 - x * x * (1.0 / 720.0));
	return 1.0 / -expm1(-x);
}

int hp_sampler_tick(hp_tls_t *t, size_t size, size_t rate, int on)
{
	if (!on || rate == 0) {
		t->bytes_left = HP_OFF_RECHECK;
		return 0;
	}
	if (rate == 1) {
		t->bytes_left = 0;	/* every allocation, even of size 0, takes the slow path */
		return 1;
	}
	if (!t->seeded) {
		/* A thread's first spacing starts at its first allocation: without this, the
		 * first allocation of every thread would be sampled. */
		hp_sampler_seed(t);
		t->bytes_left = hp_sampler_draw(t, rate) - (int64_t)size;
		if (t->bytes_left > 0)
			return 0;
	}
	/* The process is memoryless: the spacing after this allocation is a fresh draw. */
	t->bytes_left = hp_sampler_draw(t, rate);
	return 1;
}
