/* tests/progs/unw_jit.c: allocations from generated machine code (a JIT's), which no
 * loaded object and no unwind table describes.
 *
 *   unw_jit GENERATIONS CALLS
 *
 * GENERATIONS times: mmap an anonymous page, write three x86-64 functions into it,
 * mprotect it PROT_READ|PROT_EXEC, call each CALLS times, munmap it. The functions:
 *   plain(n)        push rbx; mov rax, &malloc; call rax; pop rbx; ret
 *   badrbp(n, bad)  push rbp; mov rbp, bad; mov rax, &malloc; call rax; pop rbp; ret
 *                   (called with bad = 1, an unmapped address, the JIT page itself, and a
 *                   fake frame whose return address points back into the JIT page: a loop)
 *   nested(n)       push rbx; mov rax, plain; call rax; pop rbx; ret (two JIT frames)
 * so that a sampled malloc has a return address into anonymous memory, with a sane, a
 * garbage or a looping frame pointer. Every block is kept (in an mmap'd array: the program
 * mallocs nothing else) until exit, so the exit profile (HEAPPROF=rate=1) must hold exactly
 * the bytes and blocks allocated, each sample's first location inside one of the JIT
 * pages, although every page is unmapped by then.
 *
 * Output on stdout: "page LO HI" for each generation (the JIT page, hex, as mapped), then
 * "jit BYTES BLOCKS". Exit 0 from main (an exit profile is written); 2: usage; 3: setup. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { PAGE = 4096, OFF_PLAIN = 0, OFF_BADRBP = 64, OFF_NESTED = 128, NBAD = 4 };

typedef void *(*alloc_fn)(size_t);
typedef void *(*alloc_bad_fn)(size_t, uintptr_t);

static void **kept;
static size_t nkept, maxkept;
static unsigned long jit_bytes, jit_blocks;
static uintptr_t fake_frame[2];

static size_t emit(uint8_t *at, const uint8_t *code, size_t n)
{
	memcpy(at, code, n);
	return n;
}

static size_t emit_imm64(uint8_t *at, uint64_t v)
{
	memcpy(at, &v, sizeof(v));
	return sizeof(v);
}

/* Writes the three functions into page (writable). */
static void generate(uint8_t *page)
{
	static const uint8_t push_rbx[] = { 0x53 }, pop_rbx_ret[] = { 0x5b, 0xc3 };
	static const uint8_t push_rbp_mov_rbp_rsi[] = { 0x55, 0x48, 0x89, 0xf5 };
	static const uint8_t pop_rbp_ret[] = { 0x5d, 0xc3 }, movabs_rax[] = { 0x48, 0xb8 };
	static const uint8_t call_rax[] = { 0xff, 0xd0 };
	uint64_t m = (uint64_t)(uintptr_t)&malloc;
	uint8_t *p;

	memset(page, 0xcc, PAGE);	/* int3 everywhere else */
	p = page + OFF_PLAIN;
	p += emit(p, push_rbx, sizeof(push_rbx));
	p += emit(p, movabs_rax, sizeof(movabs_rax));
	p += emit_imm64(p, m);
	p += emit(p, call_rax, sizeof(call_rax));
	emit(p, pop_rbx_ret, sizeof(pop_rbx_ret));

	p = page + OFF_BADRBP;
	p += emit(p, push_rbp_mov_rbp_rsi, sizeof(push_rbp_mov_rbp_rsi));
	p += emit(p, movabs_rax, sizeof(movabs_rax));
	p += emit_imm64(p, m);
	p += emit(p, call_rax, sizeof(call_rax));
	emit(p, pop_rbp_ret, sizeof(pop_rbp_ret));

	p = page + OFF_NESTED;
	p += emit(p, push_rbx, sizeof(push_rbx));
	p += emit(p, movabs_rax, sizeof(movabs_rax));
	p += emit_imm64(p, (uint64_t)(uintptr_t)(page + OFF_PLAIN));
	p += emit(p, call_rax, sizeof(call_rax));
	emit(p, pop_rbx_ret, sizeof(pop_rbx_ret));
}

static void *map_pages(size_t n, int prot)
{
	void *p = mmap(NULL, n * PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("unw_jit: mmap");
		exit(3);
	}
	return p;
}

static void keep(void *p, size_t n)
{
	if (!p || nkept == maxkept) {
		fprintf(stderr, "unw_jit: %s\n", p ? "kept array full" : "malloc failed");
		exit(3);
	}
	kept[nkept++] = p;
	jit_bytes += n;
	jit_blocks++;
}

static void say(const char *line, int n)
{
	if (n <= 0 || write(1, line, (size_t)n) != n)
		exit(3);
}

int main(int argc, char **argv)
{
	unsigned long gens, calls;
	uintptr_t unmapped;
	char *end, line[160];
	void *volatile warm;

	if (argc != 3 || (gens = strtoul(argv[1], &end, 10)) == 0 || *end || gens > 1000 ||
	    (calls = strtoul(argv[2], &end, 10)) == 0 || *end || calls > 1000000) {
		fprintf(stderr, "usage: unw_jit GENERATIONS CALLS\n");
		return 2;
	}
	warm = malloc(8);	/* the thread's first allocation, not counted */
	free(warm);
	maxkept = gens * calls * (2 + NBAD);
	kept = map_pages((maxkept * sizeof(void *) + PAGE - 1) / PAGE, PROT_READ | PROT_WRITE);
	unmapped = (uintptr_t)map_pages(1, PROT_READ);
	munmap((void *)unmapped, PAGE);

	for (unsigned long g = 0; g < gens; g++) {
		uint8_t *page = map_pages(1, PROT_READ | PROT_WRITE);
		alloc_fn plain, nested;
		alloc_bad_fn badrbp;
		uintptr_t bad[NBAD];

		generate(page);
		if (mprotect(page, PAGE, PROT_READ | PROT_EXEC) != 0) {
			perror("unw_jit: mprotect");
			return 3;
		}
		*(void **)&plain = page + OFF_PLAIN;
		*(void **)&badrbp = page + OFF_BADRBP;
		*(void **)&nested = page + OFF_NESTED;
		fake_frame[0] = (uintptr_t)fake_frame;			/* [rbp] = rbp */
		fake_frame[1] = (uintptr_t)page + OFF_BADRBP + 16;	/* back into the JIT */
		bad[0] = 1;
		bad[1] = unmapped;
		bad[2] = (uintptr_t)page;
		bad[3] = (uintptr_t)fake_frame;
		say(line, snprintf(line, sizeof(line), "page 0x%lx 0x%lx\n", (unsigned long)page,
				   (unsigned long)page + PAGE));
		for (unsigned long i = 0; i < calls; i++) {
			size_t n = 32 + (i % 32) * 8;

			keep(plain(n), n);
			keep(nested(n + 1), n + 1);
			for (int b = 0; b < NBAD; b++)
				keep(badrbp(n + 2 + (size_t)b, bad[b]), n + 2 + (size_t)b);
		}
		munmap(page, PAGE);
	}
	say(line, snprintf(line, sizeof(line), "jit %lu %lu\n", jit_bytes, jit_blocks));
	return 0;
}
