/* lib/http: the HTTP endpoint (HEAPPROF=http=ADDR:PORT): /debug/pprof/heap, /allocs
 * (?seconds=N deltas) and an index, served by a thread of its own ("heapprof-http") with
 * one poll() loop over non-blocking sockets. doc/HTTP.md says what it answers. */
#ifndef HP_HTTP_H
#define HP_HTTP_H

/* Starts serving on addr:port (config http=; port 0: any free one), once per process;
 * says on stderr where it serves. 0 or -errno (reported once on stderr, with the fix; the
 * program runs on without the endpoint). Call after the profiler and the helper thread
 * are up, from a constructor (not from inside malloc). */
int hp_http_start(const char *addr, int port);

/* fork child handler: the child does not serve (it closes its copies of the listening
 * socket and of the connections). */
void hp_http_fork_child(void);

#endif
