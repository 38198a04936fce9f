/* lib/liverec: see liverec.h.
 *
 * The check is 16 bits of a multiplicative hash of the record's other bits, the block's
 * address and a per-process key (the library's load address, so it moves with ASLR): a
 * record copied to another block, or bytes the program wrote there, pass it once in
 * 65,536. It guards against accidents, not against an attacker, who can corrupt any
 * allocator's metadata. */
#include "liverec.h"
#include "log.h"

/* Its address is the per-process key of the check (liverec.h: hp_liverec_check16). */
const char hp_liverec_anchor;

double hp_liverec_weight(double w)
{
	if (w == 1.0)
		return w;	/* rate=1: every block counts once, kept exactly */
	return hp_liverec_wdecode(hp_liverec_wcode(w));
}

void hp_liverec_refused(const void *p, const char *what)
{
	static int once;

	hp_log_once(&once, "%s of %p: not a block heapprof handed out, or already freed (the "
		    "record in front of it is not sound); the block is left alone", what, p);
}
