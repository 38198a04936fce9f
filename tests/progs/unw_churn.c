/* tests/progs/unw_churn.c: a plugin loaded and unloaded again and again, leaking from inside
 * it, while other threads allocate and profiles are asked for by signal.
 *
 *   unw_churn PLUGIN ROUNDS LEAK_BYTES SIGNAL_EVERY
 *
 * The main thread runs ROUNDS rounds of: dlopen PLUGIN (tests/progs/.libs/libunw_plugin.so),
 * call its unw_plugin_leak(LEAK_BYTES) (a block that stays in use: a leak whose allocation
 * site is in the plugin) and unw_plugin_churn (an allocation freed at once), dlclose it.
 * Every SIGNAL_EVERY rounds it sends itself SIGUSR1, but only if a handler is installed
 * for it (heapprof's, under HEAPPROF; without the library the signal would kill it), so
 * that profiles are written by heapprof's helper thread while libraries come and go. Two
 * threads malloc and free without pause meanwhile (unw_churn_worker_alloc).
 *
 * After the last dlclose the plugin must be gone: the program checks it with
 * dlopen(RTLD_NOLOAD). Each thread first allocates once outside the counted sites (a
 * thread's first allocation is not always sampled). It prints, on stdout, "name value"
 * lines: leaked_blocks, leaked_bytes (ROUNDS, ROUNDS * LEAK_BYTES), signals (SIGUSR1 sent),
 * unloaded (1 if the plugin is no longer loaded), worker_allocs; and returns 0 from main,
 * so that heapprof writes an exit profile in which the leak's site, unloaded long ago, must
 * still be named. Exit 2: usage; 4: dlopen or dlsym failed. */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
#define SITE __attribute__((noinline, noclone, used))
#else
#define SITE __attribute__((noinline, used))
#endif

enum { NWORKERS = 2 };

static int stop;	/* atomic */

void unw_churn_worker_alloc(size_t n);

static void touch_free(size_t n)
{
	char *volatile p = malloc(n);

	if (!p)
		abort();
	p[0] = 1;
	free(p);
}

SITE void unw_churn_worker_alloc(size_t n)
{
	touch_free(n);
	__asm__ volatile("" ::: "memory");
}

static void *worker(void *arg)
{
	unsigned long *allocs = arg;

	touch_free(8);	/* the thread's first allocation */
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unw_churn_worker_alloc(32 + (*allocs % 50) * 24);
		++*allocs;
	}
	return NULL;
}

static int have_handler(int sig)
{
	struct sigaction sa;

	if (sigaction(sig, NULL, &sa) != 0)
		return 0;
	if (sa.sa_flags & SA_SIGINFO)
		return sa.sa_sigaction != NULL;
	return sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN;
}

int main(int argc, char **argv)
{
	pthread_t th[NWORKERS];
	unsigned long rounds, leak, every, allocs[NWORKERS] = { 0 }, total = 0, signals = 0;
	unsigned long leaked = 0;
	int signalling;
	void *h;
	char *end;

	if (argc != 5 || (rounds = strtoul(argv[2], &end, 10)) == 0 || *end ||
	    (leak = strtoul(argv[3], &end, 10)) == 0 || *end ||
	    (every = strtoul(argv[4], &end, 10)) == 0 || *end) {
		fprintf(stderr, "usage: unw_churn PLUGIN ROUNDS LEAK_BYTES SIGNAL_EVERY\n");
		return 2;
	}
	touch_free(8);
	signalling = have_handler(SIGUSR1);
	for (int i = 0; i < NWORKERS; i++)
		if (pthread_create(&th[i], NULL, worker, &allocs[i]) != 0)
			abort();

	for (unsigned long r = 0; r < rounds; r++) {
		size_t (*leak_fn)(size_t);
		void (*churn_fn)(size_t);

		if (!(h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL))) {
			fprintf(stderr, "unw_churn: dlopen %s: %s\n", argv[1], dlerror());
			return 4;
		}
		*(void **)&leak_fn = dlsym(h, "unw_plugin_leak");
		*(void **)&churn_fn = dlsym(h, "unw_plugin_churn");
		if (!leak_fn || !churn_fn) {
			fprintf(stderr, "unw_churn: dlsym: %s\n", dlerror());
			return 4;
		}
		leaked += leak_fn(leak);
		churn_fn(64 + r % 100);
		dlclose(h);
		if (signalling && r % every == every - 1) {
			kill(getpid(), SIGUSR1);
			signals++;
		}
	}

	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < NWORKERS; i++) {
		pthread_join(th[i], NULL);
		total += allocs[i];
	}
	h = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
	printf("leaked_blocks %lu\nleaked_bytes %lu\nsignals %lu\nunloaded %d\n"
	       "worker_allocs %lu\n", rounds, leaked, signals, h == NULL, total);
	if (h)
		dlclose(h);
	return 0;
}
