/*
 * fs-limit - pre-trade limit checks on ORDER records.
 *
 * Each order is checked against the limits of its account and symbol
 * (limits.c) and the state the stream has built: the last trade price
 * per symbol, each account's filled position per symbol and notional
 * exposure, its accepted orders in the current second of event time.
 * Accepted orders go to the output unchanged, rejected ones to
 * --rejects with the reason (struct fs_reject).  Fills, TRADE records
 * that carry an account, move positions and exposure.  State lives in
 * flat open-addressing tables; nothing is allocated per order.
 * fs-limit(1) defines every check.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "limit.h"
#include "snapbuf.h"

/* The reasons, in the order the checks run. */
enum {
	R_SHORT, R_SYMBOL, R_SIDE, R_TYPE, R_QTY, R_PRICE,
	R_MAX_QTY, R_NO_PRICE, R_MAX_NOTIONAL, R_BAND, R_RATE,
	R_GROSS, R_NET, R_EXPOSURE, NREASONS
};
static const char *const reason_names[NREASONS] = {
	"short_order", "bad_symbol", "bad_side", "bad_type", "bad_qty",
	"bad_price", "max_qty", "no_price", "max_notional", "price_band",
	"max_rate", "max_gross", "max_net", "max_exposure",
};

/*
 * Table entries.  Each starts with the same key: account and symbol
 * (an account's entry has no symbol, a symbol's no account).
 */
struct key {
	uint64_t acct;
	char sym[12];
	uint32_t used;
};

/* An account's position in a symbol, and its limits there. */
struct pos {
	struct key k;
	int64_t bought, sold;		/* filled quantities */
	__int128 net;			/* net notional, fixed 8 */
	int64_t lim[NSYMCOLS];		/* resolved for limits gen */
	uint32_t gen;
};

/* An account: exposure, order rate, its account-wide limits. */
struct acct {
	struct key k;
	__int128 expo;			/* sum of |net| over symbols */
	int64_t sec, n;			/* accepted orders in second sec */
	int64_t lim[NCOLS - NSYMCOLS];
	uint32_t gen;
};

/* A symbol's last trade price. */
struct sym {
	struct key k;
	int64_t last;			/* fixed 8; 0: no trade yet */
};

/* An open-addressing table of entries of size bytes. */
struct tab {
	char *slot;
	size_t size, cap, n;		/* cap: a power of two */
	int wanted;			/* the next size is being made */
	/* while growing: the old slots, moved over a few at each get */
	char *old;
	size_t ocap, omig;		/* its size; slots before omig moved */
};

/* key.used: 0 an empty slot, 1 an entry, 2 (old slots) moved on */
#define MOVED 2
#define MIGRATE_STEP 32		/* old slots moved at each tab_get */

struct opts {
	const char *in, *out, *rejects, *limits, *metrics;
	int quiet;
};

struct lim {
	struct opts o;
	struct fs_reader *r;
	struct fs_writer *w, *rw;
	struct limits lt;
	uint32_t gen;			/* of lt, from 1 */
	struct tab pos, acct, sym;
	uint64_t n_orders, n_accepted, n_rejected, n_fills, n_trades;
	uint64_t n_bad_trades, by_reason[NREASONS];
	struct fs_metrics *mx;
};

static volatile sig_atomic_t hup;

static void on_hup(int sig)
{
	(void)sig;
	hup = 1;
}

/* ---- tables ---- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t key_hash(uint64_t acct, const char sym[12])
{
	uint64_t a, b = 0;

	memcpy(&a, sym, 8);
	memcpy(&b, sym + 8, 4);
	return mix64(acct ^ mix64(a ^ (b << 17) ^ 0x9e3779b97f4a7c15ULL));
}

/*
 * Slots of a table: big ones through fs_big_alloc (huge pages, made
 * ahead by its preparer thread once tab_get has asked for them).
 */
static void *slots_alloc(size_t n)
{
	return n >= FS_BIG_MIN ? fs_big_alloc(n) : fs_xcalloc(1, n);
}

static void slots_free(void *p, size_t n)
{
	if (n >= FS_BIG_MIN)
		fs_big_free(p, n);
	else
		free(p);
}

static void tab_init(struct tab *t, size_t size)
{
	t->size = size;
	t->cap = 1024;
	t->n = 0;
	t->slot = slots_alloc(t->cap * size);
}

static void tab_free(struct tab *t)
{
	if (t->old)
		slots_free(t->old, t->ocap * t->size);
	slots_free(t->slot, t->cap * t->size);
	if (t->wanted)
		fs_big_unwant(t->cap * 2 * t->size);
}

/* The empty slot for a key of hash h in the current slots. */
static struct key *tab_free_slot(const struct tab *t, uint64_t h)
{
	size_t j = h & (t->cap - 1);

	while (((struct key *)(t->slot + j * t->size))->used)
		j = (j + 1) & (t->cap - 1);
	return (struct key *)(t->slot + j * t->size);
}

/* Move up to n old slots' entries into the current slots. */
static void tab_migrate(struct tab *t, size_t n)
{
	size_t end = t->omig + n < t->ocap ? t->omig + n : t->ocap;

	for (; t->omig < end; t->omig++) {
		struct key *k = (void *)(t->old + t->omig * t->size);

		if (k->used != 1)
			continue;
		memcpy(tab_free_slot(t, key_hash(k->acct, k->sym)), k,
		       t->size);
		k->used = MOVED;
	}
	if (t->omig == t->ocap) {
		slots_free(t->old, t->ocap * t->size);
		t->old = NULL;
	}
}

/*
 * Twice the slots; the entries move over from the old ones a few at a
 * time (tab_get), so no order waits for a whole table to be rehashed
 * (half a million positions took 40 ms: the p99 of a run).
 */
static void tab_grow(struct tab *t)
{
	if (t->old)		/* the move before is not done: finish it */
		tab_migrate(t, t->ocap);
	t->old = t->slot;
	t->ocap = t->cap;
	t->omig = 0;
	t->cap *= 2;
	t->slot = slots_alloc(t->cap * t->size);
	t->wanted = 0;
}

/*
 * After an entry is made: from 3/8 full the next slots are prepared in
 * the background (fs_big_want), and from half full the table grows as
 * soon as they are ready, or at 7/8 full without waiting any longer:
 * an order never waits for a table's memory to be made while it can go
 * on in the old one (in a VM, populating 128 MiB takes ~50 ms).
 */
static void tab_room(struct tab *t)
{
	size_t next = t->cap * 2 * t->size;

	if (t->n * 8 < t->cap * 3)
		return;
	if (next < FS_BIG_MIN) {
		if (t->n * 2 >= t->cap)
			tab_grow(t);
		return;
	}
	if (!t->wanted) {
		fs_big_want(next);
		t->wanted = 1;
	}
	if (t->n * 8 >= t->cap * 7 ||
	    (t->n * 2 >= t->cap && fs_big_ready(next)))
		tab_grow(t);
}

/*
 * The entry of (acct, sym), made zeroed with its key when new (*made
 * set then).  The table grows from half full (tab_room); while it
 * grows an entry still in the old slots moves when asked for.
 * Pointers last until the
 * next tab_get on the same table.
 */
static void *tab_get(struct tab *t, uint64_t acct, const char sym[12],
		     int *made)
{
	uint64_t h = key_hash(acct, sym);
	struct key *k;
	size_t j;

	if (t->old)
		tab_migrate(t, MIGRATE_STEP);
	for (j = h & (t->cap - 1);; j = (j + 1) & (t->cap - 1)) {
		k = (void *)(t->slot + j * t->size);
		if (!k->used)
			break;
		if (k->acct == acct && memcmp(k->sym, sym, 12) == 0) {
			*made = 0;
			return k;
		}
	}
	*made = 0;
	for (j = h & (t->ocap - 1); t->old; j = (j + 1) & (t->ocap - 1)) {
		struct key *o = (void *)(t->old + j * t->size);

		if (!o->used)
			break;
		if (o->used == 1 && o->acct == acct &&
		    memcmp(o->sym, sym, 12) == 0) {
			memcpy(k, o, t->size);	/* k: the empty slot above */
			o->used = MOVED;
			return k;
		}
	}
	memset(k, 0, t->size);
	k->acct = acct;
	memcpy(k->sym, sym, sizeof(k->sym));
	k->used = 1;
	t->n++;
	*made = 1;
	tab_room(t);
	return k;
}

static const char no_sym[12];

/* ---- checks ---- */

static __int128 abs128(__int128 v)
{
	return v < 0 ? -v : v;
}

static int64_t sat64(__int128 v)
{
	return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN :
	       (int64_t)v;
}

/* Write order h to the rejects: reason, value and limit (fixed 8). */
static void reject(struct lim *l, const struct fs_hdr *h, int why,
		   __int128 value, __int128 limit)
{
	struct fs_hdr *o;
	struct fs_reject *rj;
	size_t n = fs_body_len(h);

	l->n_rejected++;
	l->by_reason[why]++;
	if (!l->rw)
		return;
	o = fs_write_reserve(l->rw, FS_T_ORDER, sizeof(struct fs_order) +
			     sizeof(*rj));
	o->flags = h->flags | FS_F_REJECT;
	o->ts_event = h->ts_event;
	o->ts_ingest = h->ts_ingest;
	o->key = h->key;
	o->seq = h->seq;
	memcpy(fs_body(o), fs_body(h), n < sizeof(struct fs_order) ? n :
	       sizeof(struct fs_order));
	rj = (void *)((char *)fs_body(o) + sizeof(struct fs_order));
	memcpy(rj->reason, reason_names[why], strlen(reason_names[why]));
	rj->value = sat64(value);
	rj->limit = sat64(limit);
}

/* A count as fixed 8, for a reject's value and limit. */
static __int128 cnt(__int128 v)
{
	return v * FS_FIX_SCALE;
}

/* The malformed-order checks: a reason, or -1 for a well-formed one. */
static int malformed(const struct fs_hdr *h, const struct fs_order *b,
		     __int128 *value)
{
	*value = 0;
	if (fs_body_len(h) < sizeof(*b))
		return R_SHORT;
	if (b->symbol[0] == '\0')
		return R_SYMBOL;
	if (b->side != 'B' && b->side != 'S')
		return R_SIDE;
	if (b->ord_type != 'L' && b->ord_type != 'M' && b->ord_type != 0)
		return R_TYPE;
	if (b->qty <= 0) {
		*value = cnt(b->qty);
		return R_QTY;
	}
	if (b->ord_type != 'M' && b->price <= 0) {
		*value = b->price;
		return R_PRICE;
	}
	return -1;
}

/* The limits of p and a, resolved again after a (re)load. */
static void refresh(struct lim *l, struct pos *p, struct acct *a)
{
	int64_t v[NCOLS];

	if (p->gen == l->gen && a->gen == l->gen)
		return;
	limits_resolve(&l->lt, p->k.acct, p->k.sym, v);
	memcpy(p->lim, v, sizeof(p->lim));
	p->gen = l->gen;
	memcpy(a->lim, v + NSYMCOLS, sizeof(a->lim));
	a->gen = l->gen;
}

/*
 * The price band: with a last price L and band b, a limit price must
 * lie in [L - floor(L b), L + floor(L b)] (exactly |p - L| <= L b).
 * Returns the bound broken, or 0.
 */
static int64_t band_broken(int64_t price, int64_t last, int64_t band)
{
	__int128 w = (__int128)last * band / FS_FIX_SCALE;

	if (price > last + w)
		return sat64(last + w);
	if (price < last - w)
		return sat64(last - w);
	return 0;
}

/*
 * The checks of a well-formed order b in the order fs-limit(1) gives;
 * -1 when it passes, else the reason with *value and *limit (fixed 8).
 */
static int check(const struct fs_hdr *h, const struct fs_order *b,
		 const struct pos *p, struct acct *a, const struct sym *s,
		 __int128 *value, __int128 *limit)
{
	const int64_t *al = a->lim - NSYMCOLS;	/* by C_* */
	int buy = b->side == 'B';
	__int128 ref = b->ord_type == 'M' ? s->last : b->price;
	__int128 notional = b->qty * ref, x;
	int64_t sec, bound;

	*value = *limit = 0;
	if (b->qty > p->lim[C_MAX_QTY]) {
		*value = cnt(b->qty);
		*limit = cnt(p->lim[C_MAX_QTY]);
		return R_MAX_QTY;
	}
	if (ref == 0)		/* a market order, no trade yet */
		return R_NO_PRICE;
	if (notional > p->lim[C_MAX_NOTIONAL]) {
		*value = notional;
		*limit = p->lim[C_MAX_NOTIONAL];
		return R_MAX_NOTIONAL;
	}
	if (b->ord_type != 'M' && s->last &&
	    p->lim[C_PRICE_BAND] != LIM_NONE &&
	    (bound = band_broken(b->price, s->last, p->lim[C_PRICE_BAND]))) {
		*value = b->price;
		*limit = bound;
		return R_BAND;
	}
	sec = h->ts_event >= 0 ? h->ts_event / 1000000000 :
	      -((-(h->ts_event + 1)) / 1000000000) - 1;
	if (sec > a->sec) {
		a->sec = sec;
		a->n = 0;
	}
	if (a->n >= al[C_MAX_RATE]) {
		*value = cnt(a->n + 1);
		*limit = cnt(al[C_MAX_RATE]);
		return R_RATE;
	}
	x = (__int128)p->bought + p->sold + b->qty;
	if (x > p->lim[C_MAX_GROSS]) {
		*value = cnt(x);
		*limit = cnt(p->lim[C_MAX_GROSS]);
		return R_GROSS;
	}
	x = (__int128)p->bought - p->sold + (buy ? b->qty : -b->qty);
	if (abs128(x) > p->lim[C_MAX_NET]) {
		*value = cnt(x);
		*limit = cnt(p->lim[C_MAX_NET]);
		return R_NET;
	}
	x = p->net + (buy ? notional : -notional);
	x = a->expo - abs128(p->net) + abs128(x);
	if (x > al[C_MAX_EXPOSURE]) {
		*value = x;
		*limit = al[C_MAX_EXPOSURE];
		return R_EXPOSURE;
	}
	return -1;
}

/* Check one ORDER; pass it on or reject it. */
static void on_order(struct lim *l, const struct fs_hdr *h)
{
	const struct fs_order *b = fs_body(h);
	struct pos *p;
	struct acct *a;
	const struct sym *s;
	__int128 value, limit;
	int why, made;

	l->n_orders++;
	if ((why = malformed(h, b, &value)) >= 0) {
		reject(l, h, why, value, 0);
		return;
	}
	p = tab_get(&l->pos, b->account, b->symbol, &made);
	a = tab_get(&l->acct, b->account, no_sym, &made);
	s = tab_get(&l->sym, 0, b->symbol, &made);
	refresh(l, p, a);
	if ((why = check(h, b, p, a, s, &value, &limit)) >= 0) {
		reject(l, h, why, value, limit);
		return;
	}
	a->n++;
	l->n_accepted++;
	fs_write_frame(l->w, h);
}

/*
 * A TRADE: its price is the symbol's last; a fill (account set) moves
 * the account's position and exposure.  A trade without a valid side,
 * quantity or price changes nothing and is counted.
 */
static void on_trade(struct lim *l, const struct fs_hdr *h)
{
	const struct fs_trade *b = fs_body(h);
	struct sym *s;
	struct pos *p;
	struct acct *a;
	__int128 old;
	int made;

	l->n_trades++;
	if (fs_body_len(h) < offsetof(struct fs_trade, account) ||
	    b->price <= 0 || b->qty <= 0 || b->symbol[0] == '\0' ||
	    (b->side != 'B' && b->side != 'S')) {
		if (!l->n_bad_trades++)
			fs_warn("skipping a malformed TRADE (frame %llu), "
				"and any more", (unsigned long long)
				fs_reader_frames(l->r));
		return;
	}
	s = tab_get(&l->sym, 0, b->symbol, &made);
	s->last = b->price;
	if (fs_body_len(h) < sizeof(*b) || b->account == 0)
		return;
	l->n_fills++;
	p = tab_get(&l->pos, b->account, b->symbol, &made);
	a = tab_get(&l->acct, b->account, no_sym, &made);
	old = p->net;
	if (b->side == 'B') {
		p->bought += b->qty;
		p->net += (__int128)b->qty * b->price;
	} else {
		p->sold += b->qty;
		p->net -= (__int128)b->qty * b->price;
	}
	a->expo += abs128(p->net) - abs128(old);
}

/* ---- limits (re)loading ---- */

/* Load --limits; at start a bad file ends the run (exit 2, or 1). */
static void load_limits(struct lim *l, int start)
{
	struct limits nl;
	char why[512];
	int io;

	if (limits_load(&nl, l->o.limits, why, sizeof(why), &io) < 0) {
		if (start)
			fs_die(io ? FS_EXIT_FAIL : FS_EXIT_USAGE,
			       "bad limits '%s': %s", l->o.limits, why);
		fs_warn("keeping the limits in force: cannot reload '%s': "
			"%s", l->o.limits, why);
		return;
	}
	limits_free(&l->lt);
	l->lt = nl;
	l->gen++;
	if (!start && !l->o.quiet)
		fs_warn("reloaded limits from '%s' (%zu rows)", l->o.limits,
			nl.n);
}

/* ---- checkpoints ---- */
#define SNAP_MAGIC "FSLIM1"
#define SNAP_VERSION 1

static void snap_tab(struct sbuf *b, const char tag[4], const struct tab *t)
{
	size_t at = sb_sect(b, tag);

	sb_u64(b, t->n);
	for (size_t i = 0; i < t->cap; i++) {
		const struct key *k = (void *)(t->slot + i * t->size);

		if (k->used)
			sb_put(b, k, t->size);
	}
	for (size_t i = 0; t->old && i < t->ocap; i++) {	/* not moved yet */
		const struct key *k = (void *)(t->old + i * t->size);

		if (k->used == 1)
			sb_put(b, k, t->size);
	}
	sb_end(b, at);
}

/*
 * At a BARRIER under --state: the positions, accounts (exposure and
 * rate window), last prices and counters, as one FS_CKPT_INSTANCE row.
 * Limits are not state: they come from --limits.  Cached limits in the
 * entries are refreshed after a restore (gen 0).
 */
static void snap_put(struct lim *l, uint64_t id)
{
	struct sbuf b = { 0 };
	size_t at;

	sb_head(&b, SNAP_MAGIC, SNAP_VERSION);
	at = sb_sect(&b, "CTR ");
	sb_u64(&b, l->n_orders);
	sb_u64(&b, l->n_accepted);
	sb_u64(&b, l->n_rejected);
	sb_u64(&b, l->n_fills);
	sb_u64(&b, l->n_trades);
	sb_u64(&b, l->n_bad_trades);
	for (int i = 0; i < NREASONS; i++)
		sb_u64(&b, l->by_reason[i]);
	sb_end(&b, at);
	snap_tab(&b, "POS ", &l->pos);
	snap_tab(&b, "ACCT", &l->acct);
	snap_tab(&b, "SYM ", &l->sym);
	sb_seal(&b);
	fs_ckpt_put_snapshot(fs_pipeline_ckpt(), (int64_t)id, fs_stage_name(),
			     FS_CKPT_INSTANCE, b.p, b.n);
	sb_free(&b);
}

static void unsnap_tab(struct srd *r, const char tag[4], struct tab *t)
{
	uint64_t n;
	_Alignas(16) char e[sizeof(struct pos) + sizeof(struct acct)];
	int made;

	sr_sect(r, tag);
	n = sr_u64(r);
	if (n > (r->n - r->off) / t->size) {
		sr_fail(r, "entry count past the end");
		return;
	}
	for (uint64_t i = 0; i < n && !r->bad; i++) {
		struct key *k = (void *)e, *d;

		sr_get(r, e, t->size);
		if (!k->used)
			break;
		d = tab_get(t, k->acct, k->sym, &made);
		if (!made) {
			sr_fail(r, "an entry twice");
			break;
		}
		memcpy(d, e, t->size);
		if (t->size == sizeof(struct pos))
			((struct pos *)d)->gen = 0;
		else if (t->size == sizeof(struct acct))
			((struct acct *)d)->gen = 0;
	}
}

/* Put the state of the restored checkpoint back, if there is one. */
static void snap_restore(struct lim *l)
{
	struct fs_ckpt *st = fs_pipeline_ckpt();
	int64_t id = st ? fs_pipeline_restored() : 0;
	struct srd r;
	size_t n;
	void *p;

	if (id <= 0)
		return;
	p = fs_pipeline_snapshot(id, &n, NULL);
	if (sr_open(&r, p, n, SNAP_MAGIC, SNAP_VERSION) == 0) {
		sr_sect(&r, "CTR ");
		l->n_orders = sr_u64(&r);
		l->n_accepted = sr_u64(&r);
		l->n_rejected = sr_u64(&r);
		l->n_fills = sr_u64(&r);
		l->n_trades = sr_u64(&r);
		l->n_bad_trades = sr_u64(&r);
		for (int i = 0; i < NREASONS; i++)
			l->by_reason[i] = sr_u64(&r);
		unsnap_tab(&r, "POS ", &l->pos);
		unsnap_tab(&r, "ACCT", &l->acct);
		unsnap_tab(&r, "SYM ", &l->sym);
		if (!r.bad && r.off != r.n)
			sr_fail(&r, "bytes after the last section");
	}
	free(p);
	if (r.bad)
		fs_pipeline_bad_snapshot(id, r.why);
}

/* ---- the main loop ---- */

static void on_frame(struct lim *l, const struct fs_hdr *h)
{
	if (h->type == FS_T_ORDER && !fs_is_control(h)) {
		on_order(l, h);
		return;
	}
	if (h->type == FS_T_TRADE && !fs_is_control(h))
		on_trade(l, h);
	else if (h->type == FS_T_BARRIER && fs_pipeline_ckpt())
		snap_put(l, fs_barrier_id(h));	/* after what came before */
	fs_write_frame(l->w, h);
}

/* The next frame, as fs_read; flushes both outputs before waiting. */
static int next(struct lim *l, const struct fs_hdr **h)
{
	int rc = fs_read_timed(l->r, h, 0);

	if (rc != -2)
		return rc;
	fs_writer_flush(l->w);
	if (l->rw)
		fs_writer_flush(l->rw);
	for (;;) {
		if (hup) {
			hup = 0;
			load_limits(l, 0);
		}
		rc = fs_read_timed(l->r, h, 200);
		if (rc != -2)
			return rc;
		fs_metrics_tick(l->mx);
	}
}

static int run(struct lim *l)
{
	const struct fs_hdr *h;
	int rc;

	while ((rc = next(l, &h)) == 1) {
		if (hup) {
			hup = 0;
			load_limits(l, 0);
		}
		on_frame(l, h);
		if ((l->n_orders & 4095) == 0) {
			fs_metrics_tick(l->mx);
			if (fs_progress_due())
				fs_progress("%llu orders, %llu rejected",
					    (unsigned long long)l->n_orders,
					    (unsigned long long)l->n_rejected);
		}
	}
	fs_progress_done();
	return rc < 0 ? FS_EXIT_DATA : FS_EXIT_OK;
}

/* The summary line on stderr: counts, and rejects by reason. */
static void summary(const struct lim *l)
{
	char by[512];
	size_t n = 0;

	by[0] = '\0';
	for (int i = 0; i < NREASONS; i++)
		if (l->by_reason[i] && n < sizeof(by))
			n += snprintf(by + n, sizeof(by) - n, "%s%s %llu",
				      n ? ", " : " (", reason_names[i],
				      (unsigned long long)l->by_reason[i]);
	if (n && n < sizeof(by) - 1)
		memcpy(by + n, ")", 2);
	fs_warn("%llu orders: %llu accepted, %llu rejected%s; %llu fills",
		(unsigned long long)l->n_orders,
		(unsigned long long)l->n_accepted,
		(unsigned long long)l->n_rejected, by,
		(unsigned long long)l->n_fills);
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: fs-limit --limits SRC [--rejects URI] [-q] [--metrics FILE]\n"
"                [-i URI] [-o URI] " FS_PIPELINE_SYNOPSIS "\n"
"                " FS_KAFKA_SYNOPSIS "\n"
"Pre-trade limit checks: pass accepted ORDER records on, send rejected\n"
"ones to --rejects with the reason.  TRADE records set last prices;\n"
"fills (TRADEs with an account) move positions.  SIGHUP reloads SRC.\n"
"\n"
"  --limits SRC         limits: a CSV file, or sqlite:FILE?table=NAME\n"
"  --rejects URI        where rejected orders go (default: dropped,\n"
"                       counted)\n"
"  -q, --quiet          no summary line at the end\n"
"  --metrics FILE       write Prometheus metrics to FILE every second\n"
"  -i, --input URI      input endpoint (default -)\n"
"  -o, --output URI     output endpoint (default -)\n"
"  -h, --help           show this help\n"
"  --version            show the version\n");
	fs_kafka_usage(f, 1);
	fs_pipeline_usage(f);
}

enum { O_LIMITS = 256, O_METRICS, O_REJECTS, O_VERSION };

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "input", required_argument, NULL, 'i' },
	{ "limits", required_argument, NULL, O_LIMITS },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "output", required_argument, NULL, 'o' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "rejects", required_argument, NULL, O_REJECTS },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* Parse the options; returns -1 to go on, or an exit status. */
static int parse_args(struct opts *o, int argc, char **argv)
{
	int ch;

	while ((ch = fs_getopt(argc, argv, "hi:o:q", long_options)) != -1) {
		switch (ch) {
		case 'h': usage(stdout); return FS_EXIT_OK;
		case 'i': o->in = optarg; break;
		case 'o': o->out = optarg; break;
		case 'q': o->quiet = 1; break;
		case O_LIMITS: o->limits = optarg; break;
		case O_METRICS: o->metrics = optarg; break;
		case O_REJECTS: o->rejects = optarg; break;
		case O_VERSION: fs_print_version(NULL); return FS_EXIT_OK;
		default: fs_bug("option %d not handled", ch);
		}
	}
	if (optind < argc)
		fs_usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->limits)
		fs_usage_error("--limits is required");
	return -1;
}

static void metrics(struct lim *l)
{
	l->mx = fs_metrics_open(l->o.metrics);
	fs_metrics_counter(l->mx, "fs_limit_orders_total", "orders read",
			   &l->n_orders);
	fs_metrics_counter(l->mx, "fs_limit_accepted_total",
			   "orders accepted", &l->n_accepted);
	fs_metrics_counter(l->mx, "fs_limit_rejected_total",
			   "orders rejected", &l->n_rejected);
	fs_metrics_counter(l->mx, "fs_limit_fills_total",
			   "fills applied to positions", &l->n_fills);
}

int tool_main(int argc, char **argv)
{
	static struct lim l;
	struct sigaction sa;
	int rc;

	l.o.in = "-";
	l.o.out = "-";
	if ((rc = parse_args(&l.o, argc, argv)) >= 0)
		return rc;
	load_limits(&l, 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	tab_init(&l.pos, sizeof(struct pos));
	tab_init(&l.acct, sizeof(struct acct));
	tab_init(&l.sym, sizeof(struct sym));
	(void)fs_pipeline_restored();	/* read before any barrier of ours */
	l.w = fs_writer_open(l.o.out);
	if (l.o.rejects)
		l.rw = fs_writer_open_side(l.o.rejects);
	l.r = fs_reader_open(l.o.in);
	fs_reader_flush_on_block(l.r, l.w);	/* accepted orders leave when idle */
	snap_restore(&l);
	metrics(&l);
	rc = run(&l);
	if (rc != FS_EXIT_OK)
		fs_writers_flush_all();
	if (!l.o.quiet)
		summary(&l);
	fs_writer_close(l.w);
	if (l.rw)
		fs_writer_close(l.rw);
	fs_metrics_close(l.mx);
	fs_reader_close(l.r);
	limits_free(&l.lt);
	tab_free(&l.pos);
	tab_free(&l.acct);
	tab_free(&l.sym);
	return rc;
}
