/* lib/dump: writing a profile. Snapshot the stack table under short per-shard locks, then,
 * with no profiler lock held but the dump lock, read the mappings, resolve function names,
 * encode pprof, gzip, and write to a temporary name (O_EXCL|O_NOFOLLOW, mode 0600) that is
 * renamed into place: a file with its final name is always complete.
 * Callers hold their thread's re-entrancy guard. */
#ifndef HP_DUMP_H
#define HP_DUMP_H
#include <stddef.h>
#include <stdint.h>

/* Resolves the configured prefix against the current directory, once, at start-up: a
 * program that changes directory later still writes where it was started. */
void hp_dump_set_prefix(const char *prefix);

/* Writes a profile to path, or to the next automatic name
 * <prefix>.<pid>.<seq>.<trigger>.pb.gz when path is NULL. 0 or -errno; failures are also
 * reported on stderr (once per kind). */
int hp_dump_to(const char *path, const char *trigger);

/* An automatic dump (signal, exit): none after hp_dump_close. why (may be NULL) says what
 * fired it, in the profile's "trigger:" comment. The formats are format='s; with
 * max_files=, the oldest automatic profiles of the process are removed. */
int hp_dump_auto(const char *trigger);
int hp_dump_auto_why(const char *trigger, const char *why);

/* An automatic dump if claim, called under the dump lock, says there is one to write (and
 * fills in why): so that a dump claimed is never refused by hp_dump_close. 1 when one was
 * claimed (and written, or its failure reported). */
#define HP_WHY_MAX 256
int hp_dump_auto_claim(const char *trigger, int (*claim)(char *why, size_t size));

/* An automatic dump of counters taken earlier (at ns, CLOCK_REALTIME): the peak's. */
struct hp_stack_snap;
int hp_dump_counters(const char *trigger, const char *why, const struct hp_stack_snap *snap,
		     size_t n, int64_t ns);

/* After the exit dump: the helper thread writes nothing more. */
void hp_dump_close(void);

/* fork child handler. */
void hp_dump_fork_child(void);

/* --- profiles in memory (the HTTP endpoint, lib/http) ---------------------------------
 * A base: the stack table's counters at one moment, for a delta profile later. */
typedef struct hp_dump_base hp_dump_base;
hp_dump_base *hp_dump_base_take(void);	/* NULL on out of memory */
void hp_dump_base_free(hp_dump_base *b);

/* A fresh profile as a gzip'd pprof buffer, what a dump would write (its comments name
 * the trigger, e.g. "http"). allocs: alloc_space is the default sample type (else
 * inuse_space). base: NULL, or a base taken earlier: then every value is the change
 * since the base (stacks that did not change are left out), as Go's ?seconds=N delta
 * profiles are. *buf is freed with hp_dump_free_buf. 0 or -errno. Takes the dump lock
 * (waits for a dump in progress). The caller holds its thread's re-entrancy guard. */
int hp_dump_encode(const char *trigger, int allocs, const hp_dump_base *base, uint8_t **buf,
		   size_t *len);
void hp_dump_free_buf(uint8_t *buf);

#endif
