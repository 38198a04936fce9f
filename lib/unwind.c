/* lib/unwind: see unwind.h.
 *
 * libunwind's local unwinder, as Debian builds 1.6.2, has two hazards (doc/DESIGN.md):
 * - it keeps one global cache of register states whose lock it holds while it calls
 *   dl_iterate_phdr (the loader lock); a thread that allocates inside a dl_iterate_phdr
 *   callback takes the two in the other order: deadlock. (Per-thread caches are not
 *   compiled into Debian's build: asking for them gives the global one.)
 * - it validates every memory read of a step (conservative checks) by writing the address
 *   to a pipe opened at init; a program that closed and reused those descriptor numbers
 *   would have its own files read and written.
 * So we do not use libunwind's local address space. We create our own with libunwind's
 * generic (remote-capable) API: its DWARF parser and stepper, but our accessors:
 * - registers come from the context captured in hp_unwind_capture;
 * - memory is read directly where it is known to be readable (a loaded object's segments,
 *   pages already checked by this thread) and otherwise checked with process_vm_readv on
 *   ourselves, which needs no descriptor and fails cleanly on an unmapped address;
 * - unwind tables are found in our own list of loaded objects (their .eh_frame_hdr binary
 *   search tables, at most MAX_OBJECTS objects), rebuilt when the loader's generation
 *   counters say an object came or went; then libunwind's exported table search does the
 *   rest.
 * Caching is off in libunwind (UNW_CACHE_NONE): it holds no lock of its own across anything.
 * We cache instead, per return address, the frame rule libunwind computed (see step()). */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>
#include <libunwind.h>

#include "alloc.h"
#include "arena.h"
#include "lock.h"
#include "prof.h"
#include "stacktab.h"
#include "procmaps.h"
#include "unwind.h"

/* The generic library's table search (exported, used by libunwind-ptrace). */
extern int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as, unw_word_t ip,
					      unw_dyn_info_t *di, unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);

#define MAX_OBJECTS 512
#define MAX_SEGS 6

typedef struct object {
	uintptr_t text_lo, text_hi;			/* executable segment */
	uintptr_t bias, text_off;			/* load bias; file offset of the text */
	char *name;					/* copied path, or NULL (main program) */
	unsigned char build_id[HP_BUILD_ID_MAX];
	size_t build_id_len;
	uintptr_t seg_lo[MAX_SEGS], seg_hi[MAX_SEGS];	/* readable segments */
	int nsegs;
	int has_table;
	int permanent;					/* loaded at start-up: never unloaded */
	int announced;					/* ANN_*: its unload calls us first? */
	uintptr_t fini_slot;				/* its GOT slot for __cxa_finalize, or 0 */
	unw_dyn_info_t di;				/* its .eh_frame_hdr search table */
} object;

/* Unwinding threads hold unwind_lock for reading; only fork's prepare handler takes it for
 * writing, so that no thread is inside libunwind (its mempool lock) or inside glibc's
 * dl_iterate_phdr when the process forks. */
static pthread_rwlock_t unwind_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

/* The loaded objects as of generation (adds, subs) of the loader's list, as immutable
 * snapshots: a refresh fills a free slot and publishes it as `current`; a walk pins the
 * snapshot it uses (refs) and never waits for anybody. A slot is refilled only when it is
 * not current and nobody pins it; a walk that loaded `current` pins, then checks it is
 * still current (else unpins and tries again), so it never reads a slot being refilled.
 * No refresh waits for readers to leave: one that would is the deadlock with the loader
 * lock (a thread in a dl_iterate_phdr callback of the program) this design avoids. */
#define NSNAPS 4
typedef struct snapshot {
	int refs;				/* atomic: walks using it */
	int n;
	unsigned long long adds, subs;
	object v[MAX_OBJECTS];
} snapshot;
static snapshot snaps[NSNAPS];
static snapshot *current;			/* atomic; NULL before the first refresh */
/* current's unload count, published with it: what a walk that has not asked the loader
 * keys its rules by (hp_unwind_capture_at), read without pinning a snapshot. Any value it
 * reads is one a snapshot had, so the rules it finds were right for that generation. */
static unsigned long long current_subs;		/* atomic */
static pthread_mutex_t refresh_lock = PTHREAD_MUTEX_INITIALIZER;	/* only try-locked */
static __thread snapshot *walk_snap;		/* the snapshot this thread's walk pinned */

static snapshot *pin(void)
{
	snapshot *s;

	while ((s = __atomic_load_n(&current, __ATOMIC_ACQUIRE)) != NULL) {
		__atomic_fetch_add(&s->refs, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&current, __ATOMIC_SEQ_CST) == s)
			return s;
		__atomic_fetch_sub(&s->refs, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void unpin(snapshot *s)
{
	if (s)
		__atomic_fetch_sub(&s->refs, 1, __ATOMIC_RELEASE);
}

/* A slot to fill: not current, pinned by nobody. Under refresh_lock. */
static snapshot *free_slot(void)
{
	snapshot *cur = __atomic_load_n(&current, __ATOMIC_ACQUIRE);

	for (int i = 0; i < NSNAPS; i++)
		if (&snaps[i] != cur && __atomic_load_n(&snaps[i].refs, __ATOMIC_SEQ_CST) == 0)
			return &snaps[i];
	return NULL;
}


/* Objects that were unloaded after we saw them, so that a dump can still name the frames
 * recorded while they were loaded. Pushed under refresh_lock (and unwind_lock for
 * writing); never freed or changed once published, so a dump walks it with no lock. */
#define MAX_GONE 1024
typedef struct gone {
	struct gone *next;
	hp_unloaded u;
	unsigned char build_id[HP_BUILD_ID_MAX];
} gone;
static gone *gone_head;				/* published with release stores */
static int ngone;				/* guarded by refresh_lock */

/* The loader's list changed and this walk could not bring ours up to date: an object in it
 * may be gone and its range reused. The walk then trusts no object segment (every read
 * outside its stack is checked with the kernel) and neither uses nor fills the rule cache. */
static __thread int list_stale;

static unw_addr_space_t as;
static uintptr_t self_lo, self_hi;	/* our own text: frames here are skipped */
static int ready;
static int vm_read_works = 1;

/* Pages this thread has found readable (stack pages, mostly), and the last readable
 * segment a read fell in: libunwind reads unwind tables a word at a time, mostly from the
 * same segment. */
#define GOOD_PAGES 16
static __thread uintptr_t good_pages[GOOD_PAGES];
static __thread unsigned good_next;
static __thread uintptr_t last_lo, last_hi;

/* The binary search table of an .eh_frame_hdr, in the one layout libunwind's search reads:
 * version 1, a 4-byte fde_count, a table of (datarel sdata4, datarel sdata4) pairs. */
static const uint8_t *hdr_table(const uint8_t *hdr, size_t *count)
{
	uint32_t n;

	if (hdr[0] != 1 || (hdr[1] & 0x0f) != 0x0b || (hdr[2] & 0x0f) != 0x03 || hdr[3] != 0x3b)
		return NULL;
	memcpy(&n, hdr + 8, sizeof(n));
	*count = n;
	return hdr + 12;
}

static void describe(struct dl_phdr_info *info, object *o)
{
	const uint8_t *hdr = NULL, *table;
	size_t count;

	memset(o, 0, sizeof(*o));
	o->bias = info->dlpi_addr;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_R) && o->nsegs < MAX_SEGS) {
			o->seg_lo[o->nsegs] = lo;
			o->seg_hi[o->nsegs++] = hi;
		}
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			o->text_lo = lo;
			o->text_hi = hi;
			o->text_off = ph->p_offset;
		}
		if (ph->p_type == PT_GNU_EH_FRAME)
			hdr = (const uint8_t *)lo;
	}
	if (!hdr || !(table = hdr_table(hdr, &count)) || !count)
		return;
	o->di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	o->di.start_ip = o->text_lo;
	o->di.end_ip = o->text_hi;
	o->di.u.rti.segbase = (uintptr_t)hdr;
	o->di.u.rti.table_data = (uintptr_t)table;
	o->di.u.rti.table_len = count * 8 / sizeof(unw_word_t);
	o->has_table = 1;
}

/* Gives o the name and build id it had in the current list, or copies them the first time
 * an object is seen (its name string goes away with it at dlclose). Under refresh_lock. */
static void identify(struct dl_phdr_info *info, object *o)
{
	const snapshot *cur = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
	size_t len;

	for (int i = 0; cur && i < cur->n; i++) {
		const object *c = &cur->v[i];

		if (c->bias == o->bias && c->text_lo == o->text_lo &&
		    (c->name ? info->dlpi_name && !strcmp(c->name, info->dlpi_name)
			     : !info->dlpi_name || info->dlpi_name[0] != '/')) {
			o->name = c->name;
			memcpy(o->build_id, c->build_id, c->build_id_len);
			o->build_id_len = c->build_id_len;
			return;
		}
	}
	if (!info->dlpi_name || info->dlpi_name[0] != '/')
		return;	/* the main program (never unloaded), the vdso */
	len = strlen(info->dlpi_name) + 1;
	if ((o->name = hp_ialloc_k(HP_MEM_UNWIND, len)) != NULL)
		memcpy(o->name, info->dlpi_name, len);
	o->build_id_len = hp_phdr_build_id(info, o->build_id);
}

/* --- start-up objects ------------------------------------------------------------------
 * glibc unloads only objects that dlopen loaded: the program, the objects preloaded
 * (LD_PRELOAD) and what they need (DT_NEEDED, transitively) are loaded at start-up and
 * stay until exit, as do the loader and the vDSO. They come first in the loader's list,
 * in load order, each after an object that needed it; dlopen appends after them. So an
 * object counts as permanent only while the list is such a prefix: the first object (the
 * program), the vDSO, or an object whose name (DT_SONAME or its file's name) is a
 * DT_NEEDED entry of a permanent object or a preloaded name not yet matched (a match
 * takes every entry of that name). The first object that is none of these ends the
 * prefix: every object after it is taken as one dlopen may unload. A rule made for a
 * return address in a permanent object holds whatever is loaded or unloaded later, so a
 * walk through such objects alone needs no look at the loader's list
 * (hp_unwind_capture_at). */
#define MAX_NAMES 256
static const char *start_names[MAX_NAMES];	/* during a rebuild, under refresh_lock */
static int nstart_names, npreload_names, start_broken;
static char preload[4096];			/* LD_PRELOAD as it was at the first rebuild */
static int preload_read;

static int in_segs(const object *o, uintptr_t a, size_t len)
{
	for (int i = 0; i < o->nsegs; i++)
		if (a >= o->seg_lo[i] && a + len >= a && a + len <= o->seg_hi[i])
			return 1;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* The string at off in a string table of o (tab, sz bytes), when it lies in o's segments. */
static const char *dyn_str(const object *o, uintptr_t tab, size_t sz, size_t off)
{
	const char *str = (const char *)(tab + off);

	if (!tab || off >= sz || !in_segs(o, tab, sz) || !memchr(str, 0, sz - off))
		return NULL;
	return str;
}

static void add_start_name(const char *name)
{
	if (nstart_names < MAX_NAMES)
		start_names[nstart_names++] = name;
	else
		start_broken = 1;	/* too many to follow: no more permanent objects */
}

/* A rebuild starts: the names the first objects after the program may have. */
static void start_names_reset(void)
{
	const char *env;

	nstart_names = 0;
	start_broken = 0;
	if (!preload_read) {
		preload_read = 1;
		if ((env = getenv("LD_PRELOAD")) != NULL && strlen(env) < sizeof(preload))
			strcpy(preload, env);
		for (char *c = preload; *c; c++)
			if (*c == ' ' || *c == ':' || *c == '\t')
				*c = '\0';
	}
	for (char *c = preload; c < preload + sizeof(preload);)	/* NUL-padded: ends in NUL */
		if (*c) {
			add_start_name(c);
			c += strlen(c);
		} else {
			c++;
		}
	npreload_names = nstart_names;
}

/* The object's dynamic section, or NULL. Under the loader's lock: mapped. */
static const ElfW(Dyn) *dyn_of(const struct dl_phdr_info *info)
{
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			return (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	return NULL;
}

/* The next entry of a dynamic section, or NULL at its end (or where o's segments end). */
static const ElfW(Dyn) *dyn_next(const object *o, const ElfW(Dyn) *d)
{
	return d && in_segs(o, (uintptr_t)d, sizeof(*d)) && d->d_tag != DT_NULL ? d : NULL;
}

/* An address entry: the loader relocated it in place, except in read-only ones (vDSO). */
static uintptr_t dyn_ptr(const struct dl_phdr_info *info, const ElfW(Dyn) *d)
{
	return d->d_un.d_ptr < info->dlpi_addr ? d->d_un.d_ptr + info->dlpi_addr : d->d_un.d_ptr;
}

/* Sets o->permanent (see above); `first` for the first object of the list. Under the
 * loader's lock, so the object's dynamic section and strings are mapped. */
static void mark_startup(const struct dl_phdr_info *info, object *o, int first)
{
	const ElfW(Dyn) *dyn = dyn_of(info), *d;
	uintptr_t strtab = 0, vdso = getauxval(AT_SYSINFO_EHDR);
	size_t strsz = 0, soname = SIZE_MAX;
	const char *name = NULL, *file = NULL;
	int matched = first;

	o->permanent = 0;
	if (start_broken)
		return;
	for (d = dyn; (d = dyn_next(o, d)) != NULL; d++)
		if (d->d_tag == DT_STRTAB)
			strtab = dyn_ptr(info, d);
		else if (d->d_tag == DT_STRSZ)
			strsz = d->d_un.d_val;
		else if (d->d_tag == DT_SONAME)
			soname = d->d_un.d_val;
	if (soname != SIZE_MAX)
		name = dyn_str(o, strtab, strsz, soname);
	if (info->dlpi_name && info->dlpi_name[0])
		file = base_name(info->dlpi_name);
	if (vdso && (vdso == info->dlpi_addr || in_segs(o, vdso, 1)))
		matched = 1;
	for (int i = 0; i < nstart_names; i++) {
		const char *want = start_names[i] ? base_name(start_names[i]) : NULL;

		if (want && ((name && !strcmp(want, name)) || (file && !strcmp(want, file)))) {
			start_names[i] = NULL;
			matched |= i < npreload_names ? 2 : 4;
		}
	}
	/* Preloads are loaded before any dependency: once one is met that is not a preload,
	 * a preloaded name still unmatched (a file that failed to load) names nothing. */
	if (matched == 4)
		for (int i = 0; i < npreload_names; i++)
			start_names[i] = NULL;
	if (!matched) {
		start_broken = 1;
		return;
	}
	o->permanent = 1;
	for (d = dyn; (d = dyn_next(o, d)) != NULL; d++)
		if (d->d_tag == DT_NEEDED) {
			const char *need = dyn_str(o, strtab, strsz, d->d_un.d_val);

			if (need)
				add_start_name(need);
			else
				start_broken = 1;	/* a dependency it cannot name */
		}
}

typedef struct generation {
	unsigned long long adds, subs;
} generation;

/* --- unloads we see ---------------------------------------------------------------------
 * A rule of an object dlopen loaded holds only while that object stays: once it is
 * unloaded, another may be mapped at its address. So a walk through such an object asks
 * the loader whether anything was unloaded since its rules were made (dl_iterate_phdr,
 * under the loader's lock: on python at rate=1, where 62% of the walks pass through a
 * dlopened module, 7-9% of the run). Most objects say so themselves before they go: the
 * loader runs an object's finalizers before it unmaps it, and the finalizer GCC's and
 * clang's start files put in every shared object (crtbeginS's __do_global_dtors_aux)
 * calls __cxa_finalize(__dso_handle), through the object's GOT slot for that symbol.
 * The library exports __cxa_finalize (it notes the handle, then calls glibc's): an
 * object whose slot holds ours ("announced"; the slot is resolved when the object is
 * loaded, an R_X86_64_GLOB_DAT relocation) cannot be unloaded without telling us first.
 * A walk whose rules are all of permanent or announced objects then needs one check: no
 * announced object has begun to go since the last look at the loader's list found none
 * going (settled()). An object whose slot holds glibc's (loaded with RTLD_DEEPBIND or by
 * dlmopen, whose lookups may skip us), or that has no such slot (built without those
 * start files), or that is half loaded (slot not yet resolved), is not announced: walks
 * through it ask the loader as before. An unload counted but still under way (the
 * object's handle noted, the object still in the list) keeps the check from passing
 * until the list no longer has it.
 * The loader lists an object before it relocates it, and a sample taken meanwhile (the
 * loader allocates) reads the list: a slot still 0 then is ANN_LATER, and is read again
 * when a rule is made for an address in the object (keep_row), by then running code. */
#define PENDING_MAX 64
typedef void (*finalize_fn)(void *);
static void *real_finalize;			/* atomic: glibc_next's cache */
static unsigned long fini_count;		/* atomic: __cxa_finalize calls, ever */
static hp_lock pending_lock;
static uintptr_t pending[PENDING_MAX];		/* under pending_lock: the handles noted */
static int npending;				/* under pending_lock */
static int pending_lost;			/* under pending_lock: a handle could not be noted */
/* settle_key(fini_count, subs) when the last look at the loader's list (generation subs)
 * found no announced object going and fini_count was that value before the look; 0 when
 * it found one. Read by walks without a lock. */
static uint64_t settled_word;

static inline uint64_t settle_key(unsigned long f, unsigned long long subs)
{
	return (uint64_t)1 << 63 | (uint64_t)(f & 0x7fffffff) << 32 | (uint32_t)subs;
}

/* A walk whose rules were made at unload count subs, and were all of permanent or
 * announced objects, holds (called after the walk's reads). */
static inline int settled(unsigned long long subs)
{
	uint64_t w = __atomic_load_n(&settled_word, __ATOMIC_ACQUIRE);

	return w == settle_key(__atomic_load_n(&fini_count, __ATOMIC_ACQUIRE), subs);
}

/* glibc's own `name`, the definition after the library's, looked up once into *cache
 * (for the loader functions the library wraps: dl_iterate_phdr, __cxa_finalize). */
static void *glibc_next(void **cache, const char *name)
{
	void *f = __atomic_load_n(cache, __ATOMIC_ACQUIRE);

	if (!f) {
		hp_tls.guard++;	/* dlsym may allocate: not sampled */
		f = dlsym(RTLD_NEXT, name);
		if (!f)	/* by glibc's version, should the plain lookup fail */
			f = dlvsym(RTLD_NEXT, name, "GLIBC_2.2.5");
		hp_guard_exit();
		__atomic_store_n(cache, f, __ATOMIC_RELEASE);
	}
	return f;
}

static finalize_fn find_finalize(void)
{
	return (finalize_fn)glibc_next(&real_finalize, "__cxa_finalize");
}

/* The library's __cxa_finalize (an alias: announced() compares slots with this address,
 * not with whatever the library's own GOT resolves the name to). The handle is noted
 * before the count moves, so that a look at the list that reads the new count also sees
 * the handle. glibc's __cxa_finalize(NULL) runs every handler: then any object may be
 * going, and nothing is taken as announced again. */
static void finalize_self(void *d)
{
	finalize_fn real = find_finalize();

	/* Inside the profiler while the lock is held: a signal handler that allocates here is
	 * not sampled, so it never walks into publish_settled and this lock. */
	hp_tls.guard++;
	hp_lock_take(&pending_lock);
	if (d && npending < PENDING_MAX)
		pending[npending++] = (uintptr_t)d;
	else
		pending_lost = 1;
	hp_lock_give(&pending_lock);
	__atomic_add_fetch(&fini_count, 1, __ATOMIC_SEQ_CST);
	hp_guard_exit();
	if (real)
		real(d);
}
void __cxa_finalize(void *d);
HP_EXPORT void __cxa_finalize(void *d) __attribute__((alias("finalize_self")));

enum { ANN_NO, ANN_YES, ANN_LATER };

/* Whether o (not permanent) is announced (ANN_*): its GOT slot for __cxa_finalize, which
 * goes in o->fini_slot, holds finalize_self. Under the loader's lock (collect): the
 * object is mapped. */
static int announced(const struct dl_phdr_info *info, object *o)
{
	const ElfW(Dyn) *d;
	uintptr_t rela = 0, symtab = 0, strtab = 0, slot;
	size_t relasz = 0, strsz = 0, ent = sizeof(ElfW(Rela)), syment = sizeof(ElfW(Sym));

	for (d = dyn_of(info); (d = dyn_next(o, d)) != NULL; d++)
		switch (d->d_tag) {
		case DT_RELA: rela = dyn_ptr(info, d); break;
		case DT_RELASZ: relasz = d->d_un.d_val; break;
		case DT_RELAENT: ent = d->d_un.d_val; break;
		case DT_SYMTAB: symtab = dyn_ptr(info, d); break;
		case DT_SYMENT: syment = d->d_un.d_val; break;
		case DT_STRTAB: strtab = dyn_ptr(info, d); break;
		case DT_STRSZ: strsz = d->d_un.d_val; break;
		}
	if (!rela || !symtab || ent != sizeof(ElfW(Rela)) || syment != sizeof(ElfW(Sym)) ||
	    !in_segs(o, rela, relasz))
		return ANN_NO;
	for (const ElfW(Rela) *r = (const ElfW(Rela) *)rela; (uintptr_t)(r + 1) <= rela + relasz;
	     r++) {
		const ElfW(Sym) *sym = (const ElfW(Sym) *)symtab + ELF64_R_SYM(r->r_info);
		const char *name;

		if (ELF64_R_TYPE(r->r_info) != R_X86_64_GLOB_DAT ||
		    !in_segs(o, (uintptr_t)sym, sizeof(*sym)) ||
		    !(name = dyn_str(o, strtab, strsz, sym->st_name)) ||
		    strcmp(name, "__cxa_finalize") != 0)
			continue;
		slot = info->dlpi_addr + r->r_offset;
		if (!in_segs(o, slot, sizeof(uintptr_t)))
			return ANN_NO;
		o->fini_slot = slot;
		return *(const uintptr_t *)slot == (uintptr_t)&finalize_self ? ANN_YES
		       : *(const uintptr_t *)slot == 0			   ? ANN_LATER
									   : ANN_NO;
	}
	return ANN_NO;
}

/* After a look at the loader's list (generation g, which the current snapshot has), for
 * which fini_count was f before the look: settled_word for them. Handles of objects the
 * list no longer has, or of permanent ones (finalized at exit, never unloaded), are
 * forgotten. */
static void publish_settled(unsigned long f, const generation *g)
{
	uint64_t want = settle_key(f, g->subs);
	snapshot *s;
	int going = 0, n = 0;

	if (__atomic_load_n(&settled_word, __ATOMIC_RELAXED) == want)
		return;
	if ((s = pin()) == NULL || s->adds != g->adds || s->subs != g->subs) {
		unpin(s);
		return;
	}
	hp_lock_take(&pending_lock);
	for (int i = 0; i < npending; i++) {
		int in = 0;

		for (int j = 0; j < s->n && !in; j++)
			in = !s->v[j].permanent && in_segs(&s->v[j], pending[i], 1);
		if (in)
			pending[n++] = pending[i];
	}
	npending = n;
	going = n > 0 || pending_lost;
	hp_lock_give(&pending_lock);
	unpin(s);
	__atomic_store_n(&settled_word, going ? 0 : want, __ATOMIC_RELEASE);
}

static int read_generation(struct dl_phdr_info *info, size_t size, void *arg)
{
	generation *g = arg;

	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
		g->adds = info->dlpi_adds;
		g->subs = info->dlpi_subs;
	}
	return 1;	/* the first object is enough */
}

/* A rebuild in progress. refresh_lock is only ever try-locked from inside this callback,
 * that is while the thread holds the loader lock: nobody holding refresh_lock waits for
 * the loader lock, so a thread inside a dl_iterate_phdr callback of the program can
 * rebuild too (the loader lock is recursive). */
typedef struct rebuild {
	int started, locked;
	int objects;		/* seen so far (with or without text) */
	generation gen;		/* of the loader's list, read under its lock */
	snapshot *fresh;	/* the slot being filled */
} rebuild;

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
	rebuild *rb = arg;

	if (!rb->started) {
		const snapshot *cur = __atomic_load_n(&current, __ATOMIC_ACQUIRE);

		rb->started = 1;
		read_generation(info, size, &rb->gen);
		if (pthread_mutex_trylock(&refresh_lock) != 0)
			return 1;
		rb->locked = 1;
		if ((cur && cur->adds == rb->gen.adds && cur->subs == rb->gen.subs) ||
		    (rb->fresh = free_slot()) == NULL)
			return 1;	/* done by another thread meanwhile, or no free slot */
		rb->fresh->n = 0;
		start_names_reset();
	}
	if (rb->fresh->n < MAX_OBJECTS) {
		object *o = &rb->fresh->v[rb->fresh->n];

		describe(info, o);
		mark_startup(info, o, rb->objects++ == 0);
		o->announced = o->permanent ? ANN_NO : announced(info, o);
		if (o->text_hi) {
			identify(info, o);
			rb->fresh->n++;
		}
	} else {
		start_broken = 1;
	}
	return 0;
}

static int same_place(const hp_unloaded *u, const object *o)
{
	return u->bias == o->bias && u->start == o->text_lo && strcmp(u->path, o->name) == 0;
}

/* o is no longer loaded: remembers it (taking its name), unless it is remembered already
 * (the same library loaded at the same place again). Under refresh_lock. */
static void retire(object *o)
{
	gone *g;

	for (g = gone_head; g; g = g->next)
		if (same_place(&g->u, o)) {
			hp_ifree_k(HP_MEM_UNWIND, o->name);
			return;
		}
	if (ngone >= MAX_GONE || !(g = hp_ialloc_k(HP_MEM_UNWIND, sizeof(*g)))) {
		hp_ifree_k(HP_MEM_UNWIND, o->name);
		return;
	}
	memcpy(g->build_id, o->build_id, o->build_id_len);
	g->u = (hp_unloaded){ o->name, o->bias, o->text_lo, o->text_hi, o->text_off,
			      g->build_id, o->build_id_len };
	g->next = gone_head;
	ngone++;
	__atomic_store_n(&gone_head, g, __ATOMIC_RELEASE);
}

/* Objects of the current snapshot that are not in the fresh one have gone. Under
 * refresh_lock. */
static void retire_departed(const snapshot *fresh, snapshot *cur)
{
	for (int i = 0; cur && i < cur->n; i++) {
		int kept = !cur->v[i].name;

		for (int j = 0; j < fresh->n && !kept; j++)
			kept = fresh->v[j].name == cur->v[i].name;
		if (!kept)
			retire(&cur->v[i]);
	}
}

/* The frame rules (libunwind's register state) of return addresses seen before, so that a
 * step is an apply of a cached state rather than a table search, an FDE parse and a CFI
 * run. Slots are published once with a release store and read with acquire loads; entries
 * live as long as the process (bounded by its call sites). A rule holds for the loader's
 * unload count it was made at: after a dlclose the address may belong to another object,
 * so an older rule is made again (and the old one leaks: dlclose is rare). A rule for an
 * address in a permanent object (see "start-up objects") holds for good: it is marked
 * perm, and a walk made of such rules alone needs no look at the loader's list.
 *
 * Most frames follow one of two shapes: the caller's stack pointer (the CFA) is the
 * stack or frame pointer plus a constant, the return address is saved at a constant
 * offset from it, and rbp is either untouched or saved at another constant offset. For
 * those the rule also holds a compact form that fast_walk() applies with three loads
 * and no call into libunwind (applying libunwind's state copies and evaluates every
 * register of it: about half the cost of a walk). The compact form is read out of the
 * state libunwind hands to unw_reg_states_iterate, whose layout is libunwind 1.6's
 * (checked: its size and the return-address column), and each compact rule is checked
 * once against libunwind's own step before it is used. */
enum { FAST_NONE, FAST_STEP, FAST_END };

/* A compact rule. */
typedef struct fast_rule {
	unsigned char kind;	/* FAST_*: FAST_END means no caller (return address undefined) */
	unsigned char cfa_sp;	/* CFA = rsp + cfa_off (1) or rbp + cfa_off (0) */
	unsigned char bp_saved;	/* rbp saved at CFA + bp_off (1) or unchanged (0) */
	int32_t cfa_off, ra_off, bp_off;
} fast_rule;

typedef struct rule {
	struct rule *next;	/* the slot's chain (immutable once published) */
	uintptr_t key;		/* return address - 1 */
	unsigned long long subs;	/* the loader's unload count it is valid for */
	fast_rule f;
	unsigned char perm;	/* key is in a permanent object: the rule holds whatever the count */
	unsigned char ann;	/* ... or in an announced one: it holds while settled() */
	unsigned char small;	/* state[] holds it packed (state_pack) */
	uint16_t size;		/* the size of libunwind's state */
	unsigned char state[];	/* libunwind's dwarf_reg_state for the row holding key */
} rule;

/* The tables below are sized for the rules in use: they start at 1024 slots and double,
 * up to 16384, while the rules fill a quarter of them (the packed table is two-way, and a
 * key it loses sends the whole walk to libunwind: grown only when full, python's walks
 * at rate=1 took five times the instructions). A program sampled at the default rate uses
 * a few hundred return addresses; its tables then take 24 KiB instead of touching every
 * page of 384 KiB with scattered slots. A rule stays in the chain it was pushed on, under
 * the size of its day: a lookup tries the chain under each size down from the present
 * one (the packed table, a cache, just misses and is refilled). */
#define RULE_BITS_MIN 10
#define RULE_BITS_MAX 14
#define RULE_SLOTS (1u << RULE_BITS_MAX)
static rule *rules[RULE_SLOTS];
static unsigned rule_bits = RULE_BITS_MIN;	/* atomic: only grows */
static unsigned nrules;				/* atomic: rules pushed */

static inline unsigned rule_hash(uintptr_t key, unsigned bits)
{
	return (unsigned)((key * 0x9e3779b97f4a7c15ull) >> 40) & ((1u << bits) - 1);
}

static inline unsigned cur_bits(void)
{
	return __atomic_load_n(&rule_bits, __ATOMIC_RELAXED);
}

static int pack_states;	/* atomic: hp_unwind_set_sparse */

/* One more rule: the tables grow when the rules fill a quarter of their slots, or half of
 * them while sampling is sparse. A key that the two-way packed table loses sends its walk
 * through libunwind; at sparse rates the walks are few (cc1 at 512 KiB: about 2,300 in
 * 4 s, of which about 800 go through libunwind at either size, mostly for new rules), and
 * the tables of cc1's 1,300 rules take 96 KiB at 4,096 slots instead of 192 at 8,192. */
static void rule_added(void)
{
	unsigned n = __atomic_add_fetch(&nrules, 1, __ATOMIC_RELAXED), b = cur_bits();
	unsigned fill = __atomic_load_n(&pack_states, __ATOMIC_RELAXED) ? 2 : 4;

	while (b < RULE_BITS_MAX && n > (1u << b) / fill &&
	       !__atomic_compare_exchange_n(&rule_bits, &b, b + 1, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

/* The compact rules again, 16 bytes a slot in a two-way table of their own: a fast step then
 * touches one cache line for its rule instead of two (the slot, then the rule), and on a
 * program with many call sites (python) those misses were most of a walk. A slot is the
 * key and one word: the loader's unload count (low 22 bits), ann, perm, the kind and flags, the
 * offsets (a rule whose offsets do not fit is not packed: libunwind does that frame).
 * The key doubles as the slot's lock: a writer swaps it for PACK_BUSY, stores the word,
 * then stores the new key with release; a reader loads the key, the word, and the key
 * again, and uses the word only when both loads gave the key it looks for. */
typedef struct packed_slot {
	uintptr_t key;
	uint64_t word;
} packed_slot;
#define PACK_BUSY UINTPTR_MAX
#define PACK_SUBS 0x3fffffu	/* the unload count's bits in a word; bit 22: ann, 23: perm */
static packed_slot packed[RULE_SLOTS];

static int pack(const rule *r, uint64_t *w)
{
	const fast_rule *f = &r->f;

	if (f->kind == FAST_STEP &&
	    (f->cfa_off != (int16_t)f->cfa_off || f->ra_off % 8 || f->bp_off % 8 ||
	     f->ra_off / 8 != (int8_t)(f->ra_off / 8) || f->bp_off / 8 < -2048 ||
	     f->bp_off / 8 > 2047))
		return 0;
	*w = (r->subs & PACK_SUBS) | (uint64_t)!!r->ann << 22 | (uint64_t)!!r->perm << 23 |
	     (uint64_t)f->kind << 24 |
	     (uint64_t)f->cfa_sp << 26 | (uint64_t)f->bp_saved << 27 |
	     (uint64_t)(uint16_t)f->cfa_off << 28 |
	     (uint64_t)(uint8_t)(f->ra_off / 8) << 44 | (uint64_t)(f->bp_off / 8 & 0xfff) << 52;
	return 1;
}

static void packed_put(const rule *r)
{
	packed_slot *set = &packed[rule_hash(r->key, cur_bits()) & ~1u], *s;
	uintptr_t k;
	uint64_t w;

	if (r->f.kind == FAST_NONE || !pack(r, &w))
		return;
	/* Two ways: the key's own slot if it has one, else an empty one, else the way the
	 * key's bit 4 picks (two hot keys of one set then both stay). */
	if (__atomic_load_n(&set[0].key, __ATOMIC_RELAXED) == r->key)
		s = &set[0];
	else if (__atomic_load_n(&set[1].key, __ATOMIC_RELAXED) == r->key)
		s = &set[1];
	else if (__atomic_load_n(&set[0].key, __ATOMIC_RELAXED) == 0)
		s = &set[0];
	else if (__atomic_load_n(&set[1].key, __ATOMIC_RELAXED) == 0)
		s = &set[1];
	else
		s = &set[(r->key >> 4) & 1];
	k = __atomic_load_n(&s->key, __ATOMIC_RELAXED);
	if (k == r->key && __atomic_load_n(&s->word, __ATOMIC_RELAXED) == w)
		return;	/* already there */
	if (k == PACK_BUSY ||
	    !__atomic_compare_exchange_n(&s->key, &k, PACK_BUSY, 0, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return;	/* another writer has the slot: this rule goes unpacked for now */
	__atomic_store_n(&s->word, w, __ATOMIC_RELAXED);
	__atomic_store_n(&s->key, r->key, __ATOMIC_RELEASE);
}

static inline int packed_get(uintptr_t key, unsigned long long subs, uint64_t *word)
{
	const packed_slot *s = &packed[rule_hash(key, cur_bits()) & ~1u];
	uint64_t w;

	if (__atomic_load_n(&s->key, __ATOMIC_ACQUIRE) != key &&
	    __atomic_load_n(&(++s)->key, __ATOMIC_ACQUIRE) != key)
		return 0;
	w = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&s->key, __ATOMIC_RELAXED) != key || (w & PACK_SUBS) != (subs & PACK_SUBS))
		return 0;
	*word = w;
	return 1;
}

/* Each thread keeps the rules it used last, unpacked, in a small table of its own (4 KiB,
 * in its L1 cache between samples, where the shared table mostly is not), checked first.
 * It holds for one unload count of the loader (memo_subs): a walk under another one
 * empties it first. */
#define MEMO_SLOTS 256
enum { M_END = 1, M_CFA_SP = 2, M_BP_SAVED = 4, M_PERM = 8, M_NORULE = 16, M_ANN = 32 };
/* Derived, for the walks kept for reuse (keep_walk): the rule reads bp for its CFA (M_OBP),
 * or hands bp to the caller as it is (M_OBPC). */
enum { M_OBP = 64, M_OBPC = 128 };
typedef struct memo_slot {
	uintptr_t key;		/* 0: empty (a return address is never 1) */
	int32_t cfa_off;
	int16_t bp_off;
	int8_t ra_off8;		/* the return address's offset from the CFA, in words */
	uint8_t flags;		/* M_* */
} memo_slot;
static __thread memo_slot memo[MEMO_SLOTS];
static __thread unsigned long long memo_subs;

/* The walk's form of a packed rule, unpacked from its word (the fields pack() wrote; a
 * packed bp offset, at most 2047 words, always fits the slot's 16 bits). */
static inline void memo_fill(memo_slot *m, uintptr_t key, uint64_t w)
{
	int end = ((w >> 24) & 3) == FAST_END, cfa_sp = (w >> 26) & 1, bp_saved = (w >> 27) & 1;

	m->key = key;
	m->cfa_off = (int16_t)(w >> 28);
	m->bp_off = (int16_t)(((int32_t)(w >> 32) >> 20) * 8);
	m->ra_off8 = (int8_t)(w >> 44);
	m->flags = (end ? M_END : 0) | (cfa_sp ? M_CFA_SP : 0) | (bp_saved ? M_BP_SAVED : 0) |
		   ((w >> 23) & 1 ? M_PERM : 0) | ((w >> 22) & 1 ? M_ANN : 0) |
		   (!end && !cfa_sp ? M_OBP : 0) | (!end && !bp_saved ? M_OBPC : 0);
}

/* A rule not in this thread's memo: from the shared table into slot m, or NULL. Out of
 * the walk's loop (as is read_checked), so that the loop keeps its registers. */
static __attribute__((noinline)) memo_slot *memo_miss(memo_slot *m, uintptr_t key,
						       unsigned long long subs)
{
	uint64_t w;

	if (!packed_get(key, subs, &w))
		return NULL;
	memo_fill(m, key, w);
	return m;
}

static inline memo_slot *memo_get(memo_slot *base, uintptr_t key, unsigned long long subs)
{
	memo_slot *m = &base[(key ^ (key >> 9)) & (MEMO_SLOTS - 1)];

	if (__builtin_expect(m->key == key, 1))
		return m;
	return memo_miss(m, key, subs);
}

static int readable(uintptr_t a, size_t len);

/* *v = the word at a, if readable() says it can be read. */
static __attribute__((noinline, cold)) int read_checked(uintptr_t a, uintptr_t *v)
{
	if (!readable(a, sizeof(uintptr_t)))
		return 0;
	*v = *(const uintptr_t *)a;
	return 1;
}

/* One frame by m (not M_END), the one step of the fast walk: *ip, *sp and *bp become the
 * caller's. A word at a with a - lo < n is trusted to be mapped (this thread's stack
 * between the walk's start and its top: see find_stack); any other goes through
 * readable(). at[0] and at[1] get where ip and bp were read (at[1] 0: bp unchanged).
 * 0 when a word it needs cannot be read. */
/* *w = the word at a: directly when a - lo < n, else through read_checked (via a local,
 * so that the walk's own variable stays in a register). 0 when it cannot be read. */
static inline __attribute__((always_inline)) int step_word(uintptr_t a, uintptr_t lo,
							    uintptr_t n, uintptr_t *w)
{
	uintptr_t v;

	if (__builtin_expect(a - lo < n, 1))
		*w = *(const uintptr_t *)a;
	else if (read_checked(a, &v))
		*w = v;
	else
		return 0;
	return 1;
}

static inline __attribute__((always_inline)) int memo_step(const memo_slot *m, uintptr_t lo,
							    uintptr_t n, uintptr_t *ip,
			    uintptr_t *sp, uintptr_t *bp, uintptr_t at[2])
{
	uintptr_t cfa = ((m->flags & M_CFA_SP) ? *sp : *bp) + (uintptr_t)(intptr_t)m->cfa_off;
	uintptr_t a = cfa + (uintptr_t)(intptr_t)m->ra_off8 * sizeof(uintptr_t);

	if (!step_word(a, lo, n, ip))
		return 0;
	at[0] = a;
	at[1] = 0;
	if (m->flags & M_BP_SAVED) {
		a = cfa + (uintptr_t)(intptr_t)m->bp_off;
		if (!step_word(a, lo, n, bp))
			return 0;
		at[1] = a;
	}
	*sp = cfa;
	return 1;
}

/* libunwind 1.6's dwarf_reg_state_t as unw_reg_states_iterate passes it (x86-64): the
 * return-address column, then how each of the 17 preserved registers and the two CFA
 * columns is saved, then where. */
#define RS_NREGS 19
typedef struct rs_layout {
	unw_word_t ret_addr_column;
	char where[RS_NREGS];
	unw_word_t val[RS_NREGS];
} rs_layout;

enum { W_UNDEF, W_SAME, W_CFAREL, W_REG };	/* libunwind's DWARF_WHERE_* */

/* A rule keeps libunwind's state (184 bytes) for the walks that go through libunwind, which
 * apply it whole. Most of it is zero: the values of the registers saved nowhere. Packed,
 * it is the return-address column and the 19 `where` bytes, a bitmap of the values that
 * are not zero, and those values as 32-bit numbers (offsets and register numbers): 31 to
 * 59 bytes, and a rule's block of jemalloc 112 bytes (or 96) instead of 256 (cc1 at
 * 512 KiB makes 1,300 rules: the unwinder's memory there went from 0.42 to 0.30 MiB); only
 * while sampling is sparse (hp_unwind_set_sparse). A state that does not pack so (a value
 * that does not fit 32 bits, another layout) is kept whole; unpacked, a state is the same
 * bytes as libunwind gave but its padding. */
#define STATE_PACKED_MAX (1 + RS_NREGS + 3 + 4 * RS_NREGS)

void hp_unwind_set_sparse(int sparse)
{
	__atomic_store_n(&pack_states, sparse, __ATOMIC_RELAXED);
}

static size_t state_pack(const void *data, size_t size, unsigned char *out)
{
	rs_layout rs;
	size_t n = 1 + RS_NREGS + 3;
	uint32_t bits = 0;

	if (size != sizeof(rs))
		return 0;
	memcpy(&rs, data, sizeof(rs));
	if (rs.ret_addr_column >= 256)
		return 0;
	out[0] = (unsigned char)rs.ret_addr_column;
	memcpy(out + 1, rs.where, RS_NREGS);
	for (int i = 0; i < RS_NREGS; i++) {
		int32_t v = (int32_t)rs.val[i];

		if (!rs.val[i])
			continue;
		if ((unw_word_t)(int64_t)v != rs.val[i])
			return 0;
		bits |= 1u << i;
		memcpy(out + n, &v, 4);
		n += 4;
	}
	out[1 + RS_NREGS] = (unsigned char)bits;
	out[2 + RS_NREGS] = (unsigned char)(bits >> 8);
	out[3 + RS_NREGS] = (unsigned char)(bits >> 16);
	return n;
}

static void state_unpack(const unsigned char *in, rs_layout *rs);

/* state_pack, and 0 unless unpacking gives back every field of the state as it was (a
 * rule is made once per return address: the check is cheap, and exactness is not left
 * to the reasoning above). */
static size_t state_pack_checked(const void *data, size_t size, unsigned char *out)
{
	size_t n = state_pack(data, size, out);
	rs_layout a, b;

	if (!n)
		return 0;
	memcpy(&a, data, sizeof(a));
	state_unpack(out, &b);
	if (a.ret_addr_column != b.ret_addr_column || memcmp(a.where, b.where, RS_NREGS) != 0 ||
	    memcmp(a.val, b.val, sizeof(a.val)) != 0)
		return 0;
	return n;
}

static void state_unpack(const unsigned char *in, rs_layout *rs)
{
	size_t n = 1 + RS_NREGS + 3;
	uint32_t bits = in[1 + RS_NREGS] | (uint32_t)in[2 + RS_NREGS] << 8 |
			(uint32_t)in[3 + RS_NREGS] << 16;

	memset(rs, 0, sizeof(*rs));
	rs->ret_addr_column = in[0];
	memcpy(rs->where, in + 1, RS_NREGS);
	for (int i = 0; i < RS_NREGS; i++)
		if (bits & (1u << i)) {
			int32_t v;

			memcpy(&v, in + n, 4);
			rs->val[i] = (unw_word_t)(int64_t)v;
			n += 4;
		}
}

/* r's libunwind state, whole: in r, or unpacked into *buf. */
static const void *state_of(const rule *r, rs_layout *buf)
{
	if (!r->small)
		return r->state;
	state_unpack(r->state, buf);
	return buf;
}
#define COL_RBP 6
#define COL_RSP 7
#define COL_RA 16
#define COL_CFA_REG 17
#define COL_CFA_OFF 18

static int fits32(unw_word_t v)
{
	return (int64_t)v == (int32_t)v;
}

/* Fills r's compact form from its libunwind state, when the frame has an ordinary shape. */
static void compact(rule *r)
{
	fast_rule *f = &r->f;
	rs_layout rs, buf;

	f->kind = FAST_NONE;
	if (r->size != sizeof(rs))
		return;
	memcpy(&rs, state_of(r, &buf), sizeof(rs));
	if (rs.ret_addr_column != COL_RA)
		return;
	if (rs.where[COL_RA] == W_UNDEF) {
		f->kind = FAST_END;
		return;
	}
	if (rs.where[COL_CFA_REG] != W_REG ||
	    (rs.val[COL_CFA_REG] != COL_RSP && rs.val[COL_CFA_REG] != COL_RBP) ||
	    !fits32(rs.val[COL_CFA_OFF]) || rs.where[COL_RA] != W_CFAREL || !fits32(rs.val[COL_RA]))
		return;
	if (rs.where[COL_RBP] == W_CFAREL && fits32(rs.val[COL_RBP]))
		f->bp_saved = 1;
	else if (rs.where[COL_RBP] == W_SAME)
		f->bp_saved = 0;
	else
		return;
	f->cfa_sp = rs.val[COL_CFA_REG] == COL_RSP;
	f->cfa_off = (int32_t)rs.val[COL_CFA_OFF];
	f->ra_off = (int32_t)rs.val[COL_RA];
	f->bp_off = f->bp_saved ? (int32_t)rs.val[COL_RBP] : 0;
	f->kind = FAST_STEP;
}

static const object *object_of(uintptr_t ip);

typedef struct rule_search {
	uintptr_t key;
	rule *found;
} rule_search;

static int keep_row(void *token, void *data, size_t size, unw_word_t lo, unw_word_t hi)
{
	rule_search *rs = token;
	const object *o;
	rule *r;
	unsigned char packed_state[STATE_PACKED_MAX];
	size_t plen;

	if (rs->found || rs->key < lo || rs->key >= hi || size > UINT16_MAX)
		return 0;
	plen = __atomic_load_n(&pack_states, __ATOMIC_RELAXED) ?
		       state_pack_checked(data, size, packed_state) : 0;
	if ((r = hp_ialloc_k(HP_MEM_UNWIND, sizeof(*r) + (plen ? plen : size))) == NULL)
		return 0;
	memset(r, 0, sizeof(*r));
	r->key = rs->key;
	r->subs = walk_snap->subs;
	r->perm = (o = object_of(rs->key)) != NULL && o->permanent;
	r->ann = o && (o->permanent || o->announced == ANN_YES ||
		       (o->announced == ANN_LATER && !list_stale &&
			__atomic_load_n((const uintptr_t *)o->fini_slot, __ATOMIC_RELAXED) ==
				(uintptr_t)&finalize_self));
	r->size = (uint16_t)size;
	r->small = plen != 0;
	memcpy(r->state, plen ? packed_state : data, plen ? plen : size);
	compact(r);
	rs->found = r;
	return 0;
}

/* The compact form of a new rule must give what libunwind's step gave, from the same
 * registers (before: ip0, sp0, bp0; after: cur). Else it is not used. What is checked is
 * what the fast walk will run: the rule packed, unpacked into a memo slot, and stepped
 * by memo_step (a rule that does not pack is never used by the walk). */
static void check_compact(rule *r, unw_cursor_t *cur, int stepped, uintptr_t sp0, uintptr_t bp0)
{
	unw_word_t ip1, sp1, bp1;
	uintptr_t ip = 0, sp = sp0, bp = bp0, at[2];
	memo_slot m;
	uint64_t w;

	if (r->f.kind == FAST_END) {
		if (stepped > 0)
			r->f.kind = FAST_NONE;
		return;
	}
	if (r->f.kind != FAST_STEP || !pack(r, &w))
		return;
	if (stepped <= 0 || unw_get_reg(cur, UNW_REG_IP, &ip1) != 0 ||
	    unw_get_reg(cur, UNW_X86_64_RSP, &sp1) != 0 ||
	    unw_get_reg(cur, UNW_X86_64_RBP, &bp1) != 0)
		goto bad;
	memo_fill(&m, r->key, w);
	if (!memo_step(&m, 0, 0, &ip, &sp, &bp, at) || ip != ip1 || sp != sp1 || bp != bp1)
		goto bad;
	return;
bad:
	r->f.kind = FAST_NONE;
}

/* One step of cur, whose ip is ip (a return address): with a cached rule if there is one,
 * else by finding the rule (and caching it). Returns > 0 when there is a caller frame.
 * A slot holds a chain of rules (pushed with a compare-and-swap, never removed), so two
 * return addresses that hash alike both stay cached: the cache is bounded by the call
 * sites (and the unloads), not by how often they collide. */
static int step(unw_cursor_t *cur, uintptr_t ip)
{
	uintptr_t key = ip - 1;
	unsigned bits = cur_bits(), b, last = UINT_MAX;
	rule **slot = &rules[rule_hash(key, bits)], *head = __atomic_load_n(slot, __ATOMIC_ACQUIRE), *r;
	rule_search rs = { key, NULL };
	unsigned long long subs = walk_snap->subs;
	unw_word_t sp0, bp0;
	rs_layout buf;
	int ret;

	if (list_stale)
		return unw_step(cur);
	for (b = bits; b >= RULE_BITS_MIN; b--) {	/* the chains under each size, newest first */
		unsigned i = rule_hash(key, b);

		if (i == last)
			continue;
		last = i;
		for (r = __atomic_load_n(&rules[i], __ATOMIC_ACQUIRE); r; r = r->next)
			if (r->key == key && r->subs == subs) {
				packed_put(r);	/* its packed slot may have gone to another key */
				return unw_apply_reg_state(cur, (void *)state_of(r, &buf));
			}
	}
	if (unw_reg_states_iterate(cur, keep_row, &rs) < 0 || !rs.found)
		return unw_step(cur);	/* signal frames, odd tables: the full step */
	r = rs.found;
	if (unw_get_reg(cur, UNW_X86_64_RSP, &sp0) != 0 || unw_get_reg(cur, UNW_X86_64_RBP, &bp0) != 0)
		r->f.kind = FAST_NONE;
	ret = unw_apply_reg_state(cur, (void *)state_of(r, &buf));
	if (r->f.kind != FAST_NONE)
		check_compact(r, cur, ret, sp0, bp0);
	do
		r->next = head;
	while (!__atomic_compare_exchange_n(slot, &head, r, 1, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE));
	rule_added();
	packed_put(r);
	return ret;
}

/* --- the unwind lock and the loader ----------------------------------------------------
 * unwind_lock prefers writers (so that fork's prepare handler is not starved by threads
 * that call dl_iterate_phdr without pause); a thread never takes it twice for reading
 * (read_depth counts), and every wait for it is bounded: a thread that cannot have it in
 * time goes without (a sample without a stack) rather than risk a deadlock with the
 * loader lock, which this module cannot see. */
#define READ_WAIT_MS 200

static __thread int read_depth;	/* holds of unwind_lock for reading by this thread */
static __thread int phdr_depth;	/* inside the program's dl_iterate_phdr (our wrapper) */

typedef int (*lock_fn)(pthread_rwlock_t *, clockid_t, const struct timespec *);

static int timed_lock(lock_fn fn, long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return fn(&unwind_lock, CLOCK_MONOTONIC, &t) == 0;
}

static int read_enter(long ms)
{
	if (read_depth > 0 || pthread_rwlock_tryrdlock(&unwind_lock) == 0 ||
	    timed_lock(pthread_rwlock_clockrdlock, ms)) {
		read_depth++;
		return 1;
	}
	return 0;
}

static void read_exit(void)
{
	if (--read_depth == 0)
		pthread_rwlock_unlock(&unwind_lock);
}

/* glibc's dl_iterate_phdr. The library exports its own (below), so that the program's calls
 * also hold the read lock: fork's prepare handler then waits until no thread is inside
 * dl_iterate_phdr, whose lock glibc does not reset in the child. Our own calls go to
 * glibc's directly, with the read lock held. */
typedef int (*phdr_cb)(struct dl_phdr_info *, size_t, void *);
typedef int (*iterate_fn)(phdr_cb, void *);
static void *real_iterate;			/* atomic: glibc_next's cache */

static iterate_fn find_iterate(void)
{
	return (iterate_fn)glibc_next(&real_iterate, "dl_iterate_phdr");
}

static int iterate(phdr_cb cb, void *data)
{
	iterate_fn f = find_iterate();

	return f ? f(cb, data) : 0;
}

/* The program's calls wait for the read lock as long as it takes (only fork's prepare
 * handler holds it for writing, briefly): a call let through unguarded could leave the
 * loader's lock held in a fork child. */
HP_EXPORT int dl_iterate_phdr(phdr_cb cb, void *data)
{
	int r;

	if (read_depth++ == 0)
		pthread_rwlock_rdlock(&unwind_lock);
	phdr_depth++;
	r = iterate(cb, data);
	phdr_depth--;
	read_exit();
	return r;
}

/* Brings the object list up to date with the loader's, if it changed (dlopen, dlclose).
 * Costs one dl_iterate_phdr call that stops at the first object when nothing changed.
 * Called and returning with unwind_lock held for reading: every dl_iterate_phdr call of
 * ours runs under it, so fork's prepare handler (which takes it for writing) never forks
 * while one of our threads holds the loader's lock for dl_iterate_phdr, which glibc does
 * not reset in the child.
 * A refresh never waits: if another is under way or no slot is free, this walk goes on with
 * the snapshot it has, marked stale (see list_stale). *gen: the loader's generation.
 * Then settled_word is brought up to date with the look ("unloads we see"). */
static void refresh_objects(generation *gen)
{
	generation g = { 0, 0 };
	snapshot *cur;
	unsigned long f = __atomic_load_n(&fini_count, __ATOMIC_SEQ_CST);	/* before the look */

	iterate(read_generation, &g);
	cur = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
	if (!cur || g.adds != cur->adds || g.subs != cur->subs) {
		rebuild rb = { 0, 0, 0, { 0, 0 }, NULL };

		iterate(collect, &rb);
		if (rb.locked) {
			cur = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
			if (rb.fresh) {
				rb.fresh->adds = rb.gen.adds;
				rb.fresh->subs = rb.gen.subs;
				if (cur && rb.gen.subs != cur->subs)
					retire_departed(rb.fresh, cur);	/* rules of theirs: see rule.subs */
				__atomic_store_n(&current_subs, rb.fresh->subs, __ATOMIC_RELEASE);
				__atomic_store_n(&current, rb.fresh, __ATOMIC_SEQ_CST);
			}
			pthread_mutex_unlock(&refresh_lock);
		}
		if (rb.started)
			g = rb.gen;
	}
	*gen = g;
	if (g.adds || g.subs)
		publish_settled(f, &g);
}

/* Pins the current snapshot for the walk (walk_snap; the caller unpins it): stale unless it
 * is the loader's generation g (refresh_objects). */
static void pin_walk(const generation *g)
{
	walk_snap = pin();
	list_stale = !walk_snap || g->adds != walk_snap->adds || g->subs != walk_snap->subs;
}

/* In the walk's snapshot. */
static const object *object_of(uintptr_t ip)
{
	const snapshot *s = walk_snap;

	for (int i = 0; s && i < s->n; i++)
		if (ip >= s->v[i].text_lo && ip < s->v[i].text_hi)
			return &s->v[i];
	return NULL;
}

/* Under unwind_lock (read). */
static int in_object_segment(uintptr_t a, size_t len)
{
	const snapshot *sn = walk_snap;

	for (int i = 0; sn && i < sn->n; i++) {
		const object *o = &sn->v[i];

		for (int s = 0; s < o->nsegs; s++)
			if (a >= o->seg_lo[s] && a + len <= o->seg_hi[s]) {
				last_lo = o->seg_lo[s];
				last_hi = o->seg_hi[s];
				return 1;
			}
	}
	return 0;
}

/* Pages are trusted from the cache only between the stack pointer of the walk under way
 * and the top of this thread's stack: that part of its stack stays mapped while the walk
 * runs. Pages above the stack (a stack the program carved out of a bigger mapping of its
 * own) or a walk on another stack (sigaltstack, coroutines) trust nothing from the cache.
 * trust_hi is 0 then. */
static __thread uintptr_t walk_sp, trust_hi;
static __thread uintptr_t stack_lo, stack_hi;	/* this thread's stack, found once */
static __thread int stack_found;

extern void *__libc_stack_end;	/* the main thread's stack top (ld.so) */

/* The bounds of the calling thread's stack: pthread_getattr_np for threads (it may
 * allocate: the caller holds the guard); for the main thread the loader's stack end and
 * the stack size limit (a smaller guess only costs kernel checks). */
static void find_stack(void)
{
	pthread_attr_t attr;
	struct rlimit rl;
	void *addr;
	size_t size;

	stack_found = 1;
	if (getpid() == (pid_t)syscall(SYS_gettid)) {
		size = 8u << 20;
		if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur < ((rlim_t)1 << 30))
			size = rl.rlim_cur;
		stack_hi = ((uintptr_t)__libc_stack_end + 4095) & ~(uintptr_t)4095;
		stack_lo = stack_hi - size;
	} else if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
			stack_lo = (uintptr_t)addr;
			stack_hi = (uintptr_t)addr + size;
		}
		pthread_attr_destroy(&attr);
	}
}

/* The page is in this thread's cache of checked pages, and in the trusted part of its stack. */
static int page_known(uintptr_t page)
{
	if (page < walk_sp || page >= trust_hi)
		return 0;
	for (unsigned i = 0; i < GOOD_PAGES; i++)
		if (good_pages[i] == page)
			return 1;
	return 0;
}

/* Asks the kernel (one process_vm_readv on ourselves) and remembers a readable page. */
static int page_check(uintptr_t page)
{
	uint64_t v;
	struct iovec local = { &v, sizeof(v) }, remote = { (void *)page, sizeof(v) };

	if (!vm_read_works)
		return 1;
	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)sizeof(v)) {
		if (errno == ENOSYS || errno == EPERM)
			vm_read_works = 0;	/* filtered: trust the unwind tables */
		return !vm_read_works;
	}
	good_pages[good_next++ % GOOD_PAGES] = page;
	return 1;
}

static int page_readable(uintptr_t page)
{
	return page_known(page) || page_check(page);
}

/* Cost budget: libunwind calls this for every word it reads, most of them on the stack or
 * in the unwind tables of one object, so the last range that matched is tried first, then
 * the stack pages already checked, then the objects; the kernel is asked last, once. */
static int readable(uintptr_t a, size_t len)
{
	uintptr_t first = a & ~(uintptr_t)4095, last = (a + len - 1) & ~(uintptr_t)4095;

	if (a == 0 || a + len < a)
		return 0;	/* before any range test: a + len must not wrap (rbp = -8) */
	if (a >= last_lo && a + len <= last_hi)
		return 1;
	if (first == last && page_known(first)) {
		last_lo = first;
		last_hi = first + 4096;
		return 1;
	}
	if (!list_stale && in_object_segment(a, len))
		return 1;
	if (!page_readable(first) || (last != first && !page_readable(last)))
		return 0;
	if (first == last && first >= walk_sp && first < trust_hi) {
		last_lo = first;
		last_hi = first + 4096;
	}
	return 1;
}

static int access_mem(unw_addr_space_t a, unw_word_t addr, unw_word_t *val, int write,
		      void *arg)
{
	if (write || !readable(addr, sizeof(*val)))
		return -UNW_EINVAL;
	memcpy(val, (const void *)(uintptr_t)addr, sizeof(*val));
	return 0;
}

static int access_reg(unw_addr_space_t a, unw_regnum_t reg, unw_word_t *val, int write,
		      void *arg)
{
	static const int map[17] = {
		REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP,
		REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP
	};
	const ucontext_t *uc = arg;

	if (write || reg < 0 || reg > 16)
		return -UNW_EBADREG;
	*val = (unw_word_t)uc->uc_mcontext.gregs[map[reg]];
	return 0;
}

static int access_fpreg(unw_addr_space_t a, unw_regnum_t reg, unw_fpreg_t *val, int write,
			void *arg)
{
	return -UNW_EBADREG;
}

/* During a walk (its snapshot pinned). */
static int find_proc_info(unw_addr_space_t a, unw_word_t ip, unw_proc_info_t *pi,
			  int need_unwind_info, void *arg)
{
	const object *o = object_of(ip);
	unw_dyn_info_t di;

	if (!o || !o->has_table)
		return -UNW_ENOINFO;	/* JIT code, or an object without .eh_frame_hdr */
	di = o->di;
	return _Ux86_64_dwarf_search_unwind_table(a, ip, &di, pi, need_unwind_info, arg);
}

static void put_unwind_info(unw_addr_space_t a, unw_proc_info_t *pi, void *arg)
{
}

static int get_dyn_info_list_addr(unw_addr_space_t a, unw_word_t *addr, void *arg)
{
	return -UNW_ENOINFO;	/* no dynamically registered unwind info */
}

static unw_accessors_t accessors = {
	.find_proc_info = find_proc_info,
	.put_unwind_info = put_unwind_info,
	.get_dyn_info_list_addr = get_dyn_info_list_addr,
	.access_mem = access_mem,
	.access_reg = access_reg,
	.access_fpreg = access_fpreg,
};

int hp_process_threads(int *leader_exited)
{
	char buf[1024], *p;
	ssize_t n;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), field = 2;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* Fields after the command name (which may hold spaces) start after the last ')';
	 * the third is the state of the main thread ('Z' once it called pthread_exit). */
	p = strrchr(buf, ')');
	if (leader_exited)
		*leader_exited = p && p[1] == ' ' && p[2] == 'Z';
	for (; p && *p; p++)
		if (*p == ' ' && ++field == 20)
			return atoi(p + 1);
	return -1;
}

#define FD_SCAN 1024

/* set[fd]: descriptor fd (below FD_SCAN) is open. Read from /proc/self/fd, a few
 * getdents64 calls (the directory's own descriptor left out); without /proc, one
 * fcntl(F_GETFD) for each descriptor, FD_SCAN calls (about 0.3 ms, twice in every
 * process's start). */
static void open_fds(unsigned char *set)
{
	char buf[2048] __attribute__((aligned(8)));
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ssize_t n = -1;

	memset(set, 0, FD_SCAN);
	if (dfd >= 0) {
		while ((n = getdents64(dfd, buf, sizeof(buf))) > 0) {
			for (ssize_t off = 0; off < n;) {
				const struct dirent64 *d = (const struct dirent64 *)(buf + off);
				char *end;
				long fd = strtol(d->d_name, &end, 10);

				if (end != d->d_name && !*end && fd >= 0 && fd < FD_SCAN && fd != dfd)
					set[fd] = 1;
				off += d->d_reclen;
			}
		}
		close(dfd);
	}
	if (n < 0)	/* no /proc, or it failed part way: ask for each descriptor */
		for (int fd = 0; fd < FD_SCAN; fd++)
			set[fd] = fcntl(fd, F_GETFD) != -1;
}

/* libunwind opens its validation pipe when it initialises, even though our address space
 * never uses it (our accessors do the checking). So that heapprof keeps no descriptor
 * open, the pipe is closed again, but only while the process is single-threaded (as in
 * our constructor or first malloc): then no other thread can have opened a pipe meanwhile. */
static void close_libunwind_pipe(const unsigned char *before)
{
	unsigned char after[FD_SCAN];

	open_fds(after);
	for (int fd = 0; fd < FD_SCAN; fd++) {	/* 0-2 too: a program may start without them */
		struct stat st;

		if (after[fd] && !before[fd] && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
			close(fd);
	}
}

static void recall_init(void);	/* the recalled walks, below */

int hp_unwind_init(void)
{
	unsigned char before[FD_SCAN];
	int single = hp_process_threads(NULL) == 1;
	uint64_t warm[4];
	const object *me;
	generation gen;

	if (single)
		open_fds(before);

	hp_mem_static(HP_MEM_UNWIND, snaps, sizeof(snaps));
	hp_mem_static(HP_MEM_UNWIND, rules, sizeof(rules));
	hp_mem_static(HP_MEM_UNWIND, packed, sizeof(packed));
	recall_init();
	find_finalize();	/* now, not from inside a dlclose */
	if (!find_iterate() || !read_enter(READ_WAIT_MS))
		return -ENOSYS;
	refresh_objects(&gen);
	pin_walk(&gen);		/* object_of() reads the walk's snapshot */
	me = object_of((uintptr_t)&hp_unwind_init);
	if (me) {
		self_lo = me->text_lo;
		self_hi = me->text_hi;
	}
	unpin(walk_snap);
	read_exit();
	as = unw_create_addr_space(&accessors, 0);
	if (!as || unw_set_caching_policy(as, UNW_CACHE_NONE) != 0)
		return -ENOTSUP;
	ready = 1;
	hp_unwind_capture(warm, 4);	/* libunwind's lazy initialisation happens now */
	if (single)
		close_libunwind_pipe(before);
	return 0;
}

/* The registers a walk starts from: regs_here(r) stores its return address (r[0]), the
 * stack pointer after its return (r[1]) and rbp (r[2]), as unw_getcontext would for the
 * same call site but without saving the other registers and the FPU state, which the
 * compact rules never use (a tenth of a fast walk's time). No frame of its own: nothing
 * ever unwinds through it. */
__asm__(".text\n"
	".p2align 4\n"
	".type hp_unwind_regs_here, @function\n"
	".hidden hp_unwind_regs_here\n"
	".globl hp_unwind_regs_here\n"
	"hp_unwind_regs_here:\n"
	"\tmovq (%rsp), %rax\n"
	"\tmovq %rax, 0(%rdi)\n"
	"\tleaq 8(%rsp), %rax\n"
	"\tmovq %rax, 8(%rdi)\n"
	"\tmovq %rbp, 16(%rdi)\n"
	"\tret\n"
	".size hp_unwind_regs_here, .-hp_unwind_regs_here\n");
void hp_unwind_regs_here(uintptr_t r[3]);

/* ip is the x86-64 Linux sigreturn trampoline (glibc's __restore_rt: mov $15, %rax;
 * syscall), where a signal handler returns. */
static int at_sigreturn(uintptr_t ip)
{
	static const unsigned char code[9] = { 0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05 };

	return readable(ip, sizeof(code)) && memcmp((const void *)ip, code, sizeof(code)) == 0;
}

/* The previous fast walk of this thread, frame by frame, so that the next one can take its
 * outer part without stepping through it. Consecutive samples of a thread mostly share
 * the frames from main (or the thread's start) to somewhere near the allocation, and a
 * step is a chain of dependent loads (the rule, then the stack word it points at, then
 * the next rule), while checking a frame of the last walk is two loads from addresses
 * known in advance. A new walk that reaches a frame with the same registers (ip, sp, bp)
 * as one of the last walk would, from there on, read the same stack words (at[] of each
 * outer frame) and apply the same rules (same unload count); if every one of those words
 * still holds what it held, the rest of the walk is the last one's. Words are compared
 * only inside the trusted part of the stack (no read can fault).
 * last[] holds the outermost frame first (last[0]), so that the part a new walk shares
 * stays where it is; the new walk's own frames wait in fresh[] (innermost first) until it
 * knows where they go. 9 KiB of each thread's static TLS, with chk[], last_ph[] and
 * last_rip[]. */
#define REUSE_MAX 64
/* A frame as the walk steps into it (fresh[]). */
typedef struct wfresh {
	uintptr_t ip, sp, bp;	/* the frame's registers (ip is the pc recorded) */
	uintptr_t at[2];	/* where the step into it read ip and bp (see memo_step) */
	unsigned char rflags;	/* the flags of the rule looked up at it (M_NORULE: none) */
} wfresh;
/* A frame of the last walk (last[]). The stack words a later walk must find unchanged to
 * take the frames outside one of them (its return address, and its bp where the walk on
 * reads that) are kept apart, outermost frame first, in chk[]: frames 0..i own the first
 * nchk of them, which one loop without a branch a word compares. (The checks were a loop
 * over last[] with two range tests and three branches a word, and looked at every saved
 * bp: 156 M of python's 1,870 M instructions at rate=1, callgrind, wl_json.py 2.) */
typedef struct wframe {
	uintptr_t ip, sp, bp;	/* as in wfresh */
	uintptr_t cmin, cmax;	/* the lowest and highest address of the words of frames 0..i */
	unsigned char rflags;	/* as in wfresh */
	unsigned char operm;	/* M_PERM (M_ANN) if its rule and every outer frame's were so */
	unsigned char obp;	/* the walk on from it reads its bp (else bp need not match) */
	uint16_t nchk;		/* chk[] entries of frames 0..i */
} wframe;
typedef struct wcheck {
	uintptr_t a, v;		/* the word at a held v */
} wcheck;
static __thread wframe last[REUSE_MAX];
static __thread wfresh fresh[REUSE_MAX];
static __thread wcheck chk[2 * REUSE_MAX];
/* last_ph[i]: the stack hash's chain value (lib/stacktab, hp_stack_hash_step) of last[0..i],
 * so that a walk's hash costs a step for each of its own frames only (hp_unwind_hash). */
static __thread uint64_t last_ph[REUSE_MAX];
/* last_rip[REUSE_MAX - 1 - i] = last[i].ip: the frames' pcs innermost first, as a capture
 * returns them, so that the shared part of a walk is one copy (memcpy) and not a loop of
 * loads and stores over last[] (3% of python's instructions at rate=1). */
static __thread uint64_t last_rip[REUSE_MAX];
static __thread int last_n;			/* frames in last[] (0: nothing to reuse) */
static __thread int last_whole;			/* last[0] has a rule without caller */
static __thread unsigned long long last_subs;	/* the unload count of their rules */
/* The last capture's frames are the ones last[] holds: its walk kept them all, and no
 * capture since went another way (see hp_unwind_again). */
static __thread int walk_kept;
/* What a walk says of itself (*how): every rule it used was of a permanent object
 * (M_PERM), or of a permanent or announced one (M_ANN), the memo's flags as they came
 * through the walk (M_HOLDS of them); it kept all its frames in last[] for the next
 * (WALK_KEPT, a bit no M_HOLDS flag uses). */
#define M_HOLDS (M_PERM | M_ANN)
enum { WALK_KEPT = 2 };

/* Rules with these M_HOLDS flags, made at unload count subs, hold now: those of permanent
 * objects always, those of announced ones while settled(). */
static inline int rules_hold(unsigned flags, unsigned long long subs)
{
	return (flags & M_PERM) || ((flags & M_ANN) && settled(subs));
}

/* The nchk words of a check list (c) still hold their values. Each word is read only if it
 * lies in this walk's trusted stack (lo, n as for memo_step: from lo up to the thread's
 * stack top), which the lowest and the highest of them (cmin, cmax) say; then every word
 * is loaded and compared, without a branch a word. */
static inline __attribute__((always_inline)) int words_hold(const wcheck *c, unsigned nchk,
								uintptr_t cmin, uintptr_t cmax,
								uintptr_t lo, uintptr_t n)
{
	uintptr_t d = 0;

	if (cmin < lo || cmax - lo >= n)
		return 0;
	for (unsigned i = 0; i < nchk; i++)
		d |= *(const uintptr_t *)c[i].a ^ c[i].v;
	return d == 0;
}

/* The frames outside last[r] hold: every word they were read from is unchanged. */
static inline __attribute__((always_inline)) int reusable(int r, uintptr_t lo, uintptr_t n)
{
	const wframe *o;

	if (r == 0)
		return 1;
	o = &last[r - 1];
	return words_hold(chk, o->nchk, o->cmin, o->cmax, lo, n);
}

/* The last walk's frames again, before any walk (hp_unwind_again): entry (a call into the
 * library) is the last walk's first frame (same return address, stack pointer and, if the
 * walk on reads it, rbp), that walk kept all its frames, their rules were all of permanent
 * objects (so no unload can have made them wrong: no snapshot to pin, no loader to ask),
 * and every word under the frame holds what it held. A loop that allocates from one place
 * at rate=1 then pays the checks of its frames' words and nothing else (the walk, below,
 * would find the same at its first frame after pinning the object list). lo and n as for
 * reusable().
 * Returns the frames, or 0. same_first() first: most walks that are not the same leave
 * there, without the call. */
static inline int same_first(const uintptr_t *entry)
{
	int k = last_n - 1;

	return k >= 0 && last[k].ip == entry[0] && last[k].sp == entry[1];
}

static __attribute__((noinline)) int same_again(const uintptr_t *entry, uintptr_t lo, uintptr_t n,
						 uint64_t *pcs, int max)
{
	int k = last_n - 1;
	const wframe *f = &last[k];

	if (k >= max || (k + 1 < max && !last_whole) ||
	    !rules_hold(f->operm, last_subs) ||
	    (f->obp && f->bp != entry[2]) || !reusable(k, lo, n))
		return 0;
	memcpy(pcs, &last_rip[REUSE_MAX - 1 - k], (size_t)(k + 1) * sizeof(*pcs));
	return k + 1;
}

/* After a walk: its k frames in fresh[] become the innermost of last[], outside which
 * `kept` frames of last[] stay; whole when the outermost is the real one. WALK_KEPT when
 * last[] then holds every frame of the walk. */
static __attribute__((optimize("no-tree-slp-vectorize"))) int
keep_walk(int k, int kept, int whole, unsigned long long subs)
{
	int total = kept + k, drop = total > REUSE_MAX ? total - REUSE_MAX : 0;

	if (k > REUSE_MAX) {	/* fresh[] lost its outer frames */
		last_n = 0;
		return 0;
	}
	/* Outermost first, each frame's operm, obp, the bounds of its words and its chk[]
	 * count from the next outer one's, carried in registers (not stored and read back a
	 * frame later). Fields one by one: the walk has just written fresh[i] a word at a
	 * time, and a 16-byte load across two of those stores waits until they reach the
	 * cache (a failed store forward: a third of this function's time, perf; hence no
	 * vectorising here). */
	const wframe *o = kept ? &last[kept - 1] : NULL;
	uint64_t h = o ? last_ph[kept - 1] : HP_STACK_HASH_SEED;
	unsigned operm = o ? o->operm : M_HOLDS, obp = o ? o->obp : 1;
	wcheck *c = o ? &chk[o->nchk] : chk;
	uintptr_t cmin = o ? o->cmin : UINTPTR_MAX, cmax = o ? o->cmax : 0;

	for (int i = k - 1, j = kept; i >= drop; i--, j++) {
		const wfresh *g = &fresh[i];
		wframe *f = &last[j];
		unsigned fl = g->rflags;
		uintptr_t ip = g->ip, a0 = g->at[0], a1 = g->at[1];

		h = hp_stack_hash_step(h, ip);
		last_ph[j] = h;
		last_rip[REUSE_MAX - 1 - j] = ip;
		f->ip = ip;
		f->sp = g->sp;
		f->bp = g->bp;
		f->rflags = (unsigned char)fl;
		operm &= fl & M_HOLDS;
		/* bp is read for this frame's CFA, or carried to the next frame unless the
		 * rule restores it from the stack (a word at[1] then checks); a frame without
		 * a rule has M_OBP */
		obp = ((fl / M_OBP) | (fl / M_OBPC & obp)) & 1;
		f->operm = (unsigned char)operm;
		f->obp = (unsigned char)obp;
		c->a = a0;	/* 0 for a walk's first frame: never within a stack */
		c->v = ip;
		c++;
		cmin = a0 < cmin ? a0 : cmin;
		cmax = a0 > cmax ? a0 : cmax;
		if (obp && a1) {	/* its bp is read on, from a word */
			c->a = a1;
			c->v = g->bp;
			c++;
			cmin = a1 < cmin ? a1 : cmin;
			cmax = a1 > cmax ? a1 : cmax;
		}
		f->cmin = cmin;
		f->cmax = cmax;
		f->nchk = (uint16_t)(c - chk);
	}
	last_n = total - drop;	/* the innermost beyond REUSE_MAX dropped */
	last_whole = whole;
	last_subs = subs;
	return drop ? 0 : WALK_KEPT;
}

/* The walk by compact rules alone, from the registers r0 (ip, sp, bp) of a frame: its ip is
 * the first pc recorded unless it is inside heapprof, whose frames are stepped over first.
 * Words from lo (the current stack pointer) up to the top of the thread's stack are mapped
 * (live frames of this thread: see find_stack); a read anywhere else goes through
 * readable(). Returns how many frames it filled, or -1 when a frame needs libunwind (no
 * rule yet, or not an ordinary shape): the caller then walks again the slow way, which
 * makes the missing rules. *how: M_PERM when every rule it used (its own or the last
 * walk's) was of a permanent object, M_ANN when each was of a permanent or an announced
 * one, and WALK_KEPT (above). */
static inline __attribute__((always_inline)) int walk(const uintptr_t r0[3], uintptr_t lo,
						      unsigned long long subs, uint64_t *pcs,
						      int max, int *how)
{
	uintptr_t ip = r0[0], sp = r0[1], bp = r0[2], at[2] = { 0, 0 };
	uintptr_t n_trusted = trust_hi > lo + sizeof(uintptr_t) ?
				      trust_hi - lo - sizeof(uintptr_t) + 1 : 0;
	memo_slot *base = memo;	/* this thread's: its address once, not a TLS lookup a frame */
	wfresh *fr = fresh;
	const memo_slot *m;
	unsigned perm = M_HOLDS;
	int n = 0, r = last_subs == subs ? last_n - 1 : -1, whole;

	if (memo_subs != subs) {
		memset(memo, 0, sizeof(memo));
		memo_subs = subs;
	}
	while (ip >= self_lo && ip < self_hi) {
		if (!(m = memo_get(base, ip - 1, subs)))
			return -1;
		perm &= m->flags;
		if ((m->flags & M_END) || !memo_step(m, lo, n_trusted, &ip, &sp, &bp, at) ||
		    ip == 0) {
			*how = (int)(perm & M_HOLDS);
			last_n = 0;
			return 0;	/* the slow step stops here too */
		}
	}
	for (;;) {
		pcs[n] = ip;
		if (n < REUSE_MAX)
			fr[n] = (wfresh){ ip, sp, bp, { at[0], at[1] }, M_HOLDS | M_NORULE | M_OBP };
		if (++n == max) {
			whole = 0;
			break;
		}
		while (r >= 0 && last[r].sp < sp)
			r--;
		if (r >= 0 && last[r].sp == sp && last[r].ip == ip &&
		    (!last[r].obp || last[r].bp == bp)) {
			if (r + n <= max && (r + n == max || last_whole) && reusable(r, lo, n_trusted)) {
				/* this walk's n frames (the last is last[r]), then last[r-1..0] */
				perm &= last[r].operm;
				if (n <= REUSE_MAX)
					fr[n - 1].rflags = last[r].rflags;
				memcpy(&pcs[n], &last_rip[REUSE_MAX - r],
				       (size_t)r * sizeof(*pcs));
				n += r;
				*how = (int)(perm & M_HOLDS) |
				       keep_walk(n - r, r, last_whole && n < max, subs);
				return n;
			}
			r = -1;
		}
		if (!(m = memo_get(base, ip - 1, subs)))
			return -1;
		perm &= m->flags;
		if (n <= REUSE_MAX)
			fr[n - 1].rflags = m->flags;
		if ((m->flags & M_END) || !memo_step(m, lo, n_trusted, &ip, &sp, &bp, at) ||
		    ip == 0) {
			/* Whole only at a rule without caller: a walk that read a return address
			 * of 0 would need that word checked too before it is reused. */
			whole = (m->flags & M_END) != 0;
			break;
		}
	}
	*how = (int)(perm & M_HOLDS) | keep_walk(n, 0, whole, subs);
	return n;
}

/* Out of line, so that hp_unwind_capture_at's own registers stay out of the loop's way. */
static __attribute__((noinline)) int fast_walk(const uintptr_t r0[3], uintptr_t lo,
					     unsigned long long subs, uint64_t *pcs, int max,
					     int *how)
{
	return walk(r0, lo, subs, pcs, max, how);
}

/* The words of this thread's stack from its current stack pointer up: lo and the count n
 * that reusable() and the recalled walks' check take (0 off the thread's own stack, as on a
 * coroutine's: then nothing is taken from an earlier walk). */
static inline uintptr_t trusted_here(uintptr_t *lo)
{
	uintptr_t hi;

	__asm__("movq %%rsp, %0" : "=r"(*lo));	/* the words above are this thread's live frames */
	hi = (*lo & ~(uintptr_t)4095) >= stack_lo && *lo < stack_hi ? stack_hi : 0;
	return hi > *lo + sizeof(uintptr_t) ? hi - *lo - sizeof(uintptr_t) + 1 : 0;
}

int hp_unwind_again(const uintptr_t *entry, uint64_t *pcs, int max)
{
	uintptr_t lo, n;

	if (!entry || !walk_kept || !ready || max <= 0 || !stack_found || !same_first(entry))
		return 0;
	n = trusted_here(&lo);
	return same_again(entry, lo, n, pcs, max);	/* last[] stays as it is, walk_kept with it */
}

/* Recalled walks (hp_unwind_recall): a thread's walks kept by where they started, the
 * entry's return address and stack pointer, RECALL_SLOTS of them in a table the thread
 * allocates at its first (at dense rates only: lib/prof). Each holds what same_again needs
 * of last[]: its first frame's registers, the flags and the unload count its rules hold
 * by, and a copy of the check list of its outer frames (chk[], their bounds), with the
 * caller's tag (lib/prof: the stack's entry in the table). A walk with more words to check
 * than RECALL_CHK is not kept (a return address a frame, and a saved rbp where the walk on
 * reads it: python's walks have up to 64 frames and few such rbp; a stack of 32 frames
 * that all keep rbp has 59 words). 68 KiB a thread. */
#define RECALL_LG 6
#define RECALL_SLOTS (1 << RECALL_LG)
#define RECALL_CHK 64
typedef struct recall {
	uintptr_t ip, sp, bp;		/* the walk's first frame */
	uintptr_t cmin, cmax;		/* the bounds of chk's words (nchk > 0) */
	unsigned long long subs;	/* the unload count of its rules */
	const void *tag;		/* NULL: an empty slot */
	uint16_t nchk;
	unsigned char operm, obp;	/* its first frame's, as in wframe */
	wcheck chk[RECALL_CHK];
} recall;
#define RECALLS_GONE ((recall *)1)	/* the thread is exiting: no table again */
static __thread recall *recalls;
static pthread_key_t recall_key;
static int recall_key_made;

static void recall_thread_exit(void *arg)
{
	(void)arg;
	if (recalls && recalls != RECALLS_GONE)
		hp_ifree_k(HP_MEM_UNWIND, recalls);
	recalls = RECALLS_GONE;
}

static void recall_init(void)
{
	if (pthread_key_create(&recall_key, recall_thread_exit) == 0)
		__atomic_store_n(&recall_key_made, 1, __ATOMIC_RELEASE);
}

/* The multiply's top bits, which every bit of ip and sp reaches (its low bits, as a first
 * version had them, left python's places colliding: 60-82% of its samples recalled, run
 * to run with the stack's address, against 86-94%). */
static inline recall *recall_slot(recall *t, uintptr_t ip, uintptr_t sp)
{
	return &t[((ip ^ (sp << 17) ^ (sp >> 4)) * 0x9e3779b97f4a7c15ull) >> (64 - RECALL_LG)];
}

const void *hp_unwind_recall(const uintptr_t *entry)
{
	recall *t = recalls, *r;
	uintptr_t lo, n;

	if (!t || t == RECALLS_GONE || !entry || !stack_found)
		return NULL;
	r = recall_slot(t, entry[0], entry[1]);
	if (r->ip != entry[0] || r->sp != entry[1] || !r->tag || (r->obp && r->bp != entry[2]) ||
	    !rules_hold(r->operm, r->subs))
		return NULL;
	if (r->nchk) {	/* none: a walk of one frame, whole there */
		n = trusted_here(&lo);
		if (!words_hold(r->chk, r->nchk, r->cmin, r->cmax, lo, n))
			return NULL;
	}
	return r->tag;
}

void hp_unwind_remember(const uintptr_t *entry, const void *tag, int max)
{
	int k = last_n - 1;
	unsigned nchk;
	const wframe *f;
	recall *r;

	/* the walk just made or taken again (walk_kept: last[] holds all of it), whole or
	 * as deep as asked, from entry */
	if (!entry || !tag || !walk_kept || k < 0 || k >= max || (k + 1 < max && !last_whole))
		return;
	f = &last[k];
	nchk = k ? last[k - 1].nchk : 0;
	if (f->ip != entry[0] || f->sp != entry[1] || nchk > RECALL_CHK)
		return;
	if (!recalls) {
		if (!__atomic_load_n(&recall_key_made, __ATOMIC_ACQUIRE) ||
		    !(recalls = hp_icalloc_k(HP_MEM_UNWIND, RECALL_SLOTS * sizeof(*recalls)))) {
			recalls = RECALLS_GONE;
			return;
		}
		pthread_setspecific(recall_key, (void *)1);	/* recall_thread_exit */
	}
	if (recalls == RECALLS_GONE)
		return;
	r = recall_slot(recalls, entry[0], entry[1]);
	r->ip = f->ip;
	r->sp = f->sp;
	r->bp = f->bp;
	r->obp = f->obp;
	r->operm = f->operm;
	r->subs = last_subs;
	r->nchk = (uint16_t)nchk;
	if (k) {
		r->cmin = last[k - 1].cmin;
		r->cmax = last[k - 1].cmax;
	}
	memcpy(r->chk, chk, nchk * sizeof(*chk));
	r->tag = tag;
}

int hp_unwind_hash(uint64_t *h)
{
	if (!walk_kept || last_n <= 0)
		return 0;
	*h = hp_stack_hash_end(last_ph[last_n - 1], (uint32_t)last_n);
	return 1;
}

int hp_unwind_capture(uint64_t *pcs, int max)
{
	return hp_unwind_capture_at(NULL, pcs, max);
}

int hp_unwind_capture_at(const uintptr_t *entry, uint64_t *pcs, int max)
{
	unw_context_t uc;
	unw_cursor_t cur;
	unw_word_t ip;
	uintptr_t r0[3];
	unsigned long long subs = 0;
	generation g;
	int n = 0, first = -1, tried = 0, how = 0;

	walk_kept = 0;
	if (!ready || max <= 0)
		return 0;
	hp_unwind_regs_here(r0);
	walk_sp = r0[1] & ~(uintptr_t)4095;
	if (!stack_found)
		find_stack();
	trust_hi = walk_sp >= stack_lo && walk_sp < stack_hi ? stack_hi : 0;
	/* First without asking the loader (a dl_iterate_phdr call, the loader's lock: about
	 * 200 instructions, and a lock every thread shares): a walk through permanent objects
	 * alone is right whatever dlopen and dlclose did since the list was last read, and
	 * one through permanent and announced objects while no announced object has begun
	 * to go since the last look found none going (settled(): "unloads we see"). Until
	 * the walk turns out to be one, it trusts no object segment (see readable()): the
	 * list it has may be out of date. Nor does it take the unwind lock: it calls neither
	 * the loader nor libunwind, which is what that lock keeps fork away from. It pins no
	 * snapshot either (two locked instructions a sample): all it needs of one is the
	 * unload count its rules are looked up by, current_subs. */
	last_lo = last_hi = 0;
	if (__atomic_load_n(&current, __ATOMIC_ACQUIRE) != NULL) {
		subs = __atomic_load_n(&current_subs, __ATOMIC_ACQUIRE);
		tried = 1;
		list_stale = 1;
		first = fast_walk(entry ? entry : r0, r0[1], subs, pcs, max, &how);
		if (first >= 0 && rules_hold((unsigned)how, subs)) {
			walk_kept = how & WALK_KEPT;
			return first;
		}
		last_lo = last_hi = 0;
	}
	if (!read_enter(READ_WAIT_MS))
		return 0;
	refresh_objects(&g);
	/* The loader's unload count only grows: the same as the walk's, nothing was unloaded
	 * since its rules were right, and its rules held (no snapshot pinned for that). */
	if (tried && first >= 0 && g.subs == subs) {
		n = first;
		walk_kept = how & WALK_KEPT;
		goto out;
	}
	pin_walk(&g);
	if (tried && first < 0 && !list_stale && walk_snap->subs == subs)
		goto slow;		/* a rule is missing: the same walk would miss it */
	how = 0;
	if (!list_stale && (n = fast_walk(entry ? entry : r0, r0[1], walk_snap->subs, pcs, max,
					  &how)) >= 0) {
		walk_kept = how & WALK_KEPT;
		goto out;
	}
slow:
	n = 0;
	/* The slow walk starts where the fast one did, so that the rules it makes are the
	 * ones the fast walk looks for: the other registers are the same at both calls (this
	 * function saved the callee-saved ones it uses; the rest are not read). */
	if (unw_getcontext(&uc) != 0)
		goto out;
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)r0[0];
	uc.uc_mcontext.gregs[REG_RSP] = (greg_t)r0[1];
	uc.uc_mcontext.gregs[REG_RBP] = (greg_t)r0[2];
	if (unw_init_remote(&cur, as, &uc) != 0)
		goto out;
	ip = (unw_word_t)uc.uc_mcontext.gregs[REG_RIP];
	/* A frame a signal interrupted is at its exact pc, not after a call: its rule is the
	 * row holding pc, which the cache (keyed by pc - 1) cannot give. libunwind steps the
	 * signal frame (the sigreturn trampoline the handler returns to) and the frame after
	 * it (it then looks at pc). */
	for (int after_signal = 0, sig; n < max; after_signal = sig) {
		sig = at_sigreturn(ip);
		if ((sig || after_signal ? unw_step(&cur) : step(&cur, ip)) <= 0)
			break;
		if (unw_get_reg(&cur, UNW_REG_IP, &ip) != 0 || ip == 0)
			break;
		if (ip >= self_lo && ip < self_hi && n == 0)
			continue;	/* still inside heapprof */
		pcs[n++] = ip;
	}
out:
	unpin(walk_snap);
	walk_snap = NULL;
	read_exit();
	return n;
}

void hp_unwind_unloaded(hp_unloaded_fn fn, void *ctx)
{
	const gone *g;
	generation gen;

	if (!ready)
		return;
	if (read_enter(READ_WAIT_MS)) {
		refresh_objects(&gen);	/* unloads since the last sample */
		read_exit();
	}
	for (g = __atomic_load_n(&gone_head, __ATOMIC_ACQUIRE); g; g = g->next)
		fn(ctx, &g->u);
}

/* fork from inside a dl_iterate_phdr callback (read lock held by this very thread) cannot
 * wait for the write lock: then the fork goes ahead unguarded. */
static int fork_locked;

void hp_unwind_fork_prepare(void)
{
	fork_locked = read_depth == 0 && pthread_rwlock_wrlock(&unwind_lock) == 0;
}

void hp_unwind_fork_parent(void)
{
	if (fork_locked)
		pthread_rwlock_unlock(&unwind_lock);
}

void hp_unwind_fork_child(void)
{
	pthread_rwlockattr_t attr;

	/* The child's thread has a new id: the locks are made anew rather than unlocked; the
	 * forking thread keeps its own read holds (read_depth), now of the new lock. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&unwind_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	for (int i = 0; i < read_depth; i++)
		pthread_rwlock_rdlock(&unwind_lock);
	pthread_mutex_init(&refresh_lock, NULL);
	hp_lock_reset(&pending_lock);	/* a parent's thread may have been noting a handle */
	for (int i = 0; i < NSNAPS; i++)	/* pins of threads the child does not have */
		snaps[i].refs = 0;
}
