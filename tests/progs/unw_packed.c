/* tests/progs/unw_packed.c: stacks of allocations made under a signal handler, whose walks
 * go through libunwind (a signal frame has no compact rule) and so apply the frame rules
 * of the frames around it, for tests/integration/unwind_shapes.sh: at a sparse rate those
 * rules keep libunwind's state packed (lib/unwind.c, state_pack), at rate=1 whole, and the
 * stacks must be the same.
 *
 *   unw_packed N
 *
 * Allocates (and frees) N blocks of 4 MiB through packed_leaf <- packed_c <- packed_b <-
 * packed_a from main, and N more from a SIGUSR2 handler (raise) running the same chain:
 * blocks this large are sampled at any rate up to megabytes. Prints "slow_walks K": how
 * many walks heapprof made through libunwind (it counts calls of libunwind's
 * _Ux86_64_init_remote, which this program defines, as unw_shapes does). Exit status 0,
 * or 2 for bad arguments. */
#include <dlfcn.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long slow_walks;
static int (*real_init_remote)(void *, void *, void *);

int _Ux86_64_init_remote(void *cursor, void *as, void *arg);
int _Ux86_64_init_remote(void *cursor, void *as, void *arg)
{
	if (!real_init_remote)
		real_init_remote = (int (*)(void *, void *, void *))(uintptr_t)dlsym(
			RTLD_NEXT, "_Ux86_64_init_remote");
	__atomic_fetch_add(&slow_walks, 1, __ATOMIC_RELAXED);
	return real_init_remote ? real_init_remote(cursor, as, arg) : -1;
}

static void *volatile sink;

__attribute__((noinline)) void packed_leaf(int i)
{
	char *p = malloc(((size_t)4 << 20) + (size_t)i);

	if (p)
		p[0] = 1;
	sink = p;
	free(p);
	__asm__ volatile("" ::: "memory");	/* not a tail call */
}

__attribute__((noinline)) void packed_c(int i)
{
	packed_leaf(i);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void packed_b(int i)
{
	packed_c(i);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void packed_a(int i)
{
	packed_b(i);
	__asm__ volatile("" ::: "memory");
}

static volatile int in_handler_i;

static void on_usr2(int sig)
{
	(void)sig;
	packed_a(in_handler_i);
	__asm__ volatile("" ::: "memory");	/* its frame stays on the stack */
}

int main(int argc, char **argv)
{
	int n = argc == 2 ? atoi(argv[1]) : 0;

	if (n <= 0 || n > 10000) {
		fprintf(stderr, "usage: unw_packed N (1 <= N <= 10000)\n");
		return 2;
	}
	signal(SIGUSR2, on_usr2);
	for (int i = 0; i < n; i++) {
		packed_a(i);
		in_handler_i = i;
		raise(SIGUSR2);
	}
	printf("slow_walks %lu\n", __atomic_load_n(&slow_walks, __ATOMIC_RELAXED));
	return 0;
}
