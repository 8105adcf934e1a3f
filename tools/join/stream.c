/*
 * stream.c - fs-join's two-input joins (fs-join(1) TEMPORAL JOIN,
 * INTERVAL JOIN).  Both inputs are read as they come (poll(2) on the
 * two), each side keeps its records per key in a node pool (newest
 * first), and the inputs' WATERMARKs say what can be emitted and what
 * can go:
 *
 * --temporal: a left record waits until both watermarks pass its
 * event time t, then takes the right's latest version of its key
 * with ts <= t (a version at exactly t wins over older ones).  Per key
 * the versions newer than F = min(left wm, right wm), and the newest
 * at or before F, are kept; older ones go as the key is touched;
 * --state-ttl drops keys whose newest version is older than F - ttl.
 *
 * --within D: a pair is emitted as soon as its second record arrives
 * (|t_left - t_right| <= D); a left record goes once the right's
 * watermark passes t + D (unmatched: emitted with --outer left), a
 * right record once the left's watermark passes t + D.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "join.h"
#include "snapbuf.h"

#define NIL 0u

struct node {
	int64_t ts;
	uint32_t next;		/* the key's next older node, NIL */
	uint32_t matched;	/* interval join: a left that had a pair */
	struct jkey k;
};

struct kslot {
	struct jkey k;
	uint32_t head;		/* newest node; NIL: none (now) */
	uint32_t used;		/* 0: a free slot; a key whose list went
				   empty keeps its slot until a rehash */
};

struct hent {
	int64_t ts;
	uint64_t ord;		/* arrival, for a stable order */
	uint32_t idx;
};

/* One input and what it keeps. */
struct side {
	const char *name;	/* "left", "right" */
	struct fs_reader *r;
	const struct fs_type *t;
	struct jon on;
	int64_t wm;		/* its watermark; INT64_MAX at its end */
	int has_wm, eof;
	int ended;		/* its end handled (a FINAL barrier or EOF) */
	uint64_t blocked;	/* BARRIER n read: not read until the
				   other's n (0: none) */
	uint8_t bar_flags;
	int64_t pos;		/* the latest event time read (merge order) */
	int kick;		/* read one frame now (align) */
	/* per-key lists */
	struct kslot *tab;
	size_t mask, nkeys;
	/* the node pool: nodes, and psize payload bytes each */
	struct node *nodes;
	char *pay;
	size_t psize;
	uint32_t cap, used, freel;
	uint64_t live;
	/* time order of the nodes (left buffer, interval expiry) */
	struct hent *heap;
	size_t nheap, heapcap;
};

struct js {
	struct jopts *o;
	struct side s[2];	/* left, right */
	struct fs_writer *w;
	struct jrow row;
	struct jcol rcol[JN_MAXFIELDS];
	const char *rnames[JN_MAXFIELDS];
	unsigned nrcol;
	int rjson;		/* the right is JSON records */
	struct jon rkey;	/* how its --on member reads (the left's) */
	struct jcnt n;
	uint64_t ord;
	int64_t out_wm;		/* last WATERMARK written */
	int64_t wm_ingest;	/* ts_ingest of the WATERMARK that moved it */
	int64_t first_wait;	/* mono ns a left began to wait, 0 */
	int64_t last_sweep;
	struct fs_metrics *mx;
	double g_versions, g_waiting;	/* right nodes, left nodes */
};

/* ---- the node pool and key lists ---- */

static uint32_t node_new(struct side *s)
{
	uint32_t i;

	if (s->freel != NIL) {
		i = s->freel;
		s->freel = s->nodes[i].next;
	} else {
		if (s->used >= s->cap) {
			s->cap = s->cap ? s->cap * 2 : 4096;
			s->nodes = fs_xrealloc(s->nodes, (size_t)s->cap *
					       sizeof(*s->nodes));
			s->pay = fs_xrealloc(s->pay, (size_t)s->cap *
					     s->psize);
		}
		i = s->used++;
	}
	s->live++;
	return i;
}

static void node_free(struct side *s, uint32_t i)
{
	s->nodes[i].next = s->freel;
	s->freel = i;
	s->live--;
}

static inline void *payload(struct side *s, uint32_t i)
{
	return s->pay + (size_t)i * s->psize;
}

/* The slot of key k (made when absent with make), or NULL. */
static struct kslot *key_slot(struct side *s, struct jkey k, int make)
{
	size_t i;

	if (make && (s->nkeys + 1) * 2 > s->mask + 1) {
		struct kslot *old = s->tab;
		size_t om = s->mask, live = 0, m = s->mask ? s->mask : 1023;

		for (size_t j = 0; old && j <= om; j++)
			live += old[j].used && old[j].head != NIL;
		while ((live + 1) * 4 > m + 1)	/* a quarter full at most */
			m = m * 2 + 1;
		s->mask = m;
		s->nkeys = live;
		s->tab = fs_xcalloc(s->mask + 1, sizeof(*s->tab));
		for (size_t j = 0; old && j <= om; j++) {
			if (!old[j].used || old[j].head == NIL)
				continue;	/* empty keys go */
			i = jkey_hash(old[j].k) & s->mask;
			while (s->tab[i].used)
				i = (i + 1) & s->mask;
			s->tab[i] = old[j];
		}
		free(old);
	}
	if (!s->tab)
		return NULL;
	for (i = jkey_hash(k) & s->mask;; i = (i + 1) & s->mask) {
		struct kslot *e = &s->tab[i];

		if (!e->used) {
			if (!make)
				return NULL;
			e->k = k;
			e->used = 1;
			s->nkeys++;
			return e;
		}
		if (e->k.a == k.a && e->k.b == k.b)
			return e;
	}
}

/* Put node i (ts set) into its key's list, newest first. */
static void list_add(struct side *s, struct kslot *e, uint32_t i)
{
	uint32_t *p = &e->head;

	while (*p != NIL && s->nodes[*p].ts > s->nodes[i].ts)
		p = &s->nodes[*p].next;
	s->nodes[i].next = *p;
	*p = i;
}

/* Take node i out of its key's list (the key stays, maybe empty). */
static void list_del(struct side *s, uint32_t i)
{
	struct kslot *e = key_slot(s, s->nodes[i].k, 0);
	uint32_t *p;

	if (!e)
		fs_bug("a node without its key");
	for (p = &e->head; *p != i; p = &s->nodes[*p].next)
		if (*p == NIL)
			fs_bug("a node not in its key's list");
	*p = s->nodes[i].next;
}

/* ---- a min-heap by (ts, arrival) ---- */

static int hless(const struct hent *a, const struct hent *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->ord < b->ord);
}

static void heap_push(struct side *s, int64_t ts, uint64_t ord, uint32_t i)
{
	size_t c = s->nheap++;

	if (s->nheap > s->heapcap) {
		s->heapcap = s->heapcap ? s->heapcap * 2 : 4096;
		s->heap = fs_xrealloc(s->heap, s->heapcap * sizeof(*s->heap));
	}
	s->heap[c] = (struct hent){ ts, ord, i };
	while (c && hless(&s->heap[c], &s->heap[(c - 1) / 2])) {
		struct hent t = s->heap[c];

		s->heap[c] = s->heap[(c - 1) / 2];
		s->heap[(c - 1) / 2] = t;
		c = (c - 1) / 2;
	}
}

static uint32_t heap_pop(struct side *s)
{
	uint32_t top = s->heap[0].idx;
	size_t c = 0;

	s->heap[0] = s->heap[--s->nheap];
	for (;;) {
		size_t l = 2 * c + 1, m = c;

		if (l < s->nheap && hless(&s->heap[l], &s->heap[m]))
			m = l;
		if (l + 1 < s->nheap && hless(&s->heap[l + 1], &s->heap[m]))
			m = l + 1;
		if (m == c)
			break;
		struct hent t = s->heap[c];

		s->heap[c] = s->heap[m];
		s->heap[m] = t;
		c = m;
	}
	return top;
}

/* ---- output ---- */

static int64_t frontier(const struct js *j)
{
	return j->s[0].wm < j->s[1].wm ? j->s[0].wm : j->s[1].wm;
}

/* Write a WATERMARK when min(left wm, right wm) has moved on. */
static void out_wm(struct js *j)
{
	int64_t f = frontier(j);
	struct fs_hdr *h;

	if (f <= j->out_wm || f == INT64_MAX || f == INT64_MIN)
		return;
	j->out_wm = f;
	h = fs_write_reserve(j->w, FS_T_WATERMARK, 0);
	h->flags = FS_F_CONTROL;
	h->ts_event = f;
	h->ts_ingest = j->wm_ingest;	/* the same in every run */
}

/* The row of left frame h with right slots rv (NULL: unmatched). */
static void emit(struct js *j, const struct fs_hdr *h, const uint64_t *rv)
{
	if (!rv && !j->o->outer)
		return;
	if (!j->s[1].t)
		fs_die(FS_EXIT_DATA, "the right input '%s' has no data "
		       "records: no columns to fill", j->o->right);
	if (jrow_put(&j->row, j->w, h, rv, j->n.left) < 0) {
		fs_writers_flush_all();
		exit(FS_EXIT_DATA);
	}
}

/* ---- --temporal ---- */

/*
 * Drop key e's versions that no left record can see any more: those
 * older than the newest at or before f.
 */
static void trim(struct side *s, struct kslot *e, int64_t f)
{
	uint32_t i = e->head;

	while (i != NIL && s->nodes[i].ts > f)
		i = s->nodes[i].next;
	if (i == NIL)
		return;
	for (uint32_t x = s->nodes[i].next, nx; x != NIL; x = nx) {
		nx = s->nodes[x].next;
		node_free(s, x);
	}
	s->nodes[i].next = NIL;
}

/* --state-ttl: drop keys whose newest version is older than f - ttl. */
static void sweep(struct js *j, int64_t f)
{
	struct side *s = &j->s[1];
	struct kslot *old = s->tab;
	size_t om = s->mask;

	if (!j->o->ttl || !old || f == INT64_MAX ||
	    f - j->last_sweep < j->o->ttl / 2)
		return;
	j->last_sweep = f;
	s->tab = fs_xcalloc(om + 1, sizeof(*s->tab));
	s->nkeys = 0;
	for (size_t i = 0; i <= om; i++) {
		uint32_t h = old[i].head;
		struct kslot *e;

		if (!old[i].used || h == NIL)
			continue;
		if (s->nodes[h].ts < f - j->o->ttl) {
			for (uint32_t x = h, nx; x != NIL; x = nx) {
				nx = s->nodes[x].next;
				node_free(s, x);
			}
			j->n.evicted++;
			continue;
		}
		e = key_slot(s, old[i].k, 1);
		e->head = h;
	}
	free(old);
}

/*
 * Emit the buffered left records both watermarks have passed (as Flink
 * does): then rows come out in left event-time order, the same order
 * however the two inputs' reads interleave.
 */
static void temporal_advance(struct js *j)
{
	struct side *l = &j->s[0], *r = &j->s[1];

	while (l->nheap && l->heap[0].ts < frontier(j)) {
		uint32_t i = heap_pop(l);
		const struct fs_hdr *h = payload(l, i);
		struct kslot *e = key_slot(r, l->nodes[i].k, 0);
		uint32_t v = e ? e->head : NIL;

		while (v != NIL && r->nodes[v].ts > h->ts_event)
			v = r->nodes[v].next;
		if (v != NIL)
			j->n.matched++;
		else
			j->n.unmatched++;
		emit(j, h, v != NIL ? payload(r, v) : NULL);
		node_free(l, i);
	}
	if (!l->nheap)
		j->first_wait = 0;
	sweep(j, frontier(j));
	out_wm(j);
}

static void temporal_left(struct js *j, const struct fs_hdr *h)
{
	struct side *l = &j->s[0];
	uint32_t i = node_new(l);

	memcpy(payload(l, i), h, fs_frame_size(h));
	l->nodes[i].ts = h->ts_event;
	l->nodes[i].k = jon_key(&l->on, h);
	heap_push(l, h->ts_event, j->ord++, i);
	if (!j->first_wait)
		j->first_wait = fs_mono_ns();
	temporal_advance(j);
}

/* A right version at ts of key k, values rv (nrcol slots). */
static void temporal_right(struct js *j, int64_t ts, struct jkey k,
			   const uint64_t *rv)
{
	struct side *r = &j->s[1];
	struct kslot *e;
	uint32_t i = node_new(r);

	memcpy(payload(r, i), rv, 8 * (size_t)j->nrcol);
	r->nodes[i].ts = ts;
	r->nodes[i].k = k;
	e = key_slot(r, k, 1);
	list_add(r, e, i);
	trim(r, e, frontier(j));
}

/* ---- --within ---- */

static int near(int64_t a, int64_t b, int64_t d)
{
	return a <= b ? b - a <= d : a - b <= d;
}

static void within_left(struct js *j, const struct fs_hdr *h)
{
	struct side *l = &j->s[0], *r = &j->s[1];
	struct jkey k = jon_key(&l->on, h);
	struct kslot *e = key_slot(r, k, 0);
	uint32_t i = node_new(l);

	memcpy(payload(l, i), h, fs_frame_size(h));
	l->nodes[i].ts = h->ts_event;
	l->nodes[i].k = k;
	l->nodes[i].matched = 0;
	for (uint32_t v = e ? e->head : NIL; v != NIL;
	     v = r->nodes[v].next)
		if (near(h->ts_event, r->nodes[v].ts, j->o->within)) {
			l->nodes[i].matched = 1;
			j->n.matched++;
			emit(j, h, payload(r, v));
		}
	list_add(l, key_slot(l, k, 1), i);
	heap_push(l, h->ts_event, j->ord++, i);
}

static void within_right(struct js *j, int64_t ts, struct jkey k,
			 const uint64_t *rv)
{
	struct side *l = &j->s[0], *r = &j->s[1];
	struct kslot *e = key_slot(l, k, 0);
	uint32_t i = node_new(r);
	uint64_t *v = payload(r, i);

	memcpy(v, rv, 8 * (size_t)j->nrcol);
	r->nodes[i].ts = ts;
	r->nodes[i].k = k;
	for (uint32_t x = e ? e->head : NIL; x != NIL;
	     x = l->nodes[x].next)
		if (near(l->nodes[x].ts, ts, j->o->within)) {
			if (!l->nodes[x].matched)
				l->nodes[x].matched = 1;
			j->n.matched++;
			emit(j, payload(l, x), v);
		}
	list_add(r, key_slot(r, k, 1), i);
	heap_push(r, ts, j->ord++, i);
}

/* Whether watermark wm has passed ts + d (no pair with ts to come). */
static int passed(int64_t ts, int64_t wm, int64_t d)
{
	if (wm == INT64_MAX)
		return 1;
	return wm >= INT64_MIN + d && ts < wm - d;
}

/* Let go of what the watermarks have passed: t + D < the other's wm. */
static void within_advance(struct js *j)
{
	struct side *l = &j->s[0], *r = &j->s[1];
	int64_t d = j->o->within;

	while (l->nheap && passed(l->heap[0].ts, r->wm, d)) {
		uint32_t i = heap_pop(l);

		if (!l->nodes[i].matched) {
			j->n.unmatched++;
			emit(j, payload(l, i), NULL);
		}
		list_del(l, i);
		node_free(l, i);
	}
	while (r->nheap && passed(r->heap[0].ts, l->wm, d)) {
		uint32_t i = heap_pop(r);

		list_del(r, i);
		node_free(r, i);
	}
	out_wm(j);
}

/* ---- the inputs ---- */

/* ---- a JSON right side (fs-ingest -t json) ---- */

/* Leave with a bad JSON record of the right input: exit 3. */
static _Noreturn void json_bad(struct js *j, const char *fmt, const char *a)
{
	char why[256];

	snprintf(why, sizeof(why), fmt, a);
	fs_writers_flush_all();
	fs_warn("right input '%s', frame %llu: %s", j->o->right,
		(unsigned long long)fs_reader_frames(j->s[1].r), why);
	exit(FS_EXIT_DATA);
}

/* The object in JSON record h (cJSON_Delete it), or exit 3. */
static cJSON *json_doc(struct js *j, const struct fs_hdr *h)
{
	size_t body = fs_frame_size(h) - FS_HDR_SIZE;
	const char *p = fs_body(h);
	uint32_t n;
	cJSON *d;

	memcpy(&n, p, 4);
	if (body < 4 || n > body - 4)
		json_bad(j, "%s", "a JSON record's text runs past its frame");
	d = cJSON_ParseWithLength(p + 4, n);
	if (!d || !cJSON_IsObject(d)) {
		cJSON_Delete(d);
		json_bad(j, "%s", "its text is not a JSON object");
	}
	return d;
}

/*
 * How the right's --on member reads: as the left's --on field, from
 * the left type when known, else from the field of that name in the
 * record types (one kind for all that have it).  Exit 2 when none has
 * it or they disagree.
 */
static void json_key_kind(struct js *j)
{
	const char *on = j->o->on;
	int found = 0;

	if (j->s[0].t) {
		jon_field(&j->rkey, j->s[0].t, on, "--on (left)");
		return;
	}
	for (unsigned id = 1; id < FS_T_JSON; id++) {
		const struct fs_type *t = fs_type_by_id(id);
		const struct fs_field *f = t && t->body_size ?
					   fs_field_by_name(t, on) : NULL;
		struct jon o;

		if (!f || (f->flags & FS_FLD_HDR))
			continue;
		jon_field(&o, t, on, "--on (left)");
		if (found && o.kind != j->rkey.kind)
			fs_usage_error("--on: '%s' is of more than one kind "
				       "across the record types; the JSON "
				       "right input cannot tell which the "
				       "left's is", on);
		if (!found || o.size < j->rkey.size)
			j->rkey = o;
		found = 1;
	}
	if (!found)
		fs_usage_error("--on: no record type has a field '%s' to "
			       "join a JSON right input on", on);
}

/* The slot kind of JSON value v: a number f64, a string code, else i64. */
static uint8_t json_kind(const cJSON *v)
{
	return cJSON_IsString(v) ? FS_K_CODE : cJSON_IsBool(v) ? FS_K_I64 :
	       FS_K_F64;
}

/*
 * Key k and values rv of JSON record h: its --on member, read as the
 * left's field; the --fields members into the columns' kinds (set by
 * the first record: a number f64, a string a code of at most 8 bytes,
 * true/false i64 1/0; absent or null: 0).  Exit 3 on what does not fit.
 */
static void json_row(struct js *j, const struct fs_hdr *h, struct jkey *k,
		     uint64_t *rv)
{
	cJSON *d = json_doc(j, h), *v;
	const char *on = j->o->on_right;
	char num[64];
	const char *s;
	int rc;

	v = cJSON_GetObjectItemCaseSensitive(d, on);
	if (cJSON_IsString(v)) {
		s = v->valuestring;
	} else if (cJSON_IsNumber(v)) {
		double x = v->valuedouble;

		if (x == floor(x) && fabs(x) < 9e18)
			snprintf(num, sizeof(num), "%lld", (long long)x);
		else
			snprintf(num, sizeof(num), "%.17g", x);
		s = num;
	} else {
		cJSON_Delete(d);
		json_bad(j, "no string or number member '%s' (the --on key)",
			 on);
	}
	rc = *s ? jkey_parse(&j->rkey, s, strlen(s), k) : -1;
	if (rc) {
		snprintf(num, sizeof(num), "%.40s", s);
		cJSON_Delete(d);
		json_bad(j, rc == -2 ? "key '%s' is longer than the left's "
			 "field" : "key '%s' is not of the left field's kind",
			 num);
	}
	for (unsigned c = 0; c < j->nrcol; c++) {
		uint8_t kind = j->rcol[c].out;

		v = cJSON_GetObjectItemCaseSensitive(d, j->rnames[c]);
		rv[c] = 0;
		if (!v || cJSON_IsNull(v))
			continue;
		if (json_kind(v) != kind) {
			cJSON_Delete(d);
			json_bad(j, "member '%s' is not of the kind its first "
				 "value set", j->rnames[c]);
		}
		if (kind == FS_K_CODE) {
			size_t n = strlen(v->valuestring);

			if (n > 8) {
				cJSON_Delete(d);
				json_bad(j, "member '%s' is longer than a "
					 "joined row's 8-byte code",
					 j->rnames[c]);
			}
			memcpy(&rv[c], v->valuestring, n);
		} else if (kind == FS_K_I64) {
			rv[c] = cJSON_IsTrue(v);
		} else {
			memcpy(&rv[c], &v->valuedouble, 8);
		}
	}
	cJSON_Delete(d);
}

/*
 * A JSON right side starts: the key's kind, and the columns' kinds
 * from its first record h (or kinds, restored from a snapshot).
 */
static void json_start(struct js *j, struct side *s, const struct fs_hdr *h,
		       const uint8_t *kinds)
{
	uint8_t k[JN_MAXFIELDS];
	cJSON *d = h ? json_doc(j, h) : NULL;

	if (!j->o->nfields)
		fs_usage_error("--fields is required with a JSON right input "
			       "(the members to add)");
	json_key_kind(j);
	j->rjson = 1;
	for (unsigned i = 0; i < j->o->nfields; i++) {
		j->rnames[i] = j->o->fields[i];
		k[i] = kinds ? kinds[i] : json_kind(
			cJSON_GetObjectItemCaseSensitive(d, j->rnames[i]));
		j->rcol[i] = (struct jcol){ 0, k[i], 8, k[i] };
	}
	cJSON_Delete(d);
	j->nrcol = j->o->nfields;
	s->psize = 8 * (size_t)j->nrcol;
	if (j->s[0].t)
		jrow_plan(&j->row, j->s[0].t, j->rnames, k, j->nrcol,
			  j->o->outer);
}

/*
 * The type of side s's data (its first data record's, h, or a restored
 * snapshot's, with the right's column kinds): --on, and for the right
 * the columns.
 */
static void side_start(struct js *j, struct side *s, unsigned type,
		       const struct fs_hdr *h, const uint8_t *kinds)
{
	int left = s == &j->s[0];
	const char *what = left ? "--on (left)" : "--on (right)";

	s->t = fs_type_by_id(type);
	if (!left && type == FS_T_JSON) {
		json_start(j, s, h, kinds);
		return;
	}
	if (!s->t || !s->t->body_size)
		fs_die(FS_EXIT_DATA, "cannot join %s records: their body is "
		       "not of fixed layout (%s input, frame %llu)",
		       s->t ? s->t->name : "unknown", s->name,
		       (unsigned long long)fs_reader_frames(s->r));
	jon_field(&s->on, s->t, left ? j->o->on : j->o->on_right, what);
	if (left) {
		s->psize = (fs_frame_size_for(s->t->body_size) + 7) & ~7u;
		if (j->rjson && s->on.kind != j->rkey.kind)
			fs_usage_error("--on: the JSON right input's keys were "
				       "read as %s, the left's '%s' is %s",
				       fs_kind_name(j->rkey.kind), j->o->on,
				       fs_kind_name(s->on.kind));
	} else {
		const char *names[JN_MAXFIELDS];
		uint8_t kinds[JN_MAXFIELDS];
		unsigned n = 0;

		for (unsigned i = 0; i < j->o->nfields; i++)
			names[n++] = j->o->fields[i];
		if (!n)	/* --within without --fields: every body field */
			for (unsigned i = 0; i < s->t->nfields &&
			     n < JN_MAXFIELDS; i++)
				if (!(s->t->fields[i].flags & FS_FLD_HDR) &&
				    jcol_kind(&s->t->fields[i]))
					names[n++] = s->t->fields[i].name;
		for (unsigned i = 0; i < n; i++) {
			const struct fs_field *f =
				fs_field_by_name(s->t, names[i]);
			struct jon dummy;

			if (!f || !jcol_kind(f))	/* exit 2 */
				jon_field(&dummy, s->t, names[i], "--fields");
			j->rcol[i] = (struct jcol){ f->off, f->kind, f->size,
						    (uint8_t)jcol_kind(f) };
			j->rnames[i] = f->name;
			kinds[i] = j->rcol[i].out;
		}
		j->nrcol = n;
		s->psize = 8 * (size_t)(n ? n : 1);
		if (j->s[0].t)
			jrow_plan(&j->row, j->s[0].t, names, kinds, n,
				  j->o->outer);
	}
}

/* A left type known after the right's: plan the row now. */
static void plan_late(struct js *j)
{
	uint8_t kinds[JN_MAXFIELDS];

	for (unsigned i = 0; i < j->nrcol; i++)
		kinds[i] = j->rcol[i].out;
	jrow_plan(&j->row, j->s[0].t, j->rnames, kinds, j->nrcol,
		  j->o->outer);
}

static void on_data(struct js *j, struct side *s, const struct fs_hdr *h)
{
	int left = s == &j->s[0];

	if (!s->t) {
		side_start(j, s, h->type, h, NULL);
		if (left && j->s[1].t)
			plan_late(j);
	}
	if (h->type != s->t->id) {
		j->n.other++;
		if (left)
			fs_write_frame(j->w, h);
		return;
	}
	if (left) {
		j->n.left++;
		if (h->ts_event < s->wm)
			j->n.late_left++;
		for (unsigned i = 0; i < j->row.nleft; i++)
			if (!jcol_fits(&j->row.left[i], h)) {
				fs_writers_flush_all();
				long_code(s->t, &j->row.left[i], h,
					  fs_reader_frames(s->r));
				exit(FS_EXIT_DATA);
			}
		if (j->o->temporal)
			temporal_left(j, h);
		else
			within_left(j, h);
	} else {
		uint64_t rv[JN_MAXFIELDS];
		struct jkey k;

		j->n.right++;
		if (h->ts_event < s->wm)
			j->n.late_right++;
		if (j->rjson) {
			json_row(j, h, &k, rv);
		} else {
			for (unsigned i = 0; i < j->nrcol; i++) {
				if (!jcol_fits(&j->rcol[i], h)) {
					fs_writers_flush_all();
					long_code(s->t, &j->rcol[i], h,
						  fs_reader_frames(s->r));
					exit(FS_EXIT_DATA);
				}
				jcol_get(&j->rcol[i], h, &rv[i]);
			}
			k = jon_key(&s->on, h);
		}
		if (j->o->temporal)
			temporal_right(j, h->ts_event, k, rv);
		else
			within_right(j, h->ts_event, k, rv);
	}
}

static void advance(struct js *j)
{
	if (j->o->temporal)
		temporal_advance(j);
	else
		within_advance(j);
}

/* ---- checkpoints: aligned barriers, snapshots ---- */

static void on_end(struct js *j, struct side *s);

#define SNAP_MAGIC "FSJOI2"
#define SNAP_VERSION 3

/* Whether side s keeps its nodes in per-key lists (and which order). */
static int side_lists(const struct js *j, int i)
{
	return !j->o->temporal || i == 1;
}

static int side_heap(const struct js *j, int i)
{
	return !j->o->temporal || i == 0;
}

/*
 * Side i's live nodes and their arrival numbers: a heap side's in heap
 * order (a restore pushes them with the same numbers), a list side's
 * key by key, oldest first (a restore re-adds them in that order).
 */
static uint32_t *side_order(struct js *j, int i, size_t *n, uint64_t **ord)
{
	struct side *s = &j->s[i];
	uint32_t *v = fs_xmalloc((s->live + 1) * sizeof(*v));
	size_t k = 0;

	*ord = fs_xcalloc(s->live + 1, sizeof(**ord));
	if (side_heap(j, i)) {
		for (size_t a = 0; a < s->nheap; a++) {
			(*ord)[k] = s->heap[a].ord;
			v[k++] = s->heap[a].idx;
		}
	} else {
		for (size_t e = 0; s->tab && e <= s->mask; e++) {
			size_t at = k;

			for (uint32_t x = s->tab[e].head; x != NIL;
			     x = s->nodes[x].next)
				v[k++] = x;
			for (size_t a = at, b = k; a + 1 < b; a++, b--) {
				uint32_t t = v[a];

				v[a] = v[b - 1];
				v[b - 1] = t;
			}
		}
	}
	*n = k;
	return v;
}

static void snap_side(struct js *j, struct sbuf *b, int i)
{
	struct side *s = &j->s[i];
	size_t n;
	uint64_t *ord;
	uint32_t *v = side_order(j, i, &n, &ord);

	sb_u32(b, s->t ? s->t->id : 0);
	if (i == 1) {		/* the columns' kinds (a JSON side's) */
		sb_u32(b, j->nrcol);
		for (unsigned c = 0; c < j->nrcol; c++)
			sb_u32(b, j->rcol[c].out);
	}
	sb_i64(b, s->wm);
	sb_u32(b, (uint32_t)s->has_wm);
	sb_u64(b, n);
	for (size_t a = 0; a < n; a++) {
		const struct node *x = &s->nodes[v[a]];

		sb_i64(b, x->ts);
		sb_u64(b, ord[a]);
		sb_u64(b, x->k.a);
		sb_u64(b, x->k.b);
		sb_u32(b, x->matched);
		sb_put(b, payload(s, v[a]), s->psize);
	}
	free(v);
	free(ord);
}

/* At BARRIER id, inputs aligned: the whole state, one instance row. */
static void snap_put(struct js *j, uint64_t id)
{
	struct sbuf b = { 0 };
	size_t at;

	sb_head(&b, SNAP_MAGIC, SNAP_VERSION);
	at = sb_sect(&b, "JOIN");
	jcnt_put(&b, &j->n);
	sb_i64(&b, j->out_wm);
	sb_i64(&b, j->wm_ingest);
	sb_u64(&b, j->ord);
	sb_u32(&b, (uint32_t)j->row.sent);
	snap_side(j, &b, 0);
	snap_side(j, &b, 1);
	sb_end(&b, at);
	sb_seal(&b);
	fs_ckpt_put_snapshot(fs_pipeline_ckpt(), (int64_t)id, fs_stage_name(),
			     FS_CKPT_INSTANCE, b.p, b.n);
	sb_free(&b);
}

static void unsnap_side(struct js *j, struct srd *r, int i)
{
	struct side *s = &j->s[i];
	unsigned type = sr_u32(r), nk = 0;
	uint8_t kinds[JN_MAXFIELDS];
	uint64_t n;

	if (i == 1) {
		nk = sr_u32(r);
		if (nk > JN_MAXFIELDS || (type == FS_T_JSON &&
					  nk != j->o->nfields))
			sr_fail(r, "not the right's columns of this run");
		for (unsigned c = 0; c < nk && !r->bad; c++)
			kinds[c] = (uint8_t)sr_u32(r);
	}
	s->wm = sr_i64(r);
	s->has_wm = (int)sr_u32(r);
	n = sr_u64(r);
	if (type && !r->bad) {
		side_start(j, s, type, NULL, kinds);
		if (i == 1 && j->s[0].t)
			plan_late(j);
	}
	if (n && !s->t)
		sr_fail(r, "records of a side without a type");
	for (uint64_t a = 0; a < n && !r->bad; a++) {
		uint32_t x;
		uint64_t o;

		if (r->n - r->off < 36 + s->psize) {
			sr_fail(r, "a record past the end");
			break;
		}
		x = node_new(s);
		s->nodes[x].ts = sr_i64(r);
		o = sr_u64(r);
		s->nodes[x].k.a = sr_u64(r);
		s->nodes[x].k.b = sr_u64(r);
		s->nodes[x].matched = sr_u32(r);
		sr_get(r, payload(s, x), s->psize);
		if (side_lists(j, i))
			list_add(s, key_slot(s, s->nodes[x].k, 1), x);
		if (side_heap(j, i))
			heap_push(s, s->nodes[x].ts, o, x);
	}
}

/* Put the restored checkpoint's state back, if there is one. */
static void snap_restore(struct js *j)
{
	int64_t id = fs_pipeline_ckpt() ? fs_pipeline_restored() : 0;
	struct srd r;
	size_t n;
	void *p;
	int sent;

	if (id <= 0)
		return;
	p = fs_pipeline_snapshot(id, &n, NULL);
	if (sr_open(&r, p, n, SNAP_MAGIC, SNAP_VERSION) == 0) {
		sr_sect(&r, "JOIN");
		jcnt_get(&r, &j->n);
		j->out_wm = sr_i64(&r);
		j->wm_ingest = sr_i64(&r);
		j->ord = sr_u64(&r);
		sent = (int)sr_u32(&r);
		unsnap_side(j, &r, 0);
		unsnap_side(j, &r, 1);
		j->row.sent = sent;	/* planning the row cleared it */
		if (!r.bad && r.off != r.n)
			sr_fail(&r, "bytes after the last section");
	}
	free(p);
	if (r.bad)
		fs_pipeline_bad_snapshot(id, r.why);
}

/*
 * Both inputs have given BARRIER id (or the other has ended): a FINAL
 * one has ended its side first (what its end makes is out), then the
 * snapshot, then one BARRIER id on; both sides read on.
 */
static void align(struct js *j, struct side *s, uint64_t id)
{
	struct side *o = s == &j->s[0] ? &j->s[1] : &j->s[0];
	int final = (s->bar_flags & FS_F_FINAL) && (o->ended ||
		    (o->blocked && (o->bar_flags & FS_F_FINAL)));
	uint64_t f[6] = { 0 };
	struct fs_hdr *h = (struct fs_hdr *)f;

	if (fs_pipeline_ckpt())
		snap_put(j, id);
	/*
	 * Written whole, not reserved: a sink then commits it now, and a
	 * source's next barrier is not put off waiting for it.
	 */
	h->len = sizeof(f) - 4;
	h->type = FS_T_BARRIER;
	h->version = FS_FORMAT_VERSION;
	h->flags = FS_F_CONTROL | (final ? FS_F_FINAL : 0);
	h->ts_event = j->out_wm == INT64_MIN ? 0 : j->out_wm;
	h->seq = id;
	memcpy(fs_body(h), &id, 8);
	fs_write_frame(j->w, h);
	s->blocked = o->blocked = 0;
	/*
	 * A source's next barrier is due an interval after its first read
	 * past this one: read both now, so that neither runs on alone
	 * for an interval while the other waits at its barrier.
	 */
	s->kick = o->kick = 1;
}

/* BARRIER n from side s: wait for the other's n, then align. */
static void on_barrier(struct js *j, struct side *s, const struct fs_hdr *h)
{
	struct side *o = s == &j->s[0] ? &j->s[1] : &j->s[0];
	uint64_t id = fs_barrier_id(h);

	s->bar_flags = h->flags;
	if (h->flags & FS_F_FINAL)	/* its input ends here */
		on_end(j, s);
	if (o->blocked && o->blocked != id)
		fs_die(FS_EXIT_DATA, "BARRIER %llu on the %s input, %llu on "
		       "the %s: the inputs are not of one job",
		       (unsigned long long)id, s->name,
		       (unsigned long long)o->blocked, o->name);
	s->blocked = id;
	if (o->blocked == id || o->eof)
		align(j, s, id);
}

static void on_frame(struct js *j, struct side *s, const struct fs_hdr *h)
{
	if (!fs_is_control(h)) {
		on_data(j, s, h);
		return;
	}
	if (h->type == FS_T_WATERMARK) {
		s->has_wm = 1;
		j->wm_ingest = h->ts_ingest;
		if (h->ts_event > s->wm) {
			s->wm = h->ts_event;
			advance(j);
		}
		return;
	}
	if (h->type == FS_T_BARRIER) {
		on_barrier(j, s, h);
		return;
	}
	/* other control records: the left's go on, the right's stop */
	if (s == &j->s[0])
		fs_write_frame(j->w, h);
}

/* The end of side s's input. */
static void on_end(struct js *j, struct side *s)
{
	if (s->ended)
		return;
	s->ended = 1;
	if (!s->has_wm && s == &j->s[1] && j->o->temporal)
		fs_die(FS_EXIT_DATA, "the right input '%s' ended without a "
		       "WATERMARK record: a temporal join needs them on both "
		       "inputs (fs-gen and fs-replay write them, fs-ingest "
		       "with --max-delay)", j->o->right);
	if (!s->has_wm)
		fs_warn("the %s input '%s' carried no WATERMARK records",
			s->name, s == &j->s[0] ? j->o->left : j->o->right);
	s->wm = INT64_MAX;
	advance(j);
}

/* Left records wait and the right has never carried a watermark. */
static void check_stall(struct js *j)
{
	if (j->first_wait && !j->s[1].has_wm && !j->s[1].eof &&
	    fs_mono_ns() - j->first_wait > j->o->idle)
		fs_die(FS_EXIT_DATA, "no WATERMARK on the right input '%s' "
		       "in %llds while left records wait: a temporal join "
		       "needs watermarks on both inputs (fs-gen and "
		       "fs-replay write them, fs-ingest with --max-delay)",
		       j->o->right, (long long)(j->o->idle / 1000000000));
}

/* Wait until an input has more; 0, or -1 on SIGINT/SIGTERM. */
static int wait_inputs(struct js *j)
{
	struct pollfd p[2];
	int n = 0;

	fs_writer_flush(j->w);
	for (int i = 0; i < 2; i++) {
		int fd = j->s[i].eof || j->s[i].blocked ? -1 :
			 fs_reader_pollfd(j->s[i].r);

		if (fd >= 0)
			p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	if (fs_stop)
		return -1;
	if (n == 0 || poll(p, (nfds_t)n, n == 0 ? 1 : 200) < 0) {
		if (errno != EINTR && n)
			fs_die_errno(FS_EXIT_FAIL, "poll");
	}
	j->g_versions = (double)j->s[1].live;
	j->g_waiting = (double)j->s[0].live;
	fs_metrics_tick(j->mx);
	check_stall(j);
	return fs_stop ? -1 : 0;
}

static int readable(const struct side *s)
{
	return !s->eof && !s->blocked;
}

/*
 * Read up to max frames of side i, stopping once it is ahead of the
 * other side in event time; 1 when a frame came, 0 when none did, -1
 * on bad input.
 */
static int read_side(struct js *j, int i, int max)
{
	struct side *s = &j->s[i], *o = &j->s[!i];
	const struct fs_hdr *h;
	int rc = 1, got = 0;

	for (int b = 0; b < max && readable(s); b++) {
		rc = fs_read_timed(s->r, &h, 0);
		if (rc != 1)
			break;
		if (h->type != FS_T_BARRIER && h->ts_event > s->pos)
			s->pos = h->ts_event;
		on_frame(j, s, h);
		got = 1;
		if (readable(o) && s->pos > o->pos)
			break;
	}
	if (rc == 0) {
		s->eof = 1;
		on_end(j, s);
		if (o->blocked)		/* it waits in vain */
			align(j, o, o->blocked);
	}
	return rc == -1 ? -1 : got;
}

/*
 * Read both inputs, the one behind in event time first (as a merge
 * does), so neither runs ahead of the other and the state kept stays
 * what the watermarks need; the other when the first has nothing now.
 */
static int run(struct js *j)
{
	while (!j->s[0].eof || !j->s[1].eof) {
		int first = !readable(&j->s[0]) ||
			    (readable(&j->s[1]) &&
			     j->s[1].pos < j->s[0].pos);
		int got = 0;

		for (int i = 0; i < 2 && got >= 0; i++)
			if (j->s[i].kick) {	/* start its barrier clock */
				j->s[i].kick = 0;
				got = read_side(j, i, 1);
			}
		if (got >= 0)
			got = read_side(j, first, 256);
		if (got == 0)
			got = read_side(j, !first, 256);
		if (got < 0)
			return FS_EXIT_DATA;
		if (!got && wait_inputs(j) < 0)
			break;
	}
	return FS_EXIT_OK;
}

static void side_free(struct side *s)
{
	free(s->tab);
	free(s->nodes);
	free(s->pay);
	free(s->heap);
	fs_reader_close(s->r);
}

int stream_main(struct jopts *o)
{
	static struct js j;
	int rc;

	(void)fs_pipeline_restored();	/* before any barrier of ours */
	j.o = o;
	j.out_wm = INT64_MIN;
	j.last_sweep = INT64_MIN / 2;
	j.w = fs_writer_open(o->out);
	j.s[0].name = "left";
	j.s[1].name = "right";
	for (int i = 0; i < 2; i++) {
		j.s[i].wm = INT64_MIN;
		j.s[i].pos = INT64_MIN;
		j.s[i].used = 1;	/* node 0 is NIL */
		j.s[i].r = fs_reader_open(i ? o->right : o->left);
	}
	snap_restore(&j);
	j.mx = fs_metrics_open(o->metrics);
	fs_metrics_counter(j.mx, "fs_join_left_total", "left records read",
			   &j.n.left);
	fs_metrics_counter(j.mx, "fs_join_matched_total",
			   "pairs (interval) or left records matched",
			   &j.n.matched);
	fs_metrics_counter(j.mx, "fs_join_unmatched_total",
			   "left records without a match", &j.n.unmatched);
	fs_metrics_gauge(j.mx, "fs_join_right_versions",
			 "right records (versions) kept", &j.g_versions);
	fs_metrics_gauge(j.mx, "fs_join_left_waiting",
			 "left records kept (waiting, or for pairs)",
			 &j.g_waiting);
	rc = run(&j);
	j.g_versions = (double)j.s[1].live;
	j.g_waiting = (double)j.s[0].live;
	if (rc != FS_EXIT_OK)
		fs_writers_flush_all();
	if (!o->quiet)
		fs_warn("%llu left, %llu right records: %llu %s, %llu "
			"unmatched (%s); late %llu left, %llu right; %llu "
			"keys dropped by --state-ttl",
			(unsigned long long)j.n.left,
			(unsigned long long)j.n.right,
			(unsigned long long)j.n.matched,
			o->temporal ? "matched" : "pairs",
			(unsigned long long)j.n.unmatched,
			o->outer ? "kept" : "dropped",
			(unsigned long long)j.n.late_left,
			(unsigned long long)j.n.late_right,
			(unsigned long long)j.n.evicted);
	fs_writer_close(j.w);
	fs_metrics_close(j.mx);
	side_free(&j.s[0]);
	side_free(&j.s[1]);
	jrow_free(&j.row);
	return rc;
}
