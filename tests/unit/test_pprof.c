/* tests/unit/test_pprof: lib/pprof and lib/gzout.
 *
 * The encoder's output is checked three ways: decoded field by field with a small protobuf
 * reader written here (so that a bug shared by encoder and reader is unlikely), read by the
 * real consumer (`go tool pprof`), and timed on a large profile. go tool pprof is required:
 * a missing reader is a setup error, not a reason to skip. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "tests/tap.h"
#include "pprof.h"
#include "gzout.h"

/* ---- helpers -------------------------------------------------------------------------- */

static void *xgrow(void *p, size_t *cap, size_t n, size_t elsize)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 16;
	p = realloc(p, *cap * elsize);
	if (!p) {
		perror("realloc");
		exit(2);
	}
	return p;
}

/* Appends one zeroed element and yields its address. */
#define PUSH(arr, n, cap) \
	((arr) = xgrow((arr), &(cap), (n), sizeof(*(arr))), \
	 memset(&(arr)[(n)], 0, sizeof(*(arr))), &(arr)[(n)++])

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static void make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (!base || !*base || strchr(base, '\''))
		base = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/hp_test_pprof.XXXXXX", base);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(2);
	}
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 0, n;

	*buf = NULL;
	*len = 0;
	if (!f)
		return -1;
	for (;;) {
		while (cap - *len < 65536)
			*buf = xgrow(*buf, &cap, cap, 1);
		n = fread(*buf + *len, 1, cap - *len, f);
		*len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	return 0;
}

/* Writes data gzip'd to path through hp_gz_write_fd. */
static int write_gz(const char *path, const void *data, size_t len, int level)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int err;

	if (fd < 0)
		return -errno;
	err = hp_gz_write_fd(fd, data, len, level);
	close(fd);
	return err;
}

/* ---- gzip ----------------------------------------------------------------------------- */

static int gz_roundtrip(const char *what, const uint8_t *data, size_t len, int level)
{
	char path[300];
	uint8_t *gz, *out = NULL;
	size_t gzlen, outlen = 0;
	int err, good;

	snprintf(path, sizeof(path), "%s/rt.gz", tmpdir);
	err = write_gz(path, data, len, level);
	if (!ok(err == 0, "gz %s: hp_gz_write_fd returns 0 (got %d)", what, err))
		return 0;
	read_file(path, &gz, &gzlen);
	ok(gzlen >= 18 && gz[0] == 0x1f && gz[1] == 0x8b && gz[2] == 8,
	   "gz %s: output is a gzip member (%zu bytes)", what, gzlen);
	err = hp_gz_inflate(gz, gzlen, &out, &outlen);
	good = err == 0 && outlen == len && (len == 0 || memcmp(out, data, len) == 0);
	ok(good, "gz %s: inflates back to the %zu input bytes (err %d, got %zu)", what, len,
	   err, outlen);
	free(out);
	free(gz);
	return good;
}

static void expect_einval(const char *what, const uint8_t *gz, size_t len)
{
	uint8_t *out = (uint8_t *)"untouched";
	size_t outlen = 12345;
	int err = hp_gz_inflate(gz, len, &out, &outlen);

	ok(err == -EINVAL, "gz rejects %s with -EINVAL (got %d)", what, err);
}

static void test_gz_bad(const uint8_t *gz, size_t gzlen)
{
	uint8_t junk[4096], *bad;
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rng();
	expect_einval("random bytes", junk, sizeof(junk));
	expect_einval("an empty buffer", gz, 0);
	expect_einval("a truncated member", gz, gzlen - 5);
	expect_einval("a header only", gz, 10);
	bad = malloc(gzlen + 4);
	memcpy(bad, gz, gzlen);
	bad[gzlen - 6] ^= 0x55;		/* the CRC-32 in the trailer */
	expect_einval("a bad CRC", bad, gzlen);
	bad[gzlen - 6] ^= 0x55;
	memcpy(bad + gzlen, "junk", 4);
	expect_einval("trailing garbage", bad, gzlen + 4);
	free(bad);
}

/* Two members back to back are one gzip file (RFC 1952), as `gzip -d` reads them. */
static void test_gz_members(const uint8_t *gz, size_t gzlen, const uint8_t *data, size_t len)
{
	uint8_t *two = malloc(2 * gzlen), *out = NULL;
	size_t outlen = 0;
	int err;

	memcpy(two, gz, gzlen);
	memcpy(two + gzlen, gz, gzlen);
	err = hp_gz_inflate(two, 2 * gzlen, &out, &outlen);
	ok(err == 0 && outlen == 2 * len && memcmp(out, data, len) == 0 &&
	   memcmp(out + len, data, len) == 0, "gz inflates concatenated members (err %d)", err);
	free(out);
	free(two);
}

static void test_gz(void)
{
	size_t nrand = 1 << 20, ntext = 3 << 20, i, gzlen;
	uint8_t *rnd = malloc(nrand), *text = malloc(ntext), *gz;
	char path[300];
	int err;

	for (i = 0; i < nrand; i++)
		rnd[i] = (uint8_t)rng();
	for (i = 0; i < ntext; i++)
		text[i] = "heap profile sample 0123456789\n"[i % 31] ^ (uint8_t)(i % 7 == 0);
	/* 1 MiB of noise compresses to ~16 output chunks: exercises the chunk loop */
	gz_roundtrip("random 1 MiB", rnd, nrand, 6);
	gz_roundtrip("text 3 MiB level 1", text, ntext, 1);
	gz_roundtrip("text 3 MiB level 9", text, ntext, 9);
	gz_roundtrip("empty", NULL, 0, 6);
	gz_roundtrip("one byte", text, 1, 6);

	snprintf(path, sizeof(path), "%s/small.gz", tmpdir);
	write_gz(path, text, 1000, 6);
	read_file(path, &gz, &gzlen);
	test_gz_bad(gz, gzlen);
	test_gz_members(gz, gzlen, text, 1000);
	free(gz);

	err = hp_gz_write_fd(-1, text, 100, 6);
	ok(err == -EBADF, "gz write to a bad fd returns -EBADF (got %d)", err);
	free(rnd);
	free(text);
}

/* ---- a protobuf reader ---------------------------------------------------------------- */

struct rd {
	const uint8_t *p, *end;
	int bad;
};

enum { W_VARINT = 0, W_I64 = 1, W_LEN = 2, W_I32 = 5 };

static uint64_t rd_varint(struct rd *r)
{
	uint64_t v = 0;
	unsigned shift;
	uint8_t b;

	for (shift = 0; shift < 64 && r->p < r->end; shift += 7) {
		b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = 1;
	return 0;
}

/* The next field number, 0 at the end of the message or on an error. */
static unsigned rd_key(struct rd *r, unsigned *wire)
{
	uint64_t k;

	if (r->bad || r->p >= r->end)
		return 0;
	k = rd_varint(r);
	*wire = (unsigned)(k & 7);
	if (!(k >> 3) || k >> 32)
		r->bad = 1;
	return r->bad ? 0 : (unsigned)(k >> 3);
}

/* A length-delimited field's body; a wrong wire type marks the reader bad. */
static struct rd rd_sub(struct rd *r, unsigned wire)
{
	struct rd sub = { r->p, r->p, 1 };
	uint64_t n;

	if (wire != W_LEN) {
		r->bad = 1;
		return sub;
	}
	n = rd_varint(r);
	if (r->bad || n > (uint64_t)(r->end - r->p)) {
		r->bad = 1;
		return sub;
	}
	sub = (struct rd){ r->p, r->p + n, 0 };
	r->p += n;
	return sub;
}

static uint64_t rd_uint(struct rd *r, unsigned wire)
{
	if (wire != W_VARINT) {
		r->bad = 1;
		return 0;
	}
	return rd_varint(r);
}

static void rd_skip(struct rd *r, unsigned wire)
{
	size_t n = wire == W_I64 ? 8 : 4;

	if (wire == W_VARINT)
		rd_varint(r);
	else if (wire == W_LEN)
		rd_sub(r, wire);
	else if ((wire == W_I64 || wire == W_I32) && (size_t)(r->end - r->p) >= n)
		r->p += n;
	else
		r->bad = 1;
}

/* ---- the decoded profile -------------------------------------------------------------- */

struct d_str {
	const char *s;
	size_t len;
};

struct d_sample {
	size_t loc_off, nloc;		/* into dprof.locids */
	int64_t values[8];
	size_t nvalues;
};

struct d_mapping {
	uint64_t id, start, limit, offset, file, build_id, has_functions;
};

struct d_location {
	uint64_t id, mapping_id, address, nlines, function_id, line;
};

struct d_function {
	uint64_t id, name, system_name, filename;
};

struct dprof {
	struct d_str *strs;
	size_t nstrs, cstrs;
	struct d_sample *samples;
	size_t nsamples, csamples;
	uint64_t *locids;
	size_t nlocids, clocids;
	struct d_mapping *maps;
	size_t nmaps, cmaps;
	struct d_location *locs;
	size_t nlocs, clocs;
	struct d_function *funcs;
	size_t nfuncs, cfuncs;
	uint64_t st[8][2], pt[2], comments[8];
	size_t nst, ncomments;
	int64_t period, time_nanos, duration_nanos;
	uint64_t default_st;
	int unknown, bad;
};

static void dec_value_type(struct rd m, uint64_t vt[2])
{
	unsigned f, w;

	while ((f = rd_key(&m, &w))) {
		if (f == 1 || f == 2)
			vt[f - 1] = rd_uint(&m, w);
		else
			rd_skip(&m, w);
	}
	if (m.bad)
		vt[0] = vt[1] = UINT64_MAX;
}

/* Packed only: the encoder must write Sample's repeated scalars packed. */
static void dec_packed(struct dprof *d, struct rd *m, unsigned w, struct d_sample *s, int ids)
{
	struct rd a = rd_sub(m, w);

	while (!a.bad && a.p < a.end) {
		if (ids)
			*PUSH(d->locids, d->nlocids, d->clocids) = rd_varint(&a);
		else if (s->nvalues < 8)
			s->values[s->nvalues++] = (int64_t)rd_varint(&a);
		else
			rd_varint(&a);
	}
	d->bad |= a.bad;
}

static void dec_sample(struct dprof *d, struct rd m)
{
	struct d_sample *s = PUSH(d->samples, d->nsamples, d->csamples);
	unsigned f, w;

	s->loc_off = d->nlocids;
	while ((f = rd_key(&m, &w))) {
		if (f == 1 || f == 2)
			dec_packed(d, &m, w, s, f == 1);
		else
			d->unknown++, rd_skip(&m, w);
	}
	s->nloc = d->nlocids - s->loc_off;
	d->bad |= m.bad;
}

static void dec_mapping(struct dprof *d, struct rd m)
{
	struct d_mapping *mp = PUSH(d->maps, d->nmaps, d->cmaps);
	uint64_t *fields[] = { NULL, &mp->id, &mp->start, &mp->limit, &mp->offset, &mp->file,
			       &mp->build_id, &mp->has_functions };
	unsigned f, w;

	while ((f = rd_key(&m, &w))) {
		if (f < 8)
			*fields[f] = rd_uint(&m, w);
		else
			d->unknown++, rd_skip(&m, w);
	}
	d->bad |= m.bad;
}

static void dec_line(struct dprof *d, struct d_location *l, struct rd m)
{
	unsigned f, w;

	l->nlines++;
	while ((f = rd_key(&m, &w))) {
		if (f == 1)
			l->function_id = rd_uint(&m, w);
		else if (f == 2)
			l->line = rd_uint(&m, w);
		else
			d->unknown++, rd_skip(&m, w);
	}
	d->bad |= m.bad;
}

static void dec_location(struct dprof *d, struct rd m)
{
	struct d_location *l = PUSH(d->locs, d->nlocs, d->clocs);
	unsigned f, w;

	while ((f = rd_key(&m, &w))) {
		if (f == 1)
			l->id = rd_uint(&m, w);
		else if (f == 2)
			l->mapping_id = rd_uint(&m, w);
		else if (f == 3)
			l->address = rd_uint(&m, w);
		else if (f == 4)
			dec_line(d, l, rd_sub(&m, w));
		else
			d->unknown++, rd_skip(&m, w);
	}
	d->bad |= m.bad;
}

static void dec_function(struct dprof *d, struct rd m)
{
	struct d_function *fn = PUSH(d->funcs, d->nfuncs, d->cfuncs);
	uint64_t *fields[] = { NULL, &fn->id, &fn->name, &fn->system_name, &fn->filename };
	unsigned f, w;

	while ((f = rd_key(&m, &w))) {
		if (f < 5)
			*fields[f] = rd_uint(&m, w);
		else
			d->unknown++, rd_skip(&m, w);
	}
	d->bad |= m.bad;
}

static void dec_comments(struct dprof *d, struct rd *m, unsigned w)
{
	struct rd a;

	if (w == W_VARINT) {
		if (d->ncomments < 8)
			d->comments[d->ncomments++] = rd_varint(m);
		return;
	}
	a = rd_sub(m, w);
	while (!a.bad && a.p < a.end && d->ncomments < 8)
		d->comments[d->ncomments++] = rd_varint(&a);
	d->bad |= a.bad;
}

static void dec_string(struct dprof *d, struct rd s)
{
	struct d_str *str = PUSH(d->strs, d->nstrs, d->cstrs);

	str->s = (const char *)s.p;
	str->len = (size_t)(s.end - s.p);
	d->bad |= s.bad;
}

static void dec_scalar(struct dprof *d, struct rd *m, unsigned f, unsigned w)
{
	uint64_t v = rd_uint(m, w);

	if (f == 9)
		d->time_nanos = (int64_t)v;
	else if (f == 10)
		d->duration_nanos = (int64_t)v;
	else if (f == 12)
		d->period = (int64_t)v;
	else
		d->default_st = v;
}

static void dec_field(struct dprof *d, struct rd *m, unsigned f, unsigned w)
{
	switch (f) {
	case 1:
		if (d->nst < 8)
			dec_value_type(rd_sub(m, w), d->st[d->nst++]);
		break;
	case 2: dec_sample(d, rd_sub(m, w)); break;
	case 3: dec_mapping(d, rd_sub(m, w)); break;
	case 4: dec_location(d, rd_sub(m, w)); break;
	case 5: dec_function(d, rd_sub(m, w)); break;
	case 6: dec_string(d, rd_sub(m, w)); break;
	case 9: case 10: case 12: case 14: dec_scalar(d, m, f, w); break;
	case 11: dec_value_type(rd_sub(m, w), d->pt); break;
	case 13: dec_comments(d, m, w); break;
	default:
		d->unknown++;
		rd_skip(m, w);
	}
}

static int decode(struct dprof *d, const uint8_t *buf, size_t len)
{
	struct rd m = { buf, buf + len, 0 };
	unsigned f, w;

	memset(d, 0, sizeof(*d));
	while ((f = rd_key(&m, &w)))
		dec_field(d, &m, f, w);
	d->bad |= m.bad;
	return d->bad ? -1 : 0;
}

static void dprof_free(struct dprof *d)
{
	free(d->strs);
	free(d->samples);
	free(d->locids);
	free(d->maps);
	free(d->locs);
	free(d->funcs);
}

static int str_is(const struct dprof *d, uint64_t idx, const char *want)
{
	return idx < d->nstrs && d->strs[idx].len == strlen(want) &&
	       memcmp(d->strs[idx].s, want, d->strs[idx].len) == 0;
}

static const struct d_location *find_loc(const struct dprof *d, uint64_t id)
{
	size_t i;

	for (i = 0; i < d->nlocs; i++)
		if (d->locs[i].id == id)
			return &d->locs[i];
	return NULL;
}

static const struct d_function *find_func(const struct dprof *d, uint64_t id)
{
	size_t i;

	for (i = 0; i < d->nfuncs; i++)
		if (d->funcs[i].id == id)
			return &d->funcs[i];
	return NULL;
}

/* ---- the small profile ---------------------------------------------------------------- */

#define PC_MAIN		0x401000ull
#define PC_MAIN2	0x401010ull	/* a second call site in main: same Function */
#define PC_WORKER	0x402000ull
#define PC_FOO		0x7f0000001234ull
#define PC_NONAME	0x7f0000005000ull	/* the symbolizer does not know it */
#define PC_ORPHAN	0x900000ull	/* in no mapping */

struct frame {
	uint64_t pc;
	const char *name;
	uint64_t mapping_id;
};

static const struct frame frames[] = {
	{ PC_MAIN, "main", 1 },
	{ PC_MAIN2, "main", 1 },
	{ PC_WORKER, "worker", 1 },
	{ PC_FOO, "foo_alloc", 2 },
	{ PC_NONAME, NULL, 2 },
	{ PC_ORPHAN, "orphan", 0 },
};

#define NFRAMES (sizeof(frames) / sizeof(frames[0]))

static const uint64_t stack1[] = { PC_FOO, PC_WORKER, PC_MAIN };
static const uint64_t stack2[] = { PC_NONAME, PC_WORKER, PC_MAIN };
static const uint64_t stack3[] = { PC_ORPHAN, PC_MAIN2, PC_MAIN };

static const hp_pprof_sample small_samples[] = {
	{ stack1, 3, { 1, 100, 1, 100 } },
	{ stack2, 3, { 2, 4096, 0, 0 } },
	{ stack3, 3, { 3, 300, 3, 300 } },
	{ stack1, 2, { 0, 0, 0, 0 } },	/* all zero: left out */
};

#define NSMALL_KEPT 3

static const hp_pprof_mapping small_maps[] = {
	{ 0x400000, 0x500000, 0x1000, "/usr/bin/app", "abcdef0123" },
	{ 0x7f0000000000, 0x7f0000100000, 0, "/usr/lib/libfoo.so", "" },
};

static const char *const small_comments[] = { "hello", "world" };

#define SMALL_PERIOD 524288
#define SMALL_TIME 1700000000123456789ll
#define SMALL_DURATION 5000000000ll

struct symctx {
	int calls, strays;
};

static const char *small_symbolize(void *ctx, uint64_t addr)
{
	struct symctx *sc = ctx;
	size_t i;

	sc->calls++;
	for (i = 0; i < NFRAMES; i++)
		if (frames[i].pc - 1 == addr)
			return frames[i].name;
	sc->strays++;
	return "stray";
}

static const struct frame *frame_of(uint64_t pc)
{
	size_t i;

	for (i = 0; i < NFRAMES; i++)
		if (frames[i].pc == pc)
			return &frames[i];
	return NULL;
}

static hp_pprof_profile small_profile(struct symctx *sc)
{
	hp_pprof_profile p = {
		.samples = small_samples,
		.nsamples = sizeof(small_samples) / sizeof(small_samples[0]),
		.mappings = small_maps,
		.nmappings = 2,
		.period = SMALL_PERIOD,
		.time_nanos = SMALL_TIME,
		.duration_nanos = SMALL_DURATION,
		.default_sample_type = HP_INUSE_SPACE,
		.comments = small_comments,
		.ncomments = 2,
		.symbolize = sc ? small_symbolize : NULL,
		.symbolize_ctx = sc,
	};
	return p;
}

static void check_header(const struct dprof *d)
{
	static const char *const want[4][2] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
		{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
	};
	int i, good = d->nst == 4;

	for (i = 0; good && i < 4; i++)
		good = str_is(d, d->st[i][0], want[i][0]) && str_is(d, d->st[i][1], want[i][1]);
	ok(good, "sample types are alloc_objects/count alloc_space/bytes inuse_objects/count "
	   "inuse_space/bytes (%zu types)", d->nst);
	ok(str_is(d, d->pt[0], "space") && str_is(d, d->pt[1], "bytes"),
	   "period type is space/bytes");
	ok(d->period == SMALL_PERIOD, "period is %d (got %lld)", SMALL_PERIOD,
	   (long long)d->period);
	ok(str_is(d, d->default_st, "inuse_space"), "default_sample_type names inuse_space");
	ok(d->time_nanos == SMALL_TIME && d->duration_nanos == SMALL_DURATION,
	   "time_nanos and duration_nanos are as given");
	ok(d->ncomments == 2 && str_is(d, d->comments[0], "hello") &&
	   str_is(d, d->comments[1], "world"), "comments are as given");
}

static void check_strings(const struct dprof *d)
{
	size_t i, j;
	int dups = 0;

	ok(d->nstrs > 0 && d->strs[0].len == 0, "string_table[0] is \"\"");
	for (i = 0; i < d->nstrs; i++)
		for (j = i + 1; j < d->nstrs; j++)
			dups += d->strs[i].len == d->strs[j].len &&
				memcmp(d->strs[i].s, d->strs[j].s, d->strs[i].len) == 0;
	ok(dups == 0, "string table has no duplicates (%zu strings, %d dups)", d->nstrs, dups);
}

static void check_mappings(const struct dprof *d, int symbolized)
{
	size_t i;
	int good = d->nmaps == 2;

	for (i = 0; good && i < 2; i++) {
		const struct d_mapping *m = &d->maps[i];
		const hp_pprof_mapping *w = &small_maps[i];

		good = m->id == i + 1 && m->start == w->start && m->limit == w->limit &&
		       m->offset == w->offset && str_is(d, m->file, w->file) &&
		       str_is(d, m->build_id, w->build_id) &&
		       m->has_functions == (uint64_t)symbolized;
	}
	ok(good, "%zu mappings with id, start, limit, offset, filename, build_id, "
	   "has_functions=%d in input order", d->nmaps, symbolized);
}

/* The Location's name as the reader sees it: NULL when it has no Line. */
static int loc_matches(const struct dprof *d, const struct d_location *l, const struct frame *f,
		       int symbolized)
{
	const struct d_function *fn;

	if (!l || l->address != f->pc - 1 || l->mapping_id != f->mapping_id)
		return 0;
	if (!symbolized || !f->name)
		return l->nlines == 0;
	fn = find_func(d, l->function_id);
	return l->nlines == 1 && l->line == 0 && fn && str_is(d, fn->name, f->name) &&
	       fn->system_name == fn->name && fn->filename == 0;
}

static void check_samples(const struct dprof *d, int symbolized)
{
	size_t i, j;
	int good = d->nsamples == NSMALL_KEPT;

	ok(good, "%d samples (the all-zero one left out; got %zu)", NSMALL_KEPT, d->nsamples);
	for (i = 0; good && i < NSMALL_KEPT; i++) {
		const struct d_sample *s = &d->samples[i];
		const hp_pprof_sample *w = &small_samples[i];

		good = s->nloc == w->depth && s->nvalues == 4 &&
		       memcmp(s->values, w->values, sizeof(w->values)) == 0;
		for (j = 0; good && j < s->nloc; j++)
			good = loc_matches(d, find_loc(d, d->locids[s->loc_off + j]),
					   frame_of(w->pcs[j]), symbolized);
	}
	ok(good, "samples carry the values and frames given: address pc-1, mapping by range, "
	   "%s", symbolized ? "Line->Function name, none for the unknown address" : "no Lines");
}

static void check_ids(const struct dprof *d)
{
	size_t i;
	int good = 1;

	for (i = 0; i < d->nlocs; i++)
		good &= d->locs[i].id == i + 1;
	for (i = 0; i < d->nfuncs; i++)
		good &= d->funcs[i].id == i + 1;
	ok(good, "location and function ids are 1..n");
}

static void test_small(uint8_t **pb, size_t *pblen)
{
	struct symctx sc = { 0, 0 };
	hp_pprof_profile p = small_profile(&sc);
	struct dprof d;
	int err;

	err = hp_pprof_encode(&p, pb, pblen);
	if (!ok(err == 0, "encode the small profile (err %d, %zu bytes)", err, *pblen))
		exit(tap_done());
	err = decode(&d, *pb, *pblen);
	ok(err == 0 && d.unknown == 0,
	   "output decodes as a Profile with only the expected fields (unknown %d)", d.unknown);
	check_strings(&d);
	check_header(&d);
	check_mappings(&d, 1);
	ok(d.nlocs == NFRAMES, "locations are shared by address: %zu (got %zu)", NFRAMES, d.nlocs);
	ok(d.nfuncs == 4, "functions are shared by name: 4 (got %zu)", d.nfuncs);
	check_ids(&d);
	check_samples(&d, 1);
	ok(sc.calls == (int)NFRAMES && sc.strays == 0,
	   "symbolizer called once per location with pc-1 (calls %d, strays %d)", sc.calls,
	   sc.strays);
	dprof_free(&d);
}

static void test_small_nosym(void)
{
	hp_pprof_profile p = small_profile(NULL);
	struct dprof d;
	uint8_t *pb = NULL;
	size_t len = 0;
	int err;

	err = hp_pprof_encode(&p, &pb, &len);
	ok(err == 0, "encode without a symbolizer (err %d)", err);
	ok(decode(&d, pb, len) == 0, "and it decodes");
	ok(d.nfuncs == 0 && d.nlocs == NFRAMES, "no symbolizer: %zu locations, no functions",
	   d.nlocs);
	check_mappings(&d, 0);
	check_samples(&d, 0);
	dprof_free(&d);
	free(pb);
}

static void test_invalid(void)
{
	hp_pprof_profile p = small_profile(NULL);
	uint8_t *pb = NULL;
	size_t len = 0;
	hp_pprof_sample bad = { NULL, 3, { 1, 1, 1, 1 } };

	ok(hp_pprof_encode(NULL, &pb, &len) == -EINVAL, "NULL profile: -EINVAL");
	p.default_sample_type = HP_NVALUES;
	ok(hp_pprof_encode(&p, &pb, &len) == -EINVAL, "bad default_sample_type: -EINVAL");
	p.default_sample_type = HP_ALLOC_OBJECTS;
	p.samples = &bad;
	p.nsamples = 1;
	ok(hp_pprof_encode(&p, &pb, &len) == -EINVAL, "sample without pcs: -EINVAL");
	p = (hp_pprof_profile){ .default_sample_type = HP_ALLOC_SPACE };
	ok(hp_pprof_encode(&p, &pb, &len) == 0 && len > 0, "an empty profile encodes");
	free(pb);
}

/* ---- go tool pprof -------------------------------------------------------------------- */

/* Runs a shell command, capturing stdout (and stderr into tmpdir/stderr); returns the
 * exit status, or -1. */
static int run(const char *cmd, char **out)
{
	char full[1024], buf[4096];
	size_t len = 0, cap = 0, n;
	FILE *f;
	int st;

	snprintf(full, sizeof(full), "%s 2>'%s/stderr'", cmd, tmpdir);
	*out = xgrow(NULL, &cap, 0, 1);
	**out = 0;
	f = popen(full, "r");
	if (!f)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		while (len + n + 1 > cap)
			*out = xgrow(*out, &cap, cap, 1);
		memcpy(*out + len, buf, n);
		len += n;
	}
	(*out)[len] = 0;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void diag_stderr(void)
{
	char path[300], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/stderr", tmpdir);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		diag("stderr: %s", strtok(line, "\n") ? line : "");
	if (f)
		fclose(f);
}

static const char *go_cmd(void)
{
	const char *go = getenv("GO");

	return go && *go ? go : "go";
}

static int have_go_pprof(void)
{
	char cmd[300], *out;
	int st;

	snprintf(cmd, sizeof(cmd), "%s tool -n pprof", go_cmd());
	st = run(cmd, &out);
	free(out);
	return st == 0;
}

struct raw_loc {
	unsigned long id;
	unsigned long long addr;
	char name[64];
};

/* Parses "     3: 0x400fff M=1 main :0 s=0" (the name is absent when unknown). */
static int parse_raw_loc(const char *line, struct raw_loc *l)
{
	char rest[256] = "";
	int n = sscanf(line, " %lu: 0x%llx %255[^\n]", &l->id, &l->addr, rest);
	char *tok, *save;

	if (n < 2)
		return 0;
	l->name[0] = 0;
	for (tok = strtok_r(rest, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (strncmp(tok, "M=", 2) != 0) {
			snprintf(l->name, sizeof(l->name), "%s", tok);
			break;
		}
	}
	return 1;
}

static const struct raw_loc *raw_find(const struct raw_loc *v, size_t n, unsigned long id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].id == id)
			return &v[i];
	return NULL;
}

/* A -raw sample line "  1  100  1  100: 1 2 3 " against the expected sample. */
static int raw_sample_matches(const char *line, const hp_pprof_sample *w,
			      const struct raw_loc *locs, size_t nlocs)
{
	long long v[4];
	const char *p = strchr(line, ':');
	const struct raw_loc *l;
	unsigned long id;
	uint32_t j;
	int used;

	if (!p || sscanf(line, "%lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3]) != 4)
		return 0;
	for (j = 0; j < 4; j++)
		if (v[j] != w->values[j])
			return 0;
	for (p++, j = 0; j < w->depth; j++, p += used) {
		if (sscanf(p, "%lu%n", &id, &used) != 1 || !(l = raw_find(locs, nlocs, id)))
			return 0;
		if (l->addr != w->pcs[j] - 1 ||
		    strcmp(l->name, frame_of(w->pcs[j])->name ? frame_of(w->pcs[j])->name : ""))
			return 0;
	}
	return sscanf(p, "%lu", &id) != 1;	/* no extra frames */
}

static void check_raw(char *out)
{
	struct raw_loc locs[32];
	size_t nlocs = 0, i, j, found = 0;
	char *line, *save, *lines[64];
	size_t nlines = 0;
	int in_locs = 0;

	for (line = strtok_r(out, "\n", &save); line && nlines < 64;
	     line = strtok_r(NULL, "\n", &save)) {
		lines[nlines++] = line;
		if (!strncmp(line, "Locations", 9) || !strncmp(line, "Mappings", 8))
			in_locs = line[0] == 'L';
		else if (in_locs && nlocs < 32 && parse_raw_loc(line, &locs[nlocs]))
			nlocs++;
	}
	ok(nlocs == NFRAMES, "pprof -raw lists %zu locations (got %zu)", NFRAMES, nlocs);
	for (i = 0; i < NSMALL_KEPT; i++)
		for (j = 0; j < nlines; j++)
			if (raw_sample_matches(lines[j], &small_samples[i], locs, nlocs)) {
				found++;
				break;
			}
	ok(found == NSMALL_KEPT, "pprof -raw shows all %d samples with their values, addresses "
	   "and function names (matched %zu)", NSMALL_KEPT, found);
}

/* Finds the -top row for name; flat and cum as printed (e.g. "4096B"). */
static int top_row(const char *out, const char *name, const char *flat, const char *cum)
{
	char f[32], fp[32], sp[32], c[32], cp[32], n[128];
	const char *line;

	for (line = out; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (sscanf(line, "%31s %31s %31s %31s %31s %127s", f, fp, sp, c, cp, n) == 6 &&
		    !strcmp(n, name))
			return !strcmp(f, flat) && !strcmp(c, cum);
	}
	return 0;
}

static void test_go_pprof(const uint8_t *pb, size_t len)
{
	char path[300], cmd[700], *out;
	int st, good;

	if (!ok(have_go_pprof(), "go tool pprof is available")) {
		diag("go tool pprof is required for this test: run the setup in the README "
		     "(apt-get install golang-go), or set GO to the go binary");
		return;
	}
	snprintf(path, sizeof(path), "%s/heap.pb.gz", tmpdir);
	ok(write_gz(path, pb, len, 6) == 0, "write the gzip'd profile to a file");
	/* pprof wants a writable home for its settings and saved profiles */
	setenv("HOME", tmpdir, 1);
	setenv("PPROF_TMPDIR", tmpdir, 1);

	snprintf(cmd, sizeof(cmd), "%s tool pprof -raw '%s'", go_cmd(), path);
	st = run(cmd, &out);
	if (!ok(st == 0, "go tool pprof -raw exits 0 (%d)", st))
		diag_stderr();
	ok(strstr(out, "inuse_space/bytes[dflt]") && strstr(out, "Period: 524288") &&
	   strstr(out, "PeriodType: space bytes"), "pprof -raw shows default type and period");
	check_raw(out);
	free(out);

	snprintf(cmd, sizeof(cmd), "%s tool pprof -top -sample_index=alloc_space '%s'", go_cmd(),
		 path);
	st = run(cmd, &out);
	if (!ok(st == 0, "go tool pprof -top -sample_index=alloc_space exits 0 (%d)", st))
		diag_stderr();
	ok(strstr(out, "Type: alloc_space") != NULL, "pprof -top reports Type: alloc_space");
	good = top_row(out, "foo_alloc", "100B", "100B") && top_row(out, "orphan", "300B", "300B") &&
	       top_row(out, "worker", "0", "4196B") && top_row(out, "main", "0", "4496B");
	if (!ok(good, "pprof -top: foo_alloc 100B, orphan 300B flat; worker 4196B, main 4496B cum"))
		diag("pprof -top output:\n%s", out);
	free(out);
}

/* ---- 100k stacks ---------------------------------------------------------------------- */

#define BIG_N 100000
#define BIG_DEPTH 64
#define BIG_POOL 65536		/* distinct call sites */
#define BIG_PER_FUNC 4		/* call sites per function */
#define BIG_BASE 0x400000ull
#define BIG_STRIDE 64

static char big_names[BIG_POOL / BIG_PER_FUNC][16];

static const char *big_symbolize(void *ctx, uint64_t addr)
{
	uint64_t k = (addr + 1 - BIG_BASE) / BIG_STRIDE;

	(void)ctx;
	return k < BIG_POOL ? big_names[k / BIG_PER_FUNC] : NULL;
}

struct big {
	uint64_t *pcs;
	hp_pprof_sample *samples;
	uint8_t *used;		/* which pool entries some stack uses */
	size_t nused, nfuncs;
};

static void big_make(struct big *b)
{
	size_t i, j, k;
	uint8_t fused[BIG_POOL / BIG_PER_FUNC] = { 0 };

	b->pcs = malloc(sizeof(*b->pcs) * BIG_N * BIG_DEPTH);
	b->samples = calloc(BIG_N, sizeof(*b->samples));
	b->used = calloc(BIG_POOL, 1);
	b->nused = b->nfuncs = 0;
	for (i = 0; i < BIG_POOL / BIG_PER_FUNC; i++)
		snprintf(big_names[i], sizeof(big_names[i]), "fn_%05zu", i);
	for (i = 0; i < BIG_N; i++) {
		for (j = 0; j < BIG_DEPTH; j++) {
			k = rng() % BIG_POOL;
			b->pcs[i * BIG_DEPTH + j] = BIG_BASE + k * BIG_STRIDE + 5;
			b->nused += !b->used[k];
			b->nfuncs += !fused[k / BIG_PER_FUNC];
			b->used[k] = fused[k / BIG_PER_FUNC] = 1;
		}
		b->samples[i] = (hp_pprof_sample){ &b->pcs[i * BIG_DEPTH], BIG_DEPTH,
			{ 1, (int64_t)i + 1, (int64_t)(i & 1), (int64_t)(i & 1) * ((int64_t)i + 1) } };
	}
}

/* Every frame of every sample resolves to the Location at pc - 1 (ids are 1..n, checked). */
static int big_frames_ok(const struct dprof *d, const struct big *b)
{
	size_t i, j;
	uint64_t id;

	for (i = 0; i < d->nsamples; i++) {
		if (d->samples[i].nloc != BIG_DEPTH || d->samples[i].values[1] != (int64_t)i + 1)
			return 0;
		for (j = 0; j < BIG_DEPTH; j++) {
			id = d->locids[d->samples[i].loc_off + j];
			if (!id || id > d->nlocs ||
			    d->locs[id - 1].address != b->pcs[i * BIG_DEPTH + j] - 1)
				return 0;
		}
	}
	return 1;
}

static void big_gzip_time(const uint8_t *pb, size_t len)
{
	char path[300];
	double t0, t1;
	int err;

	snprintf(path, sizeof(path), "%s/big.pb.gz", tmpdir);
	t0 = now_ms();
	err = write_gz(path, pb, len, 6);
	t1 = now_ms();
	ok(err == 0, "gzip the big profile to a file (err %d)", err);
	diag("gzip level 6 of %.1f MB: %.1f ms", len / 1e6, t1 - t0);
	unlink(path);
}

static void test_big(void)
{
	hp_pprof_mapping map = { BIG_BASE, BIG_BASE + BIG_POOL * BIG_STRIDE, 0, "/usr/bin/big", "" };
	hp_pprof_profile p = { .mappings = &map, .nmappings = 1, .period = 524288,
			       .default_sample_type = HP_INUSE_SPACE, .symbolize = big_symbolize };
	struct big b;
	struct dprof d;
	uint8_t *pb = NULL;
	size_t len = 0, i;
	double t0, t1;
	int err, ids = 1;

	big_make(&b);
	p.samples = b.samples;
	p.nsamples = BIG_N;
	t0 = now_ms();
	err = hp_pprof_encode(&p, &pb, &len);
	t1 = now_ms();
	ok(err == 0, "encode %d stacks of depth %d (err %d)", BIG_N, BIG_DEPTH, err);
	diag("encode of %d stacks x %d frames (%zu locations, %zu functions): %.1f ms, %.1f MB",
	     BIG_N, BIG_DEPTH, b.nused, b.nfuncs, t1 - t0, len / 1e6);
	err = decode(&d, pb, len);
	ok(err == 0 && d.nsamples == BIG_N, "big profile decodes to %d samples (got %zu)", BIG_N,
	   d.nsamples);
	for (i = 0; i < d.nlocs; i++)
		ids &= d.locs[i].id == i + 1 && d.locs[i].nlines == 1 && d.locs[i].mapping_id == 1;
	ok(ids && d.nlocs == b.nused && d.nfuncs == b.nfuncs,
	   "big profile: %zu locations, %zu functions, each location mapped and named",
	   d.nlocs, d.nfuncs);
	ok(big_frames_ok(&d, &b), "big profile: every frame is the location at pc-1");
	big_gzip_time(pb, len);
	dprof_free(&d);
	free(pb);
	free(b.pcs);
	free(b.samples);
	free(b.used);
}

int main(void)
{
	uint8_t *pb = NULL;
	size_t len = 0;

	make_tmpdir();
	test_gz();
	test_small(&pb, &len);
	test_small_nosym();
	test_invalid();
	test_go_pprof(pb, len);
	free(pb);
	test_big();
	nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
