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
		 "state-ttl=%lld agg=%s key=%s type=%s features=%s",
		 o->kind, (long long)o->size, (long long)o->slide,
		 (long long)o->offset, (long long)o->max_delay,
		 (long long)o->lateness, (long long)o->early,
		 o->distinct_limit, (long long)o->state_ttl,
		 o->agg ? o->agg : "", o->key ? o->key : "",
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

static void wins_load(struct wctx *c, struct srd *r)
{
	uint32_t n = sr_u32(r);

	if (n > r->n - r->off)
		n = (uint32_t)sr_fail(r, "bad window count") & 0;
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		uint32_t ns, *v;
		struct win *w;
		int isnew;

		if (c->nwins == c->capwins) {
			c->capwins = c->capwins ? c->capwins * 2 : 16;
			c->wins = fs_xrealloc(c->wins,
					      c->capwins * sizeof(*c->wins));
			c->free_wins = fs_xrealloc(c->free_wins, c->capwins *
						   sizeof(*c->free_wins));
		}
		w = &c->wins[c->nwins];
		memset(w, 0, sizeof(*w));
		w->start = sr_i64(r);
		w->end = sr_i64(r);
		w->next_early = sr_i64(r);
		w->fired = sr_u8(r);
		w->active = 1;
		ns = sr_u32(r);
		if ((uint64_t)ns * c->as.stride > r->n - r->off)
			ns = (uint32_t)sr_fail(r, "bad slot count") & 0;
		ktab_init(&w->keys, 1024);
		v = ktab_put(&c->wintab, (uint64_t)w->end, &isnew);
		if (!isnew)
			sr_fail(r, "a window twice");
		*v = c->nwins++;
		w->cap = ns > 1024 ? ns : 1024;
		w->slots = fs_xmalloc((size_t)w->cap * c->as.stride);
		for (uint32_t k = 0; k < ns && !r->bad; k++) {
			struct slot *sl = (struct slot *)
				(w->slots + (size_t)k * c->as.stride);

			slot_load(c, r, sl);
			*ktab_put(&w->keys, sl->key, &isnew) = k;
			w->nslots++;
		}
	}
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

/* Serialize the state and put it in store st as the snapshot for id. */
static void snap_write(struct wctx *c, struct feat *feat, uint64_t id,
		       struct fs_ckpt *st)
{
	struct sbuf b = { NULL, 0, 0 };
	char conf[1024];
	size_t at;
	int64_t t0 = fs_mono_ns(), t1;

	conf_text(c, conf, sizeof(conf));
	sb_head(&b, SNAP_MAGIC, SNAP_VERSION);
	at = sb_sect(&b, "CONF");
	sb_put(&b, conf, strlen(conf));
	sb_end(&b, at);
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
	t1 = fs_mono_ns();
	fs_ckpt_put_snapshot(st, (int64_t)id, fs_stage_name(), 0, b.p, b.n);
	if (getenv("FS_SNAP_TRACE"))
		fprintf(stderr, "fs-window: snapshot %llu: %zu bytes, "
			"%.3f ms (%.3f ms to the store)\n",
			(unsigned long long)id, b.n,
			(double)(fs_mono_ns() - t0) / 1e6,
			(double)(fs_mono_ns() - t1) / 1e6);
	free(b.p);
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
	child = fork();
	if (child < 0) {	/* no process to spare: write it here */
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

static _Noreturn void bad_snap(int64_t id, const char *why)
{
	fs_die(FS_EXIT_DATA, "bad snapshot of stage '%s' for checkpoint %lld: "
	       "%s", fs_stage_name(), (long long)id, why);
}

void snap_restore(struct wctx *c, struct feat *feat)
{
	struct fs_ckpt *st = fs_pipeline_ckpt();
	int64_t id = st ? fs_pipeline_restored() : 0;
	char conf[1024], why[1200];
	struct srd r;
	uint64_t len;
	size_t n;
	void *p;

	if (id <= 0)
		return;
	p = fs_ckpt_get_snapshot(st, id, fs_stage_name(), 0, &n);
	if (!p)
		fs_die(FS_EXIT_FAIL, "checkpoint %lld of job '%s' has no "
		       "snapshot of stage '%s' (another --stage name?)",
		       (long long)id, fs_ckpt_job(st), fs_stage_name());
	if (sr_open(&r, p, n, SNAP_MAGIC, SNAP_VERSION) != 0) {
		free(p);
		bad_snap(id, r.why);
	}
	conf_text(c, conf, sizeof(conf));
	len = sr_sect(&r, "CONF");
	if (!r.bad && (len != strlen(conf) ||
		       memcmp(r.p + r.off, conf, len) != 0)) {
		snprintf(why, sizeof(why), "made under other options (%.*s)",
			 (int)(len < 512 ? len : 512), r.p + r.off);
		free(p);
		bad_snap(id, why);
	}
	r.off += len;
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
		wins_load(c, &r);
		for (uint32_t i = 0; i < c->nwins; i++)
			c->n_keys += c->wins[i].nslots;
	}
	if (!r.bad && r.off != r.n)
		sr_fail(&r, "trailing bytes");
	free(p);
	if (r.bad)
		bad_snap(id, r.why);
}
