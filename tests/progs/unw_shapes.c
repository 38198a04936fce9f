/* tests/progs/unw_shapes.c: allocations at the end of call chains of many frame shapes,
 * each with the stack glibc's backtrace() (libgcc's unwinder, independent of libunwind and
 * of heapprof) saw, so that tests/integration/unwind_shapes.sh can compare every stack of
 * heapprof's exit profile with it, frame by frame.
 *
 *   unw_shapes EXPECT_FILE
 *
 * Run under HEAPPROF=rate=1,depth=256 (every allocation unwound). Each site (table `sites`
 * below) is a chain of distinct noipa functions from main (or a thread, or a signal
 * handler) ending in a leaf of its own that calls backtrace() and then malloc(size) once,
 * size unique to the site. Each site is run `calls` times in a row: the first call walks
 * return addresses heapprof has never seen, so its walk is a slow one (libunwind), which
 * makes the per-return-address rules; the later calls find every rule and walk fast (no
 * libunwind at all), except at sites marked "slow", whose chain holds a frame no compact
 * rule can describe (a signal frame, a CFA expression, an offset that does not fit the
 * packed slot): those walk the slow way every time.
 *
 * The program also counts heapprof's slow walks: it defines libunwind's
 * _Ux86_64_init_remote (exported with --export-dynamic-symbol, so it interposes on
 * libheapprof.so's call; it forwards to the real one), which heapprof calls once per slow
 * walk and never on the fast path. The count read before and after each malloc says how
 * that allocation was walked (0 fast, 1 slow; always 0 without heapprof).
 *
 * EXPECT_FILE gets, at the end:
 *   main ADDR                         runtime address of main (the load bias, with nm)
 *   site ID NAME WALKS SIZE LEAF      WALKS fast|slow; LEAF the leaf function's name
 *   call ID SEQ SLOW N ADDR...        one per malloc: backtrace()'s N return addresses
 *                                     (the first is in LEAF, after its backtrace call)
 * Exit status 0; 1 with a message on any failure.
 *
 * Shapes: frame-pointer and frameless (-fomit-frame-pointer) C functions, alloca (variable
 * frame, CFA on rbp), 40 KB frames with and without frame pointer, stack realignment
 * (force_align_arg_pointer, 64-byte aligned locals), mutual
 * recursion 100 deep, a tail call, raise() with the handler allocating (on the stack and on
 * a sigaltstack), a thread, qsort's comparison function (frames in libc), and hand-written
 * assembly (unw_shapes_* below) for exact CFI: gcc's DRAP realignment (CFA = r10, then
 * CFA and rbp given by DWARF expressions), rbp used as a scratch register (saved at
 * CFA-24), CFA = rbp+24 with realignment, rbp+1016, rbp+40016, rsp+32752 (fits int16) and
 * rsp+32768 (does not), rbp saved at CFA-16384 (fits the packed 12-bit slot) and CFA-16392
 * (does not), the return address saved at CFA-1016 (fits int8 slots) and CFA-1032 (does
 * not; an offset that is not a multiple of 8 cannot be written in CFI: the data alignment
 * factor is -8), and ud2 traps (SIGILL, handler allocates, then skips
 * the ud2) at a function's first instruction, in the middle of a CFI row, and as the first
 * instruction of a new row (right after a push: the interrupted frame's row is the one at
 * its pc, not at pc - 1, because a signal frame's pc is not a return address). And three
 * sites for the reuse of the last walk's outer frames (lib/unwind.c): twins (one leaf frame
 * under other callers at one depth), bp_twins (walks that differ in a saved rbp alone) and
 * bp_match (walks that differ in the first frame's rbp alone). */
#include <dlfcn.h>
#include <alloca.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#define NOIPA __attribute__((noipa))
#define FP __attribute__((noipa, optimize("no-omit-frame-pointer")))
#define NOFP __attribute__((noipa, optimize("omit-frame-pointer")))

#define MAXBT 320
#define MAXCALLS 512

/* --- slow walks, counted ----------------------------------------------------------- */

typedef int (*init_remote_fn)(void *, void *, void *);
int _Ux86_64_init_remote(void *cursor, void *as, void *arg);
static unsigned long slow_walks;

int _Ux86_64_init_remote(void *cursor, void *as, void *arg)
{
	static init_remote_fn real;

	if (!real) {
		void *f = dlsym(RTLD_NEXT, "_Ux86_64_init_remote");

		memcpy(&real, &f, sizeof(real));
	}
	__atomic_fetch_add(&slow_walks, 1, __ATOMIC_RELAXED);
	return real ? real(cursor, as, arg) : -1;
}

/* --- the sites ---------------------------------------------------------------------- */

typedef struct site {
	const char *name, *walks, *leaf;
	int calls;
} site;

enum {
	S_OMIT, S_FP, S_MIXED, S_ALLOCA, S_HUGE_OMIT, S_HUGE_FP, S_REALIGN, S_DRAP, S_ALIGN_FP,
	S_ALIGN_NOFP, S_RECURSE, S_TAIL, S_RAISE, S_ALTSTACK, S_TRAP_ENTRY, S_TRAP_MID,
	S_TRAP_EDGE, S_RBP24, S_RBP1016, S_RBP40016, S_SP32752, S_SP32768, S_BP16384,
	S_BP16392, S_RA1016, S_RA1032, S_THREAD, S_QSORT, S_TWINS, S_BP_TWINS, S_BP_MATCH, NSITES
};

static const site sites[NSITES] = {
	[S_OMIT] = { "omit", "fast", "leaf_omit", 4 },
	[S_FP] = { "fp", "fast", "leaf_fp", 4 },
	[S_MIXED] = { "mixed", "fast", "leaf_mixed", 4 },
	[S_ALLOCA] = { "alloca", "fast", "leaf_alloca", 5 },
	[S_HUGE_OMIT] = { "huge_omit", "slow", "leaf_huge_omit", 3 },
	[S_HUGE_FP] = { "huge_fp", "fast", "leaf_huge_fp", 3 },
	[S_REALIGN] = { "realign", "fast", "leaf_realign", 3 },
	[S_DRAP] = { "drap", "slow", "leaf_drap", 3 },
	[S_ALIGN_FP] = { "align_fp", "fast", "leaf_align_fp", 3 },
	[S_ALIGN_NOFP] = { "align_nofp", "fast", "leaf_align_nofp", 3 },
	[S_RECURSE] = { "recurse", "fast", "leaf_recurse", 3 },
	[S_TAIL] = { "tail", "fast", "leaf_tail", 3 },
	[S_RAISE] = { "raise", "slow", "leaf_raise", 3 },
	[S_ALTSTACK] = { "altstack", "slow", "leaf_altstack", 3 },
	[S_TRAP_ENTRY] = { "trap_entry", "slow", "leaf_trap_entry", 3 },
	[S_TRAP_MID] = { "trap_mid", "slow", "leaf_trap_mid", 3 },
	[S_TRAP_EDGE] = { "trap_edge", "slow", "leaf_trap_edge", 3 },
	[S_RBP24] = { "cfa_rbp24", "fast", "leaf_rbp24", 3 },
	[S_RBP1016] = { "cfa_rbp1016", "fast", "leaf_rbp1016", 3 },
	[S_RBP40016] = { "cfa_rbp40016", "slow", "leaf_rbp40016", 3 },
	[S_SP32752] = { "cfa_rsp32752", "fast", "leaf_sp32752", 3 },
	[S_SP32768] = { "cfa_rsp32768", "slow", "leaf_sp32768", 3 },
	[S_BP16384] = { "rbp_at_cfa-16384", "fast", "leaf_bp16384", 3 },
	[S_BP16392] = { "rbp_at_cfa-16392", "slow", "leaf_bp16392", 3 },
	[S_RA1016] = { "ra_at_cfa-1016", "fast", "leaf_ra1016", 3 },
	[S_RA1032] = { "ra_at_cfa-1032", "slow", "leaf_ra1032", 3 },
	[S_THREAD] = { "thread", "fast", "leaf_thread", 4 },
	[S_QSORT] = { "qsort", "fast", "leaf_qsort", 1 },	/* calls: one per comparison */
	[S_TWINS] = { "twins", "fast", "leaf_twins", 8 },
	[S_BP_TWINS] = { "bp_twins", "fast", "leaf_bp_twins", 6 },
	[S_BP_MATCH] = { "bp_match", "fast", "leaf_bp_match", 6 },
};

/* A site's call count, opaque to the compiler: an unrolled loop would make each call's
 * return address in main a different one (and every walk a first one). */
static NOIPA int calls_of(int id)
{
	return sites[id].calls;
}

/* Every site allocates its own size. */
static size_t site_size(int id)
{
	return 77001 + 16 * (size_t)id;
}

/* --- recording ---------------------------------------------------------------------- */

static void *now_bt[MAXBT];
static void *rec_bt[MAXCALLS][MAXBT];
static int rec_n[MAXCALLS], rec_site[MAXCALLS], rec_seq[MAXCALLS];
static unsigned long rec_slow[MAXCALLS];
static int nrec, seq_of[NSITES];
static void *kept[MAXCALLS];
static int failed;

static void die(const char *what)
{
	fprintf(stderr, "unw_shapes: %s\n", what);
	exit(1);
}

static NOIPA void keep(int id, void *p, int n, unsigned long slow)
{
	if (!p)
		die("malloc failed");
	if (nrec >= MAXCALLS)
		die("too many calls");
	if (n <= 0 || n >= MAXBT)
		failed = 1;	/* no stack, or maybe truncated */
	memset(p, id, 64);
	memcpy(rec_bt[nrec], now_bt, sizeof(void *) * (size_t)(n > 0 ? n : 0));
	rec_n[nrec] = n;
	rec_site[nrec] = id;
	rec_seq[nrec] = ++seq_of[id];
	rec_slow[nrec] = slow;
	kept[nrec++] = p;
}

/* The leaf of a site: backtrace() then one malloc, the slow-walk count around it. */
#define LEAF(ATTR, fn, id)								\
	static ATTR int fn(void)							\
	{										\
		int n = backtrace(now_bt, MAXBT);					\
		unsigned long s0 = __atomic_load_n(&slow_walks, __ATOMIC_RELAXED);	\
		void *p = malloc(site_size(id));					\
		unsigned long s1 = __atomic_load_n(&slow_walks, __ATOMIC_RELAXED);	\
		keep(id, p, n, s1 - s0);						\
		return n;								\
	}

LEAF(NOFP, leaf_omit, S_OMIT)
LEAF(FP, leaf_fp, S_FP)
LEAF(NOFP, leaf_mixed, S_MIXED)
LEAF(NOFP, leaf_alloca, S_ALLOCA)
LEAF(NOFP, leaf_huge_omit, S_HUGE_OMIT)
LEAF(FP, leaf_huge_fp, S_HUGE_FP)
LEAF(NOFP, leaf_realign, S_REALIGN)
LEAF(FP, leaf_drap, S_DRAP)
LEAF(NOFP, leaf_align_fp, S_ALIGN_FP)
LEAF(FP, leaf_align_nofp, S_ALIGN_NOFP)
LEAF(NOFP, leaf_recurse, S_RECURSE)
LEAF(FP, leaf_tail, S_TAIL)
LEAF(NOFP, leaf_raise, S_RAISE)
LEAF(FP, leaf_altstack, S_ALTSTACK)
LEAF(NOFP, leaf_trap_entry, S_TRAP_ENTRY)
LEAF(NOFP, leaf_trap_mid, S_TRAP_MID)
LEAF(NOFP, leaf_trap_edge, S_TRAP_EDGE)
LEAF(NOFP, leaf_rbp24, S_RBP24)
LEAF(NOFP, leaf_rbp1016, S_RBP1016)
LEAF(NOFP, leaf_rbp40016, S_RBP40016)
LEAF(NOFP, leaf_sp32752, S_SP32752)
LEAF(NOFP, leaf_sp32768, S_SP32768)
LEAF(NOFP, leaf_bp16384, S_BP16384)
LEAF(NOFP, leaf_bp16392, S_BP16392)
LEAF(NOFP, leaf_ra1016, S_RA1016)
LEAF(NOFP, leaf_ra1032, S_RA1032)
LEAF(FP, leaf_thread, S_THREAD)
LEAF(NOFP, leaf_qsort, S_QSORT)
LEAF(NOFP, leaf_twins, S_TWINS)
LEAF(NOFP, leaf_bp_twins, S_BP_TWINS)
LEAF(NOFP, leaf_bp_match, S_BP_MATCH)

/* --- hand-written frames ------------------------------------------------------------
 * Each takes a leaf (int (*)(void)) in rdi, calls it, returns its value. The traps call
 * nothing: their ud2 raises SIGILL, whose handler calls trap_leaf. */
typedef int (*leaf_fn)(void);
int unw_shapes_rbp_scratch(leaf_fn f);
int unw_shapes_drap(leaf_fn f);
int unw_shapes_rbp24(leaf_fn f);
int unw_shapes_rbp1016(leaf_fn f);
int unw_shapes_rbp40016(leaf_fn f);
int unw_shapes_sp32752(leaf_fn f);
int unw_shapes_sp32768(leaf_fn f);
int unw_shapes_bp16384(leaf_fn f);
int unw_shapes_bp16392(leaf_fn f);
int unw_shapes_ra1016(leaf_fn f);
int unw_shapes_ra1032(leaf_fn f);
int unw_shapes_bp_push(leaf_fn f);
void unw_shapes_trap_entry(void);
void unw_shapes_trap_mid(void);
void unw_shapes_trap_edge(void);

#define ASM_FN(name) ".globl " #name "\n.type " #name ", @function\n" #name ":\n.cfi_startproc\n"
#define ASM_END(name) ".cfi_endproc\n.size " #name ", .-" #name "\n"
#define GARBAGE_RBP "movabsq $0x0badf00d0badf00d, %rbp\n"

__asm__(".text\n"
	/* rbp as a scratch register of a frameless function: saved at CFA-24, garbage meanwhile */
	".p2align 4\n" ASM_FN(unw_shapes_rbp_scratch)
	"pushq %rbx\n.cfi_def_cfa_offset 16\n.cfi_offset %rbx, -16\n"
	"pushq %rbp\n.cfi_def_cfa_offset 24\n.cfi_offset %rbp, -24\n"
	"subq $8, %rsp\n.cfi_def_cfa_offset 32\n"
	"movq %rdi, %rbx\n" GARBAGE_RBP
	"call *%rbx\n"
	"addq $8, %rsp\n.cfi_def_cfa_offset 24\n"
	"popq %rbp\n.cfi_restore %rbp\n.cfi_def_cfa_offset 16\n"
	"popq %rbx\n.cfi_restore %rbx\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_rbp_scratch)

	/* stack realignment with a DRAP register, as gcc does it: CFA = r10, then the CFA an
	 * expression (deref(rbp - 8)) and rbp saved by an expression */
	".p2align 4\n" ASM_FN(unw_shapes_drap)
	"leaq 8(%rsp), %r10\n.cfi_def_cfa %r10, 0\n"
	"andq $-64, %rsp\n"
	"pushq -8(%r10)\n"
	"pushq %rbp\n"
	"movq %rsp, %rbp\n"
	".cfi_escape 0x10, 0x6, 0x2, 0x76, 0x0\n"
	"pushq %r10\n"
	".cfi_escape 0xf, 0x3, 0x76, 0x78, 0x6\n"
	"subq $8, %rsp\n"
	"call *%rdi\n"
	"addq $8, %rsp\n"
	"popq %r10\n.cfi_def_cfa %r10, 0\n"
	"popq %rbp\n.cfi_restore %rbp\n"
	"leaq -8(%r10), %rsp\n.cfi_def_cfa %rsp, 8\n"
	"ret\n" ASM_END(unw_shapes_drap)

	/* CFA = rbp + 24 (rbx pushed before rbp), stack realigned to 64 */
	".p2align 4\n" ASM_FN(unw_shapes_rbp24)
	"pushq %rbx\n.cfi_def_cfa_offset 16\n.cfi_offset %rbx, -16\n"
	"pushq %rbp\n.cfi_def_cfa_offset 24\n.cfi_offset %rbp, -24\n"
	"movq %rsp, %rbp\n.cfi_def_cfa_register %rbp\n"
	"andq $-64, %rsp\nsubq $64, %rsp\n"
	"call *%rdi\n"
	"movq %rbp, %rsp\n.cfi_def_cfa_register %rsp\n"
	"popq %rbp\n.cfi_restore %rbp\n.cfi_def_cfa_offset 16\n"
	"popq %rbx\n.cfi_restore %rbx\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_rbp24)

	/* CFA = rbp + 1016 */
	".p2align 4\n" ASM_FN(unw_shapes_rbp1016)
	"pushq %rbp\n.cfi_def_cfa_offset 16\n.cfi_offset %rbp, -16\n"
	"leaq -1000(%rsp), %rbp\n.cfi_def_cfa %rbp, 1016\n"
	"subq $1008, %rsp\n"
	"call *%rdi\n"
	"leaq 1000(%rbp), %rsp\n.cfi_def_cfa %rsp, 16\n"
	"popq %rbp\n.cfi_restore %rbp\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_rbp1016)

	/* CFA = rbp + 40016: beyond int16 */
	".p2align 4\n" ASM_FN(unw_shapes_rbp40016)
	"pushq %rbp\n.cfi_def_cfa_offset 16\n.cfi_offset %rbp, -16\n"
	"leaq -40000(%rsp), %rbp\n.cfi_def_cfa %rbp, 40016\n"
	"subq $40000, %rsp\n"
	"call *%rdi\n"
	"leaq 40000(%rbp), %rsp\n.cfi_def_cfa %rsp, 16\n"
	"popq %rbp\n.cfi_restore %rbp\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_rbp40016)

	/* CFA = rsp + 32752: fits int16 */
	".p2align 4\n" ASM_FN(unw_shapes_sp32752)
	"subq $32744, %rsp\n.cfi_def_cfa_offset 32752\n"
	"call *%rdi\n"
	"addq $32744, %rsp\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_sp32752)

	/* CFA = rsp + 32768: does not */
	".p2align 4\n" ASM_FN(unw_shapes_sp32768)
	"subq $32760, %rsp\n.cfi_def_cfa_offset 32768\n"
	"call *%rdi\n"
	"addq $32760, %rsp\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_sp32768)

	/* rbp saved at CFA-16384 (offset/8 = -2048: fits 12 bits), garbage meanwhile */
	".p2align 4\n" ASM_FN(unw_shapes_bp16384)
	"subq $16376, %rsp\n.cfi_def_cfa_offset 16384\n"
	"movq %rbp, 0(%rsp)\n.cfi_offset %rbp, -16384\n" GARBAGE_RBP
	"call *%rdi\n"
	"movq 0(%rsp), %rbp\n.cfi_restore %rbp\n"
	"addq $16376, %rsp\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_bp16384)

	/* rbp saved at CFA-16392 (offset/8 = -2049: does not fit) */
	".p2align 4\n" ASM_FN(unw_shapes_bp16392)
	"subq $16392, %rsp\n.cfi_def_cfa_offset 16400\n"
	"movq %rbp, 8(%rsp)\n.cfi_offset %rbp, -16392\n" GARBAGE_RBP
	"call *%rdi\n"
	"movq 8(%rsp), %rbp\n.cfi_restore %rbp\n"
	"addq $16392, %rsp\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_bp16392)

	/* the return address moved to CFA-1016 (offset/8 = -127: fits int8), its usual slot
	 * zeroed meanwhile */
	".p2align 4\n" ASM_FN(unw_shapes_ra1016)
	"subq $1016, %rsp\n.cfi_def_cfa_offset 1024\n"
	"movq 1016(%rsp), %rax\nmovq %rax, 8(%rsp)\n.cfi_offset %rip, -1016\n"
	"movq $0, 1016(%rsp)\n"
	"call *%rdi\n"
	"movq 8(%rsp), %rcx\nmovq %rcx, 1016(%rsp)\n.cfi_offset %rip, -8\n"
	"addq $1016, %rsp\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_ra1016)

	/* the return address at CFA-1032 (offset/8 = -129: does not fit) */
	".p2align 4\n" ASM_FN(unw_shapes_ra1032)
	"subq $1032, %rsp\n.cfi_def_cfa_offset 1040\n"
	"movq 1032(%rsp), %rax\nmovq %rax, 8(%rsp)\n.cfi_offset %rip, -1032\n"
	"movq $0, 1032(%rsp)\n"
	"call *%rdi\n"
	"movq 8(%rsp), %rcx\nmovq %rcx, 1032(%rsp)\n.cfi_offset %rip, -8\n"
	"addq $1032, %rsp\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_ra1032)

	/* rbp pushed (saved at CFA-16), left as it was, and the CFA on rsp: the caller's rbp
	 * is then read from this frame's slot by a walk (bp_twins below) */
	".p2align 4\n" ASM_FN(unw_shapes_bp_push)
	"pushq %rbp\n.cfi_def_cfa_offset 16\n.cfi_offset %rbp, -16\n"
	"call *%rdi\n"
	"popq %rbp\n.cfi_restore %rbp\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_bp_push)

	/* traps: the ud2 is the first instruction, or mid-row, or the first of a new row */
	".p2align 4\n" ASM_FN(unw_shapes_trap_entry)
	"ud2\n"
	"ret\n" ASM_END(unw_shapes_trap_entry)

	".p2align 4\n" ASM_FN(unw_shapes_trap_mid)
	"pushq %rbp\n.cfi_def_cfa_offset 16\n.cfi_offset %rbp, -16\n"
	"movq %rsp, %rax\n"
	"ud2\n"
	"popq %rbp\n.cfi_restore %rbp\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_trap_mid)

	".p2align 4\n" ASM_FN(unw_shapes_trap_edge)
	"pushq %rbp\n.cfi_def_cfa_offset 16\n.cfi_offset %rbp, -16\n"
	"ud2\n"
	"popq %rbp\n.cfi_restore %rbp\n.cfi_def_cfa_offset 8\n"
	"ret\n" ASM_END(unw_shapes_trap_edge));

/* --- C chains ----------------------------------------------------------------------- */

static volatile int sink;

static NOFP int omit_2(int x)
{
	int r = leaf_omit();

	return r * 3 + x;
}

static NOFP int omit_1(int x)
{
	int r = omit_2(x + 1);

	return r * 5 + x;
}

static FP int fp_2(int x)
{
	int r = leaf_fp();

	return r * 3 + x;
}

static FP int fp_1(int x)
{
	int r = fp_2(x + 1);

	return r * 5 + x;
}

/* A frame-pointer function above a frameless one that uses rbp as scratch. */
static FP int mixed_1(int x)
{
	int r = unw_shapes_rbp_scratch(leaf_mixed);

	return r * 7 + x;
}

/* A variable frame: CFA on rbp, rsp differs from call to call. */
static NOFP int alloca_1(size_t n)
{
	char *buf = alloca(n);

	memset(buf, 1, n);
	sink = buf[n - 1];
	return leaf_alloca() + buf[n / 2];
}

/* A 40 KB frame: frameless, the CFA offset beyond int16 (slow); with a frame pointer,
 * CFA = rbp + 16 (fast). */
static NOFP int huge_omit_1(int x)
{
	volatile char big[40000];

	big[x] = 1;
	big[39999 - x] = 2;
	return leaf_huge_omit() + big[x];
}

static FP int huge_fp_1(int x)
{
	volatile char big[40000];

	big[x] = 1;
	big[39999 - x] = 2;
	return leaf_huge_fp() + big[x];
}

/* Stack realignment (force_align_arg_pointer): gcc realigns with rbp, CFA = rbp + 16.
 * (Its DRAP form, the CFA an expression, is unw_shapes_drap.) */
static __attribute__((noipa, force_align_arg_pointer)) int realign_1(int x)
{
	_Alignas(32) volatile char buf[64];

	buf[x] = 1;
	return leaf_realign() + buf[x];
}

/* 64-byte aligned locals, with and without frame pointer asked for. */
static FP int align_fp_1(int x)
{
	_Alignas(64) volatile char buf[128];

	buf[x] = 1;
	return leaf_align_fp() + buf[x];
}

static NOFP int align_nofp_1(int x)
{
	_Alignas(64) volatile char buf[128];

	buf[x] = 1;
	return leaf_align_nofp() + buf[x];
}

/* Mutual recursion, 100 frames: frame pointer and frameless alternating. */
static int rec_b(int n);

static FP int rec_a(int n)
{
	int r = n > 0 ? rec_b(n - 1) : leaf_recurse();

	return r + n;
}

static NOFP int rec_b(int n)
{
	int r = n > 0 ? rec_a(n - 1) : leaf_recurse();

	return r + n;
}

/* tail_1 jumps to tail_2 (a sibling call): tail_1 is on no stack. */
static NOIPA int tail_2(int x)
{
	return leaf_tail() + x;
}

static NOFP int tail_1(int x)
{
	return tail_2(x + 1);
}

/* Allocations in signal handlers. */
static leaf_fn handler_leaf;

static void on_signal(int sig)
{
	sink = handler_leaf();
}

static void on_sigill(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	sink = handler_leaf();
	uc->uc_mcontext.gregs[REG_RIP] += 2;	/* past the ud2 */
}

static FP int raise_1(int x)
{
	handler_leaf = leaf_raise;
	if (raise(SIGUSR2) != 0)
		die("raise failed");
	return x;
}

static NOFP int altstack_1(int x)
{
	handler_leaf = leaf_altstack;
	if (raise(SIGURG) != 0)
		die("raise failed");
	return x * 3;
}

static FP int trap_1(void (*trap)(void), leaf_fn leaf)
{
	handler_leaf = leaf;
	trap();
	return 1;
}

/* Asm frames under a frame-pointer caller (whose CFA needs the right rbp back). */
static FP int asm_1(int (*tramp)(leaf_fn), leaf_fn leaf)
{
	int r = tramp(leaf);

	return r + 1;
}

/* A thread. */
static NOFP int thread_2(int x)
{
	int r = leaf_thread();

	return r * 3 + x;
}

static FP void *thread_1(void *arg)
{
	for (int i = 0; i < calls_of(S_THREAD); i++)
		sink = thread_2(i);
	return NULL;
}

/* qsort's comparison function: frames of libc's merge sort above it. */
static int compare(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	sink = leaf_qsort();
	return (x > y) - (x < y);
}

static FP int qsort_1(int x)
{
	int v[8] = { 5, 3, 7, 1, 8, 2, 6, 4 };

	qsort(v, 8, sizeof(int), compare);
	return v[0] + x;
}

/* Two callers of one leaf with the same frame, so that the leaf's frame has the same stack
 * pointer under both, each called from twins_1 (twin_a from two places) at one depth:
 * consecutive allocations whose first frame (return address and stack pointer) is the
 * same while their outer frames differ, or are the same (the pattern in main). A walk that
 * took the last walk's frames for this one's (lib/unwind.c reuses them when every word
 * under the first frame is unchanged) would show here as a stack of the wrong caller. */
static NOFP int twin_a(int x)
{
	volatile char pad[32];

	pad[x & 31] = 1;
	return leaf_twins() + pad[0];
}

static NOFP int twin_b(int x)
{
	volatile char pad[32];

	pad[x & 31] = 1;
	return leaf_twins() + pad[0];
}

static volatile int twins_seen;

/* Each call's value is used after it (no tail call) and each place adds its own amount
 * (no two calls merged). */
static NOFP int twins_1(int pick)
{
	int r;

	if (pick == 0) {
		r = twin_a(1);
		twins_seen += 1;
	} else if (pick == 1) {
		r = twin_a(2);
		twins_seen += 2;
	} else {
		r = twin_b(3);
		twins_seen += 3;
	}
	return r;
}

static const int twins_pattern[8] = { 0, 0, 1, 0, 2, 2, 1, 1 };

static uintptr_t bp_floor;	/* below every PFX_f frame (BP_CHAIN): set in main */
static volatile int bp_seen;

/* A chain for the two sites below: PFX_1(pick) calls PFX_c1 (a small frame) or PFX_c2 (a
 * large one whose extra words it never writes) from one call site, and each calls PFX_f, a
 * frame-pointer function whose alloca puts its stack pointer at one place (bp_floor less
 * its fixed frame) whatever its caller; PFX_f then calls CALL. Only the lowest byte of the
 * alloca, and of each pad, is written: the words above stay as they were. */
#define BP_CALLER(PFX, NAME, PAD)							\
	static NOFP int PFX##_##NAME(void)						\
	{										\
		volatile char pad[PAD];							\
											\
		pad[0] = 1;								\
		return PFX##_f() + pad[0];						\
	}
#define BP_CHAIN(PFX, CALL)								\
	static FP int PFX##_f(void)							\
	{										\
		uintptr_t fp = (uintptr_t)__builtin_frame_address(0);			\
		volatile char *low = alloca(fp - bp_floor);				\
											\
		low[0] = 1;								\
		return CALL + low[0];							\
	}										\
	BP_CALLER(PFX, c1, 16)								\
	BP_CALLER(PFX, c2, 512)								\
	static int (*volatile PFX##_callers[2])(void) = { PFX##_c1, PFX##_c2 };		\
	static NOFP int PFX##_1(int pick)						\
	{										\
		int r = PFX##_callers[pick]();	/* one call site for both */		\
											\
		bp_seen += pick + 1;							\
		return r;								\
	}

/* Two walks that differ in one saved rbp alone. bp_f keeps its frame pointer and takes
 * its caller's frame off rbp (an alloca), and sizes its alloca so that its stack pointer,
 * and with it the frames of unw_shapes_bp_push and of the leaf under it, are at one place
 * whichever of two callers it has: bp_c1 with a small frame, or bp_c2 with a large one
 * whose extra words it never writes, both called from one place in bp_1. So a walk after
 * one through the other caller meets the last walk's leaf frame (same return address,
 * same stack pointer; the leaf frame's rbp is not read on, as unw_shapes_bp_push restores
 * rbp from its slot), and every return address the last walk read outside it still holds
 * what it held (bp_c2's unwritten words keep bp_c1's chain); only bp_f's rbp, in
 * unw_shapes_bp_push's slot, differs. A walk that took the last walk's outer frames
 * without checking that word would show the other caller. */
BP_CHAIN(bp, unw_shapes_bp_push(leaf_bp_twins))

/* The same two callers, with the leaf right under the frame-pointer function: the leaf
 * leaves rbp alone (gcc -O2 keeps its values in rbx and r12), so the walk's first frame
 * has bpm_f's rbp in the register, and the walk on reads it (bpm_f's CFA is rbp + 16).
 * That first frame has the last walk's return address and stack pointer, and every word
 * outside it holds what it held; its rbp alone differs, and is in no word: a walk that
 * took the last walk's outer frames without comparing the frame's rbp (lib/unwind.c: the
 * frame where a walk meets the last one, and hp_unwind_again's first frame) would show
 * the other caller. */
BP_CHAIN(bpm, leaf_bp_match())

static const int bp_pattern[6] = { 0, 1, 0, 1, 1, 0 };

/* --- main --------------------------------------------------------------------------- */

static void handle(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0)
		die("sigaction failed");
}

int main(int argc, char **argv)
{
	static char altstack[64 * 1024];
	struct sigaction sa;
	stack_t ss;
	pthread_t t;
	FILE *out;
	void *warm[4];

	if (argc != 2) {
		fprintf(stderr, "usage: unw_shapes EXPECT_FILE\n");
		return 2;
	}
	if (!(out = fopen(argv[1], "w")))
		die("cannot open the expectation file");
	backtrace(warm, 4);	/* glibc loads libgcc_s now, not in a site */
	handle(SIGUSR2, on_signal, 0);
	handle(SIGURG, on_signal, SA_ONSTACK);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigill;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGILL, &sa, NULL) != 0)
		die("sigaction failed");
	ss.ss_sp = altstack;
	ss.ss_size = sizeof(altstack);
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) != 0)
		die("sigaltstack failed");

	/* Each site's calls in a row: the first walk is slow (new return addresses), the
	 * later ones fast unless the site is marked slow. */
	for (int i = 0; i < calls_of(S_OMIT); i++)
		sink = omit_1(i);
	for (int i = 0; i < calls_of(S_FP); i++)
		sink = fp_1(i);
	for (int i = 0; i < calls_of(S_MIXED); i++)
		sink = mixed_1(i);
	for (int i = 0; i < calls_of(S_ALLOCA); i++)
		sink = alloca_1((size_t)(16 + 1000 * i + 8 * (i & 1)));
	for (int i = 0; i < calls_of(S_HUGE_OMIT); i++)
		sink = huge_omit_1(i);
	for (int i = 0; i < calls_of(S_HUGE_FP); i++)
		sink = huge_fp_1(i);
	for (int i = 0; i < calls_of(S_REALIGN); i++)
		sink = realign_1(i);
	for (int i = 0; i < calls_of(S_DRAP); i++)
		sink = asm_1(unw_shapes_drap, leaf_drap);
	for (int i = 0; i < calls_of(S_ALIGN_FP); i++)
		sink = align_fp_1(i);
	for (int i = 0; i < calls_of(S_ALIGN_NOFP); i++)
		sink = align_nofp_1(i);
	for (int i = 0; i < calls_of(S_RECURSE); i++)
		sink = rec_a(99);
	for (int i = 0; i < calls_of(S_TAIL); i++)
		sink = tail_1(i);
	for (int i = 0; i < calls_of(S_RAISE); i++)
		sink = raise_1(i);
	for (int i = 0; i < calls_of(S_ALTSTACK); i++)
		sink = altstack_1(i);
	for (int i = 0; i < calls_of(S_TRAP_ENTRY); i++)
		sink = trap_1(unw_shapes_trap_entry, leaf_trap_entry);
	for (int i = 0; i < calls_of(S_TRAP_MID); i++)
		sink = trap_1(unw_shapes_trap_mid, leaf_trap_mid);
	for (int i = 0; i < calls_of(S_TRAP_EDGE); i++)
		sink = trap_1(unw_shapes_trap_edge, leaf_trap_edge);
	for (int i = 0; i < calls_of(S_RBP24); i++)
		sink = asm_1(unw_shapes_rbp24, leaf_rbp24);
	for (int i = 0; i < calls_of(S_RBP1016); i++)
		sink = asm_1(unw_shapes_rbp1016, leaf_rbp1016);
	for (int i = 0; i < calls_of(S_RBP40016); i++)
		sink = asm_1(unw_shapes_rbp40016, leaf_rbp40016);
	for (int i = 0; i < calls_of(S_SP32752); i++)
		sink = asm_1(unw_shapes_sp32752, leaf_sp32752);
	for (int i = 0; i < calls_of(S_SP32768); i++)
		sink = asm_1(unw_shapes_sp32768, leaf_sp32768);
	for (int i = 0; i < calls_of(S_BP16384); i++)
		sink = asm_1(unw_shapes_bp16384, leaf_bp16384);
	for (int i = 0; i < calls_of(S_BP16392); i++)
		sink = asm_1(unw_shapes_bp16392, leaf_bp16392);
	for (int i = 0; i < calls_of(S_RA1016); i++)
		sink = asm_1(unw_shapes_ra1016, leaf_ra1016);
	for (int i = 0; i < calls_of(S_RA1032); i++)
		sink = asm_1(unw_shapes_ra1032, leaf_ra1032);
	if (pthread_create(&t, NULL, thread_1, NULL) != 0 || pthread_join(t, NULL) != 0)
		die("thread failed");
	sink = qsort_1(1);
	sink = qsort_1(2);
	for (int i = 0; i < calls_of(S_TWINS); i++)
		sink = twins_1(twins_pattern[i]);
	bp_floor = ((uintptr_t)__builtin_frame_address(0) - 16384) & ~(uintptr_t)15;
	for (int i = 0; i < calls_of(S_BP_TWINS); i++)
		sink = bp_1(bp_pattern[i]);
	for (int i = 0; i < calls_of(S_BP_MATCH); i++)
		sink = bpm_1(bp_pattern[i]);

	fprintf(out, "main %p\n", (void *)main);
	for (int s = 0; s < NSITES; s++)
		fprintf(out, "site %d %s %s %zu %s\n", s, sites[s].name, sites[s].walks,
			site_size(s), sites[s].leaf);
	for (int i = 0; i < nrec; i++) {
		fprintf(out, "call %d %d %lu %d", rec_site[i], rec_seq[i], rec_slow[i], rec_n[i]);
		for (int j = 0; j < rec_n[i]; j++)
			fprintf(out, " %p", rec_bt[i][j]);
		fputc('\n', out);
	}
	for (int s = 0; s < NSITES; s++)
		if (seq_of[s] < (s == S_QSORT ? 2 : sites[s].calls))
			failed = 1;
	if (fclose(out) != 0)
		die("cannot write the expectation file");
	for (int i = 0; i < nrec; i++)
		free(kept[i]);
	if (failed)
		die("a site was not reached, or a backtrace was empty or truncated");
	return 0;
}
