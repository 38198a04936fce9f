/* lib/log: one-line messages on stderr, "heapprof: ...". Formats into a stack buffer and
 * writes with write(2): no stdio, no malloc, usable inside the allocator. */
#ifndef HP_LOG_H
#define HP_LOG_H

__attribute__((format(printf, 1, 2)))
void hp_log(const char *fmt, ...);

/* Logs only the first time for this flag (a static int owned by the caller). */
__attribute__((format(printf, 2, 3)))
void hp_log_once(int *flag, const char *fmt, ...);

/* 0 silences every message (tests of quiet paths); 1 by default. */
void hp_log_enable(int on);

#endif
