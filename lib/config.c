/* lib/config: see config.h. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "log.h"

void hp_config_defaults(hp_config *c, int env_set)
{
	c->rate = HP_RATE_DEFAULT;
	c->depth = 64;
	c->signal = env_set ? SIGUSR1 : 0;
	c->at_exit = env_set;
	c->env_set = env_set;
	c->format = HP_FORMAT_PPROF;
	c->http_port = -1;
	strcpy(c->http_addr, "127.0.0.1");
	strcpy(c->prefix, "heapprof");
}

int hp_parse_size(const char *s, size_t len, size_t *out)
{
	uint64_t v = 0, mult = 1;
	size_t i = 0;

	if (len == 0)
		return -EINVAL;
	switch (s[len - 1]) {
	case 'k': case 'K': mult = 1ull << 10; len--; break;
	case 'm': case 'M': mult = 1ull << 20; len--; break;
	case 'g': case 'G': mult = 1ull << 30; len--; break;
	case 't': case 'T': mult = 1ull << 40; len--; break;
	}
	if (len == 0)
		return -EINVAL;
	for (; i < len; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (v > UINT64_MAX / mult || v * mult > SIZE_MAX)
		return -ERANGE;
	*out = (size_t)(v * mult);
	return 0;
}

/* A user's value, shortened and with control characters replaced, for a one-line message. */
static const char *shown(char *buf, size_t size, const char *s, size_t len)
{
	size_t n = len < size - 4 ? len : size - 4;

	for (size_t i = 0; i < n; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (n < len)
		memcpy(buf + n, "...", 3), n += 3;
	buf[n] = '\0';
	return buf;
}

static int parse_int(const char *s, size_t len, int lo, int hi, int *out)
{
	size_t v;

	if (hp_parse_size(s, len, &v) || (s[len - 1] < '0' || s[len - 1] > '9'))
		return -EINVAL;
	if (v < (size_t)lo || v > (size_t)hi)
		return -ERANGE;
	*out = (int)v;
	return 0;
}

static int is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

static int parse_bool(const char *s, size_t len, int *out)
{
	if (is(s, len, "1") || is(s, len, "yes") || is(s, len, "true") || is(s, len, "on"))
		*out = 1;
	else if (is(s, len, "0") || is(s, len, "no") || is(s, len, "false") || is(s, len, "off"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

/* USR1, SIGUSR2, RTMIN+3, a number in USR1/USR2/the real-time range, or none/0/off.
 * Signals that mean something else to a process (SEGV, TERM, ...) are refused. */
static int parse_signal(const char *s, size_t len, int *out)
{
	int n;

	if (len > 3 && strncasecmp(s, "SIG", 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (is(s, len, "none") || is(s, len, "off") || is(s, len, "0")) {
		*out = 0;
		return 0;
	}
	if (is(s, len, "USR1") || is(s, len, "USR2")) {
		*out = (s[3] == '1') ? SIGUSR1 : SIGUSR2;
		return 0;
	}
	if (len > 6 && strncasecmp(s, "RTMIN+", 6) == 0 &&
	    parse_int(s + 6, len - 6, 0, SIGRTMAX - SIGRTMIN, &n) == 0) {
		*out = SIGRTMIN + n;
		return 0;
	}
	if (parse_int(s, len, 1, SIGRTMAX, &n) == 0 &&
	    (n == SIGUSR1 || n == SIGUSR2 || (n >= SIGRTMIN && n <= SIGRTMAX))) {
		*out = n;
		return 0;
	}
	return -EINVAL;
}

static int set_rate(hp_config *c, const char *v, size_t len)
{
	size_t r;

	char b[72];

	if (hp_parse_size(v, len, &r) || r > HP_RATE_MAX) {
		hp_log("HEAPPROF: rate=%s is not a size up to 1t (e.g. rate=512k; rate=0 turns "
		       "sampling off, rate=1 records every allocation); keeping rate=%zu",
		       shown(b, sizeof(b), v, len), c->rate);
		return 1;
	}
	c->rate = r;
	return 0;
}

static int set_prefix(hp_config *c, const char *v, size_t len)
{
	char b[72];

	if (len == 0 || len >= HP_PREFIX_MAX) {
		hp_log("HEAPPROF: prefix must be a path of 1 to %d characters (e.g. "
		       "prefix=/tmp/app); keeping prefix=%s", HP_PREFIX_MAX - 1,
		       shown(b, sizeof(b), c->prefix, strlen(c->prefix)));
		return 1;
	}
	memcpy(c->prefix, v, len);
	c->prefix[len] = '\0';
	return 0;
}

/* http=PORT, http=ADDR:PORT, http=[ADDR6]:PORT, or off/none/0: the address must be numeric
 * (parsing runs inside malloc: no resolver). Without an address: loopback only. */
static int set_http(hp_config *c, const char *v, size_t len)
{
	const char *colon = NULL, *a = v, *pend;
	size_t alen = 0, i;
	int port;
	char b[72];

	if (is(v, len, "off") || is(v, len, "none") || is(v, len, "0")) {
		c->http_port = -1;
		return 0;
	}
	if (len && v[0] == '[') {
		const char *close = memchr(v, ']', len);

		if (close && close + 1 < v + len && close[1] == ':') {
			a = v + 1;
			alen = (size_t)(close - a);
			colon = close + 1;
		}
	} else {
		for (i = len; i > 0; i--)
			if (v[i - 1] == ':') {
				colon = v + i - 1;
				break;
			}
		if (colon) {
			alen = (size_t)(colon - v);
			if (memchr(v, ':', alen))
				colon = NULL;	/* a bare IPv6 address needs its brackets */
		}
	}
	pend = v + len;
	if (!colon) {
		a = NULL;
		colon = v - 1;	/* the whole value is the port */
	}
	if (colon + 1 >= pend || parse_int(colon + 1, (size_t)(pend - colon - 1), 0, 65535, &port) ||
	    (a && alen >= sizeof(c->http_addr))) {
		hp_log("HEAPPROF: http=%s is not PORT or ADDR:PORT (e.g. http=6060 for "
		       "127.0.0.1:6060, http=0.0.0.0:6060, http=[::1]:6060; port 0 picks a free "
		       "one); the HTTP endpoint stays off", shown(b, sizeof(b), v, len));
		return 1;
	}
	for (i = 0; a && i < alen; i++)
		if (!((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f') ||
		      (a[i] >= 'A' && a[i] <= 'F') || a[i] == '.' || a[i] == ':')) {
			hp_log("HEAPPROF: http=%s: the address must be numeric (e.g. "
			       "http=0.0.0.0:6060 or http=[::]:6060); the HTTP endpoint stays off",
			       shown(b, sizeof(b), v, len));
			return 1;
		}
	if (a && alen) {
		memcpy(c->http_addr, a, alen);
		c->http_addr[alen] = '\0';
	} else {
		strcpy(c->http_addr, "127.0.0.1");
	}
	c->http_port = port;
	return 0;
}

static int set_item(hp_config *c, const char *k, size_t klen, const char *v, size_t vlen)
{
	char b[72];
	int x;

	if (is(k, klen, "rate"))
		return set_rate(c, v, vlen);
	if (is(k, klen, "prefix"))
		return set_prefix(c, v, vlen);
	if (is(k, klen, "signal")) {
		if (parse_signal(v, vlen, &x) == 0) {
			c->signal = x;
			return 0;
		}
		hp_log("HEAPPROF: signal=%s is not usable (use USR1, USR2, RTMIN+N, or none); "
		       "keeping signal=%d", shown(b, sizeof(b), v, vlen), c->signal);
		return 1;
	}
	if (is(k, klen, "at_exit")) {
		if (parse_bool(v, vlen, &x) == 0) {
			c->at_exit = x;
			return 0;
		}
		hp_log("HEAPPROF: at_exit=%s is not 0 or 1; keeping at_exit=%d",
		       shown(b, sizeof(b), v, vlen), c->at_exit);
		return 1;
	}
	if (is(k, klen, "interval")) {
		size_t iv;
		if (hp_parse_size(v, vlen, &iv) == 0 && iv <= HP_RATE_MAX) {
			c->interval = iv;
			return 0;
		}
		hp_log("HEAPPROF: interval=%s is not a size up to 1t (e.g. interval=100m: a profile "
		       "every 100 MiB allocated; 0 turns it off); keeping interval=%zu",
		       shown(b, sizeof(b), v, vlen), c->interval);
		return 1;
	}
	if (is(k, klen, "every")) {
		if (vlen && parse_int(v, vlen, 0, HP_EVERY_MAX, &x) == 0) {
			c->every = x;
			return 0;
		}
		hp_log("HEAPPROF: every=%s is not a number of seconds from 0 to %d (e.g. every=60: "
		       "a profile a minute; 0 turns it off); keeping every=%d",
		       shown(b, sizeof(b), v, vlen), HP_EVERY_MAX, c->every);
		return 1;
	}
	if (is(k, klen, "depth")) {
		if (vlen && parse_int(v, vlen, 1, HP_DEPTH_MAX, &x) == 0) {
			c->depth = x;
			return 0;
		}
		hp_log("HEAPPROF: depth=%s is not a number from 1 to %d; keeping depth=%d",
		       shown(b, sizeof(b), v, vlen), HP_DEPTH_MAX, c->depth);
		return 1;
	}
	if (is(k, klen, "peak")) {
		if (vlen && parse_int(v, vlen, 0, HP_PEAK_MAX, &x) == 0) {
			c->peak = x;
			return 0;
		}
		hp_log("HEAPPROF: peak=%s is not a percentage from 0 to %d (e.g. peak=10: a "
		       "profile each time the live heap passes its last peak by 10%%; 0 turns it "
		       "off); keeping peak=%d", shown(b, sizeof(b), v, vlen), HP_PEAK_MAX, c->peak);
		return 1;
	}
	if (is(k, klen, "max_files")) {
		if (vlen && parse_int(v, vlen, 0, HP_MAX_FILES_MAX, &x) == 0) {
			c->max_files = x;
			return 0;
		}
		hp_log("HEAPPROF: max_files=%s is not a number from 0 to %d (e.g. max_files=10 "
		       "keeps the 10 newest profiles; 0: no limit); keeping max_files=%d",
		       shown(b, sizeof(b), v, vlen), HP_MAX_FILES_MAX, c->max_files);
		return 1;
	}
	if (is(k, klen, "format")) {
		if (is(v, vlen, "pprof"))
			c->format = HP_FORMAT_PPROF;
		else if (is(v, vlen, "text"))
			c->format = HP_FORMAT_TEXT;
		else if (is(v, vlen, "both"))
			c->format = HP_FORMAT_BOTH;
		else {
			hp_log("HEAPPROF: format=%s is not pprof, text or both; keeping format=%s",
			       shown(b, sizeof(b), v, vlen), c->format == HP_FORMAT_BOTH ? "both" :
			       c->format == HP_FORMAT_TEXT ? "text" : "pprof");
			return 1;
		}
		return 0;
	}
	if (is(k, klen, "http"))
		return set_http(c, v, vlen);
	hp_log("HEAPPROF: unknown setting \"%s\" ignored (known: rate, prefix, signal, "
	       "at_exit, depth, interval, every, peak, max_files, format, http)",
	       shown(b, sizeof(b), k, klen));
	return 1;
}

int hp_config_parse(hp_config *c, const char *s)
{
	size_t rate_before = c->rate;
	int warnings = 0, after_rate = 0;
	char b[72];

	if (*s == '\0') {
		hp_log("HEAPPROF is set but empty; using the defaults (e.g. HEAPPROF=rate=512k,"
		       "prefix=/tmp/app)");
		return 1;
	}
	while (*s) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		int is_rate = eq && is(s, (size_t)(eq - s), "rate");

		if (len == 0) {
			/* an empty item (",," or a trailing comma) is harmless */
		} else if (!eq && after_rate) {
			/* "rate=1,024": a thousands separator split the rate; never keep rate=1 */
			hp_log("HEAPPROF: rate=...,%s: sizes take no thousands separator (e.g. "
			       "rate=1024 or rate=1k); keeping rate=%zu", shown(b, sizeof(b), s, len),
			       rate_before);
			c->rate = rate_before;
			warnings++;
		} else if (!eq) {
			hp_log("HEAPPROF: \"%s\" is not key=value (e.g. rate=512k); ignored",
			       shown(b, sizeof(b), s, len));
			warnings++;
		} else {
			if (is_rate)
				rate_before = c->rate;
			warnings += set_item(c, s, (size_t)(eq - s), eq + 1,
					     len - (size_t)(eq - s) - 1);
		}
		after_rate = is_rate || (after_rate && !eq && len);
		s += len;
		if (*s == ',')
			s++;
	}
	return warnings;
}
