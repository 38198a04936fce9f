/* tests/progs/proc_fork.c: fork, posix_spawn and vfork from a process whose threads
 * allocate at rate=1 (tests/hazards/proc_fork.sh, tests/hazards/proc_stress.sh). Run under
 * LD_PRELOAD=libheapprof.so with HEAPPROF=rate=1,prefix=PREFIX.
 *
 *   proc_fork run NFORKS NSPAWN PREFIX
 *       Starts THREADS threads that allocate and free (bursts of 256 allocations, 0.2 ms
 *       apart, so that the forks and spawns get some CPU too), and one that converts
 *       times without pause (gmtime_r), as a program's logger does: it holds glibc's time
 *       zone lock most of the time, so most children inherit that lock held, and glibc
 *       never makes it anew in a child; the profiler must not need it there. Writes one
 *       profile of its own first (raise(SIGUSR1), waits for PREFIX.<pid>.*.signal.pb.gz) and takes its
 *       checksum (FNV-1a) and size. Then forks NFORKS children one after another; child
 *       number i sets alarm(20) (a hang kills it), allocates, and by i % 2:
 *         0: raises SIGUSR1, waits (up to 15 s) for its own PREFIX.<pid>.*.signal.pb.gz and
 *            calls _exit(0) (_exit(3) if none came): one signal profile, no exit profile;
 *         1: returns through exit(0): one exit profile.
 *       The parent waits for each (waitpid), and stops forking after 3 failures. Then NSPAWN posix_spawn and NSPAWN vfork+execve
 *       children, alternately /bin/true and this program in mode "child" (allocates, then
 *       _exit(0)), with ",at_exit=0" added to HEAPPROF; each must exit with status 0. Then checks that its own first profile
 *       is unchanged, stops the threads and returns 0 from main (an exit profile).
 *       Writes "PID MODE STATUS" per forked child to PREFIX.children and prints
 *       "parent: PID profile FILE", "forks: N ok: M", "posix_spawn: N ok: M",
 *       "vfork: N ok: M", "parent profile unchanged: yes|no".
 *   proc_fork child
 *       Allocates a little and calls _exit(0).
 * Exit status 0 when every child succeeded and the parent's profile is unchanged, 1
 * otherwise, 2 on a usage or setup error. An overall alarm(600) ends a hung parent. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SITE __attribute__((noinline, noclone, used))

enum { THREADS = 4, MAXCHILD = 100000 };

extern char **environ;

volatile unsigned long sink;
static atomic_int stop;
static const char *prefix;
static char self[4096];

static void oom(void)
{
	fprintf(stderr, "proc_fork: out of memory\n");
	_exit(2);
}

static unsigned long long next_rand(unsigned long long *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

SITE static char *thread_alloc_site(size_t n)
{
	char *p = malloc(n);

	if (!p)
		oom();
	p[0] = 1;
	p[n - 1] = 2;
	return p;
}

static void *churn(void *arg)
{
	unsigned long long s = 0x9e3779b97f4a7c15ULL ^ ((unsigned long long)(long)arg << 32);
	char *ring[128] = { 0 };

	struct timespec pause = { 0, 200 * 1000 };
	unsigned long n = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned long long r = next_rand(&s);
		int i = (int)(r % 128);

		free(ring[i]);
		ring[i] = thread_alloc_site((size_t)16 << ((r >> 8) % 9));
		if (++n % 256 == 0)
			nanosleep(&pause, NULL);	/* bursts: leave the forks some CPU */
	}
	for (int i = 0; i < 128; i++)
		free(ring[i]);
	return NULL;
}

static void *clock_thread(void *arg)
{
	time_t t = 0;
	struct tm tm;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (gmtime_r(&t, &tm))
			sink += (unsigned long)tm.tm_hour;
		t += 3599;
	}
	return arg;
}

SITE static void child_alloc_site(int i)
{
	char *v[32];

	for (int j = 0; j < 32; j++) {
		if (!(v[j] = malloc(64 + (size_t)j + (size_t)(i % 5))))
			oom();
		v[j][0] = (char)j;
	}
	for (int j = 0; j < 32; j += 2)
		free(v[j]);
	sink += (unsigned char)v[1][0];
}

/* The profiles with this process's pid and TRIGGER; the first one's name into first. */
static int count_profiles(const char *trigger, char *first, size_t cap)
{
	char pat[4200];
	glob_t g;
	int n = 0;

	snprintf(pat, sizeof(pat), "%s.%d.*.%s.pb.gz", prefix, (int)getpid(), trigger);
	if (glob(pat, 0, NULL, &g) == 0) {
		n = (int)g.gl_pathc;
		if (first && n > 0)
			snprintf(first, cap, "%s", g.gl_pathv[0]);
	}
	globfree(&g);
	return n;
}

/* Raises SIGUSR1 and waits for a signal profile (allocating meanwhile, which also starts
 * a forked child's helper thread). Returns 0 when one came. */
static int signal_dump(char *name, size_t cap, int i)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int want = count_profiles("signal", NULL, 0) + 1;

	raise(SIGUSR1);
	for (int t = 0; t < 1500; t++) {
		child_alloc_site(i);
		if (count_profiles("signal", name, cap) >= want)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

static int checksum(const char *path, uint64_t *sum, long long *size)
{
	unsigned char buf[65536];
	uint64_t h = 0xcbf29ce484222325ull;
	long long n = 0;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < got; i++)
			h = (h ^ buf[i]) * 0x100000001b3ull;
		n += got;
	}
	close(fd);
	*sum = h;
	*size = n;
	return got < 0 ? -1 : 0;
}

static void child(int i)
{
	alarm(20);
	child_alloc_site(i);
	if (i % 2 == 0)
		_exit(signal_dump(NULL, 0, i) == 0 ? 0 : 3);
	exit(0);
}

static int exited_0(int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int wait_for(pid_t pid)
{
	int status = 0;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return status;
}

/* The environment of the spawned children: this one with ",at_exit=0" added to HEAPPROF
 * (so that /bin/true writes no exit profile: hundreds of them would only cost time). */
static char **child_env;

static void make_child_env(void)
{
	static char heapprof[8192];
	size_t n = 0;

	while (environ[n])
		n++;
	child_env = calloc(n + 1, sizeof(*child_env));
	if (!child_env)
		oom();
	for (size_t i = 0; i < n; i++) {
		child_env[i] = environ[i];
		if (strncmp(environ[i], "HEAPPROF=", 9) == 0) {
			snprintf(heapprof, sizeof(heapprof), "%s,at_exit=0", environ[i]);
			child_env[i] = heapprof;
		}
	}
}

/* vfork + execve: the child only execs (or _exits), as vfork requires. */
static __attribute__((noinline)) pid_t vfork_exec(char *const argv[])
{
	pid_t pid = vfork();

	if (pid == 0) {
		execve(argv[0], argv, child_env);
		_exit(127);
	}
	return pid;
}

static int mode_run(int nforks, int nspawn)
{
	static pid_t pids[MAXCHILD];
	static int statuses[MAXCHILD];
	char *true_argv[] = { "/bin/true", NULL };
	char *self_argv[] = { self, "child", NULL };
	char parent_file[4200], path[4200];
	uint64_t sum0 = 0, sum1 = 1;
	long long size0 = 0, size1 = -1;
	pthread_t th[THREADS], clock_th;
	int good = 0, sp_good = 0, vf_good = 0, unchanged;
	FILE *f;

	if (nforks < 0 || nforks > MAXCHILD || nspawn < 0)
		return 2;
	alarm(600);
	make_child_env();
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, churn, (void *)(long)i);
	pthread_create(&clock_th, NULL, clock_thread, NULL);
	if (signal_dump(parent_file, sizeof(parent_file), 0) != 0 ||
	    checksum(parent_file, &sum0, &size0) != 0) {
		printf("parent: no signal profile within 15 s\n");
		return 1;
	}
	printf("parent: %d profile %s\n", (int)getpid(), parent_file);
	fflush(NULL);

	for (int i = 0; i < nforks; i++) {
		pid_t pid = fork();

		if (pid == 0)
			child(i);
		if (pid < 0) {
			printf("fork: %s\n", strerror(errno));
			nforks = i;
			break;
		}
		pids[i] = pid;
		statuses[i] = wait_for(pid);
		good += exited_0(statuses[i]);
		if (i + 1 - good >= 3) {
			printf("fork: 3 children failed, no more forks\n");
			nforks = i + 1;	/* each may have taken its alarm's 20 s */
			break;
		}
	}

	for (int i = 0; i < nspawn; i++) {
		char **argv = i % 2 ? self_argv : true_argv;
		pid_t pid;

		if (posix_spawn(&pid, argv[0], NULL, NULL, argv, child_env) == 0)
			sp_good += exited_0(wait_for(pid));
		pid = vfork_exec(argv);
		if (pid > 0)
			vf_good += exited_0(wait_for(pid));
	}

	atomic_store(&stop, 1);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_join(clock_th, NULL);
	unchanged = checksum(parent_file, &sum1, &size1) == 0 && sum1 == sum0 && size1 == size0;

	snprintf(path, sizeof(path), "%s.children", prefix);
	if (!(f = fopen(path, "w"))) {
		perror(path);
		return 2;
	}
	for (int i = 0; i < nforks; i++)
		fprintf(f, "%d %d %s\n", (int)pids[i], i % 2,
			WIFEXITED(statuses[i]) ? (WEXITSTATUS(statuses[i]) ? "exit-nonzero" : "0") :
			WIFSIGNALED(statuses[i]) ? strsignal(WTERMSIG(statuses[i])) : "?");
	fclose(f);
	printf("forks: %d ok: %d\n", nforks, good);
	printf("posix_spawn: %d ok: %d\n", nspawn, sp_good);
	printf("vfork: %d ok: %d\n", nspawn, vf_good);
	printf("parent profile unchanged: %s (%lld bytes, fnv %016llx; now %lld bytes, fnv "
	       "%016llx)\n", unchanged ? "yes" : "no", size0, (unsigned long long)sum0, size1,
	       (unsigned long long)sum1);
	alarm(0);
	return good == nforks && sp_good == nspawn && vf_good == nspawn && unchanged ? 0 : 1;
}

int main(int argc, char **argv)
{
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "child") == 0) {
		child_alloc_site(1);
		_exit(0);
	}
	if (argc != 5 || strcmp(argv[1], "run") != 0) {
		fprintf(stderr, "usage: proc_fork run NFORKS NSPAWN PREFIX | proc_fork child\n");
		return 2;
	}
	prefix = argv[4];
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		perror("proc_fork: /proc/self/exe");
		return 2;
	}
	self[n] = '\0';
	return mode_run(atoi(argv[2]), atoi(argv[3]));
}
