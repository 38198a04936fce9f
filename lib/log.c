/* lib/log: see log.h. vsnprintf into a stack buffer does not allocate for the plain
 * conversions used here (%s %d %u %zu %lu %x). */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int enabled = 1;

static void vlog(const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;
	int saved = errno;

	if (!enabled)
		return;
	memcpy(buf, "heapprof: ", 10);
	vsnprintf(buf + 10, sizeof(buf) - 11, fmt, ap);
	n = strlen(buf);
	buf[n++] = '\n';
	while (write(STDERR_FILENO, buf, n) < 0 && errno == EINTR)
		;
	errno = saved;
}

void hp_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void hp_log_once(int *flag, const char *fmt, ...)
{
	va_list ap;

	if (atomic_exchange((_Atomic int *)flag, 1))
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void hp_log_enable(int on)
{
	enabled = on;
}
