/* lib/huge: sampled blocks of HP_HUGE_MIN bytes and more, each in a slot of its own in
 * the upper half of the sampled range, grown and shrunk in place by changing the
 * protection of the slot's pages (what glibc's mremap does for its mmap'd chunks): a
 * realloc that grows such a block never copies it while it fits its slot, and a freed
 * block's pages go back to the kernel within a second (with no helper thread, at the
 * first allocation or free of a slot's block after that second). jemalloc serves
 * everything else (and these too, when no slot is free). doc/DESIGN.md, "Large sampled
 * blocks". */
#ifndef HP_HUGE_H
#define HP_HUGE_H
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

#define HP_HUGE_MIN ((size_t)1 << 20)

/* Takes [lo, lo + size) of the reserved range for the slots (lo aligned to 64 MiB, size
 * at least HP_HUGE_AREA). */
#define HP_HUGE_AREA ((uintptr_t)448 << 30)
void hp_huge_init(uintptr_t lo, uintptr_t size);

/* A block of n >= HP_HUGE_MIN bytes aligned to align, zero-filled if zero; NULL when the
 * slots cannot take it (none free, too big, not set up). */
void *hp_huge_alloc(size_t n, size_t align, int zero);

/* p is in the slots' area (so it was returned by hp_huge_alloc if it is a live block). */
static inline int hp_huge_has(const void *p)
{
	extern uintptr_t hp_huge_lo, hp_huge_hi;

	return (uintptr_t)p - hp_huge_lo < hp_huge_hi - hp_huge_lo;
}

void hp_huge_free(void *p);

/* Resizes p to n bytes in place; 1 when done, 0 when n does not fit its slot. */
int hp_huge_resize(void *p, size_t n);

/* The block's usable size (its size rounded up to pages). */
size_t hp_huge_usable(const void *p);

/* Where the record of the block at p is kept (lib/liverec: a slot's block starts at the
 * slot, so its record cannot be in front of it), or NULL when p is not a slot's start. */
uint64_t *hp_huge_rec(const void *p);

/* Bytes of live blocks, and bytes kept committed in freed slots awaiting reuse. */
size_t hp_huge_live_bytes(void);
size_t hp_huge_cached_bytes(void);

/* Releases the pages of slots freed more than a second ago (the helper once a second, and
 * hp_huge_alloc and hp_huge_free; one clock read when none is due). */
void hp_huge_decay(void);

/* fork: the slot lock is held across fork, released in the parent and the child. */
void hp_huge_fork_prepare(void);
void hp_huge_fork_parent(void);
void hp_huge_fork_child(void);

#pragma GCC visibility pop

#endif
