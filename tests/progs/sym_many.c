/* tests/progs/sym_many.c: 4096 distinct malloc call sites in one function, for the speed
 * of heapprof symbolize on a profile with thousands of locations
 * (tests/integration/cli_symbolize.sh). Each site allocates 16 bytes once; every
 * allocation is kept. Usage: sym_many (no arguments); exits 0. */
#include <stdlib.h>

void *sym_sink[4096];
static unsigned sym_i;

/* A call site of its own for each expansion: the index keeps the stores apart. */
#define S1 sym_sink[sym_i++ & 4095] = malloc(16);
#define S4 S1 S1 S1 S1
#define S16 S4 S4 S4 S4
#define S64 S16 S16 S16 S16
#define S256 S64 S64 S64 S64
#define S1024 S256 S256 S256 S256
#define S4096 S1024 S1024 S1024 S1024

__attribute__((noinline)) void sym_many_sites(void);

void sym_many_sites(void)
{
	S4096
}

int main(void)
{
	sym_many_sites();
	return 0;
}
