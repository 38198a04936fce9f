/* Unit test of lib/config: the defaults, hp_parse_size, and hp_config_parse with good and
 * bad HEAPPROF strings. A bad item must give exactly one warning line on stderr
 * ("heapprof: HEAPPROF...", one line, under 400 characters) and change nothing; stderr is
 * redirected to a temporary file around each parse to count and check the lines. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "tests/tap.h"
#include "lib/config.h"	/* "config.h" is the build directory's autoconf header */

#define OUT_MAX 65536

typedef struct parsed {
	int ret;		/* hp_config_parse's return */
	int lines;		/* lines written to stderr */
	int well_formed;	/* each "heapprof: HEAPPROF...", < 400 chars, '\n'-terminated */
	char text[OUT_MAX];
} parsed;

static parsed out;

static void check_lines(parsed *p, size_t n)
{
	const char *line = p->text;

	p->lines = 0;
	p->well_formed = n == 0 || p->text[n - 1] == '\n';
	while (line < p->text + n) {
		const char *nl = memchr(line, '\n', (size_t)(p->text + n - line));
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		p->lines++;
		p->well_formed &= strncmp(line, "heapprof: HEAPPROF", 18) == 0 && len < 400;
		line += len + 1;
	}
}

/* hp_config_parse(c, s) with fd 2 going to a temporary file; the output in `out`. */
static int parse(hp_config *c, const char *s)
{
	FILE *tmp = tmpfile();
	int saved = dup(2);
	size_t n;

	if (!tmp || saved < 0 || dup2(fileno(tmp), 2) < 0) {
		printf("Bail out! cannot redirect stderr\n");
		exit(1);
	}
	out.ret = hp_config_parse(c, s);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(out.text, 1, sizeof(out.text) - 1, tmp);
	out.text[n] = '\0';
	fclose(tmp);
	check_lines(&out, n);
	return out.ret;
}

static void defaults(hp_config *c, int env_set)
{
	memset(c, 0, sizeof(*c));
	hp_config_defaults(c, env_set);
}

static void test_defaults(void)
{
	hp_config c;

	memset(&c, 0x5a, sizeof(c));
	hp_config_defaults(&c, 0);
	ok(c.rate == 524288 && c.depth == 64 && c.signal == 0 && c.at_exit == 0 &&
	   c.env_set == 0 && strcmp(c.prefix, "heapprof") == 0,
	   "defaults without HEAPPROF: rate 512k, depth 64, no signal, no exit dump, heapprof");
	memset(&c, 0x5a, sizeof(c));
	hp_config_defaults(&c, 1);
	ok(c.rate == 524288 && c.depth == 64 && c.signal == SIGUSR1 && c.at_exit == 1 &&
	   c.env_set == 1 && strcmp(c.prefix, "heapprof") == 0,
	   "defaults with HEAPPROF: SIGUSR1 and the exit dump on, the rest the same");
}

static void size_ok(const char *s, size_t want)
{
	size_t v = 12345;
	int r = hp_parse_size(s, strlen(s), &v);

	ok(r == 0 && v == want, "parse_size \"%s\" = %zu (got %d, %zu)", s, want, r, v);
}

static void size_bad(const char *s, int want)
{
	size_t v = 12345;
	int r = hp_parse_size(s, strlen(s), &v);

	ok(r == want && v == 12345, "parse_size \"%s\" is refused with %s (got %d, %zu)", s,
	   want == -EINVAL ? "-EINVAL" : "-ERANGE", r, v);
}

static void test_parse_size_good(void)
{
	size_ok("0", 0);
	size_ok("1", 1);
	size_ok("4096", 4096);
	size_ok("512k", 524288);
	size_ok("1m", 1048576);
	size_ok("2g", 2147483648u);
	size_ok("1t", (size_t)1 << 40);
	size_ok("512K", 524288);
	size_ok("1M", 1048576);
	size_ok("2G", 2147483648u);
	size_ok("1T", (size_t)1 << 40);
	/* The largest multiples of g and t below 2^64. */
	size_ok("17179869183g", (((size_t)1 << 34) - 1) << 30);
	size_ok("16777215t", (((size_t)1 << 24) - 1) << 40);
}

static void test_parse_size_bad(void)
{
	size_bad("", -EINVAL);
	size_bad("k", -EINVAL);
	size_bad("-1", -EINVAL);
	size_bad("abc", -EINVAL);
	size_bad("1e99", -EINVAL);
	size_bad("12kb", -EINVAL);
	size_bad("1.5m", -EINVAL);
	size_bad(" 1", -EINVAL);
	size_bad("99999999999999999999", -ERANGE);
	size_bad("18446744073709551616", -ERANGE);
	size_bad("20000000000g", -ERANGE);
	size_bad("17179869184g", -ERANGE);
	size_bad("16777216t", -ERANGE);
}

static void test_parse_size_len(void)
{
	size_t v = 0, v1;
	int r1, r2;

	r1 = hp_parse_size("512kXYZ", 4, &v);
	v1 = v;
	r2 = hp_parse_size("12345", 2, &v);
	ok(r1 == 0 && v1 == 524288 && r2 == 0 && v == 12,
	   "parse_size reads only len characters (%zu, %zu)", v1, v);
}

static void test_full_string(void)
{
	hp_config c;

	defaults(&c, 1);
	parse(&c, "rate=64k,prefix=/tmp/x,signal=USR2,at_exit=0,depth=16");
	ok(out.ret == 0 &&
	   out.lines == 0, "a full good string: 0 warnings, nothing on stderr (%d, %d lines)",
	   out.ret, out.lines);
	ok(c.rate == 65536 && strcmp(c.prefix, "/tmp/x") == 0 && c.signal == SIGUSR2 &&
	   c.at_exit == 0 && c.depth == 16 && c.env_set == 1,
	   "it sets rate, prefix, signal, at_exit and depth (%zu %s %d %d %d)", c.rate, c.prefix,
	   c.signal, c.at_exit, c.depth);
	defaults(&c, 1);
	parse(&c, "rate=0,at_exit=off");
	ok(out.ret == 0 && c.rate == 0 && c.at_exit == 0,
	   "rate=0 (off) and at_exit=off");
	parse(&c, "rate=1,depth=256,at_exit=yes");
	ok(out.ret == 0 && c.rate == 1 && c.depth == 256 &&
	   c.at_exit == 1, "rate=1, depth=256 (the maximum), at_exit=yes");
	defaults(&c, 1);
	ok(c.interval == 0 && c.every == 0, "interval and every are off by default");
	parse(&c, "interval=100m,every=30");
	ok(out.ret == 0 && out.lines == 0 && c.interval == 100u << 20 && c.every == 30,
	   "interval=100m, every=30 (%zu, %d)", c.interval, c.every);
	parse(&c, "interval=0,every=0");
	ok(out.ret == 0 && c.interval == 0 && c.every == 0, "interval=0 and every=0: off");
	parse(&c, "rate=1t,depth=1,at_exit=false");
	ok(out.ret == 0 && c.rate == (size_t)1 << 40 &&
	   c.depth == 1 && c.at_exit == 0, "rate=1t (the maximum), depth=1, at_exit=false");
}

static void signal_ok(const char *v, int want)
{
	char s[64];
	hp_config c;

	defaults(&c, 1);
	c.signal = SIGUSR2 + 1000;	/* not a value parsing could produce */
	snprintf(s, sizeof(s), "signal=%s", v);
	parse(&c, s);
	ok(out.ret == 0 && out.lines == 0 && c.signal == want,
	   "signal=%s gives %d (got %d, %d warnings)", v, want, c.signal, out.ret);
}

static void signal_bad(const char *v)
{
	char s[64];
	hp_config c;

	defaults(&c, 1);
	c.signal = SIGUSR2;
	snprintf(s, sizeof(s), "signal=%s", v);
	parse(&c, s);
	ok(out.ret == 1 && out.lines == 1 && out.well_formed && c.signal == SIGUSR2,
	   "signal=%s is refused with one warning, signal kept (%d, %d lines, %d)", v, out.ret,
	   out.lines, c.signal);
}

static void test_signal(void)
{
	signal_ok("SIGUSR1", SIGUSR1);
	signal_ok("USR1", SIGUSR1);
	signal_ok("usr1", SIGUSR1);
	signal_ok("sigusr2", SIGUSR2);
	signal_ok("10", SIGUSR1);
	signal_ok("12", SIGUSR2);
	signal_ok("RTMIN+2", SIGRTMIN + 2);
	signal_ok("SIGRTMIN+0", SIGRTMIN);
	signal_ok("none", 0);
	signal_ok("0", 0);
	signal_ok("off", 0);
	signal_bad("SEGV");
	signal_bad("SIGTERM");
	signal_bad("9");
	signal_bad("15");
	signal_bad("RTMIN+99");
	signal_bad("");
	signal_bad("USR3");
}

/* A config unlike the defaults, so that "left at its prior value" is visible. */
static void prior(hp_config *c)
{
	defaults(c, 1);
	c->rate = 65536;
	c->depth = 16;
	c->signal = SIGUSR2;
	c->at_exit = 0;
	strcpy(c->prefix, "/tmp/prior");
}

/* One bad item: exactly one well-formed warning line, and the config unchanged. */
static void bad_item(const char *s, const char *what)
{
	hp_config c, before;

	prior(&c);
	before = c;
	parse(&c, s);
	ok(out.ret == 1 && out.lines == 1 && out.well_formed &&
	   memcmp(&c, &before, sizeof(c)) == 0,
	   "%s: one warning line, nothing changed (%d, %d lines, well-formed %d)", what, out.ret,
	   out.lines, out.well_formed);
	if (out.lines != 1 || !out.well_formed)
		diag("stderr was: %s", out.text);
}

static void test_bad_items(void)
{
	static const char *const items[] = {
		"rate=-1", "rate=abc", "rate=1e99", "rate=", "rate=2t", "rate=1099511627777",
		"rate=512kb", "depth=0", "depth=300", "depth=257", "depth=", "depth=1k",
		"depth=-1", "at_exit=maybe", "at_exit=", "prefix=", "foo=1", "rate", "=1",
		"rate=%n%n", "depth=%n%n", "signal=%n%n", "at_exit=%n%n", "%n%n=1", "%n%n",
		"interval=", "interval=-1", "interval=2t", "interval=1x", "every=", "every=-1",
		"every=1m", "every=1.5", "every=31622401", "every=%n%n", "interval=%n%n",
	};

	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		bad_item(items[i], items[i]);
}

/* A value or key of n characters c. */
static char *long_item(const char *head, char c, size_t n, const char *tail)
{
	size_t h = strlen(head), t = strlen(tail);
	char *s = malloc(h + n + t + 1);

	if (!s)
		exit(99);
	memcpy(s, head, h);
	memset(s + h, c, n);
	memcpy(s + h + n, tail, t + 1);
	return s;
}

static void test_long_items(void)
{
	char *s = long_item("prefix=", 'a', 5000, "");
	hp_config c;

	bad_item(s, "a prefix of 5000 characters");
	free(s);
	s = long_item("prefix=", 'a', HP_PREFIX_MAX, "");
	bad_item(s, "a prefix of HP_PREFIX_MAX characters");
	free(s);
	s = long_item("prefix=", 'b', HP_PREFIX_MAX - 1, "");
	prior(&c);
	parse(&c, s);
	ok(out.ret == 0 && strlen(c.prefix) == HP_PREFIX_MAX - 1 && c.prefix[0] == 'b',
	   "a prefix of HP_PREFIX_MAX - 1 characters is taken whole (%zu)", strlen(c.prefix));
	free(s);
	s = long_item("rate=", '7', 5000, "");
	bad_item(s, "a rate of 5000 digits");
	free(s);
	s = long_item("", 'k', 5000, "=1");
	bad_item(s, "a key of 5000 characters");
	free(s);
	s = long_item("", 'r', 5000, "");
	bad_item(s, "an item of 5000 characters without '='");
	free(s);
}

/* The output names the bad text literally: "%n%n" is data, not a format. */
static void test_format_strings(void)
{
	hp_config c;

	prior(&c);
	parse(&c, "rate=%n%n");
	ok(strstr(out.text, "rate=%n%n") != NULL, "the warning shows rate=%%n%%n literally");
	parse(&c, "%n%n=1");
	ok(strstr(out.text, "\"%n%n\"") != NULL, "the warning shows the key %%n%%n literally");
	parse(&c, "%n%s%n");
	ok(strstr(out.text, "\"%n%s%n\"") != NULL, "the warning shows the item literally");
}

/* Rate typos must never turn into rate 1 (every allocation sampled). */
static void test_rate_typos(void)
{
	static const char *const typos[] = {
		"rate=-1", "rate=abc", "rate=1e99", "rate=", "rate=2t", "rate=1.5m", "rate=1 k",
		"rate=1kk", "rate=k", "rate=0x1000", "rate= 512k", "rate=512k ",
	};

	for (size_t i = 0; i < sizeof(typos) / sizeof(typos[0]); i++) {
		hp_config c;

		defaults(&c, 1);
		parse(&c, typos[i]);
		ok(out.ret == 1 && out.lines == 1 && c.rate == 524288,
		   "\"%s\": %d warning, rate stays 524288 (%zu)", typos[i], out.ret, c.rate);
	}
}

static void test_empty_and_commas(void)
{
	hp_config c, d;

	defaults(&c, 1);
	defaults(&d, 1);
	parse(&c, "");
	ok(out.ret == 1 && out.lines == 1 && out.well_formed &&
	   memcmp(&c, &d, sizeof(c)) == 0, "empty HEAPPROF: one warning, the defaults (%d, %d)",
	   out.ret, out.lines);
	parse(&c, ",,");
	ok(out.ret == 0 && out.lines == 0 && memcmp(&c, &d, sizeof(c)) == 0,
	   "\",,\": no warning, nothing changed");
	parse(&c, "rate=64k,");
	ok(out.ret == 0 && out.lines == 0 && c.rate == 65536,
	   "a trailing comma: no warning (%d)", out.ret);
	parse(&c, ",depth=8,,prefix=p,");
	ok(out.ret == 0 && out.lines == 0 && c.depth == 8 &&
	   strcmp(c.prefix, "p") == 0, "leading and doubled commas: no warning");
}

static void test_several_bad(void)
{
	hp_config c;

	prior(&c);
	parse(&c, "rate=abc,depth=0,rate=128k,foo=1,at_exit=1,signal=SEGV");
	ok(out.ret == 4 &&
	   out.lines == 4 && out.well_formed,
	   "four bad items among good ones: 4 warning lines (%d, %d)", out.ret, out.lines);
	ok(c.rate == 131072 && c.depth == 16 && c.at_exit == 1 && c.signal == SIGUSR2 &&
	   strcmp(c.prefix, "/tmp/prior") == 0,
	   "the good items apply, the bad ones change nothing");
}

int main(void)
{
	test_defaults();
	test_parse_size_good();
	test_parse_size_bad();
	test_parse_size_len();
	test_full_string();
	test_signal();
	test_bad_items();
	test_long_items();
	test_format_strings();
	test_rate_typos();
	test_empty_and_commas();
	test_several_bad();
	return tap_done();
}
