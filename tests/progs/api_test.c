/* tests/progs/api_test: the public API (include/heapprof.h) and fork, in a program linked
 * with -lheapprof and run without HEAPPROF. Prints TAP. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heapprof.h"
#include "tests/tap.h"

static char dir[] = "/tmp/hp_api_XXXXXX";

static __attribute__((noinline)) void **keep_blocks(int n, size_t size)
{
	void **v = calloc((size_t)n, sizeof(*v));

	for (int i = 0; i < n; i++)
		v[i] = malloc(size);
	return v;
}

static void drop_blocks(void **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static heapprof_totals totals(void)
{
	heapprof_totals t;

	memset(&t, 0, sizeof(t));
	heapprof_get_totals(&t);
	return t;
}

static int is_gzip_file(const char *path)
{
	unsigned char b[2] = { 0, 0 };
	int fd = open(path, O_RDONLY), ok2;

	if (fd < 0)
		return 0;
	ok2 = read(fd, b, 2) == 2 && b[0] == 0x1f && b[1] == 0x8b;
	close(fd);
	return ok2;
}

static void test_basics(void)
{
	const char *v = heapprof_version();
	int a, b, c;

	ok(v && sscanf(v, "%d.%d.%d", &a, &b, &c) == 3 && a == HEAPPROF_VERSION_MAJOR &&
	   b == HEAPPROF_VERSION_MINOR, "version %s matches the header", v ? v : "(null)");
	ok(heapprof_get_rate() == 512 * 1024, "default rate 512 KiB (%zu)", heapprof_get_rate());
	ok(heapprof_is_active() == 1, "active by default");
	ok(heapprof_set_rate(((size_t)1 << 40) + 1) == -EINVAL, "a rate above 1 TiB is -EINVAL");
	ok(heapprof_get_rate() == 512 * 1024, "the rate is unchanged after a refused setting");
	ok(heapprof_get_totals(NULL) == -EINVAL, "get_totals(NULL) is -EINVAL");
	ok(strcmp(heapprof_strerror(-ENOENT), "No such file or directory") == 0,
	   "strerror(-ENOENT): %s", heapprof_strerror(-ENOENT));
	ok(strstr(heapprof_strerror(-ENOSYS), "profiler") != NULL, "strerror(-ENOSYS) explains");
	ok(strcmp(heapprof_strerror(5), "unknown error") == 0 &&
	   strcmp(heapprof_strerror(0), "success") == 0, "strerror of 0 and of a positive value");
}

static void test_counts(void)
{
	heapprof_totals t0, t1, t2, t3;
	void **v;

	ok(heapprof_set_rate(1) == 0 && heapprof_get_rate() == 1, "set_rate(1)");
	t0 = totals();
	v = keep_blocks(1000, 1000);
	t1 = totals();
	ok(t1.alloc_objects - t0.alloc_objects == 1001 &&
	   t1.inuse_bytes - t0.inuse_bytes == 1000 * 1000 + 1000 * sizeof(void *),
	   "rate 1: 1000 blocks of 1000 bytes (and their array) counted exactly (%llu objects, "
	   "%llu bytes)", (unsigned long long)(t1.alloc_objects - t0.alloc_objects),
	   (unsigned long long)(t1.inuse_bytes - t0.inuse_bytes));
	ok(heapprof_deactivate() == 0 && heapprof_is_active() == 0, "deactivate");
	drop_blocks(v, 1000);
	t2 = totals();
	ok(t2.inuse_bytes == t0.inuse_bytes && t2.inuse_objects == t0.inuse_objects,
	   "frees are recorded while deactivated (in use back to %llu bytes)",
	   (unsigned long long)t2.inuse_bytes);
	v = keep_blocks(100, 100);
	t3 = totals();
	ok(t3.alloc_objects == t2.alloc_objects, "no sample while deactivated");
	drop_blocks(v, 100);
	ok(heapprof_activate() == 0 && heapprof_is_active() == 1, "activate");
	ok(t3.samples >= 1001 && t3.stacks >= 2, "samples %llu, stacks %llu",
	   (unsigned long long)t3.samples, (unsigned long long)t3.stacks);
}

static void test_dumps(void)
{
	char path[256];
	struct stat st;
	int err;

	snprintf(path, sizeof(path), "%s/api.pb.gz", dir);
	ok(heapprof_dump(path) == 0 && is_gzip_file(path), "dump to a path writes a gzip file");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the profile's mode is 0600");
	ok(heapprof_dump("") == -EINVAL, "dump(\"\") is -EINVAL");
	err = heapprof_dump("/nonexistent-dir/x.pb.gz");
	ok(err == -ENOENT, "dump into a missing directory: %d (%s), program runs on", err,
	   heapprof_strerror(err));
	ok(access("/nonexistent-dir/x.pb.gz", F_OK) != 0, "and no file appears");
}

static volatile int stop;

static void *churn(void *arg)
{
	while (!stop) {
		void *p = malloc(64 + (size_t)rand() % 4096);

		free(p);
	}
	return NULL;
}

/* Forks while 4 threads allocate at rate 1: each child allocates, dumps, and exits. */
static void test_fork(void)
{
	pthread_t th[4];
	int good = 0, own = 0;

	heapprof_set_rate(1);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, churn, NULL);
	alarm(120);		/* and a hang in the parent too */
	for (int i = 0; i < 50; i++) {
		pid_t pid = fork();
		int status = 0;

		if (pid == 0) {
			char p[256];
			void **v;

			alarm(20);	/* a hang in the child fails the test instead of blocking */
			v = keep_blocks(100, 32);
			snprintf(p, sizeof(p), "%s/child.%d.pb.gz", dir, (int)getpid());
			drop_blocks(v, 100);
			_exit(heapprof_dump(p) == 0 && is_gzip_file(p) ? 0 : 1);
		}
		if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0) {
			char p[256];

			good++;
			snprintf(p, sizeof(p), "%s/child.%d.pb.gz", dir, (int)pid);
			own += access(p, F_OK) == 0;
		}
	}
	stop = 1;
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	alarm(0);
	ok(good == 50, "50 forks from a threaded process at rate 1: %d children dumped and exited", good);
	ok(own == 50, "each child's profile carries its own pid (%d)", own);
	heapprof_set_rate(512 * 1024);
}

/* Allocation semantics on sampled blocks (rate 1 samples every one). */
static void test_semantics(void)
{
	char *p, *q;
	char *volatile keep;	/* read after a failed realloc, hidden from the optimiser */
	void *a = NULL;
	volatile size_t huge = (size_t)-1, big = (size_t)1 << 33;
	int e;

	heapprof_set_rate(1);
	p = malloc(100);
	memset(p, 'x', 100);
	q = realloc(p, 100000);
	ok(q && q[0] == 'x' && q[99] == 'x', "realloc of a sampled block keeps its bytes");
	keep = q;
	errno = 1234;
	p = realloc(keep, huge);
	e = errno;
	ok(!p && e == ENOMEM && keep[0] == 'x' && keep[99999 - 1] != 1,
	   "realloc to SIZE_MAX: NULL, ENOMEM, block intact");
	free(keep);
	p = calloc(1000, 1000);
	ok(p && p[0] == 0 && p[999999] == 0, "calloc of a sampled block is zeroed");
	free(p);
	errno = 0;
	ok(calloc(big, big) == NULL && errno == ENOMEM, "calloc overflow");
	errno = 0;
	ok(malloc(huge / 2) == NULL && errno == ENOMEM, "a sampled malloc that fails sets ENOMEM");
	ok(posix_memalign(&a, 1 << 20, 100) == 0 && ((uintptr_t)a & ((1 << 20) - 1)) == 0,
	   "posix_memalign 1 MiB on a sampled block");
	free(a);
	ok(posix_memalign(&a, 3, 100) == EINVAL, "posix_memalign with a bad alignment is EINVAL");
	p = aligned_alloc(4096, 10);
	ok(p && ((uintptr_t)p & 4095) == 0 && malloc_usable_size(p) >= 10, "aligned_alloc 4096");
	free(p);
	errno = 77;
	p = malloc(10);
	ok(errno == 77, "errno preserved by a sampled malloc");
	free(p);
	ok(errno == 77, "errno preserved by free of a sampled block");
	ok(realloc(malloc(5), 0) == NULL, "realloc(p, 0) frees and returns NULL");
	heapprof_set_rate(512 * 1024);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	if (getenv("HEAPPROF"))
		diag("HEAPPROF is set in the environment; this test expects it unset");
	test_basics();
	test_counts();
	test_dumps();
	test_semantics();
	test_fork();
	return tap_done();
}
