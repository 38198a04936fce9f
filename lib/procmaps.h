/* lib/procmaps: the executable, file-backed segments of this process (from
 * /proc/self/maps) with the GNU build id of each file, for pprof Mapping entries.
 * Dumper side only: may call malloc; reads files with open/read (no stdio). */
#ifndef HP_PROCMAPS_H
#define HP_PROCMAPS_H
#include <stddef.h>
#include <stdint.h>
#include <link.h>
#include "pprof.h"

/* Fills *out with a malloc'd array of *n mappings (start, limit, file offset, absolute
 * path, lowercase-hex build id or ""), sorted by start. Only mappings that are executable
 * ("r-xp"/"--xp") and backed by a file with an absolute path are listed ([vdso] and
 * anonymous memory are left out). Returns 0 or -errno. */
int hp_procmaps_read(hp_pprof_mapping **out, size_t *n);
void hp_procmaps_free(hp_pprof_mapping *v, size_t n);

/* The GNU build id (NT_GNU_BUILD_ID note) of the ELF file at path, as lowercase hex into
 * buf (size >= 2*20+1 is enough for SHA-1 ids; up to 2*64+1 supported). 0 or -errno;
 * -ENOENT when the file has no build id. */
int hp_build_id_of_file(const char *path, char *buf, size_t bufsize);

/* Longest GNU build id we keep, in bytes. */
#define HP_BUILD_ID_MAX 64

/* Finds the NT_GNU_BUILD_ID note owned by "GNU" in a block of ELF notes (p, len) whose
 * entries are aligned to align (4, or 8 for 8-aligned blocks); copies the id into id
 * (HP_BUILD_ID_MAX bytes) and returns its length, or 0. Shared with lib/symtab. */
size_t hp_notes_build_id(const unsigned char *p, size_t len, uint64_t align, unsigned char *id);

/* The GNU build id of a loaded object, read from its PT_NOTE segments in memory (only where
 * a readable PT_LOAD maps the note's bytes from the file). Copies it into id
 * (HP_BUILD_ID_MAX bytes) and returns its length, or 0. Shared with lib/symtab and
 * lib/unwind. */
size_t hp_phdr_build_id(const struct dl_phdr_info *info, unsigned char *id);

/* Appends a mapping of a file that is no longer loaded (dlclose'd) to *v (n entries,
 * malloc'd, sorted by start), unless it overlaps one already there: what is mapped now
 * wins. build_id (len bytes, may be 0) is written as hex. 1 if added, 0 if not, -ENOMEM. */
int hp_procmaps_add(hp_pprof_mapping **v, size_t *n, uint64_t start, uint64_t limit,
		    uint64_t offset, const char *path, const unsigned char *build_id, size_t len);

#endif
