/*
 * engine.c - fs-window's window bookkeeping.
 *
 * Aligned windows (tumble, hop, cumulate) are objects of their own, one
 * per [start, end), found by their end (which identifies an aligned
 * window of any of the three kinds); each holds a hash table of its
 * keys and an arena of state slots in first-seen order, so firing a
 * window walks its slots and purging it clears two arrays.
 *
 * Sessions are per key: a short list of disjoint sessions per key (a
 * hash table from key to the first), merged when an event bridges
 * them, and an indexed min-heap orders them by the event time at which
 * each next needs attention (early result, final result, purge).
 *
 * A window fires (final result) when the watermark reaches end - 1,
 * stays for --lateness more (late events update it and re-emit the
 * key's result, flagged UPDATE), then is purged.  Events whose every
 * window has been purged are late: out_late().
 */
#include <stdlib.h>
#include <string.h>

#include "window.h"

#define FIRST_KEYS 1024

static inline int64_t win_due(const struct wctx *c, const struct win *w)
{
	if (w->fired)
		return w_sat_add(w->end - 1, c->o.lateness);
	return w->next_early < w->end - 1 ? w->next_early : w->end - 1;
}

/* The first early-result time after the watermark, or never. */
static int64_t next_early(const struct wctx *c, int64_t start)
{
	int64_t d = c->o.early, k;

	if (!d)
		return W_TIME_MAX;
	if (c->wm == W_TIME_MIN || c->wm < start)
		return w_sat_add(start, d - 1);
	k = (c->wm - start + 1) / d + 1;
	return w_sat_add(start, k * d - 1);
}

void eng_init(struct wctx *c)
{
	const struct wopts *o = &c->o;
	unsigned n = 1;

	c->next_due = W_TIME_MAX;
	if (o->kind == WK_HOP)
		n = (unsigned)((o->size + o->slide - 1) / o->slide);
	else if (o->kind == WK_CUMULATE)
		n = (unsigned)(o->size / o->slide);
	c->max_assign = n;
	c->a_start = fs_xcalloc(n, sizeof(*c->a_start));
	c->a_end = fs_xcalloc(n, sizeof(*c->a_end));
	c->a_win = fs_xcalloc(n, sizeof(*c->a_win));
	c->a_slot = fs_xcalloc(n, sizeof(*c->a_slot));
	c->last_win = W_NONE;
	ktab_init(&c->wintab, 64);
	if (o->kind == WK_SESSION) {
		ktab_init(&c->skeys, FIRST_KEYS);
		c->sfree = W_NONE;
	}
}

/* The aligned windows of event time t into c->a_start/a_end; count. */
static unsigned assign(struct wctx *c, int64_t t)
{
	const struct wopts *o = &c->o;
	int64_t base, s;
	unsigned n = 0;

	switch (o->kind) {
	case WK_TUMBLE:
		s = w_floor_div(t - o->offset, o->size) * o->size + o->offset;
		c->a_start[0] = s;
		c->a_end[0] = s + o->size;
		return 1;
	case WK_HOP:
		s = w_floor_div(t - o->offset, o->slide) * o->slide +
			o->offset;
		for (; s > t - o->size && n < c->max_assign; s -= o->slide) {
			c->a_start[n] = s;
			c->a_end[n++] = s + o->size;
		}
		return n;
	case WK_CUMULATE:
		base = w_floor_div(t - o->offset, o->size) * o->size +
			o->offset;
		for (s = base + (t - base) / o->slide * o->slide + o->slide;
		     s <= base + o->size; s += o->slide) {
			c->a_start[n] = base;
			c->a_end[n++] = s;
		}
		return n;
	}
	return 0;
}

/* The window [start, end), created when missing; its index. */
static uint32_t get_win(struct wctx *c, int64_t start, int64_t end)
{
	uint32_t i = c->last_win, *v;
	struct win *w;
	int isnew;

	if (i != W_NONE && c->wins[i].end == end && c->wins[i].active)
		return i;
	v = ktab_put(&c->wintab, (uint64_t)end, &isnew);
	if (!isnew)
		return c->last_win = *v;
	if (c->nfree_wins) {
		i = c->free_wins[--c->nfree_wins];
	} else {
		if (c->nwins == c->capwins) {
			c->capwins = c->capwins ? c->capwins * 2 : 16;
			c->wins = fs_xrealloc(c->wins,
					      c->capwins * sizeof(*c->wins));
			c->free_wins = fs_xrealloc(c->free_wins, c->capwins *
						   sizeof(*c->free_wins));
		}
		i = c->nwins++;
		memset(&c->wins[i], 0, sizeof(c->wins[i]));
		ktab_init(&c->wins[i].keys, FIRST_KEYS);
	}
	*v = i;
	w = &c->wins[i];
	w->start = start;
	w->end = end;
	w->active = 1;
	w->fired = 0;
	w->next_early = next_early(c, start);
	if (win_due(c, w) < c->next_due)
		c->next_due = win_due(c, w);
	return c->last_win = i;
}

/* The state slot of key in window w, created when missing. */
static struct slot *win_slot(struct wctx *c, struct win *w, uint64_t key)
{
	unsigned stride = c->as.stride;
	int isnew;
	uint32_t *v = ktab_put(&w->keys, key, &isnew);
	struct slot *sl;

	if (!isnew)
		return (struct slot *)(w->slots + (size_t)*v * stride);
	if (w->nslots == w->cap) {
		w->cap = w->cap ? w->cap * 2 : FIRST_KEYS;
		w->slots = fs_xrealloc(w->slots, (size_t)w->cap * stride);
	}
	*v = w->nslots++;
	sl = (struct slot *)(w->slots + (size_t)*v * stride);
	agg_init(&c->as, sl, key);
	c->n_keys++;
	return sl;
}

static void aligned_event(struct wctx *c, const struct fs_hdr *h,
			  uint64_t key)
{
	unsigned n = assign(c, h->ts_event), m = 0;
	const struct agg *bad;

	/* the event's slot in each window not past its lateness */
	for (unsigned k = 0; k < n; k++) {
		if (w_sat_add(c->a_end[k] - 1, c->o.lateness) <= c->wm)
			continue;	/* purged, or would be */
		c->a_start[m] = c->a_start[k];
		c->a_end[m] = c->a_end[k];
		c->a_win[m] = get_win(c, c->a_start[k], c->a_end[k]);
		c->a_slot[m] = win_slot(c, &c->wins[c->a_win[m]], key);
		m++;
	}
	if (!m) {
		out_late(c, h);
		return;
	}
	/* before any state changes: a fresh slot (no count) is empty */
	for (unsigned k = 0; c->as.has_exact && k < m; k++)
		if (agg_check(&c->as, &c->a_slot[k], c->a_slot[k]->count != 0,
			      h, &bad) != 0) {
			out_overflow(c, bad, key, c->a_start[k], c->a_end[k]);
			return;		/* left out of every window */
		}
	for (unsigned k = 0; k < m; k++) {
		struct win *w = &c->wins[c->a_win[k]];
		struct slot *sl = c->a_slot[k];

		agg_update(&c->as, sl, h);
		if (w->fired)
			out_result(c, w->start, w->end, sl, sl->emitted ?
				   FS_F_UPDATE : 0);
	}
}

/* Emit every key of w with flags. */
static void emit_win(struct wctx *c, struct win *w, unsigned flags)
{
	for (uint32_t i = 0; i < w->nslots; i++) {
		struct slot *sl = (struct slot *)(w->slots +
						  (size_t)i * c->as.stride);

		if (!sl->count)
			continue;	/* made for a record refused */
		out_result(c, w->start, w->end, sl, flags |
			   (!(flags & FS_F_PARTIAL) && sl->emitted ?
			    FS_F_UPDATE : 0));
	}
}

static void purge_win(struct wctx *c, uint32_t i)
{
	struct win *w = &c->wins[i];

	if (c->as.has_ptrs)
		for (uint32_t k = 0; k < w->nslots; k++)
			agg_release(&c->as, (struct slot *)(w->slots +
					(size_t)k * c->as.stride));
	c->n_keys -= w->nslots;
	w->nslots = 0;
	ktab_clear(&w->keys);
	w->active = 0;
	ktab_del(&c->wintab, (uint64_t)w->end);
	c->free_wins[c->nfree_wins++] = i;
	if (c->last_win == i)
		c->last_win = W_NONE;
}

/* Do what is due in window i at the watermark. */
static void step_win(struct wctx *c, uint32_t i)
{
	struct win *w = &c->wins[i];

	if (!w->fired && w->end - 1 <= c->wm) {
		emit_win(c, w, 0);
		w->fired = 1;
		c->n_fired++;
	} else if (!w->fired && w->next_early <= c->wm) {
		emit_win(c, w, FS_F_PARTIAL);
		w->next_early = next_early(c, w->start);
		return;
	}
	if (w->fired && w_sat_add(w->end - 1, c->o.lateness) <= c->wm)
		purge_win(c, i);
}

static int cmp_due(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Fire, emit early results and purge aligned windows, in due order. */
static void aligned_advance(struct wctx *c)
{
	int64_t (*due)[3] = NULL;
	uint32_t n;

	for (;;) {
		n = 0;
		due = fs_xrealloc(due, (c->nwins + 1) * sizeof(*due));
		for (uint32_t i = 0; i < c->nwins; i++) {
			struct win *w = &c->wins[i];

			if (w->active && win_due(c, w) <= c->wm) {
				due[n][0] = win_due(c, w);
				due[n][1] = w->end;
				due[n++][2] = i;
			}
		}
		qsort(due, n, sizeof(*due), cmp_due);
		for (uint32_t k = 0; k < n; k++)
			step_win(c, (uint32_t)due[k][2]);
		c->next_due = W_TIME_MAX;
		for (uint32_t i = 0; i < c->nwins; i++)
			if (c->wins[i].active &&
			    win_due(c, &c->wins[i]) < c->next_due)
				c->next_due = win_due(c, &c->wins[i]);
		if (!n || c->next_due > c->wm)
			break;
	}
	free(due);
}

/* ---- sessions ---- */

static inline struct slot *sslot(const struct wctx *c, uint32_t i)
{
	return (struct slot *)(c->sslots + (size_t)i * c->as.stride);
}

static int64_t sess_due(const struct wctx *c, const struct sess *s)
{
	if (s->fired)
		return w_sat_add(s->end - 1, c->o.lateness);
	return s->next_early < s->end - 1 ? s->next_early : s->end - 1;
}

static uint32_t sess_alloc(struct wctx *c)
{
	uint32_t i;

	if (c->sfree != W_NONE) {
		i = c->sfree;
		c->sfree = c->ss[i].next;
		return i;
	}
	if (c->nss == c->capss) {
		c->capss = c->capss ? c->capss * 2 : FIRST_KEYS;
		c->ss = fs_xrealloc(c->ss, c->capss * sizeof(*c->ss));
		c->sslots = fs_xrealloc(c->sslots,
					(size_t)c->capss * c->as.stride);
	}
	return c->nss++;
}

/* Unlink session i from its key's list, drop it from the heap, free. */
static void sess_drop(struct wctx *c, uint32_t i, int release)
{
	struct sess *s = &c->ss[i];
	uint32_t head = ktab_get(&c->skeys, s->key);

	if (head == i) {
		if (s->next == W_NONE) {
			ktab_del(&c->skeys, s->key);
		} else {
			int isnew;

			*ktab_put(&c->skeys, s->key, &isnew) = s->next;
		}
	} else {
		uint32_t p = head;

		while (c->ss[p].next != i)
			p = c->ss[p].next;
		c->ss[p].next = s->next;
	}
	sheap_remove(&c->heap, c->ss, i);
	if (release)
		agg_release(&c->as, sslot(c, i));
	s->live = 0;
	s->next = c->sfree;
	c->sfree = i;
	c->n_keys--;
}

/* A new session for key at event time t, linked first in its list. */
static uint32_t sess_new(struct wctx *c, uint64_t key, int64_t t)
{
	uint32_t i = sess_alloc(c), *head;
	struct sess *s = &c->ss[i];
	int isnew;

	head = ktab_put(&c->skeys, key, &isnew);
	s->key = key;
	s->start = t;
	s->end = w_sat_add(t, c->o.size);
	s->fired = 0;
	s->live = 1;
	s->next = isnew ? W_NONE : *head;
	*head = i;
	s->next_early = next_early(c, t);
	s->due = sess_due(c, s);
	agg_init(&c->as, sslot(c, i), key);
	sheap_push(&c->heap, c->ss, i);
	c->n_keys++;
	return i;
}

uint32_t eng_sess_restore(struct wctx *c, const struct sess *v)
{
	uint32_t i = sess_alloc(c), *head, p;
	struct sess *s = &c->ss[i];
	int isnew;

	*s = *v;
	s->next = W_NONE;
	s->live = 1;
	head = ktab_put(&c->skeys, v->key, &isnew);
	if (isnew) {
		*head = i;
	} else {
		for (p = *head; c->ss[p].next != W_NONE; p = c->ss[p].next)
			;
		c->ss[p].next = i;
	}
	sheap_push(&c->heap, c->ss, i);
	c->n_keys++;
	return i;
}

/* Note the state of a session the event merges, for agg_check. */
static void chk_add(struct wctx *c, uint32_t n, struct slot *sl)
{
	if (n == c->capchk) {
		c->capchk = c->capchk ? c->capchk * 2 : 8;
		c->chk = fs_xrealloc(c->chk, c->capchk * sizeof(*c->chk));
	}
	c->chk[n] = sl;
}

/*
 * Merge every session of key overlapping [t, t + gap) into one; return
 * it, or W_NONE when none overlaps.  *late is set, and nothing changed,
 * when the merged window would be past its lateness.  Before anything
 * changes, the merged state with h must fit its exact sums, else
 * out_overflow, nothing changed, and W_REFUSED.
 */
#define W_REFUSED (W_NONE - 1)	/* sess_merge: the record is left out */

static uint32_t sess_merge(struct wctx *c, const struct fs_hdr *h,
			   uint64_t key, int *late)
{
	int64_t t = h->ts_event, te = w_sat_add(t, c->o.size), ms = t, me = te;
	uint32_t i, tgt = W_NONE, nx, n = 0;
	const struct agg *bad;

	for (i = ktab_get(&c->skeys, key); i != W_NONE; i = c->ss[i].next)
		if (c->ss[i].start < te && t < c->ss[i].end) {
			ms = c->ss[i].start < ms ? c->ss[i].start : ms;
			me = c->ss[i].end > me ? c->ss[i].end : me;
			if (c->as.has_exact)
				chk_add(c, n++, sslot(c, i));
		}
	*late = w_sat_add(me - 1, c->o.lateness) <= c->wm;
	if (*late)
		return W_NONE;
	if (c->as.has_exact && agg_check(&c->as, c->chk, n, h, &bad) != 0) {
		out_overflow(c, bad, key, ms, me);
		return W_REFUSED;
	}
	for (i = ktab_get(&c->skeys, key); i != W_NONE; i = nx) {
		nx = c->ss[i].next;
		if (!(c->ss[i].start < te && t < c->ss[i].end))
			continue;
		if (tgt == W_NONE) {
			tgt = i;
			continue;
		}
		agg_merge(&c->as, sslot(c, tgt), sslot(c, i));
		sess_drop(c, i, 0);
	}
	if (tgt != W_NONE) {
		c->ss[tgt].start = ms;
		c->ss[tgt].end = me;
	}
	return tgt;
}

static void session_event(struct wctx *c, const struct fs_hdr *h,
			  uint64_t key)
{
	int64_t t = h->ts_event;
	int late;
	uint32_t i = sess_merge(c, h, key, &late);
	struct sess *s;
	struct slot *sl;

	if (late) {
		out_late(c, h);
		return;
	}
	if (i == W_REFUSED)
		return;
	if (i == W_NONE)
		i = sess_new(c, key, t);
	s = &c->ss[i];
	sl = sslot(c, i);
	agg_update(&c->as, sl, h);
	if (s->end - 1 <= c->wm) {
		out_result(c, s->start, s->end, sl,
			   sl->emitted ? FS_F_UPDATE : 0);
		if (!s->fired)
			c->n_fired++;
		s->fired = 1;
	} else {
		s->fired = 0;
	}
	s->next_early = next_early(c, s->start);
	s->due = sess_due(c, s);
	sheap_fix(&c->heap, c->ss, i);
}

/* Do what is due in session i at the watermark. */
static void step_sess(struct wctx *c, uint32_t i)
{
	struct sess *s = &c->ss[i];
	struct slot *sl = sslot(c, i);

	if (!s->fired && s->end - 1 <= c->wm) {
		out_result(c, s->start, s->end, sl,
			   sl->emitted ? FS_F_UPDATE : 0);
		s->fired = 1;
		c->n_fired++;
	} else if (!s->fired) {
		out_result(c, s->start, s->end, sl, FS_F_PARTIAL);
		s->next_early = next_early(c, s->start);
	}
	if (s->fired && w_sat_add(s->end - 1, c->o.lateness) <= c->wm) {
		sess_drop(c, i, 1);
		return;
	}
	s->due = sess_due(c, s);
	sheap_fix(&c->heap, c->ss, i);
}

static void session_advance(struct wctx *c)
{
	uint32_t i;

	while ((i = sheap_top(&c->heap)) != W_NONE && c->ss[i].due <= c->wm)
		step_sess(c, i);
}

void eng_prefetch(struct wctx *c, const struct fs_hdr *h, uint64_t key,
		  int stage)
{
	uint32_t i, v;
	const struct win *w;

	if (c->o.kind == WK_SESSION) {
		if (stage == 0)
			ktab_prefetch(&c->skeys, key);
		else if ((v = ktab_get(&c->skeys, key)) != W_NONE)
			__builtin_prefetch(sslot(c, v));
		return;
	}
	if (h->ts_event <= -(1LL << 62) || h->ts_event >= (1LL << 62))
		return;
	assign(c, h->ts_event);
	i = ktab_get(&c->wintab, (uint64_t)c->a_end[0]);
	if (i == W_NONE)
		return;
	w = &c->wins[i];
	if (stage == 0) {
		ktab_prefetch(&w->keys, key);
	} else if ((v = ktab_get(&w->keys, key)) != W_NONE) {
		const char *sl = w->slots + (size_t)v * c->as.stride;

		__builtin_prefetch(sl);
		__builtin_prefetch(sl + c->as.stride - 1);
	}
}

void eng_event(struct wctx *c, const struct fs_hdr *h, uint64_t key)
{
	if (c->o.kind == WK_SESSION)
		session_event(c, h, key);
	else
		aligned_event(c, h, key);
}

void eng_advance(struct wctx *c)
{
	if (c->o.kind == WK_SESSION)
		session_advance(c);
	else if (c->next_due <= c->wm)
		aligned_advance(c);
}

void eng_flush(struct wctx *c)
{
	int64_t wm = c->wm;

	c->o.early = 0;		/* no partial results at the end */
	for (uint32_t i = 0; i < c->nwins; i++)
		c->wins[i].next_early = W_TIME_MAX;
	for (uint32_t i = 0; i < c->nss; i++)
		if (c->ss[i].live) {
			c->ss[i].next_early = W_TIME_MAX;
			c->ss[i].due = sess_due(c, &c->ss[i]);
			sheap_fix(&c->heap, c->ss, i);
		}
	c->next_due = W_TIME_MIN;
	c->wm = W_TIME_MAX;
	eng_advance(c);
	c->wm = wm;
}

void eng_free(struct wctx *c)
{
	for (uint32_t i = 0; i < c->nwins; i++) {
		ktab_free(&c->wins[i].keys);
		free(c->wins[i].slots);
	}
	free(c->wins);
	free(c->free_wins);
	ktab_free(&c->wintab);
	free(c->a_start);
	free(c->a_end);
	free(c->a_win);
	free(c->a_slot);
	if (c->o.kind == WK_SESSION) {
		ktab_free(&c->skeys);
		free(c->heap.h);
	}
	free(c->ss);
	free(c->sslots);
	free(c->chk);
}
