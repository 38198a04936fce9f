/* tests/unit/test_symtab.c: lib/symtab and lib/procmaps against this very process.
 *
 * Names are checked against readelf's view of the same files (run through popen), symbol
 * boundaries against hand-written asm with known sizes, and robustness by replacing a
 * loaded library's file on disk with truncated, corrupted and foreign versions. Both
 * modules must leave the set of open file descriptors as they found it.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "tests/tap.h"
#include "symtab.h"
#include "procmaps.h"
#include "arena.h"

/* An outer function holding a zero-sized FUNC symbol, a nested 1-byte one and an untyped
 * label; after its end, a gap not covered by any sized symbol, then a lone zero-sized one. */
__asm__(".pushsection .text\n"
	".p2align 4\n"
	".type hp_test_asm_outer, @function\n"
	"hp_test_asm_outer:\n"
	"	nop\n	nop\n	nop\n	nop\n"
	".type hp_test_asm_zero, @function\n"
	"hp_test_asm_zero:\n"
	"	nop\n	nop\n"
	".type hp_test_asm_inner, @function\n"
	"hp_test_asm_inner:\n"
	"	nop\n"
	".size hp_test_asm_inner, 1\n"
	"hp_test_asm_after_inner:\n"
	"	nop\n	nop\n	ret\n"
	".size hp_test_asm_outer, .-hp_test_asm_outer\n"
	"hp_test_asm_gap:\n"
	"	int3\n	int3\n"
	".type hp_test_asm_lonezero, @function\n"
	"hp_test_asm_lonezero:\n"
	"	int3\n	int3\n"
	".popsection\n");
extern void hp_test_asm_outer(void), hp_test_asm_zero(void), hp_test_asm_inner(void),
	hp_test_asm_after_inner(void), hp_test_asm_gap(void), hp_test_asm_lonezero(void);

#define A(f) ((uint64_t)(uintptr_t)(f))

__attribute__((noinline, noipa)) static int hp_test_target(int x)
{
	int i, acc = 0;

	for (i = 0; i < x; i++)
		acc += i * x ^ (acc >> 3);
	return acc;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int is_name(const char *got, const char *want)
{
	return got && strcmp(got, want) == 0;
}

static const char *show(const char *s)
{
	return s ? s : "(null)";
}

/* --- readelf's view ------------------------------------------------------------------- */

typedef struct elf_func {
	uint64_t value, size;
	char name[256];
} elf_func;

/* Defined FUNC/IFUNC symbols with a size, from readelf -sW; NULL if readelf is missing. */
static elf_func *readelf_funcs(const char *path, size_t *n)
{
	char cmd[PATH_MAX + 64], line[1024], type[32], bind[32], vis[32], ndx[32];
	size_t cap = 1024;
	elf_func *v = malloc(cap * sizeof *v), f;
	FILE *p;

	snprintf(cmd, sizeof cmd, "readelf -sW '%s' 2>/dev/null", path);
	if (!v || strchr(path, '\'') || !(p = popen(cmd, "r"))) {
		free(v);
		return NULL;
	}
	*n = 0;
	while (fgets(line, sizeof line, p)) {
		if (sscanf(line, " %*u: %" SCNx64 " %" SCNu64 " %31s %31s %31s %31s %255s",
			   &f.value, &f.size, type, bind, vis, ndx, f.name) != 7)
			continue;
		if ((strcmp(type, "FUNC") && strcmp(type, "IFUNC")) || !f.size ||
		    !strcmp(ndx, "UND") || !strcmp(ndx, "ABS"))
			continue;
		f.name[strcspn(f.name, "@")] = '\0';
		if (*n == cap && !(v = realloc(v, (cap *= 2) * sizeof *v)))
			break;
		v[(*n)++] = f;
	}
	if (pclose(p) != 0 || !v || *n == 0) {
		free(v);
		return NULL;
	}
	return v;
}

static int readelf_build_id(const char *path, char *out, size_t outsz)
{
	char cmd[PATH_MAX + 64], line[512], *b;
	int found = 0;
	FILE *p;

	snprintf(cmd, sizeof cmd, "readelf -n '%s' 2>/dev/null", path);
	if (strchr(path, '\'') || outsz < 130 || !(p = popen(cmd, "r")))
		return 0;
	while (fgets(line, sizeof line, p))
		if (!found && (b = strstr(line, "Build ID: ")))
			found = sscanf(b + 10, "%129s", out) == 1;
	pclose(p);
	return found;
}

static const elf_func *find_func(const elf_func *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

/* Is name among the symbols readelf lists at value? (aliases share an address) */
static int is_alias_at(const elf_func *v, size_t n, uint64_t value, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].value == value && !strcmp(v[i].name, name))
			return 1;
	return 0;
}

/* --- symtab on this program ----------------------------------------------------------- */

/* Every sized function symbol of a file, looked up at its address plus the load bias,
 * must come back as one of the names at that address. */
static void check_all_funcs(hp_symtab *st, const elf_func *v, size_t n, uint64_t bias,
			    const char *what)
{
	const char *got;
	size_t i, bad = 0;

	for (i = 0; i < n; i++) {
		got = hp_symtab_lookup(st, bias + v[i].value);
		if (!got || !is_alias_at(v, n, v[i].value, got)) {
			if (bad++ < 5)
				diag("%s at %#" PRIx64 " resolved to %s", v[i].name, v[i].value,
				     show(got));
		}
	}
	ok(bad == 0, "%s: all %zu sized function symbols readelf lists resolve to a name at "
	   "their address", what, n);
}

static void test_own_functions(hp_symtab *st)
{
	char exe[PATH_MAX];
	elf_func *v;
	const elf_func *t;
	size_t n;
	uint64_t bias, end;
	const char *got;
	ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);

	exe[el > 0 ? el : 0] = '\0';
	ok(hp_test_target(5) != -1, "target function runs");
	ok(is_name(hp_symtab_lookup(st, A(hp_test_target)), "hp_test_target"),
	   "static function of the test program found by its entry address");
	v = readelf_funcs(exe, &n);
	if (!v || !(t = find_func(v, n, "hp_test_target"))) {
		ok(0, "readelf -sW lists hp_test_target");
		free(v);
		return;
	}
	bias = A(hp_test_target) - t->value;
	end = A(hp_test_target) + t->size;
	ok(is_name(hp_symtab_lookup(st, end - 1), "hp_test_target"),
	   "last byte of hp_test_target (size %" PRIu64 ") resolves to it", t->size);
	got = hp_symtab_lookup(st, end);
	ok(!is_name(got, "hp_test_target"), "first byte past its st_size does not (got %s)",
	   show(got));
	check_all_funcs(st, v, n, bias, "the test program");
	free(v);
}

/* A libc address past the last symbol, or a symbol only in the debug file, would show
 * here; so would picking a neighbour's name. */
static void test_libc_all(hp_symtab *st)
{
	char id[130], path[256];
	const char *file;
	elf_func *v;
	Dl_info di;
	size_t n;

	if (!dladdr(dlsym(RTLD_DEFAULT, "getpid"), &di) ||
	    hp_build_id_of_file(di.dli_fname, id, sizeof id) != 0) {
		ok(0, "libc's build id");
		return;
	}
	snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%.2s/%s.debug", id, id + 2);
	file = access(path, R_OK) == 0 ? path : di.dli_fname;
	diag("libc symbols checked against %s", file);
	if (!(v = readelf_funcs(file, &n))) {
		ok(1, "# SKIP readelf -sW %s", file);
		return;
	}
	check_all_funcs(st, v, n, A(di.dli_fbase), "libc");
	free(v);
}

static void test_asm_boundaries(hp_symtab *st)
{
	const char *got;

	ok(is_name(hp_symtab_lookup(st, A(hp_test_asm_outer)), "hp_test_asm_outer"),
	   "asm function found");
	ok(is_name(hp_symtab_lookup(st, A(hp_test_asm_zero)), "hp_test_asm_outer"),
	   "a zero-sized symbol inside a function gives the function's name");
	ok(is_name(hp_symtab_lookup(st, A(hp_test_asm_zero) + 1), "hp_test_asm_outer"),
	   "so does the byte after it");
	ok(is_name(hp_symtab_lookup(st, A(hp_test_asm_inner)), "hp_test_asm_inner"),
	   "a nested sized symbol gives its own name");
	ok(is_name(hp_symtab_lookup(st, A(hp_test_asm_after_inner)), "hp_test_asm_outer"),
	   "past the nested symbol's end, the enclosing function again");
	got = hp_symtab_lookup(st, A(hp_test_asm_gap));
	ok(got == NULL, "just past the function's st_size (a gap): NULL (got %s)", show(got));
	got = hp_symtab_lookup(st, A(hp_test_asm_lonezero));
	ok(got == NULL, "a lone zero-sized symbol matches nothing (got %s)", show(got));
}

static void test_libc_and_unmapped(hp_symtab *st)
{
	void *fn = dlsym(RTLD_DEFAULT, "getpid");
	const char *name = hp_symtab_lookup(st, A(fn)), *name1;
	void *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ok(fn && name && strstr(name, "getpid"), "getpid (via dlsym) resolves to %s",
	   show(name));
	name1 = hp_symtab_lookup(st, A(fn) + 1);
	ok(name && name1 && !strcmp(name, name1), "getpid+1 gives the same name (%s)",
	   show(name1));
	name1 = hp_symtab_lookup(st, A(fn) - 1);
	ok(!name1 || strcmp(name1, show(name)), "the byte before getpid does not (%s)",
	   show(name1));
	ok(hp_symtab_lookup(st, 0) == NULL && hp_symtab_lookup(st, 16) == NULL &&
	   hp_symtab_lookup(st, UINT64_MAX) == NULL && hp_symtab_lookup(st, 1ull << 62) == NULL,
	   "unmapped addresses give NULL");
	ok(page != MAP_FAILED && hp_symtab_lookup(st, A(page) + 100) == NULL,
	   "anonymous memory gives NULL");
	if (page != MAP_FAILED)
		munmap(page, 4096);
	ok(hp_symtab_lookup(NULL, A(fn)) == NULL, "NULL table gives NULL");
}

static void test_vdso(hp_symtab *st)
{
	uint64_t lo = 0, hi = 0, a;
	char line[512];
	size_t named = 0, clock = 0;
	const char *got;
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof line, f))
		if (strstr(line, "[vdso]"))
			sscanf(line, "%" SCNx64 "-%" SCNx64, &lo, &hi);
	if (f)
		fclose(f);
	if (!lo || !getauxval(AT_SYSINFO_EHDR)) {
		ok(1, "# SKIP no vdso");
		return;
	}
	for (a = lo; a < hi; a++) {
		got = hp_symtab_lookup(st, a);
		named += got != NULL;
		clock += got && strstr(got, "clock_gettime");
	}
	ok(named > 0 && clock > 0, "vdso symbols read from memory: %zu of %" PRIu64
	   " bytes named, %zu in clock_gettime", named, hi - lo, clock);
}

static uint64_t xorshift(uint64_t *s);

/* --- hp_symtab_prepare ------------------------------------------------------------------ */

typedef struct addr_list {
	uint64_t *v;
	size_t n, cap;
} addr_list;

static void add_addr(addr_list *l, uint64_t a)
{
	if (l->n == l->cap && !(l->v = realloc(l->v, (l->cap = l->cap ? 2 * l->cap : 4096) *
					   sizeof *l->v)))
		abort();
	l->v[l->n++] = a;
}

/* Each sized function's first, middle and last byte, and the byte past it. */
static void add_funcs(addr_list *l, const elf_func *v, size_t n, uint64_t bias)
{
	for (size_t i = 0; i < n; i++) {
		add_addr(l, bias + v[i].value);
		add_addr(l, bias + v[i].value + v[i].size / 2);
		add_addr(l, bias + v[i].value + v[i].size - 1);
		add_addr(l, bias + v[i].value + v[i].size);
	}
}

static elf_func *libc_funcs(size_t *n, uint64_t *bias)
{
	char id[130], path[256];
	Dl_info di;

	if (!dladdr(dlsym(RTLD_DEFAULT, "getpid"), &di) ||
	    hp_build_id_of_file(di.dli_fname, id, sizeof id) != 0)
		return NULL;
	snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%.2s/%s.debug", id, id + 2);
	*bias = A(di.dli_fbase);
	return readelf_funcs(access(path, R_OK) == 0 ? path : di.dli_fname, n);
}

static int same_name(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Every sized function symbol of this program and of libc (first, middle, last byte, one
 * past), the asm boundaries, the vdso, random libc addresses and some outside any object,
 * shuffled and duplicated: prepared lookups must equal those of an unprepared table, and
 * must read no whole table. */
static void test_prepare_equal(void)
{
	char exe[PATH_MAX];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
	elf_func *own, *libc;
	const elf_func *t;
	size_t nown = 0, nlibc = 0, i, bad = 0, named = 0;
	uint64_t libc_bias = 0, seed = 7, lo = 0, hi = 0, a, tmp;
	addr_list l = { NULL, 0, 0 };
	hp_symtab *prep, *lazy;
	const char **got;
	size_t mem0, mem1;
	char line[512];
	FILE *f;
	void *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	exe[el > 0 ? el : 0] = '\0';
	own = readelf_funcs(exe, &nown);
	libc = libc_funcs(&nlibc, &libc_bias);
	if (!own || !libc || !(t = find_func(own, nown, "hp_test_target"))) {
		ok(0, "readelf -sW lists the functions of the test program and libc");
		free(own);
		free(libc);
		return;
	}
	add_funcs(&l, own, nown, A(hp_test_target) - t->value);
	add_funcs(&l, libc, nlibc, libc_bias);
	add_addr(&l, A(hp_test_asm_outer));
	add_addr(&l, A(hp_test_asm_zero));
	add_addr(&l, A(hp_test_asm_inner));
	add_addr(&l, A(hp_test_asm_after_inner));
	add_addr(&l, A(hp_test_asm_gap));
	add_addr(&l, A(hp_test_asm_lonezero));
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof line, f))
		if (strstr(line, "[vdso]"))
			sscanf(line, "%" SCNx64 "-%" SCNx64, &lo, &hi);
	if (f)
		fclose(f);
	for (a = lo; a < hi; a++)
		add_addr(&l, a);
	for (i = 0; i < 20000; i++)
		add_addr(&l, libc[xorshift(&seed) % nlibc].value + libc_bias +
			 xorshift(&seed) % 4096);
	add_addr(&l, 0);
	add_addr(&l, 16);
	add_addr(&l, UINT64_MAX);
	add_addr(&l, 1ull << 62);
	if (page != MAP_FAILED)
		add_addr(&l, A(page) + 100);
	for (i = l.n; i-- > 1;) {	/* shuffle, then duplicate a tenth */
		size_t j = xorshift(&seed) % (i + 1);

		tmp = l.v[i], l.v[i] = l.v[j], l.v[j] = tmp;
	}
	for (i = 0, a = l.n; i < a / 10; i++)
		add_addr(&l, l.v[xorshift(&seed) % a]);
	prep = hp_symtab_new();
	lazy = hp_symtab_new();
	got = calloc(l.n, sizeof *got);
	ok(prep && lazy && got && hp_symtab_prepare(prep, l.v, l.n) == 0,
	   "hp_symtab_prepare of %zu addresses (%zu functions of the test program, %zu of "
	   "libc, shuffled, duplicates, unmapped ones) returns 0", l.n, nown, nlibc);
	mem0 = hp_mem_bytes(HP_MEM_SYMBOLS);
	for (i = 0; got && i < l.n; i++)
		got[i] = hp_symtab_lookup(prep, l.v[i]);
	mem1 = hp_mem_bytes(HP_MEM_SYMBOLS);
	ok(mem0 == mem1, "looking them all up reads no whole symbol table (%zu bytes before, "
	   "%zu after)", mem0, mem1);
	for (i = 0; got && i < l.n; i++) {
		const char *want = hp_symtab_lookup(lazy, l.v[i]);

		named += want != NULL;
		if (!same_name(got[i], want) && bad++ < 5)
			diag("%#" PRIx64 ": prepared %s, unprepared %s", l.v[i], show(got[i]),
			     show(want));
	}
	ok(got && bad == 0 && named > l.n / 2, "every prepared lookup equals the unprepared "
	   "one (%zu addresses, %zu named, %zu differ)", l.n, named, bad);
	ok(hp_symtab_prepare(prep, NULL, 0) == 0 && hp_symtab_prepare(NULL, l.v, 1) == -EINVAL,
	   "no addresses: 0; no table: -EINVAL");
	if (page != MAP_FAILED)
		munmap(page, 4096);
	free(got);
	hp_symtab_free(prep);
	hp_symtab_free(lazy);
	free(l.v);
	free(own);
	free(libc);
}

/* Prepared for libc only: the test program's functions still resolve (lazily), and a
 * later prepare of them too. */
static void test_prepare_then_lazy(void)
{
	hp_symtab *st = hp_symtab_new();
	uint64_t getpid_a = A(dlsym(RTLD_DEFAULT, "getpid")), a[3];

	a[0] = getpid_a;
	a[1] = getpid_a;
	a[2] = 12345;
	ok(st && hp_symtab_prepare(st, a, 3) == 0 &&
	   strstr(show(hp_symtab_lookup(st, getpid_a)), "getpid"),
	   "prepared getpid resolves to %s", show(hp_symtab_lookup(st, getpid_a)));
	ok(is_name(hp_symtab_lookup(st, A(hp_test_target)), "hp_test_target"),
	   "an address not prepared, in another object, resolves lazily");
	ok(is_name(hp_symtab_lookup(st, A(hp_test_target) + 1), "hp_test_target"),
	   "and the next byte too");
	a[0] = A(hp_test_asm_inner);
	ok(hp_symtab_prepare(st, a, 1) == 0 &&
	   is_name(hp_symtab_lookup(st, A(hp_test_asm_inner)), "hp_test_asm_inner"),
	   "preparing an address of an object already loaded whole: the same name");
	a[0] = getpid_a + 1;
	ok(hp_symtab_prepare(st, a, 1) == 0 &&
	   same_name(hp_symtab_lookup(st, getpid_a + 1), hp_symtab_lookup(st, getpid_a)),
	   "a second prepare in an object prepared before adds its address");
	a[0] = A(dlsym(RTLD_DEFAULT, "malloc"));
	ok(strstr(show(hp_symtab_lookup(st, a[0])), "malloc") != NULL,
	   "a libc address not prepared, after libc was prepared, resolves lazily (%s)",
	   show(hp_symtab_lookup(st, a[0])));
	hp_symtab_free(st);
}

/* The point of prepare: memory for the names a dump needs, not for libc's whole table. */
static void test_prepare_memory(void)
{
	elf_func *libc;
	size_t n = 0, i, base, prepared, full;
	uint64_t bias = 0, a[50];
	hp_symtab *st;
	const char *name;
	int all = 1;

	if (!(libc = libc_funcs(&n, &bias)) || n < 50) {
		ok(0, "readelf -sW lists libc's functions");
		free(libc);
		return;
	}
	for (i = 0; i < 50; i++)
		a[i] = bias + libc[i * (n / 50)].value + libc[i * (n / 50)].size / 2;
	base = hp_mem_bytes(HP_MEM_SYMBOLS);
	st = hp_symtab_new();
	ok(st && hp_symtab_prepare(st, a, 50) == 0, "50 libc addresses prepared");
	for (i = 0; st && i < 50; i++) {
		name = hp_symtab_lookup(st, a[i]);
		all &= name && is_alias_at(libc, n, libc[i * (n / 50)].value, name);
	}
	prepared = hp_mem_bytes(HP_MEM_SYMBOLS) - base;
	hp_symtab_free(st);
	ok(all, "each resolves to a name readelf lists at its function's address");
	ok(hp_mem_bytes(HP_MEM_SYMBOLS) == base, "hp_symtab_free returns every byte");
	st = hp_symtab_new();
	hp_symtab_lookup(st, a[0]);
	full = hp_mem_bytes(HP_MEM_SYMBOLS) - base;
	hp_symtab_free(st);
	diag("HP_MEM_SYMBOLS: %zu bytes with 50 libc addresses prepared, %zu after a lazy load "
	     "of libc's %zu functions", prepared, full, n);
	ok(prepared > 0 && prepared * 10 < full, "prepared: under a tenth of the lazy load "
	   "(%zu vs %zu bytes)", prepared, full);
	free(libc);
}

/* --- a loaded library whose file is replaced ------------------------------------------ */

typedef struct victim {
	char dir[64], path[128], tmp[160];
	unsigned char *orig;
	size_t len;
	void *handle;
	uint64_t fn, lo, hi;	/* inflate; the copy's text, roughly */
	char id[130];
	size_t id_at, id_len;	/* where the raw build id lies in the file */
} victim;

static int write_file(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int r = fd >= 0 && write(fd, p, len) == (ssize_t)len;

	if (fd >= 0)
		close(fd);
	return r;
}

static int read_file(const char *path, unsigned char **p, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	int r = 0;

	*p = NULL;
	if (fd >= 0 && fstat(fd, &sb) == 0 && (*p = malloc((size_t)sb.st_size + 1)))
		r = read(fd, *p, (size_t)sb.st_size) == sb.st_size;
	*len = r ? (size_t)sb.st_size : 0;
	if (fd >= 0)
		close(fd);
	return r;
}

static size_t find_raw_id(victim *v)
{
	unsigned char raw[64];
	unsigned int byte;
	const unsigned char *at;

	for (v->id_len = 0; v->id_len < 64 && sscanf(v->id + 2 * v->id_len, "%2x", &byte) == 1;)
		raw[v->id_len++] = (unsigned char)byte;
	at = memmem(v->orig, v->len, raw, v->id_len);
	return at ? (size_t)(at - v->orig) : 0;
}

/* A private copy of libz, dlopen'ed from a temporary directory. */
static int victim_open(victim *v)
{
	Dl_info di;
	void *z = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL), *fn;

	memset(v, 0, sizeof *v);
	if (!z || !(fn = dlsym(z, "inflate")) || !dladdr(fn, &di) ||
	    !read_file(di.dli_fname, &v->orig, &v->len))
		return 0;
	dlclose(z);
	strcpy(v->dir, "/tmp/hp_test_symtab_XXXXXX");
	if (!mkdtemp(v->dir))
		return 0;
	snprintf(v->path, sizeof v->path, "%s/libzcopy.so", v->dir);
	snprintf(v->tmp, sizeof v->tmp, "%s/next", v->dir);
	if (!write_file(v->path, v->orig, v->len) ||
	    !(v->handle = dlopen(v->path, RTLD_NOW | RTLD_LOCAL)) ||
	    !(fn = dlsym(v->handle, "inflate")) || hp_build_id_of_file(v->path, v->id, 130))
		return 0;
	v->fn = A(fn);
	v->id_at = find_raw_id(v);
	dladdr(fn, &di);
	v->lo = A(di.dli_fbase);
	v->hi = v->lo + v->len;
	return 1;
}

static void victim_close(victim *v)
{
	if (v->handle)
		dlclose(v->handle);
	unlink(v->path);
	unlink(v->tmp);
	rmdir(v->dir);
	free(v->orig);
}

/* Puts content in place of the library's file (rename: the loaded inode lives on). */
static int victim_replace(victim *v, const void *p, size_t len)
{
	return write_file(v->tmp, p, len) && rename(v->tmp, v->path) == 0;
}

static size_t prep_differ;	/* victim_scan: prepared lookups unlike the lazy ones */

/* Looks up every 7th byte of the copy: returns how many got a name; -1 on a bad string.
 * The same addresses are also prepared (hp_symtab_prepare streams the same file) in a
 * second table: its names must be bounded strings too, and are compared with the first's
 * (prep_differ). */
static long victim_scan(const victim *v, const char **at_fn)
{
	hp_symtab *st = hp_symtab_new(), *pst = hp_symtab_new();
	size_t n = (size_t)((v->hi - v->lo + 6) / 7), i = 0;
	uint64_t *addrs = malloc(n * sizeof *addrs), a;
	long named = 0;
	const char *got, *pgot;

	if (!st || !pst || !addrs) {
		hp_symtab_free(st);
		hp_symtab_free(pst);
		free(addrs);
		return -1;
	}
	for (a = v->lo; a < v->hi && i < n; a += 7)
		addrs[i++] = a;
	if (hp_symtab_prepare(pst, addrs, i) != 0)
		named = -1;
	for (a = v->lo; a < v->hi; a += 7) {
		got = hp_symtab_lookup(st, a);
		pgot = hp_symtab_lookup(pst, a);
		if ((got && strnlen(got, 4096) == 4096) || (pgot && strnlen(pgot, 4096) == 4096))
			named = -1;
		else if (got && named >= 0)
			named++;
		prep_differ += !same_name(got, pgot);
	}
	got = hp_symtab_lookup(st, v->fn);
	*at_fn = got && !strcmp(got, "inflate") ? "inflate" : got ? "other" : NULL;
	hp_symtab_free(st);
	hp_symtab_free(pst);
	free(addrs);
	return named;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random byte changes, kept off the build id (so the file still passes as the loaded one)
 * and aimed half of the time at the section headers. */
static void mutate(const victim *v, unsigned char *buf, uint64_t *seed)
{
	uint64_t shoff, span, pos, k, nflip = 1 + xorshift(seed) % 32;

	memcpy(&shoff, v->orig + 0x28, sizeof shoff);
	for (k = 0; k < nflip; k++) {
		span = (xorshift(seed) & 1) && shoff < v->len ? v->len - shoff : v->len;
		pos = v->len - span + xorshift(seed) % span;
		if (pos + 16 >= v->id_at && pos < v->id_at + v->id_len)
			continue;
		buf[pos] = (unsigned char)xorshift(seed);
	}
}

/* The original inode is now deleted and another ELF sits at its path: procmaps must
 * report the path without " (deleted)" and not the other file's build id. */
static void victim_procmaps(victim *v)
{
	hp_pprof_mapping *m;
	size_t n, i, found = 0, good = 0;
	char exe_id[130] = "";
	unsigned char *exe;
	size_t exelen;

	if (read_file("/proc/self/exe", &exe, &exelen))
		victim_replace(v, exe, exelen);
	free(exe);
	hp_build_id_of_file(v->path, exe_id, sizeof exe_id);
	if (hp_procmaps_read(&m, &n) != 0)
		n = 0;
	for (i = 0; i < n; i++) {
		if (strcmp(m[i].file, v->path))
			continue;
		found++;
		good += !strcmp(m[i].build_id, v->id) || !m[i].build_id[0];
		diag("deleted mapping %s: build id \"%s\"", m[i].file, m[i].build_id);
	}
	ok(found > 0 && good == found && strcmp(exe_id, v->id),
	   "deleted library listed by its path, with its own build id or none, not that of the "
	   "file now at the path");
	hp_procmaps_free(m, n);
}

static void test_replaced_file(void)
{
	victim v;
	const char *at;
	unsigned char *buf, *exe;
	size_t exelen, i, cuts[] = { 0, 1, 63, 64, 200, 1000, 4096 };
	long named, worst = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	int iter, crashfree = 1;

	if (!victim_open(&v)) {
		ok(1, "# SKIP no private copy of libz could be loaded");
		victim_close(&v);
		return;
	}
	named = victim_scan(&v, &at);
	ok(named > 0 && is_name(at, "inflate"), "the copy's .dynsym names inflate (%ld named)",
	   named);
	for (i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		victim_replace(&v, v.orig, cuts[i] < v.len ? cuts[i] : v.len / 2);
		named = victim_scan(&v, &at);
		ok(named == 0, "file truncated to %zu bytes: nothing resolved (%ld)", cuts[i],
		   named);
	}
	ok(read_file("/proc/self/exe", &exe, &exelen) && victim_replace(&v, exe, exelen),
	   "file replaced by another ELF");
	named = victim_scan(&v, &at);
	ok(named == 0, "a file with another build id resolves nothing (%ld)", named);
	free(exe);
	unlink(v.path);
	ok(mkfifo(v.path, 0600) == 0, "file replaced by a FIFO");
	named = victim_scan(&v, &at);
	ok(named == 0, "a FIFO is not opened for reading (no hang, %ld)", named);
	unlink(v.path);
	buf = malloc(v.len);
	for (iter = 0; buf && iter < 400; iter++) {
		memcpy(buf, v.orig, v.len);
		mutate(&v, buf, &seed);
		victim_replace(&v, buf, v.len);
		named = victim_scan(&v, &at);
		crashfree &= named >= 0;
		worst = named > worst ? named : worst;
	}
	free(buf);
	ok(buf && crashfree, "400 corrupted copies with the right build id: no crash, every "
	   "name a bounded string (max %ld named)", worst);
	ok(prep_differ == 0, "on every copy, intact, cut or corrupted, prepared lookups equal "
	   "lazy ones (%zu differ)", prep_differ);
	victim_procmaps(&v);
	victim_close(&v);
}

/* --- procmaps ------------------------------------------------------------------------- */

static const hp_pprof_mapping *find_mapping(const hp_pprof_mapping *m, size_t n,
					    const char *file, const char *base)
{
	const char *slash;
	size_t i;

	for (i = 0; i < n; i++) {
		slash = strrchr(m[i].file, '/');
		if ((file && !strcmp(m[i].file, file)) ||
		    (base && slash && !strcmp(slash + 1, base)))
			return &m[i];
	}
	return NULL;
}

static void check_build_id(const hp_pprof_mapping *m, const char *what)
{
	char want[130], direct[130];

	if (!m) {
		ok(0, "%s is listed", what);
		return;
	}
	if (!readelf_build_id(m->file, want, sizeof want)) {
		ok(1, "# SKIP readelf -n gave no build id for %s", m->file);
		return;
	}
	ok(!strcmp(m->build_id, want), "%s (%s): build id %s matches readelf -n", what,
	   m->file, m->build_id);
	ok(hp_build_id_of_file(m->file, direct, sizeof direct) == 0 && !strcmp(direct, want),
	   "hp_build_id_of_file agrees");
}

static int mappings_sane(const hp_pprof_mapping *m, size_t n)
{
	size_t i, dl = strlen(" (deleted)"), fl;

	for (i = 0; i < n; i++) {
		fl = strlen(m[i].file);
		if (m[i].start >= m[i].limit || (i && m[i - 1].start >= m[i].start) ||
		    m[i].file[0] != '/' ||
		    (fl > dl && !strcmp(m[i].file + fl - dl, " (deleted)")) ||
		    strspn(m[i].build_id, "0123456789abcdef") != strlen(m[i].build_id) ||
		    strlen(m[i].build_id) % 2)
			return 0;
	}
	return 1;
}

static void test_procmaps(void)
{
	hp_pprof_mapping *m = NULL;
	size_t n = 0;
	char exe[PATH_MAX];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);

	int r;

	exe[el > 0 ? el : 0] = '\0';
	r = hp_procmaps_read(&m, &n);
	ok(r == 0 && n >= 2, "hp_procmaps_read lists %zu mappings", n);
	ok(mappings_sane(m, n), "sorted by start, absolute paths without \" (deleted)\", "
	   "lowercase hex build ids");
	check_build_id(find_mapping(m, n, exe, NULL), "the test program");
	check_build_id(find_mapping(m, n, NULL, "libc.so.6"), "libc");
	hp_procmaps_free(m, n);
}

static void test_build_id_errors(void)
{
	char id[130], want[130], small[8], path[] = "/tmp/hp_test_buildid_XXXXXX";
	unsigned char *libc;
	size_t len;
	Dl_info di;
	int fd, r;

	ok(hp_build_id_of_file("/nonexistent/x", id, sizeof id) == -ENOENT,
	   "missing file: -ENOENT");
	ok(hp_build_id_of_file("/proc/self/maps", id, sizeof id) == -ENOEXEC,
	   "not a regular file: -ENOEXEC");
	ok(hp_build_id_of_file("/proc/self/exe", small, sizeof small) == -ERANGE,
	   "buffer too small: -ERANGE");
	if (!dladdr(dlsym(RTLD_DEFAULT, "getpid"), &di) ||
	    !read_file(di.dli_fname, &libc, &len)) {
		ok(0, "libc read");
		return;
	}
	fd = mkstemp(path);
	ok(fd >= 0 && write(fd, libc, 0x1000) == 0x1000, "truncated copy of libc written");
	r = hp_build_id_of_file(path, id, sizeof id);
	ok(hp_build_id_of_file(di.dli_fname, want, sizeof want) == 0 && r == 0 &&
	   !strcmp(id, want),
	   "the first 4 KiB of libc (headers and notes) give its build id");
	if (fd >= 0 && ftruncate(fd, 0x100) == 0)
		ok(hp_build_id_of_file(path, id, sizeof id) == -ENOENT,
		   "cut before the notes: -ENOENT");
	if (fd >= 0 && ftruncate(fd, 0x20) == 0)
		ok(hp_build_id_of_file(path, id, sizeof id) == -ENOEXEC,
		   "a cut ELF header: -ENOEXEC");
	if (fd >= 0)
		close(fd);
	unlink(path);
	free(libc);
}

/* --- timing --------------------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_timing(void)
{
	hp_pprof_mapping *m = NULL;
	const hp_pprof_mapping *libc;
	hp_symtab *st = hp_symtab_new();
	uint64_t seed = 42, a;
	size_t n = 0, named = 0, i;
	double t0, t1, t2;

	if (!st || hp_procmaps_read(&m, &n) ||
	    !(libc = find_mapping(m, n, NULL, "libc.so.6"))) {
		ok(0, "libc's text found for timing");
		hp_symtab_free(st);
		hp_procmaps_free(m, n);
		return;
	}
	t0 = now();
	hp_symtab_lookup(st, libc->start);
	t1 = now();
	for (i = 0; i < 100000; i++) {
		a = libc->start + xorshift(&seed) % (libc->limit - libc->start);
		named += hp_symtab_lookup(st, a) != NULL;
	}
	t2 = now();
	diag("loading libc's symbols: %.2f ms; 100000 random lookups in libc's text: %.2f ms "
	     "(%.0f ns each), %zu named", (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t2 - t1) * 1e4,
	     named);
	ok(named > 50000, "most random addresses in libc's text are inside a function");
	hp_symtab_free(st);
	hp_procmaps_free(m, n);
}

int main(void)
{
	hp_symtab *st;
	int fds0 = count_fds(), fds1;

	st = hp_symtab_new();
	ok(st != NULL, "hp_symtab_new");
	if (st) {
		test_own_functions(st);
		test_asm_boundaries(st);
		test_libc_and_unmapped(st);
		test_libc_all(st);
		test_vdso(st);
	}
	hp_symtab_free(st);
	hp_symtab_free(NULL);
	fds1 = count_fds();
	ok(fds0 > 0 && fds0 == fds1, "no fd left open by symtab (%d before, %d after)", fds0,
	   fds1);
	test_procmaps();
	fds1 = count_fds();
	ok(fds0 == fds1, "no fd left open by procmaps (%d before, %d after)", fds0, fds1);
	test_prepare_equal();
	test_prepare_then_lazy();
	test_prepare_memory();
	test_build_id_errors();
	test_replaced_file();
	test_timing();
	fds1 = count_fds();
	ok(fds0 == fds1, "no fd left open at the end (%d before, %d after)", fds0, fds1);
	return tap_done();
}
