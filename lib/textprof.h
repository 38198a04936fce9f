/* lib/textprof: the legacy gperftools heap profile text format (heap_v2), written by the
 * library (HEAPPROF=format=text|both), and the arithmetic it shares with the command line
 * tool's writer (tools/legacy.c, heapprof convert --to text):
 *
 *   heap profile:   N:   B [   N:   B] @ heap_v2/RATE
 *        n:   b [   n:   b] @ 0xADDR 0xADDR ...
 *   ...
 *
 *   MAPPED_LIBRARIES:
 *   START-LIMIT r-xp OFFSET 00:00 0 /path/of/object
 *
 * Each line holds objects: bytes in use, then [objects: bytes] allocated, then the stack
 * as return addresses, innermost first. The figures are the sampled (raw) counts, which
 * google-pprof, jeprof and go tool pprof unbias with scale = 1 / (1 - exp(-(b/n) / RATE));
 * at rate 1 the header is "@ heapprofile" (gperftools' unsampled profiler), which no reader
 * scales. The MAPPED_LIBRARIES lines are /proc/self/maps lines: the perl readers take a
 * line for the main program when its path is the binary named on their command line
 * (resolved), and a shared object's by its ".so" name, and symbolize an address in it at
 * address - START + OFFSET (+ the .text section's vaddr - file offset) in that file.
 *
 * The arithmetic is static inline here so that the tool, which does not link the library's
 * modules, shares it without a link dependency. */
#ifndef HP_TEXTPROF_H
#define HP_TEXTPROF_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "pprof.h"

/* The largest figure written: readers keep figures in int64 after scaling them. */
#define HP_TEXT_MAX ((int64_t)9000000000000000000)

/* What every reader multiplies an "objects: bytes" pair by: the inverse of the chance that
 * a Poisson sampler of mean spacing rate bytes picks an object of avg bytes. Written
 * exactly as go's scaleHeapSample so that both give the same integers. */
static inline double hp_text_scale(double avg, int64_t rate)
{
	return 1 / (1 - exp(-avg / (double)rate));
}

/* The average size, as a fraction x of the rate, at which objects unbias to k times their
 * rate in bytes: x / (1 - exp(-x)) = k, for k > 1. The left side grows from 1 at x = 0
 * and exceeds k at x = k + 1: bisection. */
static inline double hp_text_solve_avg(double k)
{
	double lo = 0, hi = k + 1;

	for (int i = 0; i < 200 && lo < hi; i++) {
		double mid = lo + (hi - lo) / 2;
		if (mid <= lo || mid >= hi)
			break;
		if (mid / -expm1(-mid) < k)
			lo = mid;
		else
			hi = mid;
	}
	return lo + (hi - lo) / 2;
}

/* The raw figures (out[0] objects, out[1] bytes) that readers unbias back to about
 * (objs, bytes) at rate. The object count is divided by the scale of the average size and
 * rounded to n (at least 1), which readers cannot avoid: n / (objs / scale) off, at most
 * 0.5 / (objs / scale). The bytes are then one of two choices:
 *   - the bytes that n objects must hold to unbias to exactly `bytes` (solving
 *     x / (1 - exp(-x)) = bytes / (n * rate) for the average x * rate): exact bytes, with the
 *     objects off by the change of average. Taken when that leaves the objects within
 *     the rounding bound above, and the objects' error and the bytes' rounding together
 *     are no more than the other choice's two errors: so for objects near or above the
 *     rate, where the scale hardly depends on the average. Not for small
 *     ones, whose unbiased bytes are about n * rate whatever their size, so that the
 *     average that makes them exact can be far from the true one (and the objects with it);
 *   - otherwise n times the average size: readers see the same average, so both figures
 *     come back off by the rounding of n alone (and of these bytes, 0.5 / bytes).
 * Objects without bytes cannot be written (the perl readers divide by the average size),
 * bytes without objects get one (go refuses them); a pair too small to show a raw byte
 * is written as nothing. At rate 1 (or less) the figures are written as they are.
 * objs and bytes must be in [0, HP_TEXT_MAX] (llround's range). */
static inline void hp_text_raw_pair(int64_t objs, int64_t bytes, int64_t rate, int64_t out[2])
{
	if (rate <= 1) {
		out[0] = objs == 0 && bytes > 0 ? 1 : objs;
		out[1] = bytes;
		return;
	}
	if (objs <= 0 || bytes <= 0) {
		out[0] = out[1] = 0;
		return;
	}
	double avg = (double)bytes / (double)objs;
	double s = hp_text_scale(avg, rate);
	double exact = (double)objs / s;
	if (llround((double)bytes / s) == 0) {
		out[0] = out[1] = 0;
		return;
	}
	out[0] = llround(exact);
	if (out[0] == 0)
		out[0] = 1;
	double n = (double)out[0];
	/* Same average: both figures off by n / exact. */
	out[1] = llround(n * avg);
	if (out[1] <= 0)
		out[1] = 1;
	double off = fabs(n / exact - 1);	/* both figures, with the same average */
	/* Exact bytes: the objects come back off by the change of average, which is nothing
	 * for objects well above the rate and a lot for small ones. Taken when that keeps the
	 * objects within the rounding bound, and the two errors together are no more than the
	 * same average's. (With the bound alone, a stack of 9 sampled 48-byte objects at 64k,
	 * 8.9997 divided back, came back 0.46% off in objects for exact bytes, where the same
	 * average is 0.004% off in both.) */
	double k = (double)bytes / (n * (double)rate);
	if (k > 1) {
		int64_t b = llround(hp_text_solve_avg(k) * n * (double)rate);
		double err = b > 0 ? fabs(n * hp_text_scale((double)b / n, rate) / (double)objs - 1)
				   : 1;
		if (b > 0 && b <= bytes && err <= fmax(off, 0.5 / exact) &&
		    err + 0.5 / (double)b <= 2 * off)
			out[1] = b;
	}
}

/* Whether a reader can unbias the raw pair (n, b) at rate within int64 (the reader refuses
 * it otherwise), with a margin for rounding. */
static inline int hp_text_unbiases(int64_t n, int64_t b, int64_t rate)
{
	if (rate <= 1 || n <= 0 || b <= 0)
		return 1;
	double s = hp_text_scale((double)b / (double)n, rate);
	return (double)n * s < (double)HP_TEXT_MAX && (double)b * s < (double)HP_TEXT_MAX;
}

/* Encodes prof (the same description lib/pprof encodes: values unbiased, pcs return
 * addresses innermost first, period the rate) in the text format into a buffer from
 * hp_ialloc_k(HP_MEM_DUMP, ...), which the caller frees with hp_ifree_k(HP_MEM_DUMP, ...).
 * Not NUL-terminated. "@ heap_v2/PERIOD", or "@ heapprofile" for a period of 1 or less.
 * Samples whose raw figures are all zero get no line; mappings without a path, with
 * limit <= start or with a line break in the path are left out of MAPPED_LIBRARIES (no
 * reader could use them), as tools/legacy.c does. default_sample_type, comments and the
 * symbolizer are not used: the format has no place for them.
 * Returns 0; -EINVAL for a NULL argument, a sample with depth but no pcs, samples or
 * mappings NULL with a count, or a negative value; -ERANGE for a value above HP_TEXT_MAX
 * or figures a reader could not unbias within int64; -ENOMEM. Nothing is allocated on
 * error. */
int hp_textprof_encode(const hp_pprof_profile *prof, uint8_t **out, size_t *outlen);

#endif
