/* tests/progs/proc_sigsend.c: sends a signal to a process as fast as it can, for the
 * signal storm of tests/hazards/proc_signals.sh and tests/hazards/proc_stress.sh.
 *
 *   proc_sigsend PID USR1|USR2 SECONDS
 *
 * Sends through a pidfd (pidfd_open, pidfd_send_signal), so that a pid reused after the
 * target exited is never signalled; stops after SECONDS or when the target is gone.
 * Prints "sent: N". Exit status 0 if at least one signal was sent, 1 otherwise, 2 on a
 * usage error or when the pidfd cannot be opened. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long sent = 0;
	double end;
	int sig, fd;

	if (argc != 4) {
		fprintf(stderr, "usage: proc_sigsend PID USR1|USR2 SECONDS\n");
		return 2;
	}
	sig = strcmp(argv[2], "USR1") == 0 ? SIGUSR1 : strcmp(argv[2], "USR2") == 0 ? SIGUSR2 : 0;
	if (!sig) {
		fprintf(stderr, "proc_sigsend: signal %s: USR1 or USR2\n", argv[2]);
		return 2;
	}
	fd = (int)syscall(SYS_pidfd_open, atoi(argv[1]), 0);
	if (fd < 0) {
		fprintf(stderr, "proc_sigsend: pidfd_open %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	end = now() + strtod(argv[3], NULL);
	while (now() < end) {
		for (int i = 0; i < 64; i++) {
			if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) != 0)
				goto done;	/* ESRCH: the target exited */
			sent++;
		}
	}
done:
	printf("sent: %lu\n", sent);
	return sent > 0 ? 0 : 1;
}
