/*
 * fs-gen - seeded synthetic record streams: card transactions with
 * injected fraud, trades, quotes, order-book updates, positions and
 * one-minute bars.
 *
 * Everything but ts_ingest follows from the options and --seed, so one
 * command gives the same bytes every time (all of them with
 * --fixed-ingest).  The hot path is integer math and table lookups: one
 * fast PRNG (wyrand), inverse-CDF tables built once at start, frames
 * written in place with fs_write_reserve(), the clock read once per
 * block of records.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

#define NS 1000000000LL
#define TAB_BITS 12
#define TAB_N (1u << TAB_BITS)
#define TICK (FS_FIX_SCALE / 100)	/* 0.01 in fixed 8 */
#define CENT (FS_FIX_SCALE / 100)
#define BLOCK 1024			/* records between clock reads */
#define ACCT_BASE 10000000ULL		/* account ids: ACCT_BASE + rank */
#define MERCH_BASE 50000000ULL		/* merchant ids */
#define PORT_BASE 100000ULL		/* portfolio ids */
#define BOOK_CAP 32			/* live orders per symbol */
#define BOOK_MIN 8
#define POS_SLOTS 8			/* holdings per portfolio */
#define HEAP_MAX (1u << 22)		/* pending fraud events */
#define SYM_MAX 1000000

enum kind { K_TXN, K_TRADE, K_QUOTE, K_BOOK, K_POSITION, K_BAR, K_ORDER };
static const char *const kind_names[] = {
	"txn", "trade", "quote", "book", "position", "bar", "order", NULL
};

/* ---- random numbers and tables ---- */

/* wyrand: one 64-bit output per call, 2^64 period. */
static inline uint64_t rnd(uint64_t *s)
{
	__uint128_t m;

	*s += 0xa0761d6478bd642fULL;
	m = (__uint128_t)*s * (*s ^ 0xe7037ed1a0b428dbULL);
	return (uint64_t)(m >> 64) ^ (uint64_t)m;
}

/* A uniform integer in [0, n) from the high bits of r (no division). */
static inline uint64_t below(uint64_t r, uint64_t n)
{
	return (uint64_t)(((__uint128_t)r * n) >> 64);
}

/* splitmix64's finalizer: stateless attributes of an id. */
static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * Inverse-CDF tables, TAB_N + 1 points, read with linear interpolation
 * by tab_at(): exp_tab is Exp(1) in Q16, amt_tab and acct_tab are
 * log-normal multipliers (median 1) in Q16; zipf_tab (u^1.6) and
 * party_tab (u^1.3, milder: the busiest of 10000 accounts is about 8
 * times as busy as the average one) in Q31.
 */
static uint32_t exp_tab[TAB_N + 1], amt_tab[TAB_N + 1];
static uint32_t acct_tab[TAB_N + 1], zipf_tab[TAB_N + 1];
static uint32_t party_tab[TAB_N + 1];

/* Table value at the quantile given by the high 28 bits of r. */
static inline uint32_t tab_at(const uint32_t *t, uint64_t r)
{
	uint32_t i = (uint32_t)(r >> (64 - TAB_BITS));
	uint32_t f = (uint32_t)(r >> (48 - TAB_BITS)) & 0xffff;

	return t[i] + (uint32_t)(((uint64_t)(t[i + 1] - t[i]) * f) >> 16);
}

/* Zipf-like rank in [0, n) from table t: low ranks are the busy ones. */
static inline uint64_t rank_in(const uint32_t *t, uint64_t r, uint64_t n)
{
	uint64_t k = ((uint64_t)tab_at(t, r) * n) >> 31;

	return k < n ? k : n - 1;
}

/* Standard normal quantile by bisection on erfc (start-up only). */
static double norm_quantile(double p)
{
	double lo = -9, hi = 9;

	for (int i = 0; i < 40; i++) {
		double mid = (lo + hi) / 2;

		if (0.5 * erfc(-mid / M_SQRT2) < p)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

static void build_tables(void)
{
	for (unsigned i = 0; i <= TAB_N; i++) {
		double u = (double)i / TAB_N, z;

		if (u < 0.5 / TAB_N)
			u = 0.5 / TAB_N;
		if (u > 1 - 0.5 / TAB_N)
			u = 1 - 0.5 / TAB_N;
		z = norm_quantile(u);
		exp_tab[i] = (uint32_t)(-log1p(-u) * 65536);
		amt_tab[i] = (uint32_t)(exp(0.95 * z) * 65536);
		acct_tab[i] = (uint32_t)(exp(0.8 * z) * 65536);
		zipf_tab[i] = (uint32_t)(pow((double)i / TAB_N, 1.6) *
					 2147483648.0);
		party_tab[i] = (uint32_t)(pow((double)i / TAB_N, 1.3) *
					  2147483648.0);
	}
}

/* ---- reference data for transactions ---- */

enum { R_NA, R_SA, R_EU, R_AS, R_OC, R_AF, R_ME };

struct country {
	char code[4], cur[4];
	uint8_t region;
	uint16_t weight;
	uint32_t fx;		/* units per USD, Q8 */
};

static const struct country countries[] = {
	{ "US", "USD", R_NA, 420, 256 },   { "CA", "CAD", R_NA, 40, 348 },
	{ "MX", "MXN", R_NA, 30, 4352 },   { "BR", "BRL", R_SA, 30, 1280 },
	{ "CL", "CLP", R_SA, 8, 235520 },  { "GB", "GBP", R_EU, 60, 202 },
	{ "DE", "EUR", R_EU, 60, 236 },    { "FR", "EUR", R_EU, 50, 236 },
	{ "ES", "EUR", R_EU, 30, 236 },    { "IT", "EUR", R_EU, 30, 236 },
	{ "NL", "EUR", R_EU, 20, 236 },    { "PL", "PLN", R_EU, 15, 1024 },
	{ "SE", "SEK", R_EU, 10, 2688 },   { "CH", "CHF", R_EU, 10, 228 },
	{ "IN", "INR", R_AS, 40, 21248 },  { "SG", "SGD", R_AS, 10, 345 },
	{ "JP", "JPY", R_AS, 40, 38400 },  { "KR", "KRW", R_AS, 15, 345600 },
	{ "AU", "AUD", R_OC, 20, 389 },    { "NZ", "NZD", R_OC, 5, 422 },
	{ "ZA", "ZAR", R_AF, 8, 4736 },    { "NG", "NGN", R_AF, 5, 384000 },
	{ "AE", "AED", R_ME, 8, 940 },
};
#define NCOUNTRY (sizeof(countries) / sizeof(countries[0]))

enum { C_STORE, C_ONLINE, C_ATM, C_APP };

struct mcc {
	uint16_t code, weight;
	uint16_t amt;		/* amount factor, Q8 */
	uint8_t cls;		/* C_*: how it is paid */
};

static const struct mcc mccs[] = {
	{ 5411, 180, 410, C_STORE },	/* grocery */
	{ 5812, 110, 333, C_STORE },	/* restaurants */
	{ 5814, 120, 90, C_STORE },	/* fast food */
	{ 5541, 80, 307, C_STORE },	/* fuel */
	{ 5912, 50, 205, C_STORE },	/* pharmacy */
	{ 5311, 45, 512, C_STORE },	/* department stores */
	{ 5691, 45, 460, C_STORE },	/* clothing */
	{ 5999, 60, 256, C_STORE },	/* misc retail */
	{ 5732, 25, 1024, C_STORE },	/* electronics */
	{ 5944, 5, 2048, C_STORE },	/* jewelry */
	{ 4121, 60, 180, C_APP },	/* taxi, ride share */
	{ 5815, 60, 77, C_ONLINE },	/* digital goods */
	{ 4829, 15, 1280, C_ONLINE },	/* money transfer */
	{ 4511, 10, 2560, C_ONLINE },	/* airlines */
	{ 7011, 15, 1536, C_STORE },	/* hotels */
	{ 6011, 40, 768, C_ATM },	/* cash withdrawal */
};
#define NMCC (sizeof(mccs) / sizeof(mccs[0]))
enum { M_MISC = 7, M_ELECTRONICS = 8, M_JEWELRY = 9, M_DIGITAL = 11,
       M_TRANSFER = 12, M_ATM = 15 };

/* Channel by payment class, picked by 4 random bits. */
static const uint8_t chan_pick[4][16] = {
	[C_STORE] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 1 },
	[C_ONLINE] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3 },
	[C_ATM] = { 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2 },
	[C_APP] = { 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1 },
};

static uint8_t country_pick[TAB_N], mcc_pick[TAB_N];

/* Fill a TAB_N-entry pick table from weights (start-up only). */
static void fill_pick(uint8_t *pick, const uint16_t *w, unsigned n)
{
	unsigned total = 0, acc = 0, j = 0;

	for (unsigned i = 0; i < n; i++)
		total += w[i];
	for (unsigned i = 0; i < TAB_N; i++) {
		while (j + 1 < n &&
		       (uint64_t)i * total >= (uint64_t)(acc + w[j]) * TAB_N)
			acc += w[j++];
		pick[i] = (uint8_t)j;
	}
}

static void build_picks(void)
{
	uint16_t w[32];

	for (unsigned i = 0; i < NCOUNTRY; i++)
		w[i] = countries[i].weight;
	fill_pick(country_pick, w, NCOUNTRY);
	for (unsigned i = 0; i < NMCC; i++)
		w[i] = mccs[i].weight;
	fill_pick(mcc_pick, w, NMCC);
}

/* ---- generator state ---- */

/* A pending (scheduled) fraud transaction. */
struct pend {
	int64_t t;
	uint64_t key;
	struct fs_txn b;
};

struct order {
	uint64_t id;
	int64_t price;		/* ticks */
	int64_t qty;
	char side;
};

struct sym {
	char code[12];
	uint64_t key;		/* fs_hash64 of the code */
	int64_t bid;		/* ticks: quote bid, trade and mark price */
	int64_t spread;		/* ticks */
	int64_t mid;		/* ticks: book reference */
	int64_t close;		/* ticks: last bar close */
	unsigned nlive;		/* book: live orders */
};

struct gen {
	enum kind kind;
	struct fs_writer *w;
	struct fs_metrics *metrics;
	uint64_t rng, salt;
	/* options */
	uint64_t left;		/* data records still to write */
	uint64_t keys, nsym, merchants;
	int64_t start, mean_dt, disorder, wm_iv, duration;
	double rate, event_rate, fraud_rate;
	int fixed_ingest;
	/* running state */
	int64_t t;		/* base event time, before disorder */
	int64_t next_wm;	/* next watermark boundary; INT64_MAX: none */
	int64_t now;		/* wall clock for ts_ingest, once per block */
	uint64_t seq, records;
	/* txn */
	uint64_t fraud_thr;
	int64_t next_normal;
	struct pend *heap;
	size_t nheap, capheap;
	/* markets */
	struct sym *syms;
	struct order *orders;
	int64_t *pos_delta;
	uint64_t trade_id, order_id, bar_i;
	struct fs_order last;	/* order: the last order, for its fill */
	int64_t last_mkt;	/* its market price (fixed 8) */
};

/*
 * Write the WATERMARK for the last boundary at or before base.  It says
 * boundary - disorder: every later record has a base time at or past
 * the boundary and is shifted back by at most the disorder, so none is
 * below it.
 */
static __attribute__((noinline)) void put_wm(struct gen *g, int64_t base)
{
	int64_t b = g->start + (base - g->start) / g->wm_iv * g->wm_iv;
	struct fs_hdr *h = fs_write_reserve(g->w, FS_T_WATERMARK, 0);

	h->flags = FS_F_CONTROL;
	h->ts_event = b - g->disorder;
	h->ts_ingest = g->fixed_ingest ? h->ts_event : g->now;
	h->seq = g->seq++;
	g->next_wm = b + g->wm_iv;
}

/*
 * Reserve the next data frame, base event time base (never less than
 * the last one's): a watermark first when base crossed a boundary, then
 * the header with --disorder applied.  Returns the frame to fill in.
 */
static inline struct fs_hdr *put(struct gen *g, unsigned type, size_t body,
				 int64_t base, uint64_t key)
{
	struct fs_hdr *h;
	int64_t ts = base, ti;
	uint64_t seq;

	if (base >= g->next_wm)
		put_wm(g, base);
	if (g->disorder)
		ts -= (int64_t)below(rnd(&g->rng), g->disorder + 1);
	ti = g->fixed_ingest ? ts : g->now;
	seq = g->seq++;
	h = fs_write_reserve(g->w, type, body);
	h->ts_event = ts;
	h->ts_ingest = ti;
	h->key = key;
	h->seq = seq;
	return h;
}

/* Advance the base event time by an exponential gap. */
static inline int64_t next_time(struct gen *g, int64_t t)
{
	uint64_t e = tab_at(exp_tab, rnd(&g->rng));

	return t + (int64_t)(((uint64_t)g->mean_dt * e) >> 16);
}

/* ---- transactions ---- */

/* What an account looks like, derived from its rank alone. */
struct acct {
	uint64_t rank, h;
	int64_t median;		/* typical amount, cents of USD */
	unsigned country;
};

static inline void acct_get(const struct gen *g, uint64_t rank,
			    struct acct *a)
{
	a->rank = rank;
	a->h = mix64(rank ^ g->salt);
	a->country = country_pick[a->h & (TAB_N - 1)];
	a->median = (2500 * (int64_t)acct_tab[(a->h >> 12) &
					       (TAB_N - 1)]) >> 16;
	if (a->median < 100)
		a->median = 100;
}

#define GOLDEN 0x9e3779b97f4a7c15ULL

/* The account's usual device number j (0 or 1). */
static inline uint64_t acct_device(const struct acct *a, unsigned j)
{
	return ((a->h >> 24 | a->h << 40) * (GOLDEN + 2 * j)) >> 16;
}

/* The account's usual merchant number j (0 to 7), an index. */
static inline uint64_t acct_merchant(const struct gen *g,
				     const struct acct *a, unsigned j)
{
	uint64_t x = (a->h >> (8 * j) | a->h << ((64 - 8 * j) & 63)) ^ GOLDEN;

	return below(x * (GOLDEN + 2 * j) ^ x, g->merchants);
}

/* Amount in fixed 8 from USD cents, in the country's currency. */
static inline int64_t money(int64_t cents, unsigned country)
{
	cents = (cents * (int64_t)countries[country].fx) >> 8;
	if (cents < 1)
		cents = 1;
	if (cents > 100000000000LL)
		cents = 100000000000LL;
	return cents * CENT;
}

static inline void set_place(struct fs_txn *b, unsigned country)
{
	memcpy(b->country, countries[country].code, 4);
	memcpy(b->currency, countries[country].cur, 4);
}

/* Merchant id and its category for merchant index m. */
static inline uint64_t merchant_id(const struct gen *g, uint64_t m,
				   unsigned *mcc)
{
	*mcc = mcc_pick[((m ^ g->salt) * GOLDEN) >> (64 - TAB_BITS)];
	return MERCH_BASE + m;
}

/*
 * Fill a normal transaction of account a: mostly one of its 8 usual
 * merchants and 2 devices, its home country, an amount log-normal
 * around its typical amount scaled by the merchant category.  r2's
 * low 32 bits are the caller's; its high bits draw the amount.
 */
static inline void txn_normal(struct gen *g, const struct acct *a,
			      struct fs_txn *b, int home_only, uint64_t r2)
{
	uint64_t r = rnd(&g->rng), m;
	unsigned mcc, country = a->country;
	int64_t cents;

	if ((r & 0xff) < 218)		/* 85%: a usual merchant */
		m = acct_merchant(g, a, (r >> 8) & 7);
	else
		m = rank_in(zipf_tab, r, g->merchants);
	b->account = ACCT_BASE + a->rank;
	b->merchant = merchant_id(g, m, &mcc);
	b->device = acct_device(a, (r >> 11) & 1);
	b->mcc = mccs[mcc].code;
	b->channel = chan_pick[mccs[mcc].cls][(r >> 12) & 15];
	b->label = 0;
	if (!home_only && ((r >> 16) & 511) == 0) {	/* travel nearby */
		unsigned c = (unsigned)below(rnd(&g->rng), NCOUNTRY);

		if (countries[c].region == countries[country].region)
			country = c;
	}
	cents = (a->median * (int64_t)tab_at(amt_tab, r2)) >> 16;
	cents = (cents * mccs[mcc].amt) >> 8;
	if (mccs[mcc].cls == C_ATM)
		cents = (cents / 2000 + 1) * 2000;
	b->amount = money(cents, country);
	set_place(b, country);
	memset(b->pad_, 0, sizeof(b->pad_));
}

/* Push a pending fraud event; drops it when the queue is full. */
static void heap_push(struct gen *g, int64_t t, const struct fs_txn *b)
{
	size_t i;

	if (g->nheap == g->capheap) {
		if (g->capheap >= HEAP_MAX)
			return;
		g->capheap = g->capheap ? g->capheap * 2 : 1024;
		g->heap = fs_xrealloc(g->heap, g->capheap * sizeof(*g->heap));
	}
	i = g->nheap++;
	while (i > 0 && g->heap[(i - 1) / 2].t > t) {
		g->heap[i] = g->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	g->heap[i].t = t;
	g->heap[i].key = b->account;
	g->heap[i].b = *b;
}

/* Remove the earliest pending event into *out. */
static void heap_pop(struct gen *g, struct pend *out)
{
	struct pend last;
	size_t i = 0, n;

	*out = g->heap[0];
	last = g->heap[--g->nheap];
	n = g->nheap;
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && g->heap[c + 1].t < g->heap[c].t)
			c++;
		if (g->heap[c].t >= last.t)
			break;
		g->heap[i] = g->heap[c];
		i = c;
	}
	if (n)
		g->heap[i] = last;
}

/* A random merchant of category mcc (any, after 1000 misses). */
static uint64_t merchant_of(struct gen *g, unsigned mcc)
{
	uint64_t m = 0;
	unsigned c;

	for (int i = 0; i < 1000; i++) {
		m = below(rnd(&g->rng), g->merchants);
		merchant_id(g, m, &c);
		if (c == mcc)
			break;
	}
	return MERCH_BASE + m;
}

/*
 * A fraudulent transaction of a: a new merchant of category mcc, cents
 * in USD (rounded to 20.00 at an ATM), in country's currency.
 */
static void fraud_txn(struct gen *g, const struct acct *a,
		      struct fs_txn *b, unsigned mcc, int64_t cents,
		      unsigned country, unsigned channel, uint64_t device)
{
	memset(b, 0, sizeof(*b));
	if (mccs[mcc].cls == C_ATM)
		cents = (cents / 2000 + 1) * 2000;
	b->account = ACCT_BASE + a->rank;
	b->merchant = merchant_of(g, mcc);
	b->device = device;
	b->mcc = mccs[mcc].code;
	b->channel = (uint8_t)channel;
	b->label = 1;
	b->amount = money(cents, country);
	set_place(b, country);
}

/* Amount of a typical purchase times a factor in [lo, hi) (Q0). */
static int64_t scaled(struct gen *g, const struct acct *a, int lo, int hi)
{
	int64_t f = lo * 256 + (int64_t)below(rnd(&g->rng),
					      (uint64_t)(hi - lo) * 256);

	return (a->median * f) >> 8;
}

/* A random new device id. */
static uint64_t new_device(struct gen *g)
{
	return rnd(&g->rng) & 0xffffffffffffULL;
}

/*
 * Card testing: 5-20 small amounts (0.50 to 4.99 USD) online at as many
 * new merchants from one new device within 20 to 90 seconds.
 */
static void fraud_card_test(struct gen *g, const struct acct *a,
			    int64_t t)
{
	unsigned k = 5 + (unsigned)below(rnd(&g->rng), 16);
	int64_t span = 20 * NS + (int64_t)below(rnd(&g->rng), 70 * NS);
	uint64_t dev = new_device(g);
	struct fs_txn b;

	for (unsigned i = 0; i < k; i++) {
		uint64_t e = tab_at(exp_tab, rnd(&g->rng));
		int64_t cents = 50 + (int64_t)below(rnd(&g->rng), 450);

		t += NS / 10 + (int64_t)(((uint64_t)(span / k) * e) >> 16);
		fraud_txn(g, a, &b, i & 1 ? M_DIGITAL : M_MISC, cents,
			  a->country, FS_CH_ONLINE, dev);
		heap_push(g, t, &b);
	}
}

/* Sudden large amount: 10-50x typical at an electronics or jewelry shop. */
static void fraud_big(struct gen *g, const struct acct *a, int64_t t)
{
	uint64_t r = rnd(&g->rng);
	struct fs_txn b;
	unsigned online = r & 1;

	fraud_txn(g, a, &b, (r >> 1) & 1 ? M_JEWELRY : M_ELECTRONICS,
		  scaled(g, a, 10, 50), a->country,
		  online ? FS_CH_ONLINE : FS_CH_POS,
		  online ? new_device(g) : acct_device(a, 0));
	heap_push(g, t + NS + (int64_t)below(r, 30 * NS), &b);
}

/* Many new merchants in minutes: 4-8 purchases of 2-6x within 2-8 min. */
static void fraud_many(struct gen *g, const struct acct *a, int64_t t)
{
	unsigned k = 4 + (unsigned)below(rnd(&g->rng), 5);
	int64_t span = 120 * NS + (int64_t)below(rnd(&g->rng), 360 * NS);
	uint64_t dev = new_device(g);
	struct fs_txn b;

	for (unsigned i = 0; i < k; i++) {
		unsigned mcc = mcc_pick[rnd(&g->rng) >> (64 - TAB_BITS)];

		if (mccs[mcc].cls == C_ATM)
			mcc = M_ELECTRONICS;
		t += NS + (int64_t)below(rnd(&g->rng), (uint64_t)span / k);
		fraud_txn(g, a, &b, mcc, scaled(g, a, 2, 6), a->country,
			  FS_CH_POS, dev);
		heap_push(g, t, &b);
	}
}

/*
 * Impossible travel: after the (genuine) home-country purchase the
 * caller emits now, 1-2 card-present purchases in another region
 * 2 to 15 minutes later.
 */
static void fraud_travel(struct gen *g, const struct acct *a, int64_t t)
{
	unsigned k = 1 + (rnd(&g->rng) & 1), c;
	struct fs_txn b;

	do
		c = country_pick[rnd(&g->rng) >> (64 - TAB_BITS)];
	while (countries[c].region == countries[a->country].region);
	t += 120 * NS + (int64_t)below(rnd(&g->rng), 780 * NS);
	for (unsigned i = 0; i < k; i++) {
		uint64_t r = rnd(&g->rng);

		fraud_txn(g, a, &b, r & 1 ? M_ATM : M_ELECTRONICS,
			  scaled(g, a, 1, 8), c,
			  r & 1 ? FS_CH_ATM : FS_CH_POS, new_device(g));
		heap_push(g, t, &b);
		t += 30 * NS + (int64_t)below(r, 300 * NS);
	}
}

/* New device: 1-3 transfers or digital purchases of 3-11x in minutes. */
static void fraud_device(struct gen *g, const struct acct *a, int64_t t)
{
	unsigned k = 1 + (unsigned)below(rnd(&g->rng), 3);
	uint64_t dev = new_device(g);
	struct fs_txn b;

	for (unsigned i = 0; i < k; i++) {
		uint64_t r = rnd(&g->rng);

		t += NS + (int64_t)below(r, 200 * NS);
		fraud_txn(g, a, &b, r & 1 ? M_TRANSFER : M_DIGITAL,
			  scaled(g, a, 3, 11), a->country,
			  (r >> 1) & 1 ? FS_CH_MOBILE : FS_CH_ONLINE, dev);
		heap_push(g, t, &b);
	}
}

/* Fraud patterns by sixteenths, and their mean number of fraud events. */
enum { P_TEST, P_BIG, P_MANY, P_TRAVEL, P_DEVICE };
static const uint8_t fraud_pick[16] = {
	P_TEST, P_TEST, P_TEST, P_TEST, P_TEST, P_BIG, P_BIG, P_BIG, P_BIG,
	P_MANY, P_MANY, P_MANY, P_TRAVEL, P_TRAVEL, P_DEVICE, P_DEVICE
};
static const double fraud_mean[] = { 12.5, 1, 6, 1.5, 2 };

/* Start a fraud episode on account a; returns 1 for a travel episode. */
static int fraud_start(struct gen *g, const struct acct *a, int64_t t)
{
	switch (fraud_pick[rnd(&g->rng) >> 60]) {
	case P_TEST:
		fraud_card_test(g, a, t);
		return 0;
	case P_BIG:
		fraud_big(g, a, t);
		return 0;
	case P_MANY:
		fraud_many(g, a, t);
		return 0;
	case P_TRAVEL:
		fraud_travel(g, a, t);
		return 1;
	default:
		fraud_device(g, a, t);
		return 0;
	}
}

/*
 * Write the next transaction: a due fraud event, else a normal one.
 * Three random draws per normal transaction: r1 gives the time gap
 * and the account, r2 the amount and the fraud coin, txn_normal the
 * rest.
 */
static inline void gen_txn(struct gen *g)
{
	struct fs_hdr *h;
	struct fs_txn b;
	struct acct a;
	uint64_t r1, r2;
	int home_only = 0;

	if (g->nheap && g->heap[0].t <= g->next_normal) {
		struct pend p;

		heap_pop(g, &p);
		if (p.t > g->t)
			g->t = p.t;
		h = put(g, FS_T_TXN, sizeof(struct fs_txn), g->t, p.key);
		memcpy(fs_body(h), &p.b, sizeof(p.b));
		return;
	}
	r1 = rnd(&g->rng);
	r2 = rnd(&g->rng);
	g->t = g->next_normal;
	g->next_normal += (int64_t)(((uint64_t)g->mean_dt *
				     tab_at(exp_tab, r1)) >> 16);
	acct_get(g, rank_in(party_tab, r1 << 32, g->keys), &a);
	if ((uint32_t)r2 < g->fraud_thr)
		home_only = fraud_start(g, &a, g->t);
	txn_normal(g, &a, &b, home_only, r2);
	h = put(g, FS_T_TXN, sizeof(struct fs_txn), g->t, b.account);
	memcpy(fs_body(h), &b, sizeof(b));
}

/* ---- markets ---- */

/* The i-th ticker: 4 letters, 5 past 26^4; a fixed scrambled bijection. */
static void sym_code(uint64_t i, char *code)
{
	uint64_t n = 456976, x;
	unsigned len = 4;

	if (i >= n) {
		i -= n;
		n = 11881376;
		len = 5;
	}
	x = (i * 7919 + 104729) % n;
	for (unsigned k = len; k-- > 0; x /= 26)
		code[k] = (char)('A' + x % 26);
}

static void syms_init(struct gen *g)
{
	g->syms = fs_xcalloc(g->nsym, sizeof(*g->syms));
	for (uint64_t i = 0; i < g->nsym; i++) {
		struct sym *s = &g->syms[i];
		uint64_t h = mix64(i + 0x1234567ULL);

		sym_code(i, s->code);
		s->key = fs_hash64(s->code, strlen(s->code));
		/* log-uniform from 5.00 to 500.00 */
		s->bid = (int64_t)(500 * pow(100, (double)(h >> 11) /
					     9007199254740992.0));
		s->spread = 1 + (int64_t)((h >> 3) & 3);
		s->mid = s->bid;
		s->close = s->bid;
	}
	if (g->kind == K_BOOK)
		g->orders = fs_xcalloc(g->nsym * BOOK_CAP,
				       sizeof(*g->orders));
}

/*
 * One random-walk step of a symbol's bid (by about 0.05% of the price,
 * at least a tick, never under 1.00) and spread (ticks).
 */
static inline void walk(struct sym *s, uint64_t r)
{
	int64_t step = 1 + s->bid / 2048;

	switch (r & 7) {
	case 0:
		s->bid += step;
		break;
	case 1:
		if (s->bid - step >= 100)
			s->bid -= step;
		break;
	case 2:
		s->spread = 1 + (int64_t)((r >> 3) & 3);
		break;
	}
}

/* A trade quantity: round lots mostly, odd lots sometimes. */
static inline int64_t lot_qty(uint64_t r)
{
	if ((r & 7) < 3)
		return 1 + (int64_t)below(r, 99);
	return 100 * (1 + (int64_t)(tab_at(exp_tab, r << 3) * 4 >> 16));
}

static const char venues[][8] = {
	"XNAS", "XNYS", "ARCX", "BATS", "IEXG", "EDGX", "XCHI", "MEMX"
};

static void gen_trade(struct gen *g)
{
	struct sym *s = &g->syms[rank_in(zipf_tab, rnd(&g->rng), g->nsym)];
	uint64_t r = rnd(&g->rng);
	struct fs_hdr *h;
	struct fs_trade *b;

	g->t = next_time(g, g->t);
	walk(s, r);
	h = put(g, FS_T_TRADE, sizeof(*b), g->t, s->key);
	b = fs_body(h);
	memcpy(b->symbol, s->code, sizeof(b->symbol));
	b->side = (r >> 8) & 1 ? 'B' : 'S';
	b->price = (b->side == 'B' ? s->bid + s->spread : s->bid) * TICK;
	b->qty = lot_qty(rnd(&g->rng));
	b->trade_id = ++g->trade_id;
	memcpy(b->venue, venues[(r >> 9) & 7], sizeof(b->venue));
}

static void gen_quote(struct gen *g)
{
	struct sym *s = &g->syms[rank_in(zipf_tab, rnd(&g->rng), g->nsym)];
	uint64_t r = rnd(&g->rng);
	struct fs_hdr *h;
	struct fs_quote *b;

	g->t = next_time(g, g->t);
	walk(s, r);
	h = put(g, FS_T_QUOTE, sizeof(*b), g->t, s->key);
	b = fs_body(h);
	memcpy(b->symbol, s->code, sizeof(b->symbol));
	b->bid = s->bid * TICK;
	b->ask = (s->bid + s->spread) * TICK;
	b->bid_size = 100 * (1 + (int64_t)(tab_at(exp_tab, r) * 5 >> 16));
	b->ask_size = 100 * (1 + (int64_t)(tab_at(exp_tab, r << 20) * 5 >>
					   16));
}

/* Index of a live order of s on side at price p, or -1. */
static int book_find(const struct order *o, unsigned n, char side,
		     int64_t p)
{
	for (unsigned i = 0; i < n; i++)
		if (o[i].side == side && o[i].price == p)
			return (int)i;
	return -1;
}

/* Write a book update for order o of s. */
static void book_put(struct gen *g, const struct sym *s,
		     const struct order *o, char action)
{
	struct fs_hdr *h = put(g, FS_T_BOOK, sizeof(struct fs_book), g->t,
			       s->key);
	struct fs_book *b = fs_body(h);

	memcpy(b->symbol, s->code, sizeof(b->symbol));
	b->action = action;
	b->side = o->side;
	b->order_id = o->id;
	b->price = o->price * TICK;
	b->qty = action == 'D' ? 0 : o->qty;
}

/*
 * Try to move the reference price one tick; an order resting where
 * the other side must now go is deleted instead (the one event).
 * Bids stay at or below mid - 1 and asks at or above mid + 1, so the
 * book never crosses.  Returns 1 when it wrote an event.
 */
static int book_move(struct gen *g, struct sym *s, struct order *o,
		     uint64_t r)
{
	int up = (r >> 4) & 1, i;

	if (!up && s->mid <= 60)
		return 0;
	i = book_find(o, s->nlive, up ? 'S' : 'B',
		      up ? s->mid + 1 : s->mid - 1);
	if (i < 0) {
		s->mid += up ? 1 : -1;
		return 0;
	}
	book_put(g, s, &o[i], 'D');
	o[i] = o[--s->nlive];
	return 1;
}

/* Write the next book update: add, modify or delete of a live order. */
static void gen_book(struct gen *g)
{
	struct sym *s = &g->syms[rank_in(zipf_tab, rnd(&g->rng), g->nsym)];
	struct order *o = g->orders + (s - g->syms) * BOOK_CAP, *x;
	uint64_t r = rnd(&g->rng);
	unsigned act = (unsigned)((r >> 8) & 127);

	g->t = next_time(g, g->t);
	if ((r & 7) == 0 && book_move(g, s, o, r))
		return;
	if (s->nlive < BOOK_MIN || (act < 56 && s->nlive < BOOK_CAP)) {
		int64_t d = (int64_t)(tab_at(exp_tab, r << 16) * 3 >> 16);

		x = &o[s->nlive++];
		x->id = ++g->order_id;
		x->side = (r >> 5) & 1 ? 'B' : 'S';
		x->price = x->side == 'B' ? s->mid - 1 - d : s->mid + 1 + d;
		x->qty = 100 * (1 + (int64_t)below(rnd(&g->rng), 20));
		book_put(g, s, x, 'A');
		return;
	}
	x = &o[below(rnd(&g->rng), s->nlive)];
	if (act < 88) {
		x->qty += (r >> 6) & 1 ? 100 : -100;
		if (x->qty < 100)
			x->qty = 200;
		book_put(g, s, x, 'M');
		return;
	}
	book_put(g, s, x, 'D');
	*x = o[--s->nlive];
}

/* Write the next position snapshot: a holding of one portfolio. */
static void gen_position(struct gen *g)
{
	uint64_t p = rank_in(party_tab, rnd(&g->rng), g->keys);
	uint64_t r = rnd(&g->rng);
	unsigned slots = g->nsym < POS_SLOTS ? (unsigned)g->nsym : POS_SLOTS;
	unsigned j = (unsigned)below(r, slots);
	uint64_t hp = mix64(p ^ g->salt), si = below(hp, g->nsym) + j;
	uint64_t hj = mix64(hp + j);
	int64_t *delta = &g->pos_delta[p * POS_SLOTS + j], init;
	struct sym *s;
	struct fs_hdr *h;
	struct fs_position *b;

	if (si >= g->nsym)
		si -= g->nsym;
	s = &g->syms[si];
	g->t = next_time(g, g->t);
	walk(s, r >> 20);
	init = 100 * (1 + (int64_t)below(hj, 50));
	if ((hj & 15) == 0)
		init = -init;		/* a short */
	*delta += ((r >> 8) & 1 ? 100 : -100) * (1 + (int64_t)((r >> 9) & 7));
	h = put(g, FS_T_POSITION, sizeof(*b), g->t, PORT_BASE + p);
	b = fs_body(h);
	memcpy(b->symbol, s->code, sizeof(b->symbol));
	b->portfolio = PORT_BASE + p;
	b->qty = init + *delta;
	b->price = s->bid * TICK;
	memcpy(b->currency, "USD", 4);
}

/*
 * Write the next order record: an ORDER of an account, or about one
 * time in four a TRADE filling the last order (the account's own
 * execution, account set).  Orders are limit orders near the market
 * (9 in 10) or market orders; about 1 in 500 is a fat finger (100
 * times the quantity or 10 times the price off the market).
 */
static void gen_order(struct gen *g)
{
	struct sym *s;
	uint64_t r = rnd(&g->rng), r2 = rnd(&g->rng);
	struct fs_hdr *h;
	struct fs_order *b;

	g->t = next_time(g, g->t);
	if ((r & 3) == 0 && g->last.qty > 0) {
		struct fs_trade *f;

		h = put(g, FS_T_TRADE, sizeof(*f), g->t,
			fs_hash64(g->last.symbol,
				  strnlen(g->last.symbol, 12)));
		f = fs_body(h);
		memcpy(f->symbol, g->last.symbol, sizeof(f->symbol));
		f->side = g->last.side;
		f->price = g->last.ord_type == 'M' ? g->last_mkt :
			   g->last.price;
		f->qty = (r >> 2) & 1 ? g->last.qty :
			 1 + (int64_t)below(r2, (uint64_t)g->last.qty);
		f->trade_id = ++g->trade_id;
		memcpy(f->venue, venues[(r >> 9) & 7], sizeof(f->venue));
		f->account = g->last.account;
		f->order_id = g->last.order_id;
		g->last.qty = 0;
		return;
	}
	s = &g->syms[rank_in(zipf_tab, r2, g->nsym)];
	walk(s, r >> 2);
	h = put(g, FS_T_ORDER, sizeof(*b), g->t, s->key);
	b = fs_body(h);
	memcpy(b->symbol, s->code, sizeof(b->symbol));
	b->side = (r >> 8) & 1 ? 'B' : 'S';
	b->ord_type = ((r >> 9) & 15) < 14 ? 'L' : 'M';
	b->order_id = ++g->order_id;
	b->account = 1 + below(rnd(&g->rng), g->keys);
	b->qty = lot_qty(r >> 13);
	g->last_mkt = (b->side == 'B' ? s->bid + s->spread : s->bid) * TICK;
	if (b->ord_type == 'L')
		b->price = (s->bid + (b->side == 'B' ? -1 : 1) *
			    (int64_t)((r >> 20) & 7)) * TICK;
	if (b->price < 0)
		b->price = TICK;
	if (((r >> 24) & 511) == 0)
		b->qty *= 100;
	else if (((r >> 24) & 511) == 1 && b->ord_type == 'L')
		b->price *= 10;
	g->last = *b;
}

/*
 * Write the next one-minute bar: every symbol in turn for one minute,
 * then the next minute.  The base event time is the bar's end.
 */
static void gen_bar(struct gen *g)
{
	uint64_t i = g->bar_i % g->nsym, minute = g->bar_i / g->nsym;
	struct sym *s = &g->syms[i];
	uint64_t r = rnd(&g->rng), r2 = rnd(&g->rng);
	int64_t step = s->close / 400 + 1, open = s->close, close, hi, lo;
	int64_t ws = g->start + (int64_t)minute * 60 * NS;
	struct fs_hdr *h;
	struct fs_bar *b;

	close = open + ((int64_t)(r & 15) - 7) * step / 2;
	if (close < 100)
		close = 100;
	hi = (open > close ? open : close) + (int64_t)below(r2, 4) * step;
	lo = (open < close ? open : close) - (int64_t)((r >> 8) & 3) * step;
	if (lo < 50)
		lo = 50;
	s->close = close;
	g->t = ws + 60 * NS;
	g->bar_i++;
	h = put(g, FS_T_BAR, sizeof(*b), g->t, s->key);
	b = fs_body(h);
	memcpy(b->symbol, s->code, sizeof(b->symbol));
	b->window_start = ws;
	b->window_end = ws + 60 * NS;
	b->open = open * TICK;
	b->high = hi * TICK;
	b->low = lo * TICK;
	b->close = close * TICK;
	b->count = 1 + (tab_at(exp_tab, r2 << 4) * 30 >> 16);
	b->volume = (int64_t)b->count * lot_qty(r >> 16);
	b->vwap = lo * TICK + (int64_t)(((__uint128_t)((hi - lo) * TICK) *
					 ((r >> 24) & 0xffff)) >> 16);
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: fs-gen [--kind KIND] [-n COUNT] [--duration D] [--rate N]\n"
"              [--seed N] [--start TIME] [--event-rate N] [--keys N]\n"
"              [--symbols N] [--merchants N] [--fraud-rate F]\n"
"              [--disorder D] [--watermark-interval D] [--fixed-ingest]\n"
"              [--metrics FILE] [-o URI]\n"
"              " FS_KAFKA_SYNOPSIS "\n"
"Write a seeded synthetic record stream.\n"
"\n"
"  --kind KIND          txn (default), trade, quote, book, position, bar,\n"
"                       order\n"
"  -n, --count COUNT    data records to write (k, M, G suffixes);\n"
"                       default: until --duration, SIGINT or a closed pipe\n"
"  --duration D         stop after D of wall time (e.g. 10s, 5m)\n"
"  --rate N             pace to N records per second of wall time\n"
"                       (default: flat out)\n"
"  --seed N             random seed (default 1)\n"
"  --start TIME         event time of the start\n"
"                       (default 2026-01-02T00:00:00Z)\n"
"  --event-rate N       records per second of event time (default 1000;\n"
"                       txn: keys/1000; bar: one per symbol a minute)\n"
"  --keys N             accounts (txn, order) or portfolios (position)\n"
"                       (default 10000)\n"
"  --symbols N          instruments (default 100, at most 1000000)\n"
"  --merchants N        merchants (txn, default 5000)\n"
"  --fraud-rate F       fraction of fraudulent txns, label 1\n"
"                       (default 0.001, at most 0.5)\n"
"  --disorder D         shift each ts_event back by up to D (default 0)\n"
"  --watermark-interval D\n"
"                       event time between WATERMARK records (default 1s;\n"
"                       0: none)\n"
"  --fixed-ingest       ts_ingest = ts_event, so runs are byte-identical\n"
"  --metrics FILE       write Prometheus metrics to FILE every second\n"
"  -o, --output URI     output endpoint (default -)\n"
"  -h, --help           show this help\n"
"  --version            show the version\n");
	fs_kafka_usage(f, 0);
	fs_pipeline_usage(f);
}

/* A count with an optional k, M or G suffix (1000s): "20M", "1.5k". */
static int parse_count(const char *s, double *out)
{
	size_t n = strlen(s);
	double mul = 1, v;
	uint64_t u;

	if (n > 1) {
		switch (s[n - 1]) {
		case 'k': case 'K':
			mul = 1e3, n--;
			break;
		case 'm': case 'M':
			mul = 1e6, n--;
			break;
		case 'g': case 'G':
			mul = 1e9, n--;
			break;
		}
	}
	if (fs_parse_u64(s, n, &u) == 0)
		v = (double)u;
	else if (fs_parse_f64(s, n, &v) < 0)
		return -1;
	v *= mul;
	if (!(v >= 0) || v > 1.8e19)
		return -1;
	*out = v;
	return 0;
}

/* A whole count option in [min, max]; a usage error otherwise. */
static uint64_t opt_count(const char *name, const char *s, double min,
			  double max)
{
	double v;

	if (parse_count(s, &v) == 0 && v >= min && v <= max &&
	    v == floor(v))
		return (uint64_t)v;
	if (max >= 1e18)
		fs_usage_error("bad %s '%s': want a whole number such as "
			       "1000 or 20M", name, s);
	fs_usage_error("bad %s '%s': want a whole number from %.0f to "
		       "%.0f", name, s, min, max);
}

static double opt_rate(const char *name, const char *s)
{
	double v;

	if (parse_count(s, &v) < 0 || v > 1e12)
		fs_usage_error("bad %s '%s': want events per second, e.g. "
			       "1000 or 1M", name, s);
	return v;
}

/* A duration option, zero or more. */
static int64_t opt_duration(const char *name, const char *s)
{
	return fs_opt_duration(name, s, (size_t)-1, 0, INT64_MAX);
}

static enum kind opt_kind(const char *s)
{
	for (int i = 0; kind_names[i]; i++)
		if (strcmp(s, kind_names[i]) == 0)
			return (enum kind)i;
	fs_usage_error("unknown kind '%s': want txn, trade, quote, book, "
		       "position, bar or order", s);
}

enum {
	O_DISORDER = 256, O_DURATION, O_EVENT_RATE, O_FIXED, O_FRAUD,
	O_KEYS, O_KIND, O_MERCHANTS, O_METRICS, O_RATE, O_SEED, O_START,
	O_SYMBOLS, O_VERSION, O_WM,
};

static const struct option long_options[] = {
	{ "count", required_argument, NULL, 'n' },
	{ "disorder", required_argument, NULL, O_DISORDER },
	{ "duration", required_argument, NULL, O_DURATION },
	{ "event-rate", required_argument, NULL, O_EVENT_RATE },
	{ "fixed-ingest", no_argument, NULL, O_FIXED },
	{ "fraud-rate", required_argument, NULL, O_FRAUD },
	{ "help", no_argument, NULL, 'h' },
	{ "keys", required_argument, NULL, O_KEYS },
	{ "kind", required_argument, NULL, O_KIND },
	{ "merchants", required_argument, NULL, O_MERCHANTS },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "output", required_argument, NULL, 'o' },
	{ "rate", required_argument, NULL, O_RATE },
	{ "seed", required_argument, NULL, O_SEED },
	{ "start", required_argument, NULL, O_START },
	{ "symbols", required_argument, NULL, O_SYMBOLS },
	{ "version", no_argument, NULL, O_VERSION },
	{ "watermark-interval", required_argument, NULL, O_WM },
	{ NULL, 0, NULL, 0 },
};

struct opts {
	const char *out, *metrics;
	uint64_t seed;
};

/* Handle one long-only option; returns 0, or -1 when c is not one. */
static int long_opt(struct gen *g, struct opts *o, int c, const char *a)
{
	switch (c) {
	case O_DISORDER: g->disorder = opt_duration("--disorder", a); break;
	case O_DURATION: g->duration = opt_duration("--duration", a); break;
	case O_EVENT_RATE:
		g->event_rate = opt_rate("--event-rate", a);
		if (g->event_rate < 0.001)
			fs_usage_error("bad --event-rate '%s': want 0.001 "
				       "or more", a);
		break;
	case O_FIXED: g->fixed_ingest = 1; break;
	case O_FRAUD:
		if (fs_parse_f64(a, (size_t)-1, &g->fraud_rate) < 0 ||
		    !(g->fraud_rate >= 0 && g->fraud_rate <= 0.5))
			fs_usage_error("bad --fraud-rate '%s': want a "
				       "fraction from 0 to 0.5", a);
		break;
	case O_KEYS: g->keys = opt_count("--keys", a, 1, 4e9); break;
	case O_KIND: g->kind = opt_kind(a); break;
	case O_MERCHANTS:
		g->merchants = opt_count("--merchants", a, 1, 4e9);
		break;
	case O_METRICS: o->metrics = a; break;
	case O_RATE: g->rate = opt_rate("--rate", a); break;
	case O_SEED: o->seed = opt_count("--seed", a, 0, 1.8e19); break;
	case O_START:
		if (fs_parse_time(a, (size_t)-1, &g->start) < 0)
			fs_usage_error("bad --start '%s': want a time such "
				       "as 2026-01-02T00:00:00Z", a);
		break;
	case O_SYMBOLS:
		g->nsym = opt_count("--symbols", a, 1, SYM_MAX);
		break;
	case O_VERSION: fs_print_version(NULL); exit(FS_EXIT_OK);
	case O_WM:
		g->wm_iv = opt_duration("--watermark-interval", a);
		break;
	default: return -1;
	}
	return 0;
}

static void parse_opts(struct gen *g, struct opts *o, int argc,
		       char **argv)
{
	int c;

	while ((c = fs_getopt(argc, argv, "hn:o:", long_options)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			exit(FS_EXIT_OK);
		case 'n':
			g->left = opt_count("-n", optarg, 0, 1.8e19);
			break;
		case 'o':
			o->out = optarg;
			break;
		default:
			if (long_opt(g, o, c, optarg) < 0)
				fs_bug("option %d not handled", c);
		}
	}
	if (optind < argc)
		fs_usage_error("unexpected argument '%s'", argv[optind]);
}

/* ---- the main loop ---- */

static void setup(struct gen *g, uint64_t seed)
{
	double f = g->fraud_rate, e = 0;

	build_tables();
	build_picks();
	if (g->event_rate == 0)		/* not given */
		g->event_rate = g->kind == K_TXN ? g->keys / 1000.0 : 1000;
	g->rng = mix64(seed ^ 0x6a09e667f3bcc909ULL);
	g->salt = mix64(seed + 0xbb67ae8584caa73bULL);
	g->mean_dt = (int64_t)(NS / g->event_rate);
	if (g->mean_dt < 1)
		g->mean_dt = 1;
	g->t = g->start;
	g->next_normal = g->start;
	g->next_wm = g->wm_iv ? g->start + g->wm_iv : INT64_MAX;
	for (int i = 0; i < 16; i++)
		e += fraud_mean[fraud_pick[i]] / 16;
	if (f > 0) {
		double p = f / (e * (1 - f));

		g->fraud_thr = p >= 1 ? UINT32_MAX :
			       (uint64_t)(p * 4294967296.0);
	}
	if (g->kind != K_TXN)
		syms_init(g);
	if (g->kind == K_POSITION)
		g->pos_delta = fs_xcalloc(g->keys * POS_SLOTS,
					  sizeof(*g->pos_delta));
}

/* Sleep until the records written so far are due at --rate. */
static void pace(struct gen *g, int64_t t0)
{
	int64_t due = t0 + (int64_t)((double)g->records * 1e9 / g->rate);

	fs_writer_flush(g->w);
	(void)fs_sleep_until(due);	/* early on SIGINT/SIGTERM */
}

/* Write n records of the kind. */
static void gen_block(struct gen *g, uint64_t n)
{
	switch (g->kind) {
	case K_TXN:
		while (n--)
			gen_txn(g);
		break;
	case K_TRADE:
		while (n--)
			gen_trade(g);
		break;
	case K_QUOTE:
		while (n--)
			gen_quote(g);
		break;
	case K_BOOK:
		while (n--)
			gen_book(g);
		break;
	case K_POSITION:
		while (n--)
			gen_position(g);
		break;
	case K_BAR:
		while (n--)
			gen_bar(g);
		break;
	case K_ORDER:
		while (n--)
			gen_order(g);
		break;
	}
}

/*
 * Under --state the records are numbered, and a restart makes the same
 * stream again from the seed, leaving out (writing to /dev/null) the
 * records of the restored checkpoint's position.
 */
static void skip(struct gen *g, uint64_t n)
{
	struct fs_writer *w = g->w;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot open /dev/null");
	g->w = fs_writer_fd(fd, "/dev/null");
	while (n > 0) {		/* all of it: a SIGTERM waits for the end */
		uint64_t k = n < BLOCK ? n : BLOCK;

		gen_block(g, k);
		n -= k;
		g->left -= k;
		g->records += k;
	}
	fs_writer_close(g->w);
	close(fd);
	g->w = w;
}

static void run(struct gen *g, struct fs_source *src)
{
	int64_t t0 = fs_mono_ns(), end = INT64_MAX;
	uint64_t block = BLOCK;

	if (g->duration)
		end = t0 + g->duration;
	if (g->rate > 0) {
		/*
		 * Batches of 50 us worth, each flushed when due: a record
		 * waits at most that long for its batch, so the latency a
		 * paced stream measures downstream is the pipeline's own.
		 * The default timer slack (50 us) would double the batch.
		 */
		block = (uint64_t)(g->rate / 20000);
		block = block < 1 ? 1 : block > BLOCK ? BLOCK : block;
		(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
	}
	while (g->left && !fs_stop) {
		uint64_t n = g->left < block ? g->left : block;
		int64_t room = fs_source_room(src, (int64_t)g->records);

		if (fs_source_due(src, (int64_t)g->records)) {
			fs_source_barrier(src, g->w, (int64_t)g->records,
					  g->t, 0);
			room = fs_source_room(src, (int64_t)g->records);
		}
		if (room > 0 && (uint64_t)room < n)
			n = (uint64_t)room;	/* a replayed cut comes next */

		if (g->rate > 0)
			pace(g, t0);
		if ((g->duration && fs_mono_ns() >= end) || fs_stop)
			break;
		if (!g->fixed_ingest)
			g->now = fs_now_ns();
		gen_block(g, n);
		g->left -= n;
		g->records += n;
		fs_metrics_tick(g->metrics);
		if (fs_progress_due())
			fs_progress("%llu records, %.2f M/s",
				    (unsigned long long)g->records,
				    g->records * 1e3 /
				    (double)(fs_mono_ns() - t0 + 1));
	}
	/* the end, --duration or SIGTERM: a final checkpoint of it all */
	fs_source_barrier(src, g->w, (int64_t)g->records, g->t, 1);
}

/* The source's name in the store: the options its stream depends on. */
static struct fs_source *source_open(const struct gen *g, uint64_t seed)
{
	char name[512];

	snprintf(name, sizeof(name), "fs-gen --kind %s --seed %llu --keys "
		 "%llu --symbols %llu --merchants %llu --start %lld "
		 "--event-rate %.17g --fraud-rate %.17g --disorder %lld "
		 "--watermark-interval %lld", kind_names[g->kind],
		 (unsigned long long)seed, (unsigned long long)g->keys,
		 (unsigned long long)g->nsym,
		 (unsigned long long)g->merchants, (long long)g->start,
		 g->event_rate, g->fraud_rate, (long long)g->disorder,
		 (long long)g->wm_iv);
	return fs_source_open(name);
}

int tool_main(int argc, char **argv)
{
	struct gen g = {
		.kind = K_TXN, .left = UINT64_MAX, .keys = 10000,
		.nsym = 100, .merchants = 5000,
		.fraud_rate = 0.001, .wm_iv = NS,
		.start = 1767312000LL * NS,	/* 2026-01-02T00:00:00Z */
	};
	struct opts o = { .out = "-", .seed = 1 };
	struct fs_source *src;

	parse_opts(&g, &o, argc, argv);
	setup(&g, o.seed);
	g.w = fs_writer_open(o.out);	/* before --metrics replaces a file */
	g.metrics = fs_metrics_open(o.metrics);
	fs_metrics_counter(g.metrics, "fs_gen_records_total",
			   "data records written", &g.records);
	src = source_open(&g, o.seed);
	if (fs_source_resume(src) > 0)
		skip(&g, (uint64_t)fs_source_resume(src));
	run(&g, src);
	fs_source_close(src);
	fs_progress_done();
	fs_writer_close(g.w);
	fs_metrics_close(g.metrics);
	free(g.heap);
	free(g.syms);
	free(g.orders);
	free(g.pos_delta);
	return FS_EXIT_OK;
}
