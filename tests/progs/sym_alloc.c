/* tests/progs/sym_alloc.c: allocation sites at known source lines, for heapprof symbolize
 * (tests/integration/cli_symbolize.sh); linked with sym_alloc_fn.c. Built -g -O2 in
 * several variants: PIE (sym_alloc); non-PIE (sym_alloc_nopie); PIE with .text moved to
 * 0x10000, so that its ELF addresses are not its file offsets (sym_alloc_moved); and one
 * with other code, hence another build id (sym_alloc_v2, -DSYM_V2). All are linked
 * -rdynamic: the global functions stay in .dynsym when the binary is stripped.
 *
 * Each site allocates once, a size of its own, so that at rate=1 a sample is known by
 * its size. The lines the test checks carry a LINE:name comment; the test takes the line
 * numbers from this file, never hard-coded:
 *   111 bytes  inl_alloc (static, always_inline), inlined into sym_via_inline (noinline),
 *              called from main
 *   222 bytes  main itself
 *   333 bytes  sym_fn_alloc (noinline, in sym_alloc_fn.c), called from main
 *   555 bytes  fn_static_alloc (static, noinline, in sym_alloc_fn.c: not in .dynsym),
 *              called from sym_fn_alloc
 *   444 bytes  main, in sym_alloc_v2 only
 * Usage: sym_alloc (no arguments). Keeps everything it allocates; exits 0. */
#include <stdlib.h>
#include "sym_alloc.h"

void *sym_keep[8];

static inline __attribute__((always_inline)) void *inl_alloc(size_t n)
{
	void *p = malloc(n);	/* LINE:alloc_inline */
	return p;
}

void sym_via_inline(void)
{
	sym_keep[0] = inl_alloc(111);	/* LINE:call_inline */
}

int main(void)
{
	sym_via_inline();		/* LINE:call_via */
	sym_keep[1] = malloc(222);	/* LINE:alloc_main */
	sym_fn_alloc(333);		/* LINE:call_fn */
#ifdef SYM_V2
	sym_keep[4] = malloc(444);
#endif
	return 0;
}
