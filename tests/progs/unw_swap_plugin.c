/* tests/progs/unw_swap_plugin.c: the two plugins of tests/progs/unw_swap (libunw_swap_a.so and
 * libunw_swap_b.so, libtool modules), built from this one source with a different
 * SWAP_FRAME: the same code at the same offsets, but unw_swap_leaf's stack frame is
 * SWAP_FRAME bytes in one and about twice that in the other. Loaded in turn at the same
 * address, the return address after unw_swap_leaf's call of malloc is the same in both,
 * and its frame rule (where the caller's frame starts) is not: a profiler that kept the
 * first plugin's rule for that address after it was unloaded would read the second's
 * caller from the wrong place (here, zeros) and lose the rest of the stack.
 *
 *   unw_swap_leaf(n)   allocates n bytes from a frame of SWAP_FRAME bytes of zeros, and
 *                      frees them; returns 1 when the allocation succeeded.
 *
 * When it is unloaded, a handler it registered with __cxa_atexit for its own handle
 * allocates from its frame again: glibc's __cxa_finalize runs it while the plugin is
 * being unloaded, after heapprof has been told (lib/unwind.c, "unloads we see") but
 * before the plugin leaves the loader's list, so that heapprof looks at the list while
 * the plugin is still in it and must not take that look as settled. Only where the start
 * files define __dso_handle (not in the plugins built without them).
 *
 * Not a program: tests/progs/unw_swap.c dlopens it by path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef SWAP_FRAME
#error "SWAP_FRAME: the leaf's frame size (tests/hazards/unwinding.mk)"
#endif

int unw_swap_leaf(size_t n);

/* So that the block and the frame are not optimised away. */
void *volatile unw_swap_last;

__attribute__((noinline)) int unw_swap_leaf(size_t n)
{
	volatile char frame[SWAP_FRAME];
	void *p;

	memset((char *)frame, 0, sizeof(frame));	/* a wrong rule finds zeros: no caller */
	p = malloc(n);
	frame[0] = (char)(p != NULL);		/* the frame is live across the call */
	unw_swap_last = p;
	free(p);
	return frame[0];
}

/* The start files' handle of this object (crtbeginS.o), absent without them. */
extern void *__dso_handle __attribute__((weak));
extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

static void at_unload(void *arg)
{
	unw_swap_leaf((size_t)(uintptr_t)arg);
}

__attribute__((constructor)) static void at_load(void)
{
	if (&__dso_handle)
		__cxa_atexit(at_unload, (void *)(uintptr_t)333, &__dso_handle);
}
