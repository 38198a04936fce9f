/* tests/unit/test_textprof: lib/textprof, the legacy gperftools heap text format written by
 * the library (HEAPPROF=format=text|both).
 *
 * Synthetic profiles are encoded and the text parsed back with a small reader written here
 * (independent of tools/legacy.c's): the header's totals must be the sums of the lines, each
 * line's figures unbiased as google-pprof, jeprof and go tool pprof unbias them
 * (scale = 1 / (1 - exp(-(b/n) / rate))) must give back the input estimates within 1%, the
 * addresses must be the pcs as given, and MAPPED_LIBRARIES must hold the mappings as
 * /proc/self/maps lines. Profiles: rate 512k with uniform and mixed sizes (and objects
 * larger than the rate), rate 1 (exact, "@ heapprofile"), empty, zero in use, a large one
 * (timed); bad input (-EINVAL, -ERANGE) and allocation failure (-ENOMEM), with no memory
 * left behind. Run by make check; prints TAP. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "tests/tap.h"
#include "arena.h"
#include "textprof.h"

extern int hp_stub_fail_alloc;	/* tests/unit/ialloc_stub.c */

#define RATE (512 * 1024)

/* ---- a tiny reader of the text -------------------------------------------------------- */

typedef struct line {
	int64_t v[4];		/* in use objects, bytes, allocated objects, bytes (raw) */
	uint64_t pcs[64];
	size_t depth;
} line;

typedef struct map {
	uint64_t start, limit, offset;
	char path[256];
} map;

typedef struct text {
	int64_t tot[4];
	int64_t rate;		/* 1 for "heapprofile" */
	line *lines;
	size_t nlines;
	map maps[16];
	size_t nmaps;
} text;

/* Parses what hp_textprof_encode wrote; 0, or -1 with the reason in why. */
static int parse(const uint8_t *buf, size_t len, text *t, char *why, size_t whylen)
{
	char *s = malloc(len + 1), *l, *next;
	int state = 0;	/* 0 header, 1 lines, 2 after the blank line, 3 maps */
	int rc = -1;

	memset(t, 0, sizeof(*t));
	if (!s) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	memcpy(s, buf, len);
	s[len] = '\0';
	if (len == 0 || s[len - 1] != '\n') {
		snprintf(why, whylen, "does not end with a newline");
		goto out;
	}
	if (memchr(buf, '\0', len)) {
		snprintf(why, whylen, "holds a NUL byte");
		goto out;
	}
	for (l = s; *l; l = next) {
		char *nl = strchr(l, '\n');
		*nl = '\0';
		next = nl + 1;
		if (state == 0) {
			char kind[64];
			int n = 0;
			if (sscanf(l, "heap profile: %" SCNd64 ": %" SCNd64 " [%" SCNd64 ": %" SCNd64
				   "] @ %63s%n", &t->tot[0], &t->tot[1], &t->tot[2], &t->tot[3], kind,
				   &n) != 5 || l[n]) {
				snprintf(why, whylen, "bad header '%s'", l);
				goto out;
			}
			if (strcmp(kind, "heapprofile") == 0)
				t->rate = 1;
			else if (sscanf(kind, "heap_v2/%" SCNd64 "%n", &t->rate, &n) != 1 || kind[n] ||
				 t->rate <= 1) {
				snprintf(why, whylen, "bad header kind '%s'", kind);
				goto out;
			}
			state = 1;
		} else if (state == 1 && !*l) {
			state = 2;
		} else if (state == 1) {
			line *x;
			char *p;
			int n = 0;
			t->lines = realloc(t->lines, (t->nlines + 1) * sizeof(*t->lines));
			x = &t->lines[t->nlines++];
			memset(x, 0, sizeof(*x));
			if (sscanf(l, " %" SCNd64 ": %" SCNd64 " [ %" SCNd64 ": %" SCNd64 "] @%n",
				   &x->v[0], &x->v[1], &x->v[2], &x->v[3], &n) != 4 || !n) {
				snprintf(why, whylen, "bad sample line '%s'", l);
				goto out;
			}
			for (p = l + n; *p;) {
				char *e;
				if (strncmp(p, " 0x", 3) || x->depth == 64) {
					snprintf(why, whylen, "bad address list '%s'", l + n);
					goto out;
				}
				x->pcs[x->depth++] = strtoull(p + 3, &e, 16);
				if (e == p + 3 || e - (p + 3) < 8) {	/* at least 8 digits */
					snprintf(why, whylen, "bad address '%s'", p);
					goto out;
				}
				p = e;
			}
		} else if (state == 2) {
			if (strcmp(l, "MAPPED_LIBRARIES:")) {
				snprintf(why, whylen, "expected MAPPED_LIBRARIES:, got '%s'", l);
				goto out;
			}
			state = 3;
		} else {
			map *m = &t->maps[t->nmaps];
			int n = 0;
			if (t->nmaps == 16 ||
			    sscanf(l, "%" SCNx64 "-%" SCNx64 " r-xp %" SCNx64 " 00:00 0 %255s%n",
				   &m->start, &m->limit, &m->offset, m->path, &n) != 4 || l[n]) {
				snprintf(why, whylen, "bad maps line '%s'", l);
				goto out;
			}
			t->nmaps++;
		}
	}
	if (state != 3) {
		snprintf(why, whylen, "ends early (state %d)", state);
		goto out;
	}
	rc = 0;
out:
	free(s);
	return rc;
}

/* What the readers make of a raw pair. */
static void unbias(int64_t n, int64_t b, int64_t rate, double out[2])
{
	double s = 1;

	if (rate > 1 && n > 0 && b > 0)
		s = 1 / (1 - exp(-((double)b / (double)n) / (double)rate));
	out[0] = (double)n * s;
	out[1] = (double)b * s;
}

static int near(double got, int64_t want, double tol)
{
	if (want == 0)
		return got == 0;
	return fabs(got - (double)want) <= tol * (double)want;
}

/* ---- building profiles ---------------------------------------------------------------- */

/* What a sampler at rate keeps for k samples of objects of size bytes, unbiased. */
static void add_sampled(int64_t v[2], int64_t k, int64_t size, int64_t rate)
{
	double s = 1 / (1 - exp(-(double)size / (double)rate));
	v[0] += llround((double)k * s);
	v[1] += llround((double)k * (double)size * s);
}

typedef struct prof {
	hp_pprof_sample samples[8];
	uint64_t pcs[8][8];
	hp_pprof_mapping maps[4];
	hp_pprof_profile p;
} prof;

static void prof_init(prof *x, int64_t rate)
{
	memset(x, 0, sizeof(*x));
	for (int i = 0; i < 8; i++) {
		for (int j = 0; j < 8; j++)
			x->pcs[i][j] = 0x555555554000ull + 0x1000 * (uint64_t)i + 0x10 * (uint64_t)j + 5;
		x->samples[i].pcs = x->pcs[i];
		x->samples[i].depth = (uint32_t)(1 + i % 8);
	}
	x->maps[0] = (hp_pprof_mapping){ 0x555555554000ull, 0x55555555c000ull, 0x1000,
					 "/usr/bin/prog", "abcd" };
	x->maps[1] = (hp_pprof_mapping){ 0x7ffff7c00000ull, 0x7ffff7d80000ull, 0x28000,
					 "/lib/x86_64-linux-gnu/libc.so.6", "" };
	x->p.samples = x->samples;
	x->p.mappings = x->maps;
	x->p.nmappings = 2;
	x->p.period = rate;
	x->p.default_sample_type = HP_INUSE_SPACE;
}

/* Encodes and parses; checks the structure; returns the text (or NULL after a failure). */
static int encode_parse(const char *name, prof *x, text *t, uint8_t **buf, size_t *len)
{
	char why[512];
	int err = hp_textprof_encode(&x->p, buf, len);

	if (!ok(err == 0, "%s: encodes (%d)", name, err))
		return -1;
	if (!ok(parse(*buf, *len, t, why, sizeof(why)) == 0, "%s: the text parses back", name)) {
		diag("%s; text:\n%.*s", why, (int)*len, (const char *)*buf);
		return -1;
	}
	return 0;
}

/* The header's totals are the sums of the lines; each line, unbiased, gives back the
 * estimates of the sample it stands for within tol; addresses as given; maps as given. */
static void check_profile(const char *name, prof *x, double tol)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	text t;
	int64_t sum[4] = { 0, 0, 0, 0 };
	size_t li = 0;
	int lines_ok = 1, pcs_ok = 1;

	if (encode_parse(name, x, &t, &buf, &len))
		goto out;
	ok(t.rate == (x->p.period > 1 ? x->p.period : 1), "%s: header rate %" PRId64, name, t.rate);
	for (size_t i = 0; i < t.nlines; i++)
		for (int k = 0; k < 4; k++)
			sum[k] += t.lines[i].v[k];
	ok(!memcmp(sum, t.tot, sizeof(sum)), "%s: header totals %" PRId64 ": %" PRId64 " [%"
	   PRId64 ": %" PRId64 "] are the sums of the lines", name, t.tot[0], t.tot[1], t.tot[2],
	   t.tot[3]);
	for (size_t i = 0; i < x->p.nsamples; i++) {
		const hp_pprof_sample *s = &x->samples[i];
		const int64_t *v = s->values;
		double in[2], al[2];
		if (!v[0] && !v[1] && !v[2] && !v[3])
			continue;	/* no line */
		if (li >= t.nlines) {
			lines_ok = 0;
			diag("sample %zu has no line", i);
			break;
		}
		const line *l = &t.lines[li++];
		unbias(l->v[0], l->v[1], t.rate, in);
		unbias(l->v[2], l->v[3], t.rate, al);
		if (!near(in[0], v[HP_INUSE_OBJECTS], tol) || !near(in[1], v[HP_INUSE_SPACE], tol) ||
		    !near(al[0], v[HP_ALLOC_OBJECTS], tol) || !near(al[1], v[HP_ALLOC_SPACE], tol)) {
			lines_ok = 0;
			diag("sample %zu: want %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
			     " (alloc n b, inuse n b), unbiased %.1f %.1f %.1f %.1f", i, v[0], v[1],
			     v[2], v[3], al[0], al[1], in[0], in[1]);
		}
		if (l->depth != s->depth || memcmp(l->pcs, s->pcs, s->depth * sizeof(uint64_t)))
			pcs_ok = 0;
	}
	ok(lines_ok && li == t.nlines, "%s: %zu lines, each unbiased gives the sample's four "
	   "estimates within %g%%", name, t.nlines, tol * 100);
	ok(pcs_ok, "%s: each line's addresses are the sample's pcs, innermost first", name);
	{
		size_t want = 0;
		int maps_ok = 1;
		for (size_t i = 0; i < x->p.nmappings; i++) {
			const hp_pprof_mapping *m = &x->maps[i];
			if (!m->file || !m->file[0] || m->limit <= m->start || strpbrk(m->file, "\r\n"))
				continue;
			if (want >= t.nmaps || t.maps[want].start != m->start ||
			    t.maps[want].limit != m->limit || t.maps[want].offset != m->offset ||
			    strcmp(t.maps[want].path, m->file))
				maps_ok = 0;
			want++;
		}
		ok(maps_ok && want == t.nmaps, "%s: MAPPED_LIBRARIES holds the %zu usable mappings "
		   "as maps lines", name, want);
	}
out:
	free(t.lines);
	hp_ifree_k(HP_MEM_DUMP, buf);
}

/* ---- the cases ------------------------------------------------------------------------ */

static void test_uniform(void)
{
	prof x;
	int64_t *v;

	prof_init(&x, RATE);
	/* 1000 samples of 64 B allocated, 400 still in use. */
	v = x.samples[0].values;
	add_sampled(v + HP_ALLOC_OBJECTS, 1000, 64, RATE);
	add_sampled(v + HP_INUSE_OBJECTS, 400, 64, RATE);
	/* 200 x 1 MiB, all in use. */
	v = x.samples[1].values;
	add_sampled(v + HP_ALLOC_OBJECTS, 200, 1 << 20, RATE);
	add_sampled(v + HP_INUSE_OBJECTS, 200, 1 << 20, RATE);
	/* 50 x 8 MiB: objects much larger than the rate (hp_text_solve_avg's case). */
	v = x.samples[2].values;
	add_sampled(v + HP_ALLOC_OBJECTS, 50, 8 << 20, RATE);
	add_sampled(v + HP_INUSE_OBJECTS, 50, 8 << 20, RATE);
	/* One 10 MiB object. */
	v = x.samples[3].values;
	add_sampled(v + HP_ALLOC_OBJECTS, 1, 10 << 20, RATE);
	add_sampled(v + HP_INUSE_OBJECTS, 1, 10 << 20, RATE);
	x.p.nsamples = 4;
	check_profile("rate 512k, uniform sizes", &x, 0.01);
}

static void test_mixed(void)
{
	prof x;
	int64_t *v;

	prof_init(&x, RATE);
	/* One stack allocating 32 B, 4 KiB and 300 kB objects. */
	v = x.samples[0].values;
	add_sampled(v + HP_ALLOC_OBJECTS, 3000, 32, RATE);
	add_sampled(v + HP_ALLOC_OBJECTS, 1000, 4096, RATE);
	add_sampled(v + HP_ALLOC_OBJECTS, 200, 300000, RATE);
	add_sampled(v + HP_INUSE_OBJECTS, 1500, 32, RATE);
	add_sampled(v + HP_INUSE_OBJECTS, 100, 300000, RATE);
	/* Another: 16 B and 2 MiB. */
	v = x.samples[1].values;
	add_sampled(v + HP_ALLOC_OBJECTS, 500, 16, RATE);
	add_sampled(v + HP_ALLOC_OBJECTS, 80, 2 << 20, RATE);
	add_sampled(v + HP_INUSE_OBJECTS, 80, 2 << 20, RATE);
	add_sampled(v + HP_INUSE_OBJECTS, 100, 16, RATE);
	x.p.nsamples = 2;
	check_profile("rate 512k, mixed sizes", &x, 0.01);

}

/* Objects several times the rate: the bytes come back exact (the scale hardly depends on
 * the average, so the average that makes them exact costs the objects nothing more than
 * the rounding of their count). */
static void test_exact_bytes(void)
{
	prof x;
	uint8_t *buf;
	size_t len;
	text t;
	int exact = 1;

	prof_init(&x, RATE);
	/* Sizes mixed so that the object count divided back is not a whole number. */
	for (int i = 0; i < 4; i++) {
		int64_t *v = x.samples[i].values;
		add_sampled(v + HP_ALLOC_OBJECTS, 150 + 7 * i, (int64_t)(4 + i) << 20, RATE);
		add_sampled(v + HP_ALLOC_OBJECTS, 41, 3000000 + 100000 * i, RATE);
		add_sampled(v + HP_INUSE_OBJECTS, 93, (int64_t)(4 + i) << 20, RATE);
		add_sampled(v + HP_INUSE_OBJECTS, 33, 3 << 20, RATE);
	}
	x.p.nsamples = 4;
	if (encode_parse("large objects", &x, &t, &buf, &len) == 0) {
		for (size_t i = 0; i < t.nlines && i < 4; i++) {
			double in[2], al[2];
			unbias(t.lines[i].v[0], t.lines[i].v[1], t.rate, in);
			unbias(t.lines[i].v[2], t.lines[i].v[3], t.rate, al);
			exact &= near(in[1], x.samples[i].values[HP_INUSE_SPACE], 1e-6) &&
				 near(al[1], x.samples[i].values[HP_ALLOC_SPACE], 1e-6) &&
				 near(in[0], x.samples[i].values[HP_INUSE_OBJECTS], 0.01) &&
				 near(al[0], x.samples[i].values[HP_ALLOC_OBJECTS], 0.01);
		}
		ok(exact && t.nlines == 4, "objects of 3 to 7 MiB at rate 512k: the bytes "
		   "unbias back within 1e-6, the objects within 1%%");
		free(t.lines);
		hp_ifree_k(HP_MEM_DUMP, buf);
	}
}

/* A stack of 9 sampled 48-byte objects at 64k, as demo_leak's build_index gives it (the
 * unbiased figures rounded as a pprof file holds them): the object count divides back to
 * 8.9997, so the raw pair (9, 432) unbiases back within 0.004%. Writing instead the bytes
 * that unbias exactly (430) had put the objects 0.46% off, and cli_convert.sh's round
 * trip over its 0.1% (about one run in five). */
static void test_small_whole(void)
{
	const int64_t objs = 12292, bytes = 590039, rate = 65536;
	int64_t raw[2];
	double back[2];

	hp_text_raw_pair(objs, bytes, rate, raw);
	unbias(raw[0], raw[1], rate, back);
	ok(raw[0] == 9 && near(back[0], objs, 1e-4) && near(back[1], bytes, 1e-4),
	   "9 objects of 48 B at 64k: raw %" PRId64 ": %" PRId64 ", back to %.1f objects, %.1f "
	   "bytes (want %" PRId64 ", %" PRId64 ", within 0.01%%)", raw[0], raw[1], back[0],
	   back[1], objs, bytes);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Relative error of got against want. */
static double rel(double got, int64_t want)
{
	return want ? fabs(got / (double)want - 1) : got != 0;
}

/* 2000 stacks each mixing 1 to 5 sizes from 8 B to 4 MiB, 1 to 200 samples each: every line
 * gives back both figures within the rounding of its raw figures (0.5 / (n - 0.5) for the
 * objects, plus 0.5 / b for the bytes), and the totals within 0.1%. */
static void test_random_mixed(void)
{
	enum { N = 2000 };
	hp_pprof_sample *s = calloc(N, sizeof(*s));
	uint64_t pcs[N];
	hp_pprof_profile p = { 0 };
	uint8_t *buf = NULL;
	size_t len = 0;
	text t;
	char why[256];
	double worst = 0, tot_in[4] = { 0, 0, 0, 0 };
	int64_t want_tot[4] = { 0, 0, 0, 0 };
	size_t bad = 0, li = 0;
	int err;

	for (size_t i = 0; i < N; i++) {
		int sizes = 1 + (int)(rng() % 5);
		for (int j = 0; j < sizes; j++) {
			int64_t size = 8 + (int64_t)(rng() % (1u << (3 + rng() % 20)));
			int64_t k = 1 + (int64_t)(rng() % 200);
			add_sampled(s[i].values + HP_ALLOC_OBJECTS, k, size, RATE);
			if (rng() % 2)
				add_sampled(s[i].values + HP_INUSE_OBJECTS, 1 + (int64_t)(rng() % (uint64_t)k), size,
					    RATE);
		}
		for (int k = 0; k < 4; k++)
			want_tot[k] += s[i].values[k];
		pcs[i] = 0x401000 + 16 * i;
		s[i].pcs = &pcs[i];
		s[i].depth = 1;
	}
	p.samples = s;
	p.nsamples = N;
	p.period = RATE;
	err = hp_textprof_encode(&p, &buf, &len);
	if (!ok(err == 0 && parse(buf, len, &t, why, sizeof(why)) == 0, "random mixed sizes: "
		"encodes and parses back (%d)", err)) {
		hp_ifree_k(HP_MEM_DUMP, buf);
		free(s);
		return;
	}
	for (size_t i = 0; i < N && li < t.nlines; i++) {
		const int64_t *v = s[i].values;
		const line *l = &t.lines[li];
		if (l->pcs[0] != pcs[i])
			continue;	/* no line for this sample */
		li++;
		double in[2], al[2];
		unbias(l->v[0], l->v[1], t.rate, in);
		unbias(l->v[2], l->v[3], t.rate, al);
		tot_in[HP_INUSE_OBJECTS] += in[0];
		tot_in[HP_INUSE_SPACE] += in[1];
		tot_in[HP_ALLOC_OBJECTS] += al[0];
		tot_in[HP_ALLOC_SPACE] += al[1];
		const double e[4] = { rel(in[0], v[HP_INUSE_OBJECTS]), rel(in[1], v[HP_INUSE_SPACE]),
				      rel(al[0], v[HP_ALLOC_OBJECTS]), rel(al[1], v[HP_ALLOC_SPACE]) };
		for (int k = 0; k < 4; k++) {
			int64_t n = l->v[k < 2 ? 0 : 2];
			int64_t b = l->v[k < 2 ? 1 : 3];
			double bound = n ? 0.5 / ((double)n - 0.5) + 0.5 / (double)b + 1e-9 : 0;
			if (e[k] > worst)
				worst = e[k];
			if (e[k] > bound && bad++ < 5)
				diag("stack %zu figure %d: error %.3g > %.3g (raw n %" PRId64 "; %" PRId64
				     " %" PRId64 " %" PRId64 " %" PRId64 ")", i, k, e[k], bound, n, v[0],
				     v[1], v[2], v[3]);
		}
	}
	ok(bad == 0 && li == t.nlines, "random mixed sizes: each of %zu lines within the rounding "
	   "of its object count (worst error %.3g%%)", t.nlines, worst * 100);
	int tot_ok = 1;
	for (int k = 0; k < 4; k++)
		tot_ok &= rel(tot_in[k], want_tot[k]) < 0.001;
	ok(tot_ok, "random mixed sizes: the four totals unbiased within 0.1%% (objects %.4g%%, "
	   "bytes %.4g%% in use)", rel(tot_in[HP_INUSE_OBJECTS], want_tot[HP_INUSE_OBJECTS]) * 100,
	   rel(tot_in[HP_INUSE_SPACE], want_tot[HP_INUSE_SPACE]) * 100);
	free(t.lines);
	hp_ifree_k(HP_MEM_DUMP, buf);
	free(s);
}

static void test_rate1(void)
{
	prof x;
	uint8_t *buf;
	size_t len;
	text t;
	static const char want[] =
		"heap profile:    541: 42423040 [  1541: 107959040] @ heapprofile\n"
		"    40: 41943040 [    40: 41943040] @ 0x555555554005\n"
		"   500:   480000 [   500:   480000] @ 0x555555555005 0x555555555015\n"
		"     0:        0 [  1000: 65536000] @ 0x555555556005 0x555555556015 "
		"0x555555556025\n"
		"     1:        0 [     1:        0] @ 0x555555558005 0x555555558015 "
		"0x555555558025 0x555555558035 0x555555558045\n"
		"\n"
		"MAPPED_LIBRARIES:\n"
		"555555554000-55555555c000 r-xp 00001000 00:00 0 /usr/bin/prog\n"
		"7ffff7c00000-7ffff7d80000 r-xp 00028000 00:00 0 /lib/x86_64-linux-gnu/libc.so.6\n";

	prof_init(&x, 1);
	x.samples[0].values[HP_ALLOC_OBJECTS] = 40;
	x.samples[0].values[HP_ALLOC_SPACE] = 41943040;
	x.samples[0].values[HP_INUSE_OBJECTS] = 40;
	x.samples[0].values[HP_INUSE_SPACE] = 41943040;
	x.samples[1].values[HP_ALLOC_OBJECTS] = 500;
	x.samples[1].values[HP_ALLOC_SPACE] = 480000;
	x.samples[1].values[HP_INUSE_OBJECTS] = 500;
	x.samples[1].values[HP_INUSE_SPACE] = 480000;
	x.samples[2].values[HP_ALLOC_OBJECTS] = 1000;
	x.samples[2].values[HP_ALLOC_SPACE] = 65536000;
	/* sample 3: nothing (no line); sample 4: a zero-size object (malloc(0)). */
	x.samples[4].values[HP_ALLOC_OBJECTS] = 1;
	x.samples[4].values[HP_INUSE_OBJECTS] = 1;
	x.p.nsamples = 5;
	check_profile("rate 1", &x, 0);
	if (encode_parse("rate 1 (text)", &x, &t, &buf, &len) == 0) {
		if (!ok(len == sizeof(want) - 1 && !memcmp(buf, want, len), "rate 1: the exact text "
		   "expected (@ heapprofile, figures as they are, empty sample left out)"))
			diag("got:\n%.*s", (int)len, (const char *)buf);
		free(t.lines);
		hp_ifree_k(HP_MEM_DUMP, buf);
	}
	/* period 0 or negative: unsampled too. */
	x.p.period = 0;
	check_profile("period 0", &x, 0);
}

static void test_empty(void)
{
	prof x;
	uint8_t *buf = NULL;
	size_t len = 0;
	static const char want[] =
		"heap profile:      0:        0 [     0:        0] @ heap_v2/524288\n"
		"\n"
		"MAPPED_LIBRARIES:\n";

	prof_init(&x, RATE);
	x.p.samples = NULL;
	x.p.mappings = NULL;
	x.p.nmappings = 0;
	int err = hp_textprof_encode(&x.p, &buf, &len);
	if (!ok(err == 0 && len == sizeof(want) - 1 && !memcmp(buf, want, len),
	   "empty profile: header with zero totals, blank line, MAPPED_LIBRARIES: (%d)", err))
		diag("got:\n%.*s", (int)len, (const char *)buf);
	hp_ifree_k(HP_MEM_DUMP, buf);
}

static void test_zero_inuse(void)
{
	prof x;
	uint8_t *buf;
	size_t len;
	text t;

	prof_init(&x, RATE);
	add_sampled(x.samples[0].values + HP_ALLOC_OBJECTS, 700, 256, RATE);
	add_sampled(x.samples[1].values + HP_ALLOC_OBJECTS, 30, 1 << 20, RATE);
	/* A sample left with nothing (everything freed, alloc counts reset): no line. */
	x.p.nsamples = 3;
	/* Mappings a reader could not use are left out. */
	x.maps[2] = (hp_pprof_mapping){ 0x1000, 0x1000, 0, "/empty/range", "" };
	x.maps[3] = (hp_pprof_mapping){ 0x2000, 0x3000, 0, "/bad\npath", "" };
	x.p.nmappings = 4;
	check_profile("zero in use", &x, 0.01);
	if (encode_parse("zero in use (text)", &x, &t, &buf, &len) == 0) {
		if (!ok(t.nlines == 2 && t.tot[0] == 0 && t.tot[1] == 0 && t.tot[2] > 0 &&
		   t.tot[3] > 0 && t.lines[0].v[0] == 0 && t.lines[0].v[1] == 0,
		   "zero in use: '0: 0' in use, allocated figures kept, empty sample left out"))
			diag("%.*s", (int)len, (const char *)buf);
		ok(t.nmaps == 2, "zero in use: an empty range and a path with a newline are not "
		   "written (%zu maps lines)", t.nmaps);
		free(t.lines);
		hp_ifree_k(HP_MEM_DUMP, buf);
	}
}

static void test_bad(void)
{
	prof x;
	uint8_t *buf = (uint8_t *)"x";
	size_t len = 7;
	size_t before = hp_mem_bytes(HP_MEM_DUMP);

	prof_init(&x, RATE);
	x.samples[0].values[HP_ALLOC_OBJECTS] = 10;
	x.samples[0].values[HP_ALLOC_SPACE] = 10;
	x.p.nsamples = 1;
	ok(hp_textprof_encode(NULL, &buf, &len) == -EINVAL, "NULL profile: -EINVAL");
	ok(hp_textprof_encode(&x.p, NULL, &len) == -EINVAL, "NULL out: -EINVAL");
	ok(hp_textprof_encode(&x.p, &buf, NULL) == -EINVAL, "NULL outlen: -EINVAL");
	x.samples[0].pcs = NULL;
	ok(hp_textprof_encode(&x.p, &buf, &len) == -EINVAL, "a sample with depth and no pcs: "
	   "-EINVAL");
	x.samples[0].pcs = x.pcs[0];
	x.p.samples = NULL;
	ok(hp_textprof_encode(&x.p, &buf, &len) == -EINVAL, "samples NULL with a count: -EINVAL");
	x.p.samples = x.samples;
	x.p.mappings = NULL;
	ok(hp_textprof_encode(&x.p, &buf, &len) == -EINVAL, "mappings NULL with a count: "
	   "-EINVAL");
	x.p.mappings = x.maps;
	x.samples[0].values[HP_INUSE_SPACE] = -1;
	ok(hp_textprof_encode(&x.p, &buf, &len) == -EINVAL, "a negative value: -EINVAL");
	x.samples[0].values[HP_INUSE_SPACE] = INT64_MAX;
	x.samples[0].values[HP_INUSE_OBJECTS] = 1;
	ok(hp_textprof_encode(&x.p, &buf, &len) == -ERANGE, "a value above HP_TEXT_MAX: "
	   "-ERANGE");
	x.samples[0].values[HP_INUSE_SPACE] = 0;
	x.samples[0].values[HP_INUSE_OBJECTS] = 0;
	for (int i = 1; i < 4; i++)
		x.samples[i] = (hp_pprof_sample){ x.pcs[i], 1,
			{ HP_TEXT_MAX, HP_TEXT_MAX, 0, 0 } };
	x.p.period = 1;
	x.p.nsamples = 4;
	ok(hp_textprof_encode(&x.p, &buf, &len) == -ERANGE, "totals overflowing int64: -ERANGE");
	x.p.nsamples = 1;
	ok(buf[0] == 'x' && len == 7, "errors leave *out and *outlen alone");
	hp_stub_fail_alloc = 1;
	ok(hp_textprof_encode(&x.p, &buf, &len) == -ENOMEM, "allocation failure: -ENOMEM");
	hp_stub_fail_alloc = 0;
	ok(hp_mem_bytes(HP_MEM_DUMP) == before, "no HP_MEM_DUMP memory left after the errors");
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* 100k stacks of depth 32, a quarter of them with large objects (the bisection): linear
 * and quick, since the dumper thread encodes it while the program runs. */
static void test_large(void)
{
	enum { N = 100000, D = 32 };
	hp_pprof_sample *s = calloc(N, sizeof(*s));
	uint64_t *pcs = malloc((size_t)N * D * sizeof(*pcs));
	hp_pprof_mapping m = { 0x400000, 0x800000, 0, "/usr/bin/big", "" };
	hp_pprof_profile p = { 0 };
	uint8_t *buf = NULL;
	size_t len = 0, before = hp_mem_bytes(HP_MEM_DUMP), lines = 0;
	double t0, ms;
	int err;

	if (!s || !pcs) {
		ok(0, "large profile: test memory");
		return;
	}
	for (size_t i = 0; i < N; i++) {
		for (size_t j = 0; j < D; j++)
			pcs[i * D + j] = 0x400000 + (i * 7919 + j * 104729) % 0x400000;
		s[i].pcs = &pcs[i * D];
		s[i].depth = D;
		int64_t size = i % 4 == 0 ? (int64_t)(1 + i % 64) << 20 : (int64_t)(16 + i % 4000);
		add_sampled(s[i].values + HP_ALLOC_OBJECTS, (int64_t)(1 + i % 50), size, RATE);
		add_sampled(s[i].values + HP_INUSE_OBJECTS, (int64_t)(i % 20), size, RATE);
	}
	p.samples = s;
	p.nsamples = N;
	p.mappings = &m;
	p.nmappings = 1;
	p.period = RATE;
	t0 = now_ms();
	err = hp_textprof_encode(&p, &buf, &len);
	ms = now_ms() - t0;
	for (size_t i = 0; err == 0 && i < len; i++)
		lines += buf[i] == '\n';
	ok(err == 0 && lines == N + 4, "large profile: 100k stacks of depth 32 encoded, %zu lines, "
	   "%.1f MB", lines, (double)len / 1e6);
	/* Not a speed check (bench/ measures speed): a quadratic encoder would take hours. */
	ok(ms < 60000, "large profile: encoded in %.0f ms (no blow-up: < 60 s, sanitizers included)",
	   ms);
	hp_ifree_k(HP_MEM_DUMP, buf);
	ok(hp_mem_bytes(HP_MEM_DUMP) == before, "large profile: the buffer is the only "
	   "allocation (%zu bytes left)", hp_mem_bytes(HP_MEM_DUMP) - before);
	free(s);
	free(pcs);
}

int main(void)
{
	test_uniform();
	test_mixed();
	test_exact_bytes();
	test_small_whole();
	test_random_mixed();
	test_rate1();
	test_empty();
	test_zero_inuse();
	test_bad();
	test_large();
	return tap_done();
}
