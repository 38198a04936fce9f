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
#include "log.h"
#include "pprof.h"
#include "procmaps.h"
#include "prof.h"
#include "stacktab.h"
#include "symtab.h"
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

static int64_t rounded(double v)
{
	return v > 0.5 ? (int64_t)llround(v) : 0;
}

/* Turns the snapshot into pprof samples: values scaled at record time, inuse = alloc - free. */
static size_t to_samples(const hp_stack_snap *snap, size_t n, hp_pprof_sample *out)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		hp_pprof_sample *s = &out[m];

		s->pcs = snap[i].stack->pcs;
		s->depth = snap[i].stack->depth;
		s->values[HP_ALLOC_OBJECTS] = rounded(snap[i].alloc_objects);
		s->values[HP_ALLOC_SPACE] = rounded(snap[i].alloc_space);
		s->values[HP_INUSE_OBJECTS] = rounded(snap[i].alloc_objects - snap[i].free_objects);
		s->values[HP_INUSE_SPACE] = rounded(snap[i].alloc_space - snap[i].free_space);
		if (s->values[HP_ALLOC_OBJECTS] || s->values[HP_ALLOC_SPACE])
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
	size_t stacks = hp_mem_bytes(HP_MEM_STACKS), live = hp_mem_bytes(HP_MEM_LIVE);
	size_t unwind = hp_mem_bytes(HP_MEM_UNWIND) + hp_mem_bytes(HP_MEM_OTHER);
	size_t syms = hp_mem_bytes(HP_MEM_SYMBOLS), dumpb = hp_mem_bytes(HP_MEM_DUMP);
	size_t own_heap = hp_mem_heap(), arena = 0, total, heap = 0;
	int have = hp_arena_mem_read(&am) == 0 && am.allocated > 0;
	size_t anon = anon_resident();
	char pct[48], live_heap[96], proc[96] = "";

	if (have && am.sampled_resident > am.sampled_allocated)
		arena = am.sampled_resident - am.sampled_allocated;
	total = stacks + live + unwind + syms + dumpb + arena;
	if (have && am.allocated > own_heap)
		heap = am.allocated - own_heap;
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
		 "(stack table %.2f MiB, live map %.2f MiB, unwinder and other %.2f MiB, "
		 "symbols %.2f MiB, dump buffers %.2f MiB, sampled arena overhead %.2f MiB); "
		 "live heap %s%s", mib(total), pct, mib(stacks), mib(live), mib(unwind), mib(syms),
		 mib(dumpb), mib(arena), live_heap, proc);
	return out;
}

static int encode(const char *trigger, uint8_t **buf, size_t *len)
{
	hp_stack_snap *snap = NULL;
	hp_pprof_sample *samples = NULL;
	hp_pprof_mapping *maps = NULL;
	hp_symtab *st = NULL;
	size_t n = 0, nmaps = 0;
	char c_version[64], c_trigger[64], c_rate[64], c_pid[64], c_mem[HP_MEM_COMMENT_MAX];
	const char *comments[] = { c_version, c_trigger, c_rate, c_pid };
	struct timespec now;
	hp_pprof_profile p;
	int err = hp_stacktab_snapshot(&snap, &n);

	if (err)
		return err;
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
	snprintf(c_version, sizeof(c_version), "heapprof %s", HP_VERSION);
	snprintf(c_trigger, sizeof(c_trigger), "trigger: %s", trigger);
	snprintf(c_rate, sizeof(c_rate), "rate: %zu bytes", hp_rate);
	snprintf(c_pid, sizeof(c_pid), "pid: %d", (int)getpid());
	clock_gettime(CLOCK_REALTIME, &now);
	memset(&p, 0, sizeof(p));
	p.samples = samples;
	p.nsamples = to_samples(snap, n, samples);
	p.mappings = maps;
	p.nmappings = nmaps;
	p.period = (int64_t)(hp_rate ? hp_rate : 1);
	p.time_nanos = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	p.duration_nanos = hp_prof_uptime_ns();
	p.default_sample_type = HP_INUSE_SPACE;
	p.comments = comments;
	p.ncomments = sizeof(comments) / sizeof(comments[0]);
	p.symbolize = symbolize;
	p.symbolize_ctx = st;
	p.last_comment = own_memory_comment;
	p.last_comment_ctx = c_mem;
	prepare_names(st, samples, p.nsamples);
	err = hp_pprof_encode(&p, buf, len);
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

static int write_file(const char *final, const uint8_t *buf, size_t len)
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
	err = hp_gz_write_fd(fd, buf, len, 6);
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

static int dump_locked(const char *path, const char *trigger)
{
	char auto_path[HP_PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	int err;

	if (!path) {
		snprintf(auto_path, sizeof(auto_path), "%s.%d.%04u.%s.pb.gz", prefix, (int)getpid(),
			 atomic_fetch_add(&seq, 1) + 1, trigger);
		path = auto_path;
	}
	err = encode(trigger, &buf, &len);
	if (!err)
		err = write_file(path, buf, len);
	hp_ifree_k(HP_MEM_DUMP, buf);
	if (err)
		report(path, err);
	return err;
}

int hp_dump_to(const char *path, const char *trigger)
{
	int err;

	pthread_mutex_lock(&dump_lock);
	err = dump_locked(path, trigger);
	pthread_mutex_unlock(&dump_lock);
	return err;
}

int hp_dump_auto(const char *trigger)
{
	int err = 0;

	pthread_mutex_lock(&dump_lock);
	if (!closed)
		err = dump_locked(NULL, trigger);
	pthread_mutex_unlock(&dump_lock);
	return err;
}

void hp_dump_fork_child(void)
{
	/* The thread that held it (a helper mid-dump) does not exist in the child. */
	pthread_mutex_init(&dump_lock, NULL);
}

void hp_dump_close(void)
{
	pthread_mutex_lock(&dump_lock);
	closed = 1;
	pthread_mutex_unlock(&dump_lock);
}
