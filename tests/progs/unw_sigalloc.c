/* tests/progs/unw_sigalloc.c: signal handlers that allocate and free, firing thousands of
 * times a second while every thread allocates.
 *
 *   unw_sigalloc polite|rude ITERATIONS MIN_SIGNALS [INTERVAL_US]
 *
 * Three threads (main and two more) each run at least ITERATIONS iterations of allocations
 * at one call site, unw_sigalloc_site, and go on until their handler ran MIN_SIGNALS
 * times (however fast the allocator). Each has its own timer (timer_create with
 * SIGEV_THREAD_ID, CLOCK_MONOTONIC, every INTERVAL_US microseconds, default 200) raising
 * SIGALRM in that thread. The handler:
 *   - takes the block the thread's code left in its "to handler" slot, if any, checks its
 *     contents and frees it: a block the interrupted code allocated at unw_sigalloc_site,
 *     sampled under HEAPPROF=rate=1, freed while that code may be inside the profiler
 *     (holding the stack table shard that block belongs to: the same call
 *     site, so the same stack), in malloc or in free, or anywhere else;
 *   - mallocs, touches and frees a block of its own (unw_sigalloc_handler_site);
 *   - if the "from handler" slot is empty, mallocs a block (unw_sigalloc_gift_site), fills
 *     it and leaves it there for the thread's code to check and free later.
 * The slots are per-thread words handed over with atomic exchanges (lock-free).
 * polite: the handler allocates (the last two) only when the code it interrupted is not
 *   inside malloc or free (a thread-local flag the code sets around its calls), as programs
 *   that allocate in handlers and care do; it frees the hand-over block in any case.
 * rude: the handler allocates whatever it interrupted.
 *
 * Every allocation of the thread's own code goes through unw_sigalloc_site. The program is
 * also meant to be sound without heapprof, under glibc's malloc, which is not
 * async-signal-safe either: every size is allocated once in every thread before the timers
 * start (so that glibc's per-thread cache serves them), the handler's sizes differ from the
 * code's, and the code blocks the signal around its own allocations and frees of the sizes
 * the handler uses too (the hand-over blocks); the churn allocations, most of them, run with
 * the signal open. Everything is freed before exit.
 *
 * Output on stdout, "name value" lines: signals (handled, all threads), handler_frees
 * (hand-over blocks freed by the handler), gifts (blocks the handler allocated for the
 * code), handler_allocs (all handler allocations), site_allocs and site_bytes (allocations
 * at unw_sigalloc_site). Exit 0 from main; 2: usage; 3: setup failed; 4: a hand-over block
 * was corrupted. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
#define SITE __attribute__((noinline, noclone, used))
#else
#define SITE __attribute__((noinline, used))
#endif

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

enum {
	NTHREADS = 3,
	TO_SIZE = 1000,		/* code -> handler */
	GIFT_SIZE = 2000,	/* handler -> code */
	CANARY_TO = 0x5c,
	CANARY_GIFT = 0xa3,
};

static const size_t churn_sizes[] = { 40, 72, 136, 264, 520 };
static const size_t handler_sizes[] = { 24, 3000 };
#define NCHURN (sizeof(churn_sizes) / sizeof(churn_sizes[0]))
#define NHANDLER (sizeof(handler_sizes) / sizeof(handler_sizes[0]))

typedef struct tstate {
	unsigned long signals, handler_frees, gifts, handler_allocs, allocs, bytes;
	unsigned long iterations, min_signals;
	long interval_us;
	int bad;
} tstate;

static __thread tstate *self;
static __thread void *to_handler, *from_handler;	/* atomic */
static __thread volatile sig_atomic_t in_alloc;	/* the code is in malloc or free */
static pthread_barrier_t barrier;
static int rude;

void *unw_sigalloc_site(size_t n);
void *unw_sigalloc_handler_site(size_t n);
void *unw_sigalloc_gift_site(size_t n);

SITE void *unw_sigalloc_site(size_t n)
{
	void *p = malloc(n);

	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

SITE void *unw_sigalloc_handler_site(size_t n)
{
	void *p = malloc(n);

	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

SITE void *unw_sigalloc_gift_site(size_t n)
{
	void *p = malloc(n);

	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

static int intact(const unsigned char *p, size_t n, int canary)
{
	for (size_t i = 0; i < n; i += 61)
		if (p[i] != canary)
			return 0;
	return p[n - 1] == canary;
}

static void on_timer(int sig)
{
	int saved = errno;
	tstate *t = self;
	unsigned char *p, *q;

	if (!t)
		goto out;
	t->signals++;
	q = __atomic_exchange_n(&to_handler, NULL, __ATOMIC_ACQUIRE);
	if (q) {
		if (!intact(q, TO_SIZE, CANARY_TO))
			t->bad = 1;
		free(q);
		t->handler_frees++;
	}
	if (in_alloc && !rude)
		goto out;
	p = unw_sigalloc_handler_site(handler_sizes[t->signals % NHANDLER]);
	if (p) {
		t->handler_allocs++;
		p[0] = 1;
		free(p);
	}
	if (!__atomic_load_n(&from_handler, __ATOMIC_RELAXED) &&
	    (q = unw_sigalloc_gift_site(GIFT_SIZE)) != NULL) {
		memset(q, CANARY_GIFT, GIFT_SIZE);
		__atomic_store_n(&from_handler, q, __ATOMIC_RELEASE);
		t->gifts++;
		t->handler_allocs++;
	}
out:
	errno = saved;
}

static void block(sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &s, old);
}

static void restore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* Allocates every size once in this thread, so that the allocator's per-thread cache has
 * them before any handler runs. */
static void warm_up(void)
{
	void *volatile p;

	for (size_t i = 0; i < NCHURN; i++) {
		p = malloc(churn_sizes[i]);
		free(p);
	}
	for (size_t i = 0; i < NHANDLER; i++) {
		p = malloc(handler_sizes[i]);
		free(p);
	}
	p = malloc(TO_SIZE);
	free(p);
	p = malloc(GIFT_SIZE);
	free(p);
}

/* Takes the gift, if any, checks and frees it (with the signal blocked). */
static void take_gift(tstate *t)
{
	sigset_t old;
	unsigned char *g;

	block(&old);
	g = __atomic_exchange_n(&from_handler, NULL, __ATOMIC_ACQUIRE);
	if (g) {
		if (!intact(g, GIFT_SIZE, CANARY_GIFT))
			t->bad = 1;
		free(g);
	}
	restore(&old);
}

/* Work outside malloc and free, where a polite handler may allocate. */
static void think(const unsigned char *p, size_t n)
{
	unsigned long acc = 0;

	for (int k = 0; k < 400; k++)
		acc = acc * 31 + p[(size_t)k % n];
	__asm__ volatile("" : : "r"(acc));
}

static void work(tstate *t)
{
	for (unsigned long i = 0;
	     i < t->iterations || __atomic_load_n(&t->signals, __ATOMIC_RELAXED) < t->min_signals;
	     i++) {
		int hand = i % 4 == 0 && !__atomic_load_n(&to_handler, __ATOMIC_RELAXED);
		size_t n = hand ? TO_SIZE : churn_sizes[i % NCHURN];
		sigset_t old;
		unsigned char *p;

		if (hand)
			block(&old);
		in_alloc = 1;
		p = unw_sigalloc_site(n);	/* one call site: one stack for all of them */
		in_alloc = 0;
		if (!p)
			abort();
		t->allocs++;
		t->bytes += n;
		if (hand) {
			memset(p, CANARY_TO, n);
			__atomic_store_n(&to_handler, p, __ATOMIC_RELEASE);
			restore(&old);
		} else {
			p[0] = 1;
			p[n - 1] = 2;
			think(p, n);
			in_alloc = 1;
			free(p);
			in_alloc = 0;
		}
		if (__atomic_load_n(&from_handler, __ATOMIC_RELAXED))
			take_gift(t);
	}
}

static void *run(void *arg)
{
	tstate *t = arg;
	struct sigevent sev;
	struct itimerspec its;
	timer_t timer;
	sigset_t old;
	void *p;

	self = t;
	warm_up();
	pthread_barrier_wait(&barrier);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGALRM;
	sev.sigev_notify_thread_id = gettid();
	its.it_value.tv_sec = its.it_interval.tv_sec = 0;
	its.it_value.tv_nsec = its.it_interval.tv_nsec = t->interval_us * 1000;
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0 ||
	    timer_settime(timer, 0, &its, NULL) != 0) {
		perror("unw_sigalloc: timer");
		exit(3);
	}
	work(t);
	block(&old);	/* for good: a signal already queued must not run any more */
	timer_delete(timer);
	if ((p = __atomic_exchange_n(&to_handler, NULL, __ATOMIC_ACQUIRE)) != NULL)
		free(p);
	take_gift(t);
	return NULL;
}

int main(int argc, char **argv)
{
	tstate ts[NTHREADS];
	pthread_t th[NTHREADS];
	struct sigaction sa;
	unsigned long iterations, min_signals, sum[6] = { 0 };
	long interval = 200;
	int bad = 0;
	char *end;

	if (argc < 4 || argc > 5 ||
	    (strcmp(argv[1], "polite") != 0 && strcmp(argv[1], "rude") != 0) ||
	    (iterations = strtoul(argv[2], &end, 10)) == 0 || *end ||
	    (min_signals = strtoul(argv[3], &end, 10), *end) ||
	    (argc == 5 && ((interval = strtol(argv[4], &end, 10)) < 10 || *end ||
			   interval >= 1000000))) {
		fprintf(stderr, "usage: unw_sigalloc polite|rude ITERATIONS MIN_SIGNALS [INTERVAL_US]\n");
		return 2;
	}
	rude = strcmp(argv[1], "rude") == 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_timer;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) != 0 ||
	    pthread_barrier_init(&barrier, NULL, NTHREADS) != 0) {
		perror("unw_sigalloc: setup");
		return 3;
	}
	memset(ts, 0, sizeof(ts));
	for (int i = 0; i < NTHREADS; i++) {
		ts[i].iterations = iterations;
		ts[i].min_signals = min_signals;
		ts[i].interval_us = interval;
	}
	for (int i = 1; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, run, &ts[i]) != 0) {
			perror("unw_sigalloc: pthread_create");
			return 3;
		}
	run(&ts[0]);
	for (int i = 1; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NTHREADS; i++) {
		sum[0] += ts[i].signals;
		sum[1] += ts[i].handler_frees;
		sum[2] += ts[i].gifts;
		sum[3] += ts[i].allocs;
		sum[4] += ts[i].bytes;
		sum[5] += ts[i].handler_allocs;
		bad |= ts[i].bad;
	}
	if (bad) {
		fprintf(stderr, "unw_sigalloc: a hand-over block was corrupted\n");
		return 4;
	}
	printf("signals %lu\nhandler_frees %lu\ngifts %lu\nhandler_allocs %lu\n"
	       "site_allocs %lu\nsite_bytes %lu\n", sum[0], sum[1], sum[2], sum[5], sum[3], sum[4]);
	return 0;
}
