/* tests/progs/unw_nocfi_fns.c: allocation sites with no unwind information, for
 * tests/progs/unw_nocfi.c. Built (as the convenience library libunw_nocfi_fns.la) with
 * -fno-asynchronous-unwind-tables -fno-unwind-tables -fomit-frame-pointer and without -g:
 * no .eh_frame entry (nor .debug_frame) covers these functions, and they keep no frame
 * pointer, so an unwinder can find their callers only by guessing (libunwind falls back to
 * the rbp chain, which here holds whatever the caller left in rbp, or garbage).
 *
 *   unw_nocfi_leaf(n)          mallocs n bytes and fills them (not a tail call)
 *   unw_nocfi_mid(n)           calls unw_nocfi_leaf(n): two frames without unwind info
 *   unw_nocfi_deep(n, depth)   recurses depth times, then mallocs n bytes itself
 *   unw_nocfi_badrbp(n, bad)   assembly: saves rbx, rbp, r12, loads bad into all three and
 *                              calls malloc(n) with it: the unwinder meets a garbage frame
 *                              pointer (null, odd, unmapped, PROT_NONE, non-canonical, a
 *                              kernel address, a loop, ...) in a frame it cannot decode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unw_nocfi.h"

__attribute__((noinline)) void *unw_nocfi_leaf(size_t n)
{
	char *p = malloc(n);

	if (p)
		memset(p, 0x11, n);
	return p;
}

__attribute__((noinline)) void *unw_nocfi_mid(size_t n)
{
	void *p = unw_nocfi_leaf(n);

	__asm__ volatile("" : : "r"(p) : "memory");	/* not a tail call */
	return p;
}

__attribute__((noinline)) void *unw_nocfi_deep(size_t n, int depth)
{
	void *p;

	if (depth > 0) {
		p = unw_nocfi_deep(n, depth - 1);
		__asm__ volatile("" : : "r"(p) : "memory");
		return p;
	}
	p = malloc(n);
	if (p)
		memset(p, 0x22, n);
	return p;
}

/* System V: n in rdi (passed on to malloc), bad in rsi. At entry rsp is 8 mod 16; three
 * pushes make it 0 mod 16 for the call. No CFI directives: nothing describes this frame. */
__asm__(
	"	.text\n"
	"	.globl	unw_nocfi_badrbp\n"
	"	.type	unw_nocfi_badrbp, @function\n"
	"unw_nocfi_badrbp:\n"
	"	pushq	%rbx\n"
	"	pushq	%rbp\n"
	"	pushq	%r12\n"
	"	movq	%rsi, %rbp\n"
	"	movq	%rsi, %rbx\n"
	"	movq	%rsi, %r12\n"
	"	call	malloc@PLT\n"
	"	popq	%r12\n"
	"	popq	%rbp\n"
	"	popq	%rbx\n"
	"	ret\n"
	"	.size	unw_nocfi_badrbp, .-unw_nocfi_badrbp\n");
