/* tools/symbolize: file, line and inlined frames for a profile's locations, from the
 * DWARF of the mapped objects (libdw of elfutils): binaries found by path and build id,
 * separate debug files under /usr/lib/debug, and debuginfod when DEBUGINFOD_URLS is set.
 * Also the `heapprof symbolize PROFILE -o OUT` command. */
#ifndef HPT_SYMBOLIZE_H
#define HPT_SYMBOLIZE_H
#include <stddef.h>
#include "profile.h"

/* Gives every location of p whose address DWARF resolves one line per frame, the
 * innermost inlined function first and the real function last, each naming a Function
 * with name (mangled for C++, as the library's ELF names are), system_name (the linkage
 * name), filename (the DWARF source path) and start_line (DW_AT_decl_line), and the line
 * number. Functions are shared by (name, filename); functions no line uses any more are
 * dropped; new ones get ids above the old ones. Then calls pf_link, so every name and
 * `where` ("name file:line") is fresh.
 *
 * Locations it cannot resolve are left as they were: the ELF symbol name the library
 * wrote, or no line (named "module+0xoffset"). An object whose file has another build
 * id than its mapping's is never used. Objects that cannot be found or have no debug
 * information get one line each on stderr ("heapprof: symbolize: PATH: why"), unless
 * quiet; that is not an error. Never waits on the network unless DEBUGINFOD_URLS is set.
 *
 * Returns the number of locations resolved (0 is fine), or -1 with the reason in err
 * (out of memory; p may then be half changed: free it). */
int sy_symbolize(pf_profile *p, int quiet, char *err, size_t errlen);

/* The directories searched for separate debug files (DIR/.build-id/xx/rest.debug, and
 * by .gnu_debuglink name), colon-separated; NULL restores the default /usr/lib/debug.
 * The string must stay valid while sy_symbolize runs. */
void sy_set_debug_dirs(const char *dirs);

int symbolize_main(int argc, char **argv);

#endif
