/* lib/dump: see dump.h. Runs on the helper thread, in the exit path, or in an API call;
 * never inside the allocator, so malloc (sent unsampled to jemalloc by the guard) and
 * snprintf are fine here. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "arena.h"
#include "dump.h"
#include "gzout.h"
#include "liverec.h"
#include "log.h"
#include "pprof.h"
#include "procmaps.h"
#include "prof.h"
#include "sampcache.h"
#include "stacktab.h"
#include "symtab.h"
#include "textprof.h"
#include "unwind.h"

#define HP_PATH_MAX (HP_PREFIX_MAX + PATH_MAX + 64)

/* Serialises dumps; taken first in the lock order, never by an allocating thread. */
static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;
static char prefix[HP_PREFIX_MAX + PATH_MAX];	/* written once at start-up */
static _Atomic unsigned seq;
static int closed;				/* guarded by dump_lock */
static int reported[140];			/* one message per errno value */

void hp_dump_set_prefix(const char *p)
{
	char cwd[PATH_MAX];

	if (p[0] != '/' && getcwd(cwd, sizeof(cwd)))
		snprintf(prefix, sizeof(prefix), "%s/%s", cwd, p);
	else
		snprintf(prefix, sizeof(prefix), "%s", p);
}

/* Nearest integer; magnitudes under a half (rounding residue of the counters) are 0.
 * Signed: a delta profile's in-use figures fall as well as rise. */
static int64_t rounded(double v)
{
	return fabs(v) < 0.5 ? 0 : (int64_t)llround(v);
}

/* A delta profile's base: the counters at one moment, sorted by stack. */
struct hp_dump_base {
	hp_stack_snap *v;
	size_t n;
	int64_t ns;		/* CLOCK_REALTIME when taken */
};

static int by_stack(const void *a, const void *b)
{
	const hp_stack *x = ((const hp_stack_snap *)a)->stack, *y = ((const hp_stack_snap *)b)->stack;

	return x < y ? -1 : x > y;
}

static const hp_stack_snap *base_find(const hp_dump_base *b, const hp_stack *s)
{
	hp_stack_snap key = { .stack = s };

	return b && b->n ? bsearch(&key, b->v, b->n, sizeof(*b->v), by_stack) : NULL;
}

/* Turns the counters into pprof samples: values scaled at record time, inuse = alloc -
 * free; with a base, each value less the base's. Stacks whose values are all 0 are left
 * out. */
static size_t to_samples(const hp_stack_snap *snap, size_t n, const hp_dump_base *base,
			 hp_pprof_sample *out)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		hp_pprof_sample *s = &out[m];
		const hp_stack_snap *b = base_find(base, snap[i].stack);
		double ao = snap[i].alloc_objects, as = snap[i].alloc_space;
		double fo = snap[i].free_objects, fs = snap[i].free_space;

		if (b) {
			ao -= b->alloc_objects;
			as -= b->alloc_space;
			fo -= b->free_objects;
			fs -= b->free_space;
		}
		s->pcs = snap[i].stack->pcs;
		s->depth = snap[i].stack->depth;
		s->values[HP_ALLOC_OBJECTS] = rounded(ao);
		s->values[HP_ALLOC_SPACE] = rounded(as);
		s->values[HP_INUSE_OBJECTS] = rounded(ao - fo);
		s->values[HP_INUSE_SPACE] = rounded(as - fs);
		if (s->values[0] || s->values[1] || s->values[2] || s->values[3])
			m++;
	}
	return m;
}

static const char *symbolize(void *ctx, uint64_t addr)
{
	return hp_symtab_lookup(ctx, addr);
}

/* Hands the symbol table every address the encoder will symbolize (each frame's pc - 1,
 * lib/pprof.c hp_put_location), once each, so that it reads only the names these need
 * rather than whole symbol tables. Failure only costs memory: lookups stay lazy. */
static void prepare_names(hp_symtab *st, const hp_pprof_sample *s, size_t n)
{
	size_t cap = 1024, used = 0, i, k, h;
	uint64_t *set = hp_icalloc_k(HP_MEM_DUMP, cap * sizeof(*set)), *grown, a;
	uint32_t d;

	/* An open-addressing set of distinct addresses (0 marks a free slot: pc 1 is never
	 * a return address), grown at half full; then packed in place. */
	for (i = 0; set && i < n; i++) {
		if (i + 8 < n)	/* the stacks lie scattered: fetch ahead */
			for (d = 0; d < s[i + 8].depth; d += 8)
				__builtin_prefetch(&s[i + 8].pcs[d]);
		for (d = 0; set && d < s[i].depth; d++) {
			if (!(a = s[i].pcs[d] - 1))
				continue;
			for (h = (size_t)(a * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
			     set[h] && set[h] != a; h = (h + 1) & (cap - 1))
				;
			if (set[h])
				continue;
			set[h] = a;
			if (++used * 2 < cap)
				continue;
			grown = hp_icalloc_k(HP_MEM_DUMP, 2 * cap * sizeof(*set));
			for (k = 0; grown && k < cap; k++) {
				if (!set[k])
					continue;
				for (h = (size_t)(set[k] * 0x9e3779b97f4a7c15ull >> 20) & (2 * cap - 1);
				     grown[h]; h = (h + 1) & (2 * cap - 1))
					;
				grown[h] = set[k];
			}
			hp_ifree_k(HP_MEM_DUMP, set);
			set = grown;
			cap *= 2;
		}
	}
	if (!set)
		return;
	for (k = 0, used = 0; k < cap; k++)
		if (set[k])
			set[used++] = set[k];
	hp_symtab_prepare(st, set, used);
	hp_ifree_k(HP_MEM_DUMP, set);
}

typedef struct unloaded_ctx {
	hp_symtab *st;
	hp_pprof_mapping **maps;
	size_t *nmaps;
	int err;
} unloaded_ctx;

/* A library unloaded since its frames were recorded: a mapping and names for them too,
 * where nothing is mapped now. Its mapping is given page-rounded, as /proc/self/maps would. */
static void add_unloaded(void *arg, const hp_unloaded *u)
{
	unloaded_ctx *c = arg;
	uint64_t page = 4096;
	int r = hp_procmaps_add(c->maps, c->nmaps, u->start & ~(page - 1),
				(u->limit + page - 1) & ~(page - 1), u->offset & ~(page - 1),
				u->path, u->build_id, u->build_id_len);

	if (r == 1)
		r = hp_symtab_add_file(c->st, u->path, u->bias, u->start, u->limit, u->build_id,
				       u->build_id_len);
	if (r < 0)
		c->err = r;
}

/* The profiler's own memory, the last comment of every profile (doc/DESIGN.md, "The
 * profiler's own memory"). Built once every location is symbolized, so it includes the
 * dump's peak: symbol tables read and encoder buffers grown. */
#define HP_MEM_COMMENT_MAX 512

static double mib(size_t n)
{
	return (double)n / 1048576.0;
}

/* The process's resident anonymous memory (/proc/self/statm: resident - shared), bytes;
 * 0 if unknown. A program with its own allocator on mmap (gcc's garbage-collected heap)
 * keeps most of its heap there, out of jemalloc's sight. */
static size_t anon_resident(void)
{
	char b[128];
	unsigned long size, res, shared;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	if (sscanf(b, "%lu %lu %lu", &size, &res, &shared) != 3 || res < shared)
		return 0;
	return (size_t)(res - shared) * (size_t)sysconf(_SC_PAGESIZE);
}

static const char *own_memory_comment(void *arg)
{
	char *out = arg;
	hp_arena_mem am;
	size_t stacks = hp_mem_bytes(HP_MEM_STACKS);
	size_t live = hp_stacktab_live() * HP_LIVEREC_BYTES;	/* the records in the blocks */
	size_t unwind = hp_mem_bytes(HP_MEM_UNWIND) + hp_mem_bytes(HP_MEM_OTHER);
	size_t syms = hp_mem_bytes(HP_MEM_SYMBOLS), dumpb = hp_mem_bytes(HP_MEM_DUMP);
	size_t own_heap = hp_mem_heap(), arena = 0, freed, total, heap = 0;
	int have = hp_arena_mem_read(&am) == 0 && am.allocated > 0;
	size_t anon = anon_resident();
	char pct[48], live_heap[96], proc[96] = "";
	/* in sampled_allocated, but not the program's: rounding, lib/sampcache's blocks */
	size_t extra = have ? hp_prof_round_extra() + hp_sampcache_held() : 0;

	if (have && am.sampled_resident > am.sampled_allocated)
		arena = am.sampled_resident - am.sampled_allocated;
	freed = have && am.sampled_freed < arena ? am.sampled_freed : arena;
	if (extra > am.sampled_allocated)
		extra = am.sampled_allocated;
	arena += extra;
	total = stacks + live + unwind + syms + dumpb + arena;
	if (have && am.allocated > own_heap + live + extra)
		heap = am.allocated - own_heap - live - extra;
	if (heap) {
		snprintf(pct, sizeof(pct), "%.2f%%", 100.0 * (double)total / (double)heap);
		snprintf(live_heap, sizeof(live_heap), "%.2f MiB (jemalloc allocated, less "
			 "heapprof's own)", mib(heap));
	} else {
		snprintf(pct, sizeof(pct), "n/a");
		snprintf(live_heap, sizeof(live_heap), "unknown (no jemalloc statistics)");
	}
	if (anon)
		snprintf(proc, sizeof(proc), "; process anonymous resident %.2f MiB = %.2f%%",
			 mib(anon), 100.0 * (double)total / (double)anon);
	snprintf(out, HP_MEM_COMMENT_MAX, "heapprof: own memory %.2f MiB = %s of the live heap "
		 "(stack table %.2f MiB, block records %.2f MiB, unwinder and other %.2f MiB, "
		 "symbols %.2f MiB, dump buffers %.2f MiB, sampled arena overhead %.2f MiB, of "
		 "which freed pages kept for reuse %.2f MiB); live heap %s%s", mib(total), pct,
		 mib(stacks), mib(live), mib(unwind), mib(syms), mib(dumpb), mib(arena), mib(freed),
		 live_heap, proc);
	return out;
}

/* What one dump holds and says. */
typedef struct dump_req {
	const char *trigger;		/* in the file name and the "trigger:" comment */
	const char *why;		/* what fired it, for the comment; may be NULL */
	int allocs;			/* alloc_space as the default sample type */
	const hp_dump_base *base;	/* a delta since base, or NULL */
	const hp_stack_snap *snap;	/* the counters to write (the peak's), or NULL: now's */
	size_t nsnap;
	int64_t snap_ns;		/* CLOCK_REALTIME of snap */
	int formats;			/* HP_FORMAT_* */
} dump_req;

/* The date of a day counted from 1970-01-01 (day 0), in the proleptic Gregorian calendar:
 * days are counted from 0000-03-01 in eras of 400 years (146,097 days each), so that a
 * leap day, when there is one, ends its year. */
static void civil_date(int64_t day, int64_t *year, unsigned *month, unsigned *mday)
{
	int64_t z = day + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);				/* 0..146096 */
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;	/* 0..399 */
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);		/* 0..365, from March */
	unsigned mp = (5 * doy + 2) / 153;					/* 0..11, March = 0 */

	*mday = doy - (153 * mp + 2) / 5 + 1;
	*month = mp < 10 ? mp + 3 : mp - 9;
	*year = (int64_t)yoe + era * 400 + (*month <= 2);
}

/* "2026-11-30T05:12:33.123Z". By arithmetic, not gmtime_r: that takes glibc's time zone
 * lock, which a fork child inherits held when another thread of its parent was converting
 * a time (a program's logger, or the helper's own dump of a moment before), and which
 * glibc never makes anew in the child: the child's first dump then waits for ever (one
 * child in 1,329 of proc_stress.sh's forks; tests/hazards/proc_fork.sh's clock thread). */
static void iso_time(char *out, size_t size, int64_t ns)
{
	int64_t sec = ns / 1000000000, year;
	unsigned month, mday, s;

	if (ns < 0) {
		snprintf(out, size, "%lld ns", (long long)ns);
		return;
	}
	civil_date(sec / 86400, &year, &month, &mday);
	s = (unsigned)(sec % 86400);
	snprintf(out, size, "%04lld-%02u-%02uT%02u:%02u:%02u.%03dZ", (long long)year, month, mday,
		 s / 3600, s / 60 % 60, s % 60, (int)(ns / 1000000 % 1000));
}

/* Encodes the profile r asks for: pprof (uncompressed) into *pb when r->formats has
 * HP_FORMAT_PPROF, the text format into *txt when it has HP_FORMAT_TEXT; both from
 * hp_ialloc_k(HP_MEM_DUMP). */
static int encode(const dump_req *r, uint8_t **pb, size_t *pblen, uint8_t **txt, size_t *txtlen)
{
	hp_stack_snap *snap = NULL;
	const hp_stack_snap *use;
	hp_pprof_sample *samples = NULL;
	hp_pprof_mapping *maps = NULL;
	hp_symtab *st = NULL;
	size_t n = 0, nmaps = 0;
	char c_version[64], c_trigger[320], c_time[64], c_rate[64], c_pid[64], c_delta[160];
	char c_mem[HP_MEM_COMMENT_MAX], when[40], since[40];
	const char *comments[] = { c_version, c_trigger, c_time, c_rate, c_pid, c_delta };
	int64_t now_ns = hp_realtime_ns(), at_ns;
	hp_pprof_profile p;
	int err = 0;

	if (r->snap) {
		use = r->snap;
		n = r->nsnap;
		at_ns = r->snap_ns;
	} else {
		if ((err = hp_stacktab_snapshot(&snap, &n)) != 0)
			return err;
		use = snap;
		at_ns = now_ns;
	}
	samples = hp_icalloc_k(HP_MEM_DUMP, (n ? n : 1) * sizeof(*samples));
	st = hp_symtab_new();	/* its dl_iterate_phdr is ours: it holds off fork */
	if (!samples || !st) {
		err = -ENOMEM;
		goto out;
	}
	if ((err = hp_procmaps_read(&maps, &nmaps)) != 0)
		goto out;
	{
		unloaded_ctx uc = { st, &maps, &nmaps, 0 };

		hp_unwind_unloaded(add_unloaded, &uc);
		if ((err = uc.err) != 0)
			goto out;
	}
	iso_time(when, sizeof(when), at_ns);
	snprintf(c_version, sizeof(c_version), "heapprof %s", HP_VERSION);
	if (r->why)
		snprintf(c_trigger, sizeof(c_trigger), "trigger: %s (%s)", r->trigger, r->why);
	else
		snprintf(c_trigger, sizeof(c_trigger), "trigger: %s", r->trigger);
	snprintf(c_time, sizeof(c_time), "time: %s", when);
	snprintf(c_rate, sizeof(c_rate), "rate: %zu bytes", hp_rate);
	snprintf(c_pid, sizeof(c_pid), "pid: %d", (int)getpid());
	memset(&p, 0, sizeof(p));
	p.comments = comments;
	p.ncomments = sizeof(comments) / sizeof(comments[0]) - 1;
	if (r->base) {
		iso_time(since, sizeof(since), r->base->ns);
		snprintf(c_delta, sizeof(c_delta), "delta: the changes from %s to %s (%.1f s)", since,
			 when, (double)(at_ns - r->base->ns) / 1e9);
		p.ncomments++;
	}
	p.samples = samples;
	p.nsamples = to_samples(use, n, r->base, samples);
	p.mappings = maps;
	p.nmappings = nmaps;
	p.period = (int64_t)(hp_rate ? hp_rate : 1);
	p.time_nanos = at_ns;
	p.duration_nanos = r->base ? at_ns - r->base->ns : hp_prof_uptime_ns() - (now_ns - at_ns);
	p.default_sample_type = r->allocs ? HP_ALLOC_SPACE : HP_INUSE_SPACE;
	p.symbolize = symbolize;
	p.symbolize_ctx = st;
	p.last_comment = own_memory_comment;
	p.last_comment_ctx = c_mem;
	if (r->formats & HP_FORMAT_PPROF) {
		prepare_names(st, samples, p.nsamples);
		err = hp_pprof_encode(&p, pb, pblen);
	}
	if (!err && (r->formats & HP_FORMAT_TEXT))
		err = hp_textprof_encode(&p, txt, txtlen);
out:
	if (maps)
		hp_procmaps_free(maps, nmaps);
	if (st)
		hp_symtab_free(st);
	hp_ifree_k(HP_MEM_DUMP, samples);
	hp_ifree(snap);
	return err;
}

/* A write past RLIMIT_FSIZE (ulimit -f) raises SIGXFSZ in the writing thread, which by
 * default kills the process: the profiler must see EFBIG instead. The signal is blocked
 * around the write and, if the write raised it and it was not pending before, taken
 * back out (sigtimedwait) before the mask is restored. */
typedef struct xfsz_guard {
	sigset_t old;
	int was_pending;
} xfsz_guard;

static void xfsz_block(xfsz_guard *g)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGXFSZ);
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
	g->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGXFSZ);
}

static void xfsz_restore(xfsz_guard *g)
{
	sigset_t set;
	struct timespec zero = { 0, 0 };

	sigemptyset(&set);
	sigaddset(&set, SIGXFSZ);
	if (!g->was_pending)
		while (sigtimedwait(&set, NULL, &zero) == SIGXFSZ)
			;
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* The temporary file's name: in final's directory, short (a final name that fits NAME_MAX
 * must not fail for want of room for a suffix), hidden, and hard to predict. */
static unsigned writes;	/* guarded by dump_lock: profiles this process tried to write */

static void tmp_name(char *tmp, size_t size, const char *final, unsigned attempt)
{
	const char *slash = strrchr(final, '/');
	int dirlen = slash ? (int)(slash - final) + 1 : 0;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(tmp, size, "%.*s.heapprof.%d.%u.%08lx.tmp", dirlen, final, (int)getpid(), writes,
		 (unsigned long)(((uint64_t)ts.tv_nsec * 2654435761u + attempt) & 0xffffffffu));
}

/* gz: gzip'd (pprof), else as it is (the text format). */
static int write_file(const char *final, const uint8_t *buf, size_t len, int gz)
{
	char tmp[HP_PATH_MAX + 64];
	xfsz_guard xg;
	int fd = -1, err;

	/* O_EXCL|O_NOFOLLOW refuse anything planted at the name. */
	writes++;
	for (unsigned i = 0; i < 16 && fd < 0; i++) {
		tmp_name(tmp, sizeof(tmp), final, i);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		return -errno;
	xfsz_block(&xg);
	err = gz ? hp_gz_write_fd(fd, buf, len, HP_GZ_LEVEL) : hp_write_fd(fd, buf, len);
	xfsz_restore(&xg);
	if (close(fd) != 0 && !err)
		err = -errno;
	if (!err && rename(tmp, final) != 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static const char *hint_for(int e)
{
	switch (e) {
	case ENOENT: case EACCES: case EROFS: case ENAMETOOLONG: case ENOTDIR:
		return "; check that the directory exists and is writable, or set "
		       "HEAPPROF=prefix=DIR/NAME";
	case EPERM: case EEXIST:
		return "; another user's file may be in the way (a shared directory?): set "
		       "HEAPPROF=prefix=DIR/NAME to a directory of your own";
	case ENOSPC: case EDQUOT:
		return "; free some space";
	case EFBIG:
		return "; raise the file size limit (ulimit -f)";
	default:
		return "";
	}
}

static void report(const char *path, int err)
{
	int e = -err;
	size_t n = strlen(path);

	if (e > 0 && e < (int)(sizeof(reported) / sizeof(reported[0])) &&
	    __atomic_exchange_n(&reported[e], 1, __ATOMIC_RELAXED))
		return;
	/* The message must keep the error and the fix: a long path loses its middle. */
	if (n > 200)
		hp_log("cannot write profile %.80s...%s: %s%s (the program runs on)", path,
		       path + n - 100, strerror(e), hint_for(e));
	else
		hp_log("cannot write profile %s: %s%s (the program runs on)", path, strerror(e),
		       hint_for(e));
}

/* ---- max_files=: the process's automatic profiles, oldest first (a ring under
 * dump_lock). A dump's files (its .pb.gz and, with format=both, its .heap) count as one
 * profile; files written to a path the program named (heapprof_dump) are not counted. */
typedef struct written {
	unsigned seq;
	int formats;
	char trigger[32];
} written;
static written *ring;
static size_t ring_cap, ring_first, ring_n;

static void auto_name(char *out, size_t size, unsigned sq, const char *trigger, int format)
{
	snprintf(out, size, "%s.%d.%04u.%s.%s", prefix, (int)getpid(), sq, trigger,
		 format == HP_FORMAT_TEXT ? "heap" : "pb.gz");
}

static void forget_oldest(void)
{
	written *w = &ring[ring_first];
	char path[HP_PATH_MAX];

	for (int f = HP_FORMAT_PPROF; f <= HP_FORMAT_TEXT; f <<= 1)
		if (w->formats & f) {
			auto_name(path, sizeof(path), w->seq, w->trigger, f);
			unlink(path);	/* gone already (removed by hand): nothing to do */
		}
	ring_first = (ring_first + 1) % ring_cap;
	ring_n--;
}

static void note_written(unsigned sq, const char *trigger, int formats)
{
	size_t max = (size_t)hp_prof_config()->max_files;
	written *w;

	if (!max || !formats)
		return;
	if (ring_n == ring_cap && ring_cap < max) {	/* grow, oldest first again */
		size_t cap = ring_cap ? ring_cap * 2 : 16;
		written *g;

		if (cap > max)
			cap = max;
		if ((g = hp_ialloc(cap * sizeof(*g))) != NULL) {
			for (size_t i = 0; i < ring_n; i++)
				g[i] = ring[(ring_first + i) % ring_cap];
			hp_ifree(ring);
			ring = g;
			ring_cap = cap;
			ring_first = 0;
		}
	}
	if (ring_n == ring_cap) {
		if (!ring_cap)
			return;	/* out of memory before the first: nothing to keep track of */
		forget_oldest();
	}
	w = &ring[(ring_first + ring_n++) % ring_cap];
	w->seq = sq;
	w->formats = formats;
	snprintf(w->trigger, sizeof(w->trigger), "%s", trigger);
	while (ring_n > max)
		forget_oldest();
}

static int dump_locked(const char *path, const dump_req *r)
{
	char auto_path[HP_PATH_MAX];
	uint8_t *pb = NULL, *txt = NULL;
	size_t pblen = 0, txtlen = 0;
	dump_req req = *r;
	unsigned sq = 0;
	int err, done = 0;

	if (path)
		req.formats = HP_FORMAT_PPROF;	/* a path the program named gets the pprof file */
	else
		sq = atomic_fetch_add(&seq, 1) + 1;
	err = encode(&req, &pb, &pblen, &txt, &txtlen);
	for (int f = HP_FORMAT_PPROF; f <= HP_FORMAT_TEXT; f <<= 1) {
		const char *name = path;
		int e;

		if (!(req.formats & f))
			continue;
		if (!path) {
			auto_name(auto_path, sizeof(auto_path), sq, req.trigger, f);
			name = auto_path;
		}
		e = err ? err : write_file(name, f == HP_FORMAT_PPROF ? pb : txt,
					   f == HP_FORMAT_PPROF ? pblen : txtlen, f == HP_FORMAT_PPROF);
		if (e)
			report(name, e);
		else
			done |= f;
		if (!err && e)
			err = e;
	}
	hp_ifree_k(HP_MEM_DUMP, pb);
	hp_ifree_k(HP_MEM_DUMP, txt);
	if (!path)
		note_written(sq, req.trigger, done);
	return err;
}

static void req_init(dump_req *r, const char *trigger, const char *why)
{
	memset(r, 0, sizeof(*r));
	r->trigger = trigger;
	r->why = why;
	r->formats = hp_prof_config()->format;
	if (!r->formats)
		r->formats = HP_FORMAT_PPROF;
}

int hp_dump_to(const char *path, const char *trigger)
{
	dump_req r;
	int err;

	req_init(&r, trigger, NULL);
	pthread_mutex_lock(&dump_lock);
	err = dump_locked(path, &r);
	pthread_mutex_unlock(&dump_lock);
	return err;
}

int hp_dump_auto_why(const char *trigger, const char *why)
{
	dump_req r;
	int err = 0;

	req_init(&r, trigger, why);
	pthread_mutex_lock(&dump_lock);
	if (!closed)
		err = dump_locked(NULL, &r);
	pthread_mutex_unlock(&dump_lock);
	return err;
}

int hp_dump_auto_claim(const char *trigger, int (*claim)(char *why, size_t size))
{
	char why[HP_WHY_MAX];
	dump_req r;
	int done = 0;

	req_init(&r, trigger, why);
	pthread_mutex_lock(&dump_lock);
	if (!closed && claim(why, sizeof(why))) {
		dump_locked(NULL, &r);
		done = 1;
	}
	pthread_mutex_unlock(&dump_lock);
	return done;
}

int hp_dump_auto(const char *trigger)
{
	return hp_dump_auto_why(trigger, NULL);
}

int hp_dump_counters(const char *trigger, const char *why, const hp_stack_snap *snap, size_t n,
		     int64_t ns)
{
	dump_req r;
	int err = 0;

	req_init(&r, trigger, why);
	r.snap = snap;
	r.nsnap = n;
	r.snap_ns = ns;
	pthread_mutex_lock(&dump_lock);
	if (!closed)
		err = dump_locked(NULL, &r);
	pthread_mutex_unlock(&dump_lock);
	return err;
}

/* ---- profiles in memory (lib/http) ---------------------------------------------------- */

hp_dump_base *hp_dump_base_take(void)
{
	hp_dump_base *b = hp_icalloc_k(HP_MEM_DUMP, sizeof(*b));

	if (!b)
		return NULL;
	b->ns = hp_realtime_ns();
	if (hp_stacktab_snapshot(&b->v, &b->n) != 0) {
		hp_ifree_k(HP_MEM_DUMP, b);
		return NULL;
	}
	if (b->n > 1)
		qsort(b->v, b->n, sizeof(*b->v), by_stack);
	return b;
}

void hp_dump_base_free(hp_dump_base *b)
{
	if (b) {
		hp_ifree(b->v);
		hp_ifree_k(HP_MEM_DUMP, b);
	}
}

int hp_dump_encode(const char *trigger, int allocs, const hp_dump_base *base, uint8_t **buf,
		   size_t *len)
{
	uint8_t *pb = NULL, *txt = NULL;
	size_t pblen = 0, txtlen = 0;
	dump_req r;
	int err;

	*buf = NULL;
	*len = 0;
	req_init(&r, trigger, NULL);
	r.allocs = allocs;
	r.base = base;
	r.formats = HP_FORMAT_PPROF;
	pthread_mutex_lock(&dump_lock);
	err = encode(&r, &pb, &pblen, &txt, &txtlen);
	pthread_mutex_unlock(&dump_lock);
	if (!err)
		err = hp_gz_compress(pb, pblen, HP_GZ_LEVEL, buf, len);
	hp_ifree_k(HP_MEM_DUMP, pb);
	return err;
}

void hp_dump_free_buf(uint8_t *buf)
{
	free(buf);
}

void hp_dump_fork_child(void)
{
	/* The thread that held it (a helper mid-dump) does not exist in the child. */
	pthread_mutex_init(&dump_lock, NULL);
	ring_first = ring_n = 0;	/* the parent's files are the parent's */
}

void hp_dump_close(void)
{
	pthread_mutex_lock(&dump_lock);
	closed = 1;
	pthread_mutex_unlock(&dump_lock);
}
