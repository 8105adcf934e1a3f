/*
 * features.c - per-event rolling features for fraud scoring.
 *
 * For each TXN, in arrival order, the features are computed from the
 * account's history *before* the event, then the event joins the
 * history.  The exact definitions (fs-window(1), FEATURE SET fraud-v1):
 *
 *   H   = the events of the same account that arrived earlier;
 *   H_W = the events j of H with t - W < ts_j <= t  (t: this event).
 *
 * Per account: the history of the last 24h + --max-delay, sorted by
 * event time (at most HIST_CAP events); for each window W (1m, 1h,
 * 24h) a cursor into it with the count and sum of the events in
 * (newest - W, newest], and per merchant and country the number of
 * them in the 1h and 24h windows, so an event in time order costs
 * O(1): the cursors slide, counts go up and down.  An event older than
 * the account's newest (out of order) is computed by a scan of the
 * history instead.  Welford's running mean and M2 of all amounts of H
 * give the z-score; the merchant table (which also says whether a
 * merchant is new), a device set and a country list are capped.
 *
 * --state-ttl forgets an account whose next event comes TTL or more
 * (event time) after its latest one; a sweep frees such accounts'
 * memory as the stream's event time moves on.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

#define HIST_CAP 4096		/* events per account in 24h + max-delay */
#define MERCH_CAP 8192		/* merchants remembered per account */
#define DEV_CAP 1024		/* devices remembered per account */
#define CTRY_CAP 255		/* countries remembered per account */
#define ACC_SEG_SHIFT 14	/* accounts per segment: 16384 (2.4 MiB) */
#define ACC_SEG (1u << ACC_SEG_SHIFT)
#define ACC_FIRST ACC_SEG	/* accounts the table is sized for at first */

#define NS_S 1000000000LL
#define W_1M (60 * NS_S)
#define W_1H (3600 * NS_S)
#define W_24H (86400 * NS_S)

enum { W1M, W1H, W24H, NWIN };
static const int64_t win_len[NWIN] = { W_1M, W_1H, W_24H };

enum {
	F_AMOUNT, F_MCC, F_CHANNEL, F_HOUR, F_CNT_1M, F_CNT_1H, F_CNT_24H,
	F_SUM_1M, F_SUM_1H, F_SUM_24H, F_ZSCORE, F_DM_1H, F_DM_24H, F_DC_1H,
	F_DC_24H, F_SINCE_PREV, F_MERCH_NEW, F_CTRY_NEW, F_DEV_NEW, F_LABEL,
	F_N
};

static const char *const fraud_v1[F_N] = {
	"amount", "mcc", "channel", "hour_of_day",
	"txn_count_1m", "txn_count_1h", "txn_count_24h",
	"amount_sum_1m", "amount_sum_1h", "amount_sum_24h",
	"amount_zscore",
	"distinct_merchants_1h", "distinct_merchants_24h",
	"distinct_countries_1h", "distinct_countries_24h",
	"secs_since_prev", "merchant_is_new", "country_is_new",
	"device_is_new", "label",
};

/* A past event: its merchant and country as indices into the tables. */
struct hent {
	int64_t ts;
	int64_t amount;
	uint16_t mi;		/* slot in mt, or M_ZERO / M_NONE */
	uint8_t ci;		/* index in cty, or C_NONE */
	uint8_t pad_[5];
};
#define M_ZERO 0xffff		/* the merchant id whose hash is 0 */
#define M_NONE 0xfffe		/* a merchant past the cap: not counted */
#define C_NONE 0xff		/* a country past the cap: not counted */

/*
 * Per-account memory comes from a pool of power-of-two blocks (16 B to
 * 256 KiB) carved from chunks of 2, 4, 8 and then 16 MiB, with a free
 * list per size: no malloc per account, no allocator headers. Fresh
 * memory is dear (page zeroing was a quarter of fs-window's time while
 * 100k accounts filled up, and a stall of the events behind it), so
 * each chunk comes from fs_big_alloc, wanted two chunks ahead: made on
 * another core before it is needed.
 */
#define POOL_CLASSES 15
#define POOL_BLOCK_MAX ((size_t)16 << (POOL_CLASSES - 1))
#define POOL_CHUNK_MAX (16u << 20)
struct pool {
	void *free[POOL_CLASSES];
	char *cur;
	size_t left;
	char **chunks;
	size_t nchunks;
};

/* A merchant: its mixed id, and its events in the 1h and 24h windows. */
struct ment {
	uint64_t h;
	uint16_t c[2];
	uint32_t pad_;
};

/* A country and its events in the 1h and 24h windows. */
struct cent {
	uint32_t code;
	uint16_t c[2];
};

/*
 * The largest block of each table at its cap must be a pool class, and
 * its size and indices must fit the fields that hold them: the merchant
 * table holds MERCH_CAP at half load (2 * MERCH_CAP slots), the device
 * set DEV_CAP at half load, the country list CTRY_CAP rounded up to a
 * power of two, the history HIST_CAP events.
 */
_Static_assert(2 * MERCH_CAP * sizeof(struct ment) <= POOL_BLOCK_MAX,
	       "merchant table at its cap is over the largest pool block");
_Static_assert(2 * DEV_CAP * sizeof(uint64_t) <= POOL_BLOCK_MAX,
	       "device set at its cap is over the largest pool block");
_Static_assert(2 * CTRY_CAP * sizeof(struct cent) <= POOL_BLOCK_MAX,
	       "country list at its cap is over the largest pool block");
_Static_assert(HIST_CAP * sizeof(struct hent) <= POOL_BLOCK_MAX,
	       "history at its cap is over the largest pool block");
_Static_assert(2 * MERCH_CAP <= M_NONE && 2 * DEV_CAP <= UINT16_MAX &&
	       CTRY_CAP <= C_NONE && HIST_CAP <= UINT16_MAX,
	       "a table's size or index does not fit its field");
_Static_assert(POOL_BLOCK_MAX <= (2u << 20), "a block over the first chunk");

struct acct {
	uint64_t id;
	int64_t last_ts;	/* newest event time */
	int64_t evicted_max;	/* newest event time dropped from h */
	double mean, m2;	/* Welford over H */
	uint64_t wsum[NWIN];	/* amounts in (newest - W, newest]: low
				 * 64 bits of the exact sum (wsum_get) */
	/* second cache line */
	struct hent *h;		/* [lo, hi) sorted by ts */
	struct cent *cty;	/* countries seen, [0, ncty) */
	struct ment *mt;	/* merchants seen: open addressing */
	uint64_t *dev;		/* devices seen: open addressing */
	uint64_t n;		/* events in H */
	uint32_t next_free;
	uint16_t lo, hi, cap;
	uint16_t wlp[NWIN];	/* first event of each window */
	uint16_t wn[NWIN];	/* events in each window */
	uint16_t dm[2], dc[2];	/* distinct merchants, countries */
	uint16_t ncty, capcty;
	uint16_t mcap, mn;	/* merchant table */
	uint16_t zc[2];		/* counts of the merchant hashing to 0 */
	uint16_t dcap, dn;	/* device set */
	int16_t wsumh[NWIN];	/* high bits of the window sums */
	uint8_t mzero, dzero;	/* the id hashing to 0 was seen */
	uint8_t live;
};

/*
 * A window's exact sum: at most HIST_CAP amounts of 64 bits, so 64 + 12
 * bits and a sign; the low 64 bits sit in the hot first cache line.
 */
_Static_assert(HIST_CAP <= 1 << 14, "window sums need wider high bits");

static inline w_i128 wsum_get(const struct acct *a, int k)
{
	return (w_i128)a->wsumh[k] * ((w_i128)1 << 64) + a->wsum[k];
}

/*
 * Add amount v (sign 1) to window k's sum, or take it out (sign -1):
 * the low word wraps, its carry and the addend's sign go to the high.
 */
static inline void wsum_add(struct acct *a, int k, int64_t v, int sign)
{
	uint64_t lo = a->wsum[k], d = sign > 0 ? (uint64_t)v : -(uint64_t)v;
	int neg = sign > 0 ? v < 0 : v > 0;

	a->wsum[k] = lo + d;
	a->wsumh[k] = (int16_t)(a->wsumh[k] - neg + (lo + d < lo));
}

/* An exact sum of amounts, in currency units, as float32. */
static inline float money_f32(w_i128 s)
{
	if (s >= INT64_MIN && s <= INT64_MAX)	/* cheap, and common */
		return (float)((double)(int64_t)s / (double)FS_FIX_SCALE);
	return (float)((double)s / (double)FS_FIX_SCALE);
}

/* Scratch set of the distinct-count scan, cleared by generation. */
struct gset {
	uint64_t v;
	uint32_t gen;
	uint32_t pad_;
};
#define GM_SIZE (2 * HIST_CAP)
#define GC_SIZE 512

struct feat {
	int64_t max_delay, ttl;
	int64_t max_ts, next_sweep;
	struct ktab ids;	/* account id -> index in the segments */
	struct acct **seg;	/* accounts, ACC_SEG to a segment */
	uint32_t nseg;
	uint32_t nacc, free;
	uint64_t live, expired;
	uint32_t gen;
	struct pool pool;
	uint16_t remap[2 * MERCH_CAP];	/* merchant slots, old -> new */
	struct gset gm[GM_SIZE], gc[GC_SIZE];
};

/*
 * Account i. Segments, not one array: growing never copies the accounts
 * nor holds two copies, and the next segment is wanted (fs_big_want)
 * early, a small block whatever the number of accounts.
 */
static inline struct acct *acct_at(const struct feat *f, uint32_t i)
{
	return &f->seg[i >> ACC_SEG_SHIFT][i & (ACC_SEG - 1)];
}

static unsigned pool_class(size_t n)
{
	unsigned c = 0;

	while (((size_t)16 << c) < n)
		c++;
	if (c >= POOL_CLASSES)
		fs_bug("pool block of %zu bytes", n);
	return c;
}

/* The size of chunk k: 2 MiB, doubling up to POOL_CHUNK_MAX. */
static size_t chunk_size(size_t k)
{
	return k >= 3 ? POOL_CHUNK_MAX : (size_t)2 << 20 << k;
}

static void pool_free(struct pool *p)
{
	for (size_t i = 0; i < p->nchunks; i++)
		fs_big_free(p->chunks[i], chunk_size(i));
	free(p->chunks);
}

/* A block of n bytes (n a power of two, 16 B to POOL_BLOCK_MAX). */
static void *pool_get(struct pool *p, size_t n)
{
	unsigned c = pool_class(n);
	void *b = p->free[c];

	if (b) {
		memcpy(&p->free[c], b, sizeof(void *));
		return b;
	}
	n = (size_t)16 << c;
	if (p->left < n) {
		size_t k = p->nchunks++;

		p->chunks = fs_xrealloc(p->chunks, p->nchunks *
					sizeof(*p->chunks));
		p->cur = p->chunks[k] = fs_big_alloc(chunk_size(k));
		p->left = chunk_size(k);
		/* two ahead: one being made while the other waits ready */
		if (k == 0)
			fs_big_want(chunk_size(1));
		fs_big_want(chunk_size(k + 2));
	}
	b = p->cur;
	p->cur += n;
	p->left -= n;
	return b;
}

static void pool_put(struct pool *p, void *b, size_t n)
{
	unsigned c;

	if (!b)
		return;
	c = pool_class(n);
	memcpy(b, &p->free[c], sizeof(void *));
	p->free[c] = b;
}

/* Grow block b of n bytes to 2n (n = 0: a block of first bytes). */
static void *pool_grow(struct pool *p, void *b, size_t n, size_t first)
{
	void *nb = pool_get(p, n ? 2 * n : first);

	if (n) {
		memcpy(nb, b, n);
		pool_put(p, b, n);
	}
	return nb;
}

const char *feat_set_list(void)
{
	return "fraud-v1";
}

struct feat *feat_new(const char *name, int64_t max_delay, int64_t ttl)
{
	struct feat *f;

	if (strcmp(name, "fraud-v1") != 0)
		return NULL;
	f = fs_xcalloc(1, sizeof(*f));
	f->max_delay = max_delay;
	f->ttl = ttl;
	f->max_ts = W_TIME_MIN;
	f->next_sweep = W_TIME_MIN;
	f->free = W_NONE;
	/*
	 * Start at a size that costs a few huge pages (1 MiB each), not at
	 * the smallest: the first 100k events of a stream are mostly new
	 * accounts, and growing through a dozen small tables one 4 KiB page
	 * fault at a time held the first events back by 20 ms.
	 */
	ktab_init(&f->ids, ACC_FIRST * 4);
	return f;
}

unsigned feat_ncols(const struct feat *f)
{
	(void)f;
	return F_N;
}

const char *const *feat_names(const struct feat *f)
{
	(void)f;
	return fraud_v1;
}

uint64_t feat_keys(const struct feat *f)
{
	return f->live;
}

uint64_t feat_expired(const struct feat *f)
{
	return f->expired;
}

/* ---- devices: a capped set ---- */

static void dev_put(uint64_t *t, uint32_t cap, uint64_t h)
{
	uint32_t i = (uint32_t)h & (cap - 1);

	while (t[i])
		i = (i + 1) & (cap - 1);
	t[i] = h;
}

/* Note device v; returns 1 when it was not in the set before. */
static int dev_add(struct pool *p, struct acct *a, uint64_t v)
{
	uint64_t h = w_mix64(v), *t;
	uint32_t i, nc;

	if (!h) {
		int was = a->dzero;

		a->dzero = 1;
		return !was;
	}
	if (a->dev)
		for (i = (uint32_t)h & (a->dcap - 1u); a->dev[i];
		     i = (i + 1) & (a->dcap - 1u))
			if (a->dev[i] == h)
				return 0;
	if (a->dn >= DEV_CAP)
		return 1;
	if ((a->dn + 1u) * 2 > a->dcap) {
		nc = a->dcap ? a->dcap * 2u : 4;
		t = pool_get(p, nc * sizeof(*t));
		memset(t, 0, nc * sizeof(*t));
		for (i = 0; i < a->dcap; i++)
			if (a->dev[i])
				dev_put(t, nc, a->dev[i]);
		pool_put(p, a->dev, a->dcap * sizeof(*t));
		a->dev = t;
		a->dcap = (uint16_t)nc;
	}
	dev_put(a->dev, a->dcap, h);
	a->dn++;
	return 1;
}

/* ---- merchants: seen ever, and counted in the 1h and 24h windows ---- */

/* The slot of mixed id h in the merchant table, or M_NONE. */
static uint32_t m_find(const struct acct *a, uint64_t h)
{
	uint32_t m = a->mcap - 1u, i;

	if (!a->mt)
		return M_NONE;
	for (i = (uint32_t)h & m; a->mt[i].h; i = (i + 1) & m)
		if (a->mt[i].h == h)
			return i;
	return M_NONE;
}

/* The window counters of a history entry's merchant, or NULL. */
static inline uint16_t *m_counts(struct acct *a, const struct hent *e)
{
	if (e->mi == M_ZERO)
		return a->zc;
	return e->mi == M_NONE ? NULL : a->mt[e->mi].c;
}

/* Point the history's entries at merchant slot from to slot to. */
static void m_moved(struct acct *a, const uint16_t *remap, uint32_t from,
		    uint32_t to)
{
	for (uint32_t k = a->lo; k < a->hi; k++) {
		uint16_t mi = a->h[k].mi;

		if (mi >= M_NONE)
			continue;
		if (remap)
			a->h[k].mi = remap[mi];
		else if (mi == from)
			a->h[k].mi = (uint16_t)to;
	}
}

static uint32_t m_put(struct ment *t, uint32_t cap, const struct ment *e)
{
	uint32_t i = (uint32_t)e->h & (cap - 1);

	while (t[i].h)
		i = (i + 1) & (cap - 1);
	t[i] = *e;
	return i;
}

/* Double the merchant table; the history follows the new slots. */
static void m_grow(struct feat *f, struct acct *a)
{
	uint32_t nc = a->mcap ? a->mcap * 2u : 8;
	struct ment *t = pool_get(&f->pool, nc * sizeof(*t));

	memset(t, 0, nc * sizeof(*t));
	for (uint32_t i = 0; i < a->mcap; i++)
		if (a->mt[i].h)
			f->remap[i] = (uint16_t)m_put(t, nc, &a->mt[i]);
	if (a->mcap)
		m_moved(a, f->remap, 0, 0);
	pool_put(&f->pool, a->mt, a->mcap * sizeof(*t));
	a->mt = t;
	a->mcap = (uint16_t)nc;
}

/*
 * At the cap: forget a merchant with no events in the windows (backward
 * shift deletion).  Returns 0 when every merchant held has some.
 */
static int m_evict(struct acct *a)
{
	uint32_t m = a->mcap - 1u, i, j, h;

	for (i = 0; i <= m; i++)
		if (a->mt[i].h && !a->mt[i].c[0] && !a->mt[i].c[1])
			break;
	if (i > m)
		return 0;
	m_moved(a, NULL, i, M_NONE);	/* history outside the windows */
	for (j = (i + 1) & m; a->mt[j].h; j = (j + 1) & m) {
		h = (uint32_t)a->mt[j].h & m;
		if ((j > i && (h <= i || h > j)) ||
		    (j < i && h <= i && h > j)) {
			a->mt[i] = a->mt[j];
			m_moved(a, NULL, j, i);
			i = j;
		}
	}
	a->mt[i].h = 0;
	a->mn--;
	return 1;
}

/*
 * Note merchant v; *mi gets its slot (M_ZERO, M_NONE past the cap).
 * Returns 1 when it was not held before.
 */
static int m_add(struct feat *f, struct acct *a, uint64_t v, uint16_t *mi)
{
	struct ment e = { w_mix64(v), { 0, 0 }, 0 };
	uint32_t i;

	if (!e.h) {
		int was = a->mzero;

		a->mzero = 1;
		*mi = M_ZERO;
		return !was;
	}
	if ((i = m_find(a, e.h)) != M_NONE) {
		*mi = (uint16_t)i;
		return 0;
	}
	*mi = M_NONE;
	if (a->mn >= MERCH_CAP && !m_evict(a))
		return 1;
	if ((a->mn + 1u) * 2 > a->mcap)
		m_grow(f, a);
	*mi = (uint16_t)m_put(a->mt, a->mcap, &e);
	a->mn++;
	return 1;
}

/* ---- countries: a short list ---- */

/*
 * Note country code; *ci gets its index (C_NONE past the cap).
 * Returns 1 when it was not held before.
 */
static int c_add(struct pool *p, struct acct *a, uint32_t code,
		 uint8_t *ci)
{
	for (uint32_t i = 0; i < a->ncty; i++)
		if (a->cty[i].code == code) {
			*ci = (uint8_t)i;
			return 0;
		}
	*ci = C_NONE;
	if (a->ncty == CTRY_CAP)
		return 1;
	if (a->ncty == a->capcty) {
		a->cty = pool_grow(p, a->cty, a->capcty * sizeof(*a->cty),
				   2 * sizeof(*a->cty));
		a->capcty = a->capcty ? a->capcty * 2 : 2;
	}
	a->cty[a->ncty].code = code;
	a->cty[a->ncty].c[0] = a->cty[a->ncty].c[1] = 0;
	*ci = (uint8_t)a->ncty++;
	return 1;
}

/* ---- the windows ---- */

/* Count event e into window k (sign 1) or out of it (sign -1). */
static void win_count(struct acct *a, int k, const struct hent *e,
		      int sign)
{
	uint16_t *mc;
	struct cent *c;
	int j = k - 1;

	a->wn[k] = (uint16_t)(a->wn[k] + sign);
	wsum_add(a, k, e->amount, sign);
	if (k == W1M)
		return;
	mc = m_counts(a, e);
	c = e->ci == C_NONE ? NULL : &a->cty[e->ci];
	if (sign > 0) {
		if (mc && mc[j]++ == 0)
			a->dm[j]++;
		if (c && c->c[j]++ == 0)
			a->dc[j]++;
		return;
	}
	if (mc && mc[j] && --mc[j] == 0)
		a->dm[j]--;
	if (c && c->c[j] && --c->c[j] == 0)
		a->dc[j]--;
}

/* Move the windows' starts to a newest event at t. */
static void slide(struct acct *a, int64_t t)
{
	for (int k = 0; k < NWIN; k++) {
		int64_t cut = t - win_len[k];

		while (a->wlp[k] < a->hi && a->h[a->wlp[k]].ts <= cut) {
			win_count(a, k, &a->h[a->wlp[k]], -1);
			a->wlp[k]++;
		}
	}
}

/* Forget the oldest event of the history. */
static void drop_oldest(struct acct *a)
{
	for (int k = 0; k < NWIN; k++)
		if (a->wlp[k] == a->lo) {
			win_count(a, k, &a->h[a->lo], -1);
			a->wlp[k]++;
		}
	a->evicted_max = a->h[a->lo++].ts;
}

static void acct_release(struct pool *p, struct acct *a)
{
	pool_put(p, a->h, a->cap * sizeof(*a->h));
	pool_put(p, a->cty, a->capcty * sizeof(*a->cty));
	pool_put(p, a->mt, a->mcap * sizeof(*a->mt));
	pool_put(p, a->dev, a->dcap * sizeof(*a->dev));
}

/* A fresh state for account id in a (memory already released). */
static void acct_init(struct acct *a, uint64_t id)
{
	uint32_t nf = a->next_free;

	memset(a, 0, sizeof(*a));
	a->next_free = nf;
	a->id = id;
	a->last_ts = a->evicted_max = W_TIME_MIN;
	a->live = 1;
}

/* A free account slot: the free list's first, or a new one. */
static uint32_t acct_slot(struct feat *f)
{
	uint32_t i;

	if (f->free != W_NONE) {
		i = f->free;
		f->free = acct_at(f, i)->next_free;
		return i;
	}
	if (f->nacc == f->nseg * ACC_SEG) {	/* a new segment */
		f->seg = fs_xrealloc(f->seg, (f->nseg + 1) * sizeof(*f->seg));
		f->seg[f->nseg++] = fs_big_alloc(ACC_SEG *
						 sizeof(struct acct));
	}
	if ((f->nacc & (ACC_SEG - 1)) == ACC_SEG / 2)
		fs_big_want(ACC_SEG * sizeof(struct acct));
	return f->nacc++;
}

static struct acct *get_acct(struct feat *f, uint64_t id)
{
	int isnew;
	uint32_t *v = ktab_put(&f->ids, id, &isnew), i;

	if (!isnew)
		return acct_at(f, *v);
	i = acct_slot(f);
	*v = i;
	acct_init(acct_at(f, i), id);
	f->live++;
	return acct_at(f, i);
}

/* Forget accounts quiet long enough that any new event resets them. */
static void sweep(struct feat *f)
{
	int64_t cut = w_sat_add(w_sat_add(f->max_ts, -f->max_delay), -f->ttl);

	for (uint32_t i = 0; i < f->nacc; i++) {
		struct acct *a = acct_at(f, i);

		if (!a->live || a->last_ts > cut)
			continue;
		ktab_del(&f->ids, a->id);
		acct_release(&f->pool, a);
		a->live = 0;
		a->next_free = f->free;
		f->free = i;
		f->live--;
		f->expired++;
	}
	f->next_sweep = w_sat_add(f->max_ts, f->ttl / 4 + 1);
}

/* Double the history's block; its capacity is what fits in it. */
static void hist_grow(struct pool *p, struct acct *a)
{
	size_t ob = a->cap * sizeof(*a->h), nb = 256, ncap;
	struct hent *nh;

	if (ob)
		nb = ((size_t)16 << pool_class(ob)) * 2;
	nh = pool_get(p, nb);
	if (ob) {
		memcpy(nh, a->h, a->hi * sizeof(*a->h));
		pool_put(p, a->h, ob);
	}
	ncap = nb / sizeof(*a->h);
	a->h = nh;
	a->cap = (uint16_t)(ncap < HIST_CAP ? ncap : HIST_CAP);
}

/* Drop history no later event can see; make room for one more. */
static void hist_trim(struct pool *p, struct acct *a, int64_t newest,
		      int64_t max_delay)
{
	int64_t horizon = w_sat_add(w_sat_add(newest, -W_24H), -max_delay);

	while (a->lo < a->hi && a->h[a->lo].ts <= horizon)
		drop_oldest(a);
	if (a->hi < a->cap)
		return;
	if (a->lo == 0 && a->cap == HIST_CAP)
		drop_oldest(a);		/* over the cap */
	if ((a->cap && a->lo >= a->cap / 4) || a->cap == HIST_CAP) {
		memmove(a->h, a->h + a->lo, (a->hi - a->lo) * sizeof(*a->h));
		a->hi -= a->lo;
		for (int k = 0; k < NWIN; k++)
			a->wlp[k] -= a->lo;
		a->lo = 0;
		return;
	}
	hist_grow(p, a);
}

/* Insert v into the scratch set; 1 when new in this generation. */
static inline int gset_add(struct gset *g, uint32_t size, uint32_t gen,
			   uint64_t v)
{
	uint32_t i = (uint32_t)w_mix64(v) & (size - 1);

	while (g[i].gen == gen) {
		if (g[i].v == v)
			return 0;
		i = (i + 1) & (size - 1);
	}
	g[i].gen = gen;
	g[i].v = v;
	return 1;
}

/* Window counts, sums and distinct counts over H_1m, H_1h, H_24h. */
static void scan(struct feat *f, const struct acct *a, uint32_t p,
		 int64_t t, float *out)
{
	w_i128 s1m = 0, s1h = 0, s24 = 0;
	uint32_t c1m = 0, c1h = 0, c24 = 0, dm = 0, dc = 0, dm1h = 0, dc1h = 0;
	uint32_t gen, msize = 16, csize;

	while (msize < 2u * (p - a->lo))
		msize *= 2;
	csize = msize < GC_SIZE ? msize : GC_SIZE;
	if (++f->gen == 0) {
		memset(f->gm, 0, sizeof(f->gm));
		memset(f->gc, 0, sizeof(f->gc));
		f->gen = 1;
	}
	gen = f->gen;
	for (uint32_t k = p; k-- > a->lo;) {
		const struct hent *e = &a->h[k];
		int64_t d = t - e->ts;

		if (d >= W_24H)
			break;
		if (d < W_1H) {
			c1h++;
			s1h += e->amount;
			if (d < W_1M) {
				c1m++;
				s1m += e->amount;
			}
		}
		c24++;
		s24 += e->amount;
		/* forgotten merchants and countries past the cap: uncounted,
		 * as in the windows */
		if (e->mi != M_NONE)
			dm += gset_add(f->gm, msize, gen, e->mi);
		if (e->ci != C_NONE)
			dc += gset_add(f->gc, csize, gen, e->ci);
		if (d < W_1H) {
			dm1h = dm;
			dc1h = dc;
		}
	}
	out[F_CNT_1M] = (float)c1m;
	out[F_CNT_1H] = (float)c1h;
	out[F_CNT_24H] = (float)c24;
	out[F_SUM_1M] = money_f32(s1m);
	out[F_SUM_1H] = money_f32(s1h);
	out[F_SUM_24H] = money_f32(s24);
	out[F_DM_1H] = (float)dm1h;
	out[F_DM_24H] = (float)dm;
	out[F_DC_1H] = (float)dc1h;
	out[F_DC_24H] = (float)dc;
}

/* The z-score of x against H, then x joins the running statistics. */
static float zscore(struct acct *a, double x)
{
	double z = NAN, d;

	if (a->n >= 2 && a->m2 > 0)
		z = (x - a->mean) / sqrt(a->m2 / (double)(a->n - 1));
	a->n++;
	d = x - a->mean;
	a->mean += d / (double)a->n;
	a->m2 += d * (x - a->mean);
	return (float)z;
}

/* The window features of an event in time order, from the cursors. */
static void from_windows(const struct acct *a, float *out)
{
	out[F_CNT_1M] = a->wn[W1M];
	out[F_CNT_1H] = a->wn[W1H];
	out[F_CNT_24H] = a->wn[W24H];
	out[F_SUM_1M] = money_f32(wsum_get(a, W1M));
	out[F_SUM_1H] = money_f32(wsum_get(a, W1H));
	out[F_SUM_24H] = money_f32(wsum_get(a, W24H));
	out[F_DM_1H] = a->dm[0];
	out[F_DM_24H] = a->dm[1];
	out[F_DC_1H] = a->dc[0];
	out[F_DC_24H] = a->dc[1];
}

/* Put the event into the history at p and into the windows it is in. */
static void hist_insert(struct acct *a, uint32_t p, int64_t newest,
			const struct hent *ev)
{
	memmove(a->h + p + 1, a->h + p, (a->hi - p) * sizeof(*a->h));
	a->hi++;
	a->h[p] = *ev;
	for (int k = 0; k < NWIN; k++) {
		if (ev->ts > newest - win_len[k])
			win_count(a, k, &a->h[p], 1);
		else
			a->wlp[k]++;
	}
}

void feat_txn(struct feat *f, const struct fs_hdr *h, float *out)
{
	const struct fs_txn *x = fs_body(h);
	int64_t t = h->ts_event, hour = w_floor_div(t, W_1H) % 24, newest;
	double amt = (double)x->amount / (double)FS_FIX_SCALE;
	struct acct *a = get_acct(f, x->account);
	struct hent ev = { t, x->amount, 0, 0, { 0 } };
	uint32_t cty;
	uint32_t p;
	int inorder;

	if (f->ttl && a->last_ts != W_TIME_MIN &&
	    w_sat_add(t, -a->last_ts) >= f->ttl) {
		acct_release(&f->pool, a);	/* quiet for --state-ttl */
		acct_init(a, x->account);
		f->expired++;
	}
	inorder = t >= a->last_ts;
	newest = inorder ? t : a->last_ts;
	if (inorder)
		slide(a, t);
	hist_trim(&f->pool, a, newest, f->max_delay);
	for (p = a->hi; p > a->lo && a->h[p - 1].ts > t; p--)
		;
	if (inorder)
		from_windows(a, out);
	else
		scan(f, a, p, t, out);
	out[F_AMOUNT] = (float)amt;
	out[F_MCC] = x->mcc;
	out[F_CHANNEL] = x->channel;
	out[F_HOUR] = (float)(hour < 0 ? hour + 24 : hour);
	out[F_ZSCORE] = zscore(a, amt);
	out[F_SINCE_PREV] = p > a->lo ? (float)((double)(t - a->h[p - 1].ts)
						/ NS_S) :
		a->evicted_max != W_TIME_MIN && a->evicted_max <= t ?
		(float)((double)(t - a->evicted_max) / NS_S) : NAN;
	memcpy(&cty, x->country, 4);
	out[F_MERCH_NEW] = (float)m_add(f, a, x->merchant, &ev.mi);
	out[F_CTRY_NEW] = (float)c_add(&f->pool, a, cty, &ev.ci);
	out[F_DEV_NEW] = (float)dev_add(&f->pool, a, x->device);
	out[F_LABEL] = x->label;
	hist_insert(a, p, newest, &ev);
	a->last_ts = newest;
	if (t > f->max_ts)
		f->max_ts = t;
	if (f->ttl && f->max_ts >= f->next_sweep)
		sweep(f);
}

void feat_prefetch(const struct feat *f, const struct fs_hdr *h,
		   int stage)
{
	const struct fs_txn *x = fs_body(h);
	const struct acct *a;
	uint32_t i;

	if (stage == 0) {
		ktab_prefetch(&f->ids, x->account);
		return;
	}
	i = ktab_get(&f->ids, x->account);
	if (i == W_NONE)
		return;
	a = acct_at(f, i);
	if (stage == 1) {
		for (size_t o = 0; o < sizeof(*a); o += 64)
			__builtin_prefetch((const char *)a + o);
		__builtin_prefetch((const char *)(a + 1) - 1);
		return;
	}
	if (a->hi) {
		__builtin_prefetch(&a->h[a->hi - 1]);
		for (int k = 0; k < NWIN; k++)
			__builtin_prefetch(&a->h[a->wlp[k]]);
	}
	if (a->cty)
		__builtin_prefetch(a->cty);
	if (a->mt)
		__builtin_prefetch(&a->mt[w_mix64(x->merchant) &
					  (a->mcap - 1u)]);
	if (a->dev)
		__builtin_prefetch(&a->dev[w_mix64(x->device) &
					   (a->dcap - 1u)]);
}

void feat_free(struct feat *f)
{
	if (!f)
		return;
	pool_free(&f->pool);
	for (uint32_t k = 0; k < f->nseg; k++)
		fs_big_free(f->seg[k], ACC_SEG * sizeof(struct acct));
	free(f->seg);
	ktab_free(&f->ids);
	free(f);
}

/* ---- snapshots (snap.c) ---- */

/*
 * Every account slot in index order (free ones as their id, a 0 live
 * flag and their free-list link), each live one as struct acct with its
 * pointers written as 0, then its history [lo, hi), country list,
 * merchant table and device set as laid out.  Account indices, table
 * slots and history positions are kept, so hash-table order, cap
 * evictions and history compaction go on as they would have.
 */
/* A live account's state, its tables after it (pointers written 0). */
static void acct_save(struct sbuf *b, const struct acct *p)
{
	struct acct a = *p;

	a.h = NULL;
	a.cty = NULL;
	a.mt = NULL;
	a.dev = NULL;
	sb_put(b, &a, sizeof(a));
	sb_put(b, p->h + p->lo, (size_t)(p->hi - p->lo) * sizeof(*p->h));
	sb_put(b, p->cty, (size_t)p->ncty * sizeof(*p->cty));
	sb_put(b, p->mt, (size_t)p->mcap * sizeof(*p->mt));
	sb_put(b, p->dev, (size_t)p->dcap * sizeof(*p->dev));
}

void feat_save(const struct feat *f, struct sbuf *b)
{
	sb_i64(b, f->max_ts);
	sb_i64(b, f->next_sweep);
	sb_u32(b, f->nacc);
	sb_u32(b, f->free);
	sb_u64(b, f->live);
	sb_u64(b, f->expired);
	for (uint32_t i = 0; i < f->nacc; i++) {
		const struct acct *a = acct_at(f, i);

		sb_u8(b, a->live);
		if (!a->live) {
			sb_u64(b, a->id);
			sb_u32(b, a->next_free);
			continue;
		}
		acct_save(b, a);
	}
}

/* A pool block for n bytes of a table at its capacity, or NULL. */
static void *load_block(struct feat *f, struct srd *r, size_t cap_bytes,
			size_t off, size_t n)
{
	char *p;

	if (!cap_bytes)
		return NULL;
	if (cap_bytes > POOL_BLOCK_MAX || off + n > cap_bytes ||
	    n > r->n - r->off) {
		sr_fail(r, "bad account table");
		return NULL;
	}
	p = pool_get(&f->pool, (size_t)16 << pool_class(cap_bytes));
	sr_get(r, p + off, n);
	return p;
}

/* Account i's state as acct_save wrote it, indexed by its id. */
static int acct_load(struct feat *f, struct srd *r, uint32_t i)
{
	struct acct *a = acct_at(f, i);
	int isnew;

	sr_get(r, a, sizeof(*a));
	a->h = NULL;
	a->cty = NULL;
	a->mt = NULL;
	a->dev = NULL;
	if (!a->live || a->lo > a->hi || a->hi > a->cap ||
	    a->ncty > a->capcty || a->mn > a->mcap || a->dn > a->dcap ||
	    (a->mcap & (a->mcap - 1)) || (a->dcap & (a->dcap - 1))) {
		a->live = 0;
		return sr_fail(r, "bad account");
	}
	a->h = load_block(f, r, a->cap * sizeof(*a->h), a->lo * sizeof(*a->h),
			  (size_t)(a->hi - a->lo) * sizeof(*a->h));
	a->cty = load_block(f, r, a->capcty * sizeof(*a->cty), 0,
			    a->ncty * sizeof(*a->cty));
	a->mt = load_block(f, r, a->mcap * sizeof(*a->mt), 0,
			   a->mcap * sizeof(*a->mt));
	a->dev = load_block(f, r, a->dcap * sizeof(*a->dev), 0,
			    a->dcap * sizeof(*a->dev));
	*ktab_put(&f->ids, a->id, &isnew) = i;
	if (!isnew)
		return sr_fail(r, "an account twice");
	return 0;
}

int feat_load(struct feat *f, struct srd *r)
{
	uint32_t nacc;

	f->max_ts = sr_i64(r);
	f->next_sweep = sr_i64(r);
	nacc = sr_u32(r);
	f->free = sr_u32(r);
	f->live = sr_u64(r);
	f->expired = sr_u64(r);
	if (nacc > r->n - r->off || (f->free != W_NONE && f->free >= nacc))
		return sr_fail(r, "bad account count");
	for (uint32_t i = 0; i < nacc && !r->bad; i++) {
		struct acct *a;
		uint32_t free = f->free;

		f->free = W_NONE;	/* append */
		a = acct_at(f, acct_slot(f));
		f->free = free;
		memset(a, 0, sizeof(*a));
		if (!sr_u8(r)) {
			a->id = sr_u64(r);
			a->next_free = sr_u32(r);
			continue;
		}
		if (acct_load(f, r, i) < 0)
			return -1;
	}
	return r->bad ? -1 : 0;
}

void feat_save_ctx(const struct feat *f, struct sbuf *b)
{
	sb_i64(b, f->max_ts);
	sb_i64(b, f->next_sweep);
	sb_u64(b, f->expired);
}

void feat_save_groups(const struct feat *f, struct sbuf *bufs, int32_t n)
{
	uint32_t *cnt = fs_xcalloc((size_t)n, sizeof(*cnt));
	size_t *at = fs_xcalloc((size_t)n, sizeof(*at));

	for (int32_t g = 0; g < n; g++) {
		at[g] = bufs[g].n;
		sb_u32(&bufs[g], 0);	/* the count, filled in below */
	}
	for (uint32_t i = 0; i < f->nacc; i++) {
		const struct acct *a = acct_at(f, i);
		int32_t g;

		if (!a->live)
			continue;
		g = fs_key_group(a->id, n);
		acct_save(&bufs[g], a);
		cnt[g]++;
	}
	for (int32_t g = 0; g < n; g++)
		memcpy(bufs[g].p + at[g], &cnt[g], sizeof(cnt[g]));
	free(cnt);
	free(at);
}

void feat_load_ctx(struct feat *f, struct srd *r, int first)
{
	int64_t max_ts = sr_i64(r), next_sweep = sr_i64(r);
	uint64_t expired = sr_u64(r);

	if (first || max_ts > f->max_ts)
		f->max_ts = max_ts;
	if (first || next_sweep < f->next_sweep)
		f->next_sweep = next_sweep;
	f->expired += expired;
}

int feat_load_group(struct feat *f, struct srd *r)
{
	uint32_t n = sr_u32(r);

	if (n > r->n - r->off)
		return sr_fail(r, "bad account count");
	for (uint32_t k = 0; k < n && !r->bad; k++) {
		uint32_t i = acct_slot(f);

		memset(acct_at(f, i), 0, sizeof(struct acct));
		if (acct_load(f, r, i) < 0)
			return -1;
		f->live++;
	}
	return r->bad ? -1 : 0;
}
