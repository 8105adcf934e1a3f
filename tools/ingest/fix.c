/*
 * fix.c - FIX 4.x tag=value messages, one per line (or several on a
 * line, each ending with its 10= checksum), fields separated by SOH
 * (0x01) or '|'.  Execution reports (35=8) become TRADE records, new
 * orders (35=D) ORDER records; other messages are counted and skipped.
 *
 * Tags map to field names; the schema table does the rest.
 */
#include <string.h>

#include "ingest.h"

#define MAXF 256

enum { C_TEXT, C_SIDE, C_QTY, C_ORDTYPE, C_TIME };

struct fixmap {
	int tag;
	const char *field;
	int conv;
	const char *tagname;
};

static const struct fixmap trade_map[] = {
	{ 55, "symbol", C_TEXT, "Symbol" },
	{ 54, "side", C_SIDE, "Side" },
	{ 31, "price", C_TEXT, "LastPx" },
	{ 32, "qty", C_QTY, "LastQty" },
	{ 17, "trade_id", C_TEXT, "ExecID" },
	{ 30, "venue", C_TEXT, "LastMkt" },
	{ 11, "order_id", C_TEXT, "ClOrdID" },
	{ 60, "ts_event", C_TIME, "TransactTime" },
	{ 34, "seq", C_TEXT, "MsgSeqNum" },
	{ 0, NULL, 0, NULL },
};

static const struct fixmap order_map[] = {
	{ 55, "symbol", C_TEXT, "Symbol" },
	{ 54, "side", C_SIDE, "Side" },
	{ 38, "qty", C_QTY, "OrderQty" },
	{ 44, "price", C_TEXT, "Price" },
	{ 40, "ord_type", C_ORDTYPE, "OrdType" },
	{ 11, "order_id", C_TEXT, "ClOrdID" },
	{ 1, "account", C_TEXT, "Account" },
	{ 60, "ts_event", C_TIME, "TransactTime" },
	{ 34, "seq", C_TEXT, "MsgSeqNum" },
	{ 0, NULL, 0, NULL },
};

/* The fields of one message. */
struct msg {
	const char *s, *e;	/* raw message */
	int nf;
	int tag[MAXF];
	const char *v[MAXF];
	size_t n[MAXF];
};

/* The value of tag in m, or NULL. */
static const char *get(const struct msg *m, int tag, size_t *n)
{
	for (int i = 0; i < m->nf; i++)
		if (m->tag[i] == tag) {
			*n = m->n[i];
			return m->v[i];
		}
	return NULL;
}

/* FIX UTCTimestamp "20261124-03:52:25.123" to ISO 8601 in out. */
static size_t fix_time(const char *v, size_t n, char *out)
{
	size_t o = 0;

	if (n < 17 || n > 27 || v[8] != '-' || v[11] != ':' || v[14] != ':')
		return 0;
	memcpy(out, v, 4);
	out[4] = '-';
	memcpy(out + 5, v + 4, 2);
	out[7] = '-';
	memcpy(out + 8, v + 6, 2);
	out[10] = 'T';
	memcpy(out + 11, v + 9, n - 9);
	o = 11 + n - 9;
	out[o++] = 'Z';
	return o;
}

/* Turn a value into the text its field reads; 0 length = refused. */
static size_t conv(int how, const char *v, size_t n, char *buf,
		   const char **out)
{
	*out = buf;
	switch (how) {
	case C_SIDE:
		if (n != 1 || !strchr("123456", *v) || !*v)
			return 0;
		buf[0] = strchr("13", *v) ? 'B' : 'S';
		return 1;
	case C_ORDTYPE:
		if (n != 1 || (*v != '1' && *v != '2'))
			return 0;
		buf[0] = *v == '1' ? 'M' : 'L';
		return 1;
	case C_TIME:
		return fix_time(v, n, buf);
	case C_QTY: {
		const char *dot = memchr(v, '.', n);
		size_t k;

		if (dot) {
			for (k = (size_t)(dot - v) + 1; k < n; k++)
				if (v[k] != '0')
					break;
			if (k == n)
				n = (size_t)(dot - v);
		}
		break;
	}
	}
	*out = v;
	return n;
}

/* Switch the slot plan to type t (TRADE or ORDER). */
static void use_type(struct ing *g, const struct fs_type *t)
{
	if (g->type == t && g->nslots)
		return;
	g->type = t;
	ing_plan_fields(g);
}

/* Report a bad message. */
#define BAD(g, m, ...) ing_bad_row(g, (m)->s, (size_t)((m)->e - (m)->s), \
				   __VA_ARGS__)

/* Set one mapped tag; 0 ok or absent, 1 bad (reported), -1 fatal. */
static int set_tag(struct ing *g, const struct msg *m,
		   const struct fixmap *f, uint64_t line)
{
	char buf[64], v[128];
	const char *val, *out;
	size_t n, k;
	int s = ing_slot_for(g, f->field, strlen(f->field));

	val = get(m, f->tag, &n);
	if (!val && f->tag == 60) {
		val = get(m, 52, &n);	/* SendingTime */
	}
	if (s < 0)
		fs_bug("schema type %s has no field '%s'", g->type->name,
		       f->field);
	if (!val || !n) {
		if (!(g->slots[s].flags & FS_FLD_REQ))
			return 0;
		return BAD(g, m, "%s:%llu: missing tag %d (%s) for %s", g->name,
			   (unsigned long long)line, f->tag, f->tagname,
			   g->type->name) < 0 ? -1 : 1;
	}
	k = conv(f->conv, val, n, buf, &out);
	if (!k) {
		ing_show(v, sizeof(v), val, n);
		return BAD(g, m, "%s:%llu: tag %d (%s): unsupported value "
			   "'%s'", g->name, (unsigned long long)line, f->tag,
			   f->tagname, v) < 0 ? -1 : 1;
	}
	if (ing_set(g, (unsigned)s, out, k) < 0)
		return BAD(g, m, "%s:%llu: tag %d (%s): %s", g->name,
			   (unsigned long long)line, f->tag, f->tagname,
			   g->why) < 0 ? -1 : 1;
	return 0;
}

/* Is this execution report a fill?  (ExecType 150 absent, F, 1 or 2.) */
static int is_fill(const struct msg *m)
{
	size_t n;
	const char *v = get(m, 150, &n);

	return !v || (n == 1 && strchr("F12", *v));
}

/* Convert one parsed message; 0 done, -1 fatal. */
static int message(struct ing *g, const struct msg *m, uint64_t line)
{
	const struct fixmap *map;
	const struct fs_type *t;
	size_t n;
	const char *mt = get(m, 35, &n);
	int k;

	g->rows++;
	if (!mt)
		return BAD(g, m, "%s:%llu: no MsgType (tag 35)", g->name,
			   (unsigned long long)line) < 0 ? -1 : 0;
	if (n == 1 && *mt == '8' && is_fill(m)) {
		t = fs_type_by_id(FS_T_TRADE);
		map = trade_map;
	} else if (n == 1 && *mt == 'D') {
		t = fs_type_by_id(FS_T_ORDER);
		map = order_map;
	} else {
		g->other++;
		return 0;
	}
	if (g->fix_only && g->fix_only != t) {
		g->other++;
		return 0;
	}
	use_type(g, t);
	ing_rec_begin(g);
	for (; map->field; map++)
		if ((k = set_tag(g, m, map, line)) != 0)
			return k < 0 ? -1 : 0;
	if (ing_rec_end(g) < 0)
		return BAD(g, m, "%s:%llu: %s", g->name,
			   (unsigned long long)line, g->why) < 0 ? -1 : 0;
	return 0;
}

/* Check 10=: the byte sum to the separator before it, modulo 256. */
static int checksum_ok(const struct msg *m, const char *at, char sep,
		       const char *v, size_t n, unsigned *sum)
{
	unsigned s = 0, want = 0;

	for (const char *p = m->s; p < at; p++)
		s += (unsigned char)(*p == sep ? 1 : *p);
	*sum = s & 255;
	if (n != 3)
		return 0;
	for (size_t i = 0; i < 3; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		want = want * 10 + (unsigned)(v[i] - '0');
	}
	return want == *sum;
}

/* Parse the tag=value field [p, fe) into m; -1 when malformed. */
static int field(struct msg *m, const char *p, const char *fe)
{
	int tag = 0;
	const char *q = p;

	while (q < fe && *q >= '0' && *q <= '9' && tag < 100000000)
		tag = tag * 10 + (*q++ - '0');
	if (q == p || q == fe || *q != '=')
		return -1;
	if (m->nf < MAXF) {
		m->tag[m->nf] = tag;
		m->v[m->nf] = q + 1;
		m->n[m->nf++] = (size_t)(fe - q - 1);
	}
	return tag;
}

/* Where the next message starts in [s, e): "8=", or NULL. */
static const char *msg_start(const char *s, const char *e)
{
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	if (e - s >= 2 && s[0] == '8' && s[1] == '=')
		return s;
	return memmem(s, (size_t)(e - s), "8=FIX", 5);
}

/*
 * The messages of the line [s, e).  Each ends at its 10= field or the
 * line end.  Returns 0, or -1 on a fatal error.
 */
static int fix_line(struct ing *g, const char *s, const char *e,
		    uint64_t line, struct msg *m)
{
	const char *p = msg_start(s, e);
	char sep;
	char v[128];

	if (!p) {
		g->rows++;
		ing_show(v, sizeof(v), s, (size_t)(e - s));
		return ing_bad_row(g, s, (size_t)(e - s), "%s:%llu: not a FIX "
				   "message (no 8=FIX): '%s'", g->name,
				   (unsigned long long)line, v) < 0 ? -1 : 0;
	}
	sep = memchr(p, '\x01', (size_t)(e - p)) ? '\x01' : '|';
	while (p && p < e) {
		const char *fe, *q = p;
		int tag, bad = 0;
		unsigned sum = 0;

		m->s = p;
		m->nf = 0;
		while (q < e) {
			fe = memchr(q, sep, (size_t)(e - q));
			if (!fe)
				fe = e;
			tag = -1;
			if (fe > q && (tag = field(m, q, fe)) < 0) {
				bad = 1;
				ing_show(v, sizeof(v), q, (size_t)(fe - q));
				m->e = e;
				break;
			}
			if (tag == 10) {
				m->e = fe;
				if (!checksum_ok(m, q, sep, m->v[m->nf - 1],
						 m->n[m->nf - 1], &sum))
					bad = 2;
				q = fe < e ? fe + 1 : e;
				break;
			}
			q = fe < e ? fe + 1 : e;
			m->e = q;
		}
		if (bad == 1) {
			g->rows++;
			return ing_bad_row(g, m->s, (size_t)(m->e - m->s),
					   "%s:%llu: malformed field '%s'",
					   g->name, (unsigned long long)line,
					   v) < 0 ? -1 : 0;
		}
		if (bad == 2) {
			g->rows++;
			if (BAD(g, m, "%s:%llu: checksum mismatch: 10=%.*s, "
				"computed %03u", g->name,
				(unsigned long long)line,
				(int)m->n[m->nf - 1], m->v[m->nf - 1],
				sum) < 0)
				return -1;
		} else if (message(g, m, line) < 0) {
			return -1;
		}
		p = q < e ? msg_start(q, e) : NULL;
	}
	return 0;
}

/*
 * Parse the complete lines in p[0..n) (all of it when eof).  Returns the
 * bytes consumed, or -1 on a fatal error (g->err).
 */
ssize_t ing_fix_parse(struct ing *g, char *p, size_t n, int eof)
{
	static struct msg m;
	char *s = p, *e = p + n, *ls, *le;

	while (ing_next_line(g, &s, e, eof, &ls, &le)) {
		const char *b = ls;

		while (b < le && (*b == ' ' || *b == '\t' || *b == '\x01'))
			b++;
		if (b < le && fix_line(g, ls, le, g->line, &m) < 0)
			return -1;
	}
	return s - p;
}
