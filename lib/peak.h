/* lib/peak: peak=PERCENT. The sampling path keeps a running estimate of the live heap
 * (the unbiased bytes of the sampled blocks not yet freed: one atomic add a sample, only
 * when peak= is on). When it passes a mark, the helper thread is woken (lib/trigger) and,
 * off the allocation path:
 *   - writes a "peak" profile when the live heap is PERCENT above the live heap of the
 *     last peak profile (the first one at HP_PEAK_FLOOR, or 8 samples' worth if more);
 *   - keeps in memory a copy of the stack table's counters each time the live heap is 2%
 *     above the highest copy so far: the stacks as they stood at the peak, written at exit
 *     as <prefix>.<pid>.<seq>.peak.pb.gz.
 * doc/SETTINGS.md and doc/DESIGN.md, "Peaks". */
#ifndef HP_PEAK_H
#define HP_PEAK_H
#include <stdint.h>

#pragma GCC visibility push(hidden)

#define HP_PEAK_FLOOR ((int64_t)1 << 20)

extern int hp_peak_on;	/* peak= is set; written once at start-up */

/* From the sampling path: a sampled block standing for bytes (its size times its weight)
 * was recorded (+) or its record went (-). Wakes the helper when a mark is passed. */
void hp_peak_change(int64_t bytes);

/* Start-up: percent from peak=, rate for the first mark. */
void hp_peak_init(int percent, uint64_t rate);

/* The helper thread, when woken: takes the copies and writes the profiles that are due. */
void hp_peak_work(void);

/* The exit path, before the exit profile: writes the copy at the highest live heap. */
void hp_peak_at_exit(void);

/* The estimate now, bytes (tests and comments). */
int64_t hp_peak_live(void);

void hp_peak_fork_child(void);

#pragma GCC visibility pop

#endif
