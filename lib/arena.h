/* lib/arena: jemalloc inside heapprof.
 *
 * jemalloc's PIC archive is linked in with its public names prefixed hpje_ (see
 * lib/jemalloc.syms), so the entry points in lib/alloc.c call it directly. Sampled
 * allocations are served from one dedicated arena whose extent hooks carve memory out of a
 * single reserved address range, so "was this pointer sampled?" is a range check that
 * touches no shared memory: free's fast path is two loads, a subtract and a compare.
 * The profiler's own memory (stack table, caches, dump buffers) comes from jemalloc
 * through hp_ialloc/hp_ifree, never through the interposed malloc. */
#ifndef HP_ARENA_H
#define HP_ARENA_H
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* The sampled range is carved from a 1 TiB block aligned to 1 TiB, so the fast check is a
 * shift and a compare with hp_range_key (the block's number, written once at
 * initialisation; an impossible value before, so nothing matches). When the address space
 * is too limited for that block (ulimit -v), a smaller, unaligned range is used: the fast
 * check may then say yes for other pointers of the same 1 TiB block, and the slow path
 * asks hp_is_sampled for the exact answer. */
#define HP_RANGE_SHIFT 40
extern uintptr_t hp_range_key;
extern uintptr_t hp_range_base;
extern uintptr_t hp_range_size;

static inline int hp_maybe_sampled(const void *p)
{
	return ((uintptr_t)p >> HP_RANGE_SHIFT) == hp_range_key;
}

static inline int hp_is_sampled(const void *p)
{
	return (uintptr_t)p - hp_range_base < hp_range_size;
}

/* The profiler's calls into jemalloc on a program thread run with asynchronous signals
 * blocked: a handler that allocates would otherwise re-enter jemalloc's per-thread state
 * (thread cache, radix-tree cache, event counters) in the middle of an update made on the
 * program's behalf (doc/DESIGN.md, "Re-entrancy"). Nested pairs cost nothing; a thread
 * that keeps every signal blocked (the helper) says so once with hp_je_all_blocked. */
void hp_je_enter(void);
void hp_je_leave(void);
void hp_je_all_blocked(void);

/* Makes the calling thread's jemalloc state whole (with its thread cache), as its first
 * malloc would. jemalloc 5.3 keeps a thread that has only ever freed in a minimal state
 * without one, so that each of its frees takes the lock of its arena's bin (jemalloc after
 * 5.3 makes such a thread whole after 8 KiB freed). lib/prof calls it at a thread's first
 * free of a sampled block; with asynchronous signals blocked (hp_je_enter). */
void hp_arena_thread_whole(void);

/* Reserves the range and creates the sampled arena. 0 or -errno. Called once. */
int hp_arena_init(void);

/* Allocation in the sampled arena (no thread cache: a freed block must never come back
 * to an unsampled malloc). size 0 is treated as 1; align 0 means the default. NULL on
 * failure (range exhausted or out of memory). Blocks of lib/huge's slots are asked for
 * with hp_huge_alloc (lib/prof.c: their records are kept apart). */
void *hp_arena_alloc(size_t size, size_t align, int zero);
void hp_arena_free(void *p);

/* The batches lib/sampcache moves between a thread's cache and the sampled arena, with
 * signals blocked (hp_je_enter) around the whole batch. At dense rates
 * (hp_arena_batch_open) a thread's batches go through an explicit jemalloc thread cache of
 * its own, used for nothing else: jemalloc then fills and flushes it a slab's worth at a
 * time, under one lock of the arena's bin, where each call without a cache takes that lock
 * (at rate=1 on python, half the samples missed lib/sampcache, and the calls into the
 * arena were 9% of the time). Without one (sparse rates, or tcache.create failed) they are
 * hp_arena_alloc and hp_arena_free. hp_arena_batch_close (thread exit) returns its blocks
 * to the arena. */
void hp_arena_batch_open(void);
void hp_arena_batch_close(void);
void *hp_arena_batch_alloc(size_t size);
void hp_arena_batch_free(void *p);

/* The same through jemalloc's ordinary arenas (unsampled). */
void *hp_plain_alloc(size_t size, size_t align, int zero);

/* The usable size of p (any block jemalloc or the slots of lib/huge returned). */
size_t hp_usable_size(const void *p);

/* Resizes a block of the sampled range in place (a slot's block: within its slot; a
 * jemalloc block: xallocx). 1 when done. */
int hp_arena_resize(void *p, size_t n);

/* jemalloc's largest small size class (blocks carved from slabs), or 0 if unknown. */
size_t hp_arena_small_max(void);

/* Purges the sampled arena's pages freed longer ago than its decay time (the helper
 * thread, once a second). */
void hp_arena_decay(void);

/* The profiler's own memory. Every byte of it comes from jemalloc's ordinary arenas
 * through these functions, which count jemalloc's usable size of each block (one relaxed
 * atomic per call, per kind) so that each profile can say what the profiler holds
 * (doc/DESIGN.md, "The profiler's own memory"). A block is freed with the kind it was
 * allocated with. hp_ialloc/hp_icalloc/hp_ifree count as HP_MEM_OTHER. */
enum {
	HP_MEM_STACKS,		/* the stack table: entries, grown bucket arrays */
	HP_MEM_UNWIND,		/* the unwinder: frame rules, object names */
	HP_MEM_SYMBOLS,		/* a dump's symbol tables (freed after the dump) */
	HP_MEM_DUMP,		/* a dump's other buffers: snapshot, mappings, encoder */
	HP_MEM_OTHER,		/* everything else through hp_ialloc */
	HP_MEM_NKINDS
};
void *hp_ialloc(size_t n);
void *hp_icalloc(size_t n);
void hp_ifree(void *p);
void *hp_ialloc_k(int kind, size_t n);
void *hp_icalloc_k(int kind, size_t n);
void *hp_irealloc_k(int kind, void *p, size_t n);	/* n > 0; NULL leaves p as it was */
char *hp_istrdup_k(int kind, const char *s);
void hp_ifree_k(int kind, void *p);

/* A static table of the profiler (.bss): counted under kind at its resident size
 * (mincore), so untouched pages cost nothing. At most 16 regions; registered once. */
void hp_mem_static(int kind, const void *p, size_t len);

/* Bytes held now of one kind: counted blocks plus resident static tables. */
size_t hp_mem_bytes(int kind);
/* Bytes of the counted blocks of every kind: the profiler's share of jemalloc's
 * stats.allocated. */
size_t hp_mem_heap(void);

/* jemalloc's statistics, refreshed (the "epoch" mallctl): a dump's figures. */
typedef struct hp_arena_mem {
	size_t allocated;		/* stats.allocated: every arena, every live block */
	size_t sampled_resident;	/* the sampled arena: resident pages (data and metadata) */
	size_t sampled_allocated;	/* the sampled arena: bytes in live blocks */
	size_t sampled_freed;		/* of sampled_resident: freed pages kept for reuse (jemalloc's
					 * dirty pages, lib/huge's freed slots) */
} hp_arena_mem;
/* 0, or -ENOSYS when jemalloc has no statistics (the figures are then 0). */
int hp_arena_mem_read(hp_arena_mem *m);

/* jemalloc's entry points, renamed (lib/jemalloc.syms). */
void *hpje_malloc(size_t size);
void *hpje_calloc(size_t n, size_t size);
void *hpje_realloc(void *p, size_t size);
void hpje_free(void *p);
int hpje_posix_memalign(void **out, size_t align, size_t size);
void *hpje_mallocx(size_t size, int flags);
void *hpje_rallocx(void *p, size_t size, int flags);
size_t hpje_xallocx(void *p, size_t size, size_t extra, int flags);
size_t hpje_nallocx(size_t size, int flags);
void hpje_dallocx(void *p, int flags);
void hpje_sdallocx(void *p, size_t size, int flags);
size_t hpje_malloc_usable_size(const void *p);
int hpje_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

#pragma GCC visibility pop

#endif
