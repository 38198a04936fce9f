/* wl_xfree: two threads, cross-thread frees (a workload of bench/run.sh).
 *
 * usage: wl_xfree [N]
 *   N  number of objects (default 20000000)
 *
 * A producer thread allocates N objects of mixed small sizes (16 to 1024 bytes, cycling
 * through 24 sizes), writes the first bytes of each, and hands them over in batches of 256
 * through a bounded mutex/condition-variable queue (at most 64 batches in flight, so the
 * live heap stays small); a consumer thread reads each object and frees it. Every object is
 * freed by a thread other than the one that allocated it. The batch arrays are malloc'd by
 * the producer and freed by the consumer too. Prints the checksum of the bytes read and
 * the object count.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 256
#define DEPTH 64

struct batch {
	unsigned n;
	void *obj[BATCH];
};

static struct batch *queue[DEPTH];
static unsigned q_head, q_len;
static int q_done;
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_nonempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_nonfull = PTHREAD_COND_INITIALIZER;

static long n_objects = 20000000;

static void die(const char *msg)
{
	fprintf(stderr, "wl_xfree: %s\n", msg);
	exit(2);
}

static void push(struct batch *b)
{
	pthread_mutex_lock(&q_mu);
	while (q_len == DEPTH)
		pthread_cond_wait(&q_nonfull, &q_mu);
	queue[(q_head + q_len) % DEPTH] = b;
	q_len++;
	pthread_cond_signal(&q_nonempty);
	pthread_mutex_unlock(&q_mu);
}

/* NULL when the producer is done and the queue is empty. */
static struct batch *pop(void)
{
	struct batch *b = NULL;
	pthread_mutex_lock(&q_mu);
	while (q_len == 0 && !q_done)
		pthread_cond_wait(&q_nonempty, &q_mu);
	if (q_len > 0) {
		b = queue[q_head];
		q_head = (q_head + 1) % DEPTH;
		q_len--;
		pthread_cond_signal(&q_nonfull);
	}
	pthread_mutex_unlock(&q_mu);
	return b;
}

static void *producer(void *arg)
{
	static const unsigned sizes[] = { 16,  24,  32,  40,  48,  64,  80,  96,
					  112, 128, 160, 192, 224, 256, 320, 384,
					  448, 512, 640, 768, 896, 1024, 48, 32 };
	const unsigned nsizes = sizeof sizes / sizeof sizes[0];
	struct batch *b = NULL;
	unsigned k = 0;

	for (long i = 0; i < n_objects; i++) {
		if (b == NULL) {
			b = malloc(sizeof *b);
			if (b == NULL)
				die("malloc failed");
			b->n = 0;
		}
		unsigned size = sizes[k];
		k = k + 1 == nsizes ? 0 : k + 1;
		unsigned char *p = malloc(size);
		if (p == NULL)
			die("malloc failed");
		memset(p, (int)(i & 0xff), 16);
		b->obj[b->n++] = p;
		if (b->n == BATCH) {
			push(b);
			b = NULL;
		}
	}
	if (b != NULL)
		push(b);
	pthread_mutex_lock(&q_mu);
	q_done = 1;
	pthread_cond_broadcast(&q_nonempty);
	pthread_mutex_unlock(&q_mu);
	return arg;
}

static void *consumer(void *arg)
{
	uint64_t *sum = arg;
	struct batch *b;

	while ((b = pop()) != NULL) {
		for (unsigned i = 0; i < b->n; i++) {
			const unsigned char *p = b->obj[i];
			*sum += p[0] + p[15];
			free(b->obj[i]);
		}
		free(b);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t tp, tc;
	uint64_t sum = 0;

	if (argc > 1) {
		char *end;
		n_objects = strtol(argv[1], &end, 10);
		if (end == argv[1] || *end != '\0' || n_objects < 0)
			die("usage: wl_xfree [N]");
	}
	if (pthread_create(&tc, NULL, consumer, &sum) != 0 ||
	    pthread_create(&tp, NULL, producer, NULL) != 0)
		die("pthread_create failed");
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	printf("%llu %ld\n", (unsigned long long)sum, n_objects);
	return 0;
}
