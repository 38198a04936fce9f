/* tests/progs/proc_signals.c: the program's own SIGUSR1 handler next to heapprof's signal
 * trigger, and a program under a storm of signals (tests/hazards/proc_signals.sh,
 * tests/hazards/proc_stress.sh). Runs under LD_PRELOAD=libheapprof.so; proc_signals_linked
 * is the same source linked with -lheapprof.
 *
 *   proc_signals count WHEN N MIN_SECONDS PIDFILE ACKFILE
 *       Installs a SIGUSR1 handler that counts, at WHEN:
 *         main  in main (after the library has initialised and installed its trigger);
 *         ctor  in a constructor of priority 101 (also after the library's constructor:
 *               the library is a dependency, or preloaded, so it initialises first);
 *         pre   in a .preinit_array function, which runs before any library's
 *               initialisation: heapprof finds the handler already there;
 *         none  no handler of its own.
 *       Prints "handler at main: own|default|other" (what SIGUSR1's disposition is when
 *       main starts, before main installs anything). Writes its pid to PIDFILE (through
 *       PIDFILE.tmp and rename), then allocates (main and one more thread) until it has
 *       received N SIGUSR1 and run for at least MIN_SECONDS (heapprof notices a replaced
 *       handler within a second, on a sample), or 30 s have passed. Each time the count
 *       changes it writes the count to ACKFILE (through a temporary file and rename), so
 *       that a test can send one signal, wait for the acknowledgement, and send the next.
 *       Prints "received: K" and returns 0 from main when K == N (1 otherwise).
 *   proc_signals storm SECONDS NTHREADS PIDFILE
 *       NTHREADS threads allocate and free (16 B to 64 KiB, now and then 1 MiB) for SECONDS
 *       while someone else sends signals; writes PIDFILE once they run; returns 0. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SITE __attribute__((noinline, noclone, used))

static volatile sig_atomic_t received;
static atomic_int stop;
volatile unsigned long sink;

static void count_handler(int sig)
{
	(void)sig;
	received++;
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = count_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGUSR1, &sa, NULL) != 0) {
		perror("proc_signals: sigaction");
		_exit(2);
	}
}

static int mode_is(int argc, char **argv, const char *when)
{
	return argc >= 3 && strcmp(argv[1], "count") == 0 && strcmp(argv[2], when) == 0;
}

/* Runs before the initialisation of every shared object, libheapprof included. */
static void pre_hook(int argc, char **argv, char **envp)
{
	(void)envp;
	if (mode_is(argc, argv, "pre"))
		install();
}
__attribute__((section(".preinit_array"), used))
static void (*const preinit_hook)(int, char **, char **) = pre_hook;

/* Runs after libheapprof's constructor (a dependency, or preloaded, initialises first). */
__attribute__((constructor(101))) static void ctor_hook(int argc, char **argv, char **envp)
{
	(void)envp;
	if (mode_is(argc, argv, "ctor"))
		install();
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_file(const char *path, long value)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "w")))
		return -1;
	fprintf(f, "%ld\n", value);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

static unsigned long long next_rand(unsigned long long *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

SITE static char *alloc_site(size_t n, int calloc_it)
{
	char *p = calloc_it ? calloc(1, n) : malloc(n);

	if (!p) {
		fprintf(stderr, "proc_signals: out of memory\n");
		exit(2);
	}
	p[0] = 1;
	p[n - 1] = 2;
	return p;
}

/* One step of a bounded working set of slots blocks. */
static void churn_step(char **ring, int slots, unsigned long long *s)
{
	unsigned long long r = next_rand(s);
	int i = (int)(r % (unsigned long long)slots);
	size_t n = (r & 1023) == 0 ? (size_t)1 << 20 : (size_t)16 << ((r >> 10) % 13);

	free(ring[i]);
	ring[i] = alloc_site(n, (int)((r >> 20) & 1));
}

static void *churn_thread(void *arg)
{
	enum { SLOTS = 1024 };
	unsigned long long s = 0x9e3779b97f4a7c15ULL + (unsigned long long)(long)arg * 104729;
	char **ring = calloc(SLOTS, sizeof(*ring));

	if (!ring)
		return NULL;
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		churn_step(ring, SLOTS, &s);
	for (int i = 0; i < SLOTS; i++)
		free(ring[i]);
	free(ring);
	return NULL;
}

static const char *disposition(void)
{
	struct sigaction old;

	if (sigaction(SIGUSR1, NULL, &old) != 0)
		return "unknown";
	if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == count_handler)
		return "own";
	if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL)
		return "default";
	return "other";
}

static int mode_count(const char *when, int n, double min_seconds, const char *pidfile,
		      const char *ackfile)
{
	unsigned long long s = 12345;
	char *ring[256] = { 0 };
	pthread_t th;
	double start = now(), end = start + 30;
	long last = 0;

	printf("handler at main: %s\n", disposition());
	if (strcmp(when, "main") == 0)
		install();
	pthread_create(&th, NULL, churn_thread, (void *)1L);
	if (write_file(pidfile, (long)getpid()) != 0) {
		perror("proc_signals: pidfile");
		return 2;
	}
	while ((last < n || now() < start + min_seconds) && now() < end) {
		long r;

		for (int i = 0; i < 64; i++)
			churn_step(ring, 256, &s);
		r = received;
		if (r != last) {
			last = r;
			if (write_file(ackfile, r) != 0) {
				perror("proc_signals: ackfile");
				return 2;
			}
		}
	}
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	for (int i = 0; i < 256; i++)
		free(ring[i]);
	printf("received: %ld\n", (long)received);
	return received == n ? 0 : 1;
}

static int mode_storm(double seconds, int nthreads, const char *pidfile)
{
	pthread_t th[64];
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	double end = now() + seconds;

	if (nthreads < 1 || nthreads > 64)
		return 2;
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, churn_thread, (void *)(long)i);
	if (write_file(pidfile, (long)getpid()) != 0) {
		perror("proc_signals: pidfile");
		return 2;
	}
	while (now() < end)
		nanosleep(&ts, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 7 && strcmp(argv[1], "count") == 0 &&
	    (!strcmp(argv[2], "main") || !strcmp(argv[2], "ctor") || !strcmp(argv[2], "pre") ||
	     !strcmp(argv[2], "none")))
		return mode_count(argv[2], atoi(argv[3]), strtod(argv[4], NULL), argv[5], argv[6]);
	if (argc == 5 && strcmp(argv[1], "storm") == 0)
		return mode_storm(strtod(argv[2], NULL), atoi(argv[3]), argv[4]);
	fprintf(stderr, "usage: proc_signals count main|ctor|pre|none N MIN_SECONDS PIDFILE ACKFILE | "
		"proc_signals storm SECONDS NTHREADS PIDFILE\n");
	return 2;
}
