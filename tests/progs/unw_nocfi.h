/* tests/progs/unw_nocfi.h: the allocation sites without unwind information
 * (tests/progs/unw_nocfi_fns.c), called by tests/progs/unw_nocfi.c. */
#ifndef UNW_NOCFI_H
#define UNW_NOCFI_H
#include <stddef.h>
#include <stdint.h>

void *unw_nocfi_leaf(size_t n);
void *unw_nocfi_mid(size_t n);
void *unw_nocfi_deep(size_t n, int depth);
void *unw_nocfi_badrbp(size_t n, uintptr_t bad);

#endif
