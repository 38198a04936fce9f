/* tests/progs/sem_ctor_main.c: allocations before main, after main, and after heapprof's
 * exit profile, for tests/hazards/ctor_dtor.sh. Linked with libsem_ctor_lib.so
 * (tests/progs/sem_ctor_lib.c: 20 x 3000 bytes from lib_ctor_alloc in its constructor,
 * freed by its destructor); sem_ctor_main_linked is also linked with -lheapprof.
 *
 *   site               when                                   blocks     freed
 *   main_ctor_alloc    constructor (before main)              30 x 5000  by late_dtor
 *   main_alloc         main                                   40 x 7000  by the atexit handler
 *   atexit_alloc       atexit handler                         50 x 1100  by very_late
 *   main_dtor_churn    destructor (default priority)          10 x 2000  at once
 *   late_dtor_alloc    destructor(101): runs after the other  60 x 900   by very_late
 *                      destructors of this program
 *   very_late_alloc    very_late, an atexit handler that      70 x 1300  half of them
 *                      late_dtor registers while the loader
 *                      runs destructors: glibc calls it after
 *                      all of them, heapprof's included
 *
 * heapprof writes its exit profile from its destructor, after the program's atexit
 * handlers and this program's destructors (the main program's are run first), so the
 * profile has every site but very_late_alloc. Each stage writes its name on stdout with
 * write(2) ("main ctor", "main", "atexit handler", "main destructor", "late destructor",
 * "very late handler", and the library's "lib destructor"). Exit status 0 from main. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
#define SITE __attribute__((noinline, noclone, used))
#else
#define SITE __attribute__((noinline, used))
#endif

int sem_ctor_lib_live(void);

void main_ctor_alloc(void);
void main_alloc(void);
void atexit_alloc(void);
void main_dtor_churn(void);
void late_dtor_alloc(void);
void very_late_alloc(void);

enum { CTOR_N = 30, MAIN_N = 40, ATEXIT_N = 50, CHURN_N = 10, LATE_N = 60, VLATE_N = 70 };

static char *ctor_blocks[CTOR_N], *main_blocks[MAIN_N], *atexit_blocks[ATEXIT_N];
static char *late_blocks[LATE_N], *vlate_blocks[VLATE_N];

static void say(const char *s)
{
	if (write(1, s, strlen(s)) < 0)
		abort();
}

/* Checks the blocks are intact, frees them; aborts on damage. */
static void put(char **b, int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		if (!b[i] || b[i][size - 1] != (char)i)
			abort();
		free(b[i]);
		b[i] = NULL;
	}
}

/* Each site calls malloc itself: it is the first frame of its samples. */
SITE void main_ctor_alloc(void)
{
	for (int i = 0; i < CTOR_N; i++) {
		ctor_blocks[i] = malloc(5000);
		if (!ctor_blocks[i])
			abort();
		memset(ctor_blocks[i], i, 5000);
	}
}

SITE void main_alloc(void)
{
	for (int i = 0; i < MAIN_N; i++) {
		main_blocks[i] = malloc(7000);
		if (!main_blocks[i])
			abort();
		memset(main_blocks[i], i, 7000);
	}
}

SITE void atexit_alloc(void)
{
	for (int i = 0; i < ATEXIT_N; i++) {
		atexit_blocks[i] = malloc(1100);
		if (!atexit_blocks[i])
			abort();
		memset(atexit_blocks[i], i, 1100);
	}
}

SITE void main_dtor_churn(void)
{
	for (int i = 0; i < CHURN_N; i++) {
		char *volatile p = malloc(2000);

		if (!p)
			abort();
		p[0] = 1;
		free(p);
	}
}

SITE void late_dtor_alloc(void)
{
	for (int i = 0; i < LATE_N; i++) {
		late_blocks[i] = malloc(900);
		if (!late_blocks[i])
			abort();
		memset(late_blocks[i], i, 900);
	}
}

SITE void very_late_alloc(void)
{
	for (int i = 0; i < VLATE_N; i++) {
		vlate_blocks[i] = malloc(1300);
		if (!vlate_blocks[i])
			abort();
		memset(vlate_blocks[i], i, 1300);
	}
}

__attribute__((constructor)) static void main_ctor(void)
{
	main_ctor_alloc();
	say("main ctor\n");
}

/* After heapprof's exit profile: frees blocks of every kind (sampled ones at rate=1),
 * allocates, frees again. Nothing may crash or print. */
static void very_late(void)
{
	put(atexit_blocks, ATEXIT_N, 1100);
	put(late_blocks, LATE_N, 900);
	very_late_alloc();
	put(vlate_blocks, VLATE_N / 2, 1300);
	vlate_blocks[0] = realloc(vlate_blocks[VLATE_N - 1], 100000);
	vlate_blocks[VLATE_N - 1] = NULL;
	free(vlate_blocks[0]);
	say("very late handler\n");
}

static void at_exit_handler(void)
{
	put(main_blocks, MAIN_N, 7000);
	atexit_alloc();
	say("atexit handler\n");
}

__attribute__((destructor)) static void main_dtor(void)
{
	main_dtor_churn();
	say("main destructor\n");
}

__attribute__((destructor(101))) static void late_dtor(void)
{
	put(ctor_blocks, CTOR_N, 5000);
	late_dtor_alloc();
	if (atexit(very_late) != 0)
		abort();
	say("late destructor\n");
}

int main(void)
{
	if (sem_ctor_lib_live() != 20)
		abort();
	main_alloc();
	if (atexit(at_exit_handler) != 0)
		abort();
	say("main\n");
	return 0;
}
