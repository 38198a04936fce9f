/* Unit test of lib/sampler: the spacing between samples has the rate as its mean and an
 * exponential distribution, and the weighted estimates are unbiased, for one size and for
 * mixed sizes at one stack. The allocation stream goes through the same counter logic as
 * the fast path in lib/alloc.c. */
#include <math.h>
#include <string.h>

#include "tests/tap.h"
#include "sampler.h"

/* The fast path of lib/alloc.c, without the allocation. */
static int step(hp_tls_t *t, size_t n, size_t rate)
{
	t->bytes_left -= (int64_t)n;
	return t->bytes_left <= 0 && hp_sampler_tick(t, n, rate, 1);
}

static void test_spacing(void)
{
	const size_t rate = 512 * 1024;
	const int n = 1000000;
	hp_tls_t t;
	double sum = 0, sumsq = 0, below = 0;

	memset(&t, 0, sizeof(t));
	hp_sampler_seed(&t);
	for (int i = 0; i < n; i++) {
		double d = (double)hp_sampler_draw(&t, rate);

		sum += d;
		sumsq += d * d;
		below += d < (double)rate;
	}
	double mean = sum / n, sd = sqrt(sumsq / n - mean * mean);

	ok(fabs(mean / rate - 1) < 0.01, "mean spacing %.0f within 1%% of the rate %zu (%+.3f%%)",
	   mean, rate, 100 * (mean / rate - 1));
	ok(fabs(sd / mean - 1) < 0.02, "spacing sd/mean %.4f ~ 1 (exponential)", sd / mean);
	ok(fabs(below / n - (1 - exp(-1))) < 0.005, "P(spacing < rate) %.4f ~ 1 - 1/e",
	   below / n);
}

static void test_weight(void)
{
	const size_t r = 512 * 1024;

	ok(hp_sampler_weight(100, 1) == 1.0, "weight at rate 1 is 1");
	ok(fabs(hp_sampler_weight(64 << 20, r) - 1) < 1e-9, "a block far above the rate weighs 1");
	ok(fabs(hp_sampler_weight(16, r) / (r / 16.0 + 0.5) - 1) < 1e-6,
	   "a tiny block weighs rate/size + 1/2");
	ok(fabs(hp_sampler_weight(r, r) - 1 / (1 - exp(-1))) < 1e-12, "a block of the rate weighs 1/(1-1/e)");
	/* small blocks take a series instead of expm1: the same value to 1e-11 on both sides of
	 * where it switches (x = 1/16), at several rates */
	{
		static const size_t rates[] = { 4096, 65537, 512 * 1024, (size_t)1 << 30 };
		double worst = 0;

		for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
			for (size_t size = 1; size <= rates[i] / 8; size += 1 + size / 64) {
				double x = (double)size / (double)rates[i];
				double want = 1.0 / -expm1(-x), got = hp_sampler_weight(size, rates[i]);
				double e = fabs(got / want - 1);

				worst = e > worst ? e : worst;
			}
		ok(worst < 1e-11, "weights of blocks up to rate/8 agree with 1/(1-e^-x) to 1e-11 "
		   "(worst %.2g)", worst);
	}
}

/* A stream of n allocations of `size` bytes: returns the estimated bytes / true bytes. */
static double estimate_one_size(size_t size, size_t rate, long n)
{
	hp_tls_t t;
	double est = 0;

	memset(&t, 0, sizeof(t));
	for (long i = 0; i < n; i++)
		if (step(&t, size, rate))
			est += hp_sampler_weight(size, rate) * (double)size;
	return est / ((double)size * (double)n);
}

static void test_one_size(void)
{
	const size_t rate = 512 * 1024;
	static const size_t sizes[] = { 16, 4096, 65536, 512 * 1024, 3 << 20 };

	/* 300 MiB of each size, as a program would allocate it (the acceptance test's shape). */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		double worst = 0, avg = 0;
		const int trials = 20;

		for (int k = 0; k < trials; k++) {
			double e = estimate_one_size(sizes[i], rate, (300L << 20) / (long)sizes[i]);

			avg += e / trials;
			if (fabs(e - 1) > worst)
				worst = fabs(e - 1);
		}
		ok(fabs(avg - 1) < 0.01 && worst < 0.05,
		   "300 MiB in %zu-byte blocks: mean estimate %+.2f%%, worst of %d runs %.2f%%",
		   sizes[i], 100 * (avg - 1), trials, 100 * worst);
	}
}

/* One stack allocating tiny, medium and large blocks in a random mix: per-size-class and
 * total estimates of bytes and objects must match the truth. */
static void test_mixed(void)
{
	/* From far below the rate (s/rate = 1/512) to far above it (32 times). */
	static const size_t sizes[] = { 8, 64, 1024, 4096, 16384, 131072 };
	enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
	const size_t rate = 4096;
	double true_b[NS] = { 0 }, true_n[NS] = { 0 }, est_b[NS] = { 0 }, est_n[NS] = { 0 };
	double tb = 0, eb = 0, tn = 0, en = 0;
	uint64_t x = 88172645463325252ull;
	hp_tls_t t;

	memset(&t, 0, sizeof(t));
	for (long i = 0; i < 20000000; i++) {
		int c;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* Tiny blocks are far more frequent than large ones, as in real programs. */
		c = (x % 1000) < 700 ? 0 : (x % 1000) < 950 ? 1 : (x % 1000) < 995 ? 2 :
		    (x % 1000) < 999 ? 3 : ((x >> 20) % 8) ? 4 : 5;
		true_b[c] += (double)sizes[c];
		true_n[c] += 1;
		if (step(&t, sizes[c], rate)) {
			double w = hp_sampler_weight(sizes[c], rate);

			est_b[c] += w * (double)sizes[c];
			est_n[c] += w;
		}
	}
	for (int c = 0; c < NS; c++) {
		tb += true_b[c], eb += est_b[c], tn += true_n[c], en += est_n[c];
		ok(fabs(est_b[c] / true_b[c] - 1) < 0.03,
		   "mixed sizes: %zu-byte class estimate %+.2f%% of %.0f bytes", sizes[c],
		   100 * (est_b[c] / true_b[c] - 1), true_b[c]);
	}
	ok(fabs(eb / tb - 1) < 0.01, "mixed sizes: total bytes estimate %+.3f%%", 100 * (eb / tb - 1));
	{
		/* The object estimate stands on few samples of the tiny blocks (8 bytes at rate
		 * 4096: one in 512): its standard deviation, sum of n (1 - p) / p over the
		 * classes, is about 0.43% here, so a bound of 1% failed one run in fifty. */
		double var = 0, sd;

		for (int c = 0; c < NS; c++) {
			double p = 1 - exp(-(double)sizes[c] / (double)rate);

			var += true_n[c] * (1 - p) / p;
		}
		sd = sqrt(var) / tn;
		ok(fabs(en / tn - 1) < 4.5 * sd, "mixed sizes: total objects estimate %+.3f%% "
		   "(within 4.5 standard deviations, %.2f%%)", 100 * (en / tn - 1), 450 * sd);
	}
}

static void test_modes(void)
{
	hp_tls_t t;
	int sampled = 0, first = 0;

	memset(&t, 0, sizeof(t));
	for (int i = 0; i < 1000; i++)
		sampled += step(&t, (size_t)i % 3, 1);	/* sizes 0, 1, 2 */
	ok(sampled == 1000, "rate 1 samples every allocation, size 0 too (%d/1000)", sampled);

	memset(&t, 0, sizeof(t));
	sampled = 0;
	for (int i = 0; i < 100000; i++)
		sampled += step(&t, 1 << 20, 0);
	ok(sampled == 0, "rate 0 samples nothing");

	/* A thread's first allocation is sampled with the probability of any other. */
	for (int i = 0; i < 20000; i++) {
		memset(&t, 0, sizeof(t));
		first += step(&t, 4096, 512 * 1024);
	}
	ok(first > 60 && first < 260, "first allocations of 20000 threads sampled %d times "
	   "(expected ~156)", first);
}

int main(void)
{
	test_spacing();
	test_weight();
	test_one_size();
	test_mixed();
	test_modes();
	return tap_done();
}
