/*
 * row.c - fs-join's output: one AGG row per joined pair, the dynamic
 * row fs-window's results use, announced by a SCHEMA record.  The
 * row's header is the left record's (ts_event, ts_ingest, key, seq),
 * so end-to-end latency stays measurable through the join.
 */
#include <stdlib.h>
#include <string.h>

#include "join.h"

void jon_field(struct jon *o, const struct fs_type *t, const char *name,
	       const char *what)
{
	const struct fs_field *f = fs_field_by_name(t, name);
	char list[1024];
	size_t n = 0;

	if (f && f->kind != FS_K_TEXT && f->kind != FS_K_EXPLAIN &&
	    (f->size <= 16 || f->kind != FS_K_CODE)) {
		o->off = f->off;
		o->kind = f->kind;
		o->size = f->size;
		return;
	}
	list[0] = '\0';
	for (unsigned i = 0; i < t->nfields && n < sizeof(list); i++)
		n += snprintf(list + n, sizeof(list) - n, "%s%s",
			      i ? ", " : "", t->fields[i].name);
	fs_usage_error("%s: %s has no field '%s' (its fields: %s)", what,
		       t->name, name, list);
}

int jkey_parse(const struct jon *o, const char *s, size_t n, struct jkey *k)
{
	int64_t v = 0;
	int rc;

	memset(k, 0, sizeof(*k));
	switch (o->kind) {
	case FS_K_CODE: case FS_K_CHAR:
		if (n > o->size || n > sizeof(*k))
			return -2;
		memcpy(k, s, n);
		return 0;
	case FS_K_ID:
		k->a = fs_id(s, n);
		return 0;
	case FS_K_U64:
		rc = fs_parse_u64(s, n, &k->a);
		break;
	case FS_K_FIX:
		rc = fs_parse_fix(s, n, &v);
		k->a = (uint64_t)v;
		break;
	case FS_K_TS:
		rc = fs_parse_time(s, n, &v);
		k->a = (uint64_t)v;
		break;
	case FS_K_F64: {
		double x;

		rc = fs_parse_f64(s, n, &x);
		memcpy(&k->a, &x, 8);
		break;
	}
	default:
		rc = fs_parse_i64(s, n, INT64_MIN, INT64_MAX, &v);
		k->a = (uint64_t)v;
	}
	return rc ? -1 : 0;
}

/* The slot kind of a field, 0 for a field the row leaves out. */
unsigned jcol_kind(const struct fs_field *f)
{
	switch (f->kind) {
	case FS_K_I64: case FS_K_U64: case FS_K_F64: case FS_K_FIX:
	case FS_K_TS: case FS_K_DUR: case FS_K_ID:
		return f->kind;
	case FS_K_U8: case FS_K_U16: case FS_K_U32: case FS_K_BOOL:
		return FS_K_I64;
	case FS_K_F32:
		return FS_K_F64;
	case FS_K_CODE: case FS_K_CHAR:
		return FS_K_CODE;
	}
	return 0;
}

static int taken(const char *const *names, unsigned n, const char *s)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return 1;
	return 0;
}

void jrow_plan(struct jrow *r, const struct fs_type *lt,
	       const char *const *rnames, const uint8_t *rkinds,
	       unsigned nright, int outer)
{
	const char *names[128 + JN_MAXFIELDS + 1];
	char *own[JN_MAXFIELDS];
	uint8_t kinds[128 + JN_MAXFIELDS + 1];
	unsigned n = 0;
	uint64_t hsh = 0;

	r->lt = lt;
	r->nleft = 0;
	for (unsigned i = 0; i < lt->nfields && n < 128; i++) {
		const struct fs_field *f = &lt->fields[i];
		unsigned k = jcol_kind(f);

		if ((f->flags & FS_FLD_HDR) || !k)
			continue;
		r->left[r->nleft++] = (struct jcol){ f->off, f->kind,
						     f->size, (uint8_t)k };
		names[n] = f->name;
		kinds[n++] = (uint8_t)k;
	}
	for (unsigned i = 0; i < nright; i++) {
		const char *s = rnames[i];
		size_t l = strlen(s) + 7;

		own[i] = fs_xmalloc(l);
		if (taken(names, n, s) || fs_field_by_name(lt, s))
			snprintf(own[i], l, "right_%s", s);
		else
			snprintf(own[i], l, "%s", s);
		names[n] = own[i];
		kinds[n++] = rkinds[i];
	}
	if (outer) {
		names[n] = "matched";
		kinds[n++] = FS_K_I64;
	}
	r->nright = nright;
	r->outer = outer;
	for (unsigned i = 0; i < n; i++)
		hsh = fs_hash64(names[i], strlen(names[i])) ^
		      (hsh * 31 + kinds[i]);
	fs_schema_free(r->schema);
	r->schema = fs_schema_new(FS_T_AGG, (uint32_t)(hsh ^ hsh >> 32) |
				  1u << 31, n, names, kinds);
	for (unsigned i = 0; i < nright; i++)
		free(own[i]);
	if (!r->schema)
		fs_bug("cannot build the joined row's schema");
	r->sent = 0;
}

void jrow_free(struct jrow *r)
{
	fs_schema_free(r->schema);
	r->schema = NULL;
}

int long_code(const struct fs_type *t, const struct jcol *c,
	      const struct fs_hdr *h, uint64_t frame)
{
	const char *p = (const char *)h + c->off;

	fs_warn("a %s record's code '%.*s' does not fit the joined row's 8 "
		"bytes (frame %llu)", t->name,
		(int)strnlen(p, c->size), p, (unsigned long long)frame);
	return -1;
}

void jcol_get(const struct jcol *c, const struct fs_hdr *h, uint64_t *slot)
{
	const char *p = (const char *)h + c->off;

	switch (c->out) {
	case FS_K_CODE:
		*slot = 0;
		memcpy(slot, p, c->size < 8 ? c->size : 8);
		break;
	case FS_K_F64:
		if (c->kind == FS_K_F32) {
			float f;
			double d;

			memcpy(&f, p, 4);
			d = f;
			memcpy(slot, &d, 8);
			break;
		}
		memcpy(slot, p, 8);
		break;
	default:
		*slot = (uint64_t)fs_load_int(p, c->kind);
	}
}

int jcol_fits(const struct jcol *c, const struct fs_hdr *h)
{
	const char *p = (const char *)h + c->off;

	return !(c->size > 8 && c->out == FS_K_CODE && p[8] && p[8] != ' ');
}

int jrow_put(struct jrow *r, struct fs_writer *w, const struct fs_hdr *h,
	     const uint64_t *rv, uint64_t frame)
{
	unsigned ncols = r->schema->ncols;
	struct fs_hdr *o;
	struct fs_dyn *dy;
	uint64_t *slot;

	for (unsigned i = 0; i < r->nleft; i++) {
		const struct jcol *c = &r->left[i];

		if (!jcol_fits(c, h))
			return long_code(r->lt, c, h, frame);
	}
	if (!r->sent) {	/* as fs_write_schema, the same in every run */
		o = fs_write_reserve(w, FS_T_SCHEMA,
				     fs_schema_body_len(r->schema));
		o->flags = FS_F_CONTROL;
		o->ts_event = h->ts_event;
		o->ts_ingest = h->ts_ingest;
		o->key = r->schema->schema_id;
		fs_schema_encode(r->schema, fs_body(o));
		r->sent = 1;
	}
	o = fs_write_reserve(w, FS_T_AGG, sizeof(*dy) + 8 * (size_t)ncols);
	o->ts_event = h->ts_event;
	o->ts_ingest = h->ts_ingest;
	o->key = h->key;
	o->seq = h->seq;
	dy = fs_body(o);
	dy->ncols = ncols;
	dy->schema_id = r->schema->schema_id;
	slot = (uint64_t *)(dy + 1);
	for (unsigned i = 0; i < r->nleft; i++)
		jcol_get(&r->left[i], h, &slot[i]);
	slot += r->nleft;
	if (rv)
		memcpy(slot, rv, 8 * (size_t)r->nright);
	if (r->outer)
		slot[r->nright] = rv != NULL;
	return 0;
}
