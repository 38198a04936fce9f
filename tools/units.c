/* tools/units.c: value formatting shared by top, flame and collapse. Binary units to
 * match the sizes a C programmer passes to malloc (1 MiB = 1048576 bytes). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "units.h"

int un_is_bytes(const char *unit)
{
	return strcmp(unit, "bytes") == 0;
}

void un_format(char *buf, size_t n, int64_t v, const char *unit, int raw)
{
	static const char *const names[] = { "KiB", "MiB", "GiB" };
	uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	const char *sign = v < 0 ? "-" : "";
	double x;
	size_t i = 0;

	if (raw || !un_is_bytes(unit)) {
		snprintf(buf, n, "%" PRId64, v);
		return;
	}
	if (a < 1024) {
		snprintf(buf, n, "%s%" PRIu64 "B", sign, a);
		return;
	}
	/* Move up a unit when one decimal would round to 1024.0 of this one. */
	x = (double)a / 1024;
	while (i + 1 < sizeof(names) / sizeof(names[0]) && x >= 1023.95) {
		x /= 1024;
		i++;
	}
	snprintf(buf, n, "%s%.1f%s", sign, x, names[i]);
}

int un_parse_size(const char *s, int64_t *out)
{
	static const char units[] = "kmgt";
	uint64_t v = 0;
	const char *p = s, *u;
	int shift = 0;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (uint64_t)INT64_MAX / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p && (u = strchr(units, tolower((unsigned char)*p)))) {
		shift = 10 * (int)(u - units + 1);
		p++;
		if (*p == 'i' || *p == 'I')
			p++;
		if (*p == 'b' || *p == 'B')
			p++;
	} else if (*p == 'b' || *p == 'B') {
		p++;
	}
	if (*p || v > ((uint64_t)INT64_MAX >> shift))
		return -1;
	*out = (int64_t)(v << shift);
	return 0;
}

double un_pct(int64_t part, int64_t total)
{
	return total ? 100.0 * (double)part / (double)total : 0.0;
}
