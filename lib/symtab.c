/* lib/symtab.c: function names for addresses in this process, from ELF symbol tables.
 *
 * hp_symtab_new only snapshots dl_iterate_phdr (names, load biases, PT_LOAD ranges and the
 * build ids of the images in memory). An object's file is read (its headers, notes, symbol
 * and string tables, with pread) and its function symbols sorted the first time an address
 * inside it is looked up, so a dump pays only for the objects its stacks touch. Names point
 * into the string tables read, which live until hp_symtab_free; no file descriptor is kept.
 * A dump first hands every address it will look up to hp_symtab_prepare, which streams
 * each object's table in chunks and keeps only the names of the functions those addresses
 * fall in (see "preparing a dump's addresses" below): then no whole table is held at all.
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
	struct hp_prep *prep;	/* answers for prepared addresses, sorted by addr */
	size_t nprep;
} hp_obj;

/* hp_symtab_prepare's answer for one address: its name (in the symtab's name arena), or
 * NULL where none of the object's symbols contains it. */
typedef struct hp_prep {
	uint64_t addr;
	const char *name;
} hp_prep;

/* The names kept by hp_symtab_prepare: blocks of NUL-terminated strings. */
typedef struct hp_nblock {
	struct hp_nblock *next;
	size_t used, cap;
	char data[];
} hp_nblock;

typedef struct hp_range {
	uint64_t start, end;
	size_t obj;
} hp_range;

struct hp_symtab {
	hp_obj *objs;
	size_t nobjs, capobjs;
	hp_range *ranges;
	size_t nranges, capranges;
	hp_nblock *nblocks;
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

/* The vdso's image in memory; 0 if it cannot be read. */
static int hp_vdso_image(const hp_obj *o, hp_image *img)
{
	if (o->image % (uint64_t)sysconf(_SC_PAGESIZE))
		return 0;
	img->p = (const unsigned char *)(uintptr_t)o->image;
	img->len = hp_vdso_len(o->image);
	return img->len != 0;
}

static void hp_vdso_load(hp_obj *o)
{
	hp_image img = HP_IMAGE_INIT;

	if (hp_vdso_image(o, &img) && !hp_obj_take_syms(o, &img, SHT_SYMTAB))
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

/* --- preparing a dump's addresses ----------------------------------------------------- */

/* hp_symtab_prepare answers, for each address, what hp_obj_find would answer over the
 * whole sorted table, while holding only a chunk of the table at a time. Over the table's
 * usable symbols (wanted, with a valid name), deduplicated by address (the alias of lowest
 * rank, then name, wins), hp_obj_find returns the winner at the highest start c1 at or
 * below addr whose winner contains addr, provided fewer than HP_NEST_SCAN starts lie in
 * (c1, addr]. So two passes over the table suffice: the first finds, for each address, the
 * highest start of any symbol containing it (c1; none: NULL); the second collects the
 * aliases at those starts and the starts that lie in some (c1, addr]. If the winner at c1
 * does not contain the address (a shorter alias won) the answer lies lower: the address
 * is left to the lazy whole-table path, as are all addresses of an object whose file
 * changes under the reads. */

#define HP_PREP_CHUNK 65536	/* bytes of a symbol or string table read at a time */
#define HP_NAME_STEP 256	/* bytes of one name read at a time */
#define HP_NBLOCK 4000		/* bytes of a block of kept names */

enum { HP_PA_NULL, HP_PA_NAME, HP_PA_LAZY };

/* An address being prepared. */
typedef struct hp_pa {
	uint64_t addr;
	uint64_t c1;		/* the highest start of a symbol containing addr (if has_c1) */
	const char *name;	/* HP_PA_NAME: the answer */
	size_t obj;
	int has_c1, state;
} hp_pa;

/* A symbol at one of the c1 starts. */
typedef struct hp_alias {
	uint64_t addr;
	uint32_t st_name, size;
	unsigned char info;
} hp_alias;

typedef struct hp_win {
	const char *name;	/* NULL: unknown (the name could not be read) */
	uint32_t size;
} hp_win;

typedef struct hp_prepctx {
	hp_symtab *st;
	hp_pa *pa;		/* one object's addresses, sorted */
	size_t m;
	uint64_t maxspan;	/* above the largest addr - c1 */
	uint64_t *c1s;		/* the distinct c1, sorted */
	size_t nc1;
	hp_alias *al;
	size_t nal, capal;
	uint64_t *w;		/* starts inside some (c1, addr] */
	size_t nw, capw;
	size_t nvalid;
	unsigned char *buf;	/* HP_PREP_CHUNK bytes */
	char *nbuf[2];		/* names being compared */
	size_t ncap[2];
} hp_prepctx;

/* A symbol table and its string table, read in chunks. */
typedef struct hp_stream {
	hp_image *img;
	const hp_obj *o;
	uint64_t symoff, stroff, strsize, last_nul;
	size_t count;
} hp_stream;

static int hp_sec_ok(const hp_image *img, const Elf64_Shdr *sh)
{
	return sh->sh_type != SHT_NOBITS && !(sh->sh_flags & SHF_COMPRESSED) &&
	       sh->sh_offset <= img->len && sh->sh_size <= img->len - sh->sh_offset &&
	       sh->sh_size <= HP_SECTION_MAX;
}

/* The offset of the string table's last NUL: a name is valid (NUL-terminated inside the
 * table) iff it starts at or before it. 0 if the table has none or cannot be read. */
static int hp_last_nul(hp_stream *ss, unsigned char *buf)
{
	uint64_t end = ss->strsize, n, k;

	while (end > 0) {
		n = end < HP_PREP_CHUNK ? end : HP_PREP_CHUNK;
		if (!hp_img_read(ss->img, ss->stroff + end - n, buf, n))
			return 0;
		for (k = n; k-- > 0;)
			if (buf[k] == '\0') {
				ss->last_nul = end - n + k;
				return 1;
			}
		end -= n;
	}
	return 0;
}

typedef int (*hp_symfn)(hp_prepctx *c, const Elf64_Sym *s, uint64_t addr);

/* Calls fn for each usable symbol (wanted, with a valid name). 1; 0 if the table could not
 * be read; or fn's negative return. */
static int hp_stream_pass(hp_stream *ss, hp_prepctx *c, hp_symfn fn)
{
	size_t per = HP_PREP_CHUNK / sizeof(Elf64_Sym), i, k, m;
	Elf64_Sym s;
	int r;

	for (i = 0; i < ss->count; i += m) {
		m = ss->count - i < per ? ss->count - i : per;
		if (!hp_img_read(ss->img, ss->symoff + i * sizeof s, c->buf, m * sizeof s))
			return 0;
		for (k = 0; k < m; k++) {
			memcpy(&s, c->buf + k * sizeof s, sizeof s);
			if (!hp_sym_wanted(&s) || s.st_name == 0 || s.st_name > ss->last_nul)
				continue;
			if ((r = fn(c, &s, ss->o->bias + s.st_value)) < 0)
				return r;
		}
	}
	return 1;
}

/* The first of the object's addresses at or above x. */
static size_t hp_pa_first(const hp_prepctx *c, uint64_t x)
{
	size_t lo = 0, hi = c->m, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->pa[mid].addr < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int hp_pass1(hp_prepctx *c, const Elf64_Sym *s, uint64_t d)
{
	size_t i;

	c->nvalid++;
	for (i = hp_pa_first(c, d); i < c->m && c->pa[i].addr - d < s->st_size; i++)
		if (!c->pa[i].has_c1 || c->pa[i].c1 < d) {
			c->pa[i].c1 = d;
			c->pa[i].has_c1 = 1;
		}
	return 1;
}

static int hp_in_c1s(const hp_prepctx *c, uint64_t x)
{
	size_t lo = 0, hi = c->nc1, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->c1s[mid] == x)
			return 1;
		if (c->c1s[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int hp_pass2(hp_prepctx *c, const Elf64_Sym *s, uint64_t x)
{
	hp_alias *al;
	uint64_t *w;
	size_t i;

	if (hp_in_c1s(c, x)) {
		if (!(al = hp_grow(c->al, &c->capal, c->nal, sizeof *c->al)))
			return -ENOMEM;
		c->al = al;
		c->al[c->nal].addr = x;
		c->al[c->nal].st_name = s->st_name;
		c->al[c->nal].size = (uint32_t)s->st_size;
		c->al[c->nal].info = s->st_info;
		c->nal++;
	}
	for (i = hp_pa_first(c, x); i < c->m && c->pa[i].addr - x < c->maxspan; i++)
		if (c->pa[i].has_c1 && c->pa[i].c1 < x) {
			if (!(w = hp_grow(c->w, &c->capw, c->nw, sizeof *c->w)))
				return -ENOMEM;
			c->w = w;
			c->w[c->nw++] = x;
			break;
		}
	return 1;
}

static int hp_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static size_t hp_u64_sort_unique(uint64_t *v, size_t n)
{
	size_t i, out = 0;

	if (n > 1)	/* v may be NULL when n is 0 */
		qsort(v, n, sizeof *v, hp_u64_cmp);
	for (i = 0; i < n; i++)
		if (out == 0 || v[out - 1] != v[i])
			v[out++] = v[i];
	return out;
}

static int hp_alias_cmp(const void *a, const void *b)
{
	const hp_alias *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The name at st_name (valid: it ends at or before last_nul) into c->nbuf[k]. */
static const char *hp_read_name(hp_stream *ss, hp_prepctx *c, uint32_t st_name, int k)
{
	uint64_t at = st_name, left;
	size_t len = 0, n;
	char *grown;

	for (;;) {
		left = ss->last_nul + 1 - at;
		n = left < HP_NAME_STEP ? (size_t)left : HP_NAME_STEP;
		if (n == 0)
			return NULL;
		if (len + n > c->ncap[k]) {
			if (!(grown = hp_irealloc_k(HP_MEM_SYMBOLS, c->nbuf[k], 2 * (len + n))))
				return NULL;
			c->nbuf[k] = grown;
			c->ncap[k] = 2 * (len + n);
		}
		if (!hp_img_read(ss->img, ss->stroff + at, c->nbuf[k] + len, n))
			return NULL;
		if (memchr(c->nbuf[k] + len, '\0', n))
			return c->nbuf[k];
		len += n;
		at += n;
	}
}

/* A copy of name, without its symbol version, in the symtab's name blocks. */
static const char *hp_keep_name(hp_symtab *st, const char *name)
{
	const char *at = strchr(name, '@');
	size_t len = at && at != name ? (size_t)(at - name) : strlen(name);
	hp_nblock *b = st->nblocks;
	char *q;

	if (!b || b->cap - b->used < len + 1) {
		size_t cap = len + 1 > HP_NBLOCK ? len + 1 : HP_NBLOCK;

		if (!(b = hp_ialloc_k(HP_MEM_SYMBOLS, sizeof *b + cap)))
			return NULL;
		b->cap = cap;
		b->used = 0;
		b->next = st->nblocks;
		st->nblocks = b;
	}
	q = b->data + b->used;
	memcpy(q, name, len);
	q[len] = '\0';
	b->used += len + 1;
	return q;
}

/* The winner among the aliases al[0..n) at one start: lowest rank, then name (as
 * hp_syms_sort orders them). */
static int hp_pick(hp_stream *ss, hp_prepctx *c, const hp_alias *al, size_t n, hp_win *win)
{
	uint32_t best_rank = 0, rank;
	const char *name;
	Elf64_Sym s;
	char *t;
	size_t tc;
	int have = 0;

	win->name = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!(name = hp_read_name(ss, c, al[i].st_name, 1)))
			return 0;
		memset(&s, 0, sizeof s);
		s.st_info = al[i].info;
		rank = hp_sym_rank(&s, name);
		if (have && (rank > best_rank || (rank == best_rank && strcmp(name, c->nbuf[0]) >= 0)))
			continue;
		have = 1;
		best_rank = rank;
		win->size = al[i].size;
		t = c->nbuf[0], c->nbuf[0] = c->nbuf[1], c->nbuf[1] = t;	/* best to [0] */
		tc = c->ncap[0], c->ncap[0] = c->ncap[1], c->ncap[1] = tc;
	}
	if (have && !(win->name = hp_keep_name(c->st, c->nbuf[0])))
		return -ENOMEM;
	return 1;
}

/* The answers, once both passes are done. */
static int hp_resolve(hp_stream *ss, hp_prepctx *c)
{
	hp_win *wins = hp_icalloc_k(HP_MEM_SYMBOLS, (c->nc1 ? c->nc1 : 1) * sizeof *wins);
	size_t i, j, k, lo, cnt;
	int r = 1, pr;

	if (!wins)
		return -ENOMEM;
	c->nw = hp_u64_sort_unique(c->w, c->nw);
	if (c->nal > 1)
		qsort(c->al, c->nal, sizeof *c->al, hp_alias_cmp);
	for (i = 0, k = 0; i < c->nal && r >= 0; i = j) {
		for (j = i; j < c->nal && c->al[j].addr == c->al[i].addr; j++)
			;
		while (k < c->nc1 && c->c1s[k] < c->al[i].addr)
			k++;
		if (k < c->nc1 && c->c1s[k] == c->al[i].addr &&
		    (pr = hp_pick(ss, c, &c->al[i], j - i, &wins[k])) < 0)
			r = pr;	/* 0 (a name unreadable): that start's addresses stay lazy */
	}
	for (i = 0; i < c->m && r >= 0; i++) {
		hp_pa *a = &c->pa[i];

		a->state = HP_PA_NULL;
		if (!a->has_c1)
			continue;
		for (lo = 0, cnt = c->nw; lo < cnt;) {	/* the first w above c1 */
			k = lo + (cnt - lo) / 2;
			if (c->w[k] <= a->c1)
				lo = k + 1;
			else
				cnt = k;
		}
		for (cnt = 0; lo < c->nw && c->w[lo] <= a->addr && cnt < HP_NEST_SCAN; lo++)
			cnt++;
		if (cnt >= HP_NEST_SCAN)
			continue;	/* c1 is beyond hp_obj_find's scan: NULL */
		for (lo = 0, k = c->nc1; lo < k;) {
			j = lo + (k - lo) / 2;
			if (c->c1s[j] < a->c1)
				lo = j + 1;
			else
				k = j;
		}
		if (lo < c->nc1 && c->c1s[lo] == a->c1 && wins[lo].name &&
		    a->addr - a->c1 < wins[lo].size) {
			a->state = HP_PA_NAME;
			a->name = wins[lo].name;
		} else {
			a->state = HP_PA_LAZY;
		}
	}
	hp_ifree_k(HP_MEM_SYMBOLS, wins);
	return r;
}

/* Prepares from one table of img: 1 done, 0 no usable table (try the next source),
 * 2 given up (the addresses stay lazy), -ENOMEM. */
static int hp_prep_from(hp_obj *o, hp_image *img, uint32_t type, hp_prepctx *c)
{
	Elf64_Shdr sym, str;
	hp_stream ss;
	size_t i;
	int r;

	if (!hp_img_symsec(img, type, &sym, &str) || !hp_sec_ok(img, &sym) ||
	    !hp_sec_ok(img, &str))
		return 0;
	memset(&ss, 0, sizeof ss);
	ss.img = img;
	ss.o = o;
	ss.symoff = sym.sh_offset;
	ss.stroff = str.sh_offset;
	ss.strsize = str.sh_size;
	ss.count = sym.sh_size / sizeof(Elf64_Sym);
	if (ss.count == 0 || !hp_last_nul(&ss, c->buf))
		return 0;
	for (i = 0; i < c->m; i++)
		c->pa[i].has_c1 = 0;
	c->nvalid = c->nal = c->nw = c->nc1 = 0;
	if ((r = hp_stream_pass(&ss, c, hp_pass1)) <= 0)
		return r;
	if (c->nvalid == 0)
		return 0;
	c->maxspan = 0;
	if (!(c->c1s = hp_ialloc_k(HP_MEM_SYMBOLS, c->m * sizeof *c->c1s)))
		return -ENOMEM;
	for (i = 0; i < c->m; i++)
		if (c->pa[i].has_c1) {
			c->c1s[c->nc1++] = c->pa[i].c1;
			if (c->pa[i].addr - c->pa[i].c1 + 1 > c->maxspan)
				c->maxspan = c->pa[i].addr - c->pa[i].c1 + 1;
		}
	c->nc1 = hp_u64_sort_unique(c->c1s, c->nc1);
	r = hp_stream_pass(&ss, c, hp_pass2);
	if (r > 0)
		r = hp_resolve(&ss, c);
	hp_ifree_k(HP_MEM_SYMBOLS, c->c1s);
	c->c1s = NULL;
	return r == 0 ? 2 : r;
}

static int hp_prep_cmp(const void *a, const void *b)
{
	const hp_prep *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Adds the object's answers (all NULL if none_found: no usable table) to o->prep. */
static int hp_prep_store(hp_obj *o, hp_prepctx *c, int none_found)
{
	size_t i, n = o->nprep;
	hp_prep *v;

	for (i = 0; i < c->m; i++)
		n += none_found || c->pa[i].state != HP_PA_LAZY;
	if (n == o->nprep)
		return 0;
	if (!(v = hp_irealloc_k(HP_MEM_SYMBOLS, o->prep, n * sizeof *v)))
		return -ENOMEM;
	o->prep = v;
	for (i = 0; i < c->m; i++) {
		if (!none_found && c->pa[i].state == HP_PA_LAZY)
			continue;
		v[o->nprep].addr = c->pa[i].addr;
		v[o->nprep].name = !none_found && c->pa[i].state == HP_PA_NAME ? c->pa[i].name
									      : NULL;
		o->nprep++;
	}
	if (o->nprep > 1)
		qsort(o->prep, o->nprep, sizeof *o->prep, hp_prep_cmp);
	return 0;
}

/* The same choice of table as hp_obj_load. */
static int hp_obj_prepare(hp_obj *o, hp_prepctx *c)
{
	hp_image file = HP_IMAGE_INIT, dbg = HP_IMAGE_INIT;
	int r = 0, file_ok;

	if (o->kind == HP_OBJ_VDSO) {
		if (hp_vdso_image(o, &file) && (r = hp_prep_from(o, &file, SHT_SYMTAB, c)) == 0)
			r = hp_prep_from(o, &file, SHT_DYNSYM, c);
		file.p = NULL;
	} else {
		file_ok = hp_map_file(o->path, &file) && hp_build_id_ok(o, &file);
		if (file_ok)
			r = hp_prep_from(o, &file, SHT_SYMTAB, c);
		if (r == 0 && hp_map_debug_file(o, &dbg) && hp_build_id_ok(o, &dbg))
			r = hp_prep_from(o, &dbg, SHT_SYMTAB, c);
		if (r == 0 && file_ok)
			r = hp_prep_from(o, &file, SHT_DYNSYM, c);
	}
	hp_unmap(&file);
	hp_unmap(&dbg);
	if (r == 0 || r == 1)
		return hp_prep_store(o, c, r == 0);
	return r < 0 ? r : 0;
}

static const hp_prep *hp_prep_find(const hp_obj *o, uint64_t addr)
{
	size_t lo = 0, hi = o->nprep, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (o->prep[mid].addr == addr)
			return &o->prep[mid];
		if (o->prep[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int hp_pa_cmp(const void *a, const void *b)
{
	const hp_pa *x = a, *y = b;

	if (x->obj != y->obj)
		return x->obj < y->obj ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int hp_symtab_prepare(hp_symtab *st, const uint64_t *addrs, size_t n)
{
	hp_prepctx c;
	hp_pa *pa;
	hp_obj *o;
	size_t i, j, k, m = 0;
	int r, err = 0;

	if (!st || (n && !addrs))
		return -EINVAL;
	if (n == 0)
		return 0;
	if (!(pa = hp_ialloc_k(HP_MEM_SYMBOLS, n * sizeof *pa)))
		return -ENOMEM;
	for (i = 0; i < n; i++) {	/* only what the lazy path would otherwise load */
		o = hp_find_obj(st, addrs[i]);
		if (!o || o->kind == HP_OBJ_NONE || o->loaded || hp_prep_find(o, addrs[i]))
			continue;
		memset(&pa[m], 0, sizeof pa[m]);
		pa[m].addr = addrs[i];
		pa[m].obj = (size_t)(o - st->objs);
		m++;
	}
	if (m > 1)
		qsort(pa, m, sizeof *pa, hp_pa_cmp);
	for (i = 0, j = 0; i < m; i++)
		if (j == 0 || pa[j - 1].addr != pa[i].addr || pa[j - 1].obj != pa[i].obj)
			pa[j++] = pa[i];
	m = j;
	memset(&c, 0, sizeof c);
	c.st = st;
	if (m && !(c.buf = hp_ialloc_k(HP_MEM_SYMBOLS, HP_PREP_CHUNK)))
		err = -ENOMEM;
	for (i = 0; i < m && !err; i = k) {
		for (k = i; k < m && pa[k].obj == pa[i].obj; k++)
			;
		c.pa = &pa[i];
		c.m = k - i;
		if ((r = hp_obj_prepare(&st->objs[pa[i].obj], &c)) < 0)
			err = r;
	}
	hp_ifree_k(HP_MEM_SYMBOLS, c.buf);
	hp_ifree_k(HP_MEM_SYMBOLS, c.al);
	hp_ifree_k(HP_MEM_SYMBOLS, c.w);
	hp_ifree_k(HP_MEM_SYMBOLS, c.nbuf[0]);
	hp_ifree_k(HP_MEM_SYMBOLS, c.nbuf[1]);
	hp_ifree_k(HP_MEM_SYMBOLS, pa);
	return err;
}

const char *hp_symtab_lookup(hp_symtab *st, uint64_t addr)
{
	hp_obj *o;
	const hp_prep *p;

	if (!st || !(o = hp_find_obj(st, addr)))
		return NULL;
	if (o->nprep && (p = hp_prep_find(o, addr)))
		return p->name;
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
	if (st->nranges > 1)
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
		hp_ifree_k(HP_MEM_SYMBOLS, st->objs[i].prep);
		hp_unmap(&st->objs[i].map);
	}
	while (st->nblocks) {
		hp_nblock *b = st->nblocks;

		st->nblocks = b->next;
		hp_ifree_k(HP_MEM_SYMBOLS, b);
	}
	hp_ifree_k(HP_MEM_SYMBOLS, st->objs);
	hp_ifree_k(HP_MEM_SYMBOLS, st->ranges);
	hp_ifree_k(HP_MEM_SYMBOLS, st);
}
