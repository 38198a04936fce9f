/* lib/textprof.c: a heap profile in the legacy gperftools text format (see textprof.h).
 *
 * Written to give byte for byte what `heapprof convert --to text` (tools/legacy.c lg_write)
 * writes for the pprof file encoded from the same description: same arithmetic (the
 * inline functions of textprof.h), same layout. The pcs are written as they are (return
 * addresses, as gperftools records them); the pprof file holds pc - 1 and lg_write adds
 * the 1 back.
 *
 * One pass: each sample's raw figures are computed once, its line appended and the totals
 * summed; the header, which needs the totals, is written into room kept at the start and
 * the body moved down next to it. Dumper side only; snprintf into the buffer, no FILE. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "arena.h"
#include "textprof.h"

/* Room kept for the header: "heap profile: " and four int64 figures with their
 * separators, then "heap_v2/" and the rate. */
#define HEADER_ROOM 192

typedef struct tbuf {
	uint8_t *p;
	size_t len, cap;
	int err;	/* sticky: -ENOMEM */
} tbuf;

/* Room for n more bytes (plus a NUL for snprintf). */
static int reserve(tbuf *b, size_t n)
{
	if (b->err)
		return -1;
	if (n + 1 <= b->cap - b->len)
		return 0;
	size_t c = b->cap ? b->cap : 4096;
	while (c - b->len < n + 1) {
		if (c > SIZE_MAX / 2) {
			b->err = -ENOMEM;
			return -1;
		}
		c *= 2;
	}
	uint8_t *q = b->p ? hp_irealloc_k(HP_MEM_DUMP, b->p, c) : hp_ialloc_k(HP_MEM_DUMP, c);
	if (!q) {
		b->err = -ENOMEM;
		return -1;
	}
	b->p = q;
	b->cap = c;
	return 0;
}

/* Appends printf-style text (the buffer has been reserved once already). */
__attribute__((format(printf, 2, 3)))
static void put(tbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf((char *)b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {	/* not on these formats */
		b->err = -EINVAL;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (reserve(b, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf((char *)b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static void put_str(tbuf *b, const char *s, size_t n)
{
	if (reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Sample s's raw line figures in the file's order: in use objects, bytes, then allocated
 * objects, bytes. 0, -EINVAL (negative value) or -ERANGE. */
static int sample_raw(const hp_pprof_sample *s, int64_t rate, int64_t raw[4])
{
	for (int t = 0; t < HP_NVALUES; t++) {
		if (s->values[t] < 0)
			return -EINVAL;
		if (s->values[t] > HP_TEXT_MAX)
			return -ERANGE;
	}
	hp_text_raw_pair(s->values[HP_INUSE_OBJECTS], s->values[HP_INUSE_SPACE], rate, raw);
	hp_text_raw_pair(s->values[HP_ALLOC_OBJECTS], s->values[HP_ALLOC_SPACE], rate, raw + 2);
	if (!hp_text_unbiases(raw[0], raw[1], rate) || !hp_text_unbiases(raw[2], raw[3], rate))
		return -ERANGE;
	return 0;
}

static int check(const hp_pprof_profile *p, uint8_t **out, size_t *outlen)
{
	if (!p || !out || !outlen)
		return -EINVAL;
	if ((p->nsamples && !p->samples) || (p->nmappings && !p->mappings))
		return -EINVAL;
	for (size_t i = 0; i < p->nsamples; i++)
		if (p->samples[i].depth && !p->samples[i].pcs)
			return -EINVAL;
	return 0;
}

/* One line per sample with anything to show; sums the raw figures into tot. */
static int put_samples(tbuf *b, const hp_pprof_profile *p, int64_t rate, int64_t tot[4])
{
	int64_t raw[4];
	int err;

	for (size_t i = 0; i < p->nsamples && !b->err; i++) {
		const hp_pprof_sample *s = &p->samples[i];
		if ((err = sample_raw(s, rate, raw)) != 0)
			return err;
		for (int k = 0; k < 4; k++)
			if (__builtin_add_overflow(tot[k], raw[k], &tot[k]))
				return -ERANGE;
		if (!raw[0] && !raw[1] && !raw[2] && !raw[3])
			continue;
		put(b, "%6" PRId64 ": %8" PRId64 " [%6" PRId64 ": %8" PRId64 "] @", raw[0], raw[1],
		    raw[2], raw[3]);
		for (uint32_t j = 0; j < s->depth; j++)
			put(b, " 0x%08" PRIx64, s->pcs[j]);
		put_str(b, "\n", 1);
	}
	return b->err;
}

/* The mappings as /proc/self/maps lines. */
static void put_maps(tbuf *b, const hp_pprof_profile *p)
{
	static const char head[] = "\nMAPPED_LIBRARIES:\n";

	put_str(b, head, sizeof(head) - 1);
	for (size_t i = 0; i < p->nmappings; i++) {
		const hp_pprof_mapping *m = &p->mappings[i];
		if (!m->file || !m->file[0] || m->limit <= m->start || strpbrk(m->file, "\r\n"))
			continue;
		put(b, "%08" PRIx64 "-%08" PRIx64 " r-xp %08" PRIx64 " 00:00 0 %s\n", m->start,
		    m->limit, m->offset, m->file);
	}
}

int hp_textprof_encode(const hp_pprof_profile *prof, uint8_t **out, size_t *outlen)
{
	tbuf b = { NULL, 0, 0, 0 };
	int64_t tot[4] = { 0, 0, 0, 0 };
	int64_t rate;
	char head[HEADER_ROOM];
	int err, n;

	if ((err = check(prof, out, outlen)) != 0)
		return err;
	rate = prof->period > 1 ? prof->period : 1;
	if (reserve(&b, HEADER_ROOM))
		return b.err;
	b.len = HEADER_ROOM;
	if ((err = put_samples(&b, prof, rate, tot)) == 0) {
		put_maps(&b, prof);
		err = b.err;
	}
	if (!err) {
		n = snprintf(head, sizeof(head), "heap profile: %6" PRId64 ": %8" PRId64
			     " [%6" PRId64 ": %8" PRId64 "] @ ", tot[0], tot[1], tot[2], tot[3]);
		if (n > 0 && (size_t)n < sizeof(head))
			n += rate > 1 ? snprintf(head + n, sizeof(head) - (size_t)n,
						 "heap_v2/%" PRId64 "\n", rate)
				      : snprintf(head + n, sizeof(head) - (size_t)n,
						 "heapprofile\n");
		if (n <= 0 || (size_t)n >= sizeof(head))
			err = -ERANGE;	/* cannot happen: 4 + 1 int64s fit */
	}
	if (err) {
		hp_ifree_k(HP_MEM_DUMP, b.p);
		return err;
	}
	memmove(b.p + n, b.p + HEADER_ROOM, b.len - HEADER_ROOM);
	memcpy(b.p, head, (size_t)n);
	*out = b.p;
	*outlen = b.len - HEADER_ROOM + (size_t)n;
	return 0;
}
