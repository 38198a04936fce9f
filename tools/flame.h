/* tools/flame: `heapprof flame`, a self-contained SVG flame graph of a profile. */
#ifndef HPT_FLAME_H
#define HPT_FLAME_H

/* argv[0] is "flame"; returns the exit status. */
int flame_main(int argc, char **argv);

#endif
