/* tools/symbolize.c: file, line and inlined frames for a profile's locations, from DWARF,
 * read with libdwfl and libdw (elfutils); and the `heapprof symbolize` command.
 *
 * Locations are grouped by object (a mapping's file name and build id); each object is
 * opened once, in a Dwfl session of its own, its locations resolved, and the session
 * closed before the next object. The object is, in order of preference:
 *   1. the mapping's path, when the file is there and its build id is the profile's
 *      (a file with another build id is a different binary: never used);
 *   2. DIR/.build-id/xx/rest, the binary itself by build id, in each debug directory;
 *   3. DIR/.build-id/xx/rest.debug, its separate debug file;
 *   4. debuginfod (only when DEBUGINFOD_URLS is set): the binary, else its debug file.
 * When the binary has no DWARF of its own, libdwfl's standard find_debuginfo looks for the
 * debug file (build id under the debug directories, .gnu_debuglink, debuginfod).
 *
 * Addresses: a profile address is the return address - 1 (pprof's convention), inside
 * the call instruction. Its ELF virtual address is its file offset (address - start +
 * offset) carried through the PT_LOAD segment holding that offset; for ET_EXEC, the
 * address itself. A debug file used in place of its binary has no file offsets in its
 * program headers (objcopy --only-keep-debug zeroes them): they are rebuilt from the
 * segments' addresses and sizes, and used only where they agree with the mapping.
 *
 * Each resolved location gets one line per frame, innermost inlined first, the real
 * function last, each naming a Function with the DWARF file path and declaration line.
 * Function names follow the library's convention, the ELF symbol's: mangled for C++ (the
 * DWARF linkage name), else the DWARF name; the system name is the linkage name.
 * Addresses DWARF does not cover keep their lines: the ELF symbol names the library
 * wrote, or none (then they stay "module+0xoffset"): never a guessed name.
 *
 * Speed: the DIE tree of a CU is walked once for all the addresses in it (sorted), and
 * entered only where a scope's ranges hold one of them; a profile with thousands of
 * locations takes a small fraction of a second. */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "encode.h"
#include "symbolize.h"

#define SY_DEFAULT_DEBUG_DIR "/usr/lib/debug"
#define SY_PAGE 4096ull

/* The debug directories, colon-separated (symbolize --debug-dir). */
static const char *sy_debug_dirs = SY_DEFAULT_DEBUG_DIR;

/* One object: the (file name, build id) of one or more mappings. */
typedef struct object {
	const char *path;	/* the mapping's file name */
	const char *build_id;	/* lower-case hex, "" when unknown */
	size_t first, n;	/* its locations in sym.order[first .. first + n) */
} object;

/* An object opened for lookups. */
typedef struct opened {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	Dwarf_Addr bias;	/* ELF vaddr + bias = address in the Dwfl */
	GElf_Half type;		/* ET_EXEC, ET_DYN */
	GElf_Phdr *loads;	/* the PT_LOAD program headers */
	size_t nloads;
	int debug_layout;	/* a debug file: no file offsets in the headers */
	char *file;		/* the file used (malloc'd) */
} opened;

/* A function made from DWARF, and the table that finds it by (name, filename). */
typedef struct fntab {
	pf_function *v;
	size_t n, cap;
	size_t *slots;		/* index + 1 into v; 0 = empty */
	size_t mask;
	uint64_t next_id;
} fntab;

typedef struct sym {
	pf_profile *p;
	int quiet;
	fntab fns;
	object *objs;
	size_t nobjs;
	size_t *loc_obj;	/* per location: object index + 1, 0 = none */
	size_t *order;		/* location indexes grouped by object */
	char *debuginfo_path;	/* for Dwfl_Callbacks: ":.debug:" + the debug dirs */
} sym;

/* --- functions ---------------------------------------------------------------------- */

static uint64_t hash_pair(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a over a, NUL, b */

	while (*a)
		h = (h ^ (unsigned char)*a++) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	while (*b)
		h = (h ^ (unsigned char)*b++) * 1099511628211ull;
	return h;
}

/* Doubles the hash table (or makes its first one). 0, or -1 when out of memory. */
static int fn_rehash(fntab *t)
{
	size_t cap = t->slots ? (t->mask + 1) * 2 : 256;
	size_t *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = (size_t)hash_pair(t->v[i].name, t->v[i].filename) & (cap - 1);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->mask = cap - 1;
	return 0;
}

/* The id of the function (name, filename), made on first sight with the other fields.
 * Strings are copied into the profile. 0 when out of memory. */
static uint64_t fn_intern(sym *s, const char *name, const char *sysname, const char *file,
			  int64_t start_line)
{
	fntab *t = &s->fns;
	size_t j;

	if ((!t->slots || 2 * (t->n + 1) > t->mask + 1) && fn_rehash(t))
		return 0;
	j = (size_t)hash_pair(name, file) & t->mask;
	for (; t->slots[j]; j = (j + 1) & t->mask) {
		const pf_function *f = &t->v[t->slots[j] - 1];
		if (!strcmp(f->name, name) && !strcmp(f->filename, file))
			return f->id;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		pf_function *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return 0;
		t->v = v;
		t->cap = cap;
	}
	pf_function *f = &t->v[t->n];
	f->name = pf_strdup(s->p, name);
	f->system_name = strcmp(sysname, name) ? pf_strdup(s->p, sysname) : f->name;
	f->filename = pf_strdup(s->p, file);
	if (!f->name || !f->system_name || !f->filename)
		return 0;
	f->start_line = start_line;
	f->id = t->next_id++;
	t->slots[j] = ++t->n;
	return f->id;
}

/* --- objects ------------------------------------------------------------------------ */

/* Mappings that are not files: [vdso], [heap], //anon, memfd:..., "". */
static int is_file(const char *path)
{
	return path[0] && path[0] != '[' && strncmp(path, "//anon", 6) != 0 &&
		strncmp(path, "/memfd:", 7) != 0 && strncmp(path, "memfd:", 6) != 0;
}

/* Groups the locations by object: fills objs, loc_obj and order. 0 or -1 (no memory). */
static int group_locations(sym *s)
{
	const pf_profile *p = s->p;
	size_t *mobj = calloc(p->nmappings + 1, sizeof(*mobj));

	s->objs = calloc(p->nmappings + 1, sizeof(*s->objs));
	s->loc_obj = calloc(p->nlocations + 1, sizeof(*s->loc_obj));
	s->order = calloc(p->nlocations + 1, sizeof(*s->order));
	if (!mobj || !s->objs || !s->loc_obj || !s->order) {
		free(mobj);
		return -1;
	}
	for (size_t i = 0; i < p->nmappings; i++) {
		const pf_mapping *m = &p->mappings[i];
		size_t k;
		if (!is_file(m->filename))
			continue;
		for (k = 0; k < s->nobjs; k++)
			if (!strcmp(s->objs[k].path, m->filename) &&
			    !strcasecmp(s->objs[k].build_id, m->build_id))
				break;
		if (k == s->nobjs)
			s->objs[s->nobjs++] = (object){ m->filename, m->build_id, 0, 0 };
		mobj[i] = k + 1;
	}
	for (size_t i = 0; i < p->nlocations; i++) {
		const pf_mapping *m = p->locations[i].mapping;
		if (m && (s->loc_obj[i] = mobj[m - p->mappings]))
			s->objs[s->loc_obj[i] - 1].n++;
	}
	for (size_t k = 0, at = 0; k < s->nobjs; k++) {
		s->objs[k].first = at;
		at += s->objs[k].n;
		s->objs[k].n = 0;
	}
	for (size_t i = 0; i < p->nlocations; i++) {
		object *o = s->loc_obj[i] ? &s->objs[s->loc_obj[i] - 1] : NULL;
		if (o)
			s->order[o->first + o->n++] = i;
	}
	free(mobj);
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The build id as bytes: its length, or 0 if hex is not a valid (even, 3-64 bytes) id. */
static size_t parse_build_id(const char *hex, unsigned char *out)
{
	size_t len = strlen(hex), n = len / 2;

	if (len % 2 || n < 3 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return n;
}

/* The build id in lower-case hex into out (129 bytes). */
static void hex_id(const unsigned char *id, size_t n, char *out)
{
	out[0] = '\0';
	for (size_t i = 0; i < n && i < 64; i++)
		sprintf(out + 2 * i, "%02x", id[i]);
}

/* 1 if the module's build id is the one in hex (0 if it differs or it has none). */
static int build_id_matches(Dwfl_Module *mod, const char *hex)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(mod, &bits, &vaddr);
	unsigned char want[64];
	size_t len = parse_build_id(hex, want);

	return n > 0 && (size_t)n == len && memcmp(bits, want, len) == 0;
}

/* The file's build id in hex into out (129 bytes); "" when it has none. */
static void module_build_id(Dwfl_Module *mod, char *out)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(mod, &bits, &vaddr);

	hex_id(bits, n > 0 ? (size_t)n : 0, out);
}

static void close_object(opened *op)
{
	if (op->dwfl)
		dwfl_end(op->dwfl);
	free(op->loads);
	free(op->file);
	memset(op, 0, sizeof(*op));
}

/* A debug file keeps its binary's program headers but not their file offsets and sizes:
 * rebuilds them as the linker lays segments out, in address order, each at the first
 * offset after the previous one that is congruent to its address modulo its alignment
 * (the ELF rule), the first at offset 0. elf_vaddr trusts the result only where it gives
 * exactly the offset the mapping has. */
static void rebuild_offsets(opened *op)
{
	uint64_t end = 0;

	for (size_t i = 0; i < op->nloads; i++) {
		GElf_Phdr *ph = &op->loads[i];
		uint64_t align = ph->p_align > 1 ? ph->p_align : SY_PAGE;
		uint64_t want = ph->p_vaddr % align;
		uint64_t off = end <= want ? want : (end - want + align - 1) / align * align + want;

		ph->p_offset = i ? off : 0;
		ph->p_filesz = ph->p_memsz;
		end = ph->p_offset + ph->p_filesz;
	}
}

/* Reads the PT_LOAD headers of the module's ELF; notes whether it is a debug file. */
static int read_layout(opened *op)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(op->mod, &bias);
	GElf_Ehdr eh;
	size_t phnum;

	if (!elf || !gelf_getehdr(elf, &eh) || elf_getphdrnum(elf, &phnum))
		return -1;
	op->type = eh.e_type;
	op->loads = calloc(phnum + 1, sizeof(*op->loads));
	if (!op->loads)
		return -1;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		op->loads[op->nloads++] = ph;
		if ((ph.p_flags & PF_X) && ph.p_filesz == 0 && ph.p_memsz > 0)
			op->debug_layout = 1;
	}
	if (op->debug_layout)
		rebuild_offsets(op);
	return 0;
}

/* 1 if path is a regular file we can read: never a FIFO or device, which could block. */
static int readable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

/* Opens file in a new Dwfl session: op filled and 0, or -1 (op left closed). When want
 * is a build id, a file with another one is refused: *mismatch set, its id into got.
 * When libdwfl cannot read the file, its reason goes into got (with mismatch given). */
static int try_file(sym *s, const char *file, const char *want, opened *op, int *mismatch,
		    char *got)
{
	static Dwfl_Callbacks cb = {
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
	};
	const char *slash = strrchr(file, '/');

	cb.debuginfo_path = &s->debuginfo_path;
	memset(op, 0, sizeof(*op));
	if (!(op->dwfl = dwfl_begin(&cb)))
		return -1;
	dwfl_report_begin(op->dwfl);
	op->mod = dwfl_report_elf(op->dwfl, slash ? slash + 1 : file, file, -1, 0, true);
	if (!op->mod && mismatch)
		snprintf(got, 129, "%s", dwfl_errmsg(-1));
	dwfl_report_end(op->dwfl, NULL, NULL);
	if (op->mod && want[0] && !build_id_matches(op->mod, want)) {
		if (mismatch) {
			*mismatch = 1;
			module_build_id(op->mod, got);
		}
		op->mod = NULL;
	}
	if (!op->mod || !(op->file = strdup(file)) || read_layout(op)) {
		close_object(op);
		return -1;
	}
	return 0;
}

/* "DIR/.build-id/xx/rest[.debug]" for each debug directory until one opens. */
static int try_build_id_dirs(sym *s, const object *o, int debug, opened *op)
{
	char *dirs = strdup(sy_debug_dirs), *save = NULL, hex[129];
	unsigned char id[64];
	int r = -1;

	if (!dirs)
		return -1;
	hex_id(id, parse_build_id(o->build_id, id), hex);
	for (char *d = strtok_r(dirs, ":", &save); d && r; d = strtok_r(NULL, ":", &save)) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s%s", d, hex, hex + 2,
			 debug ? ".debug" : "");
		if (readable_file(path))
			r = try_file(s, path, o->build_id, op, NULL, NULL);
	}
	free(dirs);
	return r;
}

typedef void *(*dbgd_begin_fn)(void);
typedef int (*dbgd_find_fn)(void *, const unsigned char *, int, char **);
typedef void (*dbgd_end_fn)(void *);

/* Asks debuginfod (only when DEBUGINFOD_URLS is set) for the binary (what = 0) or its
 * debug file (1) of o, through libdebuginfod loaded on demand as libdw itself does. */
static int try_debuginfod(sym *s, const object *o, int what, opened *op)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	unsigned char id[64];
	size_t len = parse_build_id(o->build_id, id);
	void *lib, *client;
	char *path = NULL;
	int fd, r = -1;

	if (!urls || !urls[0] || !len || !(lib = dlopen("libdebuginfod.so.1", RTLD_LAZY)))
		return -1;
	dbgd_begin_fn begin = (dbgd_begin_fn)dlsym(lib, "debuginfod_begin");
	dbgd_find_fn find = (dbgd_find_fn)dlsym(lib, what ? "debuginfod_find_debuginfo"
						: "debuginfod_find_executable");
	dbgd_end_fn end = (dbgd_end_fn)dlsym(lib, "debuginfod_end");
	if (begin && find && end && (client = begin())) {
		fd = find(client, id, (int)len, &path);
		if (fd >= 0) {
			close(fd);
			r = try_file(s, path, o->build_id, op, NULL, NULL);
		}
		free(path);
		end(client);
	}
	return r;
}

/* A file name without " (deleted)", as /proc/PID/maps shows unlinked files. */
static char *live_path(const char *path)
{
	static const char del[] = " (deleted)";
	size_t n = strlen(path), d = sizeof(del) - 1;
	char *c = strdup(path);

	if (c && n > d && !strcmp(c + n - d, del))
		c[n - d] = '\0';
	return c;
}

__attribute__((format(printf, 3, 4)))
static void note(const sym *s, const object *o, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (s->quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	cli_error("symbolize", "%s: %s", o->path, why);
}

/* Finds and opens the object (see the top of the file), or says why it cannot. */
static int open_object(sym *s, const object *o, opened *op)
{
	char *path = live_path(o->path), got[129] = "", nor[512] = "";
	int mismatch = 0, have_id = parse_build_id(o->build_id, (unsigned char[64]){ 0 }) > 0;
	const char *want = have_id ? o->build_id : "";

	if (!path)
		return -1;
	struct stat st;
	int exists = stat(path, &st) == 0, usable = readable_file(path);
	int r = usable ? try_file(s, path, want, op, &mismatch, got) : -1;
	free(path);
	if (r && have_id)
		r = try_build_id_dirs(s, o, 0, op);
	if (r && have_id)
		r = try_build_id_dirs(s, o, 1, op);
	if (r && have_id)
		r = try_debuginfod(s, o, 0, op);
	if (r && have_id)
		r = try_debuginfod(s, o, 1, op);
	if (!r)
		return 0;
	if (have_id)
		snprintf(nor, sizeof(nor), "; nothing with its build id %s under %s%s",
			 o->build_id, sy_debug_dirs, getenv("DEBUGINFOD_URLS") ? " or debuginfod"
			 : "");
	if (mismatch)
		note(s, o, "the file's build id %s is not the profile's: not used (a different "
		     "binary)%s", got[0] ? got : "(none)", nor);
	else if (usable)
		note(s, o, "cannot be read as ELF (%s)%s", got[0] ? got : "?", nor);
	else if (exists)
		note(s, o, "not a readable regular file%s", nor);
	else
		note(s, o, "not found%s", nor);
	return -1;
}

/* --- addresses ---------------------------------------------------------------------- */

/* The ELF virtual address of profile address a in mapping m: its file offset carried
 * through the PT_LOAD segment holding that offset. 0, or -1 if no segment does. */
static int elf_vaddr(const opened *op, const pf_mapping *m, uint64_t a, uint64_t *v)
{
	if (op->type == ET_EXEC) {	/* loaded at its link-time addresses */
		*v = a;
		return 0;
	}
	if (a < m->start || (m->limit > m->start && a >= m->limit))
		return -1;
	uint64_t fo = a - m->start + m->offset;
	for (size_t i = 0; i < op->nloads; i++) {
		const GElf_Phdr *ph = &op->loads[i];
		if (fo < ph->p_offset || fo - ph->p_offset >= ph->p_filesz)
			continue;
		/* rebuilt offsets: only where the mapping starts at the segment's page */
		if (op->debug_layout && (!(ph->p_flags & PF_X) ||
					 m->offset != (ph->p_offset & ~(SY_PAGE - 1))))
			return -1;
		*v = fo - ph->p_offset + ph->p_vaddr;
		return 0;
	}
	return -1;
}

/* --- DWARF -------------------------------------------------------------------------- */

static const char *die_string(Dwarf_Die *die, int name)
{
	Dwarf_Attribute a;

	return dwarf_formstring(dwarf_attr_integrate(die, name, &a));
}

/* The caller's position of an inlined subroutine: its DW_AT_call_file and _line. */
static void call_site(Dwarf_Die *inl, Dwarf_Files *files, size_t nfiles, const char **file,
		      int *line)
{
	Dwarf_Attribute a;
	Dwarf_Word w;

	*file = NULL;
	*line = 0;
	if (files && dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &a), &w) == 0 &&
	    w < nfiles)
		*file = dwarf_filesrc(files, w, NULL, NULL);
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &a), &w) == 0)
		*line = (int)w;
}

/* The pf_line of one frame: the function die at file:line. The name is the linkage
 * name when it is a mangled C++ one (the library's names are the ELF symbols), else the
 * DWARF name (not an asm label like glibc's __GI___strndup); the system name is the
 * linkage name where there is one. 0, or -1 when out of memory, 1 when the die has no
 * name (the location is then left alone). */
static int make_line(sym *s, Dwarf_Die *die, const char *file, int line, pf_line *out)
{
	const char *name = die_string(die, DW_AT_name);
	const char *link = die_string(die, DW_AT_linkage_name);
	int decl = 0;

	if (!link)
		link = die_string(die, DW_AT_MIPS_linkage_name);
	if (!link && !name)
		return 1;
	dwarf_decl_line(die, &decl);
	if (!name || (link && !strncmp(link, "_Z", 2)))
		name = link;	/* C++: mangled, as the ELF symbol tables have it */
	out->function_id = fn_intern(s, name, link ? link : name, file ? file : "", decl);
	out->line = line;
	return out->function_id ? 0 : -1;
}

/* An address to resolve: one location of the object. */
typedef struct want {
	Dwarf_Addr mpc;		/* the address in the Dwfl module */
	Dwarf_Addr pc;		/* the same in its CU's DWARF (mpc - the CU's bias) */
	Dwarf_Off cu;		/* its CU's offset */
	size_t loc;		/* index in p->locations */
} want;

/* A function DIE (subprogram or inlined subroutine) whose ranges hold want w; seq is the
 * order of the walk, in which outer functions come before the ones they contain. */
typedef struct hit {
	size_t w, seq;
	Dwarf_Die die;
} hit;

/* One walk of a CU's DIE tree for all the wants in it (sorted by pc). */
typedef struct walker {
	want *w;
	hit *h;
	size_t nh, cap;
} walker;

#define SY_MAX_DEPTH 512	/* DIE nesting; deeper (damaged) trees are not followed */

/* The first of w[lo..hi) at or above pc. */
static size_t lower_bound(const want *w, size_t lo, size_t hi, Dwarf_Addr pc)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (w[mid].pc < pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int add_hit(walker *k, size_t w, Dwarf_Die *die)
{
	if (k->nh == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 1024;
		hit *h = realloc(k->h, cap * sizeof(*h));
		if (!h)
			return -1;
		k->h = h;
		k->cap = cap;
	}
	k->h[k->nh] = (hit){ w, k->nh, *die };
	k->nh++;
	return 0;
}

static int walk(walker *k, Dwarf_Die *parent, size_t lo, size_t hi, int depth);

/* A scope with addresses: the wants inside each of its ranges are hits (if it is a
 * function) and are looked for in its children. */
static int walk_ranges(walker *k, Dwarf_Die *die, int tag, size_t lo, size_t hi, int depth)
{
	Dwarf_Addr base, b, e;
	ptrdiff_t off = 0;

	while ((off = dwarf_ranges(die, off, &base, &b, &e)) > 0) {
		size_t i = lower_bound(k->w, lo, hi, b), j = lower_bound(k->w, i, hi, e);
		if (i == j)
			continue;
		for (size_t x = i; x < j && tag != DW_TAG_lexical_block; x++)
			if (add_hit(k, x, die))
				return -1;
		if (walk(k, die, i, j, depth + 1))
			return -1;
	}
	return 0;
}

/* Walks the children of parent for the wants w[lo..hi): only scopes are entered, and
 * only those holding one of the wants, so each CU is walked about once in all. */
static int walk(walker *k, Dwarf_Die *parent, size_t lo, size_t hi, int depth)
{
	Dwarf_Die child;

	if (depth > SY_MAX_DEPTH || dwarf_child(parent, &child) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&child), r = 0;
		switch (tag) {
		case DW_TAG_namespace:
		case DW_TAG_module:
			r = walk(k, &child, lo, hi, depth + 1);
			break;
		case DW_TAG_subprogram:
		case DW_TAG_inlined_subroutine:
		case DW_TAG_lexical_block:
		case DW_TAG_try_block:
		case DW_TAG_catch_block:
			r = walk_ranges(k, &child, tag, lo, hi, depth);
			break;
		}
		if (r)
			return -1;
	} while (dwarf_siblingof(&child, &child) == 0);
	return 0;
}

static int cmp_hit(const void *a, const void *b)
{
	const hit *x = a, *y = b;

	if (x->w != y->w)
		return x->w < y->w ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_want(const void *a, const void *b)
{
	const want *x = a, *y = b;

	if (x->cu != y->cu)
		return x->cu < y->cu ? -1 : 1;
	return x->pc < y->pc ? -1 : x->pc > y->pc;
}

/* Gives loc its frames from the hits h[0..n) of its address, outer first: from the
 * innermost out to the innermost subprogram. 1 if it did, 0 if no subprogram holds the
 * address or a frame has no name, -1 when out of memory. */
static int make_lines(sym *s, Dwarf_Die *cu, Dwarf_Files *files, size_t nfiles,
		      const want *w, hit *h, size_t n)
{
	size_t nf = 0;
	int line = 0, r = 0;

	while (nf < n && dwarf_tag(&h[n - 1 - nf].die) != DW_TAG_subprogram)
		nf++;
	if (nf++ == n)
		return 0;
	Dwarf_Line *ln = dwarf_getsrc_die(cu, w->pc);
	const char *file = ln ? dwarf_linesrc(ln, NULL, NULL) : NULL;
	pf_line *lines = pf_alloc(s->p, nf, sizeof(*lines));

	if (!lines)
		return -1;
	if (ln)
		dwarf_lineno(ln, &line);
	for (size_t i = 0; i < nf && r == 0; i++) {
		Dwarf_Die *die = &h[n - 1 - i].die;
		r = make_line(s, die, file, line, &lines[i]);
		call_site(die, files, nfiles, &file, &line);
	}
	if (r)
		return r < 0 ? -1 : 0;
	pf_location *loc = &s->p->locations[w->loc];
	loc->lines = lines;
	loc->nlines = nf;
	return 1;
}

/* Resolves the wants w[lo..hi), all in one CU. Returns how many, or -1 (no memory). */
static int resolve_cu(sym *s, const opened *op, walker *k, size_t lo, size_t hi)
{
	Dwarf_Addr cubias;
	Dwarf_Die *cup = dwfl_module_addrdie(op->mod, k->w[lo].mpc, &cubias), cu;
	Dwarf_Files *files = NULL;
	size_t nfiles = 0;
	int n = 0;

	if (!cup)
		return 0;
	cu = *cup;
	k->nh = 0;
	if (walk(k, &cu, lo, hi, 0))
		return -1;
	qsort(k->h, k->nh, sizeof(*k->h), cmp_hit);
	if (dwarf_getsrcfiles(&cu, &files, &nfiles))
		files = NULL;
	for (size_t i = 0, j; i < k->nh; i = j) {
		for (j = i; j < k->nh && k->h[j].w == k->h[i].w; j++)
			;
		int r = make_lines(s, &cu, files, nfiles, &k->w[k->h[i].w], k->h + i, j - i);
		if (r < 0)
			return -1;
		n += r;
	}
	return n;
}

/* The wants of object o: its locations with an address in a CU, sorted by CU and pc. */
static size_t collect_wants(sym *s, const object *o, const opened *op, want *w)
{
	size_t n = 0;

	for (size_t i = 0; i < o->n; i++) {
		size_t li = s->order[o->first + i];
		const pf_location *loc = &s->p->locations[li];
		Dwarf_Addr cubias;
		Dwarf_Die *cu;
		uint64_t v;
		if (elf_vaddr(op, loc->mapping, loc->address, &v))
			continue;
		if (!(cu = dwfl_module_addrdie(op->mod, v + op->bias, &cubias)))
			continue;
		w[n++] = (want){ v + op->bias, v + op->bias - cubias, dwarf_dieoffset(cu), li };
	}
	qsort(w, n, sizeof(*w), cmp_want);
	return n;
}

/* Locations of object o that still have no line (no DWARF for them, and the profile
 * named none: a text profile, say) get the function name of the ELF symbol table entry
 * whose extent holds the address, without file or line; never a neighbour's name (a
 * symbol without a size is not trusted). Returns how many, or -1 (no memory). */
static int name_from_symbols(sym *s, const object *o, const opened *op)
{
	int n = 0;

	for (size_t i = 0; i < o->n; i++) {
		pf_location *loc = &s->p->locations[s->order[o->first + i]];
		GElf_Off off;
		GElf_Sym es;
		const char *name;
		uint64_t v;
		if (loc->nlines || elf_vaddr(op, loc->mapping, loc->address, &v))
			continue;
		name = dwfl_module_addrinfo(op->mod, v + op->bias, &off, &es, NULL, NULL, NULL);
		if (!name || !name[0] || es.st_size == 0 || off >= es.st_size)
			continue;
		pf_line *l = pf_alloc(s->p, 1, sizeof(*l));
		if (!l || !(l->function_id = fn_intern(s, name, name, "", 0)))
			return -1;
		loc->lines = l;
		loc->nlines = 1;
		n++;
	}
	return n;
}

/* Resolves the locations of object o; adds their number to *resolved. -1: no memory. */
static int symbolize_object(sym *s, const object *o, size_t *resolved)
{
	walker k = { 0 };
	opened op;
	Dwarf_Addr bias;
	int r = 0, named;

	if (open_object(s, o, &op))
		return 0;
	dwfl_module_getelf(op.mod, &op.bias);
	if (!dwfl_module_getdwarf(op.mod, &bias)) {
		note(s, o, "no debug information (install its -dbgsym package%s)",
		     getenv("DEBUGINFOD_URLS") ? "; debuginfod has none"
		     : " or set DEBUGINFOD_URLS");
		named = name_from_symbols(s, o, &op);
		close_object(&op);
		if (named < 0)
			return -1;
		*resolved += (size_t)named;
		return 0;
	}
	if (!(k.w = malloc((o->n + 1) * sizeof(*k.w))))
		r = -1;
	size_t n = r ? 0 : collect_wants(s, o, &op, k.w);
	for (size_t i = 0, j; i < n && r == 0; i = j) {
		for (j = i; j < n && k.w[j].cu == k.w[i].cu; j++)
			;
		int got = resolve_cu(s, &op, &k, i, j);
		if (got < 0)
			r = -1;
		else
			*resolved += (size_t)got;
	}
	free(k.w);
	free(k.h);
	if (r == 0 && (named = name_from_symbols(s, o, &op)) >= 0)
		*resolved += (size_t)named;
	else
		r = -1;
	close_object(&op);
	return r;
}

/* --- the profile's function table --------------------------------------------------- */

/* Functions still used (the old ones some unresolved line names, the new ones) become
 * the profile's function table, in id order. */
static int replace_functions(sym *s)
{
	pf_profile *p = s->p;
	unsigned char *used = calloc(p->nfunctions + 1, 1);
	pf_function *v;
	size_t n = 0;

	if (!used)
		return -1;
	for (size_t i = 0; i < p->nlocations; i++)
		for (size_t j = 0; j < p->locations[i].nlines; j++) {
			/* new lines are not linked yet: only old ones point to a function */
			const pf_function *f = p->locations[i].lines[j].function;
			if (f)
				used[f - p->functions] = 1;
		}
	v = pf_alloc(p, p->nfunctions + s->fns.n, sizeof(*v));
	if (!v) {
		free(used);
		return -1;
	}
	for (size_t i = 0; i < p->nfunctions; i++)
		if (used[i])
			v[n++] = p->functions[i];
	if (s->fns.n)
		memcpy(v + n, s->fns.v, s->fns.n * sizeof(*v));
	p->functions = v;
	p->nfunctions = n + s->fns.n;
	free(used);
	return 0;
}

static void sym_free(sym *s)
{
	free(s->fns.v);
	free(s->fns.slots);
	free(s->objs);
	free(s->loc_obj);
	free(s->order);
	free(s->debuginfo_path);
}

int sy_symbolize(pf_profile *p, int quiet, char *err, size_t errlen)
{
	sym s = { .p = p, .quiet = quiet };
	size_t resolved = 0;
	int r = -1;

	s.fns.next_id = 1;
	for (size_t i = 0; i < p->nfunctions; i++)
		if (p->functions[i].id >= s.fns.next_id)
			s.fns.next_id = p->functions[i].id + 1;
	s.debuginfo_path = malloc(strlen(sy_debug_dirs) + sizeof(":.debug:"));
	if (!s.debuginfo_path || group_locations(&s))
		goto out;
	sprintf(s.debuginfo_path, ":.debug:%s", sy_debug_dirs);
	for (size_t k = 0; k < s.nobjs; k++)
		if (s.objs[k].n && symbolize_object(&s, &s.objs[k], &resolved))
			goto out;
	if (replace_functions(&s))
		goto out;
	if (pf_link(p, err, errlen))
		goto done;
	r = resolved > INT32_MAX ? INT32_MAX : (int)resolved;
	goto done;
out:
	snprintf(err, errlen, "out of memory");
done:
	sym_free(&s);
	return r;
}

void sy_set_debug_dirs(const char *dirs)
{
	sy_debug_dirs = dirs && dirs[0] ? dirs : SY_DEFAULT_DEBUG_DIR;
}

/* --- the command -------------------------------------------------------------------- */

static const char usage[] =
	"usage: heapprof symbolize [-o OUT] [--debug-dir DIR]... [-q] PROFILE\n"
	"\n"
	"Adds source file, line and inlined frames to the locations of PROFILE from the\n"
	"DWARF debug information of the profiled binaries and libraries, found by path and\n"
	"build id, as separate debug files under the debug directories\n"
	"(.build-id/xx/rest.debug), and through debuginfod when DEBUGINFOD_URLS is set.\n"
	"A file whose build id is not the profile's is never used. Addresses it cannot\n"
	"resolve keep their names, or stay module+0xoffset. Writes a gzip'd pprof profile\n"
	"and a summary line on stderr.\n"
	"\n"
	"  -o, --output OUT     where to write (default: PROFILE with .pb.gz or .pb replaced\n"
	"                       by .sym.pb.gz, else PROFILE.sym.pb.gz; '-' = standard output)\n"
	"  -d, --debug-dir DIR  look for debug files under DIR (repeatable; default\n"
	"                       " SY_DEFAULT_DEBUG_DIR ")\n"
	"  -q, --quiet          no notes about objects without debug information, no summary\n"
	"  -h, --help           this help\n";

typedef struct sym_opts {
	const char *out;
	char *dirs;	/* malloc'd, colon-separated; NULL: the default */
	int quiet;
} sym_opts;

/* Appends dir to the colon-separated list *dirs. 0, or -1 when out of memory. */
static int add_dir(char **dirs, const char *dir)
{
	size_t n = *dirs ? strlen(*dirs) + 1 : 0;
	char *d = realloc(*dirs, n + strlen(dir) + 1);

	if (!d)
		return -1;
	if (n)
		d[n - 1] = ':';
	strcpy(d + n, dir);
	*dirs = d;
	return 0;
}

/* Parses the options; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, sym_opts *o)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "debug-dir", required_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:d:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!optarg[0])
				return cli_usage("symbolize", "-o wants a file name (or '-')");
			o->out = optarg;
			break;
		case 'd':
			if (!optarg[0] || strchr(optarg, ':'))
				return cli_usage("symbolize", "--debug-dir wants a directory "
						 "without ':', not '%s'", optarg);
			if (add_dir(&o->dirs, optarg)) {
				cli_error("symbolize", "out of memory");
				return CLI_BAD_FILE;
			}
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("symbolize", c, argv);
		}
	}
	return -1;
}

/* The default output name: PROFILE with .pb.gz (or .pb) replaced by .sym.pb.gz. */
static char *default_out(const char *in)
{
	size_t n = strlen(in);
	char *out = malloc(n + sizeof(".sym.pb.gz"));

	if (!out)
		return NULL;
	memcpy(out, in, n + 1);
	if (n > 6 && !strcmp(in + n - 6, ".pb.gz"))
		out[n - 6] = '\0';
	else if (n > 3 && !strcmp(in + n - 3, ".pb"))
		out[n - 3] = '\0';
	strcat(out, ".sym.pb.gz");
	return out;
}

/* Symbolizes the loaded profile and writes it to out. */
static int run(pf_profile *p, const char *out, int quiet)
{
	char err[512] = "";
	int n = sy_symbolize(p, quiet, err, sizeof(err));

	if (n < 0) {
		cli_error("symbolize", "%s", err);
		return CLI_BAD_FILE;
	}
	if (en_write(p, out, err, sizeof(err))) {
		cli_error("symbolize", "%s", err);
		return CLI_BAD_FILE;
	}
	if (!quiet)
		fprintf(stderr, "heapprof: symbolize: resolved %d of %zu locations, wrote %s\n",
			n, p->nlocations, strcmp(out, "-") ? out : "standard output");
	return CLI_OK;
}

int symbolize_main(int argc, char **argv)
{
	sym_opts o = { 0 };
	const char *in;
	char *out = NULL;
	pf_profile *p = NULL;
	int st = parse(argc, argv, &o);

	if (st >= 0)
		goto done;
	st = CLI_USAGE;
	if (!(in = cli_one_file("symbolize", argc, argv)))
		goto done;
	st = CLI_BAD_FILE;
	if (!o.out && !(out = default_out(in))) {
		cli_error("symbolize", "out of memory");
		goto done;
	}
	if (!(p = cli_load(in)))
		goto done;
	sy_set_debug_dirs(o.dirs);
	st = run(p, o.out ? o.out : out, o.quiet);
	sy_set_debug_dirs(NULL);
done:
	pf_free(p);
	free(o.dirs);
	free(out);
	return st;
}
