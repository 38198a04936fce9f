/* lib/procmaps.c: the executable file mappings of this process, with GNU build ids.
 *
 * /proc/self/maps is read whole with read(2) (no stdio: this runs in the dumper, and the
 * file can be large, so the buffer grows) and parsed by hand. Build ids are read with
 * pread(2) rather than mmap: a file truncated under us then yields a short read instead
 * of SIGBUS. A file's id is read once, however many executable segments it has. For a
 * mapping whose file was deleted, the path now names some other file (or none), so its id
 * is taken only from /proc/self/map_files, which still reaches the mapped file; if that
 * cannot be opened the id is left empty rather than guessed.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "arena.h"
#include "procmaps.h"

#define HP_ID_HEX_SIZE (2 * HP_BUILD_ID_MAX + 1)
#define HP_NOTE_MAX (64 * 1024)	/* larger note blocks are corrupt, not read */
#define HP_MAPS_CHUNK (64 * 1024)
#define HP_DELETED " (deleted)"

/* --- build ids ------------------------------------------------------------------------ */

/* Reads exactly len bytes at off; 0 when they are not all inside the file. */
static int hp_read_at(int fd, uint64_t fsize, uint64_t off, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t r;

	if (off > fsize || len > fsize - off)
		return 0;
	while (done < len) {
		r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		done += (size_t)r;
	}
	return 1;
}

static size_t hp_align_up(size_t v, size_t align)
{
	return (v + align - 1) & ~(align - 1);
}

size_t hp_notes_build_id(const unsigned char *p, size_t len, uint64_t align,
				unsigned char *id)
{
	size_t off = 0, name, namesz, descsz;
	Elf64_Nhdr nh;

	align = align == 8 ? 8 : 4;	/* 8 only for 8-aligned note blocks (gnu.property) */
	while (len - off >= sizeof nh) {
		memcpy(&nh, p + off, sizeof nh);
		off += sizeof nh;
		name = off;
		namesz = hp_align_up(nh.n_namesz, align);
		descsz = hp_align_up(nh.n_descsz, align);
		if (namesz > len - off)
			break;
		off += namesz;
		if (nh.n_descsz > len - off)
			break;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    memcmp(p + name, "GNU", 4) == 0 && nh.n_descsz > 0 &&
		    nh.n_descsz <= HP_BUILD_ID_MAX) {
			memcpy(id, p + off, nh.n_descsz);
			return nh.n_descsz;
		}
		if (descsz > len - off)
			break;
		off += descsz;
	}
	return 0;
}

static size_t hp_fd_notes(int fd, uint64_t fsize, uint64_t off, uint64_t size, uint64_t align,
			  unsigned char *id)
{
	unsigned char *buf;
	size_t len = 0;

	if (size == 0 || size > HP_NOTE_MAX || !(buf = hp_ialloc_k(HP_MEM_DUMP, size)))
		return 0;
	if (hp_read_at(fd, fsize, off, buf, size))
		len = hp_notes_build_id(buf, size, align, id);
	hp_ifree_k(HP_MEM_DUMP, buf);
	return len;
}

/* The notes the loader sees: present even in files whose section headers were stripped. */
static size_t hp_fd_build_id_segments(int fd, uint64_t fsize, const Elf64_Ehdr *eh,
				      unsigned char *id)
{
	size_t i, len;
	Elf64_Phdr ph;

	if (eh->e_phentsize != sizeof ph || eh->e_phoff > fsize)
		return 0;
	for (i = 0; i < eh->e_phnum; i++) {
		if (!hp_read_at(fd, fsize, eh->e_phoff + i * sizeof ph, &ph, sizeof ph))
			return 0;
		if (ph.p_type != PT_NOTE)
			continue;
		len = hp_fd_notes(fd, fsize, ph.p_offset, ph.p_filesz, ph.p_align, id);
		if (len)
			return len;
	}
	return 0;
}

/* Separate debug files keep the note sections but not necessarily where PT_NOTE says. */
static size_t hp_fd_build_id_sections(int fd, uint64_t fsize, const Elf64_Ehdr *eh,
				      unsigned char *id)
{
	size_t i, len;
	Elf64_Shdr sh;

	if (eh->e_shentsize != sizeof sh || eh->e_shoff == 0 || eh->e_shoff > fsize)
		return 0;
	for (i = 0; i < eh->e_shnum; i++) {
		if (!hp_read_at(fd, fsize, eh->e_shoff + i * sizeof sh, &sh, sizeof sh))
			return 0;
		if (sh.sh_type != SHT_NOTE)
			continue;
		len = hp_fd_notes(fd, fsize, sh.sh_offset, sh.sh_size, sh.sh_addralign, id);
		if (len)
			return len;
	}
	return 0;
}

/* The raw build id of an open file; 0 or -errno (-ENOENT: none, -ENOEXEC: not ELF64). */
static int hp_fd_build_id(int fd, unsigned char *id, size_t *len)
{
	struct stat sb;
	Elf64_Ehdr eh;
	uint64_t fsize;

	if (fstat(fd, &sb) != 0)
		return -errno;
	if (!S_ISREG(sb.st_mode))
		return -ENOEXEC;
	fsize = (uint64_t)sb.st_size;
	if (!hp_read_at(fd, fsize, 0, &eh, sizeof eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return -ENOEXEC;
	*len = hp_fd_build_id_segments(fd, fsize, &eh, id);
	if (*len == 0)
		*len = hp_fd_build_id_sections(fd, fsize, &eh, id);
	return *len ? 0 : -ENOENT;
}

int hp_build_id_of_file(const char *path, char *buf, size_t bufsize)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char id[HP_BUILD_ID_MAX];
	size_t len = 0, i;
	int fd, r;

	/* O_NONBLOCK: a FIFO at that path must not hang the dumper. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	r = hp_fd_build_id(fd, id, &len);
	close(fd);
	if (r)
		return r;
	if (bufsize < 2 * len + 1)
		return -ERANGE;
	for (i = 0; i < len; i++) {
		buf[2 * i] = hex[id[i] >> 4];
		buf[2 * i + 1] = hex[id[i] & 15];
	}
	buf[2 * len] = '\0';
	return 0;
}

/* --- /proc/self/maps ------------------------------------------------------------------ */

static int hp_read_all(const char *path, char **out, size_t *outlen)
{
	size_t cap = HP_MAPS_CHUNK, len = 0;
	char *buf = hp_ialloc_k(HP_MEM_DUMP, cap), *nb;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t r;

	if (fd < 0 || !buf) {
		err = fd < 0 ? errno : ENOMEM;
		hp_ifree_k(HP_MEM_DUMP, buf);
		if (fd >= 0)
			close(fd);
		return -err;
	}
	for (;;) {
		if (cap - len < 2) {	/* room for at least one byte and the NUL */
			if (!(nb = hp_irealloc_k(HP_MEM_DUMP, buf, cap * 2))) {
				err = ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? errno : 0;
			break;
		}
		len += (size_t)r;
	}
	close(fd);
	if (err) {
		hp_ifree_k(HP_MEM_DUMP, buf);
		return -err;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

typedef struct hp_maps_line {
	uint64_t start, limit, offset;
	int exec, deleted;
	const char *path;
	size_t pathlen;
} hp_maps_line;

static const char *hp_parse_hex(const char *p, const char *end, uint64_t *v)
{
	const char *begin = p;
	int d;

	*v = 0;
	for (; p < end; p++) {
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else
			break;
		*v = *v << 4 | (uint64_t)d;
	}
	return p > begin && p - begin <= 16 ? p : NULL;
}

static const char *hp_skip_field(const char *p, const char *end)
{
	while (p < end && *p != ' ')
		p++;
	while (p < end && *p == ' ')
		p++;
	return p;
}

static int hp_expect(const char **p, const char *end, char c)
{
	if (!*p || *p >= end || **p != c)
		return 0;
	(*p)++;
	return 1;
}

/* "start-limit perms offset dev inode   path"; the path runs to the end of the line. */
static int hp_parse_line(const char *p, const char *end, hp_maps_line *l)
{
	size_t dl = sizeof HP_DELETED - 1;

	p = hp_parse_hex(p, end, &l->start);
	if (!hp_expect(&p, end, '-'))
		return 0;
	p = hp_parse_hex(p, end, &l->limit);
	if (!hp_expect(&p, end, ' ') || end - p < 5)
		return 0;
	l->exec = p[2] == 'x';
	p += 4;
	if (!hp_expect(&p, end, ' '))
		return 0;
	p = hp_parse_hex(p, end, &l->offset);
	if (!hp_expect(&p, end, ' '))
		return 0;
	p = hp_skip_field(hp_skip_field(p, end), end);	/* dev, inode */
	l->path = p;
	l->pathlen = (size_t)(end - p);
	l->deleted = l->pathlen > dl && memcmp(end - dl, HP_DELETED, dl) == 0;
	if (l->deleted)
		l->pathlen -= dl;
	return l->start < l->limit;
}

/* The array being built; deleted[i] says whether v[i]'s file was deleted. */
typedef struct hp_maps_out {
	hp_pprof_mapping *v;
	unsigned char *deleted;
	size_t n, cap;
} hp_maps_out;

static char *hp_fmt_hex(char *q, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	int shift = 60;

	while (shift > 0 && (v >> shift) == 0)
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*q++ = hex[(v >> shift) & 15];
	return q;
}

static void hp_deleted_build_id(const hp_maps_line *l, char *id)
{
	static const char dir[] = "/proc/self/map_files/";
	char path[sizeof dir + 2 * 16 + 2];
	char *q = path;

	memcpy(q, dir, sizeof dir - 1);
	q = hp_fmt_hex(q + sizeof dir - 1, l->start);
	*q++ = '-';
	q = hp_fmt_hex(q, l->limit);
	*q = '\0';
	if (hp_build_id_of_file(path, id, HP_ID_HEX_SIZE) != 0)
		id[0] = '\0';
}

/* Reuses the id of an earlier segment of the same file, so each file is read once. */
static void hp_line_build_id(const hp_maps_out *o, const hp_maps_line *l, char *id)
{
	char path[4096];
	size_t i;

	for (i = o->n; i-- > 0;) {
		if (o->deleted[i] == l->deleted && strlen(o->v[i].file) == l->pathlen &&
		    memcmp(o->v[i].file, l->path, l->pathlen) == 0) {
			strcpy(id, o->v[i].build_id);
			return;
		}
	}
	id[0] = '\0';
	if (l->deleted)
		hp_deleted_build_id(l, id);
	else if (l->pathlen < sizeof path) {
		memcpy(path, l->path, l->pathlen);
		path[l->pathlen] = '\0';
		if (hp_build_id_of_file(path, id, HP_ID_HEX_SIZE) != 0)
			id[0] = '\0';
	}
}

static int hp_maps_grow(hp_maps_out *o)
{
	size_t cap = o->cap ? o->cap * 2 : 32;
	hp_pprof_mapping *v;
	unsigned char *d;

	if (o->n < o->cap)
		return 1;
	if (!(v = hp_irealloc_k(HP_MEM_DUMP, o->v, cap * sizeof *v)))
		return 0;
	o->v = v;
	if (!(d = hp_irealloc_k(HP_MEM_DUMP, o->deleted, cap)))
		return 0;
	o->deleted = d;
	o->cap = cap;
	return 1;
}

/* One allocation per entry holds the path and, after its NUL, the build id. */
static int hp_maps_add(hp_maps_out *o, const hp_maps_line *l)
{
	char id[HP_ID_HEX_SIZE];
	size_t idlen;
	char *s;

	if (!hp_maps_grow(o))
		return 0;
	hp_line_build_id(o, l, id);
	idlen = strlen(id);
	if (!(s = hp_ialloc_k(HP_MEM_DUMP, l->pathlen + idlen + 2)))
		return 0;
	memcpy(s, l->path, l->pathlen);
	s[l->pathlen] = '\0';
	memcpy(s + l->pathlen + 1, id, idlen + 1);
	o->v[o->n].start = l->start;
	o->v[o->n].limit = l->limit;
	o->v[o->n].offset = l->offset;
	o->v[o->n].file = s;
	o->v[o->n].build_id = s + l->pathlen + 1;
	o->deleted[o->n++] = (unsigned char)l->deleted;
	return 1;
}

static int hp_maps_parse(const char *buf, size_t len, hp_maps_out *o)
{
	const char *p = buf, *end = buf + len, *nl;
	hp_maps_line l;

	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (!hp_parse_line(p, nl, &l) || !l.exec || l.pathlen == 0 || l.path[0] != '/')
			continue;
		if (!hp_maps_add(o, &l))
			return -ENOMEM;
	}
	return 0;
}

static int hp_mapping_cmp(const void *a, const void *b)
{
	const hp_pprof_mapping *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int hp_procmaps_read(hp_pprof_mapping **out, size_t *n)
{
	hp_maps_out o = { NULL, NULL, 0, 0 };
	char *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = hp_read_all("/proc/self/maps", &buf, &len)) != 0)
		return r;
	r = hp_maps_parse(buf, len, &o);
	hp_ifree_k(HP_MEM_DUMP, buf);
	hp_ifree_k(HP_MEM_DUMP, o.deleted);
	if (r) {
		hp_procmaps_free(o.v, o.n);
		return r;
	}
	if (o.n > 1)
		qsort(o.v, o.n, sizeof *o.v, hp_mapping_cmp);
	*out = o.v;
	*n = o.n;
	return 0;
}

void hp_procmaps_free(hp_pprof_mapping *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		hp_ifree_k(HP_MEM_DUMP, (char *)v[i].file);
	hp_ifree_k(HP_MEM_DUMP, v);
}

size_t hp_phdr_build_id(const struct dl_phdr_info *info, unsigned char *id)
{
	size_t len = 0;

	for (int n = 0; n < info->dlpi_phnum && len == 0; n++) {
		const ElfW(Phdr) *note = &info->dlpi_phdr[n];

		if (note->p_type != PT_NOTE)
			continue;
		for (int i = 0; i < info->dlpi_phnum && len == 0; i++) {
			const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

			if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_R) ||
			    note->p_vaddr < ph->p_vaddr ||
			    note->p_vaddr - ph->p_vaddr > ph->p_filesz ||
			    note->p_memsz > ph->p_filesz - (note->p_vaddr - ph->p_vaddr))
				continue;
			len = hp_notes_build_id(
				(const unsigned char *)(uintptr_t)(info->dlpi_addr + note->p_vaddr),
				note->p_memsz, note->p_align, id);
		}
	}
	return len;
}

int hp_procmaps_add(hp_pprof_mapping **v, size_t *n, uint64_t start, uint64_t limit,
		    uint64_t offset, const char *path, const unsigned char *build_id, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t plen = strlen(path), i;
	hp_pprof_mapping *nv;
	char *s;

	for (i = 0; i < *n; i++)
		if (start < (*v)[i].limit && (*v)[i].start < limit)
			return 0;
	if (len > HP_BUILD_ID_MAX)
		len = 0;
	if (!(nv = hp_irealloc_k(HP_MEM_DUMP, *v, (*n + 1) * sizeof(*nv))))
		return -ENOMEM;
	*v = nv;
	if (!(s = hp_ialloc_k(HP_MEM_DUMP, plen + 2 * len + 2)))
		return -ENOMEM;
	memcpy(s, path, plen + 1);
	for (i = 0; i < len; i++) {
		s[plen + 1 + 2 * i] = hex[build_id[i] >> 4];
		s[plen + 2 + 2 * i] = hex[build_id[i] & 15];
	}
	s[plen + 1 + 2 * len] = '\0';
	nv[*n] = (hp_pprof_mapping){ start, limit, offset, s, s + plen + 1 };
	(*n)++;
	qsort(nv, *n, sizeof(*nv), hp_mapping_cmp);
	return 1;
}
