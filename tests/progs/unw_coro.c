/* tests/progs/unw_coro.c: allocations on coroutine stacks (ucontext) that are unmapped and
 * mapped again, smaller, at the same place.
 *
 *   unw_coro ROUNDS
 *
 * Each round:
 *   1. maps a 192 KiB stack and runs, on it, coro_entry_deep: DEEP (100) frames of 1 KiB,
 *      then coro_pad, which brings its stack pointer down to a fixed address 56 KiB above
 *      the stack's bottom (an alloca), then unw_coro_push (assembly: rbp pushed, the CFA on
 *      rsp), then coro_leaf, which allocates. Its stack is longer than heapprof's depth
 *      (64 by default), so the walk stops at the limit, and a walk that stops at the limit
 *      may be taken up again by the next one (lib/unwind.c, "the last walk's outer
 *      frames");
 *   2. unmaps that stack and maps a 64 KiB one at its bottom: under the deep frames' pages,
 *      over the fixed address;
 *   3. runs, on it, coro_entry_near: coro_pad at once, which brings its stack pointer to
 *      the same address, then the same two frames, and the leaf allocates again.
 *   4. the same with coro_entry_wide in place of coro_entry_deep: WIDE (6) frames of 16 KiB,
 *      then coro_pad. It starts from unw_coro_base (assembly: its return address
 *      undefined, as in _start), so its walk is short and whole, and at dense rates
 *      heapprof keeps it by where it started (lib/unwind.c, "recalled walks"), with the
 *      words under it (glibc's start of a makecontext coroutine has no rule the fast walk
 *      can use: a walk that reaches it is never kept); then the 64 KiB stack and
 *      coro_entry_near again.
 * So the second allocation's innermost frame has the first one's return address and stack
 * pointer (and its rbp is not read on: unw_coro_push restores it), while the first one's
 * outer frames lie in pages that are gone. An unwinder that took the last walk's outer
 * frames, or a walk it kept from the same place, after checking the words under them
 * would read those pages and die; one that reads those words only within the thread's own
 * stack (a coroutine's stack is not) walks the second stack itself. Nothing between the
 * two allocations allocates.
 *
 * Prints "coro BYTES BLOCKS DEEP_BLOCKS NEAR_BLOCKS WIDE_BLOCKS" (every block is kept: in
 * use at exit; sizes 3001 + round for the deep chain, 5001 + round for the near one, 7001
 * + round for the wide one) and exits 0; 1 with a message if a mapping cannot be made. */
#include <alloca.h>
#include <stdint.h>
#include <ucontext.h>

#define KEPT_PROG "unw_coro"
#include "unw_kept.h"

#define BIG (192 * 1024)
#define SMALL (64 * 1024)	/* mapped again at the big one's bottom */
#define TARGET_AT (56 * 1024)	/* the fixed address, from the bottom */
#define DEEP 100		/* frames of 1 KiB under the deep entry: down to 92 KiB */
#define WIDE 6			/* frames of 16 KiB under the wide entry: down to 96 KiB */
#define MAXROUNDS 1000

static ucontext_t main_uc, coro_uc;
static uintptr_t target;	/* where coro_pad brings its stack pointer */
static size_t next_size;
int unw_coro_push(leaf_fn f, size_t size);

/* rbp pushed (saved at CFA-16) and left as it was, the CFA on rsp: the leaf frame's rbp is
 * not read by the walk on from it (this frame restores rbp from its slot). */
__asm__(".text\n.p2align 4\n.globl unw_coro_push\n.type unw_coro_push, @function\n"
	"unw_coro_push:\n.cfi_startproc\n"
	"pushq %rbp\n.cfi_def_cfa_offset 16\n.cfi_offset %rbp, -16\n"
	"movq %rdi, %rax\n"
	"movq %rsi, %rdi\n"
	"call *%rax\n"
	"popq %rbp\n.cfi_restore %rbp\n.cfi_def_cfa_offset 8\n"
	"ret\n.cfi_endproc\n.size unw_coro_push, .-unw_coro_push\n");

/* The coroutine's first frame for the wide chain: no caller (the return address
 * undefined), so that a walk ends here whole; it calls unw_coro_base_fn. */
__attribute__((visibility("hidden"), used)) void (*unw_coro_base_fn)(void);
void unw_coro_base(void);
__asm__(".text\n.p2align 4\n.globl unw_coro_base\n.type unw_coro_base, @function\n"
	"unw_coro_base:\n.cfi_startproc\n.cfi_undefined %rip\n"
	"subq $8, %rsp\n.cfi_adjust_cfa_offset 8\n"
	"call *unw_coro_base_fn(%rip)\n"
	"addq $8, %rsp\n.cfi_adjust_cfa_offset -8\n"
	"ret\n.cfi_endproc\n.size unw_coro_base, .-unw_coro_base\n");

KEPT_LEAF(coro_leaf)

/* The same stack pointer at the call below whatever the depth: the alloca takes what lies
 * between this frame and target. Only its lowest byte is written. */
static FP int coro_pad(size_t size)
{
	uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
	volatile char *low = alloca(fp - target);

	low[0] = 1;
	return unw_coro_push(coro_leaf, size) + low[0];
}

static NOFP int coro_deep(int k, size_t size)
{
	volatile char frame[1024];

	frame[0] = (char)k;
	if (k == 0)
		return coro_pad(size) + frame[0];
	return coro_deep(k - 1, size) + frame[0];
}

static NOFP int coro_wide(int k, size_t size)
{
	volatile char frame[16 * 1024];

	frame[0] = (char)k;
	if (k == 0)
		return coro_pad(size) + frame[0];
	return coro_wide(k - 1, size) + frame[0];
}

static void coro_entry_deep(void)
{
	sink = coro_deep(DEEP, next_size);
}

static void coro_entry_wide(void)
{
	sink = coro_wide(WIDE - 1, next_size);
}

static void coro_entry_near(void)
{
	sink = coro_pad(next_size);
}

/* Runs fn on the stack [lo, lo + size). */
static void run_on(void *lo, size_t size, void (*fn)(void))
{
	if (getcontext(&coro_uc) != 0)
		kept_die("getcontext failed");
	coro_uc.uc_stack.ss_sp = lo;
	coro_uc.uc_stack.ss_size = size;
	coro_uc.uc_link = &main_uc;
	makecontext(&coro_uc, fn, 0);
	if (swapcontext(&main_uc, &coro_uc) != 0)
		kept_die("swapcontext failed");
}

/* Runs first (on a 192 KiB stack mapped at want, or anywhere when want is NULL), then
 * coro_entry_near on a 64 KiB stack mapped again at that stack's bottom, first's block of
 * first_size bytes, the near one's of near_size. Returns where the stacks were. */
static char *round_of(char *want, void (*first)(void), size_t first_size, size_t near_size)
{
	char *big, *small;

	big = mmap(want, BIG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | (want ? MAP_FIXED_NOREPLACE : 0), -1, 0);
	if (big == MAP_FAILED || (want && big != want))
		kept_die("cannot map the 192 KiB stack");
	/* the first chain's frames lie above 92 KiB, over the small stack's top (64 KiB);
	 * target leaves the leaf (and heapprof under it) 56 KiB of stack */
	target = (uintptr_t)big + TARGET_AT;
	next_size = first_size;
	run_on(big, BIG, first);
	if (munmap(big, BIG) != 0)
		kept_die("munmap failed");
	small = mmap(big, SMALL, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (small == MAP_FAILED || small != big)
		kept_die("cannot map the 64 KiB stack where the 192 KiB one was");
	next_size = near_size;
	run_on(small, SMALL, coro_entry_near);
	if (munmap(small, SMALL) != 0)
		kept_die("munmap failed");
	return big;
}

int main(int argc, char **argv)
{
	int rounds = argc == 2 ? atoi(argv[1]) : 0, deep = 0, near = 0, wide = 0;

	if (rounds < 1 || rounds > MAXROUNDS) {
		fprintf(stderr, "usage: unw_coro ROUNDS (1 to %d)\n", MAXROUNDS);
		return 2;
	}
	kept_init(4 * rounds);
	for (int r = 0; r < rounds; r++) {
		char *at = round_of(NULL, coro_entry_deep, 3001 + (size_t)r, 5001 + (size_t)r);

		deep++;
		near++;
		unw_coro_base_fn = coro_entry_wide;
		round_of(at, unw_coro_base, 7001 + (size_t)r, 5001 + (size_t)r);
		wide++;
		near++;
	}
	printf("coro %zu %d %d %d %d\n", kept_bytes, kept_n, deep, near, wide);
	return 0;
}
