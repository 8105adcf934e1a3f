/*
 * snapbuf.h - the byte buffers of fs-window's and fs-score-gpu's state
 * snapshots (fs-window(1), fs-score-gpu(1) CHECKPOINTS).
 *
 * A snapshot is: a 6-byte magic naming the tool ("FSWIN1", "FSSCO1"),
 * a u16 format version, a u16 0, then sections, each a 4-byte tag, a
 * u64 length and that many bytes, and last an 8-byte trailer, the
 * CRC-64 of every byte before it (CRC-64/XZ, ECMA-182: liblzma's
 * lzma_crc64, 20 ms for 138 MB where a byte-wise hash took 7 times as
 * long).  Numbers are little-endian (the
 * machines finstream builds for; checked below), fixed width.
 *
 * Writers append and grow (sb_*); readers (sr_*) never read past the
 * end: a short read sets bad and yields zeros, so a loader checks
 * r->bad once, at the end, and bounds its counts as it goes.
 */
#ifndef FS_SNAPBUF_H
#define FS_SNAPBUF_H

#include <lzma.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fs.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "snapshots are written little-endian as the host lays them out"
#endif

struct sbuf {
	char *p;
	size_t n, cap;
};

/*
 * From SB_MAP bytes on the buffer is mapped memory, grown by mremap
 * (never copied) and page-aligned, so the store can write a large
 * snapshot to its file with O_DIRECT, without a copy into the page cache
 * (fs_ckpt_put_snapshot).  Free a buffer with sb_free.
 */
#define SB_MAP ((size_t)1 << 20)

static inline void sb_grow(struct sbuf *b, size_t want)
{
	size_t cap = want * 2 + 4096;
	void *p;

	if (cap < SB_MAP) {
		b->p = fs_xrealloc(b->p, cap);
		b->cap = cap;
		return;
	}
	cap = (cap + 4095) & ~(size_t)4095;
	if (b->cap >= SB_MAP)
		p = mremap(b->p, b->cap, cap, MREMAP_MAYMOVE);
	else
		p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fs_die(FS_EXIT_FAIL, "out of memory (a snapshot of %zu bytes)",
		       cap);
	if (b->cap < SB_MAP) {
		if (b->n)
			memcpy(p, b->p, b->n);
		free(b->p);
	}
	b->p = p;
	b->cap = cap;
}

static inline void sb_free(struct sbuf *b)
{
	if (b->cap >= SB_MAP)
		munmap(b->p, b->cap);
	else
		free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

static inline void sb_put(struct sbuf *b, const void *v, size_t n)
{
	if (b->n + n > b->cap)
		sb_grow(b, b->n + n);
	if (n)
		memcpy(b->p + b->n, v, n);
	b->n += n;
}

static inline void sb_u8(struct sbuf *b, uint8_t v) { sb_put(b, &v, 1); }
static inline void sb_u16(struct sbuf *b, uint16_t v) { sb_put(b, &v, 2); }
static inline void sb_u32(struct sbuf *b, uint32_t v) { sb_put(b, &v, 4); }
static inline void sb_u64(struct sbuf *b, uint64_t v) { sb_put(b, &v, 8); }
static inline void sb_i64(struct sbuf *b, int64_t v) { sb_put(b, &v, 8); }
static inline void sb_f64(struct sbuf *b, double v) { sb_put(b, &v, 8); }

/* The magic and version; start of a snapshot. */
static inline void sb_head(struct sbuf *b, const char magic[6],
			   uint16_t version)
{
	sb_put(b, magic, 6);
	sb_u16(b, version);
	sb_u16(b, 0);
}

/* Open section tag; returns where its length goes (sb_end). */
static inline size_t sb_sect(struct sbuf *b, const char tag[4])
{
	size_t at;

	sb_put(b, tag, 4);
	at = b->n;
	sb_u64(b, 0);
	return at;
}

static inline void sb_end(struct sbuf *b, size_t at)
{
	uint64_t len = b->n - at - 8;

	memcpy(b->p + at, &len, 8);
}

/* The trailer: the hash of everything so far. */
static inline void sb_seal(struct sbuf *b)
{
	sb_u64(b, lzma_crc64((const uint8_t *)b->p, b->n, 0));
}

struct srd {
	const char *p;
	size_t n, off;
	int bad;
	const char *why;	/* the first problem seen */
};

static inline int sr_fail(struct srd *r, const char *why)
{
	if (!r->bad)
		r->why = why;
	r->bad = 1;
	return -1;
}

static inline void sr_get(struct srd *r, void *v, size_t n)
{
	if (!n)
		return;
	if (r->bad || n > r->n - r->off) {
		sr_fail(r, "truncated");
		memset(v, 0, n);
		return;
	}
	memcpy(v, r->p + r->off, n);
	r->off += n;
}

#define SR_GET(name, type)						\
static inline type sr_##name(struct srd *r)				\
{									\
	type v;								\
	sr_get(r, &v, sizeof(v));					\
	return v;							\
}
SR_GET(u8, uint8_t)
SR_GET(u16, uint16_t)
SR_GET(u32, uint32_t)
SR_GET(u64, uint64_t)
SR_GET(i64, int64_t)
SR_GET(f64, double)
#undef SR_GET

/*
 * Open snapshot p[0..n): check the trailer, the magic and the version.
 * 0, or -1 with r->why.
 */
static inline int sr_open(struct srd *r, const void *p, size_t n,
			  const char magic[6], uint16_t version)
{
	uint64_t h;

	memset(r, 0, sizeof(*r));
	r->p = p;
	if (n < 18)
		return sr_fail(r, "truncated");
	memcpy(&h, r->p + n - 8, 8);
	if (h != lzma_crc64((const uint8_t *)p, n - 8, 0))
		return sr_fail(r, "checksum mismatch (corrupted)");
	r->n = n - 8;
	if (memcmp(p, magic, 6) != 0)
		return sr_fail(r, "not a snapshot of this tool");
	r->off = 6;
	if (sr_u16(r) != version)
		return sr_fail(r, "another format version");
	(void)sr_u16(r);
	return 0;
}

/* Enter section tag: its length, or 0 after sr_fail. */
static inline uint64_t sr_sect(struct srd *r, const char tag[4])
{
	char t[4];
	uint64_t len;

	sr_get(r, t, 4);
	len = sr_u64(r);
	if (r->bad)
		return 0;
	if (memcmp(t, tag, 4) != 0 || len > r->n - r->off)
		return (uint64_t)sr_fail(r, "unexpected section") & 0;
	return len;
}

#endif
