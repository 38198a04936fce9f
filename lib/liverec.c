/* lib/liverec: see liverec.h.
 *
 * The check is 16 bits of a multiplicative hash of the record's other bits, the block's
 * address and a per-process key (the library's load address, so it moves with ASLR): a
 * record copied to another block, or bytes the program wrote there, pass it once in
 * 65,536. It guards against accidents, not against an attacker, who can corrupt any
 * allocator's metadata. */
#include <string.h>

#include "liverec.h"
#include "log.h"

#define STACK_BITS 43			/* stack >> 4: user addresses below 2^47 */
#define WCODE_BITS 24
#define WMANT_BITS 18

static const char anchor;		/* its address is the per-process key */

static inline uint64_t check16(uintptr_t p, uint64_t w0, uint64_t w1)
{
	uint64_t h = (p ^ (uintptr_t)&anchor) * 0x9e3779b97f4a7c15ull;

	h ^= (w0 >> 16) * 0xc2b2ae3d27d4eb4full;
	h ^= w1 * 0x165667b19e3779f9ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h >> 48;
}

/* The weight's code: w >= 1, so its float exponent is 0..63 above the bias and the sign
 * bit is 0; 18 bits of mantissa, truncated. Weights of 2^64 and more are 2^64 - ulp. */
static uint32_t wcode(double w)
{
	uint64_t bits;
	int e;

	if (!(w >= 1.0))
		return 0;
	memcpy(&bits, &w, sizeof(bits));
	e = (int)((bits >> 52) & 0x7ff) - 1023;
	if (e > 63)
		return (1u << WCODE_BITS) - 1;
	return ((uint32_t)e << WMANT_BITS) | (uint32_t)((bits >> (52 - WMANT_BITS)) &
							((1u << WMANT_BITS) - 1));
}

static double wdecode(uint32_t c)
{
	uint64_t bits = ((uint64_t)((c >> WMANT_BITS) + 1023) << 52) |
			((uint64_t)(c & ((1u << WMANT_BITS) - 1)) << (52 - WMANT_BITS));
	double w;

	memcpy(&w, &bits, sizeof(w));
	return w;
}

double hp_liverec_weight(double w)
{
	return wdecode(wcode(w));
}

int hp_liverec_put(const void *p, uint64_t *h, const hp_liverec *r)
{
	uint64_t w0, w1;
	uintptr_t s = (uintptr_t)r->stack;
	int ok = !(s & 15) && (s >> 4) < ((uint64_t)1 << STACK_BITS) &&
		 r->size <= HP_LIVEREC_SIZE_MAX;

	if (!ok)
		s = 0;
	w0 = ((uint64_t)(s >> 4) << 21) | ((uint64_t)((r->lg_off - 4) & 31) << 16);
	w1 = ((uint64_t)(r->size & HP_LIVEREC_SIZE_MAX) << WCODE_BITS) |
	     (s ? wcode(r->weight) : 0);
	h[0] = w0 | check16((uintptr_t)p, w0, w1);
	h[1] = w1;
	return ok;
}

int hp_liverec_get(const void *p, const uint64_t *h, hp_liverec *r)
{
	uint64_t w0, w1;

	if (!h)
		return 0;
	w0 = h[0];
	w1 = h[1];
	if ((w0 & 0xffff) != check16((uintptr_t)p, w0 & ~(uint64_t)0xffff, w1))
		return 0;
	r->stack = (struct hp_stack *)(uintptr_t)((w0 >> 21) << 4);
	r->lg_off = (unsigned)((w0 >> 16) & 31) + 4;
	r->size = (size_t)(w1 >> WCODE_BITS);
	r->weight = r->stack ? wdecode((uint32_t)(w1 & ((1u << WCODE_BITS) - 1))) : 0.0;
	return 1;
}

int hp_liverec_take(const void *p, uint64_t *h, hp_liverec *r)
{
	if (!hp_liverec_get(p, h, r))
		return 0;
	h[0] ^= 0xffff;	/* a second free of p fails the check */
	return 1;
}

void hp_liverec_refused(const void *p, const char *what)
{
	static int once;

	hp_log_once(&once, "%s of %p: not a block heapprof handed out, or already freed (the "
		    "record in front of it is not sound); the block is left alone", what, p);
}
