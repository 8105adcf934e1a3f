/*
 * sketch.c - the two mergeable summaries behind distinct() and
 * quantile().
 *
 * distinct: an exact set of 64-bit values (kept mixed through a
 * bijective hash, so the table needs no second hash) up to a limit;
 * past it, the same hashes feed a HyperLogLog of 2^12 registers
 * (standard error 1.04 / 64 = 1.6%), with the usual linear-counting
 * correction for small cardinalities.
 *
 * quantile: DDSketch (Masson et al., VLDB 2019).  Values go into
 * logarithmic buckets of ratio gamma = (1 + a) / (1 - a), a = 0.01, so
 * the value returned for a rank is within 1% (relative) of the true
 * value of that rank.  Buckets merge by adding counts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

#define HLL_M (1u << W_HLL_P)

struct dset {
	uint32_t n;		/* values held (exact mode) */
	uint32_t cap;		/* table slots, a power of two; 0 = HLL */
	uint8_t has_zero;	/* the value whose hash is 0 was seen */
	uint64_t *t;		/* hashes, 0 = empty */
	uint8_t *reg;		/* HLL registers */
};

struct dd_store {
	int32_t lo;		/* bucket index of c[0] */
	uint32_t len;
	uint64_t *c;
};

struct ddsk {
	uint64_t n, zero;
	struct dd_store pos, neg;
};

struct dset *dset_new(void)
{
	struct dset *d = fs_xcalloc(1, sizeof(*d));

	d->cap = 8;
	d->t = fs_xcalloc(d->cap, sizeof(*d->t));
	return d;
}

void dset_free(struct dset *d)
{
	if (!d)
		return;
	free(d->t);
	free(d->reg);
	free(d);
}

static void hll_add(uint8_t *reg, uint64_t h)
{
	uint32_t idx = (uint32_t)(h >> (64 - W_HLL_P));
	uint64_t w = h << W_HLL_P;
	uint8_t rho = w ? (uint8_t)(__builtin_clzll(w) + 1) :
		(uint8_t)(64 - W_HLL_P + 1);

	if (reg[idx] < rho)
		reg[idx] = rho;
}

/* Insert hash h into the exact table (room is assured by the caller). */
static void tab_insert(struct dset *d, uint64_t h)
{
	uint32_t m = d->cap - 1, i = (uint32_t)h & m;

	if (h == 0) {
		d->n += !d->has_zero;
		d->has_zero = 1;
		return;
	}
	while (d->t[i]) {
		if (d->t[i] == h)
			return;
		i = (i + 1) & m;
	}
	d->t[i] = h;
	d->n++;
}

/* Switch d from the exact table to HyperLogLog. */
static void to_hll(struct dset *d)
{
	d->reg = fs_xcalloc(HLL_M, 1);
	for (uint32_t i = 0; i < d->cap; i++)
		if (d->t[i])
			hll_add(d->reg, d->t[i]);
	if (d->has_zero)
		hll_add(d->reg, 0);
	free(d->t);
	d->t = NULL;
	d->cap = 0;
}

static void grow(struct dset *d)
{
	uint64_t *old = d->t;
	uint32_t oc = d->cap;

	d->cap *= 2;
	d->t = fs_xcalloc(d->cap, sizeof(*d->t));
	d->n = 0;
	for (uint32_t i = 0; i < oc; i++)
		if (old[i])
			tab_insert(d, old[i]);
	d->n += d->has_zero;
	free(old);
}

/* Add a hash (already mixed) to d. */
static void add_hash(struct dset *d, uint64_t h, unsigned limit)
{
	if (!d->cap) {
		hll_add(d->reg, h);
		return;
	}
	if ((d->n + 1) * 2 > d->cap)
		grow(d);
	tab_insert(d, h);
	if (d->n > limit)
		to_hll(d);
}

void dset_add(struct dset **dp, uint64_t v, unsigned limit)
{
	if (!*dp)
		*dp = dset_new();
	add_hash(*dp, w_mix64(v), limit);
}

void dset_merge(struct dset **dp, const struct dset *s, unsigned limit)
{
	struct dset *d;

	if (!s)
		return;
	if (!*dp)
		*dp = dset_new();
	d = *dp;
	if (!s->cap) {
		if (d->cap)
			to_hll(d);
		for (uint32_t i = 0; i < HLL_M; i++)
			if (d->reg[i] < s->reg[i])
				d->reg[i] = s->reg[i];
		return;
	}
	for (uint32_t i = 0; i < s->cap; i++)
		if (s->t[i])
			add_hash(d, s->t[i], limit);
	if (s->has_zero)
		add_hash(d, 0, limit);
}

double dset_count(const struct dset *d)
{
	double sum = 0, m = HLL_M, e;
	unsigned zeros = 0;

	if (!d)
		return 0;
	if (d->cap)
		return d->n;
	for (uint32_t i = 0; i < HLL_M; i++) {
		sum += ldexp(1.0, -d->reg[i]);
		zeros += d->reg[i] == 0;
	}
	e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
	if (e <= 2.5 * m && zeros)
		e = m * log(m / zeros);
	return round(e);
}

/* ---- DDSketch ---- */

static double dd_gamma_ln(void)
{
	static double g;

	if (!g)
		g = log((1 + W_QUANTILE_ALPHA) / (1 - W_QUANTILE_ALPHA));
	return g;
}

static int32_t dd_index(double x)
{
	return (int32_t)ceil(log(x) / dd_gamma_ln());
}

/* The representative value of bucket i (within a of every value in it). */
static double dd_value(int32_t i)
{
	double g = exp(dd_gamma_ln());

	return 2 * exp(dd_gamma_ln() * i) / (g + 1);
}

/* Make store s cover bucket i. */
static void store_cover(struct dd_store *s, int32_t i)
{
	int32_t lo, hi;
	uint64_t *c;

	if (s->len && i >= s->lo && i < s->lo + (int32_t)s->len)
		return;
	lo = s->len ? (i < s->lo ? i - 16 : s->lo) : i - 16;
	hi = s->len ? (i >= s->lo + (int32_t)s->len ? i + 17 :
		       s->lo + (int32_t)s->len) : i + 17;
	c = fs_xcalloc((size_t)(hi - lo), sizeof(*c));
	if (s->len)
		memcpy(c + (s->lo - lo), s->c, s->len * sizeof(*c));
	free(s->c);
	s->c = c;
	s->lo = lo;
	s->len = (uint32_t)(hi - lo);
}

static void store_add(struct dd_store *s, int32_t i, uint64_t k)
{
	store_cover(s, i);
	s->c[i - s->lo] += k;
}

void ddsk_add(struct ddsk **sp, double v)
{
	struct ddsk *s = *sp;

	if (isnan(v))
		return;
	if (!s)
		s = *sp = fs_xcalloc(1, sizeof(*s));
	s->n++;
	if (v > 0)
		store_add(&s->pos, dd_index(v), 1);
	else if (v < 0)
		store_add(&s->neg, dd_index(-v), 1);
	else
		s->zero++;
}

static void store_merge(struct dd_store *d, const struct dd_store *s)
{
	for (uint32_t i = 0; i < s->len; i++)
		if (s->c[i])
			store_add(d, s->lo + (int32_t)i, s->c[i]);
}

void ddsk_merge(struct ddsk **dp, const struct ddsk *s)
{
	if (!s)
		return;
	if (!*dp)
		*dp = fs_xcalloc(1, sizeof(**dp));
	(*dp)->n += s->n;
	(*dp)->zero += s->zero;
	store_merge(&(*dp)->pos, &s->pos);
	store_merge(&(*dp)->neg, &s->neg);
}

/*
 * The value at rank floor(q * (n - 1)) (0-based, ascending), within
 * W_QUANTILE_ALPHA relative; NaN when empty.
 */
double ddsk_quantile(const struct ddsk *s, double q)
{
	uint64_t rank, cum = 0;

	if (!s || !s->n)
		return NAN;
	rank = (uint64_t)floor(q * (double)(s->n - 1));
	for (uint32_t k = s->neg.len; k-- > 0;) {
		cum += s->neg.c[k];
		if (cum > rank)
			return -dd_value(s->neg.lo + (int32_t)k);
	}
	cum += s->zero;
	if (cum > rank)
		return 0;
	for (uint32_t k = 0; k < s->pos.len; k++) {
		cum += s->pos.c[k];
		if (cum > rank)
			return dd_value(s->pos.lo + (int32_t)k);
	}
	return NAN;
}

void ddsk_free(struct ddsk *s)
{
	if (!s)
		return;
	free(s->pos.c);
	free(s->neg.c);
	free(s);
}

/* ---- snapshots (snap.c) ---- */

void dset_save(struct sbuf *b, const struct dset *d)
{
	sb_u8(b, d != NULL);
	if (!d)
		return;
	sb_u32(b, d->n);
	sb_u32(b, d->cap);
	sb_u8(b, d->has_zero);
	if (d->cap)
		sb_put(b, d->t, (size_t)d->cap * sizeof(*d->t));
	else
		sb_put(b, d->reg, HLL_M);
}

struct dset *dset_load(struct srd *r)
{
	struct dset *d;

	if (!sr_u8(r))
		return NULL;
	d = fs_xcalloc(1, sizeof(*d));
	d->n = sr_u32(r);
	d->cap = sr_u32(r);
	d->has_zero = sr_u8(r);
	if (d->cap & (d->cap - 1) || d->cap > (1u << 26) ||
	    (d->cap && d->n > d->cap) ||
	    (size_t)d->cap * 8 > r->n - r->off) {
		sr_fail(r, "bad distinct set");
		d->cap = 0;
	}
	if (d->cap) {
		d->t = fs_xmalloc((size_t)d->cap * sizeof(*d->t));
		sr_get(r, d->t, (size_t)d->cap * sizeof(*d->t));
	} else {
		d->reg = fs_xmalloc(HLL_M);
		sr_get(r, d->reg, HLL_M);
	}
	return d;
}

static void dd_store_save(struct sbuf *b, const struct dd_store *s)
{
	sb_u32(b, (uint32_t)s->lo);
	sb_u32(b, s->len);
	sb_put(b, s->c, (size_t)s->len * sizeof(*s->c));
}

static void dd_store_load(struct srd *r, struct dd_store *s)
{
	s->lo = (int32_t)sr_u32(r);
	s->len = sr_u32(r);
	if ((size_t)s->len * 8 > r->n - r->off) {
		sr_fail(r, "bad quantile sketch");
		s->len = 0;
	}
	s->c = s->len ? fs_xmalloc((size_t)s->len * sizeof(*s->c)) : NULL;
	sr_get(r, s->c, (size_t)s->len * sizeof(*s->c));
}

void ddsk_save(struct sbuf *b, const struct ddsk *s)
{
	sb_u8(b, s != NULL);
	if (!s)
		return;
	sb_u64(b, s->n);
	sb_u64(b, s->zero);
	dd_store_save(b, &s->pos);
	dd_store_save(b, &s->neg);
}

struct ddsk *ddsk_load(struct srd *r)
{
	struct ddsk *s;

	if (!sr_u8(r))
		return NULL;
	s = fs_xcalloc(1, sizeof(*s));
	s->n = sr_u64(r);
	s->zero = sr_u64(r);
	dd_store_load(r, &s->pos);
	dd_store_load(r, &s->neg);
	return s;
}
