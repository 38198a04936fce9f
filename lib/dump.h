/* lib/dump: writing a profile. Snapshot the stack table under short per-shard locks, then,
 * with no profiler lock held but the dump lock, read the mappings, resolve function names,
 * encode pprof, gzip, and write to a temporary name (O_EXCL|O_NOFOLLOW, mode 0600) that is
 * renamed into place: a file with its final name is always complete.
 * Callers hold their thread's re-entrancy guard. */
#ifndef HP_DUMP_H
#define HP_DUMP_H

/* Resolves the configured prefix against the current directory, once, at start-up: a
 * program that changes directory later still writes where it was started. */
void hp_dump_set_prefix(const char *prefix);

/* Writes a profile to path, or to the next automatic name
 * <prefix>.<pid>.<seq>.<trigger>.pb.gz when path is NULL. 0 or -errno; failures are also
 * reported on stderr (once per kind). */
int hp_dump_to(const char *path, const char *trigger);

/* An automatic dump (signal, exit): none after hp_dump_close. */
int hp_dump_auto(const char *trigger);

/* After the exit dump: the helper thread writes nothing more. */
void hp_dump_close(void);

/* fork child handler. */
void hp_dump_fork_child(void);

#endif
