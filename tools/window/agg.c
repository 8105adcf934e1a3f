/*
 * agg.c - the aggregate functions of fs-window: parsing the --agg list,
 * binding it to the fields of the input type through the schema table,
 * the per-(key, window) state, and the AGG column values.
 *
 * State is a fixed-size slot per key and window: a struct slot header,
 * then each aggregate's state at an offset fixed by agg_bind().  Exact
 * sums use 128-bit integers; floating statistics use Welford's update
 * (and Chan's merge for sessions).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

static const struct {
	const char *name;
	enum agg_fn fn;
	int field;		/* 1: takes a field, 2: field and q */
} fn_table[] = {
	{ "count", AGG_COUNT, 0 },	{ "sum", AGG_SUM, 1 },
	{ "avg", AGG_AVG, 1 },		{ "min", AGG_MIN, 1 },
	{ "max", AGG_MAX, 1 },		{ "stddev", AGG_STDDEV, 1 },
	{ "var", AGG_VAR, 1 },		{ "first", AGG_FIRST, 1 },
	{ "last", AGG_LAST, 1 },	{ "distinct", AGG_DISTINCT, 1 },
	{ "quantile", AGG_QUANTILE, 2 },	{ "vwap", AGG_VWAP, 0 },
	{ "ohlc", AGG_OHLC, 0 },
};
#define NFN (sizeof(fn_table) / sizeof(fn_table[0]))

/* OHLC state. */
struct ohlc_st {
	int64_t o_ts, o, c_ts, c, hi, lo;
	w_i128 pq, vol;
	char sym[16];
};

struct vwap_st {
	w_i128 pq, vol;
};

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Parse one item "fn" or "fn(field)" or "quantile(field,q)". */
static int parse_item(struct agg *a, char *item)
{
	char *open = strchr(item, '('), *arg = NULL, *comma;
	unsigned i;

	if (open) {
		char *close = strrchr(item, ')');

		if (!close || close[1] != '\0')
			return fs_error("bad aggregate '%s': unbalanced "
					"parenthesis", item);
		*open = *close = '\0';
		arg = trim(open + 1);
	}
	item = trim(item);
	for (i = 0; i < NFN && strcmp(fn_table[i].name, item) != 0; i++)
		;
	if (i == NFN)
		return fs_error("unknown aggregate '%s' (count, sum, avg, min, "
				"max, stddev, var, first, last, distinct, "
				"quantile, vwap, ohlc)", item);
	a->fn = fn_table[i].fn;
	if (!fn_table[i].field != !arg)
		return fs_error("aggregate '%s' %s", item, fn_table[i].field ?
				"needs a field: FN(FIELD)" :
				"takes no field");
	if (fn_table[i].field == 2) {
		char buf[FS_FMT_MAX];

		comma = arg ? strchr(arg, ',') : NULL;
		if (!comma || fs_parse_f64(trim(comma + 1), (size_t)-1,
					   &a->q) != 0 ||
		    !(a->q >= 0 && a->q <= 1))
			return fs_error("bad aggregate 'quantile(%s)': "
					"expected quantile(FIELD,Q) with Q "
					"in [0,1]", arg ? arg : "");
		*comma = '\0';
		arg = trim(arg);
		fs_fmt_f64(buf, a->q);
		snprintf(a->qtext, sizeof(a->qtext), "%s", buf);
	}
	if (arg) {
		if (!*arg || strlen(arg) >= sizeof(a->field) ||
		    strchr(arg, ','))
			return fs_error("bad field '%s' in aggregate '%s'",
					arg, item);
		snprintf(a->field, sizeof(a->field), "%s", arg);
	}
	{
		char fld[sizeof(a->field)], qt[sizeof(a->qtext)];

		memcpy(fld, a->field, sizeof(fld));
		memcpy(qt, a->qtext, sizeof(qt));
		if (a->fn == AGG_QUANTILE)
			snprintf(a->name, sizeof(a->name), "quantile_%s_%s",
				 fld, qt);
		else if (arg)
			snprintf(a->name, sizeof(a->name), "%s_%s", item, fld);
		else
			snprintf(a->name, sizeof(a->name), "%s", item);
	}
	return 0;
}

int agg_parse(struct aggset *s, const char *list)
{
	char buf[4096], *p, *start;
	int depth = 0;

	if (strlen(list) >= sizeof(buf))
		return fs_error("--agg list too long");
	snprintf(buf, sizeof(buf), "%s", list);
	start = buf;
	for (p = buf;; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')')
			depth--;
		if ((*p == ',' && depth == 0) || *p == '\0') {
			int end = *p == '\0';

			*p = '\0';
			if (s->n == W_MAX_AGGS)
				return fs_error("too many aggregates (at most "
						"%d)", W_MAX_AGGS);
			if (!*trim(start))
				return fs_error("empty aggregate in '%s'",
						list);
			if (parse_item(&s->a[s->n], start) != 0)
				return -1;
			for (unsigned i = 0; i < s->n; i++)
				if (strcmp(s->a[i].name, s->a[s->n].name) == 0)
					return fs_error("aggregate '%s' given "
							"twice", s->a[i].name);
			s->n++;
			if (end)
				break;
			start = p + 1;
		}
	}
	return 0;
}

/* The value class of a field kind, or -1 when it cannot be aggregated. */
static int class_of(unsigned kind)
{
	switch (kind) {
	case FS_K_I64: case FS_K_U64: case FS_K_U32: case FS_K_U16:
	case FS_K_U8: case FS_K_TS: case FS_K_DUR: case FS_K_BOOL:
		return VC_INT;
	case FS_K_FIX:
		return VC_FIX;
	case FS_K_F64: case FS_K_F32:
		return VC_DBL;
	case FS_K_ID: case FS_K_CODE: case FS_K_CHAR:
		return VC_HASH;
	}
	return -1;
}

/* Output kind of a value-preserving aggregate (min, max, first, last). */
static uint8_t same_kind(const struct agg *a)
{
	if (a->vc == VC_DBL)
		return FS_K_F64;
	if (a->kind == FS_K_FIX || a->kind == FS_K_TS || a->kind == FS_K_DUR)
		return a->kind;
	return FS_K_I64;
}

static unsigned state_size(enum agg_fn fn)
{
	switch (fn) {
	case AGG_COUNT: return 0;
	case AGG_MIN: case AGG_MAX: case AGG_DISTINCT: case AGG_QUANTILE:
		return 8;
	case AGG_VWAP: return sizeof(struct vwap_st);
	case AGG_OHLC: return sizeof(struct ohlc_st);
	default: return 16;
	}
}

/* Find the field a needs in t, check its kind, set the output kind. */
static int bind_field(struct agg *a, const struct fs_type *t)
{
	const struct fs_field *f = fs_field_by_name(t, a->field);
	int vc;

	if (!f)
		return fs_error("unknown field '%s' in aggregate '%s': type "
				"'%s' has no such field", a->field, a->name,
				t->name);
	vc = class_of(f->kind);
	a->off = f->off;
	a->kind = f->kind;
	a->size = f->size;
	if (vc < 0 || (vc == VC_HASH && a->fn != AGG_DISTINCT))
		return fs_error("aggregate '%s': field '%s' of type '%s' is "
				"not numeric", a->name, a->field, t->name);
	a->vc = (uint8_t)vc;
	switch (a->fn) {
	case AGG_SUM:
		a->out_kind = vc == VC_DBL ? FS_K_F64 : vc == VC_FIX ? FS_K_FIX
			: f->kind == FS_K_DUR ? FS_K_DUR : FS_K_I64;
		break;
	case AGG_MIN: case AGG_MAX: case AGG_FIRST: case AGG_LAST:
		a->out_kind = same_kind(a);
		break;
	default:
		a->out_kind = FS_K_F64;
	}
	return 0;
}

/* The price, qty and symbol fields vwap and ohlc need. */
static int bind_trade(struct aggset *s, const struct agg *a,
		      const struct fs_type *t)
{
	const struct fs_field *p = fs_field_by_name(t, "price");
	const struct fs_field *q = fs_field_by_name(t, "qty");
	const struct fs_field *y = fs_field_by_name(t, "symbol");

	if (!p || p->kind != FS_K_FIX || !q || q->kind != FS_K_I64 ||
	    (a->fn == AGG_OHLC && (!y || y->kind != FS_K_CODE)))
		return fs_error("aggregate '%s' needs price, qty%s fields; "
				"type '%s' lacks them", a->name,
				a->fn == AGG_OHLC ? " and symbol" : "",
				t->name);
	s->price_off = p->off;
	s->qty_off = q->off;
	s->sym_off = y ? y->off : 0;
	return 0;
}

int agg_bind(struct aggset *s, const struct fs_type *t)
{
	unsigned off = sizeof(struct slot), col = 2;

	s->type = t;
	s->ohlc = -1;
	for (unsigned i = 0; i < s->n; i++)
		if (s->a[i].fn == AGG_OHLC)
			s->ohlc = (int)i;
	for (unsigned i = 0; i < s->n; i++) {
		struct agg *a = &s->a[i];

		a->out_kind = a->fn == AGG_COUNT ? FS_K_I64 : FS_K_F64;
		if (a->field[0] && bind_field(a, t) != 0)
			return -1;
		if ((a->fn == AGG_VWAP || a->fn == AGG_OHLC) &&
		    bind_trade(s, a, t) != 0)
			return -1;
		if (a->fn == AGG_DISTINCT || a->fn == AGG_QUANTILE)
			s->has_ptrs = 1;
		if ((a->fn == AGG_SUM && a->vc != VC_DBL) ||
		    a->fn == AGG_VWAP || a->fn == AGG_OHLC)
			s->has_exact = 1;
		a->st = off;
		off += (state_size(a->fn) + 15) & ~15u;
		/* A BAR carries count and vwap: with ohlc they go there. */
		if (a->fn == AGG_OHLC || (s->ohlc >= 0 &&
		    (a->fn == AGG_COUNT || a->fn == AGG_VWAP)))
			a->col = -1;
		else
			a->col = (int)col++;
	}
	s->stride = (off + 15) & ~15u;
	s->ncols = col;
	return 0;
}

void agg_init(const struct aggset *s, struct slot *sl, uint64_t key)
{
	memset(sl, 0, s->stride);
	sl->key = key;
	sl->max_ingest = W_TIME_MIN;
}

static inline double rd_dbl(const char *p, unsigned kind)
{
	if (kind == FS_K_F32) {
		float f;

		memcpy(&f, p, 4);
		return f;
	}
	double d;

	memcpy(&d, p, 8);
	return d;
}

/* Hashable identity of a field value (codes: fs_hash64 of the text). */
static uint64_t rd_hash(const char *p, const struct agg *a)
{
	size_t n = a->size;

	if (a->kind == FS_K_CODE) {
		while (n > 0 && (p[n - 1] == '\0' || p[n - 1] == ' '))
			n--;
		return fs_hash64(p, n);
	}
	if (a->vc == VC_DBL) {
		double d = rd_dbl(p, a->kind);
		uint64_t u;

		if (d == 0)
			d = 0;	/* -0 and 0 are one value */
		memcpy(&u, &d, 8);
		return u;
	}
	return (uint64_t)fs_load_int(p, a->kind);
}

uint64_t agg_field_key(const struct fs_field *f, const struct fs_hdr *h)
{
	struct agg a;

	memset(&a, 0, sizeof(a));
	a.kind = f->kind;
	a.size = f->size;
	a.vc = (uint8_t)class_of(f->kind);
	return rd_hash((const char *)h + f->off, &a);
}

/* The exact value of an integer or fixed-point field (u64 unsigned). */
static inline w_i128 rd_exact(const char *p, unsigned kind)
{
	int64_t v = fs_load_int(p, kind);

	return kind == FS_K_U64 ? (w_i128)(uint64_t)v : (w_i128)v;
}

/* The value of a's field as a double (money in currency units). */
static inline double val_dbl(const struct agg *a, const char *p)
{
	if (a->vc == VC_DBL)
		return rd_dbl(p, a->kind);
	if (a->vc == VC_FIX)
		return (double)fs_load_int(p, a->kind) / (double)FS_FIX_SCALE;
	return (double)rd_exact(p, a->kind);
}

/* Kahan-compensated double sum: {sum, compensation}. */
static inline void kahan_add(double *st, double x)
{
	double y = x - st[1], t = st[0] + y;

	st[1] = (t - st[0]) - y;
	st[0] = t;
}

static void upd_minmax(const struct agg *a, char *st, const char *p,
		       uint64_t n)
{
	int mx = a->fn == AGG_MAX;

	if (a->vc == VC_DBL) {
		double v = rd_dbl(p, a->kind), c;

		memcpy(&c, st, 8);
		if (n == 1 || (mx ? v > c : v < c) || isnan(c))
			memcpy(st, &v, 8);
	} else {
		int64_t v = fs_load_int(p, a->kind), c;

		memcpy(&c, st, 8);
		if (n == 1 || (mx ? v > c : v < c))
			memcpy(st, &v, 8);
	}
}

static void upd_ohlc(const struct aggset *s, char *st,
		     const struct fs_hdr *h, uint64_t n)
{
	struct ohlc_st *o = (struct ohlc_st *)st;
	const char *f = (const char *)h;
	int64_t px = fs_load_int(f + s->price_off, FS_K_FIX);
	int64_t q = fs_load_int(f + s->qty_off, FS_K_I64);

	if (n == 1) {
		o->o_ts = o->c_ts = h->ts_event;
		o->o = o->c = o->hi = o->lo = px;
		memcpy(o->sym, f + s->sym_off, 12);
	} else {
		if (h->ts_event < o->o_ts) {
			o->o_ts = h->ts_event;
			o->o = px;
		}
		if (h->ts_event >= o->c_ts) {
			o->c_ts = h->ts_event;
			o->c = px;
		}
		o->hi = px > o->hi ? px : o->hi;
		o->lo = px < o->lo ? px : o->lo;
	}
	o->pq += (w_i128)px * q;
	o->vol += q;
}

/* Update one aggregate a of slot sl with record h (count already n). */
static void upd_one(const struct aggset *s, const struct agg *a, char *st,
		    const struct fs_hdr *h, uint64_t n)
{
	const char *p = (const char *)h + a->off;

	switch (a->fn) {
	case AGG_COUNT:
		break;
	case AGG_SUM: case AGG_AVG:
		if (a->vc == VC_DBL)
			kahan_add((double *)st, rd_dbl(p, a->kind));
		else
			*(w_i128 *)st += rd_exact(p, a->kind);
		break;
	case AGG_MIN: case AGG_MAX:
		upd_minmax(a, st, p, n);
		break;
	case AGG_STDDEV: case AGG_VAR: {
		double *w = (double *)st, x = val_dbl(a, p), d = x - w[0];

		w[0] += d / (double)n;
		w[1] += d * (x - w[0]);
		break;
	}
	case AGG_FIRST: case AGG_LAST: {
		int64_t *fl = (int64_t *)st;

		if (n == 1 || (a->fn == AGG_FIRST ? h->ts_event < fl[0] :
			       h->ts_event >= fl[0])) {
			fl[0] = h->ts_event;
			if (a->vc == VC_DBL) {
				double d = rd_dbl(p, a->kind);

				memcpy(&fl[1], &d, 8);
			} else {
				fl[1] = fs_load_int(p, a->kind);
			}
		}
		break;
	}
	case AGG_DISTINCT:
		dset_add((struct dset **)st, rd_hash(p, a), s->distinct_limit);
		break;
	case AGG_QUANTILE:
		ddsk_add((struct ddsk **)st, val_dbl(a, p));
		break;
	case AGG_VWAP: {
		struct vwap_st *v = (struct vwap_st *)st;
		const char *f = (const char *)h;
		int64_t q = fs_load_int(f + s->qty_off, FS_K_I64);

		v->pq += (w_i128)fs_load_int(f + s->price_off, FS_K_FIX) * q;
		v->vol += q;
		break;
	}
	case AGG_OHLC:
		upd_ohlc(s, st, h, n);
		break;
	}
}

static int fits64(w_i128 v)
{
	return v >= INT64_MIN && v <= INT64_MAX;
}

/* a / b rounded half away from zero (b > 0). */
static w_i128 div_round(w_i128 a, w_i128 b)
{
	w_i128 q = a / b, r = a % b;

	if (2 * (r < 0 ? -r : r) >= b)
		q += a < 0 ? -1 : 1;
	return q;
}

/*
 * Does a BAR's vwap, pq / vol rounded (0 when vol <= 0), fit in int64?
 * When pq does, so does its quotient by any vol >= 2, rounding included.
 */
static int vwap_fits(w_i128 pq, w_i128 vol)
{
	if (vol <= 0 || fits64(pq))
		return 1;
	return vol > 1 && fits64(div_round(pq, vol));
}

/*
 * The exact accumulators of aggregate a over the states sl[0..n) and
 * the record h together: the sum, or vwap's price x qty and volume.
 * Returns 0, or -1 when price x qty leaves 128 bits.
 */
static int exact_total(const struct aggset *s, const struct agg *a,
		       struct slot *const *sl, unsigned n,
		       const struct fs_hdr *h, w_i128 *sum, w_i128 *vol)
{
	const char *f = (const char *)h;
	w_i128 pq;
	int64_t q;

	if (a->fn == AGG_SUM) {
		*sum = rd_exact(f + a->off, a->kind);
		for (unsigned i = 0; i < n; i++)
			*sum += *(const w_i128 *)((const char *)sl[i] + a->st);
		return 0;
	}
	q = fs_load_int(f + s->qty_off, FS_K_I64);
	*sum = (w_i128)fs_load_int(f + s->price_off, FS_K_FIX) * q;
	*vol = q;
	for (unsigned i = 0; i < n; i++) {
		const char *st = (const char *)sl[i] + a->st;

		if (a->fn == AGG_VWAP) {
			pq = ((const struct vwap_st *)st)->pq;
			*vol += ((const struct vwap_st *)st)->vol;
		} else {
			pq = ((const struct ohlc_st *)st)->pq;
			*vol += ((const struct ohlc_st *)st)->vol;
		}
		if (__builtin_add_overflow(*sum, pq, sum))
			return -1;
	}
	return 0;
}

int agg_check(const struct aggset *s, struct slot *const *sl, unsigned n,
	      const struct fs_hdr *h, const struct agg **bad)
{
	w_i128 sum, vol;

	if (!s->has_exact)
		return 0;
	for (unsigned i = 0; i < s->n; i++) {
		const struct agg *a = &s->a[i];
		int ok = 1;

		if (a->fn == AGG_SUM && a->vc != VC_DBL && n <= 1 &&
		    a->kind != FS_K_U64) {
			/* one state, within int64 as every state is */
			int64_t r, cur = n ? (int64_t)*(const w_i128 *)
				((const char *)sl[0] + a->st) : 0;

			ok = !__builtin_add_overflow(cur, fs_load_int(
				(const char *)h + a->off, a->kind), &r);
		} else if (a->fn == AGG_SUM && a->vc != VC_DBL)
			ok = exact_total(s, a, sl, n, h, &sum, &vol) == 0 &&
				fits64(sum);
		else if (a->fn == AGG_VWAP)
			ok = exact_total(s, a, sl, n, h, &sum, &vol) == 0;
		else if (a->fn == AGG_OHLC)
			ok = exact_total(s, a, sl, n, h, &sum, &vol) == 0 &&
				fits64(vol) && vwap_fits(sum, vol);
		if (!ok) {
			*bad = a;
			return -1;
		}
	}
	return 0;
}

void agg_update(const struct aggset *s, struct slot *sl,
		const struct fs_hdr *h)
{
	uint64_t n = ++sl->count;

	if (h->ts_ingest > sl->max_ingest)
		sl->max_ingest = h->ts_ingest;
	for (unsigned i = 0; i < s->n; i++)
		upd_one(s, &s->a[i], (char *)sl + s->a[i].st, h, n);
}

static void merge_minmax(const struct agg *a, char *d, const char *x)
{
	int mx = a->fn == AGG_MAX;

	if (a->vc == VC_DBL) {
		double u, v;

		memcpy(&u, d, 8);
		memcpy(&v, x, 8);
		if ((mx ? v > u : v < u) || isnan(u))
			memcpy(d, &v, 8);
	} else {
		int64_t u, v;

		memcpy(&u, d, 8);
		memcpy(&v, x, 8);
		if (mx ? v > u : v < u)
			memcpy(d, &v, 8);
	}
}

static void merge_ohlc(struct ohlc_st *d, const struct ohlc_st *x)
{
	if (x->o_ts < d->o_ts) {
		d->o_ts = x->o_ts;
		d->o = x->o;
	}
	if (x->c_ts > d->c_ts) {
		d->c_ts = x->c_ts;
		d->c = x->c;
	}
	d->hi = x->hi > d->hi ? x->hi : d->hi;
	d->lo = x->lo < d->lo ? x->lo : d->lo;
	d->pq += x->pq;
	d->vol += x->vol;
}

/* Merge aggregate a's state x (nx values) into d (nd values). */
static void merge_one(const struct aggset *s, const struct agg *a, char *d,
		      char *x, uint64_t nd, uint64_t nx)
{
	switch (a->fn) {
	case AGG_COUNT:
		break;
	case AGG_SUM: case AGG_AVG:
		if (a->vc == VC_DBL) {
			kahan_add((double *)d, ((double *)x)[0]);
			kahan_add((double *)d, -((double *)x)[1]);
		} else {
			*(w_i128 *)d += *(w_i128 *)x;
		}
		break;
	case AGG_MIN: case AGG_MAX:
		merge_minmax(a, d, x);
		break;
	case AGG_STDDEV: case AGG_VAR: {
		double *u = (double *)d, *v = (double *)x;
		double n = (double)(nd + nx), dl = v[0] - u[0];

		u[1] += v[1] + dl * dl * (double)nd * (double)nx / n;
		u[0] += dl * (double)nx / n;
		break;
	}
	case AGG_FIRST: case AGG_LAST: {
		int64_t *u = (int64_t *)d, *v = (int64_t *)x;

		if (a->fn == AGG_FIRST ? v[0] < u[0] : v[0] > u[0])
			memcpy(u, v, 16);
		break;
	}
	case AGG_DISTINCT:
		dset_merge((struct dset **)d, *(struct dset **)x,
			   s->distinct_limit);
		break;
	case AGG_QUANTILE:
		ddsk_merge((struct ddsk **)d, *(struct ddsk **)x);
		break;
	case AGG_VWAP:
		((struct vwap_st *)d)->pq += ((struct vwap_st *)x)->pq;
		((struct vwap_st *)d)->vol += ((struct vwap_st *)x)->vol;
		break;
	case AGG_OHLC:
		merge_ohlc((struct ohlc_st *)d, (struct ohlc_st *)x);
		break;
	}
}

void agg_merge(const struct aggset *s, struct slot *dst, struct slot *src)
{
	for (unsigned i = 0; i < s->n; i++)
		merge_one(s, &s->a[i], (char *)dst + s->a[i].st,
			  (char *)src + s->a[i].st, dst->count, src->count);
	dst->count += src->count;
	if (src->max_ingest > dst->max_ingest)
		dst->max_ingest = src->max_ingest;
	dst->emitted |= src->emitted;
	agg_release(s, src);
}

void agg_release(const struct aggset *s, struct slot *sl)
{
	if (!s->has_ptrs)
		return;
	for (unsigned i = 0; i < s->n; i++) {
		void **p = (void **)((char *)sl + s->a[i].st);

		if (s->a[i].fn == AGG_DISTINCT)
			dset_free(*p);
		else if (s->a[i].fn == AGG_QUANTILE)
			ddsk_free(*p);
		else
			continue;
		*p = NULL;
	}
}

static int64_t dbl_bits(double d)
{
	int64_t v;

	memcpy(&v, &d, 8);
	return v;
}

/* The column value of one aggregate; -1 when an exact sum overflows. */
static int value_one(const struct agg *a, const char *st, uint64_t n,
		     int64_t *out)
{
	switch (a->fn) {
	case AGG_COUNT:
		*out = (int64_t)n;
		return 0;
	case AGG_SUM:
		if (a->vc == VC_DBL) {
			*out = dbl_bits(((const double *)st)[0]);
			return 0;
		}
		if (!fits64(*(const w_i128 *)st))
			return -1;
		*out = (int64_t)*(const w_i128 *)st;
		return 0;
	case AGG_AVG: {
		long double v = a->vc == VC_DBL ? ((const double *)st)[0] :
			(long double)*(const w_i128 *)st;

		if (a->vc == VC_FIX)
			v /= FS_FIX_SCALE;
		*out = dbl_bits((double)(v / n));
		return 0;
	}
	case AGG_MIN: case AGG_MAX:
		memcpy(out, st, 8);
		return 0;
	case AGG_STDDEV: case AGG_VAR: {
		double m2 = ((const double *)st)[1], v;

		v = n < 2 ? NAN : m2 / (double)(n - 1);
		*out = dbl_bits(a->fn == AGG_VAR ? v : sqrt(v));
		return 0;
	}
	case AGG_FIRST: case AGG_LAST:
		memcpy(out, st + 8, 8);
		return 0;
	case AGG_DISTINCT:
		*out = dbl_bits(dset_count(*(struct dset *const *)st));
		return 0;
	case AGG_QUANTILE:
		*out = dbl_bits(ddsk_quantile(*(struct ddsk *const *)st, a->q));
		return 0;
	case AGG_VWAP: {
		const struct vwap_st *v = (const struct vwap_st *)st;

		*out = dbl_bits(v->vol == 0 ? NAN : (double)((long double)v->pq
			/ (long double)v->vol / FS_FIX_SCALE));
		return 0;
	}
	case AGG_OHLC:
		return 0;
	}
	return 0;
}

int agg_values(const struct aggset *s, const struct slot *sl,
	       int64_t *cols, const struct agg **bad)
{
	for (unsigned i = 0; i < s->n; i++) {
		const struct agg *a = &s->a[i];

		if (a->col < 0)
			continue;
		if (value_one(a, (const char *)sl + a->st, sl->count,
			      &cols[a->col]) != 0) {
			*bad = a;
			return -1;
		}
	}
	return 0;
}

int agg_bar(const struct aggset *s, const struct slot *sl,
	    struct fs_bar *b)
{
	const struct ohlc_st *o =
		(const struct ohlc_st *)((const char *)sl + s->a[s->ohlc].st);
	w_i128 vw = o->vol > 0 ? div_round(o->pq, o->vol) : 0;

	if (!fits64(o->vol) || !fits64(vw))
		return -1;
	memcpy(b->symbol, o->sym, sizeof(b->symbol));
	b->open = o->o;
	b->high = o->hi;
	b->low = o->lo;
	b->close = o->c;
	b->volume = (int64_t)o->vol;
	b->vwap = (int64_t)vw;
	b->count = sl->count;
	return 0;
}
