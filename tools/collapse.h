/* tools/collapse: `heapprof collapse`, folded stacks ("outer;...;leaf value") for
 * flamegraph.pl, speedscope and friends. */
#ifndef HPT_COLLAPSE_H
#define HPT_COLLAPSE_H

/* argv[0] is "collapse"; returns the exit status. */
int collapse_main(int argc, char **argv);

#endif
