/* tools/top: `heapprof top`, the functions of a profile by flat value, like
 * `go tool pprof -top`. */
#ifndef HPT_TOP_H
#define HPT_TOP_H

/* argv[0] is "top"; returns the exit status. */
int top_main(int argc, char **argv);

#endif
