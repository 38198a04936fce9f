/* lib/peak: see peak.h. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "arena.h"
#include "dump.h"
#include "peak.h"
#include "prof.h"
#include "stacktab.h"
#include "trigger.h"

int hp_peak_on;
static int pct;
static _Atomic int64_t live;		/* the estimate, bytes */
static _Atomic int64_t dump_mark;	/* a peak profile when live passes it */
static _Atomic int64_t copy_mark;	/* a copy of the counters when live passes it */
static atomic_int asked;		/* the helper was woken and has not looked yet */

/* The copy at the highest live heap so far, and the last peak profile's heap (0: none
 * yet), under lock (the helper's work and the exit path). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static hp_stack_snap *best;
static size_t nbest;
static int64_t best_live, best_ns, last_dumped;

#define COPY_STEP 1.02

void hp_peak_init(int percent, uint64_t rate)
{
	int64_t first = HP_PEAK_FLOOR;

	if (percent <= 0)
		return;
	pct = percent;
	if (rate > 1 && (int64_t)(8 * rate) > first)
		first = (int64_t)(8 * rate);
	atomic_store(&dump_mark, first);
	atomic_store(&copy_mark, first);
	hp_peak_on = 1;
}

void hp_peak_change(int64_t bytes)
{
	int64_t now = atomic_fetch_add_explicit(&live, bytes, memory_order_relaxed) + bytes;

	if (bytes <= 0)
		return;
	if ((now > atomic_load_explicit(&copy_mark, memory_order_relaxed) ||
	     now > atomic_load_explicit(&dump_mark, memory_order_relaxed)) &&
	    !atomic_exchange_explicit(&asked, 1, memory_order_relaxed))
		hp_trigger_kick();
}

int64_t hp_peak_live(void)
{
	return atomic_load_explicit(&live, memory_order_relaxed);
}

/* "200.3 MiB" */
static const char *mib(char *b, size_t size, int64_t v)
{
	snprintf(b, size, "%.1f MiB", (double)v / 1048576.0);
	return b;
}

/* The live heap a copy stands for: what its counters say is in use. */
static int64_t copy_live(const hp_stack_snap *v, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += v[i].alloc_space - v[i].free_space;
	return (int64_t)llround(s);
}

static void work_locked(void)
{
	int64_t now, dm;
	hp_stack_snap *v;
	size_t n;
	char why[200], a[32], b[32];

	atomic_store_explicit(&asked, 0, memory_order_relaxed);
	now = hp_peak_live();
	dm = atomic_load_explicit(&dump_mark, memory_order_relaxed);
	if (now <= atomic_load_explicit(&copy_mark, memory_order_relaxed) && now <= dm)
		return;
	if (hp_stacktab_snapshot(&v, &n) != 0)
		return;	/* out of memory: the next sample past the mark asks again */
	now = copy_live(v, n);	/* the copy's own figure (the estimate moved meanwhile) */
	if (now > dm) {
		if (last_dumped)
			snprintf(why, sizeof(why), "peak=%d: live heap %s, more than %d%% above %s, "
				 "the last peak profile's", pct, mib(a, sizeof(a), now), pct,
				 mib(b, sizeof(b), last_dumped));
		else
			snprintf(why, sizeof(why), "peak=%d: live heap %s, past the first mark, %s",
				 pct, mib(a, sizeof(a), now), mib(b, sizeof(b), dm));
		hp_dump_counters("peak", why, v, n, hp_realtime_ns());
		last_dumped = now;
		atomic_store_explicit(&dump_mark, (int64_t)((double)now * (1.0 + pct / 100.0)),
				      memory_order_relaxed);
	}
	if (now > best_live) {
		hp_ifree(best);
		best = v;
		nbest = n;
		best_live = now;
		best_ns = hp_realtime_ns();
		v = NULL;
		atomic_store_explicit(&copy_mark, (int64_t)((double)now * COPY_STEP),
				      memory_order_relaxed);
	}
	hp_ifree(v);
}

void hp_peak_work(void)
{
	if (!hp_peak_on)
		return;
	pthread_mutex_lock(&lock);
	work_locked();
	pthread_mutex_unlock(&lock);
}

void hp_peak_at_exit(void)
{
	char why[200], a[32];

	if (!hp_peak_on)
		return;
	pthread_mutex_lock(&lock);
	work_locked();	/* a mark passed just before exit */
	if (best) {
		snprintf(why, sizeof(why), "the highest live heap of the run, %s, as it stood "
			 "then; written at exit", mib(a, sizeof(a), best_live));
		hp_dump_counters("peak", why, best, nbest, best_ns);
	}
	pthread_mutex_unlock(&lock);
}

void hp_peak_fork_child(void)
{
	pthread_mutex_init(&lock, NULL);
	atomic_store(&asked, 0);
}
