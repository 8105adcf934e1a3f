/*
 * snap.c - fs-window's checkpoint snapshots (fs-window(1) CHECKPOINTS).
 *
 * "FSWIN1", version 1 (snapbuf.h), then the sections:
 *
 *   CONF  the options the state depends on, as text; a restore under
 *         other options is refused (exit 3)
 *   CTX   watermark, last WATERMARK sent, largest event time, the
 *         fired flag, schema sent, output seq, the bound record type,
 *         the earliest due time, and the counters
 *   WINS  aligned windows: per active window start, end, next early
 *         result, fired, and its key slots in first-seen order
 *   SESS  sessions: the session array as indexed (free ones too), the
 *         free list, the heap array, the key -> first session pairs,
 *         and the slot of each live session
 *   FEAT  --features: features.c's feat_save
 *
 * A slot is the aggregate state as agg.c lays it out (stride bytes,
 * the sketch pointers written as 0), then for each distinct() and
 * quantile() its sketch, exactly (sketch.c).  Indices and orders that
 * decide the order of output (slot order, the session heap, session
 * indices that break its ties) are kept as they were, so a restored
 * run writes byte for byte what an uninterrupted one would.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "window.h"

#define SNAP_MAGIC "FSWIN1"
#define SNAP_VERSION 1

/* The options the state depends on, as text. */
static void conf_text(const struct wctx *c, char *buf, size_t n)
{
	const struct wopts *o = &c->o;

	snprintf(buf, n, "kind=%d size=%lld slide=%lld offset=%lld "
		 "max-delay=%lld lateness=%lld emit=%lld distinct-limit=%u "
		 "state-ttl=%lld key-groups=%d agg=%s key=%s type=%s "
		 "features=%s",
		 o->kind, (long long)o->size, (long long)o->slide,
		 (long long)o->offset, (long long)o->max_delay,
		 (long long)o->lateness, (long long)o->early,
		 o->distinct_limit, (long long)o->state_ttl,
		 (int)o->key_groups, o->agg ? o->agg : "", o->key ? o->key : "",
		 o->type ? o->type : "", o->features ? o->features : "");
}

/* ---- slots ---- */

static int has_sketch(const struct agg *a)
{
	return a->fn == AGG_DISTINCT || a->fn == AGG_QUANTILE;
}

static void slot_save(const struct wctx *c, struct sbuf *b,
		      const struct slot *sl)
{
	const struct aggset *s = &c->as;
	size_t at = b->n;

	sb_put(b, sl, s->stride);
	for (unsigned i = 0; i < s->n; i++) {
		if (!has_sketch(&s->a[i]))
			continue;
		memset(b->p + at + s->a[i].st, 0, sizeof(void *));
		if (s->a[i].fn == AGG_DISTINCT)
			dset_save(b, *(struct dset *const *)
				  ((const char *)sl + s->a[i].st));
		else
			ddsk_save(b, *(struct ddsk *const *)
				  ((const char *)sl + s->a[i].st));
	}
}

static void slot_load(const struct wctx *c, struct srd *r, struct slot *sl)
{
	const struct aggset *s = &c->as;

	sr_get(r, sl, s->stride);
	for (unsigned i = 0; i < s->n; i++) {
		char *st = (char *)sl + s->a[i].st;

		if (!has_sketch(&s->a[i]))
			continue;
		if (s->a[i].fn == AGG_DISTINCT)
			*(struct dset **)st = dset_load(r);
		else
			*(struct ddsk **)st = ddsk_load(r);
	}
}

/* ---- aligned windows ---- */

static void wins_save(const struct wctx *c, struct sbuf *b)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < c->nwins; i++)
		n += c->wins[i].active != 0;
	sb_u32(b, n);
	for (uint32_t i = 0; i < c->nwins; i++) {
		const struct win *w = &c->wins[i];

		if (!w->active)
			continue;
		sb_i64(b, w->start);
		sb_i64(b, w->end);
		sb_i64(b, w->next_early);
		sb_u8(b, (uint8_t)w->fired);
		sb_u32(b, w->nslots);
		for (uint32_t k = 0; k < w->nslots; k++)
			slot_save(c, b, (const struct slot *)
				  (w->slots + (size_t)k * c->as.stride));
	}
}

/*
 * The window that ends at end, made active with the fields given when
 * there is none yet (a restore's first group of it); its index.
 */
static uint32_t win_add(struct wctx *c, int64_t start, int64_t end,
			int64_t next_early, int fired, uint32_t nslots)
{
	uint32_t v = ktab_get(&c->wintab, (uint64_t)end);
	struct win *w;
	int isnew;

	if (v != W_NONE)
		return v;
	if (c->nwins == c->capwins) {
		c->capwins = c->capwins ? c->capwins * 2 : 16;
		c->wins = fs_xrealloc(c->wins, c->capwins * sizeof(*c->wins));
		c->free_wins = fs_xrealloc(c->free_wins, c->capwins *
					   sizeof(*c->free_wins));
	}
	w = &c->wins[c->nwins];
	memset(w, 0, sizeof(*w));
	w->start = start;
	w->end = end;
	w->next_early = next_early;
	w->fired = fired;
	w->active = 1;
	ktab_init(&w->keys, 1024);
	*ktab_put(&c->wintab, (uint64_t)end, &isnew) = c->nwins;
	w->cap = nslots > 1024 ? nslots : 1024;
	w->slots = fs_xmalloc((size_t)w->cap * c->as.stride);
	return c->nwins++;
}

/* Read ns slots into window w after those it has; -1 after sr_fail. */
static int win_load_slots(struct wctx *c, struct srd *r, struct win *w,
			  uint32_t ns)
{
	if ((uint64_t)ns * c->as.stride > r->n - r->off)
		return sr_fail(r, "bad slot count");
	if (w->nslots + ns > w->cap) {
		w->cap = w->nslots + ns;
		w->slots = fs_xrealloc(w->slots, (size_t)w->cap *
				       c->as.stride);
	}
	for (uint32_t k = 0; k < ns && !r->bad; k++) {
		struct slot *sl = (struct slot *)
			(w->slots + (size_t)w->nslots * c->as.stride);
		int isnew;

		slot_load(c, r, sl);
		*ktab_put(&w->keys, sl->key, &isnew) = w->nslots;
		if (!isnew)
			return sr_fail(r, "a key twice in a window");
		w->nslots++;
	}
	return r->bad ? -1 : 0;
}

/* Windows as wins_save or wins_save_groups wrote them (group: merge). */
static void wins_load(struct wctx *c, struct srd *r, int group)
{
	uint32_t n = sr_u32(r);

	if (n > r->n - r->off)
		n = (uint32_t)sr_fail(r, "bad window count") & 0;
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		int64_t start = sr_i64(r), end = sr_i64(r);
		int64_t next_early = sr_i64(r);
		int fired = sr_u8(r);
		uint32_t ns = sr_u32(r), nw = c->nwins, k;

		if (r->bad)
			break;
		k = win_add(c, start, end, next_early, fired, ns);
		if (!group && k != nw) {
			sr_fail(r, "a window twice");
			break;
		}
		win_load_slots(c, r, &c->wins[k], ns);
	}
}

/*
 * Split by key group: bufs[g] gets the number of windows holding keys
 * of group g, then each as wins_save writes it with only those keys.
 */
static void wins_save_groups(const struct wctx *c, struct sbuf *bufs,
			     int32_t n)
{
	uint32_t *cnt = fs_xcalloc((size_t)n, sizeof(*cnt));
	uint32_t *per = fs_xcalloc((size_t)n, sizeof(*per));
	size_t *at = fs_xcalloc((size_t)n, sizeof(*at));
	int32_t *grp = NULL;
	size_t capg = 0;

	for (int32_t g = 0; g < n; g++) {
		at[g] = bufs[g].n;
		sb_u32(&bufs[g], 0);
	}
	for (uint32_t i = 0; i < c->nwins; i++) {
		const struct win *w = &c->wins[i];

		if (!w->active)
			continue;
		if (w->nslots > capg) {
			capg = w->nslots;
			grp = fs_xrealloc(grp, capg * sizeof(*grp));
		}
		memset(per, 0, (size_t)n * sizeof(*per));
		for (uint32_t k = 0; k < w->nslots; k++) {
			const struct slot *sl = (const struct slot *)
				(w->slots + (size_t)k * c->as.stride);

			grp[k] = fs_key_group(sl->key, n);
			per[grp[k]]++;
		}
		for (int32_t g = 0; g < n; g++) {
			struct sbuf *b = &bufs[g];

			if (!per[g])
				continue;
			cnt[g]++;
			sb_i64(b, w->start);
			sb_i64(b, w->end);
			sb_i64(b, w->next_early);
			sb_u8(b, (uint8_t)w->fired);
			sb_u32(b, per[g]);
			for (uint32_t k = 0; k < w->nslots; k++)
				if (grp[k] == g)
					slot_save(c, b, (const struct slot *)
						  (w->slots + (size_t)k *
						   c->as.stride));
		}
	}
	for (int32_t g = 0; g < n; g++)
		memcpy(bufs[g].p + at[g], &cnt[g], sizeof(cnt[g]));
	free(grp);
	free(at);
	free(per);
	free(cnt);
}

/* ---- sessions ---- */

static void sess_save(const struct wctx *c, struct sbuf *b)
{
	sb_u32(b, c->nss);
	sb_u32(b, c->sfree);
	for (uint32_t i = 0; i < c->nss; i++) {
		const struct sess *s = &c->ss[i];

		sb_u64(b, s->key);
		sb_i64(b, s->start);
		sb_i64(b, s->end);
		sb_i64(b, s->next_early);
		sb_i64(b, s->due);
		sb_u32(b, s->next);
		sb_u32(b, s->hpos);
		sb_u8(b, s->fired);
		sb_u8(b, s->live);
		if (s->live)
			slot_save(c, b, (const struct slot *)
				  (c->sslots + (size_t)i * c->as.stride));
	}
	sb_u32(b, c->heap.n);
	sb_put(b, c->heap.h, (size_t)c->heap.n * sizeof(*c->heap.h));
	sb_u32(b, c->skeys.n);
	for (uint32_t i = 0; c->skeys.n && i <= c->skeys.mask; i++)
		if (c->skeys.e[i].val != W_NONE) {
			sb_u64(b, c->skeys.e[i].key);
			sb_u32(b, c->skeys.e[i].val);
		}
}

static void sess_load(struct wctx *c, struct srd *r)
{
	uint32_t n = sr_u32(r), hn, kn;

	c->sfree = sr_u32(r);
	if (n > r->n - r->off || (c->sfree != W_NONE && c->sfree >= n))
		n = (uint32_t)sr_fail(r, "bad session count") & 0;
	c->capss = n > 1024 ? n : 1024;
	c->ss = fs_xcalloc(c->capss, sizeof(*c->ss));
	c->sslots = fs_xcalloc(c->capss, c->as.stride);
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		struct sess *s = &c->ss[i];

		s->key = sr_u64(r);
		s->start = sr_i64(r);
		s->end = sr_i64(r);
		s->next_early = sr_i64(r);
		s->due = sr_i64(r);
		s->next = sr_u32(r);
		s->hpos = sr_u32(r);
		s->fired = sr_u8(r);
		s->live = sr_u8(r);
		if (s->next != W_NONE && s->next >= n)
			sr_fail(r, "bad session link");
		c->nss = i + 1;
		if (s->live) {
			slot_load(c, r, (struct slot *)
				  (c->sslots + (size_t)i * c->as.stride));
			c->n_keys++;
		}
	}
	hn = sr_u32(r);
	if (hn > n)
		hn = (uint32_t)sr_fail(r, "bad heap") & 0;
	c->heap.cap = hn > 16 ? hn : 16;
	c->heap.h = fs_xcalloc(c->heap.cap, sizeof(*c->heap.h));
	sr_get(r, c->heap.h, (size_t)hn * sizeof(*c->heap.h));
	c->heap.n = hn;
	for (uint32_t i = 0; i < hn; i++)
		if (c->heap.h[i] >= n || c->ss[c->heap.h[i]].hpos != i)
			sr_fail(r, "bad heap");
	kn = sr_u32(r);
	for (uint32_t i = 0; i < kn && !r->bad; i++) {
		uint64_t k = sr_u64(r);
		uint32_t v = sr_u32(r);
		int isnew;

		if (v >= n)
			sr_fail(r, "bad session key");
		*ktab_put(&c->skeys, k, &isnew) = v;
	}
}

/*
 * Split by key group: bufs[g] gets the number of live sessions of keys
 * in group g, then each (key, times, fired, slot) in its key's order.
 */
static void sess_save_groups(const struct wctx *c, struct sbuf *bufs,
			     int32_t n)
{
	uint32_t *cnt = fs_xcalloc((size_t)n, sizeof(*cnt));
	size_t *at = fs_xcalloc((size_t)n, sizeof(*at));

	for (int32_t g = 0; g < n; g++) {
		at[g] = bufs[g].n;
		sb_u32(&bufs[g], 0);
	}
	for (uint32_t e = 0; c->skeys.n && e <= c->skeys.mask; e++) {
		struct sbuf *b;
		int32_t g;

		if (c->skeys.e[e].val == W_NONE)
			continue;
		g = fs_key_group(c->skeys.e[e].key, n);
		b = &bufs[g];
		for (uint32_t i = c->skeys.e[e].val; i != W_NONE;
		     i = c->ss[i].next) {
			const struct sess *s = &c->ss[i];

			sb_u64(b, s->key);
			sb_i64(b, s->start);
			sb_i64(b, s->end);
			sb_i64(b, s->next_early);
			sb_i64(b, s->due);
			sb_u8(b, s->fired);
			slot_save(c, b, (const struct slot *)
				  (c->sslots + (size_t)i * c->as.stride));
			cnt[g]++;
		}
	}
	for (int32_t g = 0; g < n; g++)
		memcpy(bufs[g].p + at[g], &cnt[g], sizeof(cnt[g]));
	free(at);
	free(cnt);
}

static void sess_load_group(struct wctx *c, struct srd *r)
{
	uint32_t n = sr_u32(r);

	if (n > r->n - r->off)
		n = (uint32_t)sr_fail(r, "bad session count") & 0;
	for (uint32_t k = 0; k < n && !r->bad; k++) {
		struct sess v;
		uint32_t i;

		memset(&v, 0, sizeof(v));
		v.key = sr_u64(r);
		v.start = sr_i64(r);
		v.end = sr_i64(r);
		v.next_early = sr_i64(r);
		v.due = sr_i64(r);
		v.fired = sr_u8(r);
		if (r->bad)
			break;
		i = eng_sess_restore(c, &v);
		slot_load(c, r, (struct slot *)
			  (c->sslots + (size_t)i * c->as.stride));
	}
}

/* ---- the whole ---- */

static void ctx_save(const struct wctx *c, struct sbuf *b)
{
	sb_i64(b, c->wm);
	sb_i64(b, c->wm_sent);
	sb_i64(b, c->max_ts);
	sb_u8(b, (uint8_t)c->fired);
	sb_u8(b, (uint8_t)c->schema_sent);
	sb_u64(b, c->out_seq);
	sb_u32(b, c->as.type ? c->as.type->id : 0);
	sb_i64(b, c->next_due);
	sb_u64(b, c->n_in);
	sb_u64(b, c->n_out);
	sb_u64(b, c->n_late);
	sb_u64(b, c->n_fired);
	sb_u64(b, c->n_passed);
	sb_u64(b, c->n_refused);
	sb_u64(b, c->n_expired);
}

static void ctx_load(struct wctx *c, struct srd *r)
{
	uint32_t type;
	int64_t next_due;

	c->wm = sr_i64(r);
	c->wm_sent = sr_i64(r);
	c->max_ts = sr_i64(r);
	c->fired = sr_u8(r);
	c->schema_sent = sr_u8(r);
	c->out_seq = sr_u64(r);
	type = sr_u32(r);
	next_due = sr_i64(r);
	c->n_in = sr_u64(r);
	c->n_out = sr_u64(r);
	c->n_late = sr_u64(r);
	c->n_fired = sr_u64(r);
	c->n_passed = sr_u64(r);
	c->n_refused = sr_u64(r);
	c->n_expired = sr_u64(r);
	if (r->bad || c->o.features)
		return;
	if (type && !c->as.type) {
		const struct fs_type *t = fs_type_by_id((uint16_t)type);

		if (!t || !t->body_size) {
			sr_fail(r, "unknown record type");
			return;
		}
		bind_type(c, t);
	} else if (type && c->as.type->id != type) {
		sr_fail(r, "another record type");
		return;
	}
	c->next_due = next_due;		/* after eng_init */
	if (c->schema_sent && c->as.type && c->as.ncols > 2)
		out_build_schema(c);
}

/* A snapshot row's start: the head and the CONF section. */
static void row_head(const struct wctx *c, struct sbuf *b)
{
	char conf[1024];
	size_t at;

	conf_text(c, conf, sizeof(conf));
	sb_head(b, SNAP_MAGIC, SNAP_VERSION);
	at = sb_sect(b, "CONF");
	sb_put(b, conf, strlen(conf));
	sb_end(b, at);
}

/*
 * Split by key group (--key-groups N): the instance row (CONF, CTX and
 * the features' own context, FCTX), and a row per key group that holds
 * keys (CONF, GRP with the group's number, then its FEAT, WINS or SESS
 * part).  Groups without keys have no row, so the rows of instances
 * that read disjoint partition sets never collide.
 */
static void snap_write_groups(struct wctx *c, struct feat *feat,
			      uint64_t id, struct fs_ckpt *st)
{
	int32_t n = c->o.key_groups;
	struct sbuf *bufs = fs_xcalloc((size_t)n, sizeof(*bufs));
	struct sbuf b = { NULL, 0, 0 };
	size_t *at = fs_xcalloc((size_t)n, sizeof(*at)), sect;
	const char *tag = feat ? "FEAT" : c->o.kind == WK_SESSION ? "SESS" :
		"WINS";

	row_head(c, &b);
	sect = sb_sect(&b, "CTX ");
	ctx_save(c, &b);
	sb_end(&b, sect);
	if (feat) {
		sect = sb_sect(&b, "FCTX");
		feat_save_ctx(feat, &b);
		sb_end(&b, sect);
	}
	sb_seal(&b);
	fs_ckpt_put_snapshot(st, (int64_t)id, fs_stage_name(),
			     FS_CKPT_INSTANCE, b.p, b.n);
	sb_free(&b);
	for (int32_t g = 0; g < n; g++) {
		row_head(c, &bufs[g]);
		sect = sb_sect(&bufs[g], "GRP ");
		sb_u32(&bufs[g], (uint32_t)g);
		sb_end(&bufs[g], sect);
		at[g] = sb_sect(&bufs[g], tag);
	}
	if (feat)
		feat_save_groups(feat, bufs, n);
	else if (c->as.type && c->o.kind == WK_SESSION)
		sess_save_groups(c, bufs, n);
	else if (c->as.type)
		wins_save_groups(c, bufs, n);
	for (int32_t g = 0; g < n; g++) {
		uint32_t keys = 0;

		if (bufs[g].n >= at[g] + 8 + 4)	/* tag, length, count */
			memcpy(&keys, bufs[g].p + at[g] + 8, sizeof(keys));
		if (keys) {
			sb_end(&bufs[g], at[g]);
			sb_seal(&bufs[g]);
			fs_ckpt_put_snapshot(st, (int64_t)id, fs_stage_name(),
					     g, bufs[g].p, bufs[g].n);
		}
		sb_free(&bufs[g]);
	}
	free(at);
	free(bufs);
}

/* Serialize the state and put it in store st as the snapshot for id. */
static void snap_write(struct wctx *c, struct feat *feat, uint64_t id,
		       struct fs_ckpt *st)
{
	struct sbuf b = { NULL, 0, 0 };
	size_t at;
	int64_t t0 = fs_mono_ns();

	if (c->o.key_groups) {
		snap_write_groups(c, feat, id, st);
		goto out;
	}
	row_head(c, &b);
	at = sb_sect(&b, "CTX ");
	ctx_save(c, &b);
	sb_end(&b, at);
	if (feat) {
		at = sb_sect(&b, "FEAT");
		feat_save(feat, &b);
		sb_end(&b, at);
	} else if (c->as.type && c->o.kind == WK_SESSION) {
		at = sb_sect(&b, "SESS");
		sess_save(c, &b);
		sb_end(&b, at);
	} else if (c->as.type) {
		at = sb_sect(&b, "WINS");
		wins_save(c, &b);
		sb_end(&b, at);
	}
	sb_seal(&b);
	fs_ckpt_put_snapshot(st, (int64_t)id, fs_stage_name(),
			     FS_CKPT_INSTANCE, b.p, b.n);
	sb_free(&b);
out:
	if (getenv("FS_SNAP_TRACE"))
		fprintf(stderr, "fs-window: snapshot %llu: %.3f ms\n",
			(unsigned long long)id,
			(double)(fs_mono_ns() - t0) / 1e6);
}

/*
 * Snapshots are written asynchronously, as Flink's are: at BARRIER n
 * the stage marks its part of n pending in the store and forks; the
 * child, holding the state as it was at the barrier (copy on write),
 * serializes it into the store over a connection of its own, clears
 * the pending mark and completes n if the sink got there first, while
 * the parent forwards the barrier and goes on.  One child at a time:
 * the next barrier waits for it, and so does the end of the tool.
 */
static pid_t child;		/* the snapshot writer, or 0 */

/*
 * Under AddressSanitizer the child writes nothing: ASan's allocator is
 * not fork-safe, and a librdkafka thread holding one of its locks at the
 * fork leaves the child's first malloc waiting for ever (seen in the
 * Kafka tests).  Those builds write the snapshot in the stage itself.
 * glibc's malloc takes its locks across fork, so the child is safe there.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SNAP_FORK 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SNAP_FORK 0
#endif
#endif
#ifndef SNAP_FORK
#define SNAP_FORK 1
#endif
static int64_t child_id;

/* Wait for the writer (block) or look; a failed one fails the tool. */
static void reap(int block, int at_exit)
{
	int ws;
	pid_t r;

	if (!child)
		return;
	do
		r = waitpid(child, &ws, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return;
	child = 0;
	if (r > 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
		return;
	fs_warn("cannot write the snapshot for checkpoint %lld: its writer "
		"%s %d", (long long)child_id, r > 0 && WIFSIGNALED(ws) ?
		"was killed by signal" : "exited with status", r < 0 ? -1 :
		WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
	if (at_exit)
		_exit(FS_EXIT_FAIL);
	exit(FS_EXIT_FAIL);
}

static void reap_at_exit(void)
{
	reap(1, 1);
}

void snap_put(struct wctx *c, struct feat *feat, uint64_t id)
{
	static int registered;
	struct fs_ckpt *st = fs_pipeline_ckpt();
	pid_t parent = getpid();

	reap(1, 0);
	if (!registered++)
		atexit(reap_at_exit);
	fs_ckpt_put_pending(st, (int64_t)id, fs_stage_name());
	child = SNAP_FORK ? fork() : -1;
	if (child < 0) {	/* no fork (ASan), or no process: here */
		child = 0;
		snap_write(c, feat, id, st);
		fs_pipeline_part_done(st, (int64_t)id);
		return;
	}
	if (child > 0) {
		child_id = (int64_t)id;
		return;
	}
	fs_exit_quick();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(FS_EXIT_FAIL);	/* the stage is gone: so is n */
	st = fs_pipeline_ckpt_reopen();
	snap_write(c, feat, id, st);
	fs_pipeline_part_done(st, (int64_t)id);
	_exit(FS_EXIT_OK);
}


/*
 * Open row part of checkpoint id and check its CONF against ours; the
 * buffer to free once r is read.
 */
static void *row_open(struct wctx *c, struct fs_ckpt *st, int64_t id,
		      int64_t part, struct srd *r)
{
	char conf[1024], why[1200];
	uint64_t len;
	size_t n;
	void *p = fs_ckpt_get_snapshot(st, id, fs_stage_name(), part, &n);

	if (!p)
		fs_die(FS_EXIT_FAIL, "checkpoint %lld of job '%s' has no "
		       "snapshot of stage '%s' (another --stage name?)",
		       (long long)id, fs_ckpt_job(st), fs_stage_name());
	if (sr_open(r, p, n, SNAP_MAGIC, SNAP_VERSION) != 0) {
		free(p);
		fs_pipeline_bad_snapshot(id, r->why);
	}
	conf_text(c, conf, sizeof(conf));
	len = sr_sect(r, "CONF");
	if (!r->bad && (len != strlen(conf) ||
			memcmp(r->p + r->off, conf, len) != 0)) {
		snprintf(why, sizeof(why), "made under other options (%.*s)",
			 (int)(len < 512 ? len : 512), r->p + r->off);
		free(p);
		fs_pipeline_bad_snapshot(id, why);
	}
	r->off += len;
	return p;
}

/* Done with row r: no bytes left over, or the snapshot is bad. */
static void row_close(int64_t id, struct srd *r, void *p)
{
	if (!r->bad && r->off != r->n)
		sr_fail(r, "trailing bytes");
	free(p);
	if (r->bad)
		fs_pipeline_bad_snapshot(id, r->why);
}

/*
 * Another instance's CTX merged into c (a checkpoint merged from
 * several, fs-checkpoint import): the earliest watermarks and due time,
 * the newest event time and output seq; the counters stay the first's.
 */
static void ctx_merge(struct wctx *c, struct srd *r)
{
	int64_t wm = sr_i64(r), wm_sent = sr_i64(r), max_ts = sr_i64(r);
	uint64_t seq;
	int64_t due;
	uint32_t type;

	(void)sr_u8(r);			/* fired: results since a WATERMARK */
	(void)sr_u8(r);			/* schema sent */
	seq = sr_u64(r);
	type = sr_u32(r);
	due = sr_i64(r);
	for (int i = 0; i < 7; i++)
		(void)sr_u64(r);	/* counters */
	if (r->bad)
		return;
	if (type && c->as.type && c->as.type->id != type) {
		sr_fail(r, "another record type");
		return;
	}
	if (wm < c->wm)
		c->wm = wm;
	if (wm_sent < c->wm_sent)
		c->wm_sent = wm_sent;
	if (max_ts > c->max_ts)
		c->max_ts = max_ts;
	if (seq > c->out_seq)
		c->out_seq = seq;
	if (due < c->next_due)
		c->next_due = due;
}

/* The state split by key group: instance rows, then the groups' rows. */
static void restore_groups(struct wctx *c, struct feat *feat,
			   struct fs_ckpt *st, int64_t id, const int64_t *part,
			   size_t np)
{
	const char *tag = feat ? "FEAT" : c->o.kind == WK_SESSION ? "SESS" :
		"WINS";
	int first = 1;

	for (size_t i = 0; i < np; i++) {
		struct srd r;
		void *p = row_open(c, st, id, part[i], &r);

		sr_sect(&r, part[i] < 0 ? "CTX " : "GRP ");
		if (part[i] < 0) {
			if (first)
				ctx_load(c, &r);
			else
				ctx_merge(c, &r);
			if (feat) {
				sr_sect(&r, "FCTX");
				feat_load_ctx(feat, &r, first);
			}
			first = 0;
		} else if (first) {
			sr_fail(&r, "key groups without the instance's row");
		} else if ((int64_t)sr_u32(&r) != part[i] ||
			   part[i] >= c->o.key_groups) {
			sr_fail(&r, "a key group in another row");
		} else {
			sr_sect(&r, tag);
			if (feat)
				feat_load_group(feat, &r);
			else if (c->o.kind == WK_SESSION)
				sess_load_group(c, &r);
			else
				wins_load(c, &r, 1);
		}
		row_close(id, &r, p);
	}
	if (feat)
		c->n_keys = feat_keys(feat);
	else if (c->o.kind != WK_SESSION)
		for (uint32_t i = 0; i < c->nwins; i++)
			c->n_keys += c->wins[i].nslots;
}

void snap_restore(struct wctx *c, struct feat *feat)
{
	struct fs_ckpt *st = fs_pipeline_ckpt();
	int64_t id = st ? fs_pipeline_restored() : 0, *part;
	struct srd r;
	size_t np;
	void *p;

	if (id <= 0)
		return;
	part = fs_ckpt_snapshot_parts(st, id, fs_stage_name(), &np);
	if (c->o.key_groups) {
		if (!np)
			(void)row_open(c, st, id, FS_CKPT_INSTANCE, &r);
		restore_groups(c, feat, st, id, part, np);
		free(part);
		return;
	}
	if (np > 1 && part[1] < 0) {
		free(part);
		fs_die(FS_EXIT_DATA, "checkpoint %lld of job '%s' merges %zu "
		       "instances of stage '%s', whose state is in one piece: "
		       "only state split by key group (--key-groups) merges",
		       (long long)id, fs_ckpt_job(st), np, fs_stage_name());
	}
	free(part);
	p = row_open(c, st, id, FS_CKPT_INSTANCE, &r);
	sr_sect(&r, "CTX ");
	ctx_load(c, &r);
	if (feat) {
		sr_sect(&r, "FEAT");
		feat_load(feat, &r);
		c->n_keys = feat_keys(feat);
	} else if (c->as.type && c->o.kind == WK_SESSION) {
		sr_sect(&r, "SESS");
		sess_load(c, &r);
	} else if (c->as.type) {
		sr_sect(&r, "WINS");
		wins_load(c, &r, 0);
		for (uint32_t i = 0; i < c->nwins; i++)
			c->n_keys += c->wins[i].nslots;
	}
	row_close(id, &r, p);
}
