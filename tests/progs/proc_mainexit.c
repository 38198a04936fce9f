/* tests/progs/proc_mainexit.c: main ends with pthread_exit while a worker thread runs on.
 *
 *   proc_mainexit
 *
 * glibc ends the process with exit(0) when its last thread ends; heapprof's helper thread
 * must not keep it alive (tests/hazards/proc_exit.sh). The worker allocates, sleeps 0.2 s
 * and returns; an atexit handler prints "atexit ran". Exit status 0. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *worker(void *arg)
{
	free(malloc(1000));
	usleep(200000);
	return arg;
}

static void said_bye(void)
{
	printf("atexit ran\n");
	fflush(stdout);
}

int main(void)
{
	pthread_t t;

	atexit(said_bye);
	free(malloc(1000));
	if (pthread_create(&t, NULL, worker, NULL) != 0)
		return 3;
	pthread_exit(NULL);
}
