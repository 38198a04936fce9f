/* tests/progs/unw_phdr.c: allocations inside dl_iterate_phdr callbacks, while other threads
 * allocate and the main thread loads and unloads a library (and forks).
 *
 *   unw_phdr MODE ROUNDS LIBRARY
 *
 * Two threads call dl_iterate_phdr without pause; for every object the callback
 * (unw_phdr_cb) calls unw_phdr_cb_alloc, which mallocs, touches and frees a block: that
 * allocation is made while the thread holds the loader's dl_iterate_phdr lock. Two more
 * threads malloc and free without pause (unw_phdr_worker_alloc). Under HEAPPROF=rate=1
 * every one of these allocations is sampled, so the profiler unwinds (and looks up unwind
 * tables) both inside and outside the loader lock, in all four threads at once: the lock
 * order that deadlocks libunwind's own local unwinder (its cache lock, then the loader lock).
 * Meanwhile the main thread runs ROUNDS rounds:
 *   MODE dlopen  dlopen LIBRARY (tests/progs/.libs/libunw_plugin.so), call its
 *                unw_plugin_churn (an allocation inside it), dlclose it;
 *   MODE fork    the same every other round, and every round fork: the child allocates
 *                CHILD_ALLOCS blocks (unw_phdr_child_alloc), frees them and returns from
 *                exit(0) normally (so that heapprof writes the child's exit profile), while
 *                the parent waits for it at most CHILD_TIMEOUT seconds.
 *
 * Each thread first allocates once outside the counted sites (a thread's first allocation
 * is not always sampled). On success it prints, on stdout, one "name value" line each:
 *   cb_allocs, cb_bytes            allocations made by unw_phdr_cb_alloc (in callbacks)
 *   worker_allocs, worker_bytes    allocations made by unw_phdr_worker_alloc
 *   phdr_calls, dlopens, forks, pid
 * and returns 0 from main. Exit 2: usage; 3: a child hung (killed after CHILD_TIMEOUT s) or
 * failed; 4: dlopen or dlsym failed. Everything is freed: nothing is in use at exit. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
#define SITE __attribute__((noinline, noclone, used))
#else
#define SITE __attribute__((noinline, used))
#endif

enum { NPHDR = 2, NALLOC = 2, CHILD_ALLOCS = 16, CHILD_TIMEOUT = 10 };

typedef struct counts {
	unsigned long allocs, bytes, calls;
} counts;

static int stop;	/* atomic: the threads stop when it is set */
static int phdr_started;	/* atomic: phdr threads that made their first call */

void unw_phdr_cb_alloc(size_t n);
void unw_phdr_worker_alloc(size_t n);
void unw_phdr_child_alloc(size_t n);
void *unw_phdr_thread(void *arg);
void *unw_phdr_alloc_thread(void *arg);

static void touch_free(size_t n)
{
	char *volatile p = malloc(n);

	if (!p)
		abort();
	p[0] = 1;
	p[n - 1] = 2;
	free(p);
}

/* A thread's first allocation, outside the counted sites. */
static void warm_up(void)
{
	touch_free(8);
}

SITE void unw_phdr_cb_alloc(size_t n)
{
	touch_free(n);
	__asm__ volatile("" ::: "memory");	/* not a tail call: this frame stays */
}

SITE void unw_phdr_worker_alloc(size_t n)
{
	touch_free(n);
	__asm__ volatile("" ::: "memory");
}

SITE void unw_phdr_child_alloc(size_t n)
{
	touch_free(n);
	__asm__ volatile("" ::: "memory");
}

static int unw_phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	counts *c = arg;
	size_t n = 16 + (c->allocs % 61) * 8 + strlen(info->dlpi_name) % 32;

	(void)size;
	unw_phdr_cb_alloc(n);
	c->allocs++;
	c->bytes += n;
	return 0;
}

SITE void *unw_phdr_thread(void *arg)
{
	counts *c = arg;

	warm_up();
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		dl_iterate_phdr(unw_phdr_cb, c);
		if (c->calls++ == 0)
			__atomic_add_fetch(&phdr_started, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

SITE void *unw_phdr_alloc_thread(void *arg)
{
	counts *c = arg;

	warm_up();
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		size_t n = 24 + (c->allocs % 97) * 16;

		unw_phdr_worker_alloc(n);
		c->allocs++;
		c->bytes += n;
	}
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int load_unload(const char *lib, unsigned long round)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	void (*churn)(size_t);

	if (!h) {
		fprintf(stderr, "unw_phdr: dlopen %s: %s\n", lib, dlerror());
		return -1;
	}
	*(void **)&churn = dlsym(h, "unw_plugin_churn");
	if (!churn) {
		fprintf(stderr, "unw_phdr: dlsym unw_plugin_churn: %s\n", dlerror());
		dlclose(h);
		return -1;
	}
	churn(100 + round % 50);
	dlclose(h);
	return 0;
}

/* Forks a child that allocates and exits normally; waits for it at most CHILD_TIMEOUT s. */
static int fork_round(unsigned long round)
{
	pid_t pid = fork(), w;
	int status = 0;
	long waited;

	if (pid < 0) {
		perror("unw_phdr: fork");
		return -1;
	}
	if (pid == 0) {
		for (int i = 0; i < CHILD_ALLOCS; i++)
			unw_phdr_child_alloc(32 + (size_t)i * 8);
		exit(0);
	}
	for (waited = 0; (w = waitpid(pid, &status, WNOHANG)) == 0; waited++) {
		if (waited >= CHILD_TIMEOUT * 1000L) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "unw_phdr: child %ld (fork %lu) hung for %d s: killed\n",
				(long)pid, round + 1, CHILD_TIMEOUT);
			return -1;
		}
		sleep_ms(1);
	}
	if (w != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "unw_phdr: child %ld (fork %lu) failed: status 0x%x\n",
			(long)pid, round + 1, status);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t phdr[NPHDR], alloc[NALLOC];
	counts pc[NPHDR], ac[NALLOC], total_cb = { 0, 0, 0 }, total_w = { 0, 0, 0 };
	unsigned long rounds, dlopens = 0, forks = 0;
	int forking, rc = 0;
	char *end;

	if (argc != 4 || (strcmp(argv[1], "dlopen") != 0 && strcmp(argv[1], "fork") != 0) ||
	    (rounds = strtoul(argv[2], &end, 10)) == 0 || *end) {
		fprintf(stderr, "usage: unw_phdr dlopen|fork ROUNDS LIBRARY\n");
		return 2;
	}
	forking = strcmp(argv[1], "fork") == 0;
	warm_up();
	memset(pc, 0, sizeof(pc));
	memset(ac, 0, sizeof(ac));
	for (int i = 0; i < NPHDR; i++)
		if (pthread_create(&phdr[i], NULL, unw_phdr_thread, &pc[i]) != 0)
			abort();
	for (int i = 0; i < NALLOC; i++)
		if (pthread_create(&alloc[i], NULL, unw_phdr_alloc_thread, &ac[i]) != 0)
			abort();
	while (__atomic_load_n(&phdr_started, __ATOMIC_RELAXED) < NPHDR)
		sleep_ms(1);

	for (unsigned long r = 0; r < rounds && rc == 0; r++) {
		if (!forking || r % 2 == 1) {
			if (load_unload(argv[3], r) != 0)
				rc = 4;
			dlopens++;
		}
		if (forking && rc == 0) {
			if (fork_round(r) != 0)
				rc = 3;
			forks++;
		}
	}

	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < NPHDR; i++) {
		pthread_join(phdr[i], NULL);
		total_cb.allocs += pc[i].allocs;
		total_cb.bytes += pc[i].bytes;
		total_cb.calls += pc[i].calls;
	}
	for (int i = 0; i < NALLOC; i++) {
		pthread_join(alloc[i], NULL);
		total_w.allocs += ac[i].allocs;
		total_w.bytes += ac[i].bytes;
	}
	if (rc != 0)
		return rc;
	printf("cb_allocs %lu\ncb_bytes %lu\nworker_allocs %lu\nworker_bytes %lu\n",
	       total_cb.allocs, total_cb.bytes, total_w.allocs, total_w.bytes);
	printf("phdr_calls %lu\ndlopens %lu\nforks %lu\npid %ld\n", total_cb.calls, dlopens, forks,
	       (long)getpid());
	return 0;
}
