/* tools/run: `heapprof run [OPTIONS] -- CMD ARGS...`: runs a program under libheapprof
 * (LD_PRELOAD with the library's absolute path, HEAPPROF with the settings), passes its
 * exit status through, then says where its profiles went and shows the top sites of the
 * final one. Children that exec inherit both variables, so each process writes its own
 * files (the pid is in their names). */
#ifndef HPT_RUN_H
#define HPT_RUN_H

int run_main(int argc, char **argv);

#endif
