/* tests/progs/textprof_app.c: known allocation sites for tests/integration/textprof.sh
 * (the legacy text format written by the library, HEAPPROF=format=text|both), run as
 *   HEAPPROF=format=both,rate=N LD_PRELOAD=libheapprof.so textprof_app
 * with its exit profile as the dump under test. Three sites, each a noinline function
 * calling malloc directly (so the site is the first frame of its stacks):
 *
 *   keep_buffers()  40 x 1 MiB, kept: 41943040 bytes in use at exit;
 *   keep_strings()  20000 blocks of mixed sizes 16 + (i * 37) % 2000 bytes, kept:
 *                   20310000 bytes in use at exit (one stack, sizes mixed: the readers
 *                   unbias it by its mean size);
 *   churn()         3000 x 32 KiB allocated and freed: 98304000 bytes allocated, 0 in use.
 *
 * So inuse_space's top function is keep_buffers, alloc_space's churn, and the objects'
 * keep_strings. Prints nothing; returns 0 from main (an exit profile is written). */
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#define SITE __attribute__((noinline, noclone, used))
#else
#define SITE __attribute__((noinline, used))
#endif

enum { BUFFERS = 40, BUFFER_SIZE = 1024 * 1024, STRINGS = 20000, CHURN = 3000,
       CHURN_SIZE = 32 * 1024 };

/* Globals, so that the compiler cannot drop what is kept. */
char *buffers[BUFFERS];
char *strings[STRINGS];
volatile unsigned long sink;

void keep_buffers(void);
void keep_strings(void);
void churn(void);

SITE void keep_buffers(void)
{
	for (int i = 0; i < BUFFERS; i++) {
		buffers[i] = malloc(BUFFER_SIZE);
		if (!buffers[i])
			abort();
		buffers[i][0] = (char)i;
	}
}

SITE void keep_strings(void)
{
	for (int i = 0; i < STRINGS; i++) {
		size_t n = 16 + (size_t)(i * 37) % 2000;
		strings[i] = malloc(n);
		if (!strings[i])
			abort();
		memset(strings[i], 'a', n);
	}
}

SITE void churn(void)
{
	for (int i = 0; i < CHURN; i++) {
		char *volatile p = malloc(CHURN_SIZE);
		if (!p)
			abort();
		p[0] = (char)i;
		sink += (unsigned char)p[0];
		free(p);
	}
}

int main(void)
{
	keep_buffers();
	keep_strings();
	churn();
	return 0;
}
