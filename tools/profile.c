/* tools/profile.c: a defensive decoder for pprof profiles (profile.proto).
 *
 * Input files are untrusted: every varint, length and index is bounds-checked, fields are
 * accepted in any order, unknown fields are skipped by wire type, repeated integers are
 * accepted packed and unpacked (proto3 writers pack, older ones do not), and the first
 * problem found becomes the error message. Nothing here may crash on any input.
 *
 * Decoding is three passes over the top-level message, because protobuf allows the string
 * table to come after the fields that index it:
 *   1. count the repeated top-level fields and collect the string table;
 *   2. decode each message into arrays sized by pass 1, resolving string indexes at once;
 *   3. sort mappings, locations and functions by id and resolve the id references.
 * All memory comes from one arena so that error paths need no unwinding. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gzout.h"
#include "legacy.h"
#include "profile.h"

/* profile.proto field numbers. */
enum {
	P_SAMPLE_TYPE = 1, P_SAMPLE = 2, P_MAPPING = 3, P_LOCATION = 4, P_FUNCTION = 5,
	P_STRING_TABLE = 6, P_DROP_FRAMES = 7, P_KEEP_FRAMES = 8, P_TIME_NANOS = 9,
	P_DURATION_NANOS = 10, P_PERIOD_TYPE = 11, P_PERIOD = 12, P_COMMENT = 13,
	P_DEFAULT_SAMPLE_TYPE = 14,
};

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* Larger inputs are refused rather than risking an absurd allocation. */
#define PF_MAX_FILE ((size_t)1 << 31)

/* A sample's frames are the inlined lines of its locations, a product that a small file
 * can make huge (a 300-byte gzip'd one asked for 144 million frames, which every command
 * then allocates and walks). Real profiles have well under one frame per byte. */
#define PF_FRAMES_PER_BYTE 16
#define PF_FRAMES_MIN ((size_t)1 << 20)

/* --- arena ----------------------------------------------------------------------------- */

struct pf_arena {
	struct pf_arena *next;
	size_t used, cap;
	max_align_t data[];
};

#define PF_ARENA_CHUNK (256 * 1024)

static void arena_free(struct pf_arena *a)
{
	while (a) {
		struct pf_arena *next = a->next;
		free(a);
		a = next;
	}
}

/* Zeroed memory from the arena *ap; NULL when out of memory. Big requests get their own
 * chunk, linked behind the current one so the current one keeps serving small requests. */
static void *arena_alloc(struct pf_arena **ap, size_t size)
{
	struct pf_arena *a = *ap, *c;
	size_t round = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);

	if (round < size)
		return NULL;
	if (a && a->cap - a->used >= round) {
		void *p = (char *)a->data + a->used;
		a->used += round;
		return p;
	}
	size_t cap = round > PF_ARENA_CHUNK / 2 ? round : PF_ARENA_CHUNK;
	if (cap > SIZE_MAX - sizeof(*c))
		return NULL;
	c = calloc(1, sizeof(*c) + cap);
	if (!c)
		return NULL;
	c->cap = cap;
	c->used = round;
	if (a && cap == round) {
		c->next = a->next;
		a->next = c;
	} else {
		c->next = a;
		*ap = c;
	}
	return c->data;
}

/* --- decoder state ------------------------------------------------------------------- */

typedef struct pb {
	const uint8_t *p, *end;
} pb;

typedef struct dec {
	const uint8_t *base;		/* start of the whole message, for offsets in errors */
	pf_profile *prof;
	const char **strings;		/* the string table, resolved */
	size_t nstrings, stringcap;
	uint64_t *comment_ids;		/* Profile.comment, resolved after pass 2 */
	char *err;
	size_t errlen;
	int failed;
} dec;

__attribute__((format(printf, 2, 3)))
static int fail(dec *d, const char *fmt, ...)
{
	va_list ap;

	if (d->failed++)
		return -1;	/* keep the first, most specific, message */
	va_start(ap, fmt);
	vsnprintf(d->err, d->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int nomem(dec *d)
{
	return fail(d, "out of memory");
}

static void *dalloc(dec *d, size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size) {
		nomem(d);
		return NULL;
	}
	p = arena_alloc(&d->prof->arena, n && size ? n * size : 1);
	if (!p)
		nomem(d);
	return p;
}

static size_t off(const dec *d, const pb *r)
{
	return (size_t)(r->p - d->base);
}

/* --- wire format --------------------------------------------------------------------- */

static int rd_varint(dec *d, pb *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (r->p >= r->end)
			return fail(d, "truncated varint at byte %zu", off(d, r));
		uint8_t b = *r->p++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return fail(d, "varint longer than 10 bytes at byte %zu", off(d, r));
}

/* Reads a field key; the field number is checked to be nonzero as protobuf requires. */
static int rd_key(dec *d, pb *r, uint32_t *field, int *wt)
{
	uint64_t k;
	size_t at = off(d, r);

	if (rd_varint(d, r, &k))
		return -1;
	if ((k >> 3) == 0 || (k >> 3) > UINT32_MAX)
		return fail(d, "bad field number %" PRIu64 " at byte %zu", k >> 3, at);
	*field = (uint32_t)(k >> 3);
	*wt = (int)(k & 7);
	return 0;
}

/* Reads a length-delimited payload into sub (a view into r). */
static int rd_len(dec *d, pb *r, pb *sub)
{
	uint64_t n;

	if (rd_varint(d, r, &n))
		return -1;
	if (n > (uint64_t)(r->end - r->p))
		return fail(d, "length %" PRIu64 " at byte %zu runs past the end of its message",
			    n, off(d, r));
	sub->p = r->p;
	sub->end = r->p + n;
	r->p += n;
	return 0;
}

static int skip_bytes(dec *d, pb *r, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return fail(d, "truncated fixed-size field at byte %zu", off(d, r));
	r->p += n;
	return 0;
}

static int skip_field(dec *d, pb *r, int wt)
{
	uint64_t v;
	pb sub;

	switch (wt) {
	case WT_VARINT:
		return rd_varint(d, r, &v);
	case WT_I64:
		return skip_bytes(d, r, 8);
	case WT_LEN:
		return rd_len(d, r, &sub);
	case WT_I32:
		return skip_bytes(d, r, 4);
	default:	/* 3 and 4 are the deprecated groups; 6 and 7 do not exist */
		return fail(d, "bad wire type %d at byte %zu", wt, off(d, r));
	}
}

static int want_wt(dec *d, const pb *r, uint32_t field, int wt, int want)
{
	if (wt == want)
		return 0;
	return fail(d, "field %" PRIu32 " has wire type %d, expected %d (byte %zu)", field, wt,
		    want, off(d, r));
}

/* A scalar integer field: must be a varint. */
static int rd_int(dec *d, pb *r, uint32_t field, int wt, uint64_t *v)
{
	if (want_wt(d, r, field, wt, WT_VARINT))
		return -1;
	return rd_varint(d, r, v);
}

/* One field of a repeated integer, packed (wire type 2) or not. With out NULL it only
 * counts (into *n), else it also stores into out[*n]; out was sized by an earlier count of
 * the same bytes, so it cannot overflow. */
static int rd_rep_int(dec *d, pb *r, uint32_t field, int wt, uint64_t *out, size_t *n)
{
	uint64_t v;
	pb sub;

	if (wt == WT_VARINT) {
		if (rd_varint(d, r, &v))
			return -1;
		if (out)
			out[*n] = v;
		(*n)++;
		return 0;
	}
	if (wt != WT_LEN)
		return want_wt(d, r, field, wt, WT_VARINT);
	if (rd_len(d, r, &sub))
		return -1;
	while (sub.p < sub.end) {
		if (rd_varint(d, &sub, &v))
			return -1;
		if (out)
			out[*n] = v;
		(*n)++;
	}
	return 0;
}

/* A string table index: checked against the table collected in pass 1. */
static int rd_str(dec *d, pb *r, uint32_t field, int wt, const char **s)
{
	uint64_t i;
	size_t at = off(d, r);

	if (rd_int(d, r, field, wt, &i))
		return -1;
	if (i >= d->nstrings)
		return fail(d, "string index %" PRIu64 " at byte %zu is past the string table "
			    "(%zu strings)", i, at, d->nstrings);
	*s = d->strings[i];
	return 0;
}

/* --- pass 1: counts and the string table --------------------------------------------- */

static int add_string(dec *d, pb *r, int wt)
{
	pb sub;
	char *s;

	if (want_wt(d, r, P_STRING_TABLE, wt, WT_LEN) || rd_len(d, r, &sub))
		return -1;
	if (d->nstrings == d->stringcap) {
		size_t ncap = d->stringcap ? d->stringcap * 2 : 256;
		const char **n = realloc(d->strings, ncap * sizeof(*n));
		if (!n)
			return nomem(d);
		d->strings = n;
		d->stringcap = ncap;
	}
	s = dalloc(d, (size_t)(sub.end - sub.p) + 1, 1);
	if (!s)
		return -1;
	memcpy(s, sub.p, (size_t)(sub.end - sub.p));	/* an embedded NUL just ends it early */
	d->strings[d->nstrings++] = s;
	return 0;
}

/* Top-level fields that are messages (1-6, 11) and scalars (7-10, 12, 14). */
static int top_wt_ok(dec *d, const pb *r, uint32_t f, int wt)
{
	if ((f >= P_SAMPLE_TYPE && f <= P_STRING_TABLE) || f == P_PERIOD_TYPE)
		return want_wt(d, r, f, wt, WT_LEN);
	if ((f >= P_DROP_FRAMES && f <= P_PERIOD && f != P_PERIOD_TYPE) ||
	    f == P_DEFAULT_SAMPLE_TYPE)
		return want_wt(d, r, f, wt, WT_VARINT);
	return 0;
}

static int pass1(dec *d, pb r)
{
	pf_profile *p = d->prof;
	uint32_t f;
	int wt;

	while (r.p < r.end) {
		if (rd_key(d, &r, &f, &wt) || top_wt_ok(d, &r, f, wt))
			return -1;
		int e;
		switch (f) {
		case P_SAMPLE_TYPE: p->ntypes++; e = skip_field(d, &r, wt); break;
		case P_SAMPLE: p->nsamples++; e = skip_field(d, &r, wt); break;
		case P_MAPPING: p->nmappings++; e = skip_field(d, &r, wt); break;
		case P_LOCATION: p->nlocations++; e = skip_field(d, &r, wt); break;
		case P_FUNCTION: p->nfunctions++; e = skip_field(d, &r, wt); break;
		case P_STRING_TABLE: e = add_string(d, &r, wt); break;
		case P_COMMENT: e = rd_rep_int(d, &r, f, wt, NULL, &p->ncomments); break;
		default: e = skip_field(d, &r, wt); break;
		}
		if (e)
			return -1;
	}
	if (d->nstrings == 0 || d->strings[0][0] != '\0')
		return fail(d, "the string table must start with \"\"");
	return 0;
}

/* --- pass 2: the messages ------------------------------------------------------------ */

/* Steps through the fields of one message: `while (NEXT_FIELD(d, &r, f, wt))` with a body
 * that consumes the field (decodes or skips it). A bad key ends the loop with d->failed
 * set, which callers check after the loop. */
#define NEXT_FIELD(d, r, f, wt) ((r)->p < (r)->end && !rd_key((d), (r), &(f), &(wt)))

static int dec_value_type(dec *d, pb r, pf_value_type *vt)
{
	uint32_t f;
	int wt, e;

	vt->type = vt->unit = "";
	while (NEXT_FIELD(d, &r, f, wt)) {
		if (f == 1)
			e = rd_str(d, &r, f, wt, &vt->type);
		else if (f == 2)
			e = rd_str(d, &r, f, wt, &vt->unit);
		else
			e = skip_field(d, &r, wt);
		if (e)
			return -1;
	}
	return d->failed ? -1 : 0;
}

/* Reads repeated integer field `field` of message r: counts, allocates, fills. */
static int dec_rep_field(dec *d, pb r, uint32_t field, uint64_t **out, size_t *n)
{
	pb again = r;
	uint32_t f;
	int wt;

	*n = 0;
	while (NEXT_FIELD(d, &r, f, wt))
		if (f == field ? rd_rep_int(d, &r, f, wt, NULL, n) : skip_field(d, &r, wt))
			return -1;
	if (d->failed)
		return -1;
	*out = dalloc(d, *n, sizeof(**out));
	if (!*out)
		return -1;
	size_t i = 0;
	while (NEXT_FIELD(d, &again, f, wt))
		if (f == field ? rd_rep_int(d, &again, f, wt, *out, &i) : skip_field(d, &again, wt))
			return -1;
	return 0;
}

static int dec_sample(dec *d, pb r, pf_sample *s)
{
	size_t nvalues;
	uint64_t *values;

	if (dec_rep_field(d, r, 1, &s->location_ids, &s->nlocs) ||
	    dec_rep_field(d, r, 2, &values, &nvalues))
		return -1;
	s->values = (int64_t *)values;	/* int64 fields are two's complement varints */
	if (nvalues != d->prof->ntypes)
		return fail(d, "a sample has %zu values but the profile has %zu sample types",
			    nvalues, d->prof->ntypes);
	return 0;
}

static int dec_mapping(dec *d, pb r, pf_mapping *m)
{
	uint32_t f;
	int wt, e;

	m->filename = m->build_id = "";
	while (NEXT_FIELD(d, &r, f, wt)) {
		switch (f) {
		case 1: e = rd_int(d, &r, f, wt, &m->id); break;
		case 2: e = rd_int(d, &r, f, wt, &m->start); break;
		case 3: e = rd_int(d, &r, f, wt, &m->limit); break;
		case 4: e = rd_int(d, &r, f, wt, &m->offset); break;
		case 5: e = rd_str(d, &r, f, wt, &m->filename); break;
		case 6: e = rd_str(d, &r, f, wt, &m->build_id); break;
		default: e = skip_field(d, &r, wt); break;
		}
		if (e)
			return -1;
	}
	return d->failed ? -1 : 0;
}

static int dec_line(dec *d, pb r, pf_line *l)
{
	uint32_t f;
	int wt, e;

	while (NEXT_FIELD(d, &r, f, wt)) {
		if (f == 1)
			e = rd_int(d, &r, f, wt, &l->function_id);
		else if (f == 2)
			e = rd_int(d, &r, f, wt, (uint64_t *)&l->line);
		else
			e = skip_field(d, &r, wt);
		if (e)
			return -1;
	}
	return d->failed ? -1 : 0;
}

/* Location.line is a repeated message: counted first, then decoded in place. */
static int dec_location_lines(dec *d, pb r, pf_location *loc)
{
	uint32_t f;
	int wt;
	pb sub;
	size_t i = 0;

	loc->lines = dalloc(d, loc->nlines, sizeof(*loc->lines));
	if (!loc->lines)
		return -1;
	while (NEXT_FIELD(d, &r, f, wt)) {
		if (f != 4) {
			if (skip_field(d, &r, wt))
				return -1;
		} else if (rd_len(d, &r, &sub) || dec_line(d, sub, &loc->lines[i++])) {
			return -1;
		}
	}
	return d->failed ? -1 : 0;
}

static int dec_location(dec *d, pb r, pf_location *loc)
{
	pb again = r;
	uint32_t f;
	int wt, e;

	while (NEXT_FIELD(d, &r, f, wt)) {
		switch (f) {
		case 1: e = rd_int(d, &r, f, wt, &loc->id); break;
		case 2: e = rd_int(d, &r, f, wt, &loc->mapping_id); break;
		case 3: e = rd_int(d, &r, f, wt, &loc->address); break;
		case 4:
			loc->nlines++;
			e = want_wt(d, &r, f, wt, WT_LEN) || skip_field(d, &r, wt);
			break;
		default: e = skip_field(d, &r, wt); break;
		}
		if (e)
			return -1;
	}
	if (d->failed)
		return -1;
	return dec_location_lines(d, again, loc);
}

static int dec_function(dec *d, pb r, pf_function *fn)
{
	uint32_t f;
	int wt, e;

	fn->name = fn->system_name = fn->filename = "";
	while (NEXT_FIELD(d, &r, f, wt)) {
		switch (f) {
		case 1: e = rd_int(d, &r, f, wt, &fn->id); break;
		case 2: e = rd_str(d, &r, f, wt, &fn->name); break;
		case 3: e = rd_str(d, &r, f, wt, &fn->system_name); break;
		case 4: e = rd_str(d, &r, f, wt, &fn->filename); break;
		case 5: e = rd_int(d, &r, f, wt, (uint64_t *)&fn->start_line); break;
		default: e = skip_field(d, &r, wt); break;
		}
		if (e)
			return -1;
	}
	return d->failed ? -1 : 0;
}

static int alloc_arrays(dec *d)
{
	pf_profile *p = d->prof;

	p->sample_types = dalloc(d, p->ntypes, sizeof(*p->sample_types));
	p->samples = dalloc(d, p->nsamples, sizeof(*p->samples));
	p->mappings = dalloc(d, p->nmappings, sizeof(*p->mappings));
	p->locations = dalloc(d, p->nlocations, sizeof(*p->locations));
	p->functions = dalloc(d, p->nfunctions, sizeof(*p->functions));
	p->comments = dalloc(d, p->ncomments, sizeof(*p->comments));
	d->comment_ids = dalloc(d, p->ncomments, sizeof(*d->comment_ids));
	return d->failed ? -1 : 0;
}

/* Decodes one top-level field in pass 2; counters say where the next element goes. */
static int pass2_field(dec *d, pb *r, uint32_t f, int wt, size_t *n)
{
	pf_profile *p = d->prof;
	pb sub;

	if (f >= P_SAMPLE_TYPE && f <= P_FUNCTION) {
		if (rd_len(d, r, &sub))
			return -1;
		switch (f) {
		case P_SAMPLE_TYPE: return dec_value_type(d, sub, &p->sample_types[n[0]++]);
		case P_SAMPLE: return dec_sample(d, sub, &p->samples[n[1]++]);
		case P_MAPPING: return dec_mapping(d, sub, &p->mappings[n[2]++]);
		case P_LOCATION: return dec_location(d, sub, &p->locations[n[3]++]);
		default: return dec_function(d, sub, &p->functions[n[4]++]);
		}
	}
	switch (f) {
	case P_PERIOD_TYPE:
		return rd_len(d, r, &sub) || dec_value_type(d, sub, &p->period_type);
	case P_TIME_NANOS:
		return rd_int(d, r, f, wt, (uint64_t *)&p->time_nanos);
	case P_DURATION_NANOS:
		return rd_int(d, r, f, wt, (uint64_t *)&p->duration_nanos);
	case P_PERIOD:
		return rd_int(d, r, f, wt, (uint64_t *)&p->period);
	case P_DEFAULT_SAMPLE_TYPE:
		return rd_str(d, r, f, wt, &p->default_sample_type);
	case P_COMMENT:
		return rd_rep_int(d, r, f, wt, d->comment_ids, &n[5]);
	default:	/* the string table was read in pass 1 */
		return skip_field(d, r, wt);
	}
}

static int pass2(dec *d, pb r)
{
	size_t n[6] = { 0 };	/* next sample type, sample, mapping, location, function, comment */
	uint32_t f;
	int wt;

	if (alloc_arrays(d))
		return -1;
	while (NEXT_FIELD(d, &r, f, wt))
		if (pass2_field(d, &r, f, wt, n))
			return -1;
	if (d->failed)
		return -1;
	for (size_t i = 0; i < d->prof->ncomments; i++) {
		if (d->comment_ids[i] >= d->nstrings)
			return fail(d, "comment string index %" PRIu64 " is past the string table",
				    d->comment_ids[i]);
		d->prof->comments[i] = d->strings[d->comment_ids[i]];
	}
	return 0;
}

/* --- pass 3: ids ------------------------------------------------------------------- */

/* Every id-carrying struct starts with its uint64_t id, so one comparator serves all. */
static int cmp_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int sort_ids(dec *d, void *base, size_t n, size_t size, const char *what)
{
	const char *p = base;

	if (n == 0)
		return 0;	/* base may be NULL (pf_link on a built profile) */
	qsort(base, n, size, cmp_id);
	for (size_t i = 0; i < n; i++) {
		uint64_t id = *(const uint64_t *)(p + i * size);
		if (id == 0)
			return fail(d, "a %s has id 0", what);
		if (i && id == *(const uint64_t *)(p + (i - 1) * size))
			return fail(d, "two %ss have id %" PRIu64, what, id);
	}
	return 0;
}

static const void *find_id(const void *base, size_t n, size_t size, uint64_t id)
{
	if (n == 0)
		return NULL;	/* base may be NULL, which bsearch must not get */
	return bsearch(&id, base, n, size, cmp_id);
}

/* "libc.so.6+0x29d8f": the file offset of the address, as addr2line wants it. */
static int set_addr_name(dec *d, pf_location *loc)
{
	const pf_mapping *m = loc->mapping;
	char buf[512];

	if (m && m->filename[0] && loc->address >= m->start) {
		const char *slash = strrchr(m->filename, '/');
		snprintf(buf, sizeof(buf), "%s+0x%" PRIx64, slash ? slash + 1 : m->filename,
			 loc->address - m->start + m->offset);
	} else {
		snprintf(buf, sizeof(buf), "0x%" PRIx64, loc->address);
	}
	char *s = dalloc(d, strlen(buf) + 1, 1);
	if (!s)
		return -1;
	memcpy(s, buf, strlen(buf) + 1);
	loc->addr_name = s;
	return 0;
}

/* A line's name: the function's name, its system name, or the location's address; and
 * the same with " file:line" when the function has a file and the line a number. */
static int name_line(dec *d, const pf_location *loc, pf_line *l)
{
	const pf_function *f = l->function;

	if (f && f->name[0])
		l->name = f->name;
	else if (f && f->system_name[0])
		l->name = f->system_name;
	else
		l->name = loc->addr_name;
	l->where = l->name;
	if (f && f->filename[0] && l->line > 0) {
		size_t n = strlen(l->name) + strlen(f->filename) + 24;
		char *w = dalloc(d, n, 1);
		if (!w)
			return -1;
		snprintf(w, n, "%s %s:%" PRId64, l->name, f->filename, l->line);
		l->where = w;
	}
	return 0;
}

static int link_location(dec *d, pf_location *loc)
{
	const pf_profile *p = d->prof;

	if (loc->mapping_id) {
		loc->mapping = find_id(p->mappings, p->nmappings, sizeof(pf_mapping),
				       loc->mapping_id);
		if (!loc->mapping)
			return fail(d, "location %" PRIu64 " refers to missing mapping %" PRIu64,
				    loc->id, loc->mapping_id);
	}
	for (size_t i = 0; i < loc->nlines; i++) {
		pf_line *l = &loc->lines[i];
		if (!l->function_id)
			continue;
		l->function = find_id(p->functions, p->nfunctions, sizeof(pf_function),
				      l->function_id);
		if (!l->function)
			return fail(d, "location %" PRIu64 " refers to missing function %" PRIu64,
				    loc->id, l->function_id);
	}
	if (set_addr_name(d, loc))
		return -1;
	for (size_t i = 0; i < loc->nlines; i++)
		if (name_line(d, loc, &loc->lines[i]))
			return -1;
	return 0;
}

static int link_sample(dec *d, pf_sample *s, size_t idx)
{
	const pf_profile *p = d->prof;

	s->locs = dalloc(d, s->nlocs, sizeof(*s->locs));
	if (!s->locs)
		return -1;
	for (size_t i = 0; i < s->nlocs; i++) {
		s->locs[i] = find_id(p->locations, p->nlocations, sizeof(pf_location),
				     s->location_ids[i]);
		if (!s->locs[i])
			return fail(d, "sample %zu refers to missing location %" PRIu64, idx,
				    s->location_ids[i]);
	}
	return 0;
}

static int pass3(dec *d)
{
	pf_profile *p = d->prof;

	if (sort_ids(d, p->mappings, p->nmappings, sizeof(pf_mapping), "mapping") ||
	    sort_ids(d, p->locations, p->nlocations, sizeof(pf_location), "location") ||
	    sort_ids(d, p->functions, p->nfunctions, sizeof(pf_function), "function"))
		return -1;
	for (size_t i = 0; i < p->nlocations; i++)
		if (link_location(d, &p->locations[i]))
			return -1;
	for (size_t i = 0; i < p->nsamples; i++)
		if (link_sample(d, &p->samples[i], i))
			return -1;
	if (p->ntypes == 0)
		return fail(d, "no sample types");
	return 0;
}

/* Refuses a profile whose stacks expand to more frames than its len bytes justify. */
static int check_frames(dec *d, size_t len)
{
	const pf_profile *p = d->prof;
	size_t n = 0, limit = len > (SIZE_MAX - PF_FRAMES_MIN) / PF_FRAMES_PER_BYTE ? SIZE_MAX
		: PF_FRAMES_MIN + len * PF_FRAMES_PER_BYTE;

	for (size_t i = 0; i < p->nsamples; i++) {
		n += pf_sample_depth(&p->samples[i]);	/* each under 2^62: cannot wrap */
		if (n > limit)
			return fail(d, "its stacks expand to more than %zu frames through inlined "
				    "lines, too many for %zu bytes", limit, len);
	}
	return 0;
}

/* --- entry points ------------------------------------------------------------------- */

static pf_profile *decode(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	dec d = { .base = buf, .err = err, .errlen = errlen };
	pb r = { buf, buf + len };

	d.prof = calloc(1, sizeof(*d.prof));
	if (!d.prof) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d.prof->default_sample_type = "";
	d.prof->period_type.type = d.prof->period_type.unit = "";
	if (pass1(&d, r) || pass2(&d, r) || pass3(&d) || check_frames(&d, len)) {
		if (strcmp(err, "out of memory") != 0) {
			char detail[256];
			snprintf(detail, sizeof(detail), "%s", err);
			snprintf(err, errlen, "not a valid pprof profile (%s)", detail);
		}
		free(d.strings);
		pf_free(d.prof);
		return NULL;
	}
	free(d.strings);
	return d.prof;
}

pf_profile *pf_parse(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	uint8_t *raw;
	size_t rawlen;
	pf_profile *p;

	if (len == 0) {
		snprintf(err, errlen, "empty file");
		return NULL;
	}
	if (len < 2 || buf[0] != 0x1f || buf[1] != 0x8b)
		return lg_is_text(buf, len) ? lg_parse(buf, len, err, errlen)
			: decode(buf, len, err, errlen);
	int e = hp_gz_inflate(buf, len, &raw, &rawlen);
	if (e) {
		snprintf(err, errlen, "%s", e == -ENOMEM ? "out of memory"
			 : "truncated or corrupt gzip data");
		return NULL;
	}
	if (rawlen == 0) {
		free(raw);
		snprintf(err, errlen, "empty profile inside the gzip data");
		return NULL;
	}
	p = lg_is_text(raw, rawlen) ? lg_parse(raw, rawlen, err, errlen)
		: decode(raw, rawlen, err, errlen);
	free(raw);
	return p;
}

/* Reads the whole file; NULL with the reason in err. */
static uint8_t *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			uint8_t *nb = cap >= PF_MAX_FILE ? NULL : realloc(buf, cap ? cap * 2 : 65536);
			if (!nb) {
				snprintf(err, errlen, cap >= PF_MAX_FILE ? "file too large"
					 : "out of memory");
				break;
			}
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (!ferror(f)) {
				fclose(f);
				*len = n;
				return buf;
			}
			snprintf(err, errlen, "%s", strerror(errno));
			break;
		}
	}
	fclose(f);
	free(buf);
	return NULL;
}

pf_profile *pf_load(const char *path, char *err, size_t errlen)
{
	size_t len;
	uint8_t *buf = slurp(path, &len, err, errlen);
	pf_profile *p;

	if (!buf)
		return NULL;
	p = pf_parse(buf, len, err, errlen);
	free(buf);
	return p;
}

void pf_free(pf_profile *p)
{
	if (!p)
		return;
	arena_free(p->arena);
	free(p);
}

int pf_sample_index(const pf_profile *p, const char *name)
{
	if (!name)
		name = p->default_sample_type;
	if (!name[0])
		return p->ntypes ? (int)p->ntypes - 1 : -1;
	for (size_t i = 0; i < p->ntypes; i++)
		if (strcmp(p->sample_types[i].type, name) == 0)
			return (int)i;
	return -1;
}

size_t pf_sample_depth(const pf_sample *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nlocs; i++)
		n += s->locs[i]->nlines ? s->locs[i]->nlines : 1;
	return n;
}

/* The frames of s, leaf first: each line's where (lines) or name, or the location's
 * addr_name when it has no line. */
static void sample_names(const pf_sample *s, const char **out, int lines)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nlocs; i++) {
		const pf_location *loc = s->locs[i];
		if (!loc->nlines)
			out[n++] = loc->addr_name;
		for (size_t j = 0; j < loc->nlines; j++)
			out[n++] = lines ? loc->lines[j].where : loc->lines[j].name;
	}
}

void pf_sample_frames(const pf_sample *s, const char **out)
{
	sample_names(s, out, 0);
}

void pf_sample_lines(const pf_sample *s, const char **out)
{
	sample_names(s, out, 1);
}

/* --- building ------------------------------------------------------------------------ */

pf_profile *pf_new(void)
{
	pf_profile *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->default_sample_type = "";
	p->period_type.type = p->period_type.unit = "";
	return p;
}

void *pf_alloc(pf_profile *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return arena_alloc(&p->arena, n && size ? n * size : 1);
}

const char *pf_strdup(pf_profile *p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *c = pf_alloc(p, n, 1);

	if (c)
		memcpy(c, s, n);
	return c;
}

int pf_link(pf_profile *p, char *err, size_t errlen)
{
	dec d = { .prof = p, .err = err, .errlen = errlen };

	return pass3(&d);
}
