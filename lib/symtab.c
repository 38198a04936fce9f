/* lib/symtab.c: function names for addresses in this process, from ELF symbol tables.
 *
 * hp_symtab_new only snapshots dl_iterate_phdr (names, load biases, PT_LOAD ranges and the
 * build ids of the images in memory). An object's file is read (its headers, notes, symbol
 * and string tables, with pread) and its function symbols sorted the first time an address
 * inside it is looked up, so a dump pays only for the objects its stacks touch. Names point
 * into the string tables read, which live until hp_symtab_free; no file descriptor is kept.
 *
 * Files are untrusted: they may be truncated, corrupt, or no longer the ones that were
 * loaded. Every offset and size read from them is checked against the file's length (and a
 * read that comes up short, because the file shrank, fails cleanly), structures are copied
 * out with memcpy (offsets in a corrupt file need not be aligned), and a file whose build
 * id differs from the loaded image's is not used at all: no name is better than a wrong
 * one. Files are never mapped: one cut short in place while mapped would raise SIGBUS in
 * the host program.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "arena.h"
#include "procmaps.h"
#include "symtab.h"

/* Symbols may nest (asm entry points inside a bigger function): when the closest symbol
 * below an address does not contain it, this many earlier ones are tried. */
#define HP_NEST_SCAN 8
#define HP_VDSO_MAX_PAGES 64
#define HP_DEBUG_DIR "/usr/lib/debug/.build-id/"

/* An ELF file to read: the vdso in memory (p), or a file read with pread (fd). Files are
 * never mapped: a file cut short in place while mapped would raise SIGBUS in the host
 * program. The sections read from a file are kept as chunks until the image is released
 * (symbol names point into the string table's chunk). */
typedef struct hp_image {
	const unsigned char *p;	/* in-memory image, or NULL */
	int fd;			/* file image while it is being read, or -1 */
	size_t len;
	unsigned char **chunks;
	size_t nchunks;
} hp_image;

#define HP_IMAGE_INIT { NULL, -1, 0, NULL, 0 }
#define HP_SECTION_MAX ((size_t)1 << 30)

typedef struct hp_sym {
	uint64_t addr;		/* load bias added */
	const char *name;	/* into the image's string table */
	uint32_t size;
	uint32_t rank;		/* among aliases at one address, the lowest is kept */
} hp_sym;

enum { HP_OBJ_NONE, HP_OBJ_FILE, HP_OBJ_VDSO };

typedef struct hp_obj {
	char *path;		/* file to read (HP_OBJ_FILE) */
	uint64_t bias;
	uint64_t image;		/* where file offset 0 would be mapped */
	unsigned char build_id[HP_BUILD_ID_MAX];
	size_t build_id_len;	/* 0: unknown */
	int kind;
	int loaded;
	hp_sym *syms;
	size_t nsyms;
	hp_image map;		/* the file whose string table syms' names point into */
	char *names;		/* names copied without their symbol version */
} hp_obj;

typedef struct hp_range {
	uint64_t start, end;
	size_t obj;
} hp_range;

struct hp_symtab {
	hp_obj *objs;
	size_t nobjs, capobjs;
	hp_range *ranges;
	size_t nranges, capranges;
	int oom;
};

/* --- reading ELF out of an image ------------------------------------------------------ */

static int hp_img_read(const hp_image *img, uint64_t off, void *dst, size_t len)
{
	size_t done = 0;

	if (off > img->len || len > img->len - off)
		return 0;
	if (img->p) {
		memcpy(dst, img->p + off, len);
		return 1;
	}
	while (done < len) {
		ssize_t n = pread(img->fd, (char *)dst + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;	/* error, or the file shrank since fstat */
		done += (size_t)n;
	}
	return 1;
}

/* len bytes at off, in memory: a pointer into the in-memory image, or a chunk read from
 * the file and kept with the image. NULL when out of range or unreadable. */
static const unsigned char *hp_img_bytes(hp_image *img, uint64_t off, size_t len)
{
	unsigned char *buf, **grown;

	if (off > img->len || len > img->len - off || len > HP_SECTION_MAX)
		return NULL;
	if (img->p)
		return img->p + off;
	grown = hp_irealloc_k(HP_MEM_SYMBOLS, img->chunks, (img->nchunks + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	img->chunks = grown;
	if (!(buf = hp_ialloc_k(HP_MEM_SYMBOLS, len ? len : 1)))
		return NULL;
	if (!hp_img_read(img, off, buf, len)) {
		hp_ifree_k(HP_MEM_SYMBOLS, buf);
		return NULL;
	}
	img->chunks[img->nchunks++] = buf;
	return buf;
}

/* A chunk no longer needed (a symbol table once its functions are collected): freed now,
 * so that a dump holds a file's raw symbols only while it reads them. */
static void hp_img_drop(hp_image *img, const unsigned char *chunk)
{
	for (size_t i = 0; !img->p && i < img->nchunks; i++)
		if (img->chunks[i] == chunk) {
			hp_ifree_k(HP_MEM_SYMBOLS, img->chunks[i]);
			img->chunks[i] = img->chunks[--img->nchunks];
			return;
		}
}

static int hp_img_ehdr(const hp_image *img, Elf64_Ehdr *eh)
{
	if (!hp_img_read(img, 0, eh, sizeof *eh))
		return 0;
	return memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
	       eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_ident[EI_DATA] == ELFDATA2LSB;
}

/* The number of section headers, 0 unless the whole table lies inside the image. */
static size_t hp_img_nsections(const hp_image *img, const Elf64_Ehdr *eh)
{
	Elf64_Shdr sh0;
	uint64_t n = eh->e_shnum;

	if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr))
		return 0;
	if (n == 0) {	/* extended numbering: the count is in section 0 */
		if (!hp_img_read(img, eh->e_shoff, &sh0, sizeof sh0))
			return 0;
		n = sh0.sh_size;
	}
	if (eh->e_shoff > img->len || n > (img->len - eh->e_shoff) / sizeof(Elf64_Shdr))
		return 0;
	return n;
}

/* i must be below hp_img_nsections(); a header that cannot be read reads as empty. */
static void hp_img_shdr(const hp_image *img, const Elf64_Ehdr *eh, size_t i, Elf64_Shdr *sh)
{
	if (!hp_img_read(img, eh->e_shoff + i * sizeof *sh, sh, sizeof *sh))
		memset(sh, 0, sizeof *sh);
}

static const unsigned char *hp_img_section(hp_image *img, const Elf64_Shdr *sh)
{
	if (sh->sh_type == SHT_NOBITS || (sh->sh_flags & SHF_COMPRESSED))
		return NULL;
	return hp_img_bytes(img, sh->sh_offset, sh->sh_size);
}

static size_t hp_img_build_id_sections(hp_image *img, const Elf64_Ehdr *eh,
				       unsigned char *id)
{
	size_t i, n = hp_img_nsections(img, eh), len;
	const unsigned char *p;
	Elf64_Shdr sh;

	for (i = 0; i < n; i++) {
		hp_img_shdr(img, eh, i, &sh);
		if (sh.sh_type != SHT_NOTE || !(p = hp_img_section(img, &sh)))
			continue;
		if ((len = hp_notes_build_id(p, sh.sh_size, sh.sh_addralign, id)))
			return len;
	}
	return 0;
}

/* For files without section headers (sstrip'd): the notes the loader sees. */
static size_t hp_img_build_id_segments(hp_image *img, const Elf64_Ehdr *eh,
				       unsigned char *id)
{
	const unsigned char *notes;
	size_t i, len;
	Elf64_Phdr ph;

	if (eh->e_phentsize != sizeof ph || eh->e_phoff > img->len)
		return 0;
	for (i = 0; i < eh->e_phnum; i++) {
		if (!hp_img_read(img, eh->e_phoff + i * sizeof ph, &ph, sizeof ph))
			return 0;
		if (ph.p_type != PT_NOTE || !(notes = hp_img_bytes(img, ph.p_offset, ph.p_filesz)))
			continue;
		len = hp_notes_build_id(notes, ph.p_filesz, ph.p_align, id);
		if (len)
			return len;
	}
	return 0;
}

static size_t hp_img_build_id(hp_image *img, unsigned char *id)
{
	Elf64_Ehdr eh;
	size_t len;

	if (!hp_img_ehdr(img, &eh))
		return 0;
	len = hp_img_build_id_sections(img, &eh, id);
	return len ? len : hp_img_build_id_segments(img, &eh, id);
}

/* --- symbols -------------------------------------------------------------------------- */

/* Aliases at one address: the public name (not LOCAL, like the __GI_ internals) with the
 * fewest leading underscores, so getpid wins over __getpid. A version suffix does not
 * count against a name: it is removed later. */
static uint32_t hp_sym_rank(const Elf64_Sym *s, const char *name)
{
	uint32_t under = 0;

	while (name[under] == '_' && under < 255)
		under++;
	return (ELF64_ST_BIND(s->st_info) == STB_LOCAL ? 256u : 0u) + under;
}

static const char *hp_sym_name(const Elf64_Sym *s, const unsigned char *str, size_t strsize)
{
	const char *name;

	if (s->st_name == 0 || s->st_name >= strsize)
		return NULL;
	name = (const char *)str + s->st_name;
	return memchr(name, '\0', strsize - s->st_name) ? name : NULL;
}

static int hp_sym_wanted(const Elf64_Sym *s)
{
	int type = ELF64_ST_TYPE(s->st_info);

	/* SHN_ABS values are not relative to the object, so the bias would be wrong. */
	return (type == STT_FUNC || type == STT_GNU_IFUNC) && s->st_size > 0 &&
	       s->st_size <= UINT32_MAX && s->st_shndx != SHN_UNDEF && s->st_shndx != SHN_ABS;
}

static int hp_sym_cmp(const void *a, const void *b)
{
	const hp_sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Sorts and keeps one symbol per address; returns the new count. */
static size_t hp_syms_sort(hp_sym *v, size_t n)
{
	size_t i, out = 0;

	qsort(v, n, sizeof *v, hp_sym_cmp);
	for (i = 0; i < n; i++)
		if (out == 0 || v[out - 1].addr != v[i].addr)
			v[out++] = v[i];
	return out;
}

static size_t hp_syms_collect(const hp_obj *o, const unsigned char *symp, size_t count,
			      const unsigned char *str, size_t strsize, hp_sym *out)
{
	size_t i, n = 0;
	const char *name;
	Elf64_Sym s;

	for (i = 0; i < count; i++) {
		memcpy(&s, symp + i * sizeof s, sizeof s);
		if (!hp_sym_wanted(&s) || !(name = hp_sym_name(&s, str, strsize)))
			continue;
		out[n].addr = o->bias + s.st_value;
		out[n].name = name;
		out[n].size = (uint32_t)s.st_size;
		out[n].rank = hp_sym_rank(&s, name);
		n++;
	}
	return n;
}

/* Since binutils 2.35, .symtab names of versioned symbols carry the version
 * ("memcpy@@GLIBC_2.14"); a profile wants the plain name, as .dynsym gives it, so those
 * are copied without it (on out of memory they are left as they are). */
static void hp_syms_unversion(hp_obj *o)
{
	size_t i, total = 0, len;
	const char *at;
	char *q;

	for (i = 0; i < o->nsyms; i++)
		if ((at = strchr(o->syms[i].name, '@')) && at != o->syms[i].name)
			total += (size_t)(at - o->syms[i].name) + 1;
	if (total == 0 || !(o->names = q = hp_ialloc_k(HP_MEM_SYMBOLS, total)))
		return;
	for (i = 0; i < o->nsyms; i++) {
		if (!(at = strchr(o->syms[i].name, '@')) || at == o->syms[i].name)
			continue;
		len = (size_t)(at - o->syms[i].name);
		memcpy(q, o->syms[i].name, len);
		q[len] = '\0';
		o->syms[i].name = q;
		q += len + 1;
	}
}

/* The first section of type (SHT_SYMTAB or SHT_DYNSYM) and its string table. */
static int hp_img_symsec(const hp_image *img, uint32_t type, Elf64_Shdr *sym, Elf64_Shdr *str)
{
	Elf64_Ehdr eh;
	size_t i, n;

	if (!hp_img_ehdr(img, &eh))
		return 0;
	n = hp_img_nsections(img, &eh);
	for (i = 0; i < n; i++) {
		hp_img_shdr(img, &eh, i, sym);
		if (sym->sh_type == type)
			break;
	}
	if (i == n || sym->sh_entsize != sizeof(Elf64_Sym) || sym->sh_link >= n)
		return 0;
	hp_img_shdr(img, &eh, sym->sh_link, str);
	return str->sh_type == SHT_STRTAB;
}

/* Fills o->syms from the image's table of the given type; 0 if it has no usable one. */
static int hp_obj_take_syms(hp_obj *o, hp_image *img, uint32_t type)
{
	const unsigned char *symp, *strp;
	Elf64_Shdr sym, str;
	size_t count, n;
	hp_sym *v, *shrunk;

	if (!hp_img_symsec(img, type, &sym, &str))
		return 0;
	if (!(symp = hp_img_section(img, &sym)) || !(strp = hp_img_section(img, &str)))
		return 0;
	count = sym.sh_size / sizeof(Elf64_Sym);
	if (count == 0 || !(v = hp_ialloc_k(HP_MEM_SYMBOLS, count * sizeof *v)))
		return 0;
	n = hp_syms_collect(o, symp, count, strp, str.sh_size, v);
	hp_img_drop(img, symp);	/* the names stay: they point into strp */
	if (n == 0) {
		hp_ifree_k(HP_MEM_SYMBOLS, v);
		return 0;
	}
	n = hp_syms_sort(v, n);
	shrunk = hp_irealloc_k(HP_MEM_SYMBOLS, v, n * sizeof *v);
	o->syms = shrunk ? shrunk : v;
	o->nsyms = n;
	hp_syms_unversion(o);
	return 1;
}

static const char *hp_obj_find(const hp_obj *o, uint64_t addr)
{
	size_t lo = 0, hi = o->nsyms, mid, k;
	const hp_sym *s;

	while (lo < hi) {	/* lo: how many symbols start at or below addr */
		mid = lo + (hi - lo) / 2;
		if (o->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (k = 0; k < HP_NEST_SCAN && lo > 0; k++, lo--) {
		s = &o->syms[lo - 1];
		if (addr - s->addr < s->size)
			return s->name;
	}
	return NULL;
}

/* --- loading an object's symbols ------------------------------------------------------ */

static int hp_map_file(const char *path, hp_image *img)
{
	/* O_NONBLOCK: a path that is now a FIFO must not hang the dumper. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat sb;

	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size < (off_t)sizeof(Elf64_Ehdr) || (uint64_t)sb.st_size > SIZE_MAX) {
		close(fd);
		return 0;
	}
	img->p = NULL;
	img->fd = fd;
	img->len = (size_t)sb.st_size;
	return 1;
}

/* Done reading: the descriptor goes, the chunks (symbol names) stay. */
static void hp_img_done(hp_image *img)
{
	if (img->fd >= 0)
		close(img->fd);
	img->fd = -1;
}

static void hp_unmap(hp_image *img)
{
	hp_img_done(img);
	for (size_t i = 0; i < img->nchunks; i++)
		hp_ifree_k(HP_MEM_SYMBOLS, img->chunks[i]);
	hp_ifree_k(HP_MEM_SYMBOLS, img->chunks);
	img->chunks = NULL;
	img->nchunks = 0;
	img->p = NULL;
	img->len = 0;
}

/* 1 unless both build ids are known and differ. */
static int hp_build_id_ok(const hp_obj *o, hp_image *img)
{
	unsigned char id[HP_BUILD_ID_MAX];
	size_t len = hp_img_build_id(img, id);

	if (len == 0 || o->build_id_len == 0)
		return 1;
	return len == o->build_id_len && memcmp(id, o->build_id, len) == 0;
}

static int hp_map_debug_file(const hp_obj *o, hp_image *img)
{
	static const char hex[] = "0123456789abcdef";
	char path[sizeof HP_DEBUG_DIR + 2 * HP_BUILD_ID_MAX + 8];
	char *q = path;
	size_t i;

	if (o->build_id_len < 2)
		return 0;
	memcpy(q, HP_DEBUG_DIR, sizeof HP_DEBUG_DIR - 1);
	q += sizeof HP_DEBUG_DIR - 1;
	for (i = 0; i < o->build_id_len; i++) {
		*q++ = hex[o->build_id[i] >> 4];
		*q++ = hex[o->build_id[i] & 15];
		if (i == 0)
			*q++ = '/';
	}
	memcpy(q, ".debug", sizeof ".debug");
	return hp_map_file(path, img);
}

/* The vdso is mapped whole, but its section headers lie past its PT_LOAD: its length comes
 * from the ELF header, and mincore confirms those pages are really mapped. */
static size_t hp_vdso_len(uint64_t base)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), mapped = 0, want;
	unsigned char vec;
	Elf64_Ehdr eh;
	hp_image img = HP_IMAGE_INIT;

	while (mapped < HP_VDSO_MAX_PAGES * pg &&
	       mincore((void *)(uintptr_t)(base + mapped), pg, &vec) == 0)
		mapped += pg;
	img.p = (const unsigned char *)(uintptr_t)base;
	img.len = mapped;
	if (!hp_img_ehdr(&img, &eh) || eh.e_shentsize != sizeof(Elf64_Shdr) ||
	    eh.e_shoff > mapped)
		return 0;
	want = eh.e_shoff + (size_t)eh.e_shnum * sizeof(Elf64_Shdr);
	return want < mapped ? want : mapped;
}

static void hp_vdso_load(hp_obj *o)
{
	hp_image img = HP_IMAGE_INIT;

	if (o->image % (uint64_t)sysconf(_SC_PAGESIZE))
		return;
	img.p = (const unsigned char *)(uintptr_t)o->image;
	img.len = hp_vdso_len(o->image);
	if (img.len && !hp_obj_take_syms(o, &img, SHT_SYMTAB))
		hp_obj_take_syms(o, &img, SHT_DYNSYM);
}

/* .symtab of the file, else .symtab of its separate debug file, else .dynsym. A file whose
 * build id is not the loaded one's is not used; its debug file (found by the loaded build
 * id) still is. */
static void hp_obj_load(hp_obj *o)
{
	hp_image file = HP_IMAGE_INIT, dbg = HP_IMAGE_INIT;
	int file_ok;

	o->loaded = 1;
	if (o->kind == HP_OBJ_VDSO)
		hp_vdso_load(o);
	if (o->kind != HP_OBJ_FILE)
		return;
	file_ok = hp_map_file(o->path, &file) && hp_build_id_ok(o, &file);
	if (file_ok && hp_obj_take_syms(o, &file, SHT_SYMTAB)) {
		hp_img_done(&file);
		o->map = file;
		return;
	}
	if (hp_map_debug_file(o, &dbg) && hp_build_id_ok(o, &dbg) &&
	    hp_obj_take_syms(o, &dbg, SHT_SYMTAB)) {
		hp_img_done(&dbg);
		o->map = dbg;
		hp_unmap(&file);
		return;
	}
	hp_unmap(&dbg);
	if (file_ok && hp_obj_take_syms(o, &file, SHT_DYNSYM)) {
		hp_img_done(&file);
		o->map = file;
	} else {
		hp_unmap(&file);
	}
}

/* --- the snapshot of loaded objects --------------------------------------------------- */

static void *hp_grow(void *v, size_t *cap, size_t n, size_t elsize)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	void *nv;

	if (n < *cap)
		return v;
	if (!(nv = hp_irealloc_k(HP_MEM_SYMBOLS, v, ncap * elsize)))
		return NULL;
	*cap = ncap;
	return nv;
}

static hp_obj *hp_obj_add(hp_symtab *st)
{
	hp_obj *v = hp_grow(st->objs, &st->capobjs, st->nobjs, sizeof *v);

	if (!v)
		return NULL;
	st->objs = v;
	memset(&v[st->nobjs], 0, sizeof *v);
	v[st->nobjs].map.fd = -1;	/* nothing read yet: hp_unmap must not close fd 0 */
	return &v[st->nobjs++];
}

static int hp_range_add(hp_symtab *st, uint64_t start, uint64_t end)
{
	hp_range *v = hp_grow(st->ranges, &st->capranges, st->nranges, sizeof *v);

	if (!v)
		return 0;
	st->ranges = v;
	v[st->nranges].start = start;
	v[st->nranges].end = end;
	v[st->nranges].obj = st->nobjs - 1;
	st->nranges++;
	return 1;
}

static int hp_obj_scan_phdrs(hp_symtab *st, hp_obj *o, const struct dl_phdr_info *info)
{
	const ElfW(Phdr) *ph;
	int i, first = 1;

	o->build_id_len = hp_phdr_build_id(info, o->build_id);
	for (i = 0; i < info->dlpi_phnum; i++) {
		ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
			continue;
		if (first)
			o->image = info->dlpi_addr + ph->p_vaddr - ph->p_offset;
		first = 0;
		if (!hp_range_add(st, info->dlpi_addr + ph->p_vaddr,
				  info->dlpi_addr + ph->p_vaddr + ph->p_memsz))
			return 0;
	}
	return 1;
}

static int hp_obj_set_kind(hp_symtab *st, hp_obj *o, const char *name)
{
	unsigned long vdso = getauxval(AT_SYSINFO_EHDR);

	if (vdso && o->image == vdso) {
		o->kind = HP_OBJ_VDSO;
		return 1;
	}
	/* The main program is listed first, with an empty name; /proc/self/exe opens the
	 * file it was loaded from even if that path has since been deleted or replaced. */
	if (!name || !name[0])
		name = st->nobjs == 1 ? "/proc/self/exe" : NULL;
	if (!name)
		return 1;
	o->kind = HP_OBJ_FILE;
	return (o->path = hp_istrdup_k(HP_MEM_SYMBOLS, name)) != NULL;
}

static int hp_phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	hp_symtab *st = data;
	hp_obj *o = hp_obj_add(st);

	(void)size;
	if (o)
		o->bias = info->dlpi_addr;
	if (!o || !hp_obj_scan_phdrs(st, o, info) || !hp_obj_set_kind(st, o, info->dlpi_name)) {
		st->oom = 1;
		return 1;
	}
	return 0;
}

static int hp_range_cmp(const void *a, const void *b)
{
	const hp_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

hp_symtab *hp_symtab_new(void)
{
	hp_symtab *st = hp_icalloc_k(HP_MEM_SYMBOLS, (1) * sizeof *st);

	if (!st)
		return NULL;
	dl_iterate_phdr(hp_phdr_cb, st);
	if (st->oom) {
		hp_symtab_free(st);
		return NULL;
	}
	if (st->nranges > 1)
		qsort(st->ranges, st->nranges, sizeof *st->ranges, hp_range_cmp);
	return st;
}

static hp_obj *hp_find_obj(hp_symtab *st, uint64_t addr)
{
	size_t lo = 0, hi = st->nranges, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (st->ranges[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || addr >= st->ranges[lo - 1].end)
		return NULL;
	return &st->objs[st->ranges[lo - 1].obj];
}

const char *hp_symtab_lookup(hp_symtab *st, uint64_t addr)
{
	hp_obj *o;

	if (!st || !(o = hp_find_obj(st, addr)))
		return NULL;
	if (!o->loaded)
		hp_obj_load(o);
	return o->nsyms ? hp_obj_find(o, addr) : NULL;
}

int hp_symtab_add_file(hp_symtab *st, const char *path, uint64_t bias, uint64_t start,
		       uint64_t end, const unsigned char *build_id, size_t len)
{
	hp_obj *o;
	size_t i;

	for (i = 0; i < st->nranges; i++)
		if (start < st->ranges[i].end && st->ranges[i].start < end)
			return 0;
	if (len > HP_BUILD_ID_MAX || !(o = hp_obj_add(st)))
		return -ENOMEM;
	o->bias = o->image = bias;
	memcpy(o->build_id, build_id, len);
	o->build_id_len = len;
	if (!(o->path = hp_istrdup_k(HP_MEM_SYMBOLS, path)))
		return -ENOMEM;	/* the object stays, with no kind and no range: harmless */
	o->kind = HP_OBJ_FILE;
	if (!hp_range_add(st, start, end))
		return -ENOMEM;
	qsort(st->ranges, st->nranges, sizeof *st->ranges, hp_range_cmp);
	return 0;
}

void hp_symtab_free(hp_symtab *st)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i < st->nobjs; i++) {
		hp_ifree_k(HP_MEM_SYMBOLS, st->objs[i].path);
		hp_ifree_k(HP_MEM_SYMBOLS, st->objs[i].syms);
		hp_ifree_k(HP_MEM_SYMBOLS, st->objs[i].names);
		hp_unmap(&st->objs[i].map);
	}
	hp_ifree_k(HP_MEM_SYMBOLS, st->objs);
	hp_ifree_k(HP_MEM_SYMBOLS, st->ranges);
	hp_ifree_k(HP_MEM_SYMBOLS, st);
}
