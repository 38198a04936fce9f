/* tools/units: how the commands print sample values: bytes in binary units with one
 * decimal (B, KiB, MiB, GiB), everything else as a plain integer. */
#ifndef HPT_UNITS_H
#define HPT_UNITS_H
#include <stddef.h>
#include <stdint.h>

/* Whether a pprof sample unit ("bytes", "count", ...) is a size. */
int un_is_bytes(const char *unit);

/* Formats v in unit into buf: "40.0MiB", "512B", "1234". raw: plain integer always. */
void un_format(char *buf, size_t n, int64_t v, const char *unit, int raw);

/* Parses a size as the library's settings write them: digits with an optional k, m, g
 * or t suffix (binary: 1k = 1024), case-insensitive, also with "iB" or "B" after the
 * suffix ("64KiB", "1MB"). Returns 0, or -1 when s is not such a size. */
int un_parse_size(const char *s, int64_t *out);

/* a + b and a - b wrapping around, as go tool pprof's int64 sums do: values come from
 * the file, and a sum of hostile values must not be undefined behaviour. */
static inline int64_t un_add(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

static inline int64_t un_sub(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a - (uint64_t)b);
}

/* 100 * part / total, 0 when total is 0. */
double un_pct(int64_t part, int64_t total);

#endif
