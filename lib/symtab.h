/* lib/symtab: function names for addresses in this process, resolved from the ELF symbol
 * tables of the loaded objects (.symtab, else .dynsym; a separate debug file found by GNU
 * build id under /usr/lib/debug/.build-id/ when the object itself is stripped).
 * Dumper side only: may call malloc and open files; takes no profiler lock. */
#ifndef HP_SYMTAB_H
#define HP_SYMTAB_H
#include <stddef.h>
#include <stdint.h>

typedef struct hp_symtab hp_symtab;

/* Takes a snapshot of the loaded objects (dl_iterate_phdr). Symbol tables are read lazily,
 * the first time an address in an object is looked up (unless it was prepared, below).
 * NULL on out of memory. */
hp_symtab *hp_symtab_new(void);

/* The (mangled, as in the symbol table) name of the function containing addr, or NULL.
 * A symbol matches only if addr lies in [st_value, st_value + st_size) (a zero-sized
 * symbol matches nothing), so an address is never given a neighbour's name.
 * The string stays valid until hp_symtab_free. */
const char *hp_symtab_lookup(hp_symtab *st, uint64_t addr);

/* Reads, ahead of a dump's lookups, the names of the given addresses (any order,
 * duplicates and addresses outside every object allowed): for each object holding some,
 * its symbol table (the same one the lazy path would read) is streamed in 64 KiB chunks,
 * keeping only the symbols that answer those addresses, and then just their names; so the
 * memory kept is proportional to the distinct functions named, not to the object's table.
 * hp_symtab_lookup then gives a prepared address the very name it would give without
 * this; any other address (or one left undecided: a shorter alias won at its function's
 * start) still loads its object's whole table lazily. May be called more than once.
 * 0, -ENOMEM (what was prepared stays usable), or -EINVAL. */
int hp_symtab_prepare(hp_symtab *st, const uint64_t *addrs, size_t n);

/* Adds an object that is no longer loaded (dlclose'd): the file at path, loaded with bias,
 * whose code was at [start, end), with the build id it had (len bytes, 0 if unknown), so
 * that addresses recorded while it was loaded still get names. Ignored if the range
 * overlaps an object in the snapshot: what is loaded now wins. 0, or -ENOMEM. */
int hp_symtab_add_file(hp_symtab *st, const char *path, uint64_t bias, uint64_t start,
		       uint64_t end, const unsigned char *build_id, size_t len);

void hp_symtab_free(hp_symtab *st);

#endif
