/* tools/encode.c: pprof (profile.proto) encoding of a tools/profile profile.
 *
 * Strings are interned into the string table as they are met (index 0 is ""); each
 * message is encoded into a scratch buffer and appended with its length. Ids are written
 * as the profile holds them (the reader checked they are unique and nonzero). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "encode.h"
#include "gzout.h"

typedef struct buf {
	uint8_t *p;
	size_t n, cap;
	int oom;
} buf;

typedef struct strtab {
	const char **v;		/* index -> string */
	size_t n, cap;
	uint32_t *slots;	/* open addressing: index + 1, 0 = empty */
	size_t mask;
} strtab;

typedef struct enc {
	buf out, msg, sub;
	strtab st;
	int oom;
} enc;

static void b_grow(buf *b, size_t more)
{
	if (b->oom || b->cap - b->n >= more)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->n < more) {
		if (cap > SIZE_MAX / 2) {
			b->oom = 1;
			return;
		}
		cap *= 2;
	}
	uint8_t *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void b_put(buf *b, const void *data, size_t n)
{
	b_grow(b, n);
	if (b->oom || n == 0)
		return;
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

static void b_varint(buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	b_put(b, tmp, n);
}

/* A varint field, omitted when 0 (proto3 default). */
static void b_int(buf *b, uint32_t field, uint64_t v)
{
	if (!v)
		return;
	b_varint(b, (uint64_t)field << 3);
	b_varint(b, v);
}

/* A length-delimited field. */
static void b_bytes(buf *b, uint32_t field, const void *data, size_t n)
{
	b_varint(b, (uint64_t)field << 3 | 2);
	b_varint(b, n);
	b_put(b, data, n);
}

/* A packed repeated varint field (omitted when empty). */
static void b_packed(buf *b, buf *scratch, uint32_t field, const uint64_t *v, size_t n)
{
	if (!n)
		return;
	scratch->n = 0;
	for (size_t i = 0; i < n; i++)
		b_varint(scratch, v[i]);
	if (scratch->oom) {
		b->oom = 1;
		return;
	}
	b_bytes(b, field, scratch->p, scratch->n);
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static int st_rehash(strtab *t, size_t cap)
{
	uint32_t *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = hash_str(t->v[i]) & (cap - 1);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->mask = cap - 1;
	return 0;
}

/* The index of s in the string table, added if new; 0 (also for "") when out of memory. */
static uint64_t str(enc *e, const char *s)
{
	strtab *t = &e->st;

	if (!s || !s[0] || e->oom)
		return 0;
	size_t j = hash_str(s) & t->mask;
	while (t->slots[j]) {
		if (strcmp(t->v[t->slots[j] - 1], s) == 0)
			return t->slots[j] - 1;
		j = (j + 1) & t->mask;
	}
	if (t->n == t->cap) {
		const char **v = t->cap < UINT32_MAX / 4 ?
			realloc(t->v, 2 * t->cap * sizeof(*v)) : NULL;
		if (!v) {
			e->oom = 1;
			return 0;
		}
		t->v = v;
		t->cap *= 2;
	}
	t->v[t->n] = s;
	t->slots[j] = (uint32_t)++t->n;
	if (2 * t->n > t->mask && st_rehash(t, 2 * (t->mask + 1))) {
		e->oom = 1;
		return 0;
	}
	return t->n - 1;
}

/* Ends the message in e->msg as field of the profile. */
static void emit(enc *e, uint32_t field)
{
	if (e->msg.oom || e->sub.oom)
		e->oom = 1;
	b_bytes(&e->out, field, e->msg.p, e->msg.n);
	e->msg.n = 0;
}

/* Encodes a ValueType into e->sub. */
static void value_type(enc *e, const pf_value_type *vt)
{
	e->sub.n = 0;
	b_int(&e->sub, 1, str(e, vt->type));
	b_int(&e->sub, 2, str(e, vt->unit));
	if (e->sub.oom)
		e->oom = 1;
}

/* Mapping.has_* as pprof reads them: whether the mapping's locations carry function
 * names, file names, line numbers, inlined frames (a reader symbolizes the rest). */
enum { HAS_FUNCTIONS = 1, HAS_FILENAMES = 2, HAS_LINE_NUMBERS = 4, HAS_INLINE_FRAMES = 8 };

static unsigned mapping_flags(const pf_location *l)
{
	unsigned f = l->nlines > 1 ? HAS_INLINE_FRAMES : 0;

	for (size_t j = 0; j < l->nlines; j++) {
		const pf_function *fn = l->lines[j].function;
		if (fn && (fn->name[0] || fn->system_name[0]))
			f |= HAS_FUNCTIONS;
		if (fn && fn->filename[0])
			f |= HAS_FILENAMES;
		if (l->lines[j].line > 0)
			f |= HAS_LINE_NUMBERS;
	}
	return f;
}

static void encode_all(enc *e, const pf_profile *p)
{
	buf *m = &e->msg;

	for (size_t i = 0; i < p->ntypes; i++) {
		value_type(e, &p->sample_types[i]);
		b_bytes(&e->out, 1, e->sub.p, e->sub.n);
	}
	for (size_t i = 0; i < p->nsamples; i++) {
		const pf_sample *s = &p->samples[i];
		b_packed(m, &e->sub, 1, s->location_ids, s->nlocs);
		b_packed(m, &e->sub, 2, (const uint64_t *)s->values, p->ntypes);
		emit(e, 2);
	}
	uint8_t *has = calloc(p->nmappings + 1, 1);
	if (!has)
		e->oom = 1;
	for (size_t i = 0; has && i < p->nlocations; i++)
		if (p->locations[i].mapping)
			has[p->locations[i].mapping - p->mappings] |=
				mapping_flags(&p->locations[i]);
	for (size_t i = 0; i < p->nmappings; i++) {
		const pf_mapping *mp = &p->mappings[i];
		unsigned f = has ? has[i] : 0;
		b_int(m, 1, mp->id);
		b_int(m, 2, mp->start);
		b_int(m, 3, mp->limit);
		b_int(m, 4, mp->offset);
		b_int(m, 5, str(e, mp->filename));
		b_int(m, 6, str(e, mp->build_id));
		b_int(m, 7, !!(f & HAS_FUNCTIONS));
		b_int(m, 8, !!(f & HAS_FILENAMES));
		b_int(m, 9, !!(f & HAS_LINE_NUMBERS));
		b_int(m, 10, !!(f & HAS_INLINE_FRAMES));
		emit(e, 3);
	}
	free(has);
	for (size_t i = 0; i < p->nlocations; i++) {
		const pf_location *l = &p->locations[i];
		b_int(m, 1, l->id);
		b_int(m, 2, l->mapping_id);
		b_int(m, 3, l->address);
		for (size_t j = 0; j < l->nlines; j++) {
			e->sub.n = 0;
			b_int(&e->sub, 1, l->lines[j].function_id);
			b_int(&e->sub, 2, (uint64_t)l->lines[j].line);
			if (e->sub.oom)
				e->oom = 1;
			b_bytes(m, 4, e->sub.p, e->sub.n);
		}
		emit(e, 4);
	}
	for (size_t i = 0; i < p->nfunctions; i++) {
		const pf_function *f = &p->functions[i];
		b_int(m, 1, f->id);
		b_int(m, 2, str(e, f->name));
		b_int(m, 3, str(e, f->system_name));
		b_int(m, 4, str(e, f->filename));
		b_int(m, 5, (uint64_t)f->start_line);
		emit(e, 5);
	}
	b_int(&e->out, 9, (uint64_t)p->time_nanos);
	b_int(&e->out, 10, (uint64_t)p->duration_nanos);
	if (p->period_type.type[0] || p->period_type.unit[0]) {
		value_type(e, &p->period_type);
		b_bytes(&e->out, 11, e->sub.p, e->sub.n);
	}
	b_int(&e->out, 12, (uint64_t)p->period);
	for (size_t i = 0; i < p->ncomments; i++) {	/* also "" (index 0): not b_int */
		b_varint(&e->out, (uint64_t)13 << 3);
		b_varint(&e->out, str(e, p->comments[i]));
	}
	b_int(&e->out, 14, str(e, p->default_sample_type));
}

int en_encode(const pf_profile *p, uint8_t **out, size_t *len)
{
	enc e = { 0 };
	buf final = { 0 };

	e.st.cap = 64;
	e.st.v = malloc(e.st.cap * sizeof(*e.st.v));
	if (!e.st.v || st_rehash(&e.st, 128)) {
		free(e.st.v);
		return -ENOMEM;
	}
	e.st.v[e.st.n++] = "";
	encode_all(&e, p);
	/* The string table goes last: it is complete only now. */
	for (size_t i = 0; i < e.st.n; i++)
		b_bytes(&final, 6, e.st.v[i], strlen(e.st.v[i]));
	b_put(&final, e.out.p, e.out.n);
	int oom = e.oom || e.out.oom || e.msg.oom || e.sub.oom || final.oom;
	free(e.out.p);
	free(e.msg.p);
	free(e.sub.p);
	free(e.st.v);
	free(e.st.slots);
	if (oom) {
		free(final.p);
		return -ENOMEM;
	}
	*out = final.p;
	*len = final.n;
	return 0;
}

int en_write(const pf_profile *p, const char *path, char *err, size_t errlen)
{
	uint8_t *data;
	size_t len;
	char tmp[PATH_MAX + 32], real[PATH_MAX];
	struct stat st;
	int fd, e;

	if (en_encode(p, &data, &len)) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (strcmp(path, "-") == 0) {
		e = hp_gz_write_fd(1, data, len, 6);
		free(data);
		if (e) {
			snprintf(err, errlen, "standard output: %s", strerror(-e));
			return -1;
		}
		return 0;
	}
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		/* A device or a pipe (/dev/stdout, a FIFO) is written in place, never replaced;
		 * a directory is refused by open. */
		fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
		e = fd < 0 ? -errno : hp_gz_write_fd(fd, data, len, 6);
		if (fd >= 0 && close(fd) != 0 && !e)
			e = -errno;
		free(data);
		if (e) {
			snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-e));
			return -1;
		}
		return 0;
	}
	/* A symbolic link to a file: the file it names is replaced, not the link. */
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && realpath(path, real))
		path = real;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
		free(data);
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		e = errno;
		free(data);
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e));
		return -1;
	}
	e = hp_gz_write_fd(fd, data, len, 6);
	free(data);
	if (!e && fsync(fd) != 0)
		e = -errno;
	if (close(fd) != 0 && !e)
		e = -errno;
	if (!e && rename(tmp, path) != 0)
		e = -errno;
	if (e) {
		unlink(tmp);
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-e));
		return -1;
	}
	return 0;
}
