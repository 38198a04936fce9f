/* lib/alloc: the C allocation entry points (malloc, free, ... with glibc's semantics) and
 * their fast paths; the C++ operators in newdel.c build on the helpers declared here. */
#ifndef HP_ALLOC_H
#define HP_ALLOC_H
#include <stddef.h>

#define HP_EXPORT __attribute__((visibility("default")))
#define HP_LIKELY(x) __builtin_expect(!!(x), 1)
#define HP_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* An allocation of n bytes aligned to align (a power of two), sampled or not; NULL with
 * errno ENOMEM on failure. */
void *hp_alloc_aligned(size_t align, size_t n);

#endif
