/* lib/pprof.c: heap profile -> pprof protobuf (github.com/google/pprof, proto/profile.proto).
 *
 * A hand-written protobuf writer, so the library needs no protobuf runtime. The whole message
 * is built in one growable buffer. Nested messages are written with a one-byte length
 * placeholder that is widened (memmove) when the body turns out to need more, which keeps
 * the writer single-pass; bodies are small (a sample is a few hundred bytes at most) so the
 * move is cheap.
 *
 * Locations are deduplicated by address and functions by name through open-addressing hash
 * tables, so the cost is linear in the number of frames: a dump of 100k stacks of depth 64
 * must not stall the dumper thread. Each distinct address is symbolized once.
 *
 * protobuf allows fields in any order, so strings are interned as they are met and the
 * string table is written last.
 *
 * Errors are sticky (struct hp_enc.oom) so that the many small writers need no error
 * plumbing; the result is checked once at the end. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"
#include "pprof.h"

/* profile.proto field numbers. */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_COMMENT = 13,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,

	VALUETYPE_TYPE = 1,
	VALUETYPE_UNIT = 2,

	SAMPLE_LOCATION_ID = 1,
	SAMPLE_VALUE = 2,

	MAPPING_ID = 1,
	MAPPING_MEMORY_START = 2,
	MAPPING_MEMORY_LIMIT = 3,
	MAPPING_FILE_OFFSET = 4,
	MAPPING_FILENAME = 5,
	MAPPING_BUILD_ID = 6,
	MAPPING_HAS_FUNCTIONS = 7,

	LOCATION_ID = 1,
	LOCATION_MAPPING_ID = 2,
	LOCATION_ADDRESS = 3,
	LOCATION_LINE = 4,

	LINE_FUNCTION_ID = 1,

	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_SYSTEM_NAME = 3,
};

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

#define HP_VARINT_MAX 10

static const char *const hp_type_names[HP_NVALUES][2] = {
	[HP_ALLOC_OBJECTS] = { "alloc_objects", "count" },
	[HP_ALLOC_SPACE] = { "alloc_space", "bytes" },
	[HP_INUSE_OBJECTS] = { "inuse_objects", "count" },
	[HP_INUSE_SPACE] = { "inuse_space", "bytes" },
};

struct hp_str {
	const char *s;		/* borrowed: lives until hp_pprof_encode returns */
	size_t len;
	uint32_t hash;
	uint64_t func_id;	/* the Function named by this string, 0 if none yet */
};

struct hp_strtab {
	struct hp_str *v;
	size_t n, cap;
	uint32_t *slots;	/* index into v plus one; 0 marks an empty slot */
	size_t mask;
};

struct hp_locmap {
	uint32_t *slots;	/* a location's id (its pc is pcs[id - 1]); 0: an empty slot */
	size_t mask;
	uint64_t *pcs;		/* pcs[id - 1]: locations in id order */
	size_t n, cap;
};

struct hp_mrange {
	uint64_t start, limit, id;
};

struct hp_enc {
	const hp_pprof_profile *prof;
	uint8_t *buf;
	size_t len, cap;
	int oom;
	struct hp_strtab strs;
	struct hp_locmap locs;
	uint64_t *fn_names;	/* string index of each function's name, by id - 1 */
	size_t nfns, fn_cap;
	struct hp_mrange *ranges;	/* the mappings sorted by start */
};

/* Returns p grown to hold need elements, or NULL (p untouched) when out of memory.
 * Doubling keeps appends amortised O(1). */
static void *hp_grow(void *p, size_t *cap, size_t need, size_t elsize)
{
	size_t ncap = *cap ? *cap : 16;

	if (need <= *cap)
		return p;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return NULL;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / elsize)
		return NULL;
	p = hp_irealloc_k(HP_MEM_DUMP, p, ncap * elsize);
	if (p)
		*cap = ncap;
	return p;
}

/* ---- protobuf writer ------------------------------------------------------------------ */

static int hp_reserve(struct hp_enc *e, size_t n)
{
	uint8_t *p;

	if (e->oom)
		return -1;
	if (e->len + n <= e->cap)
		return 0;
	p = n > SIZE_MAX - e->len ? NULL : hp_grow(e->buf, &e->cap, e->len + n, 1);
	if (!p) {
		e->oom = 1;
		return -1;
	}
	e->buf = p;
	return 0;
}

static size_t hp_varint_at(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t hp_varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void hp_varint(struct hp_enc *e, uint64_t v)
{
	if (hp_reserve(e, HP_VARINT_MAX) == 0)
		e->len += hp_varint_at(e->buf + e->len, v);
}

static void hp_key(struct hp_enc *e, unsigned field, unsigned wire)
{
	hp_varint(e, (uint64_t)field << 3 | wire);
}

/* Scalar field; zero is proto3's default and is left out, as readers expect. */
static void hp_uint(struct hp_enc *e, unsigned field, uint64_t v)
{
	if (!v)
		return;
	hp_key(e, field, WIRE_VARINT);
	hp_varint(e, v);
}

static void hp_bytes(struct hp_enc *e, unsigned field, const char *s, size_t n)
{
	hp_key(e, field, WIRE_LEN);
	hp_varint(e, n);
	if (hp_reserve(e, n) == 0 && n) {
		memcpy(e->buf + e->len, s, n);
		e->len += n;
	}
}

/* Opens a length-delimited field (sub-message or packed array); returns where its body
 * starts, to pass to hp_end. Ends must nest like the begins. */
static size_t hp_begin(struct hp_enc *e, unsigned field)
{
	hp_key(e, field, WIRE_LEN);
	if (hp_reserve(e, 1) == 0)
		e->buf[e->len++] = 0;
	return e->len;
}

static void hp_end(struct hp_enc *e, size_t body)
{
	size_t n, extra;

	if (e->oom)
		return;
	n = e->len - body;
	extra = hp_varint_size(n) - 1;
	if (extra) {
		if (hp_reserve(e, extra) < 0)
			return;
		memmove(e->buf + body + extra, e->buf + body, n);
		e->len += extra;
	}
	hp_varint_at(e->buf + body - 1, n);
}

/* ---- string table --------------------------------------------------------------------- */

static uint32_t hp_str_hash(const char *s, size_t *len)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	const char *p;

	for (p = s; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	*len = (size_t)(p - s);
	return h;
}

static void hp_str_place(struct hp_strtab *t, size_t idx)
{
	size_t i = t->v[idx].hash & t->mask;

	while (t->slots[i])
		i = (i + 1) & t->mask;
	t->slots[i] = (uint32_t)(idx + 1);
}

/* The first size of the string and location tables: small, since a profile's own memory
 * is counted while it is written, and doubling from here costs a dump of 100,000 stacks
 * only a few rehashes of small tables (the location table had started at 4,096 slots,
 * 64 KiB, where python's profiles use about 200). Both tables' slots are 4-byte indexes
 * into arrays the encoder keeps anyway (a location's slot had held its pc too, 16 bytes:
 * cc1's 3,000 locations took 128 KiB). */
#define TABLE_FIRST 256

/* Keeps the load factor at most one half so probe sequences stay short. */
static int hp_str_rehash(struct hp_strtab *t)
{
	size_t size, i;

	if (t->slots && (t->n + 1) * 2 <= t->mask + 1)
		return 0;
	size = t->slots ? (t->mask + 1) * 2 : TABLE_FIRST;
	if (size > UINT32_MAX)
		return -1;
	hp_ifree_k(HP_MEM_DUMP, t->slots);
	t->slots = hp_icalloc_k(HP_MEM_DUMP, (size) * sizeof(*t->slots));
	if (!t->slots)
		return -1;
	t->mask = size - 1;
	for (i = 0; i < t->n; i++)
		hp_str_place(t, i);
	return 0;
}

static int64_t hp_str_find(const struct hp_strtab *t, const char *s, size_t len, uint32_t h)
{
	size_t i = h & t->mask;
	const struct hp_str *v;

	for (; t->slots[i]; i = (i + 1) & t->mask) {
		v = &t->v[t->slots[i] - 1];
		if (v->hash == h && v->len == len && memcmp(v->s, s, len) == 0)
			return t->slots[i] - 1;
	}
	return -1;
}

/* Returns the string's index in the string table; NULL reads as "" (index 0). */
static uint64_t hp_intern(struct hp_enc *e, const char *s)
{
	struct hp_strtab *t = &e->strs;
	struct hp_str *v;
	size_t len;
	uint32_t h;
	int64_t found;

	if (e->oom)
		return 0;
	if (!s)
		s = "";
	h = hp_str_hash(s, &len);
	found = t->slots ? hp_str_find(t, s, len, h) : -1;
	if (found >= 0)
		return (uint64_t)found;
	v = hp_grow(t->v, &t->cap, t->n + 1, sizeof(*t->v));
	if (v)
		t->v = v;
	if (!v || hp_str_rehash(t) < 0) {
		e->oom = 1;
		return 0;
	}
	v = &t->v[t->n];
	*v = (struct hp_str){ .s = s, .len = len, .hash = h };
	hp_str_place(t, t->n);
	return t->n++;
}

/* ---- locations and functions ---------------------------------------------------------- */

/* Fibonacci hashing; the low bits of the product depend only on the low bits of pc (which
 * cluster: code is aligned), so the slot is taken from higher up. */
static size_t hp_pc_slot(uint64_t pc, size_t mask)
{
	return (size_t)((pc * 0x9e3779b97f4a7c15ull) >> 17) & mask;
}

static void hp_loc_place(struct hp_locmap *m, uint64_t pc, uint64_t id)
{
	size_t i = hp_pc_slot(pc, m->mask);

	while (m->slots[i])
		i = (i + 1) & m->mask;
	m->slots[i] = (uint32_t)id;
}

static int hp_loc_rehash(struct hp_locmap *m)
{
	size_t size, i;

	if (m->slots && (m->n + 1) * 2 <= m->mask + 1)
		return 0;
	size = m->slots ? (m->mask + 1) * 2 : TABLE_FIRST;
	if (size > SIZE_MAX / sizeof(*m->slots) || m->n + 1 > UINT32_MAX)
		return -1;
	hp_ifree_k(HP_MEM_DUMP, m->slots);
	m->slots = hp_icalloc_k(HP_MEM_DUMP, (size) * sizeof(*m->slots));
	if (!m->slots)
		return -1;
	m->mask = size - 1;
	for (i = 0; i < m->n; i++)
		hp_loc_place(m, m->pcs[i], i + 1);
	return 0;
}

/* The id of the Location for return address pc, creating it on first sight. */
static uint64_t hp_loc_id(struct hp_enc *e, uint64_t pc)
{
	struct hp_locmap *m = &e->locs;
	uint64_t *pcs;
	size_t i;

	if (m->slots) {
		uint32_t id;

		for (i = hp_pc_slot(pc, m->mask); (id = m->slots[i]) != 0; i = (i + 1) & m->mask)
			if (m->pcs[id - 1] == pc)
				return id;
	}
	pcs = hp_grow(m->pcs, &m->cap, m->n + 1, sizeof(*m->pcs));
	if (pcs)
		m->pcs = pcs;
	if (!pcs || hp_loc_rehash(m) < 0) {
		e->oom = 1;
		return 0;
	}
	m->pcs[m->n++] = pc;
	hp_loc_place(m, pc, m->n);
	return m->n;
}

/* The id of the Function called name; 0 (no Line) when the name is unknown or empty. */
static uint64_t hp_func_id(struct hp_enc *e, const char *name)
{
	uint64_t idx, *names;
	struct hp_str *v;

	if (!name || !*name)
		return 0;
	idx = hp_intern(e, name);
	if (e->oom)
		return 0;
	v = &e->strs.v[idx];
	if (v->func_id)
		return v->func_id;
	names = hp_grow(e->fn_names, &e->fn_cap, e->nfns + 1, sizeof(*names));
	if (!names) {
		e->oom = 1;
		return 0;
	}
	e->fn_names = names;
	e->fn_names[e->nfns++] = idx;
	v->func_id = e->nfns;
	return v->func_id;
}

/* ---- mappings ------------------------------------------------------------------------- */

static int hp_range_cmp(const void *a, const void *b)
{
	const struct hp_mrange *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int hp_ranges_init(struct hp_enc *e)
{
	const hp_pprof_profile *p = e->prof;
	size_t i;

	if (!p->nmappings)
		return 0;
	e->ranges = hp_ialloc_k(HP_MEM_DUMP, p->nmappings * sizeof(*e->ranges));
	if (!e->ranges)
		return -1;
	for (i = 0; i < p->nmappings; i++)
		e->ranges[i] = (struct hp_mrange){ p->mappings[i].start, p->mappings[i].limit, i + 1 };
	qsort(e->ranges, p->nmappings, sizeof(*e->ranges), hp_range_cmp);
	return 0;
}

/* Mappings come from /proc/self/maps and do not overlap, so the last one starting at or
 * below addr is the only candidate. */
static uint64_t hp_mapping_id(const struct hp_enc *e, uint64_t addr)
{
	size_t lo = 0, hi = e->prof->nmappings, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (e->ranges[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && addr < e->ranges[lo - 1].limit)
		return e->ranges[lo - 1].id;
	return 0;
}

/* ---- the profile ---------------------------------------------------------------------- */

static void hp_put_value_type(struct hp_enc *e, unsigned field, const char *type,
			      const char *unit)
{
	size_t m = hp_begin(e, field);

	hp_uint(e, VALUETYPE_TYPE, hp_intern(e, type));
	hp_uint(e, VALUETYPE_UNIT, hp_intern(e, unit));
	hp_end(e, m);
}

static void hp_put_comments(struct hp_enc *e)
{
	const hp_pprof_profile *p = e->prof;
	size_t m, i;

	const char *last = p->last_comment ? p->last_comment(p->last_comment_ctx) : NULL;

	if (!p->ncomments && !last)
		return;
	m = hp_begin(e, PROFILE_COMMENT);
	for (i = 0; i < p->ncomments; i++)
		hp_varint(e, hp_intern(e, p->comments[i]));
	if (last)
		hp_varint(e, hp_intern(e, last));
	hp_end(e, m);
}

static void hp_put_header(struct hp_enc *e)
{
	const hp_pprof_profile *p = e->prof;
	int i;

	for (i = 0; i < HP_NVALUES; i++)
		hp_put_value_type(e, PROFILE_SAMPLE_TYPE, hp_type_names[i][0], hp_type_names[i][1]);
	hp_put_value_type(e, PROFILE_PERIOD_TYPE, "space", "bytes");
	hp_uint(e, PROFILE_PERIOD, (uint64_t)p->period);
	hp_uint(e, PROFILE_TIME_NANOS, (uint64_t)p->time_nanos);
	hp_uint(e, PROFILE_DURATION_NANOS, (uint64_t)p->duration_nanos);
	hp_uint(e, PROFILE_DEFAULT_SAMPLE_TYPE,
		hp_intern(e, hp_type_names[p->default_sample_type][0]));
}

static int hp_all_zero(const hp_pprof_sample *s)
{
	int i;

	for (i = 0; i < HP_NVALUES; i++)
		if (s->values[i])
			return 0;
	return 1;
}

static void hp_put_sample(struct hp_enc *e, const hp_pprof_sample *s)
{
	size_t msg, arr;
	uint32_t i;

	if (hp_all_zero(s))
		return;
	msg = hp_begin(e, PROFILE_SAMPLE);
	arr = hp_begin(e, SAMPLE_LOCATION_ID);
	for (i = 0; i < s->depth && !e->oom; i++)
		hp_varint(e, hp_loc_id(e, s->pcs[i]));
	hp_end(e, arr);
	arr = hp_begin(e, SAMPLE_VALUE);
	for (i = 0; i < HP_NVALUES; i++)
		hp_varint(e, (uint64_t)s->values[i]);
	hp_end(e, arr);
	hp_end(e, msg);
}

static void hp_put_mapping(struct hp_enc *e, size_t i)
{
	const hp_pprof_mapping *mp = &e->prof->mappings[i];
	size_t m = hp_begin(e, PROFILE_MAPPING);

	hp_uint(e, MAPPING_ID, i + 1);
	hp_uint(e, MAPPING_MEMORY_START, mp->start);
	hp_uint(e, MAPPING_MEMORY_LIMIT, mp->limit);
	hp_uint(e, MAPPING_FILE_OFFSET, mp->offset);
	hp_uint(e, MAPPING_FILENAME, hp_intern(e, mp->file));
	hp_uint(e, MAPPING_BUILD_ID, hp_intern(e, mp->build_id));
	hp_uint(e, MAPPING_HAS_FUNCTIONS, e->prof->symbolize != NULL);
	hp_end(e, m);
}

/* The address is pc - 1 so that it falls inside the call instruction: a return address
 * can belong to the next function (or line) after a call that does not return. The
 * symbolizer gets the same address for the same reason. */
static void hp_put_location(struct hp_enc *e, uint64_t id, uint64_t pc)
{
	const hp_pprof_profile *p = e->prof;
	uint64_t addr = pc - 1, fid = 0;
	size_t m, line;

	if (p->symbolize)
		fid = hp_func_id(e, p->symbolize(p->symbolize_ctx, addr));
	m = hp_begin(e, PROFILE_LOCATION);
	hp_uint(e, LOCATION_ID, id);
	hp_uint(e, LOCATION_MAPPING_ID, hp_mapping_id(e, addr));
	hp_uint(e, LOCATION_ADDRESS, addr);
	if (fid) {
		line = hp_begin(e, LOCATION_LINE);
		hp_uint(e, LINE_FUNCTION_ID, fid);
		hp_end(e, line);
	}
	hp_end(e, m);
}

static void hp_put_function(struct hp_enc *e, uint64_t id, uint64_t name)
{
	size_t m = hp_begin(e, PROFILE_FUNCTION);

	hp_uint(e, FUNCTION_ID, id);
	hp_uint(e, FUNCTION_NAME, name);
	hp_uint(e, FUNCTION_SYSTEM_NAME, name);
	hp_end(e, m);
}

static void hp_put_tables(struct hp_enc *e)
{
	size_t i;

	for (i = 0; i < e->prof->nmappings; i++)
		hp_put_mapping(e, i);
	for (i = 0; i < e->locs.n && !e->oom; i++)
		hp_put_location(e, i + 1, e->locs.pcs[i]);
	for (i = 0; i < e->nfns; i++)
		hp_put_function(e, i + 1, e->fn_names[i]);
	/* The comments after the locations: the last one may describe the encoding itself
	 * (symbols read, buffers grown). protobuf allows fields in any order. */
	if (!e->oom)
		hp_put_comments(e);
	/* Last: every string has been interned by now. */
	for (i = 0; i < e->strs.n && !e->oom; i++)
		hp_bytes(e, PROFILE_STRING_TABLE, e->strs.v[i].s, e->strs.v[i].len);
}

static int hp_check(const hp_pprof_profile *p)
{
	size_t i;

	if (!p || p->default_sample_type < 0 || p->default_sample_type >= HP_NVALUES)
		return -1;
	if ((p->nsamples && !p->samples) || (p->nmappings && !p->mappings) ||
	    (p->ncomments && !p->comments))
		return -1;
	for (i = 0; i < p->nsamples; i++)
		if (p->samples[i].depth && !p->samples[i].pcs)
			return -1;
	return 0;
}

static void hp_enc_free(struct hp_enc *e)
{
	hp_ifree_k(HP_MEM_DUMP, e->buf);
	hp_ifree_k(HP_MEM_DUMP, e->strs.v);
	hp_ifree_k(HP_MEM_DUMP, e->strs.slots);
	hp_ifree_k(HP_MEM_DUMP, e->locs.slots);
	hp_ifree_k(HP_MEM_DUMP, e->locs.pcs);
	hp_ifree_k(HP_MEM_DUMP, e->fn_names);
	hp_ifree_k(HP_MEM_DUMP, e->ranges);
}

int hp_pprof_encode(const hp_pprof_profile *prof, uint8_t **out, size_t *outlen)
{
	struct hp_enc e = { .prof = prof };
	size_t i;

	if (!out || !outlen || hp_check(prof) < 0)
		return -EINVAL;
	if (hp_ranges_init(&e) < 0)
		e.oom = 1;
	hp_intern(&e, "");	/* index 0 must be "" */
	hp_put_header(&e);
	for (i = 0; i < prof->nsamples && !e.oom; i++)
		hp_put_sample(&e, &prof->samples[i]);
	hp_put_tables(&e);
	if (e.oom) {
		hp_enc_free(&e);
		return -ENOMEM;
	}
	*out = e.buf;
	*outlen = e.len;
	e.buf = NULL;
	hp_enc_free(&e);
	return 0;
}
