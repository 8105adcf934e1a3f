/*
 * decomp.c - gzip, zstd and xz streams, decoded here rather than by a
 * libarchive filter: a filter fills a 64 KiB block before it hands any of
 * it on and drops the whole block when the data turns out damaged, so
 * the rows just before the damage were lost.  Here every byte the
 * decoder makes before the damage is handed on first, and the error
 * comes on the next call.
 */
#include <limits.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "ingest.h"

struct ing_dec {
	int kind;		/* ING_Z_* */
	int end;		/* the last stream (member, frame) ended */
	int err;		/* damaged: every later call fails */
	uint64_t pos;		/* compressed bytes consumed */
	char why[160];
	z_stream zs;
	lzma_stream xs;
	ZSTD_DStream *zd;
};

/* The kind of stream the n bytes at p start, ING_Z_*; 0 if none. */
int ing_dec_sniff(const void *p, size_t n)
{
	if (n >= 2 && !memcmp(p, "\x1f\x8b", 2))
		return ING_Z_GZIP;
	if (n >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4))
		return ING_Z_ZSTD;
	if (n >= 6 && !memcmp(p, "\xfd" "7zXZ\x00", 6))
		return ING_Z_XZ;
	return 0;
}

const char *ing_dec_name(const struct ing_dec *z)
{
	return z->kind == ING_Z_GZIP ? "gzip" : z->kind == ING_Z_ZSTD ?
	       "zstd" : "xz";
}

/* A decoder for kind (ING_Z_*); dies when out of memory. */
struct ing_dec *ing_dec_open(int kind)
{
	struct ing_dec *z = fs_xcalloc(1, sizeof(*z));
	lzma_stream xs = LZMA_STREAM_INIT;
	int ok;

	z->kind = kind;
	z->xs = xs;
	if (kind == ING_Z_GZIP)
		ok = inflateInit2(&z->zs, 15 + 16) == Z_OK;
	else if (kind == ING_Z_ZSTD)
		ok = (z->zd = ZSTD_createDStream()) != NULL;
	else
		ok = lzma_stream_decoder(&z->xs, UINT64_MAX,
					 LZMA_CONCATENATED) == LZMA_OK;
	if (!ok)
		fs_die(FS_EXIT_FAIL, "cannot start a %s decoder: out of "
		       "memory", ing_dec_name(z));
	return z;
}

void ing_dec_close(struct ing_dec *z)
{
	if (!z)
		return;
	if (z->kind == ING_Z_GZIP)
		inflateEnd(&z->zs);
	else if (z->kind == ING_Z_ZSTD)
		ZSTD_freeDStream(z->zd);
	else
		lzma_end(&z->xs);
	free(z);
}

/* Why the data was refused, and the compressed byte where it was seen. */
const char *ing_dec_why(const struct ing_dec *z, uint64_t *pos)
{
	*pos = z->pos;
	return z->why;
}

static const char *lzma_why(lzma_ret r)
{
	switch (r) {
	case LZMA_FORMAT_ERROR: return "not xz data";
	case LZMA_OPTIONS_ERROR: return "unsupported options";
	case LZMA_DATA_ERROR: return "corrupt data";
	case LZMA_MEM_ERROR: return "out of memory";
	case LZMA_MEMLIMIT_ERROR: return "memory limit reached";
	default: return "decoder error";
	}
}

/* One decoder call; sets *used and *made; 1 ok, 0 damaged (z->why). */
static int step(struct ing_dec *z, const void *in, size_t inlen, int fin,
		void *out, size_t n, size_t *used, size_t *made)
{
	if (z->kind == ING_Z_GZIP) {
		int r;

		if (z->end && inlen) {	/* another member follows */
			inflateReset(&z->zs);
			z->end = 0;
		}
		z->zs.next_in = (unsigned char *)(uintptr_t)in;
		z->zs.avail_in = inlen > UINT_MAX ? UINT_MAX : (uInt)inlen;
		z->zs.next_out = out;
		z->zs.avail_out = n > UINT_MAX ? UINT_MAX : (uInt)n;
		r = inflate(&z->zs, Z_NO_FLUSH);
		*used = (size_t)(z->zs.next_in - (unsigned char *)in);
		*made = (size_t)(z->zs.next_out - (unsigned char *)out);
		if (r == Z_STREAM_END)
			z->end = 1;
		else if (r != Z_OK && r != Z_BUF_ERROR)
			return snprintf(z->why, sizeof(z->why), "%s",
					z->zs.msg ? z->zs.msg :
					"corrupt data"), 0;
	} else if (z->kind == ING_Z_ZSTD) {
		ZSTD_inBuffer ib = { in, inlen, 0 };
		ZSTD_outBuffer ob = { out, n, 0 };
		size_t r = ZSTD_decompressStream(z->zd, &ob, &ib);

		*used = ib.pos;
		*made = ob.pos;
		if (ZSTD_isError(r))
			return snprintf(z->why, sizeof(z->why), "%s",
					ZSTD_getErrorName(r)), 0;
		if (ib.pos || ob.pos)
			z->end = r == 0;	/* a frame ended, all out */
	} else {
		lzma_ret r;

		z->xs.next_in = in;
		z->xs.avail_in = inlen;
		z->xs.next_out = out;
		z->xs.avail_out = n;
		r = lzma_code(&z->xs, fin ? LZMA_FINISH : LZMA_RUN);
		*used = inlen - z->xs.avail_in;
		*made = n - z->xs.avail_out;
		if (r == LZMA_STREAM_END)
			z->end = 1;
		else if (r != LZMA_OK && r != LZMA_BUF_ERROR)
			return snprintf(z->why, sizeof(z->why), "%s",
					lzma_why(r)), 0;
	}
	return 1;
}

/*
 * Decode from in[0..*inlen) into out[0..n), n > 0: sets *inlen to the
 * bytes consumed and returns the bytes made.  0: more input is needed,
 * or, with fin (no input will follow *inlen), the data ended cleanly.
 * -1: damaged or truncated data (ing_dec_why); the bytes made before
 * the damage came in the calls before.
 */
ssize_t ing_dec_run(struct ing_dec *z, const void *in, size_t *inlen,
		    int fin, void *out, size_t n)
{
	size_t used = 0, made = 0;
	int ok;

	if (z->err) {
		*inlen = 0;
		return -1;
	}
	ok = step(z, in, *inlen, fin, out, n, &used, &made);
	z->pos += used;
	*inlen = used;
	if (ok && fin && !used && !made && !z->end) {
		snprintf(z->why, sizeof(z->why), "truncated: the data ends "
			 "inside a %s stream", ing_dec_name(z));
		ok = 0;
	}
	if (!ok)
		z->err = 1;
	if (made)
		return (ssize_t)made;
	return ok ? 0 : -1;
}
