/* lib/trigger: see trigger.h. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "dump.h"
#include "http.h"
#include "log.h"
#include "peak.h"
#include "prof.h"
#include "sampler.h"
#include "trigger.h"
#include "unwind.h"

static sem_t wake;
static int helper_running;	/* written by whoever starts it, and in the fork child */
static int helper_wanted;
static int trigger_sig;		/* the signal whose handler we installed, or 0 */
static _Atomic long next_check;	/* CLOCK_MONOTONIC_COARSE second of the next handler check */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int sig_pending;		/* the trigger signal came */
#define INTERVAL_BACKLOG 64
static atomic_int interval_pending;	/* interval= crossings not yet written */
static atomic_int kick_pending;		/* lib/peak asks for the helper */
static _Atomic unsigned long intervals_done;	/* interval= crossings written */
static _Atomic uint64_t allocated;	/* estimated bytes allocated (sampled weights) */
static _Atomic uint64_t next_interval;	/* the value of allocated that fires interval= */
static struct timespec next_timer;	/* when every= fires next (helper only) */

static void on_signal(int sig)
{
	int saved = errno;

	atomic_store(&sig_pending, 1);
	sem_post(&wake);
	errno = saved;
}

void hp_trigger_allocated(uint64_t bytes)
{
	uint64_t iv = hp_prof_config()->interval, now, due, next;

	if (!iv)
		return;
	now = atomic_fetch_add_explicit(&allocated, bytes, memory_order_relaxed) + bytes;
	due = atomic_load_explicit(&next_interval, memory_order_relaxed);
	if (now < due)
		return;
	next = due + ((now - due) / iv + 1) * iv;
	if (!atomic_compare_exchange_strong(&next_interval, &due, next))
		return;		/* another thread fired this one */
	/* One profile a crossing, also when one sample crossed several; past INTERVAL_BACKLOG
	 * waiting (the program allocates faster than profiles are written), they merge. */
	atomic_fetch_add(&interval_pending, (int)((next - due) / iv));
	sem_post(&wake);
}

void hp_trigger_kick(void)
{
	atomic_store(&kick_pending, 1);
	sem_post(&wake);
}

/* "100 MiB", "1.5 GiB", "4096 bytes" */
static const char *human(char *b, size_t size, uint64_t v)
{
	if (v >= (1ull << 30))
		snprintf(b, size, "%.4g GiB", (double)v / (1ull << 30));
	else if (v >= (1ull << 20))
		snprintf(b, size, "%.4g MiB", (double)v / (1ull << 20));
	else if (v >= (1ull << 10))
		snprintf(b, size, "%.4g KiB", (double)v / (1ull << 10));
	else
		snprintf(b, size, "%llu bytes", (unsigned long long)v);
	return b;
}

/* Takes one waiting interval= crossing (under the dump lock): past INTERVAL_BACKLOG
 * waiting (the program allocates faster than profiles are written), they merge into one. */
static int claim_interval(char *why, size_t size)
{
	uint64_t iv = hp_prof_config()->interval;
	int n = atomic_load(&interval_pending), take;
	unsigned long k;
	char a[32], b[32];

	do {
		if (n <= 0)
			return 0;
		take = n > INTERVAL_BACKLOG ? n - INTERVAL_BACKLOG + 1 : 1;
	} while (!atomic_compare_exchange_weak(&interval_pending, &n, n - take));
	k = atomic_fetch_add(&intervals_done, (unsigned long)take) + (unsigned long)take;
	if (take > 1)
		snprintf(why, size, "interval=%s: %s allocated (estimated; %d intervals merged: the "
			 "program allocated faster than profiles are written)", human(a, sizeof(a), iv),
			 human(b, sizeof(b), (uint64_t)k * iv), take);
	else
		snprintf(why, size, "interval=%s: %s allocated (estimated)", human(a, sizeof(a), iv),
			 human(b, sizeof(b), (uint64_t)k * iv));
	return 1;
}

/* Writes the interval= profiles waiting, each its own file; the helper, and the exit path
 * for those the helper had no time for. */
static void write_intervals(void)
{
	while (hp_dump_auto_claim("interval", claim_interval))
		;
}

static int before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* every=: the next multiple of the period after now (periods missed during a long dump
 * are skipped, not made up for). */
static void advance_timer(const struct timespec *now)
{
	int every = hp_prof_config()->every;

	while (!before(now, &next_timer))
		next_timer.tv_sec += every;
}

/* The helper's chores, due once a second whatever woke it: the sampled arena's purge
 * (hp_arena_decay), and the exit when it is the last thread (see wait_for_work). They ran
 * only when its wait timed out, so a program that had profiles written more often than
 * that (signals, interval=, peak's work) kept its freed sampled pages for good:
 * tests/progs/mem_purge held 22.6 MiB of them after 4 s. */
static struct timespec next_chores;

static void chores_when_due(void)
{
	struct timespec now;
	int n, leader_exited;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (before(&now, &next_chores))
		return;
	next_chores = now;
	next_chores.tv_sec += 1;
	hp_arena_decay();
	n = hp_process_threads(&leader_exited);
	if (n == 1 || (n == 2 && leader_exited))
		exit(0);
}

/* Waits for the trigger signal or interval= (returns 1) or for every='s time (returns 0).
 * The helper must not keep a process alive: glibc ends a process with exit(0) when its
 * last thread ends (main may have called pthread_exit), and the helper counts as one. So
 * it wakes at least once a second and, if it is the only thread left, does that exit
 * itself (the atexit handlers and the exit profile run on it). */
static int wait_for_work(void)
{
	struct timespec now, t;
	int every = hp_prof_config()->every;

	for (;;) {
		chores_when_due();
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (every && !before(&now, &next_timer)) {
			advance_timer(&now);
			return 0;
		}
		t = now;
		t.tv_sec += 1;
		if (every && before(&next_timer, &t))
			t = next_timer;
		if (sem_clockwait(&wake, CLOCK_MONOTONIC, &t) == 0)
			return 1;
	}
}

static void *helper_main(void *arg)
{
	hp_tls.guard++;		/* the helper's own allocations are never sampled */
	hp_je_all_blocked();	/* it runs with every signal blocked (start_helper) */
	clock_gettime(CLOCK_MONOTONIC, &next_timer);
	next_timer.tv_sec += hp_prof_config()->every;
	for (;;) {
		if (!wait_for_work()) {
			char why[64];

			snprintf(why, sizeof(why), "every=%d: a profile every %d s",
				 hp_prof_config()->every, hp_prof_config()->every);
			hp_dump_auto_why("timer", why);
			continue;
		}
		while (sem_trywait(&wake) == 0)
			;	/* triggers that came during the last dump make one dump */
		if (atomic_exchange(&kick_pending, 0))
			hp_peak_work();
		write_intervals();
		if (atomic_exchange(&sig_pending, 0))
		{
			char why[64];

			snprintf(why, sizeof(why), "SIG%s (kill -%s %d)", sigabbrev_np(trigger_sig),
				 sigabbrev_np(trigger_sig), (int)getpid());
			hp_dump_auto_why("signal", why);
		}
	}
	return NULL;
}

static void start_helper(void)
{
	int err;

	pthread_mutex_lock(&start_lock);
	if (helper_running) {
		pthread_mutex_unlock(&start_lock);
		return;
	}
	hp_tls.guard++;
	err = hp_thread_start(helper_main, "heapprof");
	hp_guard_exit();
	if (err == 0) {
		helper_running = 1;
	} else {
		hp_log("signal trigger off: cannot start the helper thread (%s)", strerror(err));
		helper_wanted = 0;
	}
	pthread_mutex_unlock(&start_lock);
}

/* Never takes over a handler the program (or its parent, with SIG_IGN) chose. */
static int install_signal(int sig)
{
	struct sigaction sa, old;

	if (sigaction(sig, NULL, &old) != 0)
		return -errno;
	if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
		hp_log("signal trigger off: SIG%s already has a handler or is ignored in this "
		       "program; choose another with HEAPPROF=signal=USR2", sigabbrev_np(sig));
		return -EBUSY;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	return sigaction(sig, &sa, NULL) == 0 ? 0 : -errno;
}

/* The program may install its own handler for our signal after we did (sigaction is not
 * ours to interpose). Its handler wins; we notice on a sample at most a second later (a
 * thread looks on one sample in POLL_EVERY: the clock read was a twentieth of a sample's
 * cost at rate=1), and say once that the trigger is gone and how to move it. */
#define POLL_EVERY 64
static __thread unsigned poll_skip;

static void check_handler(void)
{
	struct timespec now;
	struct sigaction cur;
	long due = atomic_load_explicit(&next_check, memory_order_relaxed);
	int sig = trigger_sig;

	if (!sig || clock_gettime(CLOCK_MONOTONIC_COARSE, &now) != 0 || now.tv_sec < due ||
	    !atomic_compare_exchange_strong(&next_check, &due, now.tv_sec + 1))
		return;
	if (sigaction(sig, NULL, &cur) != 0 || (!(cur.sa_flags & SA_SIGINFO) &&
						 cur.sa_handler == on_signal))
		return;
	trigger_sig = 0;
	hp_log("signal trigger off: the program installed its own SIG%s handler, which heapprof "
	       "leaves alone; choose another signal with HEAPPROF=signal=USR2", sigabbrev_np(sig));
}

void hp_trigger_poll(void)
{
	if (__builtin_expect(helper_wanted && !helper_running, 0))
		start_helper();
	if (trigger_sig && poll_skip-- == 0) {
		poll_skip = POLL_EVERY - 1;
		check_handler();
	}
}

int hp_trigger_helper_running(void)
{
	return __atomic_load_n(&helper_running, __ATOMIC_RELAXED);
}

void hp_trigger_fork_child(void)
{
	pthread_mutex_init(&start_lock, NULL);
	sem_init(&wake, 0, 0);
	helper_running = 0;
	atomic_store(&sig_pending, 0);
	atomic_store(&interval_pending, 0);
	atomic_store(&kick_pending, 0);
	hp_peak_fork_child();
	hp_http_fork_child();
}

__attribute__((constructor)) static void trigger_ctor(void)
{
	const hp_config *c;

	if (!hp_prof_init())
		return;
	c = hp_prof_config();
	sem_init(&wake, 0, 0);
	atomic_store(&next_interval, c->interval);
	if (c->signal && install_signal(c->signal) == 0) {
		trigger_sig = c->signal;
		helper_wanted = 1;
	}
	hp_peak_init(c->peak, c->rate);
	if (c->every || c->interval || c->peak)
		helper_wanted = 1;
	if (helper_wanted)
		start_helper();
	if (c->http_port >= 0)
		hp_http_start(c->http_addr, c->http_port);
}

__attribute__((destructor)) static void trigger_dtor(void)
{
	if (__atomic_load_n(&hp_state, __ATOMIC_ACQUIRE) != HP_READY)
		return;
	hp_tls.guard++;
	write_intervals();	/* those the helper had no time for */
	hp_peak_at_exit();
	if (hp_prof_config()->at_exit)
		hp_dump_auto_why("exit", "the program exited");
	hp_dump_close();
	hp_guard_exit();
}
