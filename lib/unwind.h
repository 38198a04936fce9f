/* lib/unwind: call stacks of sampled allocations, with libunwind (local unwinding).
 * The only module that includes libunwind. Frames inside libheapprof (the entry points,
 * the profiler, the embedded jemalloc) are skipped, so a stack starts at the allocator's
 * caller. */
#ifndef HP_UNWIND_H
#define HP_UNWIND_H
#include <stddef.h>
#include <stdint.h>

/* Initialises libunwind once (per-thread caches, see unwind.c). 0 or -errno. */
int hp_unwind_init(void);

/* Sampling is sparse (over 64 KiB) from now on, or dense: the frame rules made while it is
 * sparse keep libunwind's state packed (lib/unwind.c, state_pack; 0.12 MiB of cc1's
 * 1.3 MiB of profiler memory at 512 KiB); at dense rates the walks through libunwind that
 * apply it are many (137,000 on python's `wl_json.py 2` at rate=1), and unpacking it each
 * time cost 1% of that run's instructions, so it is kept whole. lib/prof calls it with
 * each rate. */
void hp_unwind_set_sparse(int sparse);

/* Fills pcs with up to max return addresses, innermost first; returns how many. Takes no
 * profiler lock; must be called with the thread's re-entrancy guard set. */
int hp_unwind_capture(uint64_t *pcs, int max);

/* The same from entry (when not NULL): the return address, stack pointer after the return
 * and rbp of a call into the library made by the calling thread, still under way (see
 * hp_prof_alloc): the walk starts there rather than stepping over the library's own
 * frames. Frames of the library at entry are still skipped. */
int hp_unwind_capture_at(const uintptr_t *entry, uint64_t *pcs, int max);

/* Before hp_unwind_capture_at(entry, ...): when the calling thread's last capture kept
 * all its frames, their rules were all of objects that are never unloaded, entry is their
 * first frame and every stack word under it still holds what it held, fills pcs with those
 * frames and returns how many: the frames of that capture, word for word, so that the
 * caller may reuse what it made of them. Else 0, and nothing changed: the caller then
 * captures. A few loads a frame; no lock, no atomic operation. */
int hp_unwind_again(const uintptr_t *entry, uint64_t *pcs, int max);

/* A walk made earlier by this thread from the same place, recalled: when one of the walks
 * kept by hp_unwind_remember started at entry's return address and stack pointer (and rbp,
 * where its walk read rbp), its rules still hold and every stack word it read still holds
 * what it held, returns the tag it was kept with: the walk from entry would give the same
 * frames. Else NULL. The same checks as hp_unwind_again's, against any of the walks kept
 * (64, by where they started), not only the last one: python at rate=1 has the same stack
 * again at the same place in 86% of its samples, and the last one's in 2%. */
const void *hp_unwind_recall(const uintptr_t *entry);

/* Right after hp_unwind_capture_at(entry, ..., max) or hp_unwind_again(entry, ..., max)
 * returned frames: keeps that walk with tag (not NULL) for hp_unwind_recall, when its walk
 * kept all its frames, it was whole or max deep, and its words to check are few enough.
 * The first call of a thread allocates its table of kept walks (68 KiB, freed when the
 * thread exits); lib/prof calls it at dense rates only. */
void hp_unwind_remember(const uintptr_t *entry, const void *tag, int max);

/* Right after hp_unwind_capture_at returned n > 0 frames: when its walk carried the
 * stack's hash along (a fast walk that kept all its frames for the next one, which holds
 * each frame's chain value), 1 with *h = hp_stack_hash(pcs, n) (lib/stacktab); else 0. A
 * walk that took its outer frames from the last one hashes only its own frames. */
int hp_unwind_hash(uint64_t *h);

/* An object (shared library) that was unloaded after frames in it were recorded. */
typedef struct hp_unloaded {
	const char *path;
	uint64_t bias;			/* load bias it had */
	uint64_t start, limit, offset;	/* its executable segment, and that segment's file offset */
	const unsigned char *build_id;
	size_t build_id_len;		/* 0: none */
} hp_unloaded;

typedef void (*hp_unloaded_fn)(void *ctx, const hp_unloaded *u);

/* Calls fn for every object seen loaded and since unloaded (newest first; the same file at
 * the same place once), after catching up with the loader. For the dump: such frames are
 * in no current mapping. Takes the unwind lock for reading; fn runs with no lock held. */
void hp_unwind_unloaded(hp_unloaded_fn fn, void *ctx);

/* The number of threads of this process (/proc/self/stat), or -1; *leader_exited (if not
 * NULL) says whether the main thread has ended (pthread_exit: it stays counted). */
int hp_process_threads(int *leader_exited);

/* fork: hold off / let through unwinding threads (see unwind.c). */
void hp_unwind_fork_prepare(void);
void hp_unwind_fork_parent(void);
void hp_unwind_fork_child(void);

#endif
