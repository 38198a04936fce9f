/* tests/progs/sym_alloc_fn.c: the noinline allocating functions of sym_alloc, in a
 * compilation unit of their own (see sym_alloc.c). n is not known here, so the static
 * function is not specialised into a clone for a constant size. */
#include <stdlib.h>
#include "sym_alloc.h"

static __attribute__((noinline)) void fn_static_alloc(size_t n)
{
	sym_keep[3] = malloc(n);	/* LINE:alloc_static */
}

void sym_fn_alloc(size_t n)
{
	fn_static_alloc(n + 222);	/* LINE:call_static */
	sym_keep[2] = malloc(n);	/* LINE:alloc_fn */
}
