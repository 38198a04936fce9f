/* tests/fuzz/fuzz_profile.h: the fuzz target's entry point and what it tells the replay
 * (tests/fuzz/replay.c) about the last input. */
#ifndef HPT_FUZZ_PROFILE_H
#define HPT_FUZZ_PROFILE_H
#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point: runs one input through the reader and the checks. Returns 0;
 * a broken property abort()s. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern int fz_parsed;		/* whether pf_parse accepted the last input */
extern char fz_err[512];	/* else its reason */

#endif
