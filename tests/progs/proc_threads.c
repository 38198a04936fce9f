/* tests/progs/proc_threads.c: threads that come and go, thread-exit destructors that
 * allocate, and signals plus forks while threads allocate (tests/hazards/proc_threads.sh,
 * tests/hazards/proc_stress.sh). Run under LD_PRELOAD=libheapprof.so with HEAPPROF=rate=1.
 * Linked with tests/progs/proc_tls.cc (C++ thread_local objects).
 *
 *   proc_threads many NTHREADS
 *       NTHREADS short-lived threads, created and joined in batches of BATCH; each runs
 *       thread_site() (mallocs of 100, 200 and 300 bytes, all freed) and keep_site() (one
 *       malloc of 50 bytes, kept until exit).
 *   proc_threads dtors NTHREADS
 *       NTHREADS threads (batches of BATCH), each leaving work for thread exit:
 *       - a pthread key whose value comes from key_value_site() (64 bytes); its destructor
 *         calls key_dtor_site() (malloc and free of 32 bytes), frees the value and, the
 *         first time, sets a new value from key_again_site() (80 bytes), so that glibc runs
 *         the destructor a second time (which frees it, and calls key_dtor_site() again);
 *       - __cxa_thread_atexit_impl(cxa_dtor, cxa_obj_site() (48 bytes)): cxa_dtor calls
 *         cxa_dtor_site() (malloc and free of 24 bytes) and frees the object;
 *       - a C++ thread_local object (proc_tls.cc) whose constructor allocates 40 bytes and
 *         whose destructor allocates and frees 100 bytes and frees the 40.
 *       Checks that each destructor ran once per thread (twice for the key).
 *   Both modes print "expect SITE ALLOC_OBJECTS ALLOC_BYTES INUSE_OBJECTS INUSE_BYTES" for
 *   each of their sites (the exact figures of the exit profile at rate=1) and return 0 from
 *   main (exit profile).
 *
 *   proc_threads mixed SECONDS PREFIX NTHREADS
 *       NTHREADS threads allocate and free without pause; another thread sends SIGUSR1 to
 *       the process every 2 ms (profiles: HEAPPROF's prefix must be PREFIX); the main thread
 *       forks one child after another until SECONDS have passed. Child number i allocates,
 *       then by i % 3: 0 returns through exit(0) (an exit profile), 1 calls _exit(0) (no
 *       profile), 2 raises SIGUSR1 and waits (up to 15 s) for its PREFIX.<pid>.*.signal.pb.gz,
 *       then _exit(0) (3 if none came). Every child has alarm(20): a hang kills it. A
 *       child still running after 15 s (they take well under a second) has its threads'
 *       stacks written to PREFIX.stuck.PID by eu-stack (elfutils), when there is one, so
 *       that a hang says where it was (proc_threads.sh prints them). Writes
 *       "PID MODE STATUS" per child to PREFIX.children, prints "pid: PID" (its own) first,
 *       then "forks: N ok: M",
 *       "signals sent: K" and returns 0 from main when every child exited with status 0.
 * Exit status 1 when a check fails, 2 on a usage or setup error. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* proc_tls.cc */
void proc_tls_touch(void);
unsigned long proc_tls_dtors(void);

/* glibc's registration of thread-exit destructors (what C++ thread_local uses). */
int __cxa_thread_atexit_impl(void (*func)(void *), void *obj, void *dso);
extern void *__dso_handle;

#define SITE __attribute__((noinline, noclone, used))

enum { BATCH = 100 };

volatile unsigned long sink;

static void *xmalloc_fail(void)
{
	fprintf(stderr, "proc_threads: out of memory\n");
	exit(2);
}

static void touch(char *p, size_t n)
{
	p[0] = 1;
	p[n - 1] = 2;
	sink += (unsigned char)p[0];
}

/* Runs fn(i) in n threads, BATCH at a time. */
static int run_threads(int n, void *(*fn)(void *))
{
	pthread_t th[BATCH];

	for (int base = 0; base < n; base += BATCH) {
		int m = n - base < BATCH ? n - base : BATCH;

		for (int j = 0; j < m; j++) {
			int err = pthread_create(&th[j], NULL, fn, (void *)(long)(base + j));

			if (err) {
				fprintf(stderr, "proc_threads: pthread_create: %s\n", strerror(err));
				exit(2);
			}
		}
		for (int j = 0; j < m; j++)
			pthread_join(th[j], NULL);
	}
	return n;
}

/* --- many ----------------------------------------------------------------------------- */

static char **kept;

SITE static void thread_site(void)
{
	char *a = malloc(100), *b = malloc(200), *c = malloc(300);

	if (!a || !b || !c)
		xmalloc_fail();
	touch(a, 100);
	touch(b, 200);
	touch(c, 300);
	free(a);
	free(b);
	free(c);
}

SITE static char *keep_site(void)
{
	char *p = malloc(50);

	if (!p)
		xmalloc_fail();
	touch(p, 50);
	return p;
}

static void *many_thread(void *arg)
{
	long i = (long)arg;

	thread_site();
	kept[i] = keep_site();
	return NULL;
}

static int mode_many(int n)
{
	unsigned long long N = (unsigned long long)n;

	kept = calloc((size_t)n, sizeof(*kept));
	if (!kept)
		xmalloc_fail();
	run_threads(n, many_thread);
	for (int i = 0; i < n; i++)
		if (!kept[i]) {
			fprintf(stderr, "proc_threads: thread %d did not run\n", i);
			return 1;
		}
	printf("threads: %d\n", n);
	printf("expect thread_site %llu %llu 0 0\n", 3 * N, 600 * N);
	printf("expect keep_site %llu %llu %llu %llu\n", N, 50 * N, N, 50 * N);
	return 0;
}

/* --- dtors ---------------------------------------------------------------------------- */

static pthread_key_t key;
static atomic_ulong key_dtor_calls, cxa_dtor_calls;
static __thread int key_rounds;

SITE static char *key_value_site(void)
{
	char *p = malloc(64);

	if (!p)
		xmalloc_fail();
	touch(p, 64);
	return p;
}

SITE static char *key_again_site(void)
{
	char *p = malloc(80);

	if (!p)
		xmalloc_fail();
	touch(p, 80);
	return p;
}

SITE static void key_dtor_site(void)
{
	char *volatile p = malloc(32);

	if (!p)
		xmalloc_fail();
	touch(p, 32);
	free(p);
}

static void key_dtor(void *v)
{
	key_dtor_site();
	free(v);
	atomic_fetch_add(&key_dtor_calls, 1);
	if (key_rounds++ == 0)
		pthread_setspecific(key, key_again_site());	/* glibc calls us once more */
}

SITE static char *cxa_obj_site(void)
{
	char *p = malloc(48);

	if (!p)
		xmalloc_fail();
	touch(p, 48);
	return p;
}

SITE static void cxa_dtor_site(void)
{
	char *volatile p = malloc(24);

	if (!p)
		xmalloc_fail();
	touch(p, 24);
	free(p);
}

static void cxa_dtor(void *obj)
{
	cxa_dtor_site();
	free(obj);
	atomic_fetch_add(&cxa_dtor_calls, 1);
}

static void *dtor_thread(void *arg)
{
	pthread_setspecific(key, key_value_site());
	if (__cxa_thread_atexit_impl(cxa_dtor, cxa_obj_site(), &__dso_handle) != 0) {
		fprintf(stderr, "proc_threads: __cxa_thread_atexit_impl failed\n");
		exit(2);
	}
	proc_tls_touch();
	return arg;
}

static int mode_dtors(int n)
{
	unsigned long long N = (unsigned long long)n;
	unsigned long k, c, t;
	int bad;

	if (pthread_key_create(&key, key_dtor) != 0) {
		fprintf(stderr, "proc_threads: pthread_key_create failed\n");
		return 2;
	}
	run_threads(n, dtor_thread);
	k = atomic_load(&key_dtor_calls);
	c = atomic_load(&cxa_dtor_calls);
	t = proc_tls_dtors();
	bad = k != 2 * N || c != N || t != N;
	printf("threads: %d\n", n);
	printf("dtors: key %lu (want %llu), cxa %lu (want %llu), thread_local %lu (want %llu)%s\n",
	       k, 2 * N, c, N, t, N, bad ? " BAD" : "");
	printf("expect key_value_site %llu %llu 0 0\n", N, 64 * N);
	printf("expect key_again_site %llu %llu 0 0\n", N, 80 * N);
	printf("expect key_dtor_site %llu %llu 0 0\n", 2 * N, 64 * N);
	printf("expect cxa_obj_site %llu %llu 0 0\n", N, 48 * N);
	printf("expect cxa_dtor_site %llu %llu 0 0\n", N, 24 * N);
	printf("expect proc_tls_ctor_site %llu %llu 0 0\n", N, 40 * N);
	printf("expect proc_tls_dtor_site %llu %llu 0 0\n", N, 100 * N);
	return bad;
}

/* --- mixed ---------------------------------------------------------------------------- */

static atomic_int stop;
static atomic_ulong signals_sent;
static const char *prefix;

static unsigned long long next_rand(unsigned long long *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

SITE static char *churn_site(size_t n)
{
	char *p = malloc(n);

	if (!p)
		xmalloc_fail();
	touch(p, n);
	return p;
}

static void *churn_thread(void *arg)
{
	unsigned long long s = 0x9e3779b97f4a7c15ULL + (unsigned long long)(long)arg * 7919;
	char *ring[64] = { 0 };

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned long long r = next_rand(&s);
		int i = (int)(r % 64);

		free(ring[i]);
		ring[i] = churn_site((size_t)16 << ((r >> 8) % 10));
	}
	for (int i = 0; i < 64; i++)
		free(ring[i]);
	return NULL;
}

static void *signal_thread(void *arg)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	while (!atomic_load(&stop)) {
		if (kill(getpid(), SIGUSR1) == 0)
			atomic_fetch_add(&signals_sent, 1);
		nanosleep(&ts, NULL);
	}
	return arg;
}

static int count_signal_profiles(void)
{
	char pat[4200];
	glob_t g;
	int n = 0;

	snprintf(pat, sizeof(pat), "%s.%d.*.signal.pb.gz", prefix, (int)getpid());
	if (glob(pat, 0, NULL, &g) == 0)
		n = (int)g.gl_pathc;
	globfree(&g);
	return n;
}

SITE static void child_site(int i)
{
	char *v[20];

	for (int j = 0; j < 20; j++)
		v[j] = churn_site(32 + (size_t)(i % 7) * 16 + (size_t)j);
	for (int j = 0; j < 20; j += 2)
		free(v[j]);
}

static void child(int i)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	alarm(20);
	child_site(i);
	switch (i % 3) {
	case 0:
		exit(0);
	case 1:
		_exit(0);
	default:
		raise(SIGUSR1);
		for (int t = 0; t < 1500; t++) {
			child_site(i);	/* the child's helper starts at a sampled allocation */
			if (count_signal_profiles() > 0)
				_exit(0);
			nanosleep(&ts, NULL);
		}
		_exit(3);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The child the main thread waits for (0: none) and when it was forked, in ms. */
static atomic_int watched_pid;
static atomic_llong watched_since_ms;
enum { STUCK_MS = 15000 };

/* PREFIX.stuck.PID: eu-stack -p PID (its stdout and stderr), run without LD_PRELOAD. */
static void write_stacks(pid_t pid)
{
	static char *const env[] = { "PATH=/usr/bin:/bin", NULL };
	char path[4200], arg[24];
	char *argv[] = { "eu-stack", "-p", arg, NULL };
	posix_spawn_file_actions_t fa;
	pid_t tool;
	int status;

	snprintf(path, sizeof(path), "%s.stuck.%d", prefix, (int)pid);
	snprintf(arg, sizeof(arg), "%d", (int)pid);
	if (posix_spawn_file_actions_init(&fa) != 0)
		return;
	posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (posix_spawnp(&tool, "eu-stack", &fa, NULL, argv, env) == 0)
		while (waitpid(tool, &status, 0) < 0 && errno == EINTR)
			;
	posix_spawn_file_actions_destroy(&fa);
}

static void *watch_thread(void *arg)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	pid_t done = 0;

	while (!atomic_load(&stop)) {
		pid_t pid = atomic_load(&watched_pid);

		if (pid && pid != done &&
		    (long long)(now() * 1000) - atomic_load(&watched_since_ms) > STUCK_MS) {
			write_stacks(pid);
			done = pid;
		}
		nanosleep(&ts, NULL);
	}
	return arg;
}

static int mode_mixed(double seconds, int nthreads)
{
	enum { MAXCHILD = 100000 };
	static pid_t pids[MAXCHILD];
	static int statuses[MAXCHILD];
	pthread_t th[64], sig, watch;
	char path[4200];
	double end = now() + seconds;
	int n = 0, good = 0;
	FILE *f;

	if (nthreads < 1 || nthreads > 64)
		return 2;
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, churn_thread, (void *)(long)i);
	pthread_create(&sig, NULL, signal_thread, NULL);
	pthread_create(&watch, NULL, watch_thread, NULL);
	printf("pid: %d\n", (int)getpid());
	fflush(NULL);
	while (now() < end && n < MAXCHILD) {
		long long forked_ms = (long long)(now() * 1000);
		pid_t pid = fork();
		int status = 0;

		if (pid == 0)
			child(n);
		if (pid > 0) {
			atomic_store(&watched_since_ms, forked_ms);
			atomic_store(&watched_pid, pid);
		}
		if (pid < 0) {
			fprintf(stderr, "proc_threads: fork: %s\n", strerror(errno));
			break;
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		atomic_store(&watched_pid, 0);
		pids[n] = pid;
		statuses[n] = status;
		good += WIFEXITED(status) && WEXITSTATUS(status) == 0;
		n++;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	pthread_join(sig, NULL);
	pthread_join(watch, NULL);
	snprintf(path, sizeof(path), "%s.children", prefix);
	if (!(f = fopen(path, "w"))) {
		perror(path);
		return 2;
	}
	for (int i = 0; i < n; i++)
		fprintf(f, "%d %d %s\n", (int)pids[i], i % 3,
			WIFEXITED(statuses[i]) ? (WEXITSTATUS(statuses[i]) ? "exit-nonzero" : "0") :
			WIFSIGNALED(statuses[i]) ? strsignal(WTERMSIG(statuses[i])) : "?");
	fclose(f);
	printf("forks: %d ok: %d\n", n, good);
	printf("signals sent: %lu\n", atomic_load(&signals_sent));
	return n > 0 && good == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "many") == 0)
		return mode_many(atoi(argv[2]));
	if (argc == 3 && strcmp(argv[1], "dtors") == 0)
		return mode_dtors(atoi(argv[2]));
	if (argc == 5 && strcmp(argv[1], "mixed") == 0) {
		prefix = argv[3];
		return mode_mixed(strtod(argv[2], NULL), atoi(argv[4]));
	}
	fprintf(stderr, "usage: proc_threads many N | dtors N | mixed SECONDS PREFIX NTHREADS\n");
	return 2;
}
