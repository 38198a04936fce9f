/* lib/gzout: gzip through zlib, the one module that includes <zlib.h>.
 *
 * pprof files are gzip'd protobuf. Writing streams through a fixed 64 KiB output chunk so
 * that the dumper needs no second buffer the size of the profile. zlib's stream counters
 * are 32-bit (uInt), so input and output are fed in pieces of at most UINT_MAX bytes. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "gzout.h"

#define HP_GZ_CHUNK (64 * 1024)
#define HP_GZ_WBITS 31		/* 15-bit window, gzip wrapper (RFC 1952) */

int hp_write_fd(int fd, const void *data, size_t n)
{
	const uint8_t *p = data;
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)	/* would spin forever; not expected for files or pipes */
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Moves the next piece of input into the stream once zlib has consumed the last one. */
static void hp_feed(z_stream *zs, const uint8_t **in, size_t *left)
{
	uInt piece;

	if (zs->avail_in || !*left)
		return;
	piece = *left > UINT_MAX ? UINT_MAX : (uInt)*left;
	zs->next_in = (Bytef *)*in;
	zs->avail_in = piece;
	*in += piece;
	*left -= piece;
}

static int hp_deflate_loop(z_stream *zs, int fd, const uint8_t *in, size_t len,
			   uint8_t *chunk)
{
	int zr, flush, err;

	do {
		hp_feed(zs, &in, &len);
		/* Z_FINISH only once the last piece is in, else the member would end early. */
		flush = len ? Z_NO_FLUSH : Z_FINISH;
		zs->next_out = chunk;
		zs->avail_out = HP_GZ_CHUNK;
		zr = deflate(zs, flush);
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		err = hp_write_fd(fd, chunk, HP_GZ_CHUNK - zs->avail_out);
		if (err)
			return err;
	} while (zr != Z_STREAM_END);
	return 0;
}

int hp_gz_write_fd(int fd, const void *data, size_t len, int level)
{
	z_stream zs;
	uint8_t *chunk;
	int zr, err;

	memset(&zs, 0, sizeof(zs));
	zr = deflateInit2(&zs, level, Z_DEFLATED, HP_GZ_WBITS, 8, Z_DEFAULT_STRATEGY);
	if (zr != Z_OK)
		return zr == Z_MEM_ERROR ? -ENOMEM : -EIO;
	chunk = malloc(HP_GZ_CHUNK);
	err = chunk ? hp_deflate_loop(&zs, fd, data, len, chunk) : -ENOMEM;
	free(chunk);
	deflateEnd(&zs);
	return err;
}

int hp_gz_compress(const void *data, size_t len, int level, uint8_t **out, size_t *outlen)
{
	z_stream zs;
	uLong bound;
	uint8_t *buf;
	int zr;

	*out = NULL;
	*outlen = 0;
	if (len > UINT_MAX)
		return -E2BIG;
	memset(&zs, 0, sizeof(zs));
	zr = deflateInit2(&zs, level, Z_DEFLATED, HP_GZ_WBITS, 8, Z_DEFAULT_STRATEGY);
	if (zr != Z_OK)
		return zr == Z_MEM_ERROR ? -ENOMEM : -EIO;
	bound = deflateBound(&zs, (uLong)len);
	if (bound > UINT_MAX || !(buf = malloc(bound))) {
		deflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)data;
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)bound;
	zr = deflate(&zs, Z_FINISH);
	*outlen = zs.total_out;
	deflateEnd(&zs);
	if (zr != Z_STREAM_END) {
		free(buf);
		*outlen = 0;
		return -EIO;
	}
	*out = buf;
	return 0;
}

/* Makes room for more output: doubles the buffer and points the stream at the new space. */
static int hp_out_grow(z_stream *zs, uint8_t **buf, size_t *cap, size_t used)
{
	size_t ncap, room;
	uint8_t *p;

	if (zs->avail_out)
		return 0;
	if (used == *cap) {
		if (*cap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap = *cap * 2;
		p = realloc(*buf, ncap);
		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = ncap;
	}
	room = *cap - used;
	zs->next_out = *buf + used;
	zs->avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
	return 0;
}

static int hp_zerr(int zr)
{
	return zr == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
}

/* Inflates every member: RFC 1952 allows a gzip file to be several members back to back. */
static int hp_inflate_loop(z_stream *zs, const uint8_t *in, size_t len, uint8_t **buf,
			   size_t *cap, size_t *used)
{
	size_t before;
	int zr, err;

	for (;;) {
		hp_feed(zs, &in, &len);
		err = hp_out_grow(zs, buf, cap, *used);
		if (err)
			return err;
		before = zs->avail_out;
		zr = inflate(zs, Z_NO_FLUSH);
		*used += before - zs->avail_out;
		if (zr == Z_STREAM_END && !zs->avail_in && !len)
			return 0;
		if (zr == Z_STREAM_END)
			zr = inflateReset(zs);
		else if (zr == Z_BUF_ERROR && zs->avail_out && !len)
			return -EINVAL;		/* input ended inside a member */
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return hp_zerr(zr);
	}
}

int hp_gz_inflate(const void *gz, size_t len, uint8_t **out, size_t *outlen)
{
	z_stream zs;
	size_t cap, used = 0;
	uint8_t *buf;
	int zr, err;

	if (!out || !outlen || !gz || !len)
		return -EINVAL;		/* no buffer is not gzip either: not even a header */
	/* profiles compress about 4:1; a close guess saves reallocs */
	cap = len < 4096 ? 16384 : len > SIZE_MAX / 4 ? len : len * 4;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	memset(&zs, 0, sizeof(zs));
	zr = inflateInit2(&zs, HP_GZ_WBITS);
	if (zr != Z_OK) {
		free(buf);
		return hp_zerr(zr);
	}
	err = hp_inflate_loop(&zs, gz, len, &buf, &cap, &used);
	inflateEnd(&zs);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*outlen = used;
	return 0;
}
