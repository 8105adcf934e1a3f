/*
 * fs-match - complex event patterns per key (fs-match(1)).
 *
 * Records of one type are re-ordered by event time (released at each
 * WATERMARK), then each key's events run through the pattern's NFA:
 * runs (partial matches) in a flat pool, kept per key in preference
 * order, with their taken events in a shared history pool.  Every input
 * record passes through to the output unchanged; an ALERT per match
 * goes to --alerts (or the output), the matched events to --matches.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "snapbuf.h"

#define NIL UINT32_MAX
#define SNAP_MAGIC "FSMAT1"
#define SNAP_VERSION 1

/* A run: a partial match, or a completed one waiting for its turn. */
struct run {
	uint32_t next;		/* the key's next entry, in order */
	uint32_t node;		/* history: the last event taken */
	int32_t var;		/* the variable of that event; -1: none */
	uint32_t cnt;		/* events taken as var in a row */
	uint32_t done;		/* 1: a completed match */
	uint32_t nev;		/* events taken */
	uint64_t start_pos;	/* the key's event number of the first */
	int64_t start_ts;
	uint32_t vcnt[MAXVAR];
	union aval agg[MAXAGG];
};

/* A taken event; shared by the runs that took it (refs). */
struct hnode {
	uint32_t parent, refs;
	uint32_t var, pad_;
	uint64_t pos;		/* the key's event number of it */
	char frame[];		/* the event's frame, fsize bytes */
};

/* A flat pool of fixed-size items, by index, with a free list. */
struct pool {
	char *p;
	size_t stride;
	uint32_t n, cap, free, used;
};

/* A key with entries (runs) in preference order. */
struct kent {
	uint64_t key;
	uint32_t head, tail;	/* NIL when the slot is empty */
	uint64_t npos;		/* events of the key so far */
	int64_t last_ts;
};

/* A buffered event waiting for the watermark. */
struct pend {
	int64_t ts;
	uint32_t slot;
	uint32_t pad_;
};

/* A key to look at once event time passes deadline. */
struct due {
	int64_t deadline;
	uint64_t key;
};

struct opts {
	const char *in, *out, *alerts, *matches, *metrics, *key, *type;
	const char *pattern, *name, *defines[MAXVAR];
	int ndefine, skip_next, to_next, quiet;
	int64_t within, ttl, max_delay;	/* max_delay < 0: none */
};

struct matcher {
	struct opts o;
	struct pattern pat;
	const struct fs_field *keyf;
	size_t fsize;			/* stored frame size */
	uint64_t pat_id;
	struct pool runs, nodes, slots;
	struct kent *keys;
	uint32_t kcap, nkeys;
	struct pend *pend;
	uint32_t npend, cpend;
	struct due *dues;
	uint32_t dhead, dn, dcap;	/* a ring */
	int64_t wm;
	uint64_t cur_pos;		/* the key's number of the event */
	uint32_t *scratch;
	uint32_t cscratch;
	struct fs_reader *r;
	struct fs_writer *w, *aw, *mw;
	struct fs_metrics *mx;
	uint64_t n_events, n_matches, n_expired, n_late, n_other;
	double g_runs, g_keys;
};

/* ---- pools ---- */

static void pool_init(struct pool *p, size_t stride)
{
	memset(p, 0, sizeof(*p));
	p->stride = (stride + 7) & ~(size_t)7;
	p->free = NIL;
}

static inline void *pool_at(const struct pool *p, uint32_t i)
{
	return p->p + (size_t)i * p->stride;
}

/* A new item (its bytes undefined); grows by doubling. */
static uint32_t pool_get(struct pool *p)
{
	uint32_t i;

	p->used++;
	if (p->free != NIL) {
		i = p->free;
		memcpy(&p->free, pool_at(p, i), 4);
		return i;
	}
	if (p->n == p->cap) {
		if (p->cap >= (1u << 30))
			fs_die(FS_EXIT_FAIL, "state: too many partial matches");
		p->cap = p->cap ? p->cap * 2 : 1024;
		p->p = fs_xrealloc(p->p, (size_t)p->cap * p->stride);
	}
	return p->n++;
}

static void pool_put(struct pool *p, uint32_t i)
{
	memcpy(pool_at(p, i), &p->free, 4);
	p->free = i;
	p->used--;
}

/* ---- history ---- */

static inline struct hnode *node_at(struct matcher *m, uint32_t i)
{
	return pool_at(&m->nodes, i);
}

static void node_unref(struct matcher *m, uint32_t i)
{
	while (i != NIL) {
		struct hnode *n = node_at(m, i);
		uint32_t up = n->parent;

		if (--n->refs)
			return;
		pool_put(&m->nodes, i);
		i = up;
	}
}

static inline struct run *run_at(struct matcher *m, uint32_t i)
{
	return pool_at(&m->runs, i);
}

static void run_free(struct matcher *m, uint32_t i)
{
	node_unref(m, run_at(m, i)->node);
	pool_put(&m->runs, i);
}

/* ---- keys: open addressing, linear probing ---- */

static inline uint32_t khash(uint64_t k, uint32_t cap)
{
	return (uint32_t)((k * 0x9e3779b97f4a7c15ULL) >> 32) & (cap - 1);
}

static void keys_grow(struct matcher *m)
{
	struct kent *old = m->keys;
	uint32_t ocap = m->kcap;

	m->kcap = ocap ? ocap * 2 : 1024;
	m->keys = fs_xmalloc((size_t)m->kcap * sizeof(*m->keys));
	for (uint32_t i = 0; i < m->kcap; i++)
		m->keys[i].head = NIL;
	for (uint32_t i = 0; i < ocap; i++) {
		uint32_t j;

		if (old[i].head == NIL)
			continue;
		for (j = khash(old[i].key, m->kcap); m->keys[j].head != NIL;
		     j = (j + 1) & (m->kcap - 1))
			;
		m->keys[j] = old[i];
	}
	free(old);
}

/* The slot of key k (with entries), or NIL. */
static uint32_t key_find(const struct matcher *m, uint64_t k)
{
	if (!m->kcap)
		return NIL;
	for (uint32_t j = khash(k, m->kcap);; j = (j + 1) & (m->kcap - 1)) {
		if (m->keys[j].head == NIL)
			return NIL;
		if (m->keys[j].key == k)
			return j;
	}
}

/* Empty slot j (backward-shift deletion). */
static void key_del(struct matcher *m, uint32_t j)
{
	uint32_t mask = m->kcap - 1, i = j;

	m->nkeys--;
	for (;;) {
		uint32_t h;

		m->keys[i].head = NIL;
		for (;;) {
			j = (j + 1) & mask;
			if (m->keys[j].head == NIL)
				return;
			h = khash(m->keys[j].key, m->kcap);
			if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
				continue;
			break;
		}
		m->keys[i] = m->keys[j];
		i = j;
	}
}

/* Put kent e (with entries) in the table; it is not there. */
static void key_put(struct matcher *m, const struct kent *e)
{
	uint32_t j;

	if ((m->nkeys + 1) * 2 > m->kcap)
		keys_grow(m);
	for (j = khash(e->key, m->kcap); m->keys[j].head != NIL;
	     j = (j + 1) & (m->kcap - 1))
		;
	m->keys[j] = *e;
	m->nkeys++;
}

/* ---- the NFA ---- */

/*
 * The variables a run in variable var with cnt events in it may take
 * the event ev as, in preference order (lowest variable first, so
 * staying in var before moving on: greedy), into opt; how many.
 */
static int options(struct matcher *m, const struct run *r, const char *ev,
		   const char *prev, int *opt)
{
	const struct pattern *p = &m->pat;
	struct evalctx c = { ev, prev, r->vcnt, r->agg, 0 };
	int n = 0, w;

	if (r->var >= 0 && r->cnt < p->qmax[r->var]) {
		c.var = r->var;
		if (p->cond[r->var] < 0 || pat_test(p, p->cond[r->var], &c))
			opt[n++] = r->var;
	}
	if (r->var >= 0 && r->cnt < p->qmin[r->var])
		return n;
	for (w = r->var + 1; w < p->nvar; w++) {
		c.var = w;
		if (p->cond[w] < 0 || pat_test(p, p->cond[w], &c))
			opt[n++] = w;
		if (p->qmin[w] > 0)
			break;
	}
	return n;
}

/* Whether a run in var with cnt events there may end the match now. */
static int completable(const struct pattern *p, int var, uint32_t cnt)
{
	if (var < 0 || cnt < p->qmin[var])
		return 0;
	for (int w = var + 1; w < p->nvar; w++)
		if (p->qmin[w] > 0)
			return 0;
	return 1;
}

/* Whether it may take more events. */
static int extensible(const struct pattern *p, int var, uint32_t cnt)
{
	return cnt < p->qmax[var] || var + 1 < p->nvar;
}

/* Append entry i to the list (head, tail). */
static inline void put_last(struct matcher *m, uint32_t *head,
			    uint32_t *tail, uint32_t i)
{
	run_at(m, i)->next = NIL;
	if (*tail == NIL)
		*head = i;
	else
		run_at(m, *tail)->next = i;
	*tail = i;
}

/*
 * Run i takes ev (frame f) as variable w: history and aggregates; then
 * the entries it makes go to the list in preference order (itself,
 * alive, before its completed copy).
 */
static void take(struct matcher *m, uint32_t i, int w, const char *f,
		 uint32_t *head, uint32_t *tail)
{
	struct run *r = run_at(m, i);
	uint32_t ni = pool_get(&m->nodes), d;
	struct hnode *n = node_at(m, ni);

	r = run_at(m, i);		/* the pool may have moved */
	n->parent = r->node;		/* the run's reference passes on */
	n->refs = 1;
	n->var = (uint32_t)w;
	n->pos = m->cur_pos;
	memcpy(n->frame, f, m->fsize);
	r->node = ni;
	pat_fold(&m->pat, r->agg, w, r->vcnt[w], f);
	r->vcnt[w]++;
	r->cnt = r->var == w ? r->cnt + 1 : 1;
	r->var = w;
	r->nev++;
	if (!completable(&m->pat, w, r->cnt)) {
		put_last(m, head, tail, i);
		return;
	}
	if (!extensible(&m->pat, w, r->cnt)) {
		r->done = 1;
		put_last(m, head, tail, i);
		return;
	}
	put_last(m, head, tail, i);
	d = pool_get(&m->runs);
	r = run_at(m, i);
	memcpy(run_at(m, d), r, sizeof(*r));
	run_at(m, d)->done = 1;
	n->refs++;
	put_last(m, head, tail, d);
}

/*
 * Run i (alive) meets ev: it branches into one entry per option, or,
 * with none, dies (strict contiguity) or lets the event pass
 * (--skip-till-next).
 */
static void step(struct matcher *m, uint32_t i, const char *f,
		 uint32_t *head, uint32_t *tail)
{
	struct run *r = run_at(m, i);
	int opt[MAXVAR + 1], n;
	const char *prev = r->node == NIL ? f : node_at(m, r->node)->frame;

	n = options(m, r, f, prev, opt);
	if (n == 0) {
		if (m->o.skip_next && r->nev)
			put_last(m, head, tail, i);
		else
			run_free(m, i);
		return;
	}
	for (int k = 0; k + 1 < n; k++) {
		uint32_t c = pool_get(&m->runs);

		r = run_at(m, i);
		memcpy(run_at(m, c), r, sizeof(*r));
		if (r->node != NIL)
			node_at(m, r->node)->refs++;
		take(m, c, opt[k], f, head, tail);
	}
	take(m, i, opt[n - 1], f, head, tail);
}

/* ---- output ---- */

/* The matched events of done entry d, first first, into m->scratch. */
static uint32_t history(struct matcher *m, const struct run *d)
{
	uint32_t n = d->nev, k = n;

	if (n > m->cscratch) {
		m->cscratch = n * 2;
		m->scratch = fs_xrealloc(m->scratch,
					 m->cscratch * sizeof(uint32_t));
	}
	for (uint32_t i = d->node; i != NIL && k; i = node_at(m, i)->parent)
		m->scratch[--k] = i;
	return n;
}

/* A --matches tag: a JSON record naming the match and the variable. */
static void write_tag(struct matcher *m, const struct fs_hdr *e,
		      uint32_t var, uint32_t i, uint32_t n)
{
	char text[160];
	int len = snprintf(text, sizeof(text),
			   "{\"match\":%llu,\"pattern\":\"%s\",\"var\":\"%s\","
			   "\"i\":%u,\"n\":%u}",
			   (unsigned long long)m->n_matches, m->pat.name,
			   m->pat.vname[var], i, n);
	struct fs_hdr *h = fs_write_reserve(m->mw, FS_T_JSON, 4 + (size_t)len);
	uint32_t l = (uint32_t)len;

	h->ts_event = e->ts_event;
	h->ts_ingest = e->ts_ingest;
	h->key = e->key;
	h->seq = e->seq;
	memcpy(fs_body(h), &l, 4);
	memcpy((char *)fs_body(h) + 4, text, l);
}

/* The ALERT of done entry d of key, and its events to --matches. */
static void emit(struct matcher *m, uint64_t key, const struct run *d)
{
	uint32_t n = history(m, d);
	const struct fs_hdr *first = (void *)node_at(m, m->scratch[0])->frame;
	const struct fs_hdr *last = (void *)node_at(m, d->node)->frame;
	struct fs_hdr *h;
	struct fs_alert *a;

	m->n_matches++;
	h = fs_write_reserve(m->aw ? m->aw : m->w, FS_T_ALERT, sizeof(*a));
	a = fs_body(h);
	h->ts_event = last->ts_event;
	h->ts_ingest = last->ts_ingest;
	h->key = key;
	h->seq = last->seq;
	a->score = n;
	a->model_id = m->pat_id;
	memcpy(a->reason, m->pat.name, sizeof(a->reason));
	a->first_ts = first->ts_event;
	a->first_seq = first->seq;
	if (!m->mw)
		return;
	for (uint32_t i = 0; i < n; i++) {
		struct hnode *e = node_at(m, m->scratch[i]);

		write_tag(m, (const void *)e->frame, e->var, i, n);
		fs_write_frame(m->mw, (const void *)e->frame);
	}
}

/* ---- per key ---- */

/*
 * Within each start, drop the entries after a completed one (they are
 * less preferred); then report completed entries at the front, in
 * start order, dropping what the after-match skip skips.
 */
static void resolve(struct matcher *m, struct kent *k)
{
	uint32_t i = k->head, prev = NIL, keep_done = 0;
	uint64_t group = UINT64_MAX;

	k->tail = NIL;
	while (i != NIL) {
		struct run *r = run_at(m, i);
		uint32_t nx = r->next;

		if (r->start_pos != group) {
			group = r->start_pos;
			keep_done = 0;
		}
		if (keep_done) {
			run_free(m, i);
			if (prev == NIL)
				k->head = nx;
			else
				run_at(m, prev)->next = nx;
		} else {
			keep_done = r->done;
			prev = i;
			k->tail = i;
		}
		i = nx;
	}
	while (k->head != NIL && run_at(m, k->head)->done) {
		struct run *d = run_at(m, k->head);
		uint64_t cut = m->o.to_next ? d->start_pos :
			       node_at(m, d->node)->pos;

		emit(m, k->key, d);
		while (k->head != NIL && run_at(m, k->head)->start_pos <= cut) {
			uint32_t nx = run_at(m, k->head)->next;

			run_free(m, k->head);
			k->head = nx;
		}
	}
	if (k->head == NIL)
		k->tail = NIL;
}

/* Write kent k back to its slot j (NIL: not in the table). */
static void key_back(struct matcher *m, uint32_t j, const struct kent *k)
{
	if (j == NIL) {
		if (k->head != NIL)
			key_put(m, k);
	} else if (k->head == NIL) {
		key_del(m, j);
	} else {
		m->keys[j] = *k;
	}
}

static void due_push(struct matcher *m, int64_t deadline, uint64_t key)
{
	if (m->dn == m->dcap) {
		uint32_t ncap = m->dcap ? m->dcap * 2 : 1024;
		struct due *d = fs_xmalloc((size_t)ncap * sizeof(*d));

		for (uint32_t i = 0; i < m->dn; i++)
			d[i] = m->dues[(m->dhead + i) & (m->dcap - 1)];
		free(m->dues);
		m->dues = d;
		m->dcap = ncap;
		m->dhead = 0;
	}
	m->dues[(m->dhead + m->dn++) & (m->dcap - 1)] =
		(struct due){ deadline, key };
}

/* The event f (released in event-time order) of its key. */
static void on_event(struct matcher *m, const char *f)
{
	const struct fs_hdr *h = (const void *)f;
	uint64_t key = m->keyf ? (uint64_t)fs_load_int(f + m->keyf->off,
						       m->keyf->kind) : h->key;
	uint32_t j = key_find(m, key), i, head = NIL, tail = NIL, fresh;
	struct kent k = { key, NIL, NIL, 0, 0 };
	int64_t ts = h->ts_event;

	if (j != NIL)
		k = m->keys[j];
	m->cur_pos = k.npos++;
	k.last_ts = ts;
	m->n_events++;
	for (i = k.head; i != NIL;) {
		struct run *r = run_at(m, i);
		uint32_t nx = r->next;

		if (r->done) {
			put_last(m, &head, &tail, i);
		} else if (m->o.within && ts - r->start_ts > m->o.within) {
			m->n_expired++;
			run_free(m, i);
		} else {
			step(m, i, f, &head, &tail);
		}
		i = nx;
	}
	fresh = pool_get(&m->runs);
	{
		struct run *r = run_at(m, fresh);

		memset(r, 0, sizeof(*r));
		r->node = NIL;
		r->var = -1;
		r->start_pos = m->cur_pos;
		r->start_ts = ts;
	}
	i = tail;
	step(m, fresh, f, &head, &tail);
	k.head = head;
	k.tail = tail;
	if (m->o.within && tail != i)
		due_push(m, ts + m->o.within, key);
	else if (!m->o.within && m->o.ttl && head != NIL)
		due_push(m, ts + m->o.ttl, key);
	resolve(m, &k);
	key_back(m, j, &k);
}

/*
 * Event time reached m->wm: the partial matches of key that can take
 * no more events (--within, --state-ttl; all of them with all) die,
 * then what is complete is reported.
 */
static void expire_key(struct matcher *m, uint32_t j, int all)
{
	struct kent k = m->keys[j];
	uint32_t i, head = NIL, tail = NIL;

	for (i = k.head; i != NIL;) {
		struct run *r = run_at(m, i);
		uint32_t nx = r->next;

		if (!r->done && (all ||
		    (m->o.within && r->start_ts + m->o.within < m->wm) ||
		    (m->o.ttl && k.last_ts + m->o.ttl < m->wm))) {
			if (!all)
				m->n_expired++;
			run_free(m, i);
		} else {
			put_last(m, &head, &tail, i);
		}
		i = nx;
	}
	k.head = head;
	k.tail = tail;
	resolve(m, &k);
	if (!all)
		key_back(m, j, &k);
	else
		m->keys[j] = k;
}

/* Release the buffered events up to event time t, in order. */
static void release(struct matcher *m, int64_t t)
{
	uint32_t n = 0;

	while (n < m->npend && m->pend[n].ts <= t) {
		on_event(m, pool_at(&m->slots, m->pend[n].slot));
		pool_put(&m->slots, m->pend[n].slot);
		n++;
	}
	memmove(m->pend, m->pend + n, (m->npend - n) * sizeof(*m->pend));
	m->npend -= n;
}

static void on_watermark(struct matcher *m, int64_t t)
{
	if (t <= m->wm)
		return;
	m->wm = t;
	release(m, t);
	while (m->dn && m->dues[m->dhead].deadline < t) {
		uint32_t j = key_find(m, m->dues[m->dhead].key);

		m->dhead = (m->dhead + 1) & (m->dcap - 1);
		m->dn--;
		if (j != NIL)
			expire_key(m, j, 0);
	}
}

/* The end of the input: every buffered event, then every match. */
static void finish(struct matcher *m)
{
	release(m, INT64_MAX);
	for (uint32_t j = 0; j < m->kcap; j++)
		if (m->keys[j].head != NIL)
			expire_key(m, j, 1);
	for (uint32_t j = 0; j < m->kcap; j++)
		m->keys[j].head = NIL;
	m->nkeys = 0;
	m->dn = 0;
}

/* Buffer a record of the matched type until the watermark passes it. */
static int on_record(struct matcher *m, const struct fs_hdr *h)
{
	uint32_t s, i;

	if (fs_frame_size(h) < m->fsize)
		return fs_error("%s record %llu: body of %zu bytes, under "
				"the %u of its type (byte offset %llu)",
				m->pat.type->name,
				(unsigned long long)fs_reader_frames(m->r),
				fs_body_len(h), m->pat.type->body_size,
				(unsigned long long)(fs_reader_offset(m->r) -
						     fs_frame_size(h)));
	if (h->ts_event < m->wm) {
		m->n_late++;
		return 0;
	}
	s = pool_get(&m->slots);
	memcpy(pool_at(&m->slots, s), h, m->fsize);
	((struct fs_hdr *)pool_at(&m->slots, s))->len =
		(uint32_t)m->fsize - 4;
	if (m->npend == m->cpend) {
		m->cpend = m->cpend ? m->cpend * 2 : 4096;
		m->pend = fs_xrealloc(m->pend, m->cpend * sizeof(*m->pend));
	}
	for (i = m->npend++; i > 0 && m->pend[i - 1].ts > h->ts_event; i--)
		m->pend[i] = m->pend[i - 1];
	m->pend[i] = (struct pend){ h->ts_event, s, 0 };
	return 0;
}

/* ---- checkpoints ---- */

static void snap_pool(struct sbuf *b, const char tag[4], const struct pool *p)
{
	size_t at = sb_sect(b, tag);

	sb_u64(b, p->stride);
	sb_u32(b, p->n);
	sb_u32(b, p->free);
	sb_u32(b, p->used);
	sb_put(b, p->p, (size_t)p->n * p->stride);
	sb_end(b, at);
}

static void unsnap_pool(struct srd *r, const char tag[4], struct pool *p)
{
	uint64_t stride;
	uint32_t n;

	sr_sect(r, tag);
	stride = sr_u64(r);
	n = sr_u32(r);
	p->free = sr_u32(r);
	p->used = sr_u32(r);
	if (stride != p->stride || (uint64_t)n * stride > r->n - r->off) {
		sr_fail(r, "a pool of another layout");
		return;
	}
	p->cap = p->n = n;
	p->p = fs_xrealloc(p->p, (size_t)(n ? n : 1) * stride);
	sr_get(r, p->p, (size_t)n * stride);
	if (p->free != NIL && p->free >= n)
		sr_fail(r, "a free list past the pool");
}

/*
 * At a BARRIER under --state: everything in one FS_CKPT_INSTANCE row:
 * counters and watermark, the buffered events, the pools (runs,
 * history, buffered frames) and the key table as they are in memory
 * (indexes, not pointers), and the expiry queue.
 */
static void snap_put(struct matcher *m, uint64_t id)
{
	struct sbuf b = { 0 };
	size_t at;

	sb_head(&b, SNAP_MAGIC, SNAP_VERSION);
	at = sb_sect(&b, "CFG ");
	sb_u64(&b, m->pat_id);
	sb_u64(&b, m->fsize);
	sb_i64(&b, m->wm);
	sb_u64(&b, m->n_events);
	sb_u64(&b, m->n_matches);
	sb_u64(&b, m->n_expired);
	sb_u64(&b, m->n_late);
	sb_u64(&b, m->n_other);
	sb_u32(&b, m->nkeys);
	sb_end(&b, at);
	snap_pool(&b, "RUNS", &m->runs);
	snap_pool(&b, "HIST", &m->nodes);
	snap_pool(&b, "SLOT", &m->slots);
	at = sb_sect(&b, "KEYS");
	sb_u32(&b, m->kcap);
	sb_put(&b, m->keys, (size_t)m->kcap * sizeof(*m->keys));
	sb_end(&b, at);
	at = sb_sect(&b, "PEND");
	sb_u32(&b, m->npend);
	sb_put(&b, m->pend, (size_t)m->npend * sizeof(*m->pend));
	sb_end(&b, at);
	at = sb_sect(&b, "DUES");
	sb_u32(&b, m->dn);
	for (uint32_t i = 0; i < m->dn; i++)
		sb_put(&b, &m->dues[(m->dhead + i) & (m->dcap - 1)],
		       sizeof(struct due));
	sb_end(&b, at);
	sb_seal(&b);
	fs_ckpt_put_snapshot(fs_pipeline_ckpt(), (int64_t)id, fs_stage_name(),
			     FS_CKPT_INSTANCE, b.p, b.n);
	sb_free(&b);
}

/* Read a counted array of n items of size into *p (a new buffer). */
static uint32_t unsnap_arr(struct srd *r, const char tag[4], void **p,
			   size_t size)
{
	uint32_t n;

	sr_sect(r, tag);
	n = sr_u32(r);
	if ((uint64_t)n * size > r->n - r->off) {
		sr_fail(r, "a count past the end");
		return 0;
	}
	free(*p);
	*p = fs_xmalloc((size_t)(n ? n : 1) * size);
	sr_get(r, *p, (size_t)n * size);
	return n;
}

/* Put the state of the restored checkpoint back, if there is one. */
static void snap_restore(struct matcher *m)
{
	int64_t id = fs_pipeline_ckpt() ? fs_pipeline_restored() : 0;
	uint32_t cap = 1;
	struct srd r;
	void *p;
	size_t n;

	if (id <= 0)
		return;
	p = fs_pipeline_snapshot(id, &n, NULL);
	if (sr_open(&r, p, n, SNAP_MAGIC, SNAP_VERSION) == 0) {
		sr_sect(&r, "CFG ");
		if (sr_u64(&r) != m->pat_id || sr_u64(&r) != m->fsize)
			sr_fail(&r, "made by another pattern or options");
		m->wm = sr_i64(&r);
		m->n_events = sr_u64(&r);
		m->n_matches = sr_u64(&r);
		m->n_expired = sr_u64(&r);
		m->n_late = sr_u64(&r);
		m->n_other = sr_u64(&r);
		m->nkeys = sr_u32(&r);
		unsnap_pool(&r, "RUNS", &m->runs);
		unsnap_pool(&r, "HIST", &m->nodes);
		unsnap_pool(&r, "SLOT", &m->slots);
		m->kcap = unsnap_arr(&r, "KEYS", (void **)&m->keys,
				     sizeof(*m->keys));
		if ((m->kcap & (m->kcap - 1)) || m->nkeys > m->kcap / 2)
			sr_fail(&r, "a key table of a bad size");
		m->npend = m->cpend = unsnap_arr(&r, "PEND",
						 (void **)&m->pend,
						 sizeof(*m->pend));
		m->dn = unsnap_arr(&r, "DUES", (void **)&m->dues,
				   sizeof(*m->dues));
		while (cap < m->dn)
			cap *= 2;
		m->dcap = cap;
		m->dues = fs_xrealloc(m->dues, cap * sizeof(*m->dues));
		m->dhead = 0;
		if (!r.bad && r.off != r.n)
			sr_fail(&r, "bytes after the last section");
	}
	free(p);
	if (r.bad)
		fs_pipeline_bad_snapshot(id, r.why);
}

/* ---- the main loop ---- */

static void on_frame(struct matcher *m, const struct fs_hdr *h)
{
	if (!fs_is_control(h)) {
		if (h->type == m->pat.type->id) {
			if (on_record(m, h) < 0) {
				fs_writers_flush_all();
				exit(FS_EXIT_DATA);
			}
			if (m->o.max_delay >= 0 &&
			    h->ts_event - m->o.max_delay > m->wm)
				on_watermark(m, h->ts_event - m->o.max_delay);
		} else {
			m->n_other++;
		}
	} else if (h->type == FS_T_WATERMARK) {
		on_watermark(m, h->ts_event);
	} else if (h->type == FS_T_BARRIER && fs_pipeline_ckpt()) {
		snap_put(m, fs_barrier_id(h));
	}
	fs_write_frame(m->w, h);
}

static int run(struct matcher *m)
{
	const struct fs_hdr *h;
	int rc;

	while ((rc = fs_read(m->r, &h)) == 1) {
		on_frame(m, h);
		if ((fs_reader_frames(m->r) & 4095) == 0) {
			m->g_runs = m->runs.used;
			m->g_keys = m->nkeys;
			fs_metrics_tick(m->mx);
			if (fs_progress_due())
				fs_progress("%llu events, %llu matches",
					    (unsigned long long)m->n_events,
					    (unsigned long long)m->n_matches);
		}
	}
	fs_progress_done();
	if (rc < 0)
		return FS_EXIT_DATA;
	finish(m);
	m->g_runs = m->runs.used;
	m->g_keys = m->nkeys;
	return FS_EXIT_OK;
}

/* ---- built-in patterns (fs-match(1) BUILT-IN PATTERNS) ---- */

struct builtin {
	const char *name, *pattern, *def[3];
	int64_t within;
};

static const struct builtin builtins[] = {
	{ "card-testing", "T{4,}",
	  { "T: channel = 1 and device = first(T.device) and "
	    "(count(T) = 1 or merchant != prev.merchant)" },
	  120 * 1000000000LL },
	{ "impossible-travel", "HOME AWAY+",
	  { "AWAY: channel != 1 and country != first(HOME.country)" },
	  900 * 1000000000LL },
	{ "velocity-spike", "V{4,}",
	  { "V: channel = 0 and device = first(V.device) and "
	    "(count(V) = 1 or merchant != prev.merchant)" },
	  240 * 1000000000LL },
	{ NULL, NULL, { NULL }, 0 },
};

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: fs-match --pattern PATTERN [--define 'VAR: CONDITION']...\n"
"                [--name NAME] [--type TYPE] [--key FIELD]\n"
"                [--within DURATION] [--skip-till-next]\n"
"                [--after-match past-last|to-next]\n"
"                [--state-ttl DURATION] [--max-delay DURATION]\n"
"                [--alerts URI] [--matches URI]\n"
"                [-q] [--metrics FILE] [-i URI] [-o URI]\n"
"                " FS_PIPELINE_SYNOPSIS "\n"
"                " FS_KAFKA_SYNOPSIS "\n"
"Find event patterns per key (MATCH_RECOGNIZE-like): an ALERT per\n"
"match; every input record passes through unchanged.\n"
"\n"
"  --pattern PATTERN    variables with quantifiers ('SMALL{3,} BIG'), or\n"
"                       a built-in: card-testing, impossible-travel,\n"
"                       velocity-spike\n"
"  --define 'V: COND'   the condition of variable V (none: any event)\n"
"  --name NAME          the ALERTs' reason (default: the built-in's\n"
"                       name, else \"match\")\n"
"  --type TYPE          the records matched (default txn)\n"
"  --key FIELD          match per FIELD (default: the header key)\n"
"  --within DURATION    first to last event of a match at most this\n"
"  --skip-till-next     relaxed contiguity: events that fit no\n"
"                       variable are passed over\n"
"  --after-match MODE   past-last (default) or to-next\n"
"  --state-ttl DURATION drop partial matches of keys quiet this long\n"
"  --max-delay DURATION also a watermark of the latest event time seen\n"
"                       less DURATION (for inputs without watermarks)\n"
"  --alerts URI         where ALERTs go (default: the output)\n"
"  --matches URI        the matched events, each after a JSON tag\n"
"  -q, --quiet          no summary line at the end\n"
"  --metrics FILE       write Prometheus metrics to FILE every second\n"
"  -i, --input URI      input endpoint (default -)\n"
"  -o, --output URI     output endpoint (default -)\n"
"  -h, --help           show this help\n"
"  --version            show the version\n");
	fs_kafka_usage(f, 1);
	fs_pipeline_usage(f);
}

enum { O_AFTER = 256, O_ALERTS, O_DEFINE, O_KEY, O_MATCHES, O_MAXDELAY,
       O_METRICS, O_NAME, O_PATTERN, O_SKIP, O_TTL, O_TYPE, O_VERSION, O_WITHIN };

static const struct option long_options[] = {
	{ "after-match", required_argument, NULL, O_AFTER },
	{ "alerts", required_argument, NULL, O_ALERTS },
	{ "define", required_argument, NULL, O_DEFINE },
	{ "help", no_argument, NULL, 'h' },
	{ "input", required_argument, NULL, 'i' },
	{ "key", required_argument, NULL, O_KEY },
	{ "matches", required_argument, NULL, O_MATCHES },
	{ "max-delay", required_argument, NULL, O_MAXDELAY },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "name", required_argument, NULL, O_NAME },
	{ "output", required_argument, NULL, 'o' },
	{ "pattern", required_argument, NULL, O_PATTERN },
	{ "quiet", no_argument, NULL, 'q' },
	{ "skip-till-next", no_argument, NULL, O_SKIP },
	{ "state-ttl", required_argument, NULL, O_TTL },
	{ "type", required_argument, NULL, O_TYPE },
	{ "version", no_argument, NULL, O_VERSION },
	{ "within", required_argument, NULL, O_WITHIN },
	{ NULL, 0, NULL, 0 },
};

static void opt_arg(struct opts *o, int ch, const char *a)
{
	switch (ch) {
	case 'i': o->in = a; break;
	case 'o': o->out = a; break;
	case 'q': o->quiet = 1; break;
	case O_ALERTS: o->alerts = a; break;
	case O_KEY: o->key = a; break;
	case O_MATCHES: o->matches = a; break;
	case O_METRICS: o->metrics = a; break;
	case O_NAME: o->name = a; break;
	case O_PATTERN: o->pattern = a; break;
	case O_SKIP: o->skip_next = 1; break;
	case O_TYPE: o->type = a; break;
	case O_AFTER:
		if (strcmp(a, "past-last") == 0)
			o->to_next = 0;
		else if (strcmp(a, "to-next") == 0)
			o->to_next = 1;
		else
			fs_usage_error("bad --after-match '%s': want "
				       "past-last or to-next", a);
		break;
	case O_DEFINE:
		if (o->ndefine == MAXVAR)
			fs_usage_error("more than %d --define", MAXVAR);
		o->defines[o->ndefine++] = a;
		break;
	case O_MAXDELAY:
		o->max_delay = fs_opt_duration("--max-delay", a, (size_t)-1, 0,
					       INT64_MAX / 4);
		break;
	case O_TTL:
		o->ttl = fs_opt_duration("--state-ttl", a, (size_t)-1, 1,
					 INT64_MAX / 4);
		break;
	case O_WITHIN:
		o->within = fs_opt_duration("--within", a, (size_t)-1, 1,
					    INT64_MAX / 4);
		break;
	default: fs_bug("option %d not handled", ch);
	}
}

/* Parse the options; returns -1 to go on, or an exit status. */
static int parse_args(struct opts *o, int argc, char **argv)
{
	int ch;

	while ((ch = fs_getopt(argc, argv, "hi:o:q", long_options)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			return FS_EXIT_OK;
		}
		if (ch == O_VERSION) {
			fs_print_version(NULL);
			return FS_EXIT_OK;
		}
		opt_arg(o, ch, optarg);
	}
	if (optind < argc)
		fs_usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->pattern)
		fs_usage_error("--pattern is required");
	return -1;
}

/* Compile the pattern (a built-in's, or --pattern and --define). */
static void compile(struct matcher *m)
{
	struct opts *o = &m->o;
	struct pattern *p = &m->pat;
	const struct builtin *b = NULL;
	const char *name = o->name ? o->name : "match";
	char err[1536];
	uint64_t h;

	for (int i = 0; builtins[i].name; i++)
		if (strcmp(o->pattern, builtins[i].name) == 0)
			b = &builtins[i];
	if (b && o->ndefine)
		fs_usage_error("--define with the built-in pattern '%s'",
			       b->name);
	if (b) {
		name = o->name ? o->name : b->name;
		if (!o->within)
			o->within = b->within;
		o->pattern = b->pattern;
		for (int i = 0; i < 3 && b->def[i]; i++)
			o->defines[o->ndefine++] = b->def[i];
	}
	if (strlen(name) >= sizeof(p->name))
		fs_usage_error("--name '%s' is longer than %zu bytes", name,
			       sizeof(p->name) - 1);
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->type = fs_type_by_name(o->type);
	if (!p->type || !p->type->body_size || p->type->id >= FS_T_WATERMARK)
		fs_usage_error("bad --type '%s': want a built-in type of "
			       "fixed layout", o->type);
	if (pat_parse(p, o->pattern, err, sizeof(err)) < 0)
		fs_die(FS_EXIT_USAGE, "%s", err);
	for (int i = 0; i < o->ndefine; i++)
		if (pat_define(p, o->defines[i], err, sizeof(err)) < 0)
			fs_die(FS_EXIT_USAGE, "%s", err);
	if (o->key) {
		m->keyf = fs_field_by_name(p->type, o->key);
		if (!m->keyf || m->keyf->size > 8 ||
		    m->keyf->kind == FS_K_CODE || m->keyf->kind == FS_K_F64 ||
		    m->keyf->kind == FS_K_F32)
			fs_usage_error("bad --key '%s': want an integer or id "
				       "field of %s", o->key, p->type->name);
	}
	m->fsize = fs_frame_size_for(p->type->body_size);
	h = fs_hash64(o->pattern, strlen(o->pattern));
	for (int i = 0; i < o->ndefine; i++)
		h ^= fs_hash64(o->defines[i], strlen(o->defines[i])) * (i + 3);
	h ^= (uint64_t)o->within * 31 + (uint64_t)o->ttl * 17 +
	     (uint64_t)o->max_delay * 13 +
	     (uint64_t)o->skip_next * 7 + (uint64_t)o->to_next * 5;
	h ^= fs_hash64(p->name, strlen(p->name)) + p->type->id;
	m->pat_id = h ^ (m->keyf ? m->keyf->off : 0);
}

static void metrics(struct matcher *m)
{
	m->mx = fs_metrics_open(m->o.metrics);
	fs_metrics_counter(m->mx, "fs_match_events_total",
			   "events matched against the pattern", &m->n_events);
	fs_metrics_counter(m->mx, "fs_match_matches_total",
			   "matches (ALERTs) reported", &m->n_matches);
	fs_metrics_counter(m->mx, "fs_match_expired_total",
			   "partial matches dropped by --within or "
			   "--state-ttl", &m->n_expired);
	fs_metrics_counter(m->mx, "fs_match_late_total",
			   "events behind the watermark, not matched",
			   &m->n_late);
	fs_metrics_gauge(m->mx, "fs_match_partial", "partial matches held",
			 &m->g_runs);
	fs_metrics_gauge(m->mx, "fs_match_keys", "keys with partial matches",
			 &m->g_keys);
}

static void cleanup(struct matcher *m)
{
	free(m->runs.p);
	free(m->nodes.p);
	free(m->slots.p);
	free(m->keys);
	free(m->pend);
	free(m->dues);
	free(m->scratch);
}

int tool_main(int argc, char **argv)
{
	static struct matcher m;
	int rc;

	m.o.in = "-";
	m.o.out = "-";
	m.o.type = "txn";
	m.o.max_delay = -1;
	if ((rc = parse_args(&m.o, argc, argv)) >= 0)
		return rc;
	compile(&m);
	pool_init(&m.runs, sizeof(struct run));
	pool_init(&m.nodes, sizeof(struct hnode) + m.fsize);
	pool_init(&m.slots, m.fsize);
	m.wm = INT64_MIN;
	(void)fs_pipeline_restored();	/* read before any barrier of ours */
	m.w = fs_writer_open(m.o.out);
	if (m.o.alerts)
		m.aw = fs_writer_open_side(m.o.alerts);
	if (m.o.matches)
		m.mw = fs_writer_open_side(m.o.matches);
	m.r = fs_reader_open(m.o.in);
	fs_reader_flush_on_block(m.r, m.w);
	snap_restore(&m);
	metrics(&m);
	rc = run(&m);
	if (rc != FS_EXIT_OK)
		fs_writers_flush_all();
	if (!m.o.quiet && rc == FS_EXIT_OK)
		fs_warn("%llu events, %llu matches, %llu partial matches "
			"expired, %llu late", (unsigned long long)m.n_events,
			(unsigned long long)m.n_matches,
			(unsigned long long)m.n_expired,
			(unsigned long long)m.n_late);
	fs_writer_close(m.w);
	if (m.aw)
		fs_writer_close(m.aw);
	if (m.mw)
		fs_writer_close(m.mw);
	fs_metrics_close(m.mx);
	fs_reader_close(m.r);
	cleanup(&m);
	return rc;
}
