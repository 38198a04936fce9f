/* lib/prof: the profiler's state and its record paths, between the entry points
 * (lib/alloc.c) and the tables (stacktab; each sampled block's record in front of it,
 * lib/liverec). */
#ifndef HP_PROF_H
#define HP_PROF_H
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "sampler.h"

/* Settings in force. rate and active may change at run time (API); read them relaxed. */
extern size_t hp_rate;
extern int hp_active;

enum { HP_UNINIT = 0, HP_INITIALISING, HP_READY, HP_INERT };
extern int hp_state;

/* Initialises the profiler if nobody has yet; safe from inside malloc. Returns 1 when it
 * is ready to record. A process that cannot be profiled (AT_SECURE, no address range)
 * becomes inert: it keeps the allocator, says why once, and records nothing. */
int hp_prof_init(void);

/* Sets the sampling rate (0 off, 1 every allocation); the API's and the configuration's. */
void hp_prof_set_rate(size_t bytes);

/* Bytes that the rounding of sampled small blocks at sparse rates adds to jemalloc's size
 * classes in live blocks (counted in jemalloc's allocated bytes): the sampled arena's. */
size_t hp_prof_round_extra(void);

/* The configuration (valid once hp_prof_init returned). */
const hp_config *hp_prof_config(void);

/* A sampled allocation: served from the sampled arena and recorded. Falls back to the
 * plain allocator (unrecorded) when recording is impossible. */
void *hp_prof_alloc(size_t size, size_t align, int zero);

/* realloc of the sampled block p to n bytes in place, recorded anew if `sampled`; NULL
 * when it cannot be done in place (the caller then moves the block). */
void *hp_prof_resize(void *p, size_t n, int sampled);

/* The usable size of a block of the sampled range (hp_is_sampled): jemalloc's, less the
 * record in front of it; 0 when its record is not sound. */
size_t hp_prof_usable(const void *p);

/* Free of a pointer for which hp_maybe_sampled said yes. While the thread is inside the
 * profiler (guard > 0: a signal handler interrupted it, maybe while it holds a table's
 * lock), a sampled block is not unrecorded there and then but deferred until the guard
 * drops (hp_guard_exit). */
void hp_prof_free(void *p);

/* Frees the blocks deferred by hp_prof_free; called when the guard drops to zero. */
void hp_prof_drain(void);

/* Leaves the profiler: the counterpart of hp_tls.guard++. */
static inline void hp_guard_exit(void)
{
	if (--hp_tls.guard == 0 && __builtin_expect(hp_tls.deferred != NULL, 0))
		hp_prof_drain();
}

/* Monotonic nanoseconds since the profiler started. */
int64_t hp_prof_uptime_ns(void);

/* Samples recorded since start. */
uint64_t hp_prof_samples(void);

/* CLOCK_REALTIME now, in ns since the epoch (a profile's time). */
int64_t hp_realtime_ns(void);

/* Starts a profiler thread (the dump helper, the HTTP server): detached, a 256 KiB stack,
 * created with every signal blocked so that it never runs a handler of the program (and
 * keeps them blocked: it should call hp_je_all_blocked), named name. The caller holds its
 * re-entrancy guard (the thread's memory is not the program's). 0 or an errno value. */
int hp_thread_start(void *(*fn)(void *), const char *name);

#endif
