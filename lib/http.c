/* lib/http: see http.h.
 *
 * One thread ("heapprof-http"), created with every signal blocked and inside the
 * re-entrancy guard (its own allocations are never sampled), runs one poll() loop over a
 * non-blocking listening socket and at most MAX_CLIENTS non-blocking connections. A
 * connection goes through
 *   READ   the request, until its empty line (REQ_MAX bytes at most: 431 beyond;
 *          READ_MS from accept: 408),
 *   WAIT   only for ?seconds=N: a base was taken when the request came, the profile is
 *          made N seconds later (other clients are served meanwhile; a client that hangs
 *          up is dropped at once),
 *   WRITE  the answer, head and body (WRITE_MS at most, else dropped),
 *   LINGER after the answer: our side is shut, what the client still sends is read and
 *          thrown away until it closes (LINGER_MS at most), so that an early answer (400,
 *          431) is not lost to a connection reset,
 * then closed ("Connection: close": one request per connection). A profile is encoded
 * once per request, on this thread, with hp_dump_encode (which takes the dump lock).
 *
 * A connection's descriptor is set to -1 before it is closed, so that the fork child
 * handler closes only descriptors that are still ours. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "dump.h"
#include "http.h"
#include "log.h"
#include "prof.h"
#include "sampler.h"
#include "trigger.h"
#include "unwind.h"

enum {
	MAX_CLIENTS = 64,	/* connections served at once; more wait in the backlog */
	BACKLOG = 128,
	REQ_MAX = 8192,		/* request line and headers */
	READ_MS = 5000,		/* from accept to the end of the headers */
	WRITE_MS = 10000,	/* to write the answer */
	LINGER_MS = 2000,	/* to read what the client still sends after the answer */
	SECONDS_MAX = 3600,	/* ?seconds=N: 1..SECONDS_MAX */
};

enum { C_FREE, C_READ, C_WAIT, C_WRITE, C_LINGER };

typedef struct client {
	_Atomic int fd;		/* -1: free slot */
	int state;
	int64_t deadline;	/* ms, CLOCK_MONOTONIC */
	size_t rlen;		/* bytes in req */
	char req[REQ_MAX + 1];
	char head[512];		/* the answer's status line and headers */
	size_t hlen, hoff;
	const uint8_t *body;	/* the answer's body: text, or a buffer from hp_dump_encode */
	uint8_t *dump_buf;	/* body to free with hp_dump_free_buf, or NULL */
	size_t blen, boff;
	int head_only;		/* HEAD: no body */
	char text[1024];	/* text bodies (index, errors) */
	hp_dump_base *base;	/* WAIT: the base of the delta profile */
	int allocs;		/* WAIT: /allocs (else /heap) */
} client;

static client *clients;		/* MAX_CLIENTS of them, while the server runs */
static _Atomic int listen_fd = -1;
static atomic_int started;
static char where[96];		/* "127.0.0.1:6060" or "[::1]:6060", for messages */

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void drop(client *c)
{
	int fd = atomic_exchange(&c->fd, -1);

	if (fd >= 0)
		close(fd);
	if (c->dump_buf)
		hp_dump_free_buf(c->dump_buf);
	if (c->base)
		hp_dump_base_free(c->base);
	c->dump_buf = NULL;
	c->base = NULL;
	c->state = C_FREE;
}

/* --- answers ---------------------------------------------------------------------- */

/* Sets the answer and switches to WRITE. extra: more header lines, each ending in
 * "\r\n", or "". body stays where it is (c->text, a static string or dump_buf). */
static void answer(client *c, int code, const char *reason, const char *type,
		   const char *extra, const void *body, size_t blen)
{
	int n = snprintf(c->head, sizeof(c->head),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "X-Content-Type-Options: nosniff\r\n"
			 "Cache-Control: no-store\r\n"
			 "%s"
			 "Connection: close\r\n\r\n", code, reason, type, blen, extra);

	c->hlen = n > 0 && (size_t)n < sizeof(c->head) ? (size_t)n : 0;
	c->hoff = 0;
	c->body = body;
	c->blen = c->head_only ? 0 : blen;
	c->boff = 0;
	c->state = C_WRITE;
	c->deadline = now_ms() + WRITE_MS;
}

__attribute__((format(printf, 4, 5)))
static void answer_text(client *c, int code, const char *reason, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->text, sizeof(c->text), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(c->text))
		n = sizeof(c->text) - 1;
	answer(c, code, reason, "text/plain; charset=utf-8",
	       code == 405 ? "Allow: GET, HEAD\r\n" : "", c->text, (size_t)n);
}

static void answer_index(client *c)
{
	answer_text(c, 200, "OK",
		    "heapprof: heap profiles of this process (pid %ld), gzip'd pprof\n"
		    "\n"
		    "/debug/pprof/heap    the live heap, sampled (default type inuse_space)\n"
		    "/debug/pprof/allocs  every allocation since the start, sampled (default "
		    "type alloc_space)\n"
		    "\n"
		    "?seconds=N (1..%d) on either: the change over the next N seconds.\n"
		    "\n"
		    "  go tool pprof http://%s/debug/pprof/heap\n"
		    "  curl -o heap.pb.gz http://%s/debug/pprof/heap\n",
		    (long)getpid(), SECONDS_MAX, where, where);
}

/* Makes the profile (delta if base) and answers with it. */
static void answer_profile(client *c, int allocs, const hp_dump_base *base)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char extra[96];
	int err = hp_dump_encode("http", allocs, base, &buf, &len);

	if (err) {
		answer_text(c, 500, "Internal Server Error",
			    "heapprof: the profile could not be made: %s\n", strerror(-err));
		return;
	}
	c->dump_buf = buf;
	snprintf(extra, sizeof(extra), "Content-Disposition: attachment; filename=\"%s%s\"\r\n",
		 allocs ? "allocs" : "heap", base ? "-delta" : "");
	answer(c, 200, "OK", "application/octet-stream", extra, buf, len);
}

/* --- requests --------------------------------------------------------------------- */

static int is_tchar(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Where the headers end (just past their empty line), or 0 if not yet. Bare LF line
 * ends are accepted as well as CRLF. */
static size_t headers_end(const char *s, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (s[i] != '\n')
			continue;
		if (s[i + 1] == '\n')
			return i + 2;
		if (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* The next line of s (NUL-terminated, made of lines ending in LF), its CR LF removed;
 * advances *s. */
static char *next_line(char **s)
{
	char *line = *s, *nl = strchr(line, '\n');

	if (!nl)
		return NULL;
	*s = nl + 1;
	if (nl > line && nl[-1] == '\r')
		nl--;
	*nl = '\0';
	return line;
}

/* seconds=: 1..SECONDS_MAX, digits only; else -1. */
static int parse_seconds(const char *v, size_t n)
{
	long s = 0;

	if (n == 0 || n > 4)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		s = s * 10 + (v[i] - '0');
	}
	return s >= 1 && s <= SECONDS_MAX ? (int)s : -1;
}

/* The query of /heap and /allocs: seconds=N, gc= (accepted, ignored: there is no
 * collector to run), debug=0 (the only format served); other keys are ignored, as Go
 * does. Sets *seconds (0: none). 0, or -1 after answering 400. */
static int parse_query(client *c, const char *q, int *seconds)
{
	*seconds = 0;
	while (q && *q) {
		const char *amp = strchr(q, '&'), *eq;
		size_t n = amp ? (size_t)(amp - q) : strlen(q), klen, vlen;

		eq = memchr(q, '=', n);
		klen = eq ? (size_t)(eq - q) : n;
		vlen = eq ? n - klen - 1 : 0;
		if (klen == 7 && !memcmp(q, "seconds", 7)) {
			*seconds = parse_seconds(eq ? eq + 1 : "", vlen);
			if (*seconds < 0) {
				answer_text(c, 400, "Bad Request",
					    "heapprof: seconds=%.*s: want a whole number of seconds "
					    "from 1 to %d\n", (int)(vlen > 64 ? 64 : vlen),
					    eq ? eq + 1 : "", SECONDS_MAX);
				return -1;
			}
		} else if (klen == 5 && !memcmp(q, "debug", 5) &&
			   !(vlen == 0 || (vlen == 1 && eq[1] == '0'))) {
			answer_text(c, 400, "Bad Request",
				    "heapprof: debug=%.*s: only debug=0 (gzip'd pprof) is served; "
				    "HEAPPROF=format=text writes the text format to files\n",
				    (int)(vlen > 64 ? 64 : vlen), eq + 1);
			return -1;
		}
		q = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* A complete request (request line and headers) is in c->req: answer it, or start the
 * wait of a delta profile. */
static void handle(client *c, size_t end)
{
	char *s = c->req, *line, *method, *target, *version, *query, *p;
	int seconds, allocs;

	c->req[end] = '\0';
	line = next_line(&s);
	/* method SP target SP version, nothing else */
	method = line;
	target = line ? strchr(line, ' ') : NULL;
	version = target ? strchr(target + 1, ' ') : NULL;
	if (!version || strchr(version + 1, ' ')) {
		answer_text(c, 400, "Bad Request", "heapprof: malformed request line\n");
		return;
	}
	*target++ = '\0';
	*version++ = '\0';
	for (p = method; *p && is_tchar((unsigned char)*p); p++)
		;
	if (p == method || *p || target[0] != '/' ||
	    (strcmp(version, "HTTP/1.1") && strcmp(version, "HTTP/1.0"))) {
		answer_text(c, 400, "Bad Request", "heapprof: malformed request line\n");
		return;
	}
	for (p = target; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			answer_text(c, 400, "Bad Request", "heapprof: malformed request target\n");
			return;
		}
	/* headers: NAME ":" value; no folded lines */
	while ((line = next_line(&s)) && *line) {
		for (p = line; is_tchar((unsigned char)*p); p++)
			;
		if (p == line || *p != ':') {
			answer_text(c, 400, "Bad Request", "heapprof: malformed header line\n");
			return;
		}
	}
	c->head_only = !strcmp(method, "HEAD");
	if (strcmp(method, "GET") && !c->head_only) {
		answer_text(c, 405, "Method Not Allowed",
			    "heapprof: method %.32s not allowed: GET or HEAD\n", method);
		return;
	}
	query = strchr(target, '?');
	if (query)
		*query++ = '\0';
	if (!strcmp(target, "/debug/pprof/") || !strcmp(target, "/debug/pprof")) {
		answer_index(c);
		return;
	}
	if (!strcmp(target, "/debug/pprof/heap"))
		allocs = 0;
	else if (!strcmp(target, "/debug/pprof/allocs"))
		allocs = 1;
	else {
		answer_text(c, 404, "Not Found",
			    "heapprof: not found; /debug/pprof/ lists what is served\n");
		return;
	}
	if (parse_query(c, query, &seconds))
		return;
	if (!seconds) {
		answer_profile(c, allocs, NULL);
		return;
	}
	c->base = hp_dump_base_take();
	if (!c->base) {
		answer_text(c, 503, "Service Unavailable",
			    "heapprof: no memory for the base of a delta profile\n");
		return;
	}
	c->allocs = allocs;
	c->state = C_WAIT;
	c->deadline = now_ms() + (int64_t)seconds * 1000;
}

static void on_readable(client *c)
{
	ssize_t n;
	size_t end;

	for (;;) {
		n = recv(c->fd, c->req + c->rlen, REQ_MAX - c->rlen, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {		/* hung up or failed before a whole request */
			drop(c);
			return;
		}
		end = headers_end(c->req, c->rlen + (size_t)n);
		/* the search restarts a little before the new bytes on the next call: simpler
		 * to search the whole buffer (8 KiB at most) */
		c->rlen += (size_t)n;
		if (end) {
			handle(c, end);
			return;
		}
		if (c->rlen == REQ_MAX) {
			answer_text(c, 431, "Request Header Fields Too Large",
				    "heapprof: request line and headers over %d bytes\n", REQ_MAX);
			return;
		}
	}
}

/* Writes what it can of the answer; then LINGER. */
static void on_writable(client *c)
{
	struct iovec iov[2];
	struct msghdr m;
	ssize_t n;

	for (;;) {
		memset(&m, 0, sizeof(m));
		m.msg_iov = iov;
		if (c->hoff < c->hlen) {
			iov[m.msg_iovlen].iov_base = c->head + c->hoff;
			iov[m.msg_iovlen++].iov_len = c->hlen - c->hoff;
		}
		if (c->boff < c->blen) {
			iov[m.msg_iovlen].iov_base = (void *)(c->body + c->boff);
			iov[m.msg_iovlen++].iov_len = c->blen - c->boff;
		}
		if (m.msg_iovlen == 0)
			break;
		n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			drop(c);
			return;
		}
		if (c->hoff < c->hlen) {
			size_t h = c->hlen - c->hoff < (size_t)n ? c->hlen - c->hoff : (size_t)n;

			c->hoff += h;
			n -= (ssize_t)h;
		}
		c->boff += (size_t)n;
	}
	if (c->dump_buf) {
		hp_dump_free_buf(c->dump_buf);
		c->dump_buf = NULL;
	}
	shutdown(c->fd, SHUT_WR);
	c->state = C_LINGER;
	c->deadline = now_ms() + LINGER_MS;
}

static void on_linger(client *c)
{
	char sink[4096];
	ssize_t n;

	while ((n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0 ||
	       (n < 0 && errno == EINTR))
		;
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		drop(c);
}

/* A slot for a new connection: a free one, else the one that has been sending its
 * request for longest (dropped), so that MAX_CLIENTS connections that send nothing do not
 * lock everyone out for READ_MS; NULL if every connection has its request in. */
static client *free_slot(void)
{
	client *oldest = NULL;

	for (int i = 0; i < MAX_CLIENTS; i++) {
		client *c = &clients[i];

		if (c->state == C_FREE)
			return c;
		if (c->state == C_READ && (!oldest || c->deadline < oldest->deadline))
			oldest = c;
	}
	if (oldest)
		drop(oldest);
	return oldest;
}

static void accept_clients(void)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		client *c;
		int fd;

		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;		/* EAGAIN, or a connection that went away */
		c = free_slot();
		if (!c) {		/* cannot happen: accept only when there is room */
			close(fd);
			return;
		}
		c->rlen = c->hlen = c->hoff = c->blen = c->boff = 0;
		c->body = NULL;
		c->head_only = 0;
		atomic_store(&c->fd, fd);
		c->state = C_READ;
		c->deadline = now_ms() + READ_MS;
	}
}

/* glibc ends a process whose last thread ends, main included, with exit(0); this thread
 * must not keep a process alive whose main called pthread_exit. If only the profiler's
 * threads are left (and main's zombie), it does that exit itself, as the helper thread
 * does (lib/trigger.c; the helper's own test then never holds while this thread runs). */
static void exit_if_alone(void)
{
	int leader_exited, n = hp_process_threads(&leader_exited);
	int own = 1 + (hp_trigger_helper_running() ? 1 : 0);

	if (n > 0 && (n == own || (n == own + 1 && leader_exited)))
		exit(0);
}

static void *serve(void *arg)
{
	struct pollfd pf[MAX_CLIENTS + 1];
	int who[MAX_CLIENTS + 1];
	int64_t now, next_alone = now_ms() + 1000;

	(void)arg;
	hp_tls.guard++;		/* this thread's own allocations are never sampled */
	hp_je_all_blocked();	/* it runs with every signal blocked (hp_http_start) */
	for (;;) {
		int n = 0, busy = 0, reading = 0, timeout;
		int64_t wake = next_alone;

		for (int i = 0; i < MAX_CLIENTS; i++) {
			client *c = &clients[i];
			short ev;

			if (c->state == C_FREE)
				continue;
			busy++;
			reading += c->state == C_READ;
			if (c->deadline < wake)
				wake = c->deadline;
			ev = c->state == C_READ || c->state == C_LINGER ? POLLIN :
			     c->state == C_WRITE ? POLLOUT : POLLRDHUP;
			pf[n] = (struct pollfd){ .fd = c->fd, .events = ev };
			who[n++] = i;
		}
		/* room, or a connection still sending its request that can make room (see
		 * free_slot); else new ones wait in the backlog */
		if (busy < MAX_CLIENTS || reading) {
			pf[n] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
			who[n++] = -1;
		}
		now = now_ms();
		timeout = wake <= now ? 0 : (int)(wake - now);
		if (poll(pf, (nfds_t)n, timeout) < 0 && errno != EINTR)
			continue;	/* cannot fail with valid arguments */
		for (int k = 0; k < n; k++) {
			client *c;

			if (!pf[k].revents)
				continue;
			if (who[k] < 0) {
				accept_clients();
				continue;
			}
			c = &clients[who[k]];
			if (c->state == C_READ) {
				on_readable(c);
				/* a request answered at once: its answer is written now */
				if (c->state == C_WRITE)
					on_writable(c);
			} else if (c->state == C_WAIT) {
				drop(c);	/* hung up while waiting for its delta */
			} else if (c->state == C_WRITE) {
				on_writable(c);
			} else if (c->state == C_LINGER) {
				on_linger(c);
			}
		}
		now = now_ms();
		for (int i = 0; i < MAX_CLIENTS; i++) {
			client *c = &clients[i];

			if (c->state == C_FREE || c->deadline > now)
				continue;
			if (c->state == C_READ) {
				answer_text(c, 408, "Request Timeout",
					    "heapprof: the request took over %d s\n", READ_MS / 1000);
				on_writable(c);
			} else if (c->state == C_WAIT) {
				answer_profile(c, c->allocs, c->base);
				hp_dump_base_free(c->base);
				c->base = NULL;
				if (c->state == C_WRITE)
					on_writable(c);
			} else {
				drop(c);	/* could not write its answer in time, or linger over */
			}
		}
		if (now >= next_alone) {
			exit_if_alone();
			next_alone = now + 1000;
		}
	}
	return NULL;
}

/* --- start, fork ------------------------------------------------------------------ */

static const char *hint(int err)
{
	switch (err) {
	case EADDRINUSE:
		return "choose another port with HEAPPROF=http=PORT, or http=127.0.0.1:0 for any "
		       "free one";
	case EADDRNOTAVAIL:
		return "give an address of this machine, e.g. HEAPPROF=http=127.0.0.1:6060 or "
		       "http=0.0.0.0:6060";
	case EACCES:
		return "ports below 1024 need privileges: choose a port from 1024 up";
	case EAFNOSUPPORT:
		return "this system has no such network: use an IPv4 address, e.g. "
		       "HEAPPROF=http=127.0.0.1:6060";
	default:
		return "check HEAPPROF=http=ADDR:PORT";
	}
}

static int listen_on(const char *addr, int port, int *bound_port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, v6 = strchr(addr, ':') != NULL;

	memset(&ss, 0, sizeof(ss));
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1)
			return -EINVAL;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &a->sin_addr) != 1)
			return -EINVAL;
		len = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	*bound_port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			    ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

int hp_http_start(const char *addr, int port)
{
	int fd, bound = 0, err, v6 = strchr(addr, ':') != NULL;

	if (port < 0 || atomic_exchange(&started, 1))
		return 0;
	snprintf(where, sizeof(where), v6 ? "[%s]:%d" : "%s:%d", addr, port);
	fd = listen_on(addr, port, &bound);
	if (fd < 0) {
		hp_log("http=%s: %s; the HTTP endpoint is off (%s)", where, strerror(-fd),
		       hint(-fd));
		return fd;
	}
	snprintf(where, sizeof(where), v6 ? "[%s]:%d" : "%s:%d", addr, bound);
	hp_tls.guard++;		/* the server's memory is not the program's */
	clients = calloc(MAX_CLIENTS, sizeof(*clients));
	if (!clients) {
		hp_guard_exit();
		close(fd);
		hp_log("http=%s: out of memory; the HTTP endpoint is off", where);
		return -ENOMEM;
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		atomic_store(&clients[i].fd, -1);
	atomic_store(&listen_fd, fd);
	err = hp_thread_start(serve, "heapprof-http");
	if (err) {
		atomic_store(&listen_fd, -1);
		close(fd);
		free(clients);
		clients = NULL;
		hp_guard_exit();
		hp_log("http=%s: cannot start the server thread (%s); the HTTP endpoint is off",
		       where, strerror(err));
		return -err;
	}
	hp_guard_exit();
	hp_log("serving http://%s/debug/pprof/", where);
	return 0;
}

void hp_http_fork_child(void)
{
	int fd = atomic_exchange(&listen_fd, -1);

	if (fd >= 0)
		close(fd);
	if (clients)
		for (int i = 0; i < MAX_CLIENTS; i++) {
			fd = atomic_exchange(&clients[i].fd, -1);
			if (fd >= 0)
				close(fd);
		}
	clients = NULL;		/* the parent's; the child does not serve */
}
