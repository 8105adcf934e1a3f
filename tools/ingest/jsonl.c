/*
 * jsonl.c - JSON Lines: one flat JSON object per line, keys naming
 * fields (or --map), values strings, numbers (kept as their exact text,
 * so fixed-point money stays exact), true, false or null (empty).
 *
 * A small scanner, no allocation per line: strings without escapes are
 * used in place, escaped ones are decoded into g->unq.  With -t json the
 * whole line (any JSON object, nested or not) becomes the record body.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

#define JSON_DEPTH 64
#define KEY_CACHE 64
#define WARN_MAX 32

/* A line being scanned. */
struct jp {
	const char *p, *e, *line;
	char *out;		/* room for decoded strings */
	const char *err;	/* what is wrong, at errp */
	const char *errp;
	const char *key;	/* the key of the pair being read */
	size_t keyn;
};

/* Per-file key cache: the key at position i of the last line. */
struct jcache {
	char key[KEY_CACHE][48];
	uint8_t klen[KEY_CACHE];
	int slot[KEY_CACHE];
	char warned[WARN_MAX][48];
	int nwarned;
	uint64_t plan_line;	/* the line that set the feature columns */
};

static int fail(struct jp *j, const char *what)
{
	if (!j->err) {
		j->err = what;
		j->errp = j->p;
	}
	return -1;
}

static void ws(struct jp *j)
{
	while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' ||
			       *j->p == '\r' || *j->p == '\n'))
		j->p++;
}

/* Four hex digits at p (bounds checked by the caller); -1 if not. */
static long hex4(const char *p)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int h = fs_hexval(p[i]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* Append code point cp as UTF-8 at *o. */
static void put_utf8(char **o, long cp)
{
	char *q = *o;

	if (cp < 0x80) {
		*q++ = (char)cp;
	} else if (cp < 0x800) {
		*q++ = (char)(0xc0 | cp >> 6);
		*q++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*q++ = (char)(0xe0 | cp >> 12);
		*q++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*q++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*q++ = (char)(0xf0 | cp >> 18);
		*q++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*q++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*q++ = (char)(0x80 | (cp & 0x3f));
	}
	*o = q;
}

/* Decode a \u escape at j->p (on the 'u'); surrogate pairs joined. */
static int uescape(struct jp *j, char **o)
{
	long cp, lo;

	if (j->e - j->p < 5 || (cp = hex4(j->p + 1)) < 0)
		return fail(j, "bad \\u escape");
	j->p += 5;
	if (cp >= 0xd800 && cp < 0xdc00) {
		if (j->e - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
		    (lo = hex4(j->p + 2)) < 0xdc00 || lo > 0xdfff)
			return fail(j, "unpaired surrogate in \\u escape");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		j->p += 6;
	} else if (cp >= 0xdc00 && cp < 0xe000) {
		return fail(j, "unpaired surrogate in \\u escape");
	}
	put_utf8(o, cp);
	return 0;
}

/* The escaped rest of a string, decoded into j->out. */
static int jstr_slow(struct jp *j, const char *start, const char **s,
		     size_t *n)
{
	char *o = j->out;
	static const char esc_in[] = "\"\\/bfnrt";
	static const char esc_out[] = "\"\\/\b\f\n\r\t";

	memcpy(o, start, (size_t)(j->p - start));
	o += j->p - start;
	while (j->p < j->e && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p;
		const char *k;

		if (c < 0x20)
			return fail(j, "control character in a string");
		if (c != '\\') {
			*o++ = *j->p++;
			continue;
		}
		if (++j->p == j->e)
			break;
		if (*j->p == 'u') {
			if (uescape(j, &o) < 0)
				return -1;
			continue;
		}
		k = strchr(esc_in, *j->p);
		if (!k || !*j->p)
			return fail(j, "bad escape in a string");
		*o++ = esc_out[k - esc_in];
		j->p++;
	}
	if (j->p == j->e) {
		j->p = start - 1;	/* point at the opening quote */
		return fail(j, "unterminated string");
	}
	j->p++;
	*s = j->out;
	*n = (size_t)(o - j->out);
	j->out = o;
	return 0;
}

/* A string at j->p (on the quote): *s, *n its decoded text. */
static int jstr(struct jp *j, const char **s, size_t *n)
{
	const char *start = ++j->p;

	while (j->p < j->e) {
		unsigned char c = (unsigned char)*j->p;

		if (c == '"') {
			*s = start;
			*n = (size_t)(j->p - start);
			j->p++;
			return 0;
		}
		if (c == '\\')
			return jstr_slow(j, start, s, n);
		if (c < 0x20)
			return fail(j, "control character in a string");
		j->p++;
	}
	j->p = start - 1;	/* point at the opening quote */
	return fail(j, "unterminated string");
}

static int digits(struct jp *j)
{
	const char *s = j->p;

	while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s ? 0 : fail(j, "malformed number");
}

/* A number, checked against the JSON grammar; its text in *s, *n. */
static int jnum(struct jp *j, const char **s, size_t *n)
{
	*s = j->p;
	if (*j->p == '-')
		j->p++;
	if (j->p < j->e && *j->p == '0')
		j->p++;
	else if (digits(j) < 0)
		return -1;
	if (j->p < j->e && *j->p == '.') {
		j->p++;
		if (digits(j) < 0)
			return -1;
	}
	if (j->p < j->e && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->e && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (digits(j) < 0)
			return -1;
	}
	*n = (size_t)(j->p - *s);
	return 0;
}

/* The literal w at j->p. */
static int jlit(struct jp *j, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(j->e - j->p) < n || memcmp(j->p, w, n))
		return fail(j, "unexpected text");
	j->p += n;
	return 0;
}

static int jskip(struct jp *j, int depth);

/* Skip an object or array at j->p, checking its syntax. */
static int jskip_nested(struct jp *j, int depth)
{
	char close = *j->p == '{' ? '}' : ']';
	const char *s;
	size_t n;

	if (depth >= JSON_DEPTH)
		return fail(j, "nested too deeply");
	j->p++;
	ws(j);
	if (j->p < j->e && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			if (j->p == j->e || *j->p != '"')
				return fail(j, "expected a key string");
			if (jstr(j, &s, &n) < 0)
				return -1;
			ws(j);
			if (j->p == j->e || *j->p++ != ':')
				return fail(j, "expected ':' after a key");
		}
		if (jskip(j, depth + 1) < 0)
			return -1;
		ws(j);
		if (j->p < j->e && *j->p == ',') {
			j->p++;
			ws(j);
			continue;
		}
		if (j->p < j->e && *j->p == close) {
			j->p++;
			return 0;
		}
		return fail(j, close == '}' ? "expected ',' or '}'" :
			    "expected ',' or ']'");
	}
}

/*
 * A value at j->p.  Scalars give their text in *s, *n (null: empty);
 * *nested is set for an object or array (skipped).
 */
static int jvalue(struct jp *j, const char **s, size_t *n, int *nested,
		  int depth)
{
	*nested = 0;
	*n = 0;
	*s = j->p;
	if (j->p == j->e)
		return fail(j, "expected a value");
	switch (*j->p) {
	case '"':
		return jstr(j, s, n);
	case '{': case '[':
		*nested = 1;
		return jskip_nested(j, depth);
	case 't':
		*n = 4;
		return jlit(j, "true");
	case 'f':
		*n = 5;
		return jlit(j, "false");
	case 'n':
		return jlit(j, "null");
	}
	if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
		return jnum(j, s, n);
	return fail(j, "expected a value");
}

static int jskip(struct jp *j, int depth)
{
	const char *s;
	size_t n;
	int nested;

	ws(j);
	return jvalue(j, &s, &n, &nested, depth);
}

/* The slot for the key at position i, through the per-position cache. */
static int key_slot(struct ing *g, unsigned i, const char *k, size_t n)
{
	struct jcache *c = g->jtab;
	int s;

	if (i < KEY_CACHE && c->klen[i] == n && n < sizeof(c->key[0]) &&
	    !memcmp(c->key[i], k, n))
		return c->slot[i];
	s = ing_slot_for(g, k, n);
	if (i < KEY_CACHE && n < sizeof(c->key[0])) {
		memcpy(c->key[i], k, n);
		c->klen[i] = (uint8_t)n;
		c->slot[i] = s;
	}
	return s;
}

/* Warn once per unknown key name (fixed types). */
static void warn_key(struct ing *g, const char *k, size_t n)
{
	struct jcache *c = g->jtab;
	char v[128];

	if (g->quiet || n >= sizeof(c->warned[0]))
		return;
	for (int i = 0; i < c->nwarned; i++)
		if (!strncmp(c->warned[i], k, n) && !c->warned[i][n])
			return;
	if (c->nwarned == WARN_MAX)
		return;
	memcpy(c->warned[c->nwarned], k, n);
	c->warned[c->nwarned++][n] = 0;
	ing_show(v, sizeof(v), k, n);
	fs_warn("%s:%llu: ignoring unknown key '%s' for type %s", g->name,
		(unsigned long long)g->line, v, g->type->name);
}

/*
 * The "type" key fs-cat writes: the line must be of the type asked.
 * Returns 0, or -2 with g->why set.
 */
static int type_key(struct ing *g, const char *v, size_t n)
{
	char show[64];

	if (strlen(g->type->name) == n && !memcmp(g->type->name, v, n))
		return 0;
	ing_show(show, sizeof(show), v, n);
	snprintf(g->why, sizeof(g->why), "a record of type '%s', not %s",
		 show, g->type->name);
	return -2;
}

/* One key/value pair of a flat object; -1 bad (j->err or g->why). */
static int pair(struct ing *g, struct jp *j, unsigned i)
{
	const char *k, *v;
	size_t kn, vn;
	int nested, s;
	char lit;

	if (j->p == j->e || *j->p != '"')
		return fail(j, "expected a key string");
	if (jstr(j, &k, &kn) < 0)
		return -1;
	ws(j);
	if (j->p == j->e || *j->p++ != ':')
		return fail(j, "expected ':' after a key");
	ws(j);
	lit = j->p < j->e ? *j->p : 0;
	if (jvalue(j, &v, &vn, &nested, 1) < 0)
		return -1;
	s = key_slot(g, i, k, kn);
	j->key = k;
	j->keyn = kn;
	if (s < 0 && !g->json && kn == 4 && !memcmp(k, "type", 4))
		return type_key(g, v, vn);
	if (s < 0) {
		if (!g->features && !g->json) {
			warn_key(g, k, kn);
			return 0;
		}
		if (g->json)
			return 0;
		snprintf(g->why, sizeof(g->why), "not a column of the "
			 "schema set by line %llu",
			 (unsigned long long)((struct jcache *)g->jtab)
			 ->plan_line);
		return -2;
	}
	if (nested) {
		snprintf(g->why, sizeof(g->why), "a nested value where a "
			 "scalar is expected");
		return -2;
	}
	if (lit == 't' || lit == 'f') {
		v = lit == 't' ? "1" : "0";	/* true, false */
		vn = 1;
	}
	return ing_set(g, (unsigned)s, v, vn) < 0 ? -2 : 0;
}

/* Report a bad line: a syntax error (j) or a field error (g->why). */
static int bad_line(struct ing *g, struct jp *j, int k)
{
	char kv[128];
	size_t n = (size_t)(j->e - j->line);

	if (k == -1)
		return ing_bad_row(g, j->line, n, "%s:%llu: byte %zu: %s",
				   g->name, (unsigned long long)g->line,
				   (size_t)(j->errp - j->line) + 1, j->err);
	if (k != -2)
		return ing_bad_row(g, j->line, n, "%s:%llu: %s", g->name,
				   (unsigned long long)g->line, g->why);
	ing_show(kv, sizeof(kv), j->key, j->keyn);
	return ing_bad_row(g, j->line, n, "%s:%llu: key '%s': %s", g->name,
			   (unsigned long long)g->line, kv, g->why);
}

/*
 * Collect the keys of the first object as the column names of a
 * features plan.  Returns 0 or -1 (fatal, g->err), 1 for a bad line.
 */
static int plan_keys(struct ing *g, struct jp j0)
{
	const char **names = g->cs;
	uint32_t *lens = g->cn;
	struct jp j = j0;
	unsigned nk = 0;

	j.p++;
	ws(&j);
	while (j.p < j.e && *j.p == '"') {
		const char *k, *v;
		size_t kn, vn;
		int nested;

		if (jstr(&j, &k, &kn) < 0)
			return 1;
		ws(&j);
		if (j.p == j.e || *j.p++ != ':')
			return 1;
		ws(&j);
		if (jvalue(&j, &v, &vn, &nested, 1) < 0)
			return 1;
		if (kn == 4 && !memcmp(k, "type", 4))
			goto next;	/* fs-cat's type key */
		if (nk == ING_MAXCOLS)
			return ing_fatal(g, "%s:%llu: more than %d keys",
					 g->name, (unsigned long long)g->line,
					 ING_MAXCOLS);
		names[nk] = k;
		lens[nk++] = (uint32_t)kn;
next:
		ws(&j);
		if (j.p < j.e && *j.p == ',') {
			j.p++;
			ws(&j);
		}
	}
	((struct jcache *)g->jtab)->plan_line = g->line;
	if (ing_plan(g, nk, names, lens) < 0)
		return -1;
	memset(g->jtab, 0, offsetof(struct jcache, warned));
	return 0;
}

/* Scan the flat object of one line into the record; see pair(). */
static int object(struct ing *g, struct jp *j)
{
	unsigned i = 0;
	int k;

	j->p++;
	ws(j);
	if (j->p < j->e && *j->p == '}') {
		j->p++;
		return 0;
	}
	for (;; i++) {
		k = pair(g, j, i);
		if (k < 0)
			return k;
		ws(j);
		if (j->p < j->e && *j->p == ',') {
			j->p++;
			ws(j);
			continue;
		}
		if (j->p < j->e && *j->p == '}') {
			j->p++;
			return 0;
		}
		return fail(j, "expected ',' or '}'");
	}
}

/* Convert one non-blank line; bad lines go to ing_bad_row. */
static int line(struct ing *g, const char *s, const char *e)
{
	struct jp j = { s, e, s, NULL, NULL, NULL, NULL, 0 };
	int k;

	g->rows++;
	g->unq_len = 0;
	j.out = ing_unq_room(g, (size_t)(e - s) + 1);
	ws(&j);
	if (j.p == j.e || *j.p != '{') {
		fail(&j, "not a JSON object");
		return bad_line(g, &j, -1);
	}
	if (g->features && !g->ncols) {
		k = plan_keys(g, j);
		if (k < 0)
			return -1;
	}
	ing_rec_begin(g);
	k = object(g, &j);
	if (k == 0) {
		ws(&j);
		if (j.p != j.e)
			k = fail(&j, "text after the object");
	}
	if (k < 0)
		return bad_line(g, &j, k);
	if (g->json)
		k = ing_rec_end_text(g, s, (size_t)(e - s));
	else
		k = ing_rec_end(g);
	return k < 0 ? bad_line(g, &j, -3) : 0;
}

/* Forget the per-file key cache and plan (a new file starts). */
void ing_jsonl_reset(struct ing *g)
{
	if (!g->jtab)
		g->jtab = fs_xcalloc(1, sizeof(struct jcache));
	memset(g->jtab, 0, sizeof(struct jcache));
	g->ncols = 0;
	if (!g->features)
		ing_plan_fields(g);
}

/*
 * Parse the complete lines in p[0..n) (all of it when eof).  Returns the
 * bytes consumed, or -1 on a fatal error (g->err).
 */
ssize_t ing_jsonl_parse(struct ing *g, char *p, size_t n, int eof)
{
	char *s = p, *e = p + n, *ls, *le;

	if (!g->started) {
		if (n < 3 && !eof)
			return 0;
		if (n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
			s += 3;
		g->started = 1;
	}
	while (ing_next_line(g, &s, e, eof, &ls, &le)) {
		const char *b = ls;

		while (b < le && (*b == ' ' || *b == '\t'))
			b++;
		if (b < le && line(g, ls, le) < 0)
			return -1;
	}
	return s - p;
}
