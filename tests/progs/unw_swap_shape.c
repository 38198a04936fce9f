/* tests/progs/unw_swap_shape.c: the third pair of plugins of tests/progs/unw_swap
 * (libunw_swap_e.so and libunw_swap_f.so, libtool modules), built from this one source
 * with SWAP_TRAMP 0 or 1. Assembly, so that both have the same bytes at the same offsets
 * but two of them:
 *
 *   unw_swap_leaf(n)   the entry unw_swap calls: a jump (no frame of its own) to
 *                      shape_body in e, to shape_tramp in f;
 *   shape_tramp        (f) a frame of 8 bytes, then a call of shape_body;
 *   shape_body(n)      a frame of SHAPE_FRAME bytes (24 in e, 8 in f); allocates n bytes
 *                      in e, n + 1 in f, frees them, returns 1 when it could allocate.
 *
 * unw_swap_call calls unw_swap_leaf with one stack pointer S, so shape_body calls malloc at
 * the same return address and the same stack pointer (S - 32) in both, and the word at
 * S - 8 is the same return address into unw_swap_call in both; but in f a frame more lies
 * between, found by f's rules. A profiler that took a walk it kept in e's round (the words
 * it read all unchanged) for f's, because it did not ask whether the rules that walk used
 * still hold after e was unloaded, would count f's blocks on e's stack: no shape_tramp,
 * and n + 1 bytes on a stack of n-byte blocks (lib/unwind.c, "recalled walks";
 * tests/hazards/unwinding.sh part 6).
 *
 * Not a program: tests/progs/unw_swap.c dlopens it by path. */
#ifndef SWAP_TRAMP
#error "SWAP_TRAMP: 0 (frame of 24 bytes, no trampoline) or 1 (tests/hazards/unwinding.mk)"
#endif

#if SWAP_TRAMP
#define SHAPE_TARGET "shape_tramp"
#define SHAPE_FRAME "8"
#define SHAPE_EXTRA "1"
#else
#define SHAPE_TARGET "shape_body"
#define SHAPE_FRAME "24"
#define SHAPE_EXTRA "0"
#endif

/* Every jump and immediate has one encoding in both (a rel32 jump written out, imm8 frame
 * sizes and addend), and each function starts at a 64-byte boundary. */
__asm__(".text\n"
	".p2align 6\n"
	".globl unw_swap_leaf\n.type unw_swap_leaf, @function\n"
	"unw_swap_leaf:\n.cfi_startproc\n"
	".byte 0xe9\n.long " SHAPE_TARGET " - . - 4\n"
	".cfi_endproc\n.size unw_swap_leaf, .-unw_swap_leaf\n"

	".p2align 6\n"
	".type shape_body, @function\n"
	"shape_body:\n.cfi_startproc\n"
	"subq $" SHAPE_FRAME ", %rsp\n.cfi_adjust_cfa_offset " SHAPE_FRAME "\n"
	"addq $" SHAPE_EXTRA ", %rdi\n"
	"call malloc@PLT\n"
	"movq %rax, (%rsp)\n"
	"movq %rax, %rdi\n"
	"call free@PLT\n"
	"xorl %eax, %eax\n"
	"cmpq $0, (%rsp)\n"
	"setne %al\n"
	"addq $" SHAPE_FRAME ", %rsp\n.cfi_adjust_cfa_offset -" SHAPE_FRAME "\n"
	"ret\n.cfi_endproc\n.size shape_body, .-shape_body\n"

	".p2align 6\n"
	".type shape_tramp, @function\n"
	"shape_tramp:\n.cfi_startproc\n"
	"subq $8, %rsp\n.cfi_adjust_cfa_offset 8\n"
	"call shape_body\n"
	"addq $8, %rsp\n.cfi_adjust_cfa_offset -8\n"
	"ret\n.cfi_endproc\n.size shape_tramp, .-shape_tramp\n");
