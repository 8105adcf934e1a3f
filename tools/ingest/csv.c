/*
 * csv.c - RFC 4180 CSV (and TSV) rows into cells: quoted fields with ""
 * escapes, delimiters and newlines inside quotes, CRLF, a UTF-8 BOM.
 *
 * Rows without a quote take a fast path: one SSE2 pass finds the
 * delimiters and the line end 16 bytes at a time, cells point into the
 * input buffer.  Quoted rows are unescaped into g->unq.  Nothing is
 * allocated per row.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

/* How a row split ended. */
enum { ROW_MORE = 0, ROW_OK = 1, ROW_BAD = 2 };

/* A row in the buffer: [s, end) raw, next row at next. */
struct row {
	char *s, *end, *next;
	unsigned ncells;
	uint64_t nl;		/* newlines inside the row (quoted) */
	uint64_t qline;		/* line of an unterminated quote */
	unsigned bad_cell;	/* cell of a malformed quote, 1-based */
	const char *bad_what;
};

/* Store a cell unless there are already more than the header has. */
static inline void put_cell(struct ing *g, unsigned *nc, const char *s,
			    size_t n)
{
	if (*nc < ING_MAXCOLS) {
		g->cs[*nc] = s;
		g->cn[*nc] = (uint32_t)n;
	}
	(*nc)++;
}

#ifdef __SSE2__
#include <emmintrin.h>

/*
 * Split the row at s into cells, 16 bytes at a time: each delimiter
 * ends a cell, '\n' (or e) ends the row.  Returns the row end ('\n' or
 * e), or NULL when a quote comes first (g->quoting): the slow path then
 * takes the row.  Reads up to 15 bytes past e (the buffer has slack).
 */
static char *scan_row(struct ing *g, char *s, char *e, unsigned *ncells)
{
	const __m128i vd = _mm_set1_epi8(g->delim);
	const __m128i vn = _mm_set1_epi8('\n');
	const __m128i vq = _mm_set1_epi8(g->quoting ? '"' : '\n');
	char *cell = s, *b;
	unsigned nc = 0;

	for (b = s; b < e; b += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(void *)b);
		unsigned md = (unsigned)_mm_movemask_epi8(
			_mm_cmpeq_epi8(v, vd));
		unsigned ms = (unsigned)_mm_movemask_epi8(_mm_or_si128(
			_mm_cmpeq_epi8(v, vn), _mm_cmpeq_epi8(v, vq)));

		if (e - b < 16) {
			unsigned live = (1u << (e - b)) - 1;

			md &= live;
			ms &= live;
		}
		if (ms)
			md &= (1u << __builtin_ctz(ms)) - 1;
		while (md) {
			char *p = b + __builtin_ctz(md);

			put_cell(g, &nc, cell, (size_t)(p - cell));
			cell = p + 1;
			md &= md - 1;
		}
		if (ms) {
			char *p = b + __builtin_ctz(ms);

			if (*p != '\n')
				return NULL;	/* a quote */
			put_cell(g, &nc, cell, (size_t)(p - cell));
			*ncells = nc;
			return p;
		}
	}
	put_cell(g, &nc, cell, (size_t)(e - cell));
	*ncells = nc;
	return e;
}

#else
/* As above, a byte at a time. */
static char *scan_row(struct ing *g, char *s, char *e, unsigned *ncells)
{
	char *cell = s;
	unsigned nc = 0;

	for (char *p = s; p < e; p++) {
		if (*p == '\n') {
			put_cell(g, &nc, cell, (size_t)(p - cell));
			*ncells = nc;
			return p;
		}
		if (*p == '"' && g->quoting)
			return NULL;
		if (*p == g->delim) {
			put_cell(g, &nc, cell, (size_t)(p - cell));
			cell = p + 1;
		}
	}
	put_cell(g, &nc, cell, (size_t)(e - cell));
	*ncells = nc;
	return e;
}
#endif

/* Count '\n' in [s, e). */
static uint64_t count_nl(const char *s, const char *e)
{
	uint64_t n = 0;

	while ((s = memchr(s, '\n', (size_t)(e - s)))) {
		n++;
		s++;
	}
	return n;
}

/*
 * A quoted cell starting at *pq (on the opening quote): unescape into
 * out.  Returns ROW_OK with *pq after the closing quote, ROW_MORE when
 * the buffer ends first (and !eof), ROW_BAD when input ends first.
 */
static int quoted_cell(struct row *r, char **pq, char *e, int eof,
		       char *out, size_t *olen)
{
	char *q = *pq + 1, *c;
	size_t o = 0;

	for (;;) {
		c = memchr(q, '"', (size_t)(e - q));
		if (!c)
			return eof ? ROW_BAD : ROW_MORE;
		memcpy(out + o, q, (size_t)(c - q));
		o += (size_t)(c - q);
		r->nl += count_nl(q, c);
		if (c + 1 == e && !eof)
			return ROW_MORE;
		if (c + 1 < e && c[1] == '"') {
			out[o++] = '"';
			q = c + 2;
			continue;
		}
		*pq = c + 1;
		*olen = o;
		return ROW_OK;
	}
}

/* Skip a malformed row to its line end; ROW_MORE if not in the buffer. */
static int bad_to_eol(struct row *r, char *q, char *e, int eof,
		      const char *what, unsigned cell)
{
	char *nl = memchr(q, '\n', (size_t)(e - q));

	if (!nl && !eof)
		return ROW_MORE;
	r->end = nl ? nl : e;
	if (r->end > r->s && r->end[-1] == '\r')
		r->end--;
	r->next = nl ? nl + 1 : e;
	r->bad_what = what;
	r->bad_cell = cell;
	return ROW_BAD;
}

/* After a cell ending at q: 1 more cells, 0 row end, -1 bad, -2 more. */
static int after_cell(struct ing *g, struct row *r, char *q, char *e,
		      int eof)
{
	if (q == e)
		return eof ? (r->end = q, r->next = q, 0) : -2;
	if (*q == g->delim)
		return 1;
	if (*q == '\n') {
		r->end = q;
		r->next = q + 1;
		return 0;
	}
	if (*q == '\r') {
		if (q + 1 == e && !eof)
			return -2;
		if (q + 1 == e || q[1] == '\n') {
			r->end = q;
			r->next = q + (q + 1 < e ? 2 : 1);
			return 0;
		}
	}
	return -1;
}

/* The end of an unquoted cell at q: the next delimiter or '\n', or e. */
static char *plain_end(const struct ing *g, char *q, char *e)
{
	while (q < e && *q != g->delim && *q != '\n')
		q++;
	return q;
}

/*
 * Split a row that has quotes, starting at r->s.  Returns ROW_OK,
 * ROW_MORE (row not complete in the buffer) or ROW_BAD (r->bad_what).
 */
static int split_quoted(struct ing *g, struct row *r, char *e, int eof)
{
	char *q = r->s, *out;
	unsigned nc = 0;
	size_t olen;
	int k;

	g->unq_len = 0;
	out = ing_unq_room(g, (size_t)(e - r->s));
	for (;;) {
		char *c = q;

		if (q < e && *q == '"') {
			uint64_t line = g->line + 1 + r->nl;

			k = quoted_cell(r, &q, e, eof, out, &olen);
			if (k == ROW_MORE)
				return ROW_MORE;
			if (k == ROW_BAD) {
				r->qline = line;
				r->end = r->next = e;
				r->bad_cell = nc + 1;
				r->bad_what = "unterminated quoted field";
				return ROW_BAD;
			}
			put_cell(g, &nc, out, olen);
			out += olen;
		} else {
			q = plain_end(g, q, e);
			if (q == e && !eof)
				return ROW_MORE;
			put_cell(g, &nc, c, (size_t)(q - c) -
				 (q > c && q < e && *q == '\n' &&
				  q[-1] == '\r'));
		}
		k = after_cell(g, r, q, e, eof);
		if (k == -2)
			return ROW_MORE;
		if (k < 0)
			return bad_to_eol(r, q, e, eof, "unexpected text "
					  "after a closing quote", nc);
		if (k == 0)
			break;
		q++;
	}
	if (r->end > r->s && r->end[-1] == '\r')
		r->end--;
	r->ncells = nc;
	return ROW_OK;
}

/* Split the row at s.  Returns ROW_OK, ROW_MORE or ROW_BAD. */
static int split_row(struct ing *g, struct row *r, char *s, char *e,
		     int eof)
{
	char *nl;
	unsigned nc = 0;

	memset(r, 0, sizeof(*r));
	r->s = s;
	nl = scan_row(g, s, e, &nc);
	if (!nl)
		return split_quoted(g, r, e, eof);
	if (nl == e && !eof)
		return ROW_MORE;
	r->end = nl;
	r->next = nl < e ? nl + 1 : e;
	r->ncells = nc;
	if (nl > s && nl[-1] == '\r') {
		r->end--;
		if (nc <= ING_MAXCOLS)
			g->cn[nc - 1]--;
	}
	return ROW_OK;
}

/* The header row: check it is text, build the plan. */
static int header(struct ing *g, const struct row *r)
{
	size_t n = (size_t)(r->end - r->s);

	for (const char *p = r->s; p < r->end; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
		    c == 0x7f)
			return ing_fatal(g, "%s:%llu: not a CSV header: "
					 "binary data (byte 0x%02x at column "
					 "%zu)", g->name,
					 (unsigned long long)g->line, c,
					 (size_t)(p - r->s) + 1);
	}
	if (r->ncells == 1 && !g->cn[0])
		return ing_fatal(g, "%s:%llu: empty header line", g->name,
				 (unsigned long long)g->line);
	free(g->hdr_raw);
	g->hdr_raw = fs_xmalloc(n + 1);
	memcpy(g->hdr_raw, r->s, n);
	g->hdr_len = n;
	return ing_plan(g, r->ncells, g->cs, g->cn);
}

/* Columns named after the type's fields, in table order (--no-header). */
static int plan_from_type(struct ing *g)
{
	const char *names[256];
	uint32_t lens[256];
	unsigned n = 0;

	for (unsigned i = 0; i < g->type->nfields && n < 256; i++) {
		const struct fs_field *f = &g->type->fields[i];

		if (f->kind == FS_K_TEXT || f->kind == FS_K_EXPLAIN)
			continue;
		names[n] = f->name;
		lens[n++] = (uint32_t)strlen(f->name);
	}
	return ing_plan(g, n, names, lens);
}

/* Report a row that did not split. */
static int bad_split(struct ing *g, const struct row *r, uint64_t line)
{
	const char *name = r->bad_cell && r->bad_cell <= g->ncols ?
		g->colname[r->bad_cell - 1] : "";

	if (r->qline)
		return ing_bad_row(g, r->s, (size_t)(r->end - r->s),
				   "%s:%llu: column %u%s%s%s: %s (the quote "
				   "opened on line %llu is never closed)",
				   g->name, (unsigned long long)line,
				   r->bad_cell, *name ? " '" : "", name,
				   *name ? "'" : "", r->bad_what,
				   (unsigned long long)r->qline);
	return ing_bad_row(g, r->s, (size_t)(r->end - r->s),
			   "%s:%llu: column %u%s%s%s: %s", g->name,
			   (unsigned long long)line, r->bad_cell,
			   *name ? " '" : "", name, *name ? "'" : "",
			   r->bad_what);
}

/* Convert and write one data row; bad rows go to ing_bad_row. */
static int data_row(struct ing *g, const struct row *r, uint64_t line)
{
	size_t rawlen = (size_t)(r->end - r->s);
	unsigned c;

	if (r->ncells != g->ncols) {
		if (r->ncells == 1 && !g->cn[0] && g->ncols > 1)
			return 0;	/* a blank line */
		g->rows++;
		return ing_bad_row(g, r->s, rawlen, "%s:%llu: expected %u "
				   "cells, found %u", g->name,
				   (unsigned long long)line, g->ncols,
				   r->ncells);
	}
	g->rows++;
	c = ing_csv_row(g);
	if (c == ING_ROW_MISSING)
		return ing_bad_row(g, r->s, rawlen, "%s:%llu: %s", g->name,
				   (unsigned long long)line, g->why);
	if (c)
		return ing_bad_row(g, r->s, rawlen, "%s:%llu: column %u '%s': "
				   "%s", g->name, (unsigned long long)line, c,
				   g->colname[c - 1], g->why);
	return 0;
}

/* Skip a UTF-8 BOM at the start of a file; 0 when more input needed. */
static int skip_bom(struct ing *g, char **s, char *e, int eof)
{
	if (e - *s < 3 && !eof)
		return 0;
	if (e - *s >= 3 && !memcmp(*s, "\xef\xbb\xbf", 3))
		*s += 3;
	g->started = 1;
	return 1;
}

/*
 * Parse the complete rows in p[0..n) (all of it when eof).  Returns the
 * bytes consumed, or -1 on a fatal error (g->err).
 */
ssize_t ing_csv_parse(struct ing *g, char *p, size_t n, int eof)
{
	char *s = p, *e = p + n;
	struct row r;
	int k;

	if (!g->started) {
		if (!skip_bom(g, &s, e, eof))
			return 0;
		if (g->no_header && plan_from_type(g) < 0)
			return -1;
	}
	while (s < e) {
		uint64_t line = g->line + 1;

		k = split_row(g, &r, s, e, eof);
		if (k == ROW_MORE)
			break;
		g->line += 1 + r.nl;
		if (!g->hdr_raw && !g->no_header) {
			if (k == ROW_BAD)
				return ing_fatal(g, "%s:%llu: bad header: %s",
						 g->name,
						 (unsigned long long)line,
						 r.bad_what);
			if (header(g, &r) < 0)
				return -1;
			if (g->hdr_only) {	/* resuming: the rows later */
				s = r.next;
				break;
			}
		} else if (k == ROW_BAD) {
			g->rows++;
			if (bad_split(g, &r, line) < 0)
				return -1;
		} else if (data_row(g, &r, line) < 0) {
			return -1;
		}
		s = r.next;
	}
	return s - p;
}
