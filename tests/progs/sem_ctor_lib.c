/* tests/progs/sem_ctor_lib.c: libsem_ctor_lib.so, a shared library that allocates in its
 * constructor and frees in its destructor, for tests/hazards/ctor_dtor.sh (with
 * tests/progs/sem_ctor_main.c, which is linked with it).
 *
 *   lib_ctor_alloc()   (from the constructor) 20 blocks of 3000 bytes, kept until the
 *                      destructor;
 *   lib_dtor_churn()   (from the destructor, after freeing them) 5 blocks of 2500 bytes,
 *                      each freed at once.
 * The destructor writes "lib destructor" on stdout (write(2): stdio may be gone). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
#define SITE __attribute__((noinline, noclone, used))
#else
#define SITE __attribute__((noinline, used))
#endif

enum { LIB_N = 20, LIB_SIZE = 3000, CHURN_N = 5, CHURN_SIZE = 2500 };

static char *lib_blocks[LIB_N];

void lib_ctor_alloc(void);
void lib_dtor_churn(void);
int sem_ctor_lib_live(void);

SITE void lib_ctor_alloc(void)
{
	for (int i = 0; i < LIB_N; i++) {
		lib_blocks[i] = malloc(LIB_SIZE);
		if (!lib_blocks[i])
			abort();
		memset(lib_blocks[i], i, LIB_SIZE);
	}
}

SITE void lib_dtor_churn(void)
{
	for (int i = 0; i < CHURN_N; i++) {
		char *volatile p = malloc(CHURN_SIZE);

		if (!p)
			abort();
		p[0] = 1;
		free(p);
	}
}

/* How many of the constructor's blocks are live and intact (the program checks 20). */
int sem_ctor_lib_live(void)
{
	int n = 0;

	for (int i = 0; i < LIB_N; i++)
		n += lib_blocks[i] && lib_blocks[i][LIB_SIZE - 1] == (char)i;
	return n;
}

__attribute__((constructor)) static void lib_ctor(void)
{
	lib_ctor_alloc();
}

__attribute__((destructor)) static void lib_dtor(void)
{
	static const char msg[] = "lib destructor\n";
	int live = sem_ctor_lib_live();

	for (int i = 0; i < LIB_N; i++) {
		free(lib_blocks[i]);
		lib_blocks[i] = NULL;
	}
	lib_dtor_churn();
	if (live == LIB_N && write(1, msg, sizeof(msg) - 1) < 0)
		abort();
}
