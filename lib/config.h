/* lib/config: the HEAPPROF settings, parsed strictly. A bad item gives one warning line
 * naming the problem and the fix, and that setting keeps the value it had (its default
 * unless an earlier item set it); nothing else is lost.
 * No malloc, no stdio: parsing runs inside the first malloc of the process. */
#ifndef HP_CONFIG_H
#define HP_CONFIG_H
#include <stddef.h>

#define HP_PREFIX_MAX 3072	/* leaves room for ".<pid>.<seq>.<trigger>.pb.gz.tmp..." */
#define HP_DEPTH_MAX 256
#define HP_RATE_DEFAULT (512 * 1024)
#define HP_RATE_MAX ((size_t)1 << 40)
#define HP_EVERY_MAX (366 * 24 * 3600)	/* a year, in seconds */
#define HP_PEAK_MAX 10000		/* peak=: percent */
#define HP_MAX_FILES_MAX 1000000

enum { HP_FORMAT_PPROF = 1, HP_FORMAT_TEXT = 2, HP_FORMAT_BOTH = 3 };

typedef struct hp_config {
	size_t rate;			/* mean bytes between samples; 0 off; 1 every allocation */
	int depth;			/* maximum frames per stack */
	int signal;			/* trigger signal number; 0: none */
	int at_exit;			/* dump when the process exits */
	size_t interval;		/* dump every this many bytes allocated; 0: off */
	int every;			/* dump every this many seconds; 0: off */
	int peak;			/* dump when the live heap passes the last peak by this
					 * many percent; 0: off */
	int max_files;			/* keep at most this many profile files; 0: no limit */
	int format;			/* HP_FORMAT_* bits: which files a dump writes */
	int http_port;			/* http=: the port to serve on; -1: off (0: any free port) */
	char http_addr[64];		/* http=: numeric IPv4 or IPv6 address to bind */
	int env_set;			/* HEAPPROF was present */
	char prefix[HP_PREFIX_MAX];	/* file name prefix */
} hp_config;

/* Defaults: without HEAPPROF, sampling on and dumps only through the API; with it (even
 * empty or "prefix=..." alone), the signal trigger and the exit dump are on too. */
void hp_config_defaults(hp_config *c, int env_set);

/* Applies the comma-separated key=value list s to c. Returns the number of warnings. */
int hp_config_parse(hp_config *c, const char *s);

/* "512k", "1m", "2g", "4096": binary multiples. 0 or -EINVAL / -ERANGE. */
int hp_parse_size(const char *s, size_t len, size_t *out);

#endif
