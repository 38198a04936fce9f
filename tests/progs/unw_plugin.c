/* tests/progs/unw_plugin.c: a plugin (libunw_plugin.so, a libtool module) that the unwinding
 * hazard tests (tests/hazards/unwinding.sh) load and unload again and again with dlopen and
 * dlclose, while every allocation is sampled and unwound.
 *
 *   unw_plugin_leak(n)   allocates n bytes, touches them and drops the pointer: the block
 *                        stays in use for ever (a leak whose only allocation site is in the
 *                        plugin, which is unloaded long before the exit profile is written).
 *   unw_plugin_churn(n)  allocates and frees n bytes, from inside the plugin.
 *
 * Not a program: tests/progs/unw_churn.c and tests/progs/unw_phdr.c dlopen it by path. */
#include <stdlib.h>
#include <string.h>

size_t unw_plugin_leak(size_t n);
void unw_plugin_churn(size_t n);

/* The last block, so that the allocation and the stores into it are not optimised away. */
void *volatile unw_plugin_last;

__attribute__((noinline)) size_t unw_plugin_leak(size_t n)
{
	char *p = malloc(n);

	if (!p)
		return 0;
	memset(p, 0x5a, n);
	unw_plugin_last = p;	/* overwritten by the next call: the block is leaked */
	return n;
}

__attribute__((noinline)) void unw_plugin_churn(size_t n)
{
	char *volatile p = malloc(n);

	if (p) {
		p[0] = 1;
		free(p);
	}
}
