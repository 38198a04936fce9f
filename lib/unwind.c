/* lib/unwind: see unwind.h.
 *
 * Two hazards of libunwind 1.6.2 are designed around here (doc/DESIGN.md):
 * - Lock order: with its default global cache, libunwind holds the cache lock while it calls
 *   dl_iterate_phdr (the loader lock); a thread that allocates inside a dl_iterate_phdr
 *   callback takes them in the other order. Per-thread caches (UNW_CACHE_PER_THREAD) take
 *   no global lock, and the loader lock is recursive for the thread that holds it.
 * - Address validation: when a frame has no unwind info, unw_step falls back to guessing
 *   frames and "validates" addresses by writing them to a pipe it opened at init; if the
 *   program has closed that pipe and reused the descriptor numbers, its own files are read
 *   and written. We stop at the first frame without unwind info instead (unw_get_proc_info
 *   fails there), so validation never runs, and we close the pipe libunwind opened when the
 *   process is still single-threaded at init, so no descriptor is kept open. */
#define UNW_LOCAL_ONLY
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libunwind.h>

#include "unwind.h"

/* Our own text: frames here are skipped. Written once at init. */
static uintptr_t self_lo, self_hi;
static int ready;
/* Readers: unwinding threads. Writer: fork's prepare handler, so that no thread is inside
 * libunwind (its internal locks) when the process forks. */
static pthread_rwlock_t unwind_lock = PTHREAD_RWLOCK_INITIALIZER;

/* Return addresses already known to lie in a function with unwind info, so the (costly)
 * lookup that guards against libunwind's guessing runs once per call site, not per frame.
 * Shared by all threads; racing relaxed stores of whole words are harmless: a lost entry
 * only costs one more lookup. */
#define KNOWN_SLOTS 4096
static uint64_t known[KNOWN_SLOTS];

static int has_unwind_info(unw_cursor_t *cur, unw_word_t ip)
{
	uint64_t *slot = &known[((ip * 0x9e3779b97f4a7c15ull) >> 52) & (KNOWN_SLOTS - 1)];
	unw_proc_info_t pi;

	if (__atomic_load_n(slot, __ATOMIC_RELAXED) == ip)
		return 1;
	if (unw_get_proc_info(cur, &pi) != 0)
		return 0;
	__atomic_store_n(slot, ip, __ATOMIC_RELAXED);
	return 1;
}

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t me = (uintptr_t)arg;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me >= lo && me < hi) {
			self_lo = lo;
			self_hi = hi;
			return 1;
		}
	}
	return 0;
}

static int count_threads(void)
{
	char buf[1024];
	ssize_t n;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), field = 1, threads = -1;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* Fields after the command name (which may hold spaces) start after the last ')'. */
	for (char *p = strrchr(buf, ')'); p && *p; p++)
		if (*p == ' ' && ++field == 20) {
			threads = (int)strtol(p + 1, NULL, 10);
			break;
		}
	return threads;
}

#define FD_SCAN 1024

static void open_fds(unsigned char *set)
{
	for (int fd = 0; fd < FD_SCAN; fd++)
		set[fd] = fcntl(fd, F_GETFD) != -1;
}

int hp_unwind_init(void)
{
	unsigned char before[FD_SCAN], after[FD_SCAN];
	int single = count_threads() == 1;

	dl_iterate_phdr(find_self, (void *)(uintptr_t)&hp_unwind_init);
	if (single)
		open_fds(before);
	/* Initialises libunwind (and opens its validation pipe) now, not in the first unwind. */
	if (unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD) != 0)
		return -ENOTSUP;
	if (single) {
		open_fds(after);
		for (int fd = 3; fd < FD_SCAN; fd++) {
			struct stat st;

			if (after[fd] && !before[fd] && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
				close(fd);
		}
	}
	ready = 1;
	return 0;
}

int hp_unwind_capture(uint64_t *pcs, int max)
{
	unw_context_t uc;
	unw_cursor_t cur;
	unw_word_t ip;
	int n = 0;

	if (!ready || max <= 0)
		return 0;
	pthread_rwlock_rdlock(&unwind_lock);
	if (unw_getcontext(&uc) != 0 || unw_init_local(&cur, &uc) != 0)
		goto out;
	ip = (unw_word_t)(uintptr_t)&hp_unwind_capture;
	while (n < max) {
		/* Stop at a frame without unwind info rather than let libunwind guess. */
		if (!has_unwind_info(&cur, ip) || unw_step(&cur) <= 0)
			break;
		if (unw_get_reg(&cur, UNW_REG_IP, &ip) != 0 || ip == 0)
			break;
		if (ip >= self_lo && ip < self_hi && n == 0)
			continue;	/* still inside heapprof */
		pcs[n++] = ip;
	}
out:
	pthread_rwlock_unlock(&unwind_lock);
	return n;
}

void hp_unwind_fork_prepare(void)
{
	pthread_rwlock_wrlock(&unwind_lock);
}

void hp_unwind_fork_parent(void)
{
	pthread_rwlock_unlock(&unwind_lock);
}

void hp_unwind_fork_child(void)
{
	/* The child's thread has a new id: the lock is made anew rather than unlocked. */
	pthread_rwlock_init(&unwind_lock, NULL);
}
