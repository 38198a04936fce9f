/* tests/progs/unw_badslot.c: allocations under a frame whose saved rbp slot holds a pointer
 * to a page that cannot be read, while the frame above it finds its caller by rbp.
 *
 *   unw_badslot ROUNDS
 *
 * badslot_f keeps its frame pointer (its CFA is rbp + 16) and calls unw_badslot_call
 * (assembly, with exact CFI: rbp pushed, saved at CFA-16), which overwrites its pushed rbp
 * with a bad pointer, calls badslot_leaf (which allocates), then puts the real value back
 * before it pops it. The program itself never reads the bad pointer. An unwinder stepping
 * from unw_badslot_call's frame takes badslot_f's rbp from that slot, and badslot_f's rule
 * then reads its return address at the bad pointer + 8: in turn a page that was unmapped
 * and a PROT_NONE page. Every other round leaves the slot alone, so that the frame rules
 * are made and checked on a good walk (heapprof checks a rule against libunwind's own step
 * once before its fast walk applies it) and then applied by fast walks to the bad slot.
 * The word is not on the stack, so the walk must check it before it reads it, and end
 * there. A walk that trusted every word its rules point at dies.
 *
 * Prints "badslot BYTES BLOCKS GOOD" (every block kept: in use at exit; sizes 7001 +
 * round; GOOD: the blocks of the rounds that left the slot alone, whose stacks go on to
 * main) and exits 0; 1 if the pages cannot be set up. */
#include <stdint.h>
#include <unistd.h>

#define KEPT_PROG "unw_badslot"
#include "unw_kept.h"

#define MAXROUNDS 100000

int unw_badslot_call(leaf_fn f, size_t size, uintptr_t bad);

/* rdi: the leaf, rsi: its argument, rdx: what the pushed rbp slot holds while it runs
 * (0: the real rbp, left as it was). */
__asm__(".text\n.p2align 4\n.globl unw_badslot_call\n.type unw_badslot_call, @function\n"
	"unw_badslot_call:\n.cfi_startproc\n"
	"pushq %rbp\n.cfi_def_cfa_offset 16\n.cfi_offset %rbp, -16\n"
	"pushq %rbx\n.cfi_def_cfa_offset 24\n.cfi_offset %rbx, -24\n"
	"subq $8, %rsp\n.cfi_def_cfa_offset 32\n"
	"movq 16(%rsp), %rbx\n"		/* the real rbp, kept in rbx */
	"testq %rdx, %rdx\n"
	"jz 1f\n"
	"movq %rdx, 16(%rsp)\n"		/* the slot: the bad pointer (if not 0) */
	"1:\n"
	"movq %rdi, %rax\n"
	"movq %rsi, %rdi\n"
	"call *%rax\n"
	"movq %rbx, 16(%rsp)\n"		/* the slot: the real rbp again */
	"addq $8, %rsp\n.cfi_def_cfa_offset 24\n"
	"popq %rbx\n.cfi_restore %rbx\n.cfi_def_cfa_offset 16\n"
	"popq %rbp\n.cfi_restore %rbp\n.cfi_def_cfa_offset 8\n"
	"ret\n.cfi_endproc\n.size unw_badslot_call, .-unw_badslot_call\n");

KEPT_LEAF(badslot_leaf)

static FP int badslot_f(size_t size, uintptr_t bad)
{
	return unw_badslot_call(badslot_leaf, size, bad) + 1;
}

int main(int argc, char **argv)
{
	int rounds = argc == 2 ? atoi(argv[1]) : 0, good = 0;
	long page = sysconf(_SC_PAGESIZE);
	char *gone, *none;

	if (rounds < 1 || rounds > MAXROUNDS) {
		fprintf(stderr, "usage: unw_badslot ROUNDS (1 to %d)\n", MAXROUNDS);
		return 2;
	}
	kept_init(rounds);
	/* three PROT_NONE pages, the middle one then unmapped: a one-page hole that no later
	 * mapping of jemalloc's (megabytes) fills */
	none = mmap(NULL, 3 * (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gone = none + page;
	if (none == MAP_FAILED || munmap(gone, (size_t)page) != 0)
		kept_die("cannot set up the pages");
	for (int r = 0; r < rounds; r++) {
		uintptr_t bad = (uintptr_t)(r & 2 ? none : gone) + 64;

		sink = badslot_f(7001 + (size_t)r, r & 1 ? bad : 0);
		good += !(r & 1);
	}
	printf("badslot %zu %d %d\n", kept_bytes, kept_n, good);
	return 0;
}
