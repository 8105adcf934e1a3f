/*
 * window.h - fs-window's internal interfaces: aggregates (agg.c),
 * distinct and quantile sketches (sketch.c), keyed state and window
 * bookkeeping (state.c), feature sets (features.c), and the tool's
 * main loop and output (window.c).
 */
#ifndef FS_WINDOW_H
#define FS_WINDOW_H

#include <stdint.h>

#include "fs.h"
#include "snapbuf.h"

#define W_MAX_AGGS 64
#define W_NONE UINT32_MAX
#define W_TIME_MIN INT64_MIN
#define W_TIME_MAX INT64_MAX

typedef __int128 w_i128;

/* a + b for times and durations, saturating at the int64 range. */
static inline int64_t w_sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? W_TIME_MAX : W_TIME_MIN;
	return r;
}

/* floor(a / b) for b > 0. */
static inline int64_t w_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* A bijective 64-bit mix (splitmix64's finalizer). */
static inline uint64_t w_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* ---- sketch.c: distinct values and quantiles ---- */
struct dset;
struct ddsk;

#define W_HLL_P 12
#define W_QUANTILE_ALPHA 0.01

/* Distinct counter: exact up to limit values, then HyperLogLog. */
struct dset *dset_new(void);
void dset_add(struct dset **d, uint64_t v, unsigned limit);
void dset_merge(struct dset **dst, const struct dset *src, unsigned limit);
double dset_count(const struct dset *d);
void dset_free(struct dset *d);

/* Quantile sketch (DDSketch, relative error W_QUANTILE_ALPHA). */
void ddsk_add(struct ddsk **s, double v);
void ddsk_merge(struct ddsk **dst, const struct ddsk *src);
double ddsk_quantile(const struct ddsk *s, double q);
void ddsk_free(struct ddsk *s);
/* Snapshots (snap.c): exactly the sketch, NULL included. */
void dset_save(struct sbuf *b, const struct dset *d);
struct dset *dset_load(struct srd *r);
void ddsk_save(struct sbuf *b, const struct ddsk *s);
struct ddsk *ddsk_load(struct srd *r);

/* ---- agg.c: aggregate functions ---- */
enum agg_fn {
	AGG_COUNT, AGG_SUM, AGG_AVG, AGG_MIN, AGG_MAX, AGG_STDDEV, AGG_VAR,
	AGG_FIRST, AGG_LAST, AGG_DISTINCT, AGG_QUANTILE, AGG_VWAP, AGG_OHLC,
};

/* How a field's value is read. */
enum val_class { VC_INT, VC_FIX, VC_DBL, VC_HASH };

struct agg {
	enum agg_fn fn;
	char field[40];		/* field name as given, "" for none */
	char qtext[FS_FMT_MAX];		/* quantile's q as written */
	double q;
	uint16_t off;		/* field offset from the frame start */
	uint8_t kind, size;	/* the field's kind and size */
	uint8_t vc;		/* enum val_class */
	uint8_t out_kind;	/* FS_K_* of its AGG column */
	int col;		/* AGG column index, -1 when none */
	unsigned st;		/* state offset in the slot */
	char name[128];		/* column name */
};

/* State slot header, then each aggregate's state. */
struct slot {
	uint64_t key;
	int64_t max_ingest;
	uint64_t count;
	uint8_t emitted;	/* a result for it went out already */
	uint8_t pad_[7];
};

struct aggset {
	struct agg a[W_MAX_AGGS];
	unsigned n;
	unsigned stride;	/* slot bytes, a multiple of 16 */
	unsigned ncols;		/* AGG columns, window bounds included */
	int ohlc;		/* index of the ohlc aggregate, or -1 */
	int has_ptrs;		/* some state owns heap memory */
	int has_exact;		/* some sum is bounded (agg_check) */
	unsigned distinct_limit;
	const struct fs_type *type;	/* bound at the first record */
	uint16_t price_off, qty_off, sym_off;	/* for vwap and ohlc */
	struct fs_schema *schema;
};

/* Parse "count,sum(amount),..."; 0, or -1 after printing why. */
int agg_parse(struct aggset *s, const char *list);
/*
 * Bind the aggregates to the fields of record type t and lay out the
 * state.  Returns 0, or -1 after printing why.
 */
int agg_bind(struct aggset *s, const struct fs_type *t);
/* A fresh state for key in slot (stride bytes). */
void agg_init(const struct aggset *s, struct slot *sl, uint64_t key);
/*
 * Would adding the record h to the states sl[0..n) together (one
 * window's state, n = 1; sessions that h merges, more; none, 0) take an
 * exact result out of its range: a sum(F) of an integer or fixed-point
 * field beyond int64, vwap's sum of price x qty beyond 128 bits, a BAR's
 * volume or vwap beyond int64?  Returns 0, or -1 with *bad the
 * aggregate.  Nothing is changed.
 */
int agg_check(const struct aggset *s, struct slot *const *sl, unsigned n,
	      const struct fs_hdr *h, const struct agg **bad);
/* Add the record h to the state. */
void agg_update(const struct aggset *s, struct slot *sl,
		const struct fs_hdr *h);
/* Merge src into dst (sessions); src is released. */
void agg_merge(const struct aggset *s, struct slot *dst, struct slot *src);
/* Release what the state owns. */
void agg_release(const struct aggset *s, struct slot *sl);
/*
 * Fill the AGG body columns (after the window bounds) into cols.
 * Returns 0, or -1 when an exact sum does not fit in int64 (*bad says
 * which aggregate).
 */
int agg_values(const struct aggset *s, const struct slot *sl,
	       int64_t *cols, const struct agg **bad);
/* Fill a BAR body from the ohlc state. Returns 0 or -1 on overflow. */
int agg_bar(const struct aggset *s, const struct slot *sl,
	    struct fs_bar *b);
/* Key of record h by field f: its value, fs_hash64 of trimmed codes. */
uint64_t agg_field_key(const struct fs_field *f, const struct fs_hdr *h);

/* ---- state.c: hash tables, windows, sessions ---- */
/* Open-addressing table from u64 keys to u32 values. */
struct ktab_ent {
	uint64_t key;
	uint32_t val;		/* W_NONE: empty */
	uint32_t pad_;
};
struct ktab {
	struct ktab_ent *e;
	uint32_t mask, n;
	int wanted;		/* the next size was asked for (fs_big_want);
			 * 2: and given back (ktab_clear) */
};

static inline uint32_t khash(uint64_t k, uint32_t mask)
{
	k *= 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(k >> 32 ^ k) & mask;
}

/* Start loading the home slot of key (batch lookups). */
static inline void ktab_prefetch(const struct ktab *t, uint64_t key)
{
	__builtin_prefetch(&t->e[khash(key, t->mask)]);
}

void ktab_init(struct ktab *t, unsigned cap_pow2);
void ktab_free(struct ktab *t);
void ktab_clear(struct ktab *t);
/* Value slot for key, inserting it as W_NONE when missing (*isnew). */
uint32_t *ktab_put(struct ktab *t, uint64_t key, int *isnew);
/* Value for key, or W_NONE. */
uint32_t ktab_get(const struct ktab *t, uint64_t key);
void ktab_del(struct ktab *t, uint64_t key);

/* A time window [start, end) of an aligned kind with its keys. */
struct win {
	int64_t start, end;
	int64_t next_early;	/* event time of the next partial result */
	int active, fired;
	struct ktab keys;	/* key -> slot index */
	char *slots;		/* insertion order */
	uint32_t nslots, cap;
};

/* Sessions: one per key and gap-separated run of events. */
struct sess {
	uint64_t key;
	int64_t start, end;	/* end = last event + gap */
	int64_t next_early;
	int64_t due;		/* heap order */
	uint32_t next;		/* next session of the same key */
	uint32_t hpos;		/* position in the heap */
	uint8_t fired;		/* final result out, lateness to go */
	uint8_t live;
};

/* Indexed min-heap of session indices ordered by sess.due. */
struct sheap {
	uint32_t *h;
	uint32_t n, cap;
};
void sheap_push(struct sheap *hp, struct sess *ss, uint32_t i);
void sheap_fix(struct sheap *hp, struct sess *ss, uint32_t i);
void sheap_remove(struct sheap *hp, struct sess *ss, uint32_t i);
static inline uint32_t sheap_top(const struct sheap *hp)
{
	return hp->n ? hp->h[0] : W_NONE;
}

/* ---- features.c ---- */
struct feat;
/* A feature set by name, or NULL. */
struct feat *feat_new(const char *name, int64_t max_delay, int64_t ttl);
unsigned feat_ncols(const struct feat *f);
const char *const *feat_names(const struct feat *f);
/*
 * Prefetch what feat_txn() will touch for h, in stages 0, 1, 2 (each
 * stage reads what the previous one loaded), over a batch of records.
 */
void feat_prefetch(const struct feat *f, const struct fs_hdr *h,
		   int stage);
/* Compute the features of the TXN h into out, then add h to history. */
void feat_txn(struct feat *f, const struct fs_hdr *h, float *out);
/* Accounts currently held. */
uint64_t feat_keys(const struct feat *f);
/* Accounts dropped by --state-ttl so far. */
uint64_t feat_expired(const struct feat *f);
void feat_free(struct feat *f);
/*
 * Snapshots: every account's state, exactly (account slots, histories,
 * merchant, device and country tables as laid out, Welford sums, TTL
 * bookkeeping).  feat_load fills a fresh f; -1 after sr_fail.
 */
void feat_save(const struct feat *f, struct sbuf *b);
int feat_load(struct feat *f, struct srd *r);
/*
 * The same split by key group (fs-window --key-groups N, finstream(7)
 * Checkpoints): feat_save_ctx writes what belongs to the instance
 * (newest event time, next sweep, accounts expired); feat_save_groups
 * appends to bufs[g] (n of them) the count then the state of each live
 * account whose fs_key_group(id, n) is g.  feat_load_ctx merges an
 * instance's part into f (first: the first of them; then the newest
 * event time, the earliest sweep, the sum of expired), feat_load_group
 * adds a group's accounts to f; -1 after sr_fail.
 */
void feat_save_ctx(const struct feat *f, struct sbuf *b);
void feat_save_groups(const struct feat *f, struct sbuf *bufs, int32_t n);
void feat_load_ctx(struct feat *f, struct srd *r, int first);
int feat_load_group(struct feat *f, struct srd *r);
/* Names of the feature sets, for --help. */
const char *feat_set_list(void);

/* ---- the tool: options and context (window.c, engine.c) ---- */
enum wkind { WK_NONE, WK_TUMBLE, WK_HOP, WK_SESSION, WK_CUMULATE };

struct wopts {
	int kind;		/* enum wkind */
	int64_t size, slide;	/* slide: hop's slide, cumulate's step */
	int64_t offset;
	int64_t max_delay, lateness, idle_timeout, state_ttl;
	int64_t early;		/* --emit every:D, 0 = final only */
	unsigned distinct_limit;
	const char *agg, *key, *type, *features, *late;
	const char *in, *out, *metrics;
	int32_t key_groups;	/* --key-groups: snapshot rows, 0: one */
};

struct wctx {
	struct wopts o;
	struct aggset as;
	const struct fs_field *keyf;	/* --key, or NULL for the header */
	struct fs_reader *r;
	struct fs_writer *w, *late_w;
	struct fs_metrics *m;
	int64_t wm;		/* the watermark */
	int64_t wm_sent;	/* the last WATERMARK written */
	int64_t max_ts;		/* largest event time seen */
	int fired;		/* results out since the last WATERMARK */
	int schema_sent;
	uint64_t out_seq;
	uint64_t flushed_bytes;	/* output bytes at the last flush */
	int64_t flushed_at;	/* when output began to wait, or 0 */
	int64_t *cols;		/* AGG column buffer */
	uint64_t rec_frame;	/* the record in hand: its frame number */
	uint64_t rec_off;	/* and byte offset in the input */
	uint64_t n_refused;	/* records left out: an exact sum overflowed */

	/* aligned windows (tumble, hop, cumulate) */
	struct win *wins;
	uint32_t nwins, capwins, last_win;
	uint32_t *free_wins;
	uint32_t nfree_wins;
	struct ktab wintab;	/* window end -> index in wins */
	int64_t next_due;	/* earliest due time of any window */
	int64_t *a_start, *a_end;	/* window assignment buffers */
	uint32_t *a_win;	/* and the windows themselves */
	struct slot **a_slot;	/* and the event's slot in each */
	unsigned max_assign;

	/* sessions */
	struct sess *ss;
	char *sslots;
	uint32_t nss, capss, sfree;
	struct ktab skeys;	/* key -> first session */
	struct sheap heap;
	struct slot **chk;	/* the sessions an event merges */
	uint32_t capchk;

	/* counters (metrics) */
	uint64_t n_in, n_out, n_late, n_fired, n_passed, n_keys;
	uint64_t n_expired;
	double g_wm, g_keys;
};

/* engine.c */
void eng_init(struct wctx *c);
/*
 * A restored session v (key, times, fired) put last in its key's list
 * and in the heap; its index, whose slot the caller fills.
 */
uint32_t eng_sess_restore(struct wctx *c, const struct sess *v);
/* Add a data record under key; late records go to out_late(). */
void eng_event(struct wctx *c, const struct fs_hdr *h, uint64_t key);
/* Prefetch (stage 0, then 1) the state the record h under key needs. */
void eng_prefetch(struct wctx *c, const struct fs_hdr *h, uint64_t key,
		  int stage);
/* Emit and purge what the watermark c->wm makes due. */
void eng_advance(struct wctx *c);
/* End of input: emit every open window, in end order. */
void eng_flush(struct wctx *c);
void eng_free(struct wctx *c);

/* window.c */
/* Write the result of one key and window (BAR and/or AGG). */
void out_result(struct wctx *c, int64_t start, int64_t end,
		struct slot *sl, unsigned flags);
/* A record too late for any window: to --late, and counted. */
void out_late(struct wctx *c, const struct fs_hdr *h);
/*
 * The record in hand would take aggregate a of key in window [start,
 * end) out of range (agg_check): report it now, naming its frame, and
 * count it in c->n_refused; the caller leaves it out of every window
 * and goes on, and the run ends with exit 3 once every good record's
 * results are written.
 */
void out_overflow(struct wctx *c, const struct agg *a, uint64_t key,
		  int64_t start, int64_t end);

/* snap.c: checkpoints (fs-window(1) CHECKPOINTS) */
/*
 * The snapshot of every state that later output depends on, for
 * checkpoint id, into the store; feat is the feature state, or NULL.
 */
void snap_put(struct wctx *c, struct feat *feat, uint64_t id);
/*
 * At start: restore the snapshot of the checkpoint the store restored,
 * if any (--state); dies with exit 3 on a bad one, 1 on a missing one.
 * feat: the fresh feature state, or NULL.
 */
void snap_restore(struct wctx *c, struct feat *feat);
/* window.c: build the AGG schema once (written by out_result). */
void out_build_schema(struct wctx *c);
void bind_type(struct wctx *c, const struct fs_type *t);

#endif
