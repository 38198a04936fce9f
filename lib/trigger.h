/* lib/trigger: what starts a dump. The trigger signal's handler only sets a flag and
 * posts a semaphore (async-signal-safe, no file descriptor); a helper thread, created with
 * every signal blocked, waits on it and writes the profile ("signal"). The same thread
 * keeps every='s clock ("timer", also when the program is idle) and writes interval='s
 * profiles, which the sampling path asks for ("interval"). The exit dump runs in the
 * library's destructor. */
#ifndef HP_TRIGGER_H
#define HP_TRIGGER_H
#include <stdint.h>

/* From the sampling slow path: in a forked child, restarts the helper thread the child
 * lost; at most once a second, checks that the program has not replaced the trigger
 * signal's handler (and says once if it has). Costs a load and a coarse clock read. */
void hp_trigger_poll(void);

/* From a sample: bytes is the sample's estimate of the bytes it stands for. Fires
 * interval= (wakes the helper) when the running total crosses the next multiple. */
void hp_trigger_allocated(uint64_t bytes);

/* Wakes the helper for lib/peak's work (hp_peak_work). */
void hp_trigger_kick(void);

/* fork child handler: the helper thread did not survive the fork. */
void hp_trigger_fork_child(void);

/* 1 while the helper thread runs (it purges the allocator's freed pages once a second). */
int hp_trigger_helper_running(void);

#endif
