/*
 * state.c - keyed state for fs-window: a flat open-addressing hash
 * table from 64-bit keys to 32-bit slot indices (linear probing,
 * backward-shift deletion, no tombstones, no allocation per record),
 * and the indexed min-heap that orders session windows by the event
 * time at which they next need attention.
 */
#include <stdlib.h>
#include <string.h>

#include "window.h"

void ktab_init(struct ktab *t, unsigned cap_pow2)
{
	uint32_t cap = 16;

	while (cap < cap_pow2)
		cap *= 2;
	t->e = fs_big_alloc(cap * sizeof(*t->e));
	t->mask = cap - 1;
	t->n = 0;
	t->wanted = 0;
	for (uint32_t i = 0; i < cap; i++)
		t->e[i].val = W_NONE;
}

void ktab_free(struct ktab *t)
{
	if (t->wanted == 1)	/* the next size will not be asked for */
		fs_big_unwant((size_t)(t->mask + 1) * 2 * sizeof(*t->e));
	if (t->e)
		fs_big_free(t->e, (t->mask + 1) * sizeof(*t->e));
	t->e = NULL;
	t->mask = t->n = 0;
}

void ktab_clear(struct ktab *t)
{
	if (t->wanted == 1) {	/* the next size would sit unused */
		fs_big_unwant((size_t)(t->mask + 1) * 2 * sizeof(*t->e));
		t->wanted = 2;	/* and is not asked for again */
	}
	if (!t->n)
		return;
	for (uint32_t i = 0; i <= t->mask; i++)
		t->e[i].val = W_NONE;
	t->n = 0;
}

/* Double the table. */
static void ktab_grow(struct ktab *t)
{
	struct ktab_ent *old = t->e;
	uint32_t ocap = t->mask + 1;

	ktab_init(t, ocap * 2);
	for (uint32_t i = 0; i < ocap; i++) {
		if (old[i].val == W_NONE)
			continue;
		uint32_t j = khash(old[i].key, t->mask);

		while (t->e[j].val != W_NONE)
			j = (j + 1) & t->mask;
		t->e[j] = old[i];
		t->n++;
	}
	fs_big_free(old, ocap * sizeof(*old));
}

/*
 * Past half full: grow now if the next size is small, not prepared
 * (cleared before), or made; else go on filling until it is made or
 * the table is 7/8 full, rather than wait for the preparer.
 */
static int ktab_may_grow(const struct ktab *t)
{
	size_t cap = (size_t)t->mask + 1, next = cap * 2 * sizeof(*t->e);

	return next < FS_BIG_MIN || t->wanted != 1 ||
	       (t->n + 1) * 8 > cap * 7 || fs_big_ready(next);
}

uint32_t *ktab_put(struct ktab *t, uint64_t key, int *isnew)
{
	uint32_t i;

	if ((t->n + 1) * 2 > t->mask + 1 && ktab_may_grow(t))
		ktab_grow(t);
	i = khash(key, t->mask);
	while (t->e[i].val != W_NONE) {
		if (t->e[i].key == key) {
			*isnew = 0;
			return &t->e[i].val;
		}
		i = (i + 1) & t->mask;
	}
	t->e[i].key = key;
	if (++t->n * 8 >= (t->mask + 1) * 3 && !t->wanted) {
		/* have the next size made before it is needed */
		fs_big_want((size_t)(t->mask + 1) * 2 * sizeof(*t->e));
		t->wanted = 1;
	}
	*isnew = 1;
	return &t->e[i].val;
}

uint32_t ktab_get(const struct ktab *t, uint64_t key)
{
	uint32_t i;

	if (!t->e)
		return W_NONE;
	i = khash(key, t->mask);
	while (t->e[i].val != W_NONE) {
		if (t->e[i].key == key)
			return t->e[i].val;
		i = (i + 1) & t->mask;
	}
	return W_NONE;
}

void ktab_del(struct ktab *t, uint64_t key)
{
	uint32_t i = khash(key, t->mask), j, h;

	while (t->e[i].val != W_NONE && t->e[i].key != key)
		i = (i + 1) & t->mask;
	if (t->e[i].val == W_NONE)
		return;
	/* Backward shift: pull later entries of the run into the hole. */
	for (j = (i + 1) & t->mask; t->e[j].val != W_NONE;
	     j = (j + 1) & t->mask) {
		h = khash(t->e[j].key, t->mask);
		/* Entry j may move to i if its home is not in (i, j]. */
		if ((j > i && (h <= i || h > j)) ||
		    (j < i && (h <= i && h > j))) {
			t->e[i] = t->e[j];
			i = j;
		}
	}
	t->e[i].val = W_NONE;
	t->n--;
}

/* ---- the session heap ---- */

static inline int before(const struct sess *ss, uint32_t a, uint32_t b)
{
	return ss[a].due < ss[b].due;
}

static void place(struct sheap *hp, struct sess *ss, uint32_t at,
		  uint32_t i)
{
	hp->h[at] = i;
	ss[i].hpos = at;
}

static void sift_up(struct sheap *hp, struct sess *ss, uint32_t at)
{
	uint32_t i = hp->h[at];

	while (at > 0) {
		uint32_t p = (at - 1) / 2;

		if (!before(ss, i, hp->h[p]))
			break;
		place(hp, ss, at, hp->h[p]);
		at = p;
	}
	place(hp, ss, at, i);
}

static void sift_down(struct sheap *hp, struct sess *ss, uint32_t at)
{
	uint32_t i = hp->h[at];

	for (;;) {
		uint32_t c = 2 * at + 1;

		if (c >= hp->n)
			break;
		if (c + 1 < hp->n && before(ss, hp->h[c + 1], hp->h[c]))
			c++;
		if (!before(ss, hp->h[c], i))
			break;
		place(hp, ss, at, hp->h[c]);
		at = c;
	}
	place(hp, ss, at, i);
}

void sheap_push(struct sheap *hp, struct sess *ss, uint32_t i)
{
	if (hp->n == hp->cap) {
		hp->cap = hp->cap ? hp->cap * 2 : 256;
		hp->h = fs_xrealloc(hp->h, hp->cap * sizeof(*hp->h));
	}
	hp->h[hp->n] = i;
	sift_up(hp, ss, hp->n++);
}

void sheap_fix(struct sheap *hp, struct sess *ss, uint32_t i)
{
	uint32_t at = ss[i].hpos;

	sift_up(hp, ss, at);
	sift_down(hp, ss, ss[i].hpos);
}

void sheap_remove(struct sheap *hp, struct sess *ss, uint32_t i)
{
	uint32_t at = ss[i].hpos, last = hp->h[--hp->n];

	if (at == hp->n)
		return;
	place(hp, ss, at, last);
	sheap_fix(hp, ss, last);
}
