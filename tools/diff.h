/* tools/diff: `heapprof diff BASE NEW`, the leak hunter: the growth between two profiles
 * of one process, by site (function, or source line with --lines), largest growth first. */
#ifndef HPT_DIFF_H
#define HPT_DIFF_H

int diff_main(int argc, char **argv);

#endif
