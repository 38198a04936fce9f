/* tests/progs/sym_alloc.h: what sym_alloc.c and sym_alloc_fn.c share (see sym_alloc.c). */
#ifndef SYM_ALLOC_H
#define SYM_ALLOC_H
#include <stddef.h>

extern void *sym_keep[8];

__attribute__((noinline)) void sym_via_inline(void);
__attribute__((noinline)) void sym_fn_alloc(size_t n);

#endif
