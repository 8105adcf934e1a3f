/*
 * join.h - fs-join's parts: the lookup table (table.c, from a CSV file
 * through fs-ingest's CSV splitter, or an SQLite table), the joined row
 * (row.c: the AGG SCHEMA and rows of left and right columns) and the
 * two-input joins (stream.c: --temporal, --within).  join.c has the
 * options and the --lookup loop.
 */
#ifndef FS_JOIN_H
#define FS_JOIN_H

#include <stdint.h>

#include "fs.h"

/* The most columns --fields names. */
#define JN_MAXFIELDS 64

/*
 * A join key: the value of the --on field, exact.  Codes (symbols,
 * countries) are their bytes with trailing blanks dropped, NUL padded
 * to 16; numbers are a with b 0.
 */
struct jkey {
	uint64_t a, b;
};

/*
 * How the --on field of a record type reads into a key: its offset
 * from the frame start, kind and size (the schema table's).
 */
struct jon {
	uint16_t off;
	uint8_t kind, size;
};

/* The key of h's --on field. */
static inline struct jkey jon_key(const struct jon *o,
				  const struct fs_hdr *h)
{
	struct jkey k = { 0, 0 };
	const char *p = (const char *)h + o->off;

	if (o->kind == FS_K_CODE || o->kind == FS_K_CHAR) {
		size_t n = strnlen(p, o->size);

		while (n && p[n - 1] == ' ')
			n--;
		memcpy(&k, p, n < sizeof(k) ? n : sizeof(k));
	} else if (o->kind == FS_K_F64) {
		memcpy(&k.a, p, 8);
	} else {
		k.a = (uint64_t)fs_load_int(p, o->kind);
	}
	return k;
}

/*
 * The key in text s[0..n) (trimmed, not empty), read as field o reads
 * it (as fs-ingest reads a cell: an id's digits are its number, other
 * text its hash; a code its bytes).  0, -1 when s is not of o's kind,
 * -2 when it is longer than o's code.
 */
int jkey_parse(const struct jon *o, const char *s, size_t n, struct jkey *k);

static inline uint64_t jkey_hash(struct jkey k)
{
	uint64_t x = k.a * 0x9e3779b97f4a7c15ull ^ k.b;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ x >> 29;
}

/*
 * Set o to the field name of type t for --on; exit 2 naming the field
 * and listing t's fields when t has none of that name.
 */
void jon_field(struct jon *o, const struct fs_type *t, const char *name,
	       const char *what);

/*
 * A loaded lookup table: nrows rows of ncols 8-byte slots (as the AGG
 * columns hold them, kinds[]), found by key through an open-addressing
 * index.  Duplicate keys: the last row wins (counted in ndup).
 */
struct jtable {
	unsigned ncols;
	char *names[JN_MAXFIELDS];
	uint8_t kinds[JN_MAXFIELDS];
	size_t nrows;
	/*
	 * The index: mask + 1 slots of stride bytes, each a key, its row
	 * number + 1 (0: empty) and the row's ncols values, so that a
	 * lookup touches one place in memory, which fs-join prefetches a
	 * few records ahead (jtable_prefetch).
	 */
	struct jslot {
		struct jkey k;
		uint64_t row;
		uint64_t v[];
	} *idx;
	size_t idxsz, stride;		/* bytes (fs_big_alloc) */
	size_t mask;
	uint64_t ndup;			/* keys given twice */
	char *src;
};

/*
 * Load src (a CSV path or "sqlite:FILE?table=T"): the key column named
 * on (read as the --on field o reads) and the columns fields[0..nf).
 * Each column's kind is what all its values parse as: i64, then fix,
 * then f64, then ts (ISO 8601 text), else code (at most 8 bytes).
 * Returns 0, or -1 with what is wrong and where in why; *io is set when
 * src could not be opened or read (exit 1 rather than 3).
 */
int jtable_load(struct jtable *t, const char *src, const char *on,
		const struct jon *o, const char *const *fields, unsigned nf,
		char *why, size_t whyn, int *io);
void jtable_free(struct jtable *t);

/* The row of key k (ncols slots), or NULL. */
static inline const uint64_t *jtable_find(const struct jtable *t,
					  struct jkey k)
{
	size_t i = jkey_hash(k) & t->mask;

	for (;;) {
		const struct jslot *s = (const struct jslot *)
			((const char *)t->idx + i * t->stride);

		if (!s->row)
			return NULL;
		if (s->k.a == k.a && s->k.b == k.b)
			return s->v;
		i = (i + 1) & t->mask;
	}
}

/* Start loading the slot of key k into the cache. */
static inline void jtable_prefetch(const struct jtable *t, struct jkey k)
{
	const char *s = (const char *)t->idx +
			(jkey_hash(k) & t->mask) * t->stride;

	__builtin_prefetch(s);
	__builtin_prefetch(s + t->stride - 1);
}

/*
 * The joined row (row.c): the left type's body columns, then the right
 * columns (names prefixed "right_" where they clash), then, with
 * --outer left, "matched" (i64 1 or 0).
 */
struct jcol {
	uint16_t off;			/* in the left record */
	uint8_t kind, size;		/* there */
	uint8_t out;			/* kind of the slot */
};
/* The slot kind a field is carried as, 0 for one left out. */
unsigned jcol_kind(const struct fs_field *f);
/* Field c of record h into its 8-byte slot. */
void jcol_get(const struct jcol *c, const struct fs_hdr *h, uint64_t *slot);
/* 0 when h's code in c is over the slot's 8 bytes. */
int jcol_fits(const struct jcol *c, const struct fs_hdr *h);
/* Say that h's code in c does not fit (frame number); returns -1. */
int long_code(const struct fs_type *t, const struct jcol *c,
	      const struct fs_hdr *h, uint64_t frame);

struct jrow {
	const struct fs_type *lt;	/* the left type */
	unsigned nleft;
	struct jcol left[128];
	unsigned nright;
	int outer;
	struct fs_schema *schema;
	int sent;			/* SCHEMA written */
};

/*
 * Plan the row for left type lt and right columns names/kinds; a
 * left code column over 8 bytes is checked per record (jrow_put).
 */
void jrow_plan(struct jrow *r, const struct fs_type *lt,
	       const char *const *rnames, const uint8_t *rkinds,
	       unsigned nright, int outer);
void jrow_free(struct jrow *r);
/*
 * Write the row of left record h joined with right slots rv (nright
 * values; NULL: unmatched, zero right columns) to w, the SCHEMA first
 * when not yet sent.  Returns 0, or -1 when a left code does not fit
 * the row's 8 bytes (message printed: frame and value).
 */
int jrow_put(struct jrow *r, struct fs_writer *w, const struct fs_hdr *h,
	     const uint64_t *rv, uint64_t frame);

/* The options. */
struct jopts {
	const char *in, *out, *lookup, *left, *right, *metrics;
	char *on, *on_right;		/* --on L[=R]: the left's, the right's */
	char *fields[JN_MAXFIELDS];
	unsigned nfields;
	const struct fs_type *type;	/* -t */
	int temporal, outer, quiet;
	int64_t within;			/* -1: not an interval join */
	int64_t ttl;			/* --state-ttl; 0: none */
	int64_t idle;			/* --idle-timeout */
};

/* Counters, in the summary, the metrics and the snapshot. */
struct jcnt {
	uint64_t left, matched, unmatched, other;
	uint64_t right, late_left, late_right, evicted;
};
struct sbuf;
struct srd;
void jcnt_put(struct sbuf *b, const struct jcnt *n);
void jcnt_get(struct srd *r, struct jcnt *n);

/* --temporal and --within (stream.c). */
int stream_main(struct jopts *o);

#endif
