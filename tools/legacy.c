/* tools/legacy.c: the legacy gperftools heap profile text format, read and written.
 *
 * Writing follows gperftools' heap-profile-table.cc and the heap_v2 header of its
 * sampled heap profiles, so that google-pprof, jeprof and go tool pprof all read the
 * result and agree on it:
 *   - the figures are the raw sampled ones; every reader unbiases an "n: b" pair with
 *     scale = 1 / (1 - exp(-(b/n) / rate)) (go's scaleHeapSample, the perl AdjustSamples
 *     of google-pprof and jeprof). Our profiles hold unbiased estimates: the objects are
 *     divided by the scale of their average size and rounded, and the bytes are those
 *     that this whole number of objects unbiases back to (hp_text_raw_pair,
 *     lib/textprof.h, shared with the library's own text writer);
 *   - a profile at rate 1 (every allocation recorded) is written with gperftools' own
 *     "@ heapprofile" header, which no reader scales: the perl readers would scale
 *     "heap_v2/1" by 1/(1 - exp(-average size)) (1.58 for 1-byte objects) and die on a
 *     zero-size object, go would not scale it;
 *   - addresses are return addresses, as gperftools records them: our locations hold
 *     return address - 1, so 1 is added back (go subtracts 1 from every frame of a heap
 *     profile, the perl readers from all but the first).
 *
 * Reading accepts that format (headers "@ heap_v2/RATE", "@ heapz_v2/RATE" and
 * "@ heapprofile") and jemalloc's dumps as jeprof reads them ("heap_v2/RATE", a "@ ..."
 * line per stack followed by its "t*:" totals and per-thread "tN:" lines). The input is
 * untrusted: every line is checked and the first bad one is reported by number. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "legacy.h"
#include "textprof.h"

/* The four sample types in the order the library writes them. */
enum { T_ALLOC_OBJECTS, T_ALLOC_SPACE, T_INUSE_OBJECTS, T_INUSE_SPACE, NTYPES };

static const pf_value_type heap_types[NTYPES] = {
	{ "alloc_objects", "count" },
	{ "alloc_space", "bytes" },
	{ "inuse_objects", "count" },
	{ "inuse_space", "bytes" },
};

int lg_is_text(const uint8_t *buf, size_t len)
{
	return (len >= 13 && memcmp(buf, "heap profile:", 13) == 0) ||
	       (len >= 8 && memcmp(buf, "heap_v2/", 8) == 0);
}

/* --- writing --------------------------------------------------------------------------- */

/* The arithmetic (the scale readers unbias with, the raw pair written for an unbiased
 * one) is shared with the library's writer (lib/textprof.c, HEAPPROF=format=text): see
 * lib/textprof.h. */

/* The index of each heap sample type in p, or -1 with the reason in err. */
static int find_types(const pf_profile *p, int idx[NTYPES], char *err, size_t errlen)
{
	for (int t = 0; t < NTYPES; t++) {
		idx[t] = -1;
		for (size_t i = 0; i < p->ntypes; i++)
			if (strcmp(p->sample_types[i].type, heap_types[t].type) == 0)
				idx[t] = (int)i;
		if (idx[t] < 0) {
			snprintf(err, errlen, "not a heap profile: no sample type %s (the text "
				 "format needs alloc_objects, alloc_space, inuse_objects and "
				 "inuse_space)", heap_types[t].type);
			return -1;
		}
	}
	return 0;
}

/* Sample i's raw line figures in the file's order: in use objects, bytes, then allocated
 * objects, bytes. -1 with the reason for a negative value. */
static int sample_raw(const pf_profile *p, size_t i, const int idx[NTYPES], int64_t rate,
		      int64_t raw[4], char *err, size_t errlen)
{
	const int64_t *v = p->samples[i].values;

	for (int t = 0; t < NTYPES; t++) {
		if (v[idx[t]] < 0) {
			snprintf(err, errlen, "sample %zu has a negative %s, which the text "
				 "format cannot hold", i + 1, heap_types[t].type);
			return -1;
		}
		if (v[idx[t]] > HP_TEXT_MAX) {	/* also keeps llround in hp_text_raw_pair in range */
			snprintf(err, errlen, "sample %zu's %s is too large for the text format",
				 i + 1, heap_types[t].type);
			return -1;
		}
	}
	hp_text_raw_pair(v[idx[T_INUSE_OBJECTS]], v[idx[T_INUSE_SPACE]], rate, raw);
	hp_text_raw_pair(v[idx[T_ALLOC_OBJECTS]], v[idx[T_ALLOC_SPACE]], rate, raw + 2);
	if (!hp_text_unbiases(raw[0], raw[1], rate) ||
	    !hp_text_unbiases(raw[2], raw[3], rate)) {
		snprintf(err, errlen, "sample %zu's figures are too large for the text format "
			 "(a reader could not unbias them)", i + 1);
		return -1;
	}
	return 0;
}

/* Checks what the format cannot express: frames without an address, paths with a
 * newline. */
static int check_writable(const pf_profile *p, char *err, size_t errlen)
{
	for (size_t i = 0; i < p->nlocations; i++)
		if (p->locations[i].address == 0) {
			snprintf(err, errlen, "location %" PRIu64 " has no address: the text "
				 "format names frames by address only", p->locations[i].id);
			return -1;
		}
	for (size_t i = 0; i < p->nmappings; i++)
		if (strchr(p->mappings[i].filename, '\n')) {
			snprintf(err, errlen, "mapping %" PRIu64 " has a newline in its path",
				 p->mappings[i].id);
			return -1;
		}
	return 0;
}

/* The header line: the totals of the raw figures, then the sampling. */
static int write_header(const pf_profile *p, const int idx[NTYPES], int64_t rate, FILE *f,
			char *err, size_t errlen)
{
	int64_t tot[4] = { 0, 0, 0, 0 }, raw[4];

	for (size_t i = 0; i < p->nsamples; i++) {
		if (sample_raw(p, i, idx, rate, raw, err, errlen))
			return -1;
		for (int k = 0; k < 4; k++)
			if (__builtin_add_overflow(tot[k], raw[k], &tot[k])) {
				snprintf(err, errlen, "the totals are too large for the text "
					 "format");
				return -1;
			}
	}
	fprintf(f, "heap profile: %6" PRId64 ": %8" PRId64 " [%6" PRId64 ": %8" PRId64 "] @ ",
		tot[0], tot[1], tot[2], tot[3]);
	if (rate > 1)
		fprintf(f, "heap_v2/%" PRId64 "\n", rate);
	else
		fputs("heapprofile\n", f);
	return 0;
}

/* One line per sample with anything to show, the stack as return addresses. */
static void write_samples(const pf_profile *p, const int idx[NTYPES], int64_t rate, FILE *f)
{
	int64_t raw[4];
	char err[8];

	for (size_t i = 0; i < p->nsamples; i++) {
		const pf_sample *s = &p->samples[i];
		sample_raw(p, i, idx, rate, raw, err, sizeof(err));	/* checked before */
		if (!raw[0] && !raw[1] && !raw[2] && !raw[3])
			continue;
		fprintf(f, "%6" PRId64 ": %8" PRId64 " [%6" PRId64 ": %8" PRId64 "] @", raw[0],
			raw[1], raw[2], raw[3]);
		for (size_t j = 0; j < s->nlocs; j++) {
			uint64_t a = s->locs[j]->address;
			fprintf(f, " 0x%08" PRIx64, a == UINT64_MAX ? a : a + 1);
		}
		fputc('\n', f);
	}
}

/* The mappings as /proc/self/maps lines (all executable; those without a path are left
 * out: no reader can use them). */
static void write_maps(const pf_profile *p, FILE *f)
{
	fputs("\nMAPPED_LIBRARIES:\n", f);
	for (size_t i = 0; i < p->nmappings; i++) {
		const pf_mapping *m = &p->mappings[i];
		/* What the reader would refuse (or a name that would break the line) is not
		 * written: its frames stay plain addresses. */
		if (!m->filename[0] || m->limit <= m->start || strpbrk(m->filename, "\r\n"))
			continue;
		fprintf(f, "%08" PRIx64 "-%08" PRIx64 " r-xp %08" PRIx64 " 00:00 0 %s\n",
			m->start, m->limit, m->offset, m->filename);
	}
}

int lg_write(const pf_profile *p, FILE *f, char *err, size_t errlen)
{
	int idx[NTYPES];
	int64_t rate = p->period > 1 ? p->period : 1;

	if (find_types(p, idx, err, errlen) || check_writable(p, err, errlen) ||
	    write_header(p, idx, rate, f, err, errlen))
		return -1;
	write_samples(p, idx, rate, f);
	write_maps(p, f);
	return 0;
}

/* --- reading: lines and tokens --------------------------------------------------------- */

typedef struct raw_sample {
	size_t first, n;	/* its addresses: addrs[first .. first + n) */
	int64_t v[4];		/* in use objects, bytes, allocated objects, bytes (raw) */
	size_t line;		/* where it starts (jemalloc: its "@" line) */
	int has_counts;		/* jemalloc: its "t*:" line was seen */
} raw_sample;

typedef struct raw_map {
	uint64_t start, limit, offset;
	char *path;		/* in the text copy */
} raw_map;

typedef struct rd {
	char *text, *pos, *end;	/* NUL-terminated copy of the input; lines cut in place */
	size_t line;		/* number of the line last returned */
	char *err;
	size_t errlen;
	int jemalloc;		/* jemalloc's layout rather than gperftools' */
	int scaled;		/* heap_v2: figures are sampled at rate */
	int64_t rate;
	char kind[32];		/* the header's type, for the comment */
	raw_sample *samples;
	size_t nsamples, capsamples;
	uint64_t *addrs;
	size_t naddrs, capaddrs;
	raw_map *maps;
	size_t nmaps, capmaps;
} rd;

/* Reports "line N: what is wrong" for the current line; returns -1. */
__attribute__((format(printf, 2, 3)))
static int bad(rd *r, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->err, r->errlen, "line %zu: ", r->line);

	if (n >= 0 && (size_t)n < r->errlen) {
		va_start(ap, fmt);
		vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Room for one more element in a growable array; -1 when out of memory. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 64;
	void *nv = c > SIZE_MAX / size ? NULL : realloc(*v, c * size);
	if (!nv)
		return -1;
	*v = nv;
	*cap = c;
	return 0;
}

/* The next line, NUL-terminated, without its "\n" or "\r\n"; NULL at the end. */
static char *next_line(rd *r)
{
	if (r->pos >= r->end)
		return NULL;
	char *l = r->pos, *nl = memchr(l, '\n', (size_t)(r->end - l));
	char *e = nl ? nl : r->end;

	r->pos = nl ? nl + 1 : r->end;
	if (e > l && e[-1] == '\r')
		e--;
	*e = '\0';
	r->line++;
	return l;
}

/* s past any spaces and tabs. */
static const char *skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* A character for an error message: itself in quotes if printable, else its code. */
static const char *shown(char c, char buf[16])
{
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, 16, "'%c'", c);
	else
		snprintf(buf, 16, "byte 0x%02x", (unsigned char)c);
	return buf;
}

/* A decimal integer in [0, INT64_MAX] after optional blanks; what names it in errors. */
static int num(rd *r, const char **sp, int64_t *v, const char *what)
{
	const char *s = skip_blanks(*sp);
	uint64_t x = 0;
	char b[16];

	if (*s < '0' || *s > '9')
		return bad(r, "expected %s, found %s", what,
			   *s ? shown(*s, b) : "the end of the line");
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > ((uint64_t)INT64_MAX - (uint64_t)(*s - '0')) / 10)
			return bad(r, "%s out of range", what);
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = (int64_t)x;
	*sp = s;
	return 0;
}

/* The value of hexadecimal digit c, or -1. */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A hexadecimal number of at most 64 bits (digits only, no prefix). */
static int hexnum(rd *r, const char **sp, uint64_t *v, const char *what)
{
	const char *s = *sp;
	uint64_t x = 0;
	int digits = 0;

	for (;; s++, digits++) {
		int d = hexval(*s);
		if (d < 0)
			break;
		if (x >> 60)
			return bad(r, "%s out of range", what);
		x = x << 4 | (uint64_t)d;
	}
	if (!digits)
		return bad(r, "expected %s", what);
	*v = x;
	*sp = s;
	return 0;
}

/* The character c after optional blanks. */
static int expect(rd *r, const char **sp, char c, const char *where)
{
	const char *s = skip_blanks(*sp);

	if (*s != c)
		return bad(r, "expected '%c' %s", c, where);
	*sp = s + 1;
	return 0;
}

/* "objects: bytes [objects: bytes]": in use, then allocated, into v. Objects without
 * bytes are fine (zero-size), bytes without objects are not. */
static int counts(rd *r, const char **sp, int64_t v[4])
{
	if (num(r, sp, &v[0], "the in-use object count") ||
	    expect(r, sp, ':', "after the in-use object count") ||
	    num(r, sp, &v[1], "the in-use byte count") ||
	    expect(r, sp, '[', "before the allocated figures") ||
	    num(r, sp, &v[2], "the allocated object count") ||
	    expect(r, sp, ':', "after the allocated object count") ||
	    num(r, sp, &v[3], "the allocated byte count") ||
	    expect(r, sp, ']', "after the allocated figures"))
		return -1;
	if (v[0] == 0 && v[1] != 0)
		return bad(r, "%" PRId64 " bytes in use by 0 objects", v[1]);
	if (v[2] == 0 && v[3] != 0)
		return bad(r, "%" PRId64 " bytes allocated by 0 objects", v[3]);
	return 0;
}

/* "0xADDR 0xADDR ..." to the end of the line, appended to r->addrs; sets *n. */
static int addresses(rd *r, const char *s, size_t *n)
{
	char b[16];

	*n = 0;
	for (s = skip_blanks(s); *s; s = skip_blanks(s)) {
		uint64_t a;
		if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
			return bad(r, "expected a 0x address in the stack");
		s += 2;
		if (hexnum(r, &s, &a, "a hexadecimal address"))
			return -1;
		if (*s && *s != ' ' && *s != '\t')
			return bad(r, "bad character %s in an address", shown(*s, b));
		if (grow((void **)&r->addrs, &r->capaddrs, r->naddrs, sizeof(*r->addrs)))
			return bad(r, "out of memory");
		r->addrs[r->naddrs++] = a;
		(*n)++;
	}
	return 0;
}

/* A new sample starting at the current line; NULL when out of memory (reported). */
static raw_sample *new_sample(rd *r)
{
	if (grow((void **)&r->samples, &r->capsamples, r->nsamples, sizeof(*r->samples))) {
		bad(r, "out of memory");
		return NULL;
	}
	raw_sample *s = &r->samples[r->nsamples++];
	memset(s, 0, sizeof(*s));
	s->first = r->naddrs;
	s->line = r->line;
	return s;
}

/* --- reading: the sections ------------------------------------------------------------- */

/* The sampling rate after "/" to the end of the line (blanks allowed). */
static int rate_to_end(rd *r, const char *s)
{
	if (num(r, &s, &r->rate, "the sampling rate after '/'"))
		return -1;
	if (r->rate == 0)
		return bad(r, "sampling rate 0");
	if (*skip_blanks(s))
		return bad(r, "unexpected text after the sampling rate");
	return 0;
}

/* gperftools' header: "heap profile: n: b [n: b] @ TYPE[/RATE]". */
static int gperf_header(rd *r, const char *l)
{
	const char *s = l + 13, *t;
	int64_t tot[4];
	size_t n;

	if (counts(r, &s, tot) || expect(r, &s, '@', "before the profile type"))
		return -1;
	s = skip_blanks(s);
	for (t = s; (*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '_'; t++)
		;
	n = (size_t)(t - s);
	if (n == 0)
		return bad(r, "no profile type after '@'");
	snprintf(r->kind, sizeof(r->kind), "%.*s", (int)(n < 20 ? n : 20), s);
	if (strcmp(r->kind, "heap_v2") == 0 || strcmp(r->kind, "heapz_v2") == 0) {
		r->scaled = 1;
		if (*t != '/')
			return bad(r, "%s without a sampling rate ('/RATE')", r->kind);
		return rate_to_end(r, t + 1);
	}
	if (strcmp(r->kind, "heapprofile") == 0) {
		r->rate = 1;
		return *skip_blanks(t) ? bad(r, "unexpected text after 'heapprofile'") : 0;
	}
	return bad(r, "unsupported profile type '%s' (heap_v2, heapz_v2 and heapprofile "
		   "are read)", r->kind);
}

/* A gperftools sample line: "n: b [n: b] @ 0xADDR ...". */
static int gperf_sample(rd *r, const char *s)
{
	raw_sample *smp = new_sample(r);

	if (!smp || counts(r, &s, smp->v) ||
	    expect(r, &s, '@', "between the figures and the stack"))
		return -1;
	smp->has_counts = 1;
	return addresses(r, s, &smp->n);
}

/* A jemalloc "t*:" or "tN:" line (s after the 't'): the totals of the current stack, or
 * before the first stack the whole profile's (ignored, as jeprof does). Thread lines may
 * end with the thread's name. */
static int jemalloc_counts(rd *r, const char *s)
{
	int64_t v[4], thread;
	raw_sample *cur = r->nsamples ? &r->samples[r->nsamples - 1] : NULL;
	int total = *s == '*';

	if (total)
		s++;
	else if (num(r, &s, &thread, "a thread number after 't'"))
		return -1;
	if (expect(r, &s, ':', "after the thread") || counts(r, &s, v))
		return -1;
	if (total && *skip_blanks(s))
		return bad(r, "unexpected text after the figures");
	if (!total || !cur)
		return 0;
	if (cur->has_counts)
		return bad(r, "a second 't*:' line for the stack of line %zu", cur->line);
	memcpy(cur->v, v, sizeof(v));
	cur->has_counts = 1;
	return 0;
}

/* The stack of the last sample got its "t*:" line. */
static int jemalloc_check_last(rd *r)
{
	if (r->nsamples && !r->samples[r->nsamples - 1].has_counts) {
		r->line = r->samples[r->nsamples - 1].line;
		return bad(r, "stack without a 't*:' line");
	}
	return 0;
}

/* A jemalloc body line: "@ 0xADDR ...", "t*: ..." or "tN: ...". */
static int jemalloc_line(rd *r, const char *s)
{
	if (*s == '@') {
		if (jemalloc_check_last(r))
			return -1;
		raw_sample *smp = new_sample(r);
		return smp ? addresses(r, s + 1, &smp->n) : -1;
	}
	if (*s == 't')
		return jemalloc_counts(r, s + 1);
	return bad(r, "expected a stack ('@ 0x...') or figures ('t*: ...')");
}

/* The lines that start the memory map (gperftools writes the first, older tools the
 * second). */
static int is_maps_sentinel(const char *s)
{
	return strcmp(s, "MAPPED_LIBRARIES:") == 0 || strcmp(s, "--- Memory map: ---") == 0;
}

/* A /proc/self/maps line: "start-limit perms offset major:minor inode [path]". Keeps
 * executable mappings of files named by an absolute path. */
static int maps_line(rd *r, char *l)
{
	const char *s = skip_blanks(l);
	uint64_t start, limit, offset, dev;
	int64_t inode;
	char perms[5];

	if (hexnum(r, &s, &start, "the start address of a mapping") ||
	    expect(r, &s, '-', "between the start and the end of the mapping") ||
	    hexnum(r, &s, &limit, "the end address of a mapping"))
		return -1;
	if (limit <= start)
		return bad(r, "mapping ends at or before its start");
	s = skip_blanks(s);
	for (int i = 0; i < 4; i++, s++) {
		if (!*s || !strchr("rwxsp-", *s))
			return bad(r, "bad permissions in a mapping (want e.g. 'r-xp')");
		perms[i] = *s;
	}
	perms[4] = '\0';
	s = skip_blanks(s);
	if (hexnum(r, &s, &offset, "the file offset of a mapping"))
		return -1;
	s = skip_blanks(s);
	if (hexnum(r, &s, &dev, "the device of a mapping") ||
	    expect(r, &s, ':', "in the device of a mapping") ||
	    hexnum(r, &s, &dev, "the device of a mapping") ||
	    num(r, &s, &inode, "the inode of a mapping"))
		return -1;
	if (*s && *s != ' ' && *s != '\t')
		return bad(r, "expected the path after the inode of a mapping");
	char *path = (char *)skip_blanks(s), *e = path + strlen(path);
	while (e > path && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	if (perms[2] != 'x' || path[0] != '/')
		return 0;
	if (grow((void **)&r->maps, &r->capmaps, r->nmaps, sizeof(*r->maps)))
		return bad(r, "out of memory");
	r->maps[r->nmaps++] = (raw_map){ start, limit, offset, path };
	return 0;
}

/* Everything after the header: samples, then the memory map. */
static int body(rd *r)
{
	char *l;
	int in_maps = 0;

	while ((l = next_line(r))) {
		const char *s = skip_blanks(l);
		if (in_maps) {
			if (*s && maps_line(r, l))
				return -1;
		} else if (is_maps_sentinel(s)) {
			in_maps = 1;
		} else if (*s == '\0' || *s == '#') {
			continue;
		} else if (r->jemalloc ? jemalloc_line(r, s) : gperf_sample(r, s)) {
			return -1;
		}
	}
	return r->jemalloc ? jemalloc_check_last(r) : 0;
}

/* The first line: gperftools' or jemalloc's header. */
static int header(rd *r)
{
	char *l = next_line(r);

	if (l && strncmp(l, "heap profile:", 13) == 0)
		return gperf_header(r, l);
	if (l && strncmp(l, "heap_v2/", 8) == 0) {
		r->jemalloc = r->scaled = 1;
		snprintf(r->kind, sizeof(r->kind), "heap_v2");
		return rate_to_end(r, l + 8);
	}
	return bad(r, "not a heap profile header");
}

/* --- reading: the profile ------------------------------------------------------------- */

/* Unbiases a raw pair in place as go's scaleHeapSample does (truncating). */
static int unbias(rd *r, int64_t *n, int64_t *b)
{
	if (!r->scaled || r->rate <= 1)
		return 0;
	if (*n == 0 || *b == 0) {
		*n = *b = 0;
		return 0;
	}
	double s = hp_text_scale((double)*b / (double)*n, r->rate);
	double nn = (double)*n * s, bb = (double)*b * s;
	if (!(nn < 9.2e18 && bb < 9.2e18))
		return bad(r, "figures too large once unbiased at rate %" PRId64, r->rate);
	*n = (int64_t)nn;
	*b = (int64_t)bb;
	return 0;
}

/* qsort order of mappings: by start address. */
static int cmp_map(const void *a, const void *b)
{
	const raw_map *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The id of the mapping holding addr (the maps sorted by start, ids 1..n), or 0. */
static uint64_t map_of(const rd *r, uint64_t addr)
{
	size_t lo = 0, hi = r->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->maps[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && addr < r->maps[lo - 1].limit ? lo : 0;
}

/* The kept mappings, sorted by start and numbered 1..n in that order. */
static int build_mappings(rd *r, pf_profile *p)
{
	if (r->nmaps)
		qsort(r->maps, r->nmaps, sizeof(*r->maps), cmp_map);
	p->mappings = pf_alloc(p, r->nmaps, sizeof(*p->mappings));
	if (!p->mappings)
		return -1;
	for (size_t i = 0; i < r->nmaps; i++) {
		pf_mapping *m = &p->mappings[i];
		m->id = i + 1;
		m->start = r->maps[i].start;
		m->limit = r->maps[i].limit;
		m->offset = r->maps[i].offset;
		m->build_id = "";
		if (!(m->filename = pf_strdup(p, r->maps[i].path)))
			return -1;
	}
	p->nmappings = r->nmaps;
	return 0;
}

/* A 64-bit mix (murmur3's finalizer) for the address table. */
static uint64_t hash_addr(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdull;
	return a ^ (a >> 33);
}

/* One location per distinct address (return address - 1, as go's reader makes it); each
 * entry of r->addrs is replaced by its location id. */
static int build_locations(rd *r, pf_profile *p)
{
	size_t cap = 16;

	while (cap < 2 * r->naddrs)
		cap *= 2;
	uint64_t *keys = calloc(cap, sizeof(*keys)), *ids = calloc(cap, sizeof(*ids));
	p->locations = pf_alloc(p, r->naddrs, sizeof(*p->locations));
	if (!keys || !ids || !p->locations) {
		free(keys);
		free(ids);
		return -1;
	}
	for (size_t i = 0; i < r->naddrs; i++) {
		uint64_t a = r->addrs[i] ? r->addrs[i] - 1 : 0;
		size_t h = (size_t)hash_addr(a) & (cap - 1);
		while (ids[h] && keys[h] != a)
			h = (h + 1) & (cap - 1);
		if (!ids[h]) {
			pf_location *loc = &p->locations[p->nlocations++];
			loc->id = p->nlocations;
			loc->address = a;
			loc->mapping_id = map_of(r, a);
			keys[h] = a;
			ids[h] = loc->id;
		}
		r->addrs[i] = ids[h];
	}
	free(keys);
	free(ids);
	return 0;
}

/* The samples with their unbiased values; raw samples that are all zero are dropped. */
static int build_samples(rd *r, pf_profile *p)
{
	p->samples = pf_alloc(p, r->nsamples, sizeof(*p->samples));
	if (!p->samples)
		return -1;
	for (size_t i = 0; i < r->nsamples; i++) {
		raw_sample *rs = &r->samples[i];
		pf_sample *s = &p->samples[p->nsamples];
		s->values = pf_alloc(p, NTYPES, sizeof(*s->values));
		s->location_ids = pf_alloc(p, rs->n, sizeof(*s->location_ids));
		if (!s->values || !s->location_ids)
			return -1;
		if (rs->n)
			memcpy(s->location_ids, r->addrs + rs->first, rs->n * sizeof(*r->addrs));
		s->nlocs = rs->n;
		s->values[T_INUSE_OBJECTS] = rs->v[0];
		s->values[T_INUSE_SPACE] = rs->v[1];
		s->values[T_ALLOC_OBJECTS] = rs->v[2];
		s->values[T_ALLOC_SPACE] = rs->v[3];
		if (rs->v[0] || rs->v[1] || rs->v[2] || rs->v[3])
			p->nsamples++;
	}
	return 0;
}

/* Unbiases every sample; errors name the sample's line. */
static int unbias_all(rd *r)
{
	for (size_t i = 0; i < r->nsamples; i++) {
		raw_sample *s = &r->samples[i];
		r->line = s->line;
		if (unbias(r, &s->v[0], &s->v[1]) || unbias(r, &s->v[2], &s->v[3]))
			return -1;
	}
	return 0;
}

/* The profile's fixed parts: sample and period types, comment. */
static int build_header(rd *r, pf_profile *p)
{
	char c[96];

	p->sample_types = pf_alloc(p, NTYPES, sizeof(*p->sample_types));
	p->comments = pf_alloc(p, 1, sizeof(*p->comments));
	if (!p->sample_types || !p->comments)
		return -1;
	memcpy(p->sample_types, heap_types, sizeof(heap_types));
	p->ntypes = NTYPES;
	p->period_type = (pf_value_type){ "space", "bytes" };
	p->period = r->scaled ? r->rate : 1;
	p->default_sample_type = "inuse_space";
	snprintf(c, sizeof(c), "converted from a %s text profile (%s/%" PRId64 ")",
		 r->jemalloc ? "jemalloc" : "gperftools", r->kind, p->period);
	if (!(p->comments[0] = pf_strdup(p, c)))
		return -1;
	p->ncomments = 1;
	return 0;
}

/* The parsed text as a linked profile; NULL with the reason in r->err. */
static pf_profile *build(rd *r)
{
	pf_profile *p = pf_new();

	if (!p || build_header(r, p) || build_mappings(r, p) || build_locations(r, p) ||
	    build_samples(r, p)) {
		pf_free(p);
		snprintf(r->err, r->errlen, "out of memory");
		return NULL;
	}
	if (pf_link(p, r->err, r->errlen)) {
		pf_free(p);
		return NULL;
	}
	return p;
}

/* Releases the reader's scratch memory (not the profile). */
static void rd_free(rd *r)
{
	free(r->text);
	free(r->samples);
	free(r->addrs);
	free(r->maps);
}

/* A NUL byte cannot be in a text profile; the text is copied NUL-terminated so that each
 * line can be cut and scanned as a C string. */
pf_profile *lg_parse(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	rd r = { .err = err, .errlen = errlen };
	pf_profile *p = NULL;
	const uint8_t *nul = memchr(buf, '\0', len);

	if (nul) {
		r.line = 1;
		for (const uint8_t *c = buf; c < nul; c++)
			r.line += *c == '\n';
		bad(&r, "NUL byte: not a text profile");
		return NULL;
	}
	if (!(r.text = malloc(len + 1))) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(r.text, buf, len);
	r.text[len] = '\0';
	r.pos = r.text;
	r.end = r.text + len;
	if (header(&r) == 0 && body(&r) == 0 && unbias_all(&r) == 0)
		p = build(&r);
	rd_free(&r);
	return p;
}
