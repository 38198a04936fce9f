/* lib/api: the public interface, include/heapprof.h. Each call initialises the profiler if
 * no allocation has yet, and holds the caller's re-entrancy guard while it works. */
#include <errno.h>
#include <string.h>

#include "heapprof.h"
#include "alloc.h"
#include "arena.h"
#include "dump.h"
#include "prof.h"
#include "sampler.h"
#include "stacktab.h"

HP_EXPORT const char *heapprof_version(void)
{
	return HP_VERSION;
}

HP_EXPORT int heapprof_dump(const char *path)
{
	int err;

	if (!hp_prof_init())
		return -ENOSYS;
	if (path && !*path)
		return -EINVAL;
	hp_tls.guard++;
	err = hp_dump_to(path, "api");
	hp_guard_exit();
	return err;
}

HP_EXPORT int heapprof_set_rate(size_t bytes)
{
	if (!hp_prof_init())
		return -ENOSYS;
	if (bytes > HP_RATE_MAX)
		return -EINVAL;
	hp_prof_set_rate(bytes);
	hp_tls.bytes_left = 0;	/* the calling thread takes the new rate at once */
	return 0;
}

HP_EXPORT size_t heapprof_get_rate(void)
{
	return hp_prof_init() ? __atomic_load_n(&hp_rate, __ATOMIC_RELAXED) : 0;
}

static int set_active(int on)
{
	if (!hp_prof_init())
		return -ENOSYS;
	__atomic_store_n(&hp_active, on, __ATOMIC_RELAXED);
	hp_tls.bytes_left = 0;	/* the calling thread sees the change at once */
	return 0;
}

HP_EXPORT int heapprof_activate(void)
{
	return set_active(1);
}

HP_EXPORT int heapprof_deactivate(void)
{
	return set_active(0);
}

HP_EXPORT int heapprof_is_active(void)
{
	return hp_prof_init() && __atomic_load_n(&hp_active, __ATOMIC_RELAXED);
}

static uint64_t nonneg(double v)
{
	return v > 0.5 ? (uint64_t)(v + 0.5) : 0;
}

HP_EXPORT int heapprof_get_totals(heapprof_totals *out)
{
	hp_stack_snap *snap;
	size_t n;
	double ao = 0, as = 0, fo = 0, fs = 0;
	int err;

	if (!out)
		return -EINVAL;
	if (!hp_prof_init())
		return -ENOSYS;
	hp_tls.guard++;
	err = hp_stacktab_snapshot(&snap, &n);
	hp_guard_exit();
	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		ao += snap[i].alloc_objects;
		as += snap[i].alloc_space;
		fo += snap[i].free_objects;
		fs += snap[i].free_space;
	}
	hp_ifree(snap);
	out->alloc_objects = nonneg(ao);
	out->alloc_bytes = nonneg(as);
	out->inuse_objects = nonneg(ao - fo);
	out->inuse_bytes = nonneg(as - fs);
	out->samples = hp_prof_samples();
	out->stacks = n;
	return 0;
}

HP_EXPORT const char *heapprof_strerror(int err)
{
	const char *s;

	if (err == 0)
		return "success";
	if (err == -ENOSYS)
		return "the profiler is not running in this process (set-uid program, or it could "
		       "not start: see its message on stderr)";
	if (err > 0 || !(s = strerrordesc_np(-err)))
		return "unknown error";
	return s;
}
