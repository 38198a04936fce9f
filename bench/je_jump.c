/* je_jump: the floor of any allocator that a program reaches through another library's
 * entry points (bench/run.sh, configuration je-jump; doc/PERFORMANCE.md, "Churn's floor").
 *
 *   cc -O2 -fPIC -shared -o je_jump.so bench/je_jump.c -ldl
 *   LD_PRELOAD="je_jump.so libjemalloc.so.2" PROG ...
 *
 * malloc and free here are one indirect jump each into the next library's, jemalloc's when
 * it is preloaded after this one: no counter, no check, nothing but the extra jump that an
 * interposer such as heapprof adds in front of jemalloc's own fast path. The other entry
 * points (calloc, realloc, operator new...) are not taken: they go to jemalloc directly.
 *
 * The two pointers start at functions that look jemalloc's up (dlsym, RTLD_NEXT), which the
 * constructor also does at load, before the program's first call in most programs (threads
 * that get there together each look up the same); a call that the lookup itself makes
 * cannot be served, and ends the program with a message. With JE_JUMP_OUT set, the
 * constructor writes "jemalloc" to that file when the malloc it jumps to is in a library
 * whose name holds "jemalloc" (bench/run.sh checks it, so that a shim that did not load or
 * jumps elsewhere is never timed as the floor). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *first_malloc(size_t n);
static void first_free(void *p);

static void *(*next_malloc)(size_t) = first_malloc;
static void (*next_free)(void *) = first_free;
static __thread int resolving __attribute__((tls_model("initial-exec")));

static void say(const char *msg)
{
	ssize_t r = write(2, msg, strlen(msg));
	(void)r;
}

static void resolve(void)
{
	void *m, *f;

	if (resolving) {	/* this thread, inside dlsym (other threads just look up too) */
		say("je_jump: malloc called while looking up the next malloc: cannot serve it\n");
		abort();
	}
	resolving = 1;
	m = dlsym(RTLD_NEXT, "malloc");
	f = dlsym(RTLD_NEXT, "free");
	if (!m || !f) {
		say("je_jump: no next malloc or free (preload a malloc library after this one)\n");
		abort();
	}
	__atomic_store_n(&next_free, (void (*)(void *))f, __ATOMIC_RELEASE);
	__atomic_store_n(&next_malloc, (void *(*)(size_t))m, __ATOMIC_RELEASE);
	resolving = 0;
}

static void *first_malloc(size_t n)
{
	resolve();
	return next_malloc(n);
}

static void first_free(void *p)
{
	resolve();
	next_free(p);
}

__attribute__((constructor)) static void je_jump_init(void)
{
	const char *out = getenv("JE_JUMP_OUT");
	Dl_info info;
	int fd;

	if (next_malloc == first_malloc)
		resolve();
	if (!out || !dladdr((void *)next_malloc, &info) || !info.dli_fname ||
	    !strstr(info.dli_fname, "jemalloc"))
		return;
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		ssize_t r = write(fd, "jemalloc\n", 9);
		(void)r;
		close(fd);
	}
}

void *malloc(size_t n)
{
	return next_malloc(n);
}

void free(void *p)
{
	next_free(p);
}
