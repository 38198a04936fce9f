/* tests/progs/pidfile.h: write_pidfile(PATH) for the test programs a script signals: the
 * pid goes to PATH.tmp, which is then renamed to PATH, so a script that waits for PATH
 * never reads a half-written file. Called from main, once the library (and so its signal
 * handler) is set up. 0 when done, -1 on an error (errno set). */
#ifndef HP_TEST_PIDFILE_H
#define HP_TEST_PIDFILE_H
#include <stdio.h>
#include <unistd.h>

static int write_pidfile(const char *path)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -1;
	f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}
#endif
