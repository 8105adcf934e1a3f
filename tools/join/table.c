/*
 * table.c - fs-join's lookup table: a key column and the --fields
 * columns of a CSV file, split by fs-ingest's own CSV parser
 * (tools/ingest/csv.c: RFC 4180 quotes, CRLF, a BOM), or of an SQLite
 * table; each column's kind inferred from all its values, then an
 * open-addressing index by key (fs-join(1) LOOKUP TABLES).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../ingest/ingest.h"
#include "join.h"

/* A load in progress.  g first: csv.c's callbacks get &g. */
struct ld {
	struct ing g;
	const char *on;
	const struct jon *o;
	const char *const *fields;
	unsigned nf;
	int keycol;			/* input column of the key */
	int col[JN_MAXFIELDS];		/* input column of each field */
	int planned;
	const char *unit;		/* "line" or "row" */
	/* the rows: key, source line, cells as (offset, length) in txt */
	struct jkey *keys;
	uint64_t *lines;
	uint64_t *cell;			/* off << 24 | len, nf per row */
	size_t n, cap;
	char *txt;
	size_t txtn, txtcap;
	char *why;
	size_t whyn;
};

static int bad(struct ld *d, uint64_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Set why to "UNIT LINE: MSG"; returns -1. */
static int bad(struct ld *d, uint64_t line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fs_why_at(d->why, d->whyn, d->unit, line, fmt, ap);
	va_end(ap);
	return -1;
}

/* The header: find the key column and each field's; -1 on a missing one. */
static int plan(struct ld *d, uint64_t line, unsigned nc,
		const char *const *names, const uint32_t *lens)
{
	d->keycol = -1;
	for (unsigned f = 0; f < d->nf; f++)
		d->col[f] = -1;
	for (unsigned i = 0; i < nc; i++) {
		size_t l = lens[i];
		const char *s = fs_trim_cell(names[i], &l);

		if (strlen(d->on) == l && memcmp(s, d->on, l) == 0)
			d->keycol = (int)i;
		for (unsigned f = 0; f < d->nf; f++)
			if (strlen(d->fields[f]) == l &&
			    memcmp(s, d->fields[f], l) == 0)
				d->col[f] = (int)i;
	}
	if (d->keycol < 0)
		return bad(d, line, "no key column '%s'", d->on);
	for (unsigned f = 0; f < d->nf; f++)
		if (d->col[f] < 0)
			return bad(d, line, "no column '%s'", d->fields[f]);
	d->planned = 1;
	return 0;
}

/* The key in cell s[0..n), read as the --on field reads. */
static int cell_key(struct ld *d, uint64_t line, const char *s, size_t n,
		    struct jkey *k)
{
	const struct jon *o = d->o;
	int rc;

	s = fs_trim_cell(s, &n);
	if (n == 0)
		return bad(d, line, "empty key '%s'", d->on);
	rc = jkey_parse(o, s, n, k);
	if (rc == -2)
		return bad(d, line, "key '%.*s' longer than the field's %u "
			   "bytes", (int)n, s, o->size);
	if (rc)
		return bad(d, line, "bad key '%.*s' for a %s field", (int)n,
			   s, fs_kind_name(o->kind));
	return 0;
}

/* One data row from cells cs/cn (nc of them). */
static int add_row(struct ld *d, uint64_t line, unsigned nc,
		   const char *const *cs, const uint32_t *cn)
{
	struct jkey k;

	if ((unsigned)d->keycol >= nc)
		return bad(d, line, "%u fields, too few", nc);
	if (cell_key(d, line, cs[d->keycol], cn[d->keycol], &k))
		return -1;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 1024;
		d->keys = fs_xrealloc(d->keys, d->cap * sizeof(*d->keys));
		d->lines = fs_xrealloc(d->lines, d->cap * sizeof(*d->lines));
		d->cell = fs_xrealloc(d->cell, d->cap * d->nf * 8);
	}
	d->keys[d->n] = k;
	d->lines[d->n] = line;
	for (unsigned f = 0; f < d->nf; f++) {
		size_t l = cn[d->col[f]];
		const char *s = fs_trim_cell(cs[d->col[f]], &l);

		if (l > 0xffffff)
			return bad(d, line, "value over 16 MiB");
		if (d->txtn + l > d->txtcap) {
			d->txtcap = (d->txtn + l) * 2 + 4096;
			d->txt = fs_xrealloc(d->txt, d->txtcap);
		}
		memcpy(d->txt + d->txtn, s, l);
		d->cell[d->n * d->nf + f] = (uint64_t)d->txtn << 24 | l;
		d->txtn += l;
	}
	d->n++;
	return 0;
}

/* ---- what tools/ingest/csv.c calls back ---- */

int ing_fatal(struct ing *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->err, sizeof(g->err), fmt, ap);
	va_end(ap);
	return -1;
}

int ing_bad_row(struct ing *g, const char *raw, size_t rawlen,
		const char *fmt, ...)
{
	va_list ap;

	(void)raw;
	(void)rawlen;
	va_start(ap, fmt);
	vsnprintf(g->err, sizeof(g->err), fmt, ap);
	va_end(ap);
	return -1;
}

char *ing_unq_room(struct ing *g, size_t n)
{
	if (g->unq_len + n > g->unq_cap) {
		g->unq_cap = (g->unq_len + n) * 2;
		g->unq = fs_xrealloc(g->unq, g->unq_cap);
	}
	return g->unq + g->unq_len;
}

int ing_plan(struct ing *g, unsigned ncols, const char *const *names,
	     const uint32_t *lens)
{
	struct ld *d = (struct ld *)g;

	if (ncols > ING_MAXCOLS)
		return ing_fatal(g, "%s:%llu: more than %u columns", g->name,
				 (unsigned long long)g->line, ING_MAXCOLS);
	g->ncols = ncols;
	g->colname = fs_xcalloc(ncols, sizeof(*g->colname));
	for (unsigned i = 0; i < ncols; i++) {
		g->colname[i] = fs_xmalloc(lens[i] + 1);
		memcpy(g->colname[i], names[i], lens[i]);
		g->colname[i][lens[i]] = '\0';
	}
	if (plan(d, g->line, ncols, names, lens))
		return ing_fatal(g, "%s", d->why);
	return 0;
}

unsigned ing_csv_row(struct ing *g)
{
	struct ld *d = (struct ld *)g;

	if (add_row(d, g->line, g->ncols, g->cs, g->cn)) {
		const char *w = strstr(d->why, ": ");

		/* csv.c says "FILE:LINE: " itself */
		snprintf(g->why, sizeof(g->why), "%s", w ? w + 2 : d->why);
		return ING_ROW_MISSING;
	}
	return 0;
}

/* Read the whole file and split it with fs-ingest's CSV parser. */
static int load_csv(struct ld *d, const char *path, int *io)
{
	struct ing *g = &d->g;
	FILE *fp = fopen(path, "rb");
	size_t n = 0, cap = 1 << 16, k;
	char *buf = fs_xmalloc(cap + ING_SLACK);
	int rc = 0;

	d->unit = "line";
	if (!fp) {
		*io = 1;
		free(buf);
		snprintf(d->why, d->whyn, "%s", strerror(errno));
		return -1;
	}
	while ((k = fread(buf + n, 1, cap - n, fp)) > 0) {
		n += k;
		if (n == cap) {
			cap *= 2;
			buf = fs_xrealloc(buf, cap + ING_SLACK);
		}
	}
	if (ferror(fp)) {
		*io = 1;
		snprintf(d->why, d->whyn, "%s", strerror(errno));
		rc = -1;
	}
	fclose(fp);
	memset(buf + n, 0, ING_SLACK);
	g->fmt = ING_CSV;
	g->delim = ',';
	g->quoting = 1;
	snprintf(g->name, sizeof(g->name), "%s", path);
	g->cs = fs_xcalloc(ING_MAXCOLS, sizeof(*g->cs));
	g->cn = fs_xcalloc(ING_MAXCOLS, sizeof(*g->cn));
	if (rc == 0 && ing_csv_parse(g, buf, n, 1) < 0) {
		snprintf(d->why, d->whyn, "%s", g->err);
		rc = -1;
	}
	if (rc == 0 && !d->planned)
		rc = bad(d, 1, "no header row");
	for (unsigned i = 0; g->colname && i < g->ncols; i++)
		free(g->colname[i]);
	free(g->colname);
	free(g->cs);
	free(g->cn);
	free(g->unq);
	free(g->hdr_raw);
	free(buf);
	return rc;
}

/* "sqlite:FILE?table=T": every row of table T. */
/* fs_sqlite_table's row(): the header (plan), then the rows. */
static int sql_row(void *arg, uint64_t line, unsigned nc,
		   const char *const *f, const size_t *fl)
{
	struct ld *d = arg;
	uint32_t n[ING_MAXCOLS];

	for (unsigned i = 0; i < nc; i++)	/* nc <= ING_MAXCOLS */
		n[i] = fl[i] > UINT32_MAX ? UINT32_MAX : (uint32_t)fl[i];
	return line ? add_row(d, line, nc, f, n) : plan(d, 0, nc, f, n);
}

static int load_sqlite(struct ld *d, const char *uri, int *io)
{
	d->unit = "row";
	return fs_sqlite_table(uri, ING_MAXCOLS, sql_row, d, d->why,
			       d->whyn, io);
}

/* The kind all values of field f parse as (see jtable_load). */
static unsigned infer(const struct ld *d, unsigned f)
{
	int ok_i = 1, ok_x = 1, ok_d = 1, ok_t = 1;

	for (size_t r = 0; r < d->n && (ok_i | ok_x | ok_d | ok_t); r++) {
		uint64_t c = d->cell[r * d->nf + f];
		const char *s = d->txt + (c >> 24);
		size_t l = c & 0xffffff;
		int64_t v;
		double x;

		if (l == 0)
			continue;
		if (ok_i && fs_parse_i64(s, l, INT64_MIN, INT64_MAX, &v))
			ok_i = 0;
		if (ok_x && fs_parse_fix(s, l, &v))
			ok_x = 0;
		if (ok_d && fs_parse_f64(s, l, &x))
			ok_d = 0;
		if (ok_t && (!memchr(s, '-', l) || fs_parse_time(s, l, &v)))
			ok_t = 0;
	}
	return ok_i ? FS_K_I64 : ok_x ? FS_K_FIX : ok_d ? FS_K_F64 :
	       ok_t ? FS_K_TS : FS_K_CODE;
}

/* Fill t's values from the text cells, kinds inferred; index by key. */
static int build(struct ld *d, struct jtable *t)
{
	size_t valsz = (d->n ? d->n * d->nf : 1) * 8;
	uint64_t *vals = fs_xcalloc(1, valsz);

	t->ncols = d->nf;
	t->nrows = d->n;
	for (unsigned f = 0; f < d->nf; f++) {
		t->names[f] = fs_xstrdup(d->fields[f]);
		t->kinds[f] = (uint8_t)infer(d, f);
		for (size_t r = 0; r < d->n; r++) {
			uint64_t c = d->cell[r * d->nf + f];
			const char *s = d->txt + (c >> 24);
			size_t l = c & 0xffffff;
			uint64_t *v = &vals[r * d->nf + f];
			int64_t i = 0;
			double x = 0;

			if (l == 0)
				continue;
			switch (t->kinds[f]) {
			case FS_K_I64:
				fs_parse_i64(s, l, INT64_MIN, INT64_MAX, &i);
				break;
			case FS_K_FIX: fs_parse_fix(s, l, &i); break;
			case FS_K_TS: fs_parse_time(s, l, &i); break;
			case FS_K_F64:
				fs_parse_f64(s, l, &x);
				memcpy(&i, &x, 8);
				break;
			default:
				if (l > 8) {
					free(vals);
					return bad(d, d->lines[r], "'%.*s' in "
						   "column '%s': text over 8 "
						   "bytes", (int)l, s,
						   d->fields[f]);
				}
				memcpy(v, s, l);
				continue;
			}
			*v = (uint64_t)i;
		}
	}
	t->mask = 1023;
	while (t->mask / 2 < d->n)
		t->mask = t->mask * 2 + 1;
	t->stride = sizeof(struct jslot) + 8 * (size_t)d->nf;
	t->idxsz = (t->mask + 1) * t->stride;
	/* huge pages where allowed: lookups hit them at random */
	t->idx = fs_big_alloc(t->idxsz);
	for (size_t r = 0; r < d->n; r++) {
		size_t i = jkey_hash(d->keys[r]) & t->mask;
		struct jslot *s;

		for (;;) {
			s = (struct jslot *)((char *)t->idx + i * t->stride);
			if (!s->row || (s->k.a == d->keys[r].a &&
					s->k.b == d->keys[r].b))
				break;
			i = (i + 1) & t->mask;
		}
		if (s->row)
			t->ndup++;	/* the last row wins */
		s->k = d->keys[r];
		s->row = r + 1;
		memcpy(s->v, &vals[r * d->nf], 8 * (size_t)d->nf);
	}
	free(vals);
	return 0;
}

int jtable_load(struct jtable *t, const char *src, const char *on,
		const struct jon *o, const char *const *fields, unsigned nf,
		char *why, size_t whyn, int *io)
{
	static struct ld d;
	int rc;

	memset(&d, 0, sizeof(d));
	memset(t, 0, sizeof(*t));
	d.on = on;
	d.o = o;
	d.fields = fields;
	d.nf = nf;
	d.why = why;
	d.whyn = whyn;
	why[0] = '\0';
	*io = 0;
	if (strncmp(src, "sqlite:", 7) == 0)
		rc = load_sqlite(&d, src, io);
	else
		rc = load_csv(&d, src, io);
	if (rc == 0)
		rc = build(&d, t);
	free(d.keys);
	free(d.lines);
	free(d.cell);
	free(d.txt);
	if (rc < 0) {
		jtable_free(t);
		return -1;
	}
	t->src = fs_xstrdup(src);
	return 0;
}

void jtable_free(struct jtable *t)
{
	for (unsigned f = 0; f < t->ncols; f++)
		free(t->names[f]);
	fs_big_free(t->idx, t->idxsz);
	free(t->src);
	memset(t, 0, sizeof(*t));
}
