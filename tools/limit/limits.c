/*
 * limits.c - fs-limit's limits table: rows of (account, symbol) and
 * limit columns from a CSV file or an SQLite table (fs-limit(1)
 * LIMITS), checked whole before use, looked up by binary search.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "limit.h"

const char *const lim_col_names[NCOLS] = {
	"max_qty", "max_notional", "price_band", "max_gross", "max_net",
	"max_exposure", "max_rate",
};

/* Whether a column holds money or a fraction (fixed 8) or a count. */
static int col_is_fix(int c)
{
	return c == C_MAX_NOTIONAL || c == C_PRICE_BAND ||
	       c == C_MAX_EXPOSURE;
}

/* A load in progress: column map of the header, rows so far. */
struct ld {
	struct limits *l;
	size_t cap;
	int ncol;
	int map[64];		/* input column -> -1 account, -2 symbol,
				   or C_* */
	const char *unit;	/* "line" or "row" */
	char *why;
	size_t whyn;
};

static int bad(struct ld *d, long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Set why to "UNIT LINE: MSG"; returns -1. */
static int bad(struct ld *d, long line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fs_why_at(d->why, d->whyn, d->unit, (uint64_t)line, fmt, ap);
	va_end(ap);
	return -1;
}

/* The header: names of the columns; -1 on an unknown or missing one. */
static int header(struct ld *d, long line, int nf, const char **f,
		  const size_t *fl)
{
	int seen_a = 0, seen_s = 0;

	if (nf > (int)(sizeof(d->map) / sizeof(d->map[0])))
		return bad(d, line, "%d columns, at most 64", nf);
	d->ncol = nf;
	for (int i = 0; i < nf; i++) {
		int c = -3;

		if (fl[i] == 7 && memcmp(f[i], "account", 7) == 0)
			c = -1, seen_a++;
		else if (fl[i] == 6 && memcmp(f[i], "symbol", 6) == 0)
			c = -2, seen_s++;
		for (int k = 0; k < NCOLS && c == -3; k++)
			if (strlen(lim_col_names[k]) == fl[i] &&
			    memcmp(f[i], lim_col_names[k], fl[i]) == 0)
				c = k;
		if (c == -3)
			return bad(d, line, "unknown column '%.*s' (want "
				   "account, symbol, max_qty, max_notional, "
				   "price_band, max_gross, max_net, "
				   "max_exposure, max_rate)", (int)fl[i],
				   f[i]);
		for (int j = 0; j < i; j++)
			if (d->map[j] == c)
				return bad(d, line, "column '%.*s' twice",
					   (int)fl[i], f[i]);
		d->map[i] = c;
	}
	if (!seen_a || !seen_s)
		return bad(d, line, "no '%s' column",
			   seen_a ? "symbol" : "account");
	return 0;
}

/* One data row into the table; -1 with why on a bad value. */
static int row(struct ld *d, long line, int nf, const char **f,
	       const size_t *fl)
{
	struct lim_row r = { .line = line };

	if (nf != d->ncol)
		return bad(d, line, "%d fields, the header has %d", nf,
			   d->ncol);
	for (int i = 0; i < nf; i++) {
		int c = d->map[i];
		int64_t v;

		if (c == -1) {
			if (fl[i] == 1 && f[i][0] == '*')
				r.acct_any = 1;
			else if (fl[i] == 0)
				return bad(d, line, "empty account");
			else
				r.acct = fs_id(f[i], fl[i]);
			continue;
		}
		if (c == -2) {
			if (fl[i] == 1 && f[i][0] == '*')
				r.sym_any = 1;
			else if (fl[i] == 0 || fl[i] > sizeof(r.sym))
				return bad(d, line, "symbol '%.*s' not 1 to "
					   "12 bytes", (int)fl[i], f[i]);
			else
				memcpy(r.sym, f[i], fl[i]);
			continue;
		}
		if (fl[i] == 0)
			continue;	/* no limit from this row */
		if (col_is_fix(c) ? fs_parse_fix(f[i], fl[i], &v) :
		    fs_parse_i64(f[i], fl[i], INT64_MIN, INT64_MAX, &v))
			return bad(d, line, "bad number '%.*s' in column "
				   "'%s'", (int)fl[i], f[i],
				   lim_col_names[c]);
		if (v < 0)
			return bad(d, line, "negative limit '%.*s' in column "
				   "'%s'", (int)fl[i], f[i],
				   lim_col_names[c]);
		r.has[c] = 1;
		r.v[c] = v;
	}
	for (int c = NSYMCOLS; c < NCOLS; c++)
		if (r.has[c] && !r.sym_any)
			return bad(d, line, "'%s' is an account's limit: give "
				   "it on a row with symbol '*'",
				   lim_col_names[c]);
	if (d->l->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->l->rows = fs_xrealloc(d->l->rows,
					 d->cap * sizeof(*d->l->rows));
	}
	d->l->rows[d->l->n++] = r;
	return 0;
}

/* Order of rows: wildcards last, then account, then symbol. */
static int row_key_cmp(const struct lim_row *a, const struct lim_row *b)
{
	if (a->acct_any != b->acct_any)
		return a->acct_any - b->acct_any;
	if (a->acct != b->acct)
		return a->acct < b->acct ? -1 : 1;
	if (a->sym_any != b->sym_any)
		return a->sym_any - b->sym_any;
	return memcmp(a->sym, b->sym, sizeof(a->sym));
}

static int row_cmp(const void *x, const void *y)
{
	const struct lim_row *a = x, *b = y;
	int c = row_key_cmp(a, b);

	return c ? c : (a->line > b->line) - (a->line < b->line);
}

/* Sort, and refuse a second row for one account and symbol. */
static int finish(struct ld *d)
{
	struct limits *l = d->l;

	qsort(l->rows, l->n, sizeof(*l->rows), row_cmp);
	for (size_t i = 1; i < l->n; i++)
		if (row_key_cmp(&l->rows[i - 1], &l->rows[i]) == 0)
			return bad(d, l->rows[i].line, "duplicate row for "
				   "account and symbol of %s %ld", d->unit,
				   l->rows[i - 1].line);
	return 0;
}

/* Split a CSV line at commas (no quoting); returns the field count. */
static int split(const char *s, size_t n, const char **f, size_t *fl,
		 int max)
{
	int nf = 0;
	size_t a = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != ',')
			continue;
		if (nf < max) {
			fl[nf] = i - a;
			f[nf] = fs_trim_cell(s + a, &fl[nf]);
		}
		nf++;
		a = i + 1;
	}
	return nf;
}

static int load_csv(struct ld *d, const char *path, int *io)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	long line = 0;
	int got_header = 0, rc = 0;

	if (!fp) {
		*io = 1;
		snprintf(d->why, d->whyn, "%s", strerror(errno));
		return -1;
	}
	d->unit = "line";
	while (rc == 0 && (len = getline(&buf, &cap, fp)) >= 0) {
		const char *f[65];
		size_t fl[65], n = (size_t)len;
		const char *s = fs_trim_cell(buf, &n);
		int nf;

		line++;
		if (n && s[n - 1] == '\n')
			n--;
		s = fs_trim_cell(s, &n);
		if (n == 0 || s[0] == '#')
			continue;
		if (memchr(s, '"', n)) {
			rc = bad(d, line, "quoted fields are not supported");
			break;
		}
		nf = split(s, n, f, fl, 65);
		if (nf > 64)
			rc = bad(d, line, "more than 64 fields");
		else if (!got_header++)
			rc = header(d, line, nf, f, fl);
		else
			rc = row(d, line, nf, f, fl);
	}
	if (rc == 0 && ferror(fp)) {
		*io = 1;
		rc = -1;
		snprintf(d->why, d->whyn, "%s", strerror(errno));
	}
	if (rc == 0 && !got_header)
		rc = bad(d, line, "no header row");
	free(buf);
	fclose(fp);
	return rc;
}

/* "sqlite:FILE?table=T": every row of table T. */
/* fs_sqlite_table's row(): the header, then rows, trimmed like CSV. */
static int sql_row(void *arg, uint64_t line, unsigned nc,
		   const char *const *f, const size_t *fl)
{
	struct ld *d = arg;
	const char *g[64];
	size_t gl[64];

	for (unsigned i = 0; i < nc; i++) {	/* nc <= 64: maxcols */
		gl[i] = fl[i];
		g[i] = line ? fs_trim_cell(f[i], &gl[i]) : f[i];
	}
	return line ? row(d, (long)line, (int)nc, g, gl) :
		      header(d, 0, (int)nc, g, gl);
}

static int load_sqlite(struct ld *d, const char *uri, int *io)
{
	d->unit = "row";
	return fs_sqlite_table(uri, 64, sql_row, d, d->why, d->whyn, io);
}

int limits_load(struct limits *l, const char *src, char *why, size_t n,
		int *io)
{
	struct ld d = { .l = l, .why = why, .whyn = n };
	int rc;

	memset(l, 0, sizeof(*l));
	why[0] = '\0';
	*io = 0;
	if (strncmp(src, "sqlite:", 7) == 0)
		rc = load_sqlite(&d, src, io);
	else
		rc = load_csv(&d, src, io);
	if (rc == 0)
		rc = finish(&d);
	if (rc < 0) {
		limits_free(l);
		return -1;
	}
	l->src = fs_xstrdup(src);
	return 0;
}

void limits_free(struct limits *l)
{
	free(l->rows);
	free(l->src);
	memset(l, 0, sizeof(*l));
}

/* The row of exactly this account and symbol (wildcards as given). */
static const struct lim_row *find(const struct limits *l, int acct_any,
				  uint64_t acct, int sym_any,
				  const char sym[12])
{
	struct lim_row k = { .acct = acct_any ? 0 : acct,
			     .acct_any = (uint8_t)acct_any,
			     .sym_any = (uint8_t)sym_any };
	size_t lo = 0, hi = l->n;

	if (!sym_any)
		memcpy(k.sym, sym, sizeof(k.sym));
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = row_key_cmp(&l->rows[mid], &k);

		if (c == 0)
			return &l->rows[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void limits_resolve(const struct limits *l, uint64_t acct,
		    const char sym[12], int64_t v[NCOLS])
{
	const struct lim_row *r[4] = {
		find(l, 0, acct, 0, sym), find(l, 0, acct, 1, sym),
		find(l, 1, acct, 0, sym), find(l, 1, acct, 1, sym),
	};

	for (int c = 0; c < NCOLS; c++) {
		v[c] = LIM_NONE;
		for (int i = 0; i < 4; i++)
			if (r[i] && r[i]->has[c]) {
				v[c] = r[i]->v[c];
				break;
			}
	}
}
