/* lib/newdel: C++ operator new and delete, every form (plain, array, nothrow, aligned,
 * sized), written in C with their mangled names. Debian's jemalloc exports its own
 * operators, and a C++ library loaded into a C program would bypass us without these.
 *
 * new's failure path follows the standard: call the installed new_handler and retry; with
 * no handler, throw std::bad_alloc (or return NULL for the nothrow forms). libstdc++'s
 * functions are weak references: a program without libstdc++ cannot reach operator new
 * except through a library that brings it, and then they resolve. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "alloc.h"
#include "log.h"

typedef void (*new_handler_fn)(void);
extern new_handler_fn _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

/* Prototypes of the exported operators (std::nothrow_t is an empty struct: its reference is
 * a pointer; std::align_val_t is a size_t). */
void *_Znwm(size_t n);
void *_Znam(size_t n);
void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt);
void *_ZnamRKSt9nothrow_t(size_t n, const void *nt);
void *_ZnwmSt11align_val_t(size_t n, size_t al);
void *_ZnamSt11align_val_t(size_t n, size_t al);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt);
void _ZdlPv(void *p);
void _ZdaPv(void *p);
void _ZdlPvm(void *p, size_t n);
void _ZdaPvm(void *p, size_t n);
void _ZdlPvRKSt9nothrow_t(void *p, const void *nt);
void _ZdaPvRKSt9nothrow_t(void *p, const void *nt);
void _ZdlPvSt11align_val_t(void *p, size_t al);
void _ZdaPvSt11align_val_t(void *p, size_t al);
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al);
void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al);
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt);
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt);

static void *try_alloc(size_t n, size_t al)
{
	if (n == 0)
		n = 1;	/* new of size 0 returns a distinct pointer */
	return al > 16 ? hp_alloc_aligned(al, n) : malloc(n < al ? al : n);
}

/* Out of memory: the standard's retry loop. */
static __attribute__((noinline)) void *new_failed(size_t n, size_t al, int nothrow)
{
	for (;;) {
		new_handler_fn h = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
		void *p;

		if (!h)
			break;
		h();	/* may throw; C frames have unwind tables, so it passes through */
		if ((p = try_alloc(n, al)) != NULL)
			return p;
	}
	if (nothrow)
		return NULL;
	if (_ZSt17__throw_bad_allocv)
		_ZSt17__throw_bad_allocv();
	hp_log("operator new: out of memory and no C++ runtime to throw std::bad_alloc");
	abort();
}

static inline void *new_impl(size_t n, size_t al, int nothrow)
{
	void *p = try_alloc(n, al);

	return HP_LIKELY(p != NULL) ? p : new_failed(n, al, nothrow);
}

HP_EXPORT void *_Znwm(size_t n) { return new_impl(n, 0, 0); }
HP_EXPORT void *_Znam(size_t n) { return new_impl(n, 0, 0); }
HP_EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt) { return new_impl(n, 0, 1); }
HP_EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const void *nt) { return new_impl(n, 0, 1); }
HP_EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t al) { return new_impl(n, al, 0); }
HP_EXPORT void *_ZnamSt11align_val_t(size_t n, size_t al) { return new_impl(n, al, 0); }
HP_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt)
{
	return new_impl(n, al, 1);
}
HP_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt)
{
	return new_impl(n, al, 1);
}

/* Every delete is free: jemalloc finds the size and alignment from the pointer. */
HP_EXPORT void _ZdlPv(void *p) { free(p); }
HP_EXPORT void _ZdaPv(void *p) { free(p); }
HP_EXPORT void _ZdlPvm(void *p, size_t n) { free(p); }
HP_EXPORT void _ZdaPvm(void *p, size_t n) { free(p); }
HP_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *nt) { free(p); }
HP_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *nt) { free(p); }
HP_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t al) { free(p); }
HP_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t al) { free(p); }
HP_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al) { free(p); }
HP_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al) { free(p); }
HP_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt)
{
	free(p);
}
HP_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt)
{
	free(p);
}
