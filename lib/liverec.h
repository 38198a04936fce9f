/* lib/liverec: the record of a live sampled block, kept in the 16 bytes in front of it.
 *
 * Every block the profiler hands out from the sampled arena starts `off` bytes into the
 * block jemalloc gave (off = 16, or the alignment asked for when that is larger), and the
 * 16 bytes just before it hold its record: its stack (NULL when the block is not
 * recorded, as after a realloc in place that was not drawn as a sample), the size asked
 * for, the weight of the sample, log2(off) and a 16-bit check of all of them and of the
 * block's address. free and realloc of a sampled block read the record next to the
 * block, which the program has usually just touched: no shared table, no lock, no cache
 * miss on a table of every live sample (doc/DESIGN.md, "The record of a sampled block").
 * (The blocks of lib/huge's slots start at their slot, page-aligned: their records are in
 * lib/huge's slot table. So the functions below take the record's place h as well as the
 * block's address p, which the check covers.)
 *
 *   word 0: stack >> 4 (43 bits) | log2(off) - 4 (5 bits) | check (16 bits)
 *   word 1: size (40 bits) | weight code (24 bits)
 *
 * A record that fails its check (the program wrote in front of its block, freed it twice
 * or freed a pointer it was never given) is refused: the caller leaves the block alone.
 * A freed block's record is spoiled (its check bits flipped) so that a second free of it
 * is refused too. */
#ifndef HP_LIVEREC_H
#define HP_LIVEREC_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#pragma GCC visibility push(hidden)

struct hp_stack;

#define HP_LIVEREC_BYTES 16
#define HP_LIVEREC_SIZE_MAX (((size_t)1 << 40) - 1)	/* larger blocks are not recorded */
#define HP_LIVEREC_LG_MAX 35			/* off up to 32 GiB */

typedef struct hp_liverec {
	struct hp_stack *stack;		/* NULL: in the sampled arena, not recorded */
	size_t size;			/* bytes asked for */
	double weight;			/* allocations this sample stands for */
	unsigned lg_off;		/* the block starts 1 << lg_off bytes into jemalloc's */
} hp_liverec;

/* The weight as a record keeps it (6 bits of exponent, 18 of mantissa: 4e-6 relative):
 * the sample path counts this value, so that a free takes off exactly what was added. */
double hp_liverec_weight(double w);

/* log2 of the offset for an alignment request (0: the default), or 0 when it cannot be
 * recorded. */
static inline unsigned hp_liverec_lg_off(size_t align)
{
	unsigned lg;

	if (align <= HP_LIVEREC_BYTES)
		return 4;
	lg = 63 - (unsigned)__builtin_clzl(align);
	if (align & (align - 1))
		lg++;
	return lg <= HP_LIVEREC_LG_MAX ? lg : 0;
}

/* Where p's record is when p is not in a slot of lib/huge: the 16 bytes in front of it. */
static inline uint64_t *hp_liverec_front(const void *p)
{
	return (uint64_t *)(uintptr_t)p - 2;
}

/* The code below is inline: a sampled block's allocation and its free each run it once. */
extern const char hp_liverec_anchor;	/* its address is the per-process key */

#define HP_LIVEREC_STACK_BITS 43	/* stack >> 4: user addresses below 2^47 */
#define HP_LIVEREC_WCODE_BITS 24
#define HP_LIVEREC_WMANT_BITS 18

static inline uint64_t hp_liverec_check16(uintptr_t p, uint64_t w0, uint64_t w1)
{
	uint64_t h = (p ^ (uintptr_t)&hp_liverec_anchor) * 0x9e3779b97f4a7c15ull;

	h ^= (w0 >> 16) * 0xc2b2ae3d27d4eb4full;
	h ^= w1 * 0x165667b19e3779f9ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h >> 48;
}

/* The weight's code: w >= 1, so its float exponent is 0..63 above the bias and the sign
 * bit is 0; 18 bits of mantissa, truncated. Weights of 2^64 and more are 2^64 - ulp. */
static inline uint32_t hp_liverec_wcode(double w)
{
	uint64_t bits;
	int e;

	if (!(w >= 1.0))
		return 0;
	memcpy(&bits, &w, sizeof(bits));
	e = (int)((bits >> 52) & 0x7ff) - 1023;
	if (e > 63)
		return (1u << HP_LIVEREC_WCODE_BITS) - 1;
	return ((uint32_t)e << HP_LIVEREC_WMANT_BITS) |
	       (uint32_t)((bits >> (52 - HP_LIVEREC_WMANT_BITS)) &
			  ((1u << HP_LIVEREC_WMANT_BITS) - 1));
}

static inline double hp_liverec_wdecode(uint32_t c)
{
	uint64_t bits = ((uint64_t)((c >> HP_LIVEREC_WMANT_BITS) + 1023) << 52) |
			((uint64_t)(c & ((1u << HP_LIVEREC_WMANT_BITS) - 1))
			 << (52 - HP_LIVEREC_WMANT_BITS));
	double w;

	memcpy(&w, &bits, sizeof(w));
	return w;
}

/* Writes p's record at h. 0 when it cannot be written as given (a stack address the
 * record cannot hold, a size over HP_LIVEREC_SIZE_MAX): it is written with stack NULL. */
static inline int hp_liverec_put(const void *p, uint64_t *h, const hp_liverec *r)
{
	uint64_t w0, w1;
	uintptr_t s = (uintptr_t)r->stack;
	int ok = !(s & 15) && (s >> 4) < ((uint64_t)1 << HP_LIVEREC_STACK_BITS) &&
		 r->size <= HP_LIVEREC_SIZE_MAX;

	if (!ok)
		s = 0;
	w0 = ((uint64_t)(s >> 4) << 21) | ((uint64_t)((r->lg_off - 4) & 31) << 16);
	w1 = ((uint64_t)(r->size & HP_LIVEREC_SIZE_MAX) << HP_LIVEREC_WCODE_BITS) |
	     (s ? hp_liverec_wcode(r->weight) : 0);
	h[0] = w0 | hp_liverec_check16((uintptr_t)p, w0, w1);
	h[1] = w1;
	return ok;
}

/* Reads p's record at h (NULL: there is none); 0 if it fails its check. */
static inline int hp_liverec_get(const void *p, const uint64_t *h, hp_liverec *r)
{
	uint64_t w0, w1;

	if (!h)
		return 0;
	w0 = h[0];
	w1 = h[1];
	if ((w0 & 0xffff) != hp_liverec_check16((uintptr_t)p, w0 & ~(uint64_t)0xffff, w1))
		return 0;
	r->stack = (struct hp_stack *)(uintptr_t)((w0 >> 21) << 4);
	r->lg_off = (unsigned)((w0 >> 16) & 31) + 4;
	r->size = (size_t)(w1 >> HP_LIVEREC_WCODE_BITS);
	r->weight = r->stack ?
		hp_liverec_wdecode((uint32_t)(w1 & ((1u << HP_LIVEREC_WCODE_BITS) - 1))) : 0.0;
	return 1;
}

/* Reads and spoils p's record at h (a free); 0, and nothing spoiled, if it fails its
 * check. */
static inline int hp_liverec_take(const void *p, uint64_t *h, hp_liverec *r)
{
	if (!hp_liverec_get(p, h, r))
		return 0;
	h[0] ^= 0xffff;	/* a second free of p fails the check */
	return 1;
}

/* Says once on stderr that a free or realloc met a block whose record is not sound. */
void hp_liverec_refused(const void *p, const char *what);

#pragma GCC visibility pop

#endif
