/* tests/progs/unw_swap.c: two plugins, loaded in turn at (usually) the same address, each
 * allocating from a frame of its own shape at the same return address.
 *
 *   unw_swap PLUGIN_A PLUGIN_B ROUNDS CALLS SIZE
 *
 * ROUNDS times: dlopen PLUGIN_A (then PLUGIN_B in the next round, and so on), call its
 * unw_swap_leaf(SIZE) CALLS times from unw_swap_call (a function of this program, under
 * DEEP frames of unw_swap_deep), dlclose it. See tests/progs/unw_swap_plugin.c: under HEAPPROF=rate=1 every one of those blocks
 * is recorded, and each recorded stack must reach unw_swap_call and main through the
 * plugin's frame, whichever plugin last had that address.
 * Prints "name value" lines: calls (ROUNDS * CALLS blocks of SIZE bytes allocated from the
 * plugins), same_address (how many rounds loaded the plugin at the address of the round
 * before: with none, the run proves nothing). Exit 2: usage; 4: dlopen or dlsym failed;
 * 5: an allocation failed. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef int (*leaf_fn)(size_t);

int unw_swap_call(leaf_fn leaf, size_t n);
int unw_swap_deep(int depth, leaf_fn leaf, size_t n);

static long parse(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return end == s || *end || v <= 0 ? -1 : v;
}

/* The plugin's caller: in every recorded stack of the plugin's blocks. */
__attribute__((noinline)) int unw_swap_call(leaf_fn leaf, size_t n)
{
	int r = leaf(n);

	__asm__ volatile("" : : : "memory");	/* not a tail call: this frame stays */
	return r;
}

/* DEEP frames more under unw_swap_call: stacks deep enough for heapprof's reuse of the
 * last walk's outer frames (lib/unwind.c), which must not carry a frame over either. */
#define DEEP 10
__attribute__((noinline)) int unw_swap_deep(int depth, leaf_fn leaf, size_t n)
{
	int r = depth ? unw_swap_deep(depth - 1, leaf, n) : unw_swap_call(leaf, n);

	__asm__ volatile("" : : : "memory");	/* not a tail call */
	return r;
}

int main(int argc, char **argv)
{
	long rounds, calls, size, same = 0;
	uintptr_t prev = 0;

	if (argc != 6 || (rounds = parse(argv[3])) < 0 || (calls = parse(argv[4])) < 0 ||
	    (size = parse(argv[5])) < 0) {
		fprintf(stderr, "usage: unw_swap PLUGIN_A PLUGIN_B ROUNDS CALLS SIZE\n");
		return 2;
	}
	for (long r = 0; r < rounds; r++) {
		const char *path = argv[1 + r % 2];
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		leaf_fn leaf = h ? (leaf_fn)(uintptr_t)dlsym(h, "unw_swap_leaf") : NULL;

		if (!leaf) {
			fprintf(stderr, "unw_swap: %s: %s\n", path, dlerror());
			return 4;
		}
		same += (uintptr_t)leaf == prev;
		prev = (uintptr_t)leaf;
		for (long i = 0; i < calls; i++)
			if (!unw_swap_deep(DEEP, leaf, (size_t)size)) {
				fprintf(stderr, "unw_swap: malloc(%ld) failed\n", size);
				return 5;
			}
		dlclose(h);
	}
	printf("calls %ld\nsame_address %ld\n", rounds * calls, same);
	return 0;
}
