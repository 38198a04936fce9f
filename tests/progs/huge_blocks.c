/* tests/progs/huge_blocks.c: large sampled blocks (>= 1 MiB) in the slots of lib/huge.
 *
 *   huge_blocks MODE [--strict]
 *
 * Runs under LD_PRELOAD=libheapprof.so (or linked with -lheapprof: huge_blocks_linked).
 * --strict: every allocation is sampled (HEAPPROF=rate=1), so every block of 1 MiB or
 * more must be in a slot, of the class the design gives it (lib/huge.c: the smallest class
 * whose slot is at least 4x the block: 64 MiB x1024, 256 MiB x256, 1 GiB x64, 4 GiB x32,
 * 16 GiB x8, in the upper half of the 1 TiB-aligned sampled range). Without it (default
 * rate) only blocks of 8 MiB or more must be in a slot (sampled with probability
 * 1 - e^-16), and a block already in a slot must stay there when resized within it.
 *
 * "In the slot area" is checked from the address (upper half of its 1 TiB-aligned block,
 * within the 448 GiB of slots, aligned to its class's slot size) and from /proc/self/maps
 * (the block's pages are an anonymous rw-p mapping that starts at the block, between two
 * ---p mappings of the reservation: the PROT_NONE rest of the slot and what lies before).
 *
 * Modes (each prints "ok - DESC" / "not ok - DESC" per check, "# ..." diagnostics, and
 * "done" at the end; exits 0 when every check passed, 1 otherwise):
 *   basic    malloc of 1 MiB, 8 MiB, 100 MiB, 3 GiB (a few pages touched): in the slot
 *            area, malloc_usable_size >= n and page-rounded, content kept.
 *   realloc  1 -> 2 -> 4 -> 8 -> 16 MiB in place, 16 -> 80 MiB moves, 80 -> 2 MiB in
 *            place (the tail's pages released), 2 MiB -> 100 bytes; content kept.
 *   zero     calloc after a free of a dirty block (a cached slot reused): all zero.
 *   align    memalign/posix_memalign(64 KiB, 3 MiB), aligned_alloc(1 MiB, 2 MiB),
 *            posix_memalign(128 MiB, 1 MiB): alignment honoured.
 *   many     1500 live blocks of 1 MiB (more than the 1384 slots): all distinct, content
 *            kept, freed; --strict: 1384 in slots, the rest in the sampled arena.
 *   threads  4 threads x 2000 rounds of malloc/calloc/realloc/free of 1..20 MiB with
 *            content checks.
 *   fork     a child verifies, reallocs and frees blocks inherited from the parent and
 *            allocates its own; 20 forks while another thread churns huge blocks.
 *   profile  known sites (site_leak: 3 x 5 MiB kept; site_grow: 2 MiB -> 6 MiB -> 7 MiB +
 *            123 in place, kept; site_shrink: 10 MiB -> 1.5 MiB + 7, kept; site_move:
 *            16 MiB -> 80 MiB, moved, kept; site_freed: 4 x 3 MiB freed; site_bulk:
 *            10 x 20 MiB kept), then returns from main (exit profile).
 *   rss      64 blocks of 16 MiB (1 GiB) touched and freed: resident memory drops at once
 *            to at most the 256 MiB cache, then to the start within seconds; prints
 *            "# rss ..." figures.
 *   loop     buffers of 2,000,000 and 2,500,000 bytes in turn, a byte of each page
 *            written, 300 times: under 10 page faults an iteration (a freed slot is kept
 *            for the next block, with or without the helper thread; releasing it at
 *            once costs 490-610 faults an iteration); --strict: each block in a slot.
 *            --strict, then, 1.2 s later, a block of 1 MiB (its pages not touched) and
 *            its free: the slot kept from the loop, freed more than a second ago, is
 *            released on the way (resident memory down by at least 1.5 MiB).
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
#define SITE __attribute__((noinline, noclone, used))
#else
#define SITE __attribute__((noinline, used))
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)
#define PAGE ((size_t)4096)
#define TIB_MASK (((uintptr_t)1 << 40) - 1)

static int strict;
static int failures;

/* ---- reporting ----------------------------------------------------------------------- */

static void __attribute__((format(printf, 2, 3))) check(int cond, const char *fmt, ...)
{
	va_list ap;

	fputs(cond ? "ok - " : "not ok - ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!cond)
		failures++;
}

static void __attribute__((format(printf, 1, 2))) diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* The compiler must not drop or fold an allocation: the pointer escapes. */
static void escape(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* The address of p as a number the compiler cannot trace back to p: comparing it with a
 * block realloc or free returned is no use of a freed pointer (-Wuse-after-free). */
static uintptr_t addr(const void *p)
{
	uintptr_t a;

	__asm__("" : "=r"(a) : "0"(p));
	return a;
}

static const char *human(size_t n, char *buf, size_t len)
{
	if (n >= GiB && n % GiB == 0)
		snprintf(buf, len, "%zu GiB", n / GiB);
	else if (n >= MiB && n % MiB == 0)
		snprintf(buf, len, "%zu MiB", n / MiB);
	else
		snprintf(buf, len, "%zu bytes", n);
	return buf;
}

static size_t pages(size_t n)
{
	return (n + PAGE - 1) & ~(PAGE - 1);
}

/* jemalloc's size class for a large request n (over 16 KiB): four classes a doubling, so
 * in (p/2, p] for a power of two p the classes are the multiples of p/8. */
static size_t je_class(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p <= 8 ? p : (n + p / 8 - 1) / (p / 8) * (p / 8);
}

/* ---- where a block is -------------------------------------------------------------- */

static const struct {
	unsigned lg, n;
} classes[5] = { { 26, 1024 }, { 28, 256 }, { 30, 64 }, { 32, 32 }, { 34, 8 } };
#define NSLOTS_ALL (1024 + 256 + 64 + 32 + 8)

/* The class whose slot p starts by its address, or -1. */
static int class_by_address(const void *p)
{
	uintptr_t off = (uintptr_t)p & TIB_MASK;

	if (off < ((uintptr_t)1 << 39))
		return -1;
	off -= (uintptr_t)1 << 39;
	for (int c = 0; c < 5; c++) {
		uintptr_t span = (uintptr_t)classes[c].n << classes[c].lg;

		if (off < span)
			return (off & (((uintptr_t)1 << classes[c].lg) - 1)) ? -1 : c;
		off -= span;
	}
	return -1;
}

/* The class the design gives a fresh block of n bytes (all slots free). */
static int expected_class(size_t n)
{
	for (int c = 0; c < 5; c++)
		if (((size_t)1 << classes[c].lg) / 4 >= pages(n))
			return c;
	for (int c = 0; c < 5; c++)
		if (((size_t)1 << classes[c].lg) >= pages(n))
			return c;
	return -1;
}

typedef struct vma {
	uintptr_t start, end;
	char perms[8];
	unsigned long inode;
	int anon;		/* no path */
} vma;

/* The mapping containing p and its neighbours in /proc/self/maps; 0 if found. Adjacent
 * anonymous rw-p mappings count as one (a fork child's inherited pages and pages it makes
 * writable later are separate mappings that the kernel does not merge). */
static int vma_of(const void *p, vma *prev, vma *cur, vma *next)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	vma last = { 0 }, v;
	int found = 0;
	uintptr_t a = (uintptr_t)p;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e, off, ino;
		char perms[8], dev[16];
		int pos = 0;

		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &s, &e, perms, &off, dev, &ino,
			   &pos) < 6)
			continue;
		memset(&v, 0, sizeof(v));
		v.start = s;
		v.end = e;
		snprintf(v.perms, sizeof(v.perms), "%s", perms);
		v.inode = ino;
		v.anon = pos == 0 || line[pos] == '\n' || line[pos] == '\0';
		if (found) {
			if (v.start == cur->end && v.anon && cur->anon && v.inode == 0 &&
			    strcmp(v.perms, "rw-p") == 0 && strcmp(cur->perms, "rw-p") == 0) {
				cur->end = v.end;
				continue;
			}
			*next = v;
			break;
		}
		if (s <= a && a < e) {
			*prev = last;
			*cur = v;
			memset(next, 0, sizeof(*next));
			found = 1;
		}
		last = v;
	}
	fclose(f);
	return found ? 0 : -1;
}

typedef struct where {
	int in_area;		/* address and maps agree: a slot's block */
	int cls;		/* by address, -1 if none */
	size_t vma_len;		/* the rw-p mapping starting at the block */
	char why[160];
} where;

static where where_is(const void *p)
{
	where w = { 0, -1, 0, "" };
	vma prev, cur, next;

	w.cls = class_by_address(p);
	if (w.cls < 0) {
		snprintf(w.why, sizeof(w.why), "%p is not at a slot's start (offset in its TiB "
			 "0x%" PRIxPTR ")", p, (uintptr_t)p & TIB_MASK);
		return w;
	}
	if (vma_of(p, &prev, &cur, &next) != 0) {
		snprintf(w.why, sizeof(w.why), "%p: no mapping in /proc/self/maps", p);
		return w;
	}
	if (cur.start == (uintptr_t)p)
		w.vma_len = cur.end - cur.start;
	if (cur.start != (uintptr_t)p || strcmp(cur.perms, "rw-p") != 0 || !cur.anon ||
	    cur.inode != 0 || prev.end != cur.start || strcmp(prev.perms, "---p") != 0 ||
	    next.start != cur.end || strcmp(next.perms, "---p") != 0) {
		snprintf(w.why, sizeof(w.why), "%p: mapping %" PRIxPTR "-%" PRIxPTR " %s, before "
			 "it %" PRIxPTR " %s, after it %" PRIxPTR " %s", p, cur.start, cur.end,
			 cur.perms, prev.end, prev.perms, next.start, next.perms);
		return w;
	}
	w.in_area = 1;
	snprintf(w.why, sizeof(w.why), "%p, class %d (%zu MiB slots), rw-p mapping of %zu KiB",
		 p, w.cls, ((size_t)1 << classes[w.cls].lg) / MiB, w.vma_len / KiB);
	return w;
}

/* The slot must hold it: always when strict, else when n >= 8 MiB (sampled surely). */
static int must_be_in_slot(size_t n)
{
	return strict || n >= 8 * MiB;
}

/* In the sampled range's lower half (jemalloc's sampled arena) of the same TiB as ref. */
static int in_sampled_arena(const void *p, const void *ref)
{
	uintptr_t a = (uintptr_t)p, r = (uintptr_t)ref;

	return (a >> 40) == (r >> 40) && (a & TIB_MASK) < ((uintptr_t)1 << 39);
}

/* ---- content ----------------------------------------------------------------------- */

static uint64_t pat(uint64_t seed, size_t off)
{
	uint64_t x = seed ^ ((uint64_t)off * 0x9e3779b97f4a7c15ull);

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return x;
}

/* The step between written words: a few dozen pages of any block at most. */
static size_t step_of(size_t n)
{
	size_t s = n / 64;

	s &= ~(size_t)7;
	return s < 64 * KiB ? 64 * KiB : s;
}

/* Writes words at 0, step, 2 step, ... (those that end 8 bytes or more before the end)
 * and the last 8 bytes (n >= 16). */
static void fill(void *p, size_t n, uint64_t seed, size_t step)
{
	char *c = p;

	for (size_t off = 0; off + 16 <= n; off += step) {
		uint64_t v = pat(seed, off);

		memcpy(c + off, &v, 8);
	}
	{
		uint64_t v = pat(seed, n - 8);

		memcpy(c + n - 8, &v, 8);
	}
}

/* Checks what fill(p, n, seed, step) wrote within the first `keep` bytes (keep <= n):
 * the first offset that differs, or (size_t)-1. */
static size_t verify(const void *p, size_t n, uint64_t seed, size_t step, size_t keep)
{
	const char *c = p;

	for (size_t off = 0; off + 16 <= n; off += step) {
		uint64_t v;

		if (off + 8 > keep)
			break;
		memcpy(&v, c + off, 8);
		if (v != pat(seed, off))
			return off;
	}
	if (n - 8 + 8 <= keep) {
		uint64_t v;

		memcpy(&v, c + n - 8, 8);
		if (v != pat(seed, n - 8))
			return n - 8;
	}
	return (size_t)-1;
}

static size_t first_nonzero(const void *p, size_t n);

/* The first page, the words fill would write and the last 8 bytes are zero. */
static int sparse_zero(const void *p, size_t n)
{
	const char *c = p;
	size_t step = step_of(n);

	if (first_nonzero(c, n < PAGE ? n : PAGE) != (size_t)-1 ||
	    first_nonzero(c + n - 8, 8) != (size_t)-1)
		return 0;
	for (size_t off = 0; off + 16 <= n; off += step)
		if (first_nonzero(c + off, 8) != (size_t)-1)
			return 0;
	return 1;
}

static size_t first_nonzero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return i;
	return (size_t)-1;
}

/* ---- basic ------------------------------------------------------------------------- */

static int mode_basic(void)
{
	static const size_t sizes[] = { 1 * MiB, 8 * MiB, 100 * MiB, 3 * GiB };
	void *ps[4] = { NULL };
	char h[32];

	for (int i = 0; i < 4; i++) {
		size_t n = sizes[i], u;
		void *p = malloc(n);
		where w;

		escape(p);
		human(n, h, sizeof(h));
		if (p)
			check(1, "malloc(%s) succeeds", h);
		else
			check(0, "malloc(%s) succeeds (%s)", h, strerror(errno));
		if (!p)
			continue;
		ps[i] = p;
		w = where_is(p);
		if (must_be_in_slot(n))
			check(w.in_area, "malloc(%s) is in the slot area: %s", h, w.why);
		else
			diag("malloc(%s): %s", h, w.in_area ? w.why : "not in a slot (not sampled)");
		if (strict)
			check(w.cls == expected_class(n), "malloc(%s) takes a slot of class %d "
			      "(the smallest with room for 4x): class %d", h, expected_class(n),
			      w.cls);
		u = malloc_usable_size(p);
		check(u >= n, "malloc_usable_size(malloc(%s)) = %zu >= %zu", h, u, n);
		/* one check either way: the test's count does not depend on the draw */
		if (w.in_area)
			check(u == pages(n) && w.vma_len == pages(n), "malloc(%s): its usable size "
			      "(%zu) and its slot's rw mapping (%zu bytes) are the size in pages (%zu)",
			      h, u, w.vma_len, pages(n));
		else
			check(u == je_class(n), "malloc(%s), not sampled: its usable size (%zu) is "
			      "jemalloc's size class (%zu)", h, u, je_class(n));
		fill(p, n, 1000 + (uint64_t)i, step_of(n));
	}
	for (int i = 0; i < 4; i++) {
		size_t bad;

		if (!ps[i])
			continue;
		bad = verify(ps[i], sizes[i], 1000 + (uint64_t)i, step_of(sizes[i]), sizes[i]);
		check(bad == (size_t)-1, "malloc(%s): content written at the start, every %zu "
		      "KiB and the end is intact (first bad offset %zd)",
		      human(sizes[i], h, sizeof(h)), step_of(sizes[i]) / KiB, (ssize_t)bad);
		free(ps[i]);
	}
	/* after the frees: a new block of each size works (cached slots or fresh ones) */
	for (int i = 0; i < 4; i++) {
		void *p = malloc(sizes[i]);

		escape(p);
		check(p != NULL, "malloc(%s) again after the frees succeeds",
		      human(sizes[i], h, sizeof(h)));
		if (p) {
			fill(p, sizes[i], 2000 + (uint64_t)i, step_of(sizes[i]));
			check(verify(p, sizes[i], 2000 + (uint64_t)i, step_of(sizes[i]),
				     sizes[i]) == (size_t)-1, "malloc(%s) again: content kept", h);
			free(p);
		}
	}
	return 0;
}

/* ---- realloc ----------------------------------------------------------------------- */

static int mode_realloc(void)
{
	const size_t step = 64 * KiB;
	size_t n = 1 * MiB;
	char *p = malloc(n), *q;
	char h[32];
	where w;
	size_t bad;
	uintptr_t old;

	escape(p);
	check(p != NULL, "malloc(1 MiB) succeeds");
	if (!p)
		return 1;
	fill(p, n, 7, step);
	for (size_t m = 2 * MiB; m <= 16 * MiB; m *= 2) {
		int was = where_is(p).in_area;

		old = addr(p);
		q = realloc(p, m);
		escape(q);
		human(m, h, sizeof(h));
		check(q != NULL, "realloc to %s succeeds", h);
		if (!q)
			return 1;
		w = where_is(q);
		if (was || strict)
			check((uintptr_t)q == old, "realloc %zu -> %s grows in place (%#lx -> "
			      "%p)", n / MiB, h, (unsigned long)old, (void *)q);
		else	/* one check either way: the test's count does not depend on the draw */
			check(!w.in_area || w.vma_len == m, "realloc %zu -> %s of a block that was "
			      "not sampled: jemalloc's, or a new sample in a slot of its size "
			      "(%#lx -> %p)", n / MiB, h, (unsigned long)old, (void *)q);
		if (must_be_in_slot(m))
			check(w.in_area && w.vma_len == m, "after realloc to %s: in the slot area, "
			      "its rw mapping grown to %zu bytes: %s", h, m, w.why);
		check(malloc_usable_size(q) >= m, "malloc_usable_size after realloc to %s "
		      "= %zu", h, malloc_usable_size(q));
		bad = verify(q, n, 7, step, n);
		check(bad == (size_t)-1, "realloc to %s kept the first %zu MiB (first bad offset "
		      "%zd)", h, n / MiB, (ssize_t)bad);
		p = q;
		n = m;
		fill(p, n, 7, step);
	}
	/* 16 MiB -> 80 MiB: past its 64 MiB slot */
	w = where_is(p);
	old = addr(p);
	q = realloc(p, 80 * MiB);
	escape(q);
	check(q != NULL, "realloc 16 -> 80 MiB succeeds");
	if (!q)
		return 1;
	if (w.cls == 0)
		check((uintptr_t)q != old, "realloc 16 -> 80 MiB moves (80 MiB is past the 64 MiB slot)");
	bad = verify(q, n, 7, step, n);
	check(bad == (size_t)-1, "realloc 16 -> 80 MiB kept the 16 MiB (first bad offset %zd)",
	      (ssize_t)bad);
	w = where_is(q);
	check(w.in_area, "the 80 MiB block is in the slot area: %s", w.why);
	if (strict)
		check(w.cls == expected_class(80 * MiB), "the 80 MiB block takes class %d: %d",
		      expected_class(80 * MiB), w.cls);
	p = q;
	n = 80 * MiB;
	fill(p, n, 8, step);
	/* 80 MiB -> 2 MiB: in place, the tail's pages released */
	old = addr(p);
	q = realloc(p, 2 * MiB);
	escape(q);
	check(q != NULL, "realloc 80 -> 2 MiB succeeds");
	if (!q)
		return 1;
	if (w.in_area)
		check((uintptr_t)q == old, "realloc 80 -> 2 MiB shrinks in place (%#lx -> %p)",
		      (unsigned long)old, (void *)q);
	bad = verify(q, n, 8, step, 2 * MiB);
	check(bad == (size_t)-1, "realloc 80 -> 2 MiB kept the first 2 MiB (first bad offset "
	      "%zd)", (ssize_t)bad);
	check(malloc_usable_size(q) == 2 * MiB || !w.in_area,
	      "malloc_usable_size after the shrink is 2 MiB: %zu", malloc_usable_size(q));
	w = where_is(q);
	if (w.in_area || (uintptr_t)q == old)
		check(w.vma_len == 2 * MiB, "after the shrink the slot's rw mapping is 2 MiB "
		      "(the 78 MiB tail released): %s", w.why);
	p = q;
	{
		unsigned char first[100];

		memcpy(first, p, sizeof(first));
		old = addr(p);
		q = realloc(p, 100);
		escape(q);
		check(q != NULL, "realloc 2 MiB -> 100 bytes succeeds");
		if (!q)
			return 1;
		check(memcmp(q, first, sizeof(first)) == 0, "realloc 2 MiB -> 100 bytes kept "
		      "the first 100 bytes (%s)", (uintptr_t)q == old ? "in place" : "moved");
		check(malloc_usable_size(q) >= 100, "malloc_usable_size after realloc to 100 "
		      "bytes = %zu", malloc_usable_size(q));
		/* and back up: content kept again */
		p = realloc(q, 5 * MiB + 3);
		escape(p);
		check(p != NULL && memcmp(p, first, sizeof(first)) == 0, "realloc 100 bytes -> "
		      "5 MiB + 3 kept the 100 bytes");
		free(p);
	}
	/* realloc(NULL, n) and realloc(p, 0) of a slot's block */
	p = realloc(NULL, 3 * MiB);
	escape(p);
	check(p != NULL, "realloc(NULL, 3 MiB) allocates");
	if (p) {
		w = where_is(p);
		if (strict)
			check(w.in_area, "realloc(NULL, 3 MiB) is in the slot area: %s", w.why);
		p[0] = 1;
		q = realloc(p, 0);
		check(q == NULL, "realloc(slot block, 0) frees it and returns NULL");
	}
	return 0;
}

/* ---- zero -------------------------------------------------------------------------- */

static int mode_zero(void)
{
	static const struct {
		size_t dirty, fresh;
	} cases[] = {
		{ 4 * MiB, 4 * MiB },		/* same size */
		{ 8 * MiB, 5 * MiB + 3 },	/* a smaller block in a slot with more pages */
		{ 2 * MiB, 4 * MiB },		/* a bigger one: pages added to the cached ones */
		{ 12 * MiB, 1 * MiB },		/* much smaller: the slot's tail released */
	};
	char h1[32], h2[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t d = cases[i].dirty, n = cases[i].fresh, nz;
		char *p = malloc(d), *q, *r;
		uintptr_t old = addr(p);

		escape(p);
		human(d, h1, sizeof(h1));
		human(n, h2, sizeof(h2));
		check(p != NULL, "malloc(%s) succeeds", h1);
		if (!p)
			continue;
		memset(p, 0xa5, d);
		free(p);
		q = calloc(1, n);
		escape(q);
		check(q != NULL, "calloc(1, %s) after freeing a dirty %s block succeeds", h2, h1);
		if (!q)
			continue;
		if (strict)
			check((uintptr_t)q == old, "calloc(1, %s) reuses the freed %s block's slot "
			      "(%#lx, %p)", h2, h1, (unsigned long)old, (void *)q);
		nz = first_nonzero(q, n);
		check(nz == (size_t)-1, "calloc(1, %s) after a dirty %s block: every byte is "
		      "zero (first non-zero at %zd)", h2, h1, (ssize_t)nz);
		/* grow it in place: the new bytes need not be zero, the old ones must stay */
		memset(q, 0x3c, n);
		r = realloc(q, n + 2 * MiB);
		escape(r);
		check(r != NULL && r[0] == 0x3c && r[n - 1] == 0x3c, "calloc'd %s grown by 2 MiB "
		      "keeps its bytes", h2);
		free(r);
	}
	/* calloc(a, b) with a product of 6 MiB, and reallocarray */
	{
		char *p = malloc(6 * MiB), *q;
		size_t nz;

		escape(p);
		if (p)
			memset(p, 0x5a, 6 * MiB);
		free(p);
		q = calloc(3, 2 * MiB);
		escape(q);
		check(q != NULL, "calloc(3, 2 MiB) succeeds");
		if (q) {
			nz = first_nonzero(q, 6 * MiB);
			check(nz == (size_t)-1, "calloc(3, 2 MiB) after a dirty 6 MiB block is all "
			      "zero (first non-zero at %zd)", (ssize_t)nz);
			free(q);
		}
	}
	return 0;
}

/* ---- align ------------------------------------------------------------------------- */

static void aligned_case(const char *what, void *p, size_t align, size_t n)
{
	char h[32];
	where w;

	human(n, h, sizeof(h));
	check(p != NULL, "%s succeeds", what);
	if (!p)
		return;
	check(((uintptr_t)p & (align - 1)) == 0, "%s is aligned to %zu KiB (%p)", what,
	      align / KiB, p);
	w = where_is(p);
	if (must_be_in_slot(n))
		check(w.in_area, "%s is in the slot area: %s", what, w.why);
	check(malloc_usable_size(p) >= n, "%s: malloc_usable_size = %zu >= %zu", what,
	      malloc_usable_size(p), n);
	fill(p, n, align, step_of(n));
	check(verify(p, n, align, step_of(n), n) == (size_t)-1, "%s: content kept", what);
	free(p);
}

static int mode_align(void)
{
	void *p;
	int rc;

	/* a dirty block first, so that the aligned ones may come from a cached slot */
	p = malloc(3 * MiB);
	escape(p);
	if (p)
		memset(p, 0x11, 3 * MiB);
	free(p);
	p = memalign(64 * KiB, 3 * MiB);
	escape(p);
	aligned_case("memalign(64 KiB, 3 MiB)", p, 64 * KiB, 3 * MiB);
	p = NULL;
	rc = posix_memalign(&p, 64 * KiB, 3 * MiB);
	escape(p);
	check(rc == 0, "posix_memalign(64 KiB, 3 MiB) returns 0 (%d)", rc);
	aligned_case("posix_memalign(64 KiB, 3 MiB)", rc == 0 ? p : NULL, 64 * KiB, 3 * MiB);
	p = aligned_alloc(1 * MiB, 2 * MiB);
	escape(p);
	aligned_case("aligned_alloc(1 MiB, 2 MiB)", p, 1 * MiB, 2 * MiB);
	p = NULL;
	rc = posix_memalign(&p, 128 * MiB, 1 * MiB);
	escape(p);
	check(rc == 0, "posix_memalign(128 MiB, 1 MiB) returns 0 (%d)", rc);
	aligned_case("posix_memalign(128 MiB, 1 MiB)", rc == 0 ? p : NULL, 128 * MiB, 1 * MiB);
	p = memalign(2 * MiB, 9 * MiB + 5);
	escape(p);
	aligned_case("memalign(2 MiB, 9 MiB + 5)", p, 2 * MiB, 9 * MiB + 5);
	return 0;
}

/* ---- many -------------------------------------------------------------------------- */

#define MANY 1500

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

static int mode_many(void)
{
	static char *blk[MANY];
	static uintptr_t sorted[MANY];
	size_t n = 1 * MiB;
	int nnull = 0, nslot = 0, narena = 0, overlap = 0, bad = 0;
	void *ref = NULL;

	for (int i = 0; i < MANY; i++) {
		blk[i] = malloc(n);
		escape(blk[i]);
		if (!blk[i]) {
			nnull++;
			continue;
		}
		memcpy(blk[i], &i, sizeof(i));
		memcpy(blk[i] + n - sizeof(i), &i, sizeof(i));
		if (class_by_address(blk[i]) >= 0) {
			nslot++;
			ref = blk[i];
		}
	}
	check(nnull == 0, "%d live blocks of 1 MiB: all allocated (%d failed)", MANY, nnull);
	for (int i = 0; i < MANY; i++)
		sorted[i] = (uintptr_t)blk[i];
	qsort(sorted, MANY, sizeof(sorted[0]), cmp_ptr);
	for (int i = 1; i < MANY; i++)
		if (sorted[i - 1] + n > sorted[i])
			overlap++;
	check(overlap == 0, "the %d blocks are distinct and do not overlap (%d overlaps)", MANY,
	      overlap);
	for (int i = 0; i < MANY; i++) {
		int a, b;

		if (!blk[i])
			continue;
		memcpy(&a, blk[i], sizeof(a));
		memcpy(&b, blk[i] + n - sizeof(b), sizeof(b));
		if (a != i || b != i)
			bad++;
		else if (class_by_address(blk[i]) < 0 && ref && in_sampled_arena(blk[i], ref))
			narena++;
	}
	check(bad == 0, "every block kept its first and last word (%d bad)", bad);
	diag("%d blocks in slots, %d in the sampled arena, %d elsewhere", nslot, narena,
	     MANY - nslot - narena);
	if (strict) {
		check(nslot == NSLOTS_ALL, "all %d slots used (%d): the smallest free class "
		      "takes a block when its own is full", NSLOTS_ALL, nslot);
		check(narena == MANY - NSLOTS_ALL, "the other %d blocks come from jemalloc's "
		      "sampled arena (%d)", MANY - NSLOTS_ALL, narena);
	} else {
		check(nslot >= 1024, "at least the 1024 slots of the 64 MiB class used (%d)",
		      nslot);
	}
	for (int i = 0; i < MANY; i++)
		free(blk[i]);
	{
		char *p = malloc(n);

		escape(p);
		check(p != NULL, "malloc(1 MiB) after freeing them all succeeds");
		if (p) {
			where w = where_is(p);

			if (strict)
				check(w.in_area, "and it is in a slot: %s", w.why);
			p[n - 1] = 1;
			free(p);
		}
	}
	return 0;
}

/* ---- threads ----------------------------------------------------------------------- */

#define NTHREADS 4
#define ROUNDS 2000
#define CELLS 4

typedef struct tstate {
	int id;
	int errors;
	unsigned long allocs, reallocs, in_place, frees;
	char first_error[200];
} tstate;

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void terr(tstate *t, const char *fmt, ...)
{
	va_list ap;

	if (!t->errors++) {
		va_start(ap, fmt);
		vsnprintf(t->first_error, sizeof(t->first_error), fmt, ap);
		va_end(ap);
	}
}

static void *thread_main(void *arg)
{
	tstate *t = arg;
	char *cell[CELLS] = { NULL };
	size_t size[CELLS] = { 0 };
	uint64_t seed[CELLS] = { 0 }, rng = 0x9e3779b97f4a7c15ull * (uint64_t)(t->id + 1);

	for (int r = 0; r < ROUNDS; r++) {
		uint64_t x = xorshift(&rng);
		int c = (int)(x % CELLS);

		if (!cell[c]) {
			size_t n = 1 * MiB + (size_t)((x >> 8) % (7 * MiB));
			int z = (x >> 40) % 8 == 0;

			cell[c] = z ? calloc(1, n) : malloc(n);
			escape(cell[c]);
			if (!cell[c]) {
				terr(t, "%s(%zu) failed", z ? "calloc" : "malloc", n);
				continue;
			}
			if (z && !sparse_zero(cell[c], n))
				terr(t, "calloc(%zu) not zero", n);
			size[c] = n;
			seed[c] = ((uint64_t)t->id << 32) | (uint64_t)r;
			fill(cell[c], n, seed[c], step_of(n));
			t->allocs++;
			continue;
		}
		if (verify(cell[c], size[c], seed[c], step_of(size[c]), size[c]) != (size_t)-1)
			terr(t, "round %d: block of %zu bytes corrupted", r, size[c]);
		if ((x >> 20) % 2) {
			size_t n = 1 * MiB + (size_t)((x >> 24) % (19 * MiB));
			int cls = class_by_address(cell[c]);
			int fits = cls >= 0 && pages(n) <= ((size_t)1 << classes[cls].lg);
			char *q = realloc(cell[c], n);

			escape(q);
			if (!q) {
				terr(t, "realloc(%zu) failed", n);
				continue;
			}
			if (fits && q != cell[c])
				terr(t, "round %d: realloc %zu -> %zu moved a block that fits its "
				     "slot", r, size[c], n);
			if (q == cell[c])
				t->in_place++;
			if (verify(q, size[c], seed[c], step_of(size[c]),
				   size[c] < n ? size[c] : n) != (size_t)-1)
				terr(t, "round %d: realloc %zu -> %zu lost content", r, size[c], n);
			cell[c] = q;
			size[c] = n;
			seed[c] ^= 0x5555;
			fill(q, n, seed[c], step_of(n));
			t->reallocs++;
		} else {
			free(cell[c]);
			cell[c] = NULL;
			t->frees++;
		}
	}
	for (int c = 0; c < CELLS; c++) {
		if (cell[c] &&
		    verify(cell[c], size[c], seed[c], step_of(size[c]), size[c]) != (size_t)-1)
			terr(t, "at the end: block of %zu bytes corrupted", size[c]);
		free(cell[c]);
	}
	return NULL;
}

static int mode_threads(void)
{
	pthread_t th[NTHREADS];
	tstate ts[NTHREADS];
	int started = 0, errors = 0;
	unsigned long allocs = 0, reallocs = 0, in_place = 0, frees = 0;

	memset(ts, 0, sizeof(ts));
	for (int i = 0; i < NTHREADS; i++) {
		ts[i].id = i;
		if (pthread_create(&th[i], NULL, thread_main, &ts[i]) == 0)
			started++;
		else
			break;
	}
	check(started == NTHREADS, "%d threads started (%d)", NTHREADS, started);
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		errors += ts[i].errors;
		allocs += ts[i].allocs;
		reallocs += ts[i].reallocs;
		in_place += ts[i].in_place;
		frees += ts[i].frees;
		if (ts[i].errors)
			diag("thread %d: %d errors, first: %s", i, ts[i].errors,
			     ts[i].first_error);
	}
	diag("%lu allocations, %lu reallocs (%lu in place), %lu frees", allocs, reallocs,
	     in_place, frees);
	check(errors == 0, "%d threads x %d rounds of malloc/calloc/realloc/free of 1..20 MiB: "
	      "no corruption, no failure, no move of a block that fits its slot (%d errors)",
	      NTHREADS, ROUNDS, errors);
	check(allocs + reallocs + frees == (unsigned long)started * ROUNDS,
	      "every round did its operation (%lu of %d)", allocs + reallocs + frees,
	      started * ROUNDS);
	if (strict)
		check(in_place > reallocs / 2, "most reallocs were in place (%lu of %lu)", in_place,
		      reallocs);
	return 0;
}

/* ---- fork -------------------------------------------------------------------------- */

static volatile int churn_stop;

static void *churner(void *arg)
{
	uint64_t rng = 12345;
	unsigned long *ops = arg;

	while (!churn_stop) {
		size_t n = 1 * MiB + (size_t)(xorshift(&rng) % (6 * MiB));
		char *p = malloc(n), *q;

		escape(p);
		if (!p)
			continue;
		p[0] = 1;
		q = realloc(p, n * 2);
		escape(q);
		if (q) {
			q[2 * n - 1] = 2;
			p = q;
		}
		free(p);
		(*ops)++;
	}
	return NULL;
}

static __attribute__((noinline)) int child_work(char *a, size_t an, char *b, size_t bn)
{
	char *a2, *a3, *c, *d;
	size_t nz;
	uintptr_t old;
	int cls;
	where w;

	alarm(20);	/* a deadlock on a lock inherited from the parent ends here */
	failures = 0;
	old = addr(a);
	cls = class_by_address((const void *)old);
	check(verify(a, an, 31, step_of(an), an) == (size_t)-1 &&
	      verify(b, bn, 32, step_of(bn), bn) == (size_t)-1,
	      "child: the blocks inherited from the parent are intact");
	a2 = realloc(a, 12 * MiB);
	escape(a2);
	check(a2 && verify(a2, an, 31, step_of(an), an) == (size_t)-1,
	      "child: realloc of the inherited 4 MiB block to 12 MiB keeps its content");
	if (!a2)
		return failures;
	if (cls == 0)
		check((uintptr_t)a2 == old, "child: ... in place (%#lx -> %p)",
		      (unsigned long)old, (void *)a2);
	fill(a2, 12 * MiB, 33, step_of(12 * MiB));
	a3 = realloc(a2, 100 * MiB);
	escape(a3);
	check(a3 && verify(a3, 12 * MiB, 33, step_of(12 * MiB), 12 * MiB) == (size_t)-1,
	      "child: realloc 12 -> 100 MiB (moves) keeps the content");
	if (!a3)
		return failures;
	free(b);
	c = calloc(1, 3 * MiB);
	escape(c);
	nz = c ? first_nonzero(c, 3 * MiB) : 0;
	check(c && nz == (size_t)-1, "child: calloc(1, 3 MiB) after freeing the inherited "
	      "2 MiB block is all zero");
	d = malloc(8 * MiB);
	escape(d);
	check(d != NULL, "child: malloc(8 MiB) succeeds");
	if (d) {
		fill(d, 8 * MiB, 34, step_of(8 * MiB));
		check(verify(d, 8 * MiB, 34, step_of(8 * MiB), 8 * MiB) == (size_t)-1,
		      "child: malloc(8 MiB) keeps its content");
		w = where_is(d);
		check(w.in_area, "child: malloc(8 MiB) is in the slot area: %s", w.why);
	}
	free(a3);
	free(c);
	free(d);
	fflush(stdout);
	return failures;
}

static int mode_fork(void)
{
	size_t an = 4 * MiB, bn = 2 * MiB;
	char *a = malloc(an), *b = malloc(bn);
	pthread_t th;
	unsigned long ops = 0;
	pid_t pid;
	int st = -1, ok_children = 0, forks = 0, tstarted;

	escape(a);
	escape(b);
	check(a && b, "the parent's blocks (4 MiB, 2 MiB) allocated");
	if (!a || !b)
		return 1;
	fill(a, an, 31, step_of(an));
	fill(b, bn, 32, step_of(bn));
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		exit(child_work(a, an, b, bn) ? 1 : 0);
	check(pid > 0, "fork succeeds");
	if (pid > 0) {
		waitpid(pid, &st, 0);
		check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child verifies, reallocs (in "
		      "place and moving), frees the inherited blocks and allocates its own; exits "
		      "0 (status 0x%x)", st);
	}
	check(verify(a, an, 31, step_of(an), an) == (size_t)-1 &&
	      verify(b, bn, 32, step_of(bn), bn) == (size_t)-1,
	      "the parent's blocks are intact after the child changed its copies");
	free(a);
	free(b);
	/* forks while another thread allocates huge blocks: the slot lock across fork */
	tstarted = pthread_create(&th, NULL, churner, &ops) == 0;
	check(tstarted, "a churning thread started");
	for (int i = 0; i < 20; i++) {
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			continue;
		forks++;
		if (pid == 0) {
			char *p, *q;

			alarm(20);
			p = malloc(6 * MiB);
			escape(p);
			if (!p)
				_exit(3);
			p[6 * MiB - 1] = 1;
			q = realloc(p, 30 * MiB);
			escape(q);
			if (!q || q[6 * MiB - 1] != 1)
				_exit(4);
			q[30 * MiB - 1] = 2;
			free(q);
			_exit(0);
		}
		if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok_children++;
		else
			diag("child %d: status 0x%x", i, st);
	}
	churn_stop = 1;
	if (tstarted)
		pthread_join(th, NULL);
	diag("the churning thread did %lu rounds", ops);
	check(forks == 20 && ok_children == 20, "20 children forked while a thread churns huge "
	      "blocks allocate, grow and free one and exit 0 (%d of %d)", ok_children, forks);
	return 0;
}

/* ---- profile ----------------------------------------------------------------------- */

/* Kept blocks: global, so nothing can drop them. */
char *kept[32];
int nkept;

void site_leak(void);
void site_grow(void);
void site_shrink(void);
void site_move(void);
void site_freed(void);
void site_bulk(void);

static void keep(char *p)
{
	escape(p);
	if (!p) {
		printf("not ok - an allocation of a profile site failed\n");
		exit(1);
	}
	p[0] = 1;
	kept[nkept++] = p;
}

SITE void site_leak(void)
{
	for (int i = 0; i < 3; i++)
		keep(malloc(5 * MiB));
}

SITE void site_grow(void)
{
	char *p = malloc(2 * MiB), *q;

	uintptr_t old;
	int was;

	escape(p);
	if (!p)
		exit(1);
	p[0] = 1;
	was = where_is(p).in_area;
	old = addr(p);
	q = realloc(p, 6 * MiB);
	escape(q);
	if (!q)
		exit(1);
	check((uintptr_t)q == old || !was, "site_grow: 2 -> 6 MiB in place");
	was = where_is(q).in_area;
	old = addr(q);
	p = realloc(q, 7 * MiB + 123);
	escape(p);
	check((uintptr_t)p == old || !was, "site_grow: 6 -> 7 MiB + 123 in place");
	keep(p);
}

SITE void site_shrink(void)
{
	char *p = malloc(10 * MiB), *q;
	uintptr_t old;
	int was;

	escape(p);
	if (!p)
		exit(1);
	p[0] = 1;
	was = where_is(p).in_area;
	old = addr(p);
	q = realloc(p, 1536 * KiB + 7);
	check((uintptr_t)q == old || !was, "site_shrink: 10 MiB -> 1.5 MiB + 7 in place");
	keep(q);
}

SITE void site_move(void)
{
	char *p = malloc(16 * MiB), *q;
	uintptr_t old;
	int was;

	escape(p);
	if (!p)
		exit(1);
	p[0] = 1;
	was = where_is(p).in_area;
	old = addr(p);
	q = realloc(p, 80 * MiB);
	check((uintptr_t)q != old || !was, "site_move: 16 -> 80 MiB moves");
	keep(q);
}

SITE void site_freed(void)
{
	for (int i = 0; i < 4; i++) {
		char *p = malloc(3 * MiB);

		escape(p);
		if (p)
			p[0] = 1;
		free(p);
	}
}

SITE void site_bulk(void)
{
	for (int i = 0; i < 10; i++)
		keep(malloc(20 * MiB));
}

static int mode_profile(void)
{
	site_leak();
	site_grow();
	site_shrink();
	site_move();
	site_freed();
	site_bulk();
	return 0;
}

/* ---- rss --------------------------------------------------------------------------- */

static size_t rss(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (size_t)res * PAGE;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#define RSS_BLOCKS 64

static int mode_rss(void)
{
	static char *blk[RSS_BLOCKS];
	size_t n = 16 * MiB, r0, r1, r2, r3 = 0;
	int nnull = 0;
	double t0, t = -1;

	r0 = rss();
	for (int i = 0; i < RSS_BLOCKS; i++) {
		blk[i] = malloc(n);
		escape(blk[i]);
		if (blk[i])
			memset(blk[i], i + 1, n);
		else
			nnull++;
	}
	r1 = rss();
	check(nnull == 0, "%d blocks of 16 MiB allocated (%d failed)", RSS_BLOCKS, nnull);
	check(r1 >= r0 + RSS_BLOCKS * n / 100 * 95, "touched: resident grew by %zu MiB "
	      "(want >= 95%% of 1024)", (r1 - r0) / MiB);
	for (int i = 0; i < RSS_BLOCKS; i++)
		free(blk[i]);
	t0 = now_s();
	r2 = rss();
	diag("rss: %zu MiB at start, %zu MiB with 1 GiB touched, %zu MiB right after the "
	     "frees", r0 / MiB, r1 / MiB, r2 / MiB);
	check(r2 <= r0 + 256 * MiB + 32 * MiB, "right after the frees at most the 256 MiB "
	      "cache stays resident (%zu MiB over the start)",
	      r2 > r0 ? (r2 - r0) / MiB : 0);
	while (now_s() - t0 < 4.5) {
		r3 = rss();
		if (r3 <= r0 + 32 * MiB) {
			t = now_s() - t0;
			break;
		}
		usleep(20000);
	}
	diag("rss: %zu MiB %.2f s after the frees", r3 / MiB, t < 0 ? now_s() - t0 : t);
	check(t >= 0 && t <= 4.0, "resident memory back to within 32 MiB of the start within "
	      "4 s of the frees (%.2f s; the cache is released after 1 s by the helper)", t);
	return 0;
}

/* ---- loop -------------------------------------------------------------------------- */

#include <sys/resource.h>

static long minor_faults(void)
{
	struct rusage u;

	return getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_minflt : -1;
}

#define LOOP_N 300

static int mode_loop(void)
{
	long f0, f1;
	size_t r0, r1;
	int nnull = 0, outside = 0;
	char why[200] = "";
	void *q;

	f0 = minor_faults();
	for (int i = 0; i < LOOP_N; i++) {
		size_t n = (i & 1) ? 2500000 : 2000000;
		char *p = malloc(n);

		escape(p);
		if (!p) {
			nnull++;
			continue;
		}
		if (strict && !outside) {
			where w = where_is(p);

			if (!w.in_area) {
				outside = 1;
				snprintf(why, sizeof(why), "%s", w.why);
			}
		}
		for (size_t j = 0; j < n; j += PAGE)
			p[j] = (char)(i + j);
		free(p);
	}
	f1 = minor_faults();
	check(nnull == 0, "loop: %d buffers of 2 and 2.5 MB allocated (%d failed)", LOOP_N,
	      nnull);
	if (strict)
		check(!outside, "loop: every buffer in a slot%s%s", outside ? ": " : "", why);
	diag("loop: %ld page faults in %d iterations", f1 - f0, LOOP_N);
	check(f0 >= 0 && f1 - f0 < 10L * LOOP_N, "loop: under 10 page faults an iteration (%ld "
	      "in %d): the freed slot is kept for the next buffer", f1 - f0, LOOP_N);
	r0 = rss();
	usleep(1200000);
	q = malloc(MiB);
	escape(q);
	free(q);
	r1 = rss();
	diag("loop: resident %zu KiB before, %zu KiB after the 1 MiB block", r0 / KiB, r1 / KiB);
	if (strict)	/* at a sparse rate the 1 MiB block may not be sampled */
		check(r1 + 3 * MiB / 2 <= r0, "loop: the slot freed over a second ago is "
		      "released by the next block's allocation (resident down by %zd KiB, want "
		      ">= 1536)", ((ssize_t)r0 - (ssize_t)r1) / (ssize_t)KiB);
	return 0;
}

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} modes[] = {
		{ "basic", mode_basic }, { "realloc", mode_realloc }, { "zero", mode_zero },
		{ "align", mode_align }, { "many", mode_many }, { "threads", mode_threads },
		{ "fork", mode_fork }, { "profile", mode_profile }, { "rss", mode_rss },
		{ "loop", mode_loop },
	};

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--strict") != 0)) {
		fprintf(stderr, "usage: huge_blocks MODE [--strict]\n");
		return 2;
	}
	strict = argc == 3;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(argv[1], modes[i].name) == 0) {
			int r = modes[i].fn();

			printf("done\n");
			fflush(stdout);
			return r || failures ? 1 : 0;
		}
	fprintf(stderr, "huge_blocks: unknown mode %s\n", argv[1]);
	return 2;
}
