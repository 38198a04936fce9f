/* tests/progs/sem_libc.c: the C allocation functions' observable semantics, printed as a
 * normalized transcript that does not depend on the allocator (NULL / non-NULL, errno
 * names, "aligned", "usable>=n", "content kept", ...). tests/hazards/libc_semantics.sh
 * runs it without heapprof (glibc's malloc), under LD_PRELOAD=libheapprof.so at rate=1 and
 * at the default rate, and linked with -lheapprof (sem_libc_linked), and diffs the
 * transcripts: they must be identical.
 *
 *   sem_libc [--expect-api]
 *
 * Sections: malloc(0) and friends, free(NULL), realloc(NULL, n), realloc(p, 0) (glibc
 * frees p and returns NULL), calloc/reallocarray overflow, SIZE_MAX-k requests to every
 * function (NULL + ENOMEM, the old block intact), posix_memalign over every alignment
 * 0..2^23, memalign/aligned_alloc over every alignment 0..65536 and the powers of two up
 * to 2^23 with their neighbours (outcomes run-length encoded: one line per run of equal
 * outcomes), valloc/pvalloc, every usable byte of many block sizes written and checked,
 * calloc zeroing reused memory, errno kept by every successful call, realloc chains
 * growing and shrinking with the content checked, free of blocks from every function.
 *
 * When heapprof's API is in the process (found with dlsym, so the same binary works
 * without the library), the realloc chains switch the rate between 1 and 0 at every step,
 * so that blocks move between the sampled arena and the ordinary one in both directions;
 * the rate is put back afterwards. --expect-api makes a missing API an error (exit 3).
 * The transcript never says whether the API was found. Exit status 0.
 *
 * Sites with known counts (the script checks them in the rate=1 exit profile):
 * usable_site() calls malloc exactly 2 * N times (N printed as "usable sweep: N sizes"),
 * after_huge_site() 100 times (100 bytes each) right after a failed malloc(SIZE_MAX-65535);
 * both free every block. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
#define SITE __attribute__((noinline, noclone, used))
#else
#define SITE __attribute__((noinline, used))
#endif

#define KEPT 12345	/* errno value set before successful calls */
#define SENTINEL ((void *)(uintptr_t)0x5a5a5a5a5a5a5a50ull)

typedef int (*set_rate_fn)(size_t);
typedef size_t (*get_rate_fn)(void);
static set_rate_fn api_set_rate;
static get_rate_fn api_get_rate;
static size_t ps;

/* Sizes and alignments pass through here so that the compiler can neither fold a call nor
 * warn about a request it can see is too large. */
static volatile size_t opaque_v;
static size_t opaque(size_t x)
{
	opaque_v = x;
	return opaque_v;
}

static const char *ename(int e)
{
	static char b[32];

	switch (e) {
	case 0: return "errno 0";
	case ENOMEM: return "ENOMEM";
	case EINVAL: return "EINVAL";
	case KEPT: return "errno kept";
	}
	snprintf(b, sizeof(b), "errno %d", e);
	return b;
}

static unsigned char pat(size_t i, unsigned seed)
{
	return (unsigned char)(i * 131u + seed * 7u + (i >> 9) + 1u);
}

static void fill(void *p, size_t from, size_t to, unsigned seed)
{
	unsigned char *c = p;

	for (size_t i = from; i < to; i++)
		c[i] = pat(i, seed);
}

/* 1 if bytes [0, n) of p hold the pattern. */
static int intact(const void *p, size_t n, unsigned seed)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != pat(i, seed))
			return 0;
	return 1;
}

static size_t pow2ceil(size_t a)
{
	size_t p = 1;

	if (a > SIZE_MAX / 2 + 1)
		return 0;	/* no power of two: such a request must fail */
	while (p < a)
		p <<= 1;
	return p;
}

static int aligned(const void *p, size_t a)
{
	return a == 0 || ((uintptr_t)p & (a - 1)) == 0;
}

/* What malloc(n) must be aligned to (C11 7.22.3 as amended by DR 445): enough for any
 * object of fundamental alignment that fits in n bytes, so 16 (alignof(max_align_t) on
 * x86-64) from 16 bytes up, and the largest power of two <= n below (glibc gives 16
 * always, jemalloc 8 for blocks of up to 8 bytes: both conform). */
static size_t malloc_align(size_t n)
{
	size_t a = 1;

	while (a < 16 && a * 2 <= n)
		a *= 2;
	return a;
}

/* Describes a block just returned by an allocation of n bytes that should be aligned to
 * align (0: malloc's alignment for n), errno err after the call: writes every usable
 * byte and checks them. */
static void describe(char *out, size_t size, void *p, int err, size_t n, size_t align)
{
	size_t u;
	int ok;

	if (align == 0)
		align = malloc_align(n);

	if (!p) {
		snprintf(out, size, "NULL %s", ename(err));
		return;
	}
	u = malloc_usable_size(p);
	if (u <= 4 * n + 4096) {
		fill(p, 0, u, (unsigned)n);
		ok = intact(p, u, (unsigned)n);
	} else {
		/* a block much larger than asked (a large alignment): its first n bytes and its
		 * last usable page (the usable sweep writes every byte of plain blocks) */
		fill(p, 0, n, (unsigned)n);
		fill(p, u - 4096, u, (unsigned)n);
		ok = intact(p, n, (unsigned)n) && ((unsigned char *)p)[u - 1] == pat(u - 1, (unsigned)n);
	}
	snprintf(out, size, "non-NULL, %s, %s, %s, %s", aligned(p, align) ? "aligned" : "MISALIGNED",
		 u >= n ? "usable>=n" : "USABLE<N", ok ? "writable" : "NOT WRITABLE", ename(err));
}

/* --- run-length encoded outcome lines ----------------------------------------------- */

typedef struct rle {
	const char *what;
	size_t lo, hi;
	int open;
	char outcome[200];
} rle;

static void rle_flush(rle *r)
{
	if (!r->open)
		return;
	if (r->lo == r->hi)
		printf("%s %zu: %s\n", r->what, r->lo, r->outcome);
	else
		printf("%s %zu..%zu: %s\n", r->what, r->lo, r->hi, r->outcome);
	r->open = 0;
}

static void rle_add(rle *r, size_t x, const char *outcome)
{
	if (r->open && x == r->hi + 1 && strcmp(outcome, r->outcome) == 0) {
		r->hi = x;
		return;
	}
	rle_flush(r);
	r->lo = r->hi = x;
	r->open = 1;
	snprintf(r->outcome, sizeof(r->outcome), "%s", outcome);
}

/* --- the aligned allocation functions through one door ------------------------------ */

enum kind { K_MEMALIGN, K_ALIGNED_ALLOC, K_POSIX_MEMALIGN, K_VALLOC, K_PVALLOC };
static const char *const kind_name[] = { "memalign", "aligned_alloc", "posix_memalign",
					 "valloc", "pvalloc" };

static void try_aligned1(enum kind k, size_t a, size_t n, char *out, size_t size);

/* One call (two for blocks under 16 bytes, the first kept while the second is made, as a
 * small block's alignment can depend on its place in a slab); the outcome in out; the
 * blocks are freed. */
static void try_aligned(enum kind k, size_t a, size_t n, char *out, size_t size)
{
	char b1[200], b2[200];
	void *keep;

	if (n >= 16) {
		try_aligned1(k, a, n, out, size);
		return;
	}
	keep = malloc(opaque(8));	/* shifts the small slots by one */
	try_aligned1(k, a, n, b1, sizeof(b1));
	free(keep);
	try_aligned1(k, a, n, b2, sizeof(b2));
	if (strcmp(b1, b2) != 0)
		snprintf(out, size, "%s, or %s", b1, b2);
	else
		snprintf(out, size, "%s", b1);
}

static void try_aligned1(enum kind k, size_t a, size_t n, char *out, size_t size)
{
	void *p = NULL;
	int err, rc = 0;
	size_t want = a == 0 ? 0 : pow2ceil(a);	/* 0: malloc's alignment */

	a = opaque(a);
	n = opaque(n);
	errno = KEPT;
	switch (k) {
	case K_MEMALIGN: p = memalign(a, n); break;
	case K_ALIGNED_ALLOC: p = aligned_alloc(a, n); break;
	case K_VALLOC: p = valloc(n); want = ps; break;
	case K_PVALLOC: p = pvalloc(n); want = ps; break;
	case K_POSIX_MEMALIGN:
		p = SENTINEL;
		rc = posix_memalign(&p, a, n);
		break;
	}
	err = errno;
	if (k == K_POSIX_MEMALIGN) {
		if (rc != 0) {
			/* errno after a failed posix_memalign is unspecified: not shown */
			snprintf(out, size, "%s, %s", rc == EINVAL ? "EINVAL" : rc == ENOMEM ?
				 "ENOMEM" : "other error", p == SENTINEL ? "*out untouched" :
				 "*OUT CHANGED");
			return;
		}
		if (p == SENTINEL) {
			snprintf(out, size, "0 but *out not set");
			return;
		}
	}
	if (k == K_PVALLOC && p) {
		/* pvalloc rounds the size up to pages: all of it is usable */
		size_t r = (n + ps - 1) / ps * ps;

		if (malloc_usable_size(p) < r) {
			snprintf(out, size, "non-NULL, USABLE < SIZE ROUNDED TO PAGES");
			free(p);
			return;
		}
	}
	describe(out, size, p, err, n, want);
	free(p);
}

/* --- sections ------------------------------------------------------------------------ */

static void line(const char *what, void *p, int err, size_t n, size_t align)
{
	char b[200];

	describe(b, sizeof(b), p, err, n, align);
	printf("%s: %s\n", what, b);
}

static void sec_zero_and_null(void)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 100, 4095, 4096, 4097, 70000,
					600000, 3000000 };
	char what[64];
	void *p, *q;
	int err;

	printf("== zero sizes, NULL pointers\n");
	errno = KEPT;
	p = malloc(opaque(0));
	err = errno;
	q = malloc(opaque(0));
	line("malloc(0)", p, err, 0, 0);
	printf("malloc(0) twice: %s\n", p && q && p != q ? "distinct" : "NOT DISTINCT");
	errno = KEPT;
	free(p);
	free(q);
	free(NULL);
	printf("free(malloc(0)), free(NULL): %s\n", ename(errno));

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];

		errno = KEPT;
		p = realloc(NULL, opaque(n));
		err = errno;
		snprintf(what, sizeof(what), "realloc(NULL, %zu)", n);
		line(what, p, err, n, 0);
		fill(p, 0, n, 9);
		errno = KEPT;
		q = realloc(p, opaque(0));	/* glibc: frees p, returns NULL */
		err = errno;
		printf("realloc(p of %zu, 0): %s, %s\n", n, q ? "non-NULL" : "NULL", ename(err));
		free(q);

		errno = KEPT;
		p = reallocarray(NULL, opaque(n), opaque(1));
		err = errno;
		snprintf(what, sizeof(what), "reallocarray(NULL, %zu, 1)", n);
		line(what, p, err, n, 0);
		errno = KEPT;
		q = reallocarray(p, opaque(0), opaque(n + 1));
		err = errno;
		printf("reallocarray(p of %zu, 0, %zu): %s, %s\n", n, n + 1, q ? "non-NULL" : "NULL",
		       ename(err));
		free(q);
	}

	errno = KEPT;
	p = calloc(opaque(0), opaque(0));
	line("calloc(0, 0)", p, errno, 0, 0);
	free(p);
	errno = KEPT;
	p = calloc(opaque(0), opaque(5));
	line("calloc(0, 5)", p, errno, 0, 0);
	free(p);
	errno = KEPT;
	p = calloc(opaque(5), opaque(0));
	line("calloc(5, 0)", p, errno, 0, 0);
	free(p);
	errno = KEPT;
	p = memalign(opaque(64), opaque(0));
	line("memalign(64, 0)", p, errno, 0, 64);
	free(p);
	errno = KEPT;
	p = aligned_alloc(opaque(4096), opaque(0));
	line("aligned_alloc(4096, 0)", p, errno, 0, 4096);
	free(p);
	errno = KEPT;
	p = valloc(opaque(0));
	line("valloc(0)", p, errno, 0, ps);
	free(p);
	errno = KEPT;
	p = pvalloc(opaque(0));
	line("pvalloc(0)", p, errno, 0, ps);
	free(p);
	{
		char b[200];

		try_aligned(K_POSIX_MEMALIGN, 64, 0, b, sizeof(b));
		printf("posix_memalign(&p, 64, 0): %s\n", b);
	}
	errno = KEPT;
	printf("malloc_usable_size(NULL): %zu, %s\n", malloc_usable_size(NULL), ename(errno));
}

static void sec_overflow(void)
{
	static const size_t pairs[][2] = {
		{ SIZE_MAX / 2 + 1, 2 }, { 2, SIZE_MAX / 2 + 1 }, { SIZE_MAX, SIZE_MAX },
		{ (size_t)1 << 32, (size_t)1 << 32 }, { ((size_t)1 << 32) + 1, (size_t)1 << 32 },
		{ SIZE_MAX / 3 + 1, 3 }, { 65537, SIZE_MAX / 65536 }, { SIZE_MAX, 2 },
	};
	const size_t keep = 1000;

	printf("== multiplication overflow\n");
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		size_t a = pairs[i][0], b = pairs[i][1];
		char *p;
		void *q;
		int err;

		errno = KEPT;
		q = calloc(opaque(a), opaque(b));
		err = errno;
		printf("calloc(%#zx, %#zx): %s %s\n", a, b, q ? "NON-NULL" : "NULL", ename(err));
		free(q);

		errno = KEPT;
		q = reallocarray(NULL, opaque(a), opaque(b));
		err = errno;
		printf("reallocarray(NULL, %#zx, %#zx): %s %s\n", a, b, q ? "NON-NULL" : "NULL",
		       ename(err));
		free(q);

		p = malloc(keep);
		fill(p, 0, keep, 3);
		errno = KEPT;
		q = reallocarray(p, opaque(a), opaque(b));
		err = errno;
		printf("reallocarray(p, %#zx, %#zx): %s %s, old block %s\n", a, b,
		       q ? "NON-NULL" : "NULL", ename(err),
		       q ? "replaced" : intact(p, keep, 3) ? "intact" : "CORRUPTED");
		free(q ? q : p);
	}
}

static void sec_huge(void)
{
	static const size_t ks[] = { 0, 1, 7, 8, 15, 16, 31, 32, 33, 63, 64, 4095, 4096, 4097,
				     65535, 65536, 1 << 20, 1 << 30 };
	size_t huge[sizeof(ks) / sizeof(ks[0]) + 3];
	char names[sizeof(huge) / sizeof(huge[0])][40];
	size_t nh = 0;
	const size_t keep = 777;

	printf("== impossible sizes\n");
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		huge[nh] = SIZE_MAX - ks[i];
		snprintf(names[nh++], sizeof(names[0]), "SIZE_MAX-%zu", ks[i]);
	}
	huge[nh] = PTRDIFF_MAX;
	snprintf(names[nh++], sizeof(names[0]), "PTRDIFF_MAX");
	huge[nh] = (size_t)PTRDIFF_MAX + 1;
	snprintf(names[nh++], sizeof(names[0]), "PTRDIFF_MAX+1");
	huge[nh] = (size_t)1 << 62;
	snprintf(names[nh++], sizeof(names[0]), "2^62");

	for (size_t i = 0; i < nh; i++) {
		size_t n = huge[i];
		const char *nm = names[i];
		char what[80];
		char *p;
		void *q;
		int err;

		errno = KEPT;
		q = malloc(opaque(n));
		printf("malloc(%s): %s %s\n", nm, q ? "NON-NULL" : "NULL", ename(errno));
		free(q);
		errno = KEPT;
		q = calloc(opaque(1), opaque(n));
		printf("calloc(1, %s): %s %s\n", nm, q ? "NON-NULL" : "NULL", ename(errno));
		free(q);
		errno = KEPT;
		q = calloc(opaque(n), opaque(1));
		printf("calloc(%s, 1): %s %s\n", nm, q ? "NON-NULL" : "NULL", ename(errno));
		free(q);

		p = malloc(keep);
		fill(p, 0, keep, 5);
		errno = KEPT;
		q = realloc(p, opaque(n));
		err = errno;
		printf("realloc(p, %s): %s %s, old block %s\n", nm, q ? "NON-NULL" : "NULL",
		       ename(err), q ? "replaced" : intact(p, keep, 5) ? "intact" : "CORRUPTED");
		if (!q) {
			errno = KEPT;
			q = reallocarray(p, opaque(n), opaque(1));
			err = errno;
			printf("reallocarray(p, %s, 1): %s %s, old block %s\n", nm,
			       q ? "NON-NULL" : "NULL", ename(err),
			       q ? "replaced" : intact(p, keep, 5) ? "intact" : "CORRUPTED");
		}
		free(q ? q : p);

		for (int k = 0; k <= K_PVALLOC; k++) {
			static const size_t aligns[] = { 8, 64, 4096, 65536 };
			size_t na = k == K_VALLOC || k == K_PVALLOC ? 1 : 4;

			for (size_t j = 0; j < na; j++) {
				char b[200];

				if (k == K_VALLOC || k == K_PVALLOC)
					snprintf(what, sizeof(what), "%s(%s)", kind_name[k], nm);
				else
					snprintf(what, sizeof(what), "%s(%zu, %s)", kind_name[k],
						 aligns[j], nm);
				try_aligned((enum kind)k, aligns[j], n, b, sizeof(b));
				printf("%s: %s\n", what, b);
			}
		}
	}

	printf("== impossible alignments\n");
	{
		static const size_t as[] = { (size_t)1 << 62, (size_t)1 << 63,
					     ((size_t)1 << 63) + 1, ((size_t)1 << 63) + 8,
					     ((size_t)1 << 63) + ((size_t)1 << 62), SIZE_MAX - 7,
					     SIZE_MAX };
		static const size_t ns[] = { 0, 1, 4096 };

		for (size_t i = 0; i < sizeof(as) / sizeof(as[0]); i++)
			for (size_t j = 0; j < sizeof(ns) / sizeof(ns[0]); j++)
				for (int k = K_MEMALIGN; k <= K_POSIX_MEMALIGN; k++) {
					char b[200];

					try_aligned((enum kind)k, as[i], ns[j], b, sizeof(b));
					printf("%s(%#zx, %zu): %s\n", kind_name[k], as[i], ns[j], b);
				}
	}
}

void after_huge_site(void);

/* 100 blocks of 100 bytes right after a failed request of SIZE_MAX-65535 bytes: at rate=1
 * the profile must have all 100 (the failed request must not count as allocated bytes). */
SITE void after_huge_site(void)
{
	void *volatile q = malloc(opaque(SIZE_MAX - 65535));
	int good = q == NULL;

	for (int i = 0; i < 100; i++) {
		char *p = malloc(100);

		good &= p != NULL;
		fill(p, 0, 100, 1);
		free(p);
	}
	printf("100 blocks after a failed malloc(SIZE_MAX-65535): %s\n", good ? "ok" : "FAILED");
}

/* Every alignment 0..2^23 (posix_memalign) or 0..65536 (the others), run-length encoded;
 * then the powers of two above 65536 with their neighbours; then, for each power of two,
 * sizes around it. */
static void sec_alignment_scan(enum kind k)
{
	size_t top = k == K_POSIX_MEMALIGN ? (size_t)1 << 23 : 65536;
	char b[200], what[64];
	rle r = { 0 };

	printf("== %s: alignments\n", kind_name[k]);
	snprintf(what, sizeof(what), "%s alignment", kind_name[k]);
	r.what = what;
	for (size_t a = 0; a <= top; a++) {
		size_t n = (a * 7) % 301;

		if (k == K_POSIX_MEMALIGN && a >= 8 && (a & (a - 1)) != 0) {
			/* the common case of the scan, kept cheap: EINVAL, nothing allocated */
			void *p = SENTINEL;
			int rc = posix_memalign(&p, opaque(a), n);

			if (rc == EINVAL && p == SENTINEL) {
				rle_add(&r, a, "EINVAL, *out untouched");
				continue;
			}
			if (rc == 0)
				free(p);
		}
		try_aligned(k, a, n, b, sizeof(b));
		rle_add(&r, a, b);
	}
	if (k != K_POSIX_MEMALIGN)
		for (size_t a = (size_t)1 << 17; a <= (size_t)1 << 23; a <<= 1)
			for (size_t d = a - 1; d <= a + 1; d++) {
				try_aligned(k, d, 100, b, sizeof(b));
				rle_add(&r, d, b);
			}
	rle_flush(&r);

	for (size_t a = 1; a <= (size_t)1 << 23; a <<= 1) {
		const size_t ns[] = { 0, 1, a + 1, a - 1, a, 3 * a + 5 };
		/* the larger sizes only up to 1 MiB alignments: the transcript's cost is in
		 * writing every usable byte */
		size_t nn = a <= (size_t)1 << 20 ? 6 : 3;

		if (k == K_POSIX_MEMALIGN && a < sizeof(void *))
			continue;
		for (size_t j = 0; j < nn; j++) {
			try_aligned(k, a, ns[j], b, sizeof(b));
			printf("%s(%zu, %zu): %s\n", kind_name[k], a, ns[j], b);
		}
	}
}

static void sec_valloc(void)
{
	const size_t ns[] = { 0, 1, 16, ps - 1, ps, ps + 1, 3 * ps + 5, 65536, 1048577 };

	printf("== valloc, pvalloc\n");
	for (int k = K_VALLOC; k <= K_PVALLOC; k++)
		for (size_t j = 0; j < sizeof(ns) / sizeof(ns[0]); j++) {
			char b[200];

			try_aligned((enum kind)k, 0, ns[j], b, sizeof(b));
			printf("%s(%zu): %s\n", kind_name[k], ns[j], b);
		}
}

size_t usable_site(const size_t *sizes, size_t count, struct rle *r);

/* Two blocks of each size: every usable byte of both written with different patterns,
 * then both checked (a usable size that overlaps a neighbour or the allocator's own data
 * shows up here, or as a crash). */
SITE size_t usable_site(const size_t *sizes, size_t count, rle *r)
{
	for (size_t i = 0; i < count; i++) {
		size_t n = sizes[i];
		char *p = malloc(n), *q = malloc(n);
		size_t up = p ? malloc_usable_size(p) : 0, uq = q ? malloc_usable_size(q) : 0;
		const char *o;

		if (p)
			fill(p, 0, up, 1);
		if (q)
			fill(q, 0, uq, 2);
		if (!p || !q)
			o = "NULL";
		else if (up < n || uq < n)
			o = "USABLE < N";
		else if (!intact(p, up, 1) || !intact(q, uq, 2))
			o = "USABLE BYTES OVERWRITTEN";
		else
			o = "usable>=n, every usable byte kept";
		rle_add(r, i, o);
		free(q);
		free(p);
	}
	return count;
}

static void sec_usable(void)
{
	static size_t sizes[8192];
	size_t count = 0;
	static const size_t extra[] = { 65535, 65536, 65537, 1048575, 1048576, 1048577,
					2097151, 2097152, 2097153, 4194303, 4194304, 4194305 };
	rle r = { "usable size, block index", 0, 0, 0, "" };

	printf("== malloc_usable_size\n");
	for (size_t n = 0; n <= 4096; n++)
		sizes[count++] = n;
	for (size_t n = 4097; n <= 4194304; n += n / 8 + 1)
		sizes[count++] = n;
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		sizes[count++] = extra[i];
	printf("usable sweep: %zu sizes\n", usable_site(sizes, count, &r));
	rle_flush(&r);
}

/* calloc's memory is zero even where freed, dirtied blocks are reused. */
static void sec_calloc_zero(void)
{
	static const size_t ns[] = { 1, 8, 24, 100, 1000, 4096, 5000, 65536, 100000, 600000,
				     3000000 };
	rle r = { "calloc zeroes reused memory, size index", 0, 0, 0, "" };

	printf("== calloc\n");
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		int zero = 1;

		for (int rep = 0; rep < 8; rep++) {
			unsigned char *d[4], *c;
			size_t n = ns[i];

			for (int j = 0; j < 4; j++) {
				d[j] = malloc(n);
				memset(d[j], 0xa5, malloc_usable_size(d[j]));
			}
			for (int j = 0; j < 4; j++)
				free(d[j]);
			c = calloc(opaque(n), 1);
			for (size_t b = 0; c && b < n; b++)
				zero &= c[b] == 0;
			zero &= c != NULL;
			free(c);
		}
		rle_add(&r, i, zero ? "all bytes zero" : "NOT ZERO");
	}
	rle_flush(&r);
}

/* errno set to 12345 before every successful call must be 12345 after it. */
static void sec_errno(void)
{
	enum { E_MALLOC, E_CALLOC, E_REALLOC_NULL, E_REALLOC_GROW, E_REALLOC_SHRINK,
	       E_REALLOC_SAME, E_REALLOCARRAY, E_FREE, E_FREE_NULL, E_MEMALIGN, E_ALIGNED_ALLOC,
	       E_POSIX_MEMALIGN, E_VALLOC, E_PVALLOC, E_USABLE, E_REALLOC_ZERO, E_N };
	static const char *const names[E_N] = {
		"malloc", "calloc", "realloc(NULL, n)", "realloc grow", "realloc shrink",
		"realloc same size", "reallocarray", "free", "free(NULL)", "memalign",
		"aligned_alloc", "posix_memalign", "valloc", "pvalloc", "malloc_usable_size",
		"realloc(p, 0)" };
	int bad[E_N] = { 0 };

	printf("== errno across successful calls\n");
	for (size_t i = 0; i < 400; i++) {
		size_t n = opaque(1 + (i * 7919) % (i % 4 == 3 ? 2500000 : 3000));
		void *p, *q;

#define E(id, call) do { errno = KEPT; call; if (errno != KEPT) bad[id]++; } while (0)
		E(E_MALLOC, p = malloc(n));
		E(E_FREE, free(p));
		E(E_CALLOC, p = calloc(n, 1));
		E(E_USABLE, (void)malloc_usable_size(p));
		E(E_REALLOC_GROW, q = realloc(p, 2 * n + 100));
		E(E_REALLOC_SHRINK, p = realloc(q, n / 2 + 1));
		E(E_REALLOC_SAME, q = realloc(p, n / 2 + 1));
		E(E_REALLOCARRAY, p = reallocarray(q, 3, n));
		E(E_REALLOC_ZERO, q = realloc(p, 0));
		free(q);
		E(E_REALLOC_NULL, p = realloc(NULL, n));
		free(p);
		E(E_FREE_NULL, free(NULL));
		E(E_MEMALIGN, p = memalign(64 << (i % 8), n));
		free(p);
		E(E_ALIGNED_ALLOC, p = aligned_alloc(32 << (i % 9), n));
		free(p);
		E(E_POSIX_MEMALIGN, (void)posix_memalign(&p, 8 << (i % 10), n));
		free(p);
		E(E_VALLOC, p = valloc(n));
		free(p);
		E(E_PVALLOC, p = pvalloc(n));
		free(p);
#undef E
	}
	for (int id = 0; id < E_N; id++)
		printf("errno across %s: %s\n", names[id], bad[id] ? "CHANGED" : "kept");
}

static void toggle_rate(size_t step)
{
	if (api_set_rate)
		api_set_rate(step % 2 ? 1 : 0);
}

/* A block grown and shrunk through many sizes (and, with the API, alternately in and out
 * of the sampled arena): the common prefix is kept at every step. */
static void sec_realloc_chains(void)
{
	static const size_t chain[] = { 1, 10, 100, 1000, 5000, 70000, 600000, 3000000, 100, 24,
					9000000, 17, 4096, 4095, 65536, 1, 300000, 2000 };
	const size_t nc = sizeof(chain) / sizeof(chain[0]);
	size_t rate0 = api_get_rate ? api_get_rate() : 0;
	rle r = { "realloc chain", 0, 0, 0, "" };

	printf("== realloc chains\n");
	for (size_t c = 0; c < 12; c++) {
		size_t old = chain[c % nc];
		char *p = malloc(old);
		const char *o = "content kept at every step";

		fill(p, 0, old, (unsigned)c);
		for (size_t s = 1; s <= nc; s++) {
			size_t n = chain[(c + s) % nc] + c;
			char *q;

			toggle_rate(c + s);
			q = realloc(p, n);
			if (!q) {
				o = "REALLOC FAILED";
				break;
			}
			p = q;
			if (!intact(p, old < n ? old : n, (unsigned)c)) {
				o = "CONTENT LOST";
				break;
			}
			fill(p, 0, n, (unsigned)c);
			old = n;
		}
		toggle_rate(c);
		free(p);
		rle_add(&r, c, o);
	}
	rle_flush(&r);

	/* blocks from each function, grown and shrunk */
	for (int k = 0; k <= K_PVALLOC + 2; k++) {
		int good = 1;
		const char *name = k <= K_PVALLOC ? kind_name[k] : k == K_PVALLOC + 1 ? "calloc" :
				   "reallocarray";

		for (size_t i = 0; i < 16; i++) {
			size_t n = 100 + i * 1237 + (i % 4 == 3 ? 700000 : 0), m;
			char *p = NULL, *q;

			toggle_rate(i);
			switch (k) {
			case K_MEMALIGN: p = memalign(256, n); break;
			case K_ALIGNED_ALLOC: p = aligned_alloc(8192, n); break;
			case K_POSIX_MEMALIGN: good &= posix_memalign((void **)&p, 128, n) == 0; break;
			case K_VALLOC: p = valloc(n); break;
			case K_PVALLOC: p = pvalloc(n); break;
			case K_PVALLOC + 1: p = calloc(n, 1); break;
			default: p = reallocarray(NULL, n, 1); break;
			}
			if (!p) {
				good = 0;
				break;
			}
			fill(p, 0, n, 77);
			toggle_rate(i + 1);
			m = i % 2 ? n / 3 + 1 : n * 3;
			q = realloc(p, m);
			good &= q && intact(q, n < m ? n : m, 77);
			toggle_rate(i);
			free(q ? q : p);
		}
		printf("%s, then realloc: %s\n", name, good ? "content kept" : "CONTENT LOST");
	}
	if (api_set_rate)
		api_set_rate(rate0);
}

/* Blocks from every function, freed in an order unrelated to their allocation. */
static void sec_free_each(void)
{
	void *b[9 * 40];
	size_t nb = 0;

	printf("== free of blocks from every function\n");
	for (size_t i = 0; i < 40; i++) {
		size_t n = 1 + i * 997 + (i % 8 == 7 ? 1500000 : 0);
		void *p;

		toggle_rate(i);
		b[nb++] = malloc(n);
		b[nb++] = calloc(1, n);
		b[nb++] = realloc(NULL, n);
		b[nb++] = reallocarray(NULL, 1, n);
		b[nb++] = memalign(512, n);
		b[nb++] = aligned_alloc(64, n);
		b[nb++] = posix_memalign(&p, 32, n) == 0 ? p : NULL;
		b[nb++] = valloc(n);
		b[nb++] = pvalloc(n);
	}
	for (size_t i = 0; i < nb; i++)
		fill(b[i], 0, 1, 0);
	for (size_t i = 0; i < nb; i++) {
		size_t j = (i * 37) % nb;	/* 37 and 360 are coprime: a permutation */

		free(b[j]);
	}
	printf("free of %zu blocks from 9 functions: ok\n", nb);
}

int main(int argc, char **argv)
{
	int expect_api = argc > 1 && strcmp(argv[1], "--expect-api") == 0;
	size_t rate0;

	if (argc > 2 || (argc == 2 && !expect_api)) {
		fprintf(stderr, "usage: sem_libc [--expect-api]\n");
		return 2;
	}
	ps = (size_t)sysconf(_SC_PAGESIZE);
	api_set_rate = (set_rate_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "heapprof_set_rate");
	api_get_rate = (get_rate_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "heapprof_get_rate");
	if (expect_api && (!api_set_rate || !api_get_rate)) {
		fprintf(stderr, "sem_libc: heapprof_set_rate not found in the process\n");
		return 3;
	}
	rate0 = api_get_rate ? api_get_rate() : 0;
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	printf("page size: %s\n", ps == 4096 ? "4096" : "not 4096");
	sec_zero_and_null();
	sec_overflow();
	sec_huge();
	after_huge_site();
	sec_alignment_scan(K_POSIX_MEMALIGN);
	sec_alignment_scan(K_MEMALIGN);
	sec_alignment_scan(K_ALIGNED_ALLOC);
	sec_valloc();
	sec_usable();
	sec_calloc_zero();
	sec_errno();
	sec_realloc_chains();
	sec_free_each();
	if (api_set_rate)
		api_set_rate(rate0);
	printf("end of transcript\n");
	return 0;
}
