/* Unit test of lib/liverec: a record written in front of a block reads back as written
 * (stack, size, offset; the weight as hp_liverec_weight rounds it, within 4e-6 and
 * exactly on a second rounding); a record taken once is refused the second time; a record
 * moved to another address is refused, and so are the single-bit flips of its 128 bits
 * (a 16-bit hash misses a given flip once in 65,536: two misses of 128 are allowed, a check
 * that ignores a word misses 64); random words in front of a
 * block pass the check about once in 65,536; records that cannot be kept (a stack address
 * over 2^47 or not 16-aligned, a size over 40 bits) are written as unrecorded; and
 * hp_liverec_lg_off maps alignments to offsets. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"
#include "liverec.h"
#include "log.h"

/* The record in front of the block, as everywhere but in lib/huge's slots. */
#define PUT(p, r) hp_liverec_put(p, hp_liverec_front(p), r)
#define GET(p, r) hp_liverec_get(p, hp_liverec_front(p), r)
#define TAKE(p, r) hp_liverec_take(p, hp_liverec_front(p), r)

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A block with room for its record in front: buf + 16. */
static _Alignas(16) unsigned char arena[1 << 16];

static void *block(size_t i)
{
	return arena + 16 + (i % 1000) * 48;
}

static void test_roundtrip(void)
{
	int bad = 0, wbad = 0, wexact = 0;
	double worst = 0;

	for (size_t i = 0; i < 200000; i++) {
		void *p = block(i);
		double w = 1.0 + ldexp((double)(next() % 1000000), (int)(next() % 40)) / 1000.0;
		hp_liverec in = { (struct hp_stack *)(uintptr_t)((next() & ((1ull << 47) - 1)) & ~15ull),
				  (size_t)(next() & ((1ull << 40) - 1)), hp_liverec_weight(w),
				  4 + (unsigned)(next() % 32) }, out;

		if (!PUT(p, &in) || !GET(p, &out) || out.stack != in.stack ||
		    out.size != in.size || out.lg_off != in.lg_off)
			bad++;
		else if (out.stack && out.weight != in.weight)
			wexact++;
		if (fabs(in.weight - w) / w > worst)
			worst = fabs(in.weight - w) / w;
		if (hp_liverec_weight(in.weight) != in.weight)
			wbad++;
	}
	ok(bad == 0, "200,000 random records read back as written (%d did not)", bad);
	ok(wexact == 0, "the weight read back is the rounded weight written (%d differ)", wexact);
	ok(worst < 4e-6, "the rounded weight is within 4e-6 of the weight (worst %.2g)", worst);
	ok(wbad == 0, "rounding a rounded weight changes nothing (%d changed)", wbad);
	ok(hp_liverec_weight(1.0) == 1.0 && hp_liverec_weight(0.5) == 1.0,
	   "weight 1 is kept exactly (rate=1), and a weight under 1 is read as 1");
	ok(hp_liverec_weight(ldexp(1, 70)) < ldexp(1, 64) && hp_liverec_weight(ldexp(1, 70)) > ldexp(1, 63),
	   "a weight of 2^64 or more is kept as the largest code, just under 2^64");
}

static void test_unrecorded(void)
{
	hp_liverec in = { NULL, 100, 0, 4 }, out;
	void *p = block(1);

	ok(PUT(p, &in) && GET(p, &out) && out.stack == NULL &&
	   out.size == 100 && out.weight == 0 && out.lg_off == 4,
	   "an unrecorded block (stack NULL) keeps its size and offset");
	in.stack = (struct hp_stack *)(uintptr_t)0x1000008;
	ok(!PUT(p, &in) && GET(p, &out) && out.stack == NULL && out.size == 100,
	   "a stack address not 16-aligned cannot be kept: written as unrecorded, put says 0");
	in.stack = (struct hp_stack *)(uintptr_t)(1ull << 47);
	ok(!PUT(p, &in) && GET(p, &out) && out.stack == NULL,
	   "a stack address at 2^47 cannot be kept either");
	in.stack = (struct hp_stack *)(uintptr_t)0x7f0000001230;
	in.size = HP_LIVEREC_SIZE_MAX;
	in.weight = 1;
	ok(PUT(p, &in) && GET(p, &out) && out.size == HP_LIVEREC_SIZE_MAX &&
	   out.stack == in.stack, "a size of 2^40 - 1 is kept");
}

static void test_refused(void)
{
	hp_liverec in = { (struct hp_stack *)(uintptr_t)0x55550000a0, 4096, 2.5, 4 }, out;
	unsigned char *p = block(7), *q = block(8);
	int missed = 0;
	uint64_t save[2];

	hp_log_enable(0);
	PUT(p, &in);
	ok(TAKE(p, &out) && out.size == 4096, "take reads a sound record");
	ok(!TAKE(p, &out) && !GET(p, &out),
	   "a second take (a double free) is refused");
	PUT(p, &in);
	memcpy(q - 16, p - 16, 16);
	ok(!GET(q, &out), "a record copied in front of another block is refused");
	memcpy(save, p - 16, 16);
	for (int bit = 0; bit < 128; bit++) {
		((uint64_t *)(void *)(p - 16))[bit / 64] ^= 1ull << (bit % 64);
		if (GET(p, &out))
			missed++;
		memcpy(p - 16, save, 16);
	}
	ok(missed <= 2, "the 128 single-bit flips are refused (%d passed)", missed);
	ok(GET(p, &out) && out.stack == in.stack, "and the record, restored, reads again");

	int passed = 0;
	for (int i = 0; i < 1 << 20; i++) {
		uint64_t w[2] = { next(), next() };

		memcpy(p - 16, w, 16);
		passed += GET(p, &out);
	}
	/* expected 16 of 2^20; a binomial tail: more than 48 is p < 1e-9 */
	ok(passed <= 48, "random words pass the check about once in 65,536 (%d of 1,048,576)", passed);
	hp_log_enable(1);
}

static void test_lg_off(void)
{
	ok(hp_liverec_lg_off(0) == 4 && hp_liverec_lg_off(8) == 4 && hp_liverec_lg_off(16) == 4,
	   "alignments up to 16 take the 16-byte record's offset");
	ok(hp_liverec_lg_off(32) == 5 && hp_liverec_lg_off(4096) == 12 && hp_liverec_lg_off(48) == 6,
	   "larger alignments are the offset (rounded up to a power of two)");
	ok(hp_liverec_lg_off((size_t)1 << 35) == 35 && hp_liverec_lg_off((size_t)1 << 36) == 0,
	   "an alignment over 32 GiB cannot be recorded (0)");
}

int main(void)
{
	test_roundtrip();
	test_unrecorded();
	test_refused();
	test_lg_off();
	return tap_done();
}

