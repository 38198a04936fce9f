/* lib/prof: the profiler's state and its record paths, between the entry points
 * (lib/alloc.c) and the tables (stacktab, livemap). */
#ifndef HP_PROF_H
#define HP_PROF_H
#include <stddef.h>
#include <stdint.h>
#include "config.h"

/* Settings in force. rate and active may change at run time (API); read them relaxed. */
extern size_t hp_rate;
extern int hp_active;

enum { HP_UNINIT = 0, HP_INITIALISING, HP_READY, HP_INERT };
extern int hp_state;

/* Initialises the profiler if nobody has yet; safe from inside malloc. Returns 1 when it
 * is ready to record. A process that cannot be profiled (AT_SECURE, no address range)
 * becomes inert: it keeps the allocator, says why once, and records nothing. */
int hp_prof_init(void);

/* The configuration (valid once hp_prof_init returned). */
const hp_config *hp_prof_config(void);

/* A sampled allocation: served from the sampled arena and recorded. Falls back to the
 * plain allocator (unrecorded) when recording is impossible. */
void *hp_prof_alloc(size_t size, size_t align, int zero);

/* Free of a pointer for which hp_maybe_sampled said yes. */
void hp_prof_free(void *p);

/* Monotonic nanoseconds since the profiler started. */
int64_t hp_prof_uptime_ns(void);

/* Samples recorded since start. */
uint64_t hp_prof_samples(void);

#endif
