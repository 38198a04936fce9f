/* tools/legacy: the legacy gperftools heap profile text format, which google-pprof,
 * jeprof and go tool pprof all read:
 *
 *   heap profile:   N:   B [   N:   B] @ heap_v2/RATE
 *        n:   b [   n:   b] @ 0xADDR 0xADDR ...
 *   ...
 *
 *   MAPPED_LIBRARIES:
 *   START-LIMIT r-xp OFFSET 00:00 0 /path/of/object
 *
 * Each line holds objects: bytes in use, then [objects: bytes] allocated, then the stack
 * as return addresses, innermost first. The figures are the sampled (raw) counts, which
 * readers unbias with scale = 1 / (1 - exp(-(b/n) / RATE)); "@ heapprofile" (gperftools'
 * unsampled heap profiler, and what we write at rate 1) is not scaled. Reading also
 * takes jemalloc's heap dumps ("heap_v2/RATE", "@ stack" lines each followed by its
 * "t*:" figures) and gives a profile with the four heap sample types (unbiased as go
 * tool pprof does), one location per address (return address - 1), mappings (those
 * executable with an absolute path) but no function names. */
#ifndef HPT_LEGACY_H
#define HPT_LEGACY_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "profile.h"

/* Whether buf holds a legacy text profile: "heap profile:" (gperftools) or "heap_v2/"
 * (jemalloc) at its start. */
int lg_is_text(const uint8_t *buf, size_t len);

/* Parses a legacy text profile. Same contract as pf_parse: NULL with the reason in err
 * ("line N: what is wrong" for a malformed line); never crashes on any input. */
pf_profile *lg_parse(const uint8_t *buf, size_t len, char *err, size_t errlen);

/* Writes p in the legacy text format to f: "@ heap_v2/RATE" with the period as the rate,
 * or "@ heapprofile" at period 1, each sample's unbiased figures divided back into raw
 * counts. Returns 0, or -1 with the reason in err before writing anything (a profile
 * without the four heap sample types, a negative value, a location without address).
 * Write errors on f are the caller's to check. */
int lg_write(const pf_profile *p, FILE *f, char *err, size_t errlen);

#endif
