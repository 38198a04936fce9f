/* tests/progs/demo_leak.c: the demo program of the README and of
 * tests/integration/cli.sh: a small "server" with one leak, one allocation-heavy but
 * leak-free function, and one data structure legitimately kept until exit.
 *
 *   leak_sessions()   allocates a 1 MiB session buffer per iteration, 40 times, and keeps
 *                     every one (in use at exit: exactly 41943040 bytes, 40.0MiB);
 *   parse_requests()  allocates and frees a 64 KiB scratch buffer 1000 times (allocated:
 *                     65536000 bytes, in use at exit: 0);
 *   build_index()     builds a linked list of 10000 nodes of 48 bytes, kept until exit
 *                     (in use at exit: 480000 bytes).
 *
 * So `heapprof top` shows leak_sessions first for inuse_space and parse_requests first for
 * alloc_space. Each site is its own noinline function calling malloc directly, so the
 * site is the first frame of its stacks. Runs in a few milliseconds, prints nothing,
 * returns 0 from main (an exit profile is written). */
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#define SITE __attribute__((noinline, noclone, used))
#else
#define SITE __attribute__((noinline, used))
#endif

enum {
	SESSIONS = 40,
	SESSION_SIZE = 1024 * 1024,
	REQUESTS = 1000,
	SCRATCH_SIZE = 64 * 1024,
	INDEX_NODES = 10000,
};

struct node {
	struct node *next;
	long key;
	char payload[32];
};

/* Globals, so that neither the compiler nor a leak checker can drop what is kept. */
char *sessions[SESSIONS];
struct node *index_head;
volatile unsigned long sink;

void leak_sessions(void);
void parse_requests(void);
void build_index(void);

/* The leak: session buffers are stored and never released. */
SITE void leak_sessions(void)
{
	for (int i = 0; i < SESSIONS; i++) {
		char *s = malloc(SESSION_SIZE);
		if (s == NULL)
			abort();
		s[0] = (char)i;
		sessions[i] = s;
	}
}

/* Heavy but clean: volatile so that the compiler cannot elide the malloc/free pair. */
SITE void parse_requests(void)
{
	unsigned long sum = 0;

	for (int i = 0; i < REQUESTS; i++) {
		char *volatile buf = malloc(SCRATCH_SIZE);
		if (buf == NULL)
			abort();
		memset(buf, i & 0xff, 64);
		sum += (unsigned char)buf[i % 64];
		free(buf);
	}
	sink += sum;
}

SITE void build_index(void)
{
	for (long i = 0; i < INDEX_NODES; i++) {
		struct node *n = malloc(sizeof(*n));
		if (n == NULL)
			abort();
		n->key = i;
		n->payload[0] = (char)i;
		n->next = index_head;
		index_head = n;
	}
}

int main(void)
{
	leak_sessions();
	parse_requests();
	build_index();
	sink += (unsigned char)sessions[SESSIONS - 1][0] + (unsigned long)index_head->key;
	return 0;
}
