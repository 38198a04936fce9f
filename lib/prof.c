/* lib/prof: see prof.h.
 *
 * Lock order (doc/DESIGN.md): dump lock → unwind lock → stack table shards (ascending).
 * The record paths never nest two of them: a sampled allocation unwinds (unwind lock,
 * read), then adds to its stack (one shard) and writes the block's record in front of it
 * (lib/liverec); a free reads the record, then subtracts from the stack. fork takes them
 * all in that order. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>

#include "arena.h"
#include "dump.h"
#include "huge.h"
#include "liverec.h"
#include "log.h"
#include "peak.h"
#include "prof.h"
#include "sampcache.h"
#include "sampler.h"
#include "stacktab.h"
#include "trigger.h"
#include "unwind.h"

size_t hp_rate;
int hp_active;
int hp_state;

static hp_config config;
static struct timespec start_time;

const hp_config *hp_prof_config(void)
{
	return &config;
}

int64_t hp_prof_uptime_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - start_time.tv_sec) * 1000000000 +
	       (now.tv_nsec - start_time.tv_nsec);
}

uint64_t hp_prof_samples(void)
{
	return hp_stacktab_samples();	/* counted under the shard locks it takes anyway */
}

static void fork_prepare(void)
{
	hp_unwind_fork_prepare();
	hp_stacktab_lock_all();
	hp_huge_fork_prepare();
}

static void fork_parent(void)
{
	hp_huge_fork_parent();
	hp_stacktab_unlock_all();
	hp_unwind_fork_parent();
}

static void fork_child(void)
{
	hp_huge_fork_child();
	hp_stacktab_reinit_all();
	hp_unwind_fork_child();
	hp_dump_fork_child();
	hp_trigger_fork_child();
}

static int become_inert(const char *why, int err)
{
	hp_log("profiler off: %s (%s); the program runs on with the plain allocator", why,
	       err ? strerror(-err) : "");
	__atomic_store_n(&hp_state, HP_INERT, __ATOMIC_RELEASE);
	return 0;
}

static int init_locked(void)
{
	const char *env = getenv("HEAPPROF");
	int err;

	clock_gettime(CLOCK_MONOTONIC, &start_time);
	hp_config_defaults(&config, env != NULL);
	if (getauxval(AT_SECURE)) {
		/* set-uid/set-gid: the environment is the invoker's, not to be trusted. */
		__atomic_store_n(&hp_state, HP_INERT, __ATOMIC_RELEASE);
		return 0;
	}
	if (env)
		hp_config_parse(&config, env);
	if ((err = hp_arena_init()) != 0)
		return become_inert("cannot reserve the sampled arena's address range", err);
	hp_sampcache_init();
	if ((err = hp_unwind_init()) != 0)
		return become_inert("libunwind cannot be initialised", err);
	hp_dump_set_prefix(config.prefix);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	hp_prof_set_rate(config.rate);
	hp_active = 1;
	__atomic_store_n(&hp_state, HP_READY, __ATOMIC_RELEASE);
	return 1;
}

int hp_prof_init(void)
{
	int s = __atomic_load_n(&hp_state, __ATOMIC_ACQUIRE), expected = HP_UNINIT, ret;

	if (s != HP_UNINIT)
		return s == HP_READY;
	if (!__atomic_compare_exchange_n(&hp_state, &expected, HP_INITIALISING, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;	/* another thread is initialising: this allocation goes unsampled */
	hp_tls.guard++;
	ret = init_locked();
	hp_guard_exit();
	return ret;
}

/* The entry of this thread's last sampled stack: when hp_unwind_again says the frames are
 * the last capture's (record() is the only caller of the captures), the sample is counted
 * on it without hashing and looking up the frames again. NULL: none. */
static __thread hp_stack *last_stack;

/* peak='s estimate of the live heap, after a sample was counted on its stack. */
static inline void peak_add(size_t size, double w)
{
	if (__builtin_expect(hp_peak_on, 0))
		hp_peak_change(llround((double)size * w));
}

/* The stack table's in-use figures, and peak='s estimate of the live heap with them. */
static hp_stack *track(const uint64_t *pcs, uint32_t depth, size_t size, double w, int same)
{
	hp_stack *s;
	uint64_t h;

	if (same && last_stack) {
		s = last_stack;
		hp_stacktab_again(s, size, w);
	} else if (!same && depth > 0 && hp_unwind_hash(&h)) {
		s = last_stack = hp_stacktab_add_hashed(pcs, depth, h, size, w);
	} else {
		s = last_stack = hp_stacktab_add(pcs, depth, size, w);
	}

	if (s)
		peak_add(size, w);
	return s;
}

static void untrack(hp_stack *s, size_t size, double w)
{
	hp_stacktab_sub(s, size, w);
	if (__builtin_expect(hp_peak_on, 0))
		hp_peak_change(-llround((double)size * w));
}

/* Where the record of the sampled-range block p is: in front of it, or in lib/huge's slot
 * table for a slot's block (NULL: p is in the slots' area but not a slot's start). */
static uint64_t *rec_at(const void *p)
{
	return hp_huge_has(p) ? hp_huge_rec(p) : hp_liverec_front(p);
}

/* The start of the block jemalloc (or lib/huge) gave for the sampled-range block p. */
static void *base_of(void *p, unsigned lg_off)
{
	return hp_huge_has(p) ? p : (char *)p - ((size_t)1 << lg_off);
}

/* Records the sampled block p (its record goes in front of it, lg_off as it was
 * allocated), or, with lg_off 0, a block jemalloc served from another arena (it does so
 * for a thread whose jemalloc state was already torn down: pthread key destructors at
 * thread exit): its free will not come to us, so it is counted as allocated, never in use. */
static int dense(void);

static void record(void *p, size_t size, const uintptr_t *entry, unsigned lg_off)
{
	uint64_t pcs[HP_DEPTH_MAX];
	size_t rate = __atomic_load_n(&hp_rate, __ATOMIC_RELAXED);
	double w = hp_liverec_weight(hp_sampler_weight(size, rate));
	int depth, same;
	hp_liverec r = { NULL, size, 0.0, lg_off };
	hp_stack *s;

	if (entry && (s = (hp_stack *)(uintptr_t)hp_unwind_recall(entry)) != NULL) {
		/* a walk from here that this thread made before, unchanged: its stack's entry */
		hp_stacktab_again(s, size, w);
		peak_add(size, w);
	} else {
		depth = hp_unwind_again(entry, pcs, config.depth);
		same = depth > 0;	/* this thread's last stack again */
		if (!same)
			depth = hp_unwind_capture_at(entry, pcs, config.depth);
		s = track(pcs, (uint32_t)depth, size, w, same);
		if (s && entry && dense())
			hp_unwind_remember(entry, s, config.depth);
	}

	if (config.interval)	/* interval= is on: its running total */
		hp_trigger_allocated((uint64_t)((double)size * w));
	if (!lg_off) {
		if (s)
			untrack(s, size, w);
		return;
	}
	r.stack = s;
	r.weight = w;
	if (!hp_liverec_put(p, rec_at(p), &r)) {
		/* Not findable at free time: take it back rather than count it live forever
		 * (the record was written without its stack). */
		untrack(s, size, w);
	}
}

/* jemalloc gives an emptied slab back to the arena's extent cache at once, and the sampled
 * arena has no thread cache: a program that frees each sampled block before the next one
 * of its size class is allocated (rate=1 makes that the common case) would build and tear
 * down a slab per sample, a fifth of the sample path's time. One block of each small size
 * class, allocated the first time the class is sampled and never freed, keeps a slab of
 * the class alive (at most one slab per class: a few hundred KiB if all are used). Only
 * when sampling is dense (rate up to PIN_RATE_MAX): at the default rate a small block is
 * sampled so rarely that the slab's cost does not show, and the pinned slabs would be
 * most of the sampled arena's memory. */
#define PIN_MAX 16384
#define PIN_RATE_MAX HP_SAMPCACHE_RATE_MAX

/* Sampling dense enough for the pins and the larger caches of lib/sampcache. */
static int dense(void)
{
	return __atomic_load_n(&hp_rate, __ATOMIC_RELAXED) <= HP_SAMPCACHE_RATE_MAX;
}
/* At sparse rates a sampled small block is nearly alone in its slab. jemalloc's slab for a
 * size class is the least common multiple of the class and the page: 1 page for the
 * classes 2^k (up to 4 KiB), 3 pages for 3 * 2^k, but 5 and 7 pages for 5 * 2^k and
 * 7 * 2^k. At 512 KiB the sampled arena holds a few dozen live small blocks spread over
 * most of its 36 small classes, and their slabs, less the blocks, were 250 KiB on python's
 * workload and 400 KiB on cc1's: most of what the sampled arena holds for good. So while
 * sampling is sparse, a sampled request of up to ROUND_MAX bytes (its record included) is
 * rounded up to the next 2^k or 3 * 2^k (16 KiB is jemalloc's first large class, an extent
 * of its own): slabs of 1 or 3 pages, 90 and 130 KiB on those workloads. A rounded block
 * is at most 20% larger than jemalloc's class would have made it (a request of 2^k + 1
 * gets 3 * 2^(k - 1) instead of 5 * 2^(k - 2)), and a block of s bytes is sampled with
 * probability about s / rate: a heap made only of such blocks pays under 0.2 s / rate of
 * itself (0.6% with blocks of 16 KiB at 512 KiB), a mixed one far less. Rounding to 2^k
 * alone saves another 60 KiB on those workloads but costs up to 60% of a block: a request
 * of 2^k bytes plus its record would take 2^(k + 1).
 * But that 20% grows with the heap, where the slabs do not: once the live sampled blocks
 * of up to ROUND_MAX bytes reach ROUND_LIVE_MAX (their extra bytes are then 50 KiB at
 * most, a fraction of what the rounding saves), rounding stops for good. A heap of 64 MiB
 * of blocks of 1 to 14 KiB at 512 KiB gets there (tests/progs/mem_round mixed 64, where
 * rounding for ever had made the sampled arena 0.40 MiB instead of 0.23). Rounding also
 * stops for good at the first dense rate (lib/sampcache's larger caches keep unrounded
 * blocks).
 * It never starts again because lib/sampcache files a freed block under the class of its
 * rounded size, which is right only if the block holds that many bytes: while `rounding`
 * is on, every block was allocated rounded (a block allocated unrounded and freed after
 * rounding came back would be filed under a larger class than its own). A block resized
 * in place still holds the rounded size of its new size: it was rounded to one of the
 * sizes round_up gives (jemalloc classes), or was larger than ROUND_MAX. */
#define ROUND_MAX ((size_t)16 << 10)
#define ROUND_LIVE_MAX ((size_t)256 << 10)
static int rounding = 1;

void hp_prof_set_rate(size_t bytes)
{
	int dense_rate = bytes >= 1 && bytes <= HP_SAMPCACHE_RATE_MAX;	/* 0 is off, not dense */

	hp_unwind_set_sparse(!dense_rate);
	if (dense_rate)
		__atomic_store_n(&rounding, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&hp_rate, bytes, __ATOMIC_RELAXED);
}

/* A sampled request of n bytes (its record included, default alignment) is rounded now. */
static inline __attribute__((always_inline)) int rounds(size_t n)
{
	return n <= ROUND_MAX && __atomic_load_n(&rounding, __ATOMIC_RELAXED);
}

/* What a rounded request of n bytes asks of the sampled arena and of lib/sampcache. */
static size_t round_up(size_t n)
{
	size_t p;

	if (n <= 32)
		return 32;
	p = (size_t)1 << (64 - __builtin_clzl(n - 1));
	return n <= p / 4 * 3 ? p / 4 * 3 : p;
}

/* While rounding is on: the bytes of live sampled blocks of up to ROUND_MAX (records
 * included), and the bytes the rounding adds to jemalloc's own classes in them. jemalloc
 * counts the latter allocated; the own-memory comment counts them as the sampled arena's
 * overhead, not as the program's heap (hp_prof_round_extra). A block counts for the size
 * its record holds, when that size is rounded: added when it is allocated or resized in
 * place to such a size, taken off when it is freed or resized from one. Rounding only
 * ever stops, so a block taken off was added, for the same size. Once it has stopped, the
 * blocks still rounded count as the program's. Out of line: at dense rates, where
 * rounding is off, the sample path pays the test alone.
 * Both counts are one word, so that a count is one atomic operation: the live bytes in the
 * upper 32 bits, the extra bytes (never more than the live ones) in the lower 32. The live
 * bytes stay far below 2^32: past ROUND_LIVE_MAX rounding stops, and only the samples
 * already on their way (one per thread, each of up to ROUND_MAX bytes) add to them. A
 * block taken off subtracts what it added, so the lower half never borrows. */
static uint64_t round_word;

static __attribute__((noinline)) void round_count(size_t n, int add)
{
	/* jemalloc's class: lib/sampcache's table has the classes up to 6 KiB (nallocx was 80
	 * of the 150 instructions a count took) */
	size_t f = round_up(n), c = hp_sampcache_class_size(n);
	uint64_t v;

	if (!c)
		c = hpje_nallocx(n, 0);
	v = ((uint64_t)n << 32) | (f > c ? f - c : 0);	/* jemalloc's is not larger */
	if (!add)
		__atomic_sub_fetch(&round_word, v, __ATOMIC_RELAXED);
	else if ((__atomic_add_fetch(&round_word, v, __ATOMIC_RELAXED) >> 32) >= ROUND_LIVE_MAX)
		__atomic_store_n(&rounding, 0, __ATOMIC_RELAXED);
}

size_t hp_prof_round_extra(void)
{
	return __atomic_load_n(&rounding, __ATOMIC_RELAXED) ?
		       (uint32_t)__atomic_load_n(&round_word, __ATOMIC_RELAXED) : 0;
}

static void *pins[PIN_MAX / 8 + 1];
static size_t small_max;	/* jemalloc's largest small size class; 1 when unknown */

static void pin_class(void *p)
{
	void *pin, *none = NULL;
	size_t u, max = __atomic_load_n(&small_max, __ATOMIC_RELAXED);

	if (!dense())
		return;
	if (!max) {
		max = hp_arena_small_max();
		max = max && max <= PIN_MAX ? max : 1;
		__atomic_store_n(&small_max, max, __ATOMIC_RELAXED);
	}
	u = hp_usable_size(p);
	if (u > max || __atomic_load_n(&pins[u >> 3], __ATOMIC_RELAXED))
		return;
	pin = hp_arena_alloc(u, 0, 0);
	if (pin && !__atomic_compare_exchange_n(&pins[u >> 3], &none, pin, 0, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
		hp_arena_free(pin);
}

/* errno's address for this thread, asked of glibc once (__errno_location: a call at each
 * read and each write, four a sampled block with its free). The address of a thread's
 * errno never changes, and a fork child's thread has its parent's. */
static __thread int *errno_at;

static inline int *errno_here(void)
{
	int *e = errno_at;

	if (__builtin_expect(!e, 0))
		e = errno_at = &errno;
	return e;
}

/* hp_prof_alloc itself: a stub that hands hp_prof_alloc_at the registers its caller will
 * have after the call returns: the return address, the stack pointer after the return
 * and rbp (callee-saved: the caller's). The entry points reach it by a tail jump (malloc:
 * `jmp hp_prof_alloc`), so these are the program's own registers at its call of malloc,
 * and the walk starts there instead of stepping over the profiler's three frames (about
 * 130 instructions of a sampled block). Its CFI describes its frame, for libunwind's
 * walks, which start from inside the profiler. */
void *hp_prof_alloc_at(size_t size, size_t align, int zero, const uintptr_t *entry);
__asm__(".text\n"
	".p2align 4\n"
	".globl hp_prof_alloc\n"
	".hidden hp_prof_alloc\n"
	".type hp_prof_alloc, @function\n"
	"hp_prof_alloc:\n"
	"\t.cfi_startproc\n"
	"\tsubq $40, %rsp\n"		/* 16-byte aligned again at the call below */
	"\t.cfi_adjust_cfa_offset 40\n"
	"\tmovq 40(%rsp), %rax\n"	/* entry[0]: the return address */
	"\tmovq %rax, 0(%rsp)\n"
	"\tleaq 48(%rsp), %rax\n"	/* entry[1]: the stack pointer after the return */
	"\tmovq %rax, 8(%rsp)\n"
	"\tmovq %rbp, 16(%rsp)\n"	/* entry[2] */
	"\tmovq %rsp, %rcx\n"
	"\tcall hp_prof_alloc_at\n"
	"\taddq $40, %rsp\n"
	"\t.cfi_adjust_cfa_offset -40\n"
	"\tret\n"
	"\t.cfi_endproc\n"
	".size hp_prof_alloc, .-hp_prof_alloc\n");

/* Called by the stub alone (a name in assembly, which link-time optimisation cannot see):
 * used, so that it keeps its name and its body. */
__attribute__((used)) void *hp_prof_alloc_at(size_t size, size_t align, int zero,
					     const uintptr_t *entry)
{
	int *err = errno_here(), saved = *err;
	unsigned lg = hp_liverec_lg_off(align);
	size_t off = (size_t)1 << lg, n = size + off, ask = n;
	int rnd = lg == 4 && rounds(n);
	void *b, *p;

	if (rnd)
		ask = round_up(n);
	hp_tls.guard++;
	if (!lg || size > HP_LIVEREC_SIZE_MAX) {
		/* a record cannot say it: unrecorded, outside the sampled arena */
		hp_je_enter();
		p = hp_plain_alloc(size, align, zero);
		hp_je_leave();
	} else if (lg == 4 && (b = hp_sampcache_get(ask, zero, dense())) != NULL) {
		p = (char *)b + off;	/* a block this thread cached: no call into jemalloc */
		if (rnd)
			round_count(n, 1);
		record(p, size, entry, lg);	/* unwinding and the tables: signals not blocked */
	} else {
		hp_je_enter();
		if (size >= HP_HUGE_MIN && (b = hp_huge_alloc(size, align, zero)) != NULL) {
			p = b;	/* a slot's block: its record is in the slot table */
		} else if (!(b = hp_arena_alloc(ask, lg == 4 ? 0 : off, zero))) {
			p = hp_plain_alloc(size, align, zero);	/* range full: unrecorded */
		} else if (!hp_is_sampled(b)) {
			p = b;	/* served elsewhere: counted as allocated, never in use */
			lg = 0;
		} else {
			pin_class(b);
			p = (char *)b + off;
			if (rnd)
				round_count(n, 1);
		}
		hp_je_leave();
		if (b)
			record(p, size, entry, lg);
	}
	hp_guard_exit();
	*err = p ? saved : ENOMEM;	/* mallocx does not set errno */
	return p;
}

/* realloc of a sampled block, in place when jemalloc can resize it there (within its size
 * class, or a large block into free pages after it): no copy. That is a free of the old
 * sample and a new allocation: the old record goes, and the block is recorded again when
 * this reallocation was drawn as a sample; otherwise it stays in the sampled arena
 * unrecorded (its record says so, and its free just frees it). NULL when it cannot be done
 * in place (or a signal handler asks while its thread is inside the profiler): the
 * caller moves the block. */
void *hp_prof_resize(void *p, size_t n, int sampled)
{
	int saved = errno, ok;
	hp_liverec r;
	void *b;
	size_t off, cls;

	if (hp_tls.guard)
		return NULL;
	hp_tls.guard++;
	if (!hp_liverec_get(p, rec_at(p), &r)) {
		hp_liverec_refused(p, "realloc");
		hp_guard_exit();
		return NULL;
	}
	b = base_of(p, r.lg_off);
	off = (size_t)((char *)p - (char *)b);
	if (n > HP_LIVEREC_SIZE_MAX) {
		ok = 0;
	} else if (off == 16 && (cls = hp_sampcache_class_size(r.size + off)) != 0) {
		/* A small block: within its size class it stays (nothing to ask jemalloc), and
		 * jemalloc resizes a small block in place only within its class, so out of it
		 * the block moves without asking either (the call and its signal masking were
		 * 28,700 of python's 76,000 masked calls into jemalloc at rate=1). A block
		 * rounded to a larger class at a sparse rate then moves a little sooner. */
		ok = n + off <= cls;
	} else {
		hp_je_enter();
		ok = hp_arena_resize(b, n + off);
		hp_je_leave();
	}
	if (!ok) {
		hp_guard_exit();
		return NULL;	/* the block and its record are as they were */
	}
	if (r.stack)
		untrack(r.stack, r.size, r.weight);
	if (off == 16) {	/* the block stays as it is; what it counts for follows its size */
		if (rounds(r.size + off))
			round_count(r.size + off, 0);
		if (rounds(n + off))
			round_count(n + off, 1);
	}
	r.stack = NULL;
	r.size = n;
	hp_liverec_put(p, rec_at(p), &r);
	if (sampled)
		record(p, n, NULL, r.lg_off);
	hp_guard_exit();
	errno = saved;
	return p;
}

/* The usable size of the sampled block p (its record's offset taken off jemalloc's), or
 * 0 when its record is not sound. */
size_t hp_prof_usable(const void *p)
{
	hp_liverec r;
	size_t u, off;
	const char *b;

	if (!hp_liverec_get(p, rec_at(p), &r))
		return 0;
	b = base_of((void *)(uintptr_t)p, r.lg_off);
	off = (size_t)((const char *)p - b);
	u = hp_usable_size(b);	/* a slot's block: the slot's pages in use */
	return u > off ? u - off : 0;
}

/* Pushes p on this thread's deferred list. Only this thread and its signal handlers touch
 * the list: a compare-and-swap loop makes a push that a nested handler interrupted retry. */
static void defer_free(void *p)
{
	void *head = __atomic_load_n(&hp_tls.deferred, __ATOMIC_RELAXED);

	do
		*(void **)p = head;
	while (!__atomic_compare_exchange_n(&hp_tls.deferred, &head, p, 1, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED));
}

/* This thread's jemalloc state was made whole (hp_arena_thread_whole): at its first free of
 * a sampled block, so that a thread that only frees, such as the consumer of a queue, gets
 * a jemalloc thread cache (bench/wl_xfree at 512 KiB: 0.20 -> 0.08 s, the consumer's frees
 * no longer each taking their bin's lock against the producer's allocations). */
static __thread int je_whole;
void hp_prof_free(void *p)
{
	int *err, saved;
	hp_liverec r;
	void *b;

	if (!hp_is_sampled(p)) {
		hpje_free(p);	/* same 1 TiB block as a small sampled range, but not in it */
		return;
	}
	if (hp_tls.guard) {
		defer_free(p);
		return;
	}
	err = errno_here();
	saved = *err;
	hp_tls.guard++;
	if (__builtin_expect(!je_whole, 0)) {
		je_whole = 1;
		hp_je_enter();
		hp_arena_thread_whole();
		hp_je_leave();
	}
	if (!hp_liverec_take(p, rec_at(p), &r)) {
		hp_liverec_refused(p, "free");
		hp_guard_exit();
		*err = saved;
		return;
	}
	if (r.stack)
		untrack(r.stack, r.size, r.weight);
	b = base_of(p, r.lg_off);
	if ((char *)p - (char *)b == 16) {
		size_t n = r.size + HP_LIVEREC_BYTES;

		if (rounds(n)) {	/* then it was rounded */
			round_count(n, 0);
			n = round_up(n);
		}
		if (hp_sampcache_put(b, n, dense())) {
			hp_guard_exit();	/* kept for this thread's next samples */
			*err = saved;
			return;
		}
	}
	hp_je_enter();
	hp_arena_free(b);
	hp_je_leave();
	hp_guard_exit();
	*err = saved;
}

void hp_prof_drain(void)
{
	void *p, *next;

	/* One exchange takes the whole list; blocks a handler defers meanwhile start a new one. */
	while ((p = __atomic_exchange_n(&hp_tls.deferred, NULL, __ATOMIC_RELAXED)) != NULL)
		for (; p; p = next) {
			next = *(void **)p;
			hp_prof_free(p);
		}
}

int hp_thread_start(void *(*fn)(void *), const char *name)
{
	pthread_t tid;
	pthread_attr_t attr;
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	err = pthread_create(&tid, &attr, fn, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err == 0)
		pthread_setname_np(tid, name);
	return err;
}

int64_t hp_realtime_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
