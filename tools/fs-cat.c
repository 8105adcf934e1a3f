/*
 * fs-cat - print records as text, CSV, TSV or JSON Lines.
 *
 * Every value is printed through the schema table (fs_types) or, for
 * FEATURES and AGG records, through the last SCHEMA record seen for the
 * record's schema_id.  For each record type (or schema) a print plan is
 * built once: the columns to print, their offsets and kinds, and the
 * text that goes before each value.  Records are then formatted into one
 * large output buffer with the fs_fmt_* helpers, no stdio per field.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

enum fmt { F_TEXT, F_CSV, F_TSV, F_JSONL };

/* Kinds of fs-cat's own columns of SCHEMA records (beyond enum fs_kind). */
enum { K_SCHEMA_FOR = 100, K_SCHEMA_COLS };

/* A growable byte buffer. */
struct obuf {
	char *p;
	size_t len, cap;
};

/* One printed column of a plan. */
struct col {
	const char *name;
	const char *pre;	/* text before the value */
	uint16_t prelen;
	uint16_t off;		/* from the frame start */
	uint8_t kind;
	uint8_t size;
};

/* How to print one record type (or one dynamic schema). */
struct plan {
	unsigned gen;		/* unique per plan; a change: new header */
	unsigned type;
	size_t need;		/* frame bytes the type's fields cover */
	size_t fixmax;		/* output bound, fixed-size values */
	unsigned ncols;
	struct col *cols;
	const char *start;	/* "txn", {"type":"txn" or "" */
	size_t startlen;
	const char *header;	/* CSV/TSV header row */
	size_t headerlen;
	char *text;		/* storage for start, header, pre */
};

/* A dynamic schema seen in the stream, by schema_id. */
struct dyn {
	uint32_t id;
	uint16_t type;
	uint8_t real;		/* 0: made up, no SCHEMA seen yet */
	struct fs_schema *s;
	struct plan *pl;
};

/* The last timestamp printed in a column slot, and its text. */
struct tstext {
	int64_t ns;
	int len;		/* 0: none yet */
	char text[FS_FMT_MAX];
};

#define NDYN 64
#define MAXSEL 256
#define OUT_PUSH (64u << 10)

struct cat {
	enum fmt fmt;
	char delim;
	int header, epoch, control;
	int resumed;		/* a checkpointed sink goes on: no header */
	uint64_t limit;
	const char *sel[MAXSEL];	/* --fields, in order */
	uint8_t sel_found[MAXSEL];
	unsigned nsel;
	uint8_t want[FS_TYPE_SLOTS];		/* per type slot: print it? */
	struct plan *fixed[FS_TYPE_SLOTS];
	struct plan *reject;	/* ORDERs with FS_F_REJECT */
	struct dyn dyn[NDYN];
	unsigned ndyn, dyn_next;
	const struct fs_schema *features;	/* names for explanations */
	const struct fs_schema *last_schema;	/* the SCHEMA just read */
	struct fs_field schema_fields[FS_NHDR_FIELDS + 3];
	unsigned gen, last_gen;
	struct obuf out, scratch;
	struct tstext ts[2];	/* by column offset / 8 % 2 */
	uint64_t nin, nout;
	struct fs_reader *r;
	struct fs_writer *w;
	unsigned warned_unknown;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: fs-cat [-f text|csv|tsv|jsonl] [--fields LIST] [--types LIST]\n"
"              [--no-header] [--epoch] [--control] [--follow] [-n N]\n"
"              [-i URI] [-o URI] [--metrics FILE]\n"
"              [-e] " FS_KAFKA_SYNOPSIS "\n"
"Print records as text, CSV, TSV or JSON Lines.\n"
"\n"
"  -f, --format FMT    text (default), csv, tsv or jsonl\n"
"      --fields LIST   print only these fields, in this order (a,b,c)\n"
"      --types LIST    print only these record types (txn,trade)\n"
"      --no-header     no header rows in csv and tsv\n"
"      --epoch         timestamps and durations as integer nanoseconds\n"
"      --control       print control records too (watermark, barrier,\n"
"                      schema)\n"
"      --follow        at the end of a file, wait for it to grow\n"
"  -n, --limit N       stop after printing N records\n"
"  -i, --input URI     read records from URI (default -, stdin)\n"
"  -o, --output URI    write text to URI (default -, stdout)\n"
"      --metrics FILE  write Prometheus metrics to FILE every second\n"
"  -h, --help          print this help and exit\n"
"      --version       print the version and exit\n");
	fs_kafka_usage(f, 1);
	fs_pipeline_usage(f);
}

/* ---- output buffer ---- */

static void ob_grow(struct obuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;

	while (cap - b->len < n)
		cap *= 2;
	b->p = fs_xrealloc(b->p, cap);
	b->cap = cap;
}

/* Room for n more bytes; returns where they go. */
static inline char *ob_room(struct obuf *b, size_t n)
{
	if (b->cap - b->len < n || !b->p)
		ob_grow(b, n);
	return b->p + b->len;
}

static void ob_put(struct obuf *b, const void *p, size_t n)
{
	if (n == 0)
		return;		/* p may be NULL then */
	memcpy(ob_room(b, n), p, n);
	b->len += n;
}

static void ob_puts(struct obuf *b, const char *s)
{
	ob_put(b, s, strlen(s));
}

/* Hand the formatted text to the writer. */
static void push_out(struct cat *c)
{
	if (c->out.len) {
		fs_write_bytes(c->w, c->out.p, c->out.len);
		c->out.len = 0;
	}
}

/* ---- escaping ---- */

/* Append s[0..n) as the inside of a JSON string. */
static void json_esc(struct obuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *p = ob_room(b, 6 * n), *p0 = p;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = s[i];

		if (ch >= 0x20 && ch != '"' && ch != '\\') {
			*p++ = ch;
			continue;
		}
		*p++ = '\\';
		switch (ch) {
		case '"': *p++ = '"'; break;
		case '\\': *p++ = '\\'; break;
		case '\n': *p++ = 'n'; break;
		case '\r': *p++ = 'r'; break;
		case '\t': *p++ = 't'; break;
		default:
			memcpy(p, "u00", 3);
			p[3] = hex[ch >> 4];
			p[4] = hex[ch & 15];
			p += 5;
		}
	}
	b->len += p - p0;
}

/* Append s[0..n) as a CSV/TSV value, quoted (RFC 4180) when needed. */
static void csv_esc(struct obuf *b, char delim, const char *s, size_t n)
{
	size_t i;
	char *p;

	for (i = 0; i < n; i++)
		if (s[i] == delim || s[i] == '"' || s[i] == '\n' ||
		    s[i] == '\r')
			break;
	if (i == n) {
		ob_put(b, s, n);
		return;
	}
	p = ob_room(b, 2 * n + 2);
	*p++ = '"';
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			*p++ = '"';
		*p++ = s[i];
	}
	*p++ = '"';
	b->len = p - b->p;
}

/* Text format: bare when unambiguous, else a JSON-style quoted string. */
static void text_esc(struct obuf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = s[i];

		if (ch <= ' ' || ch == '"' || ch == '=' || ch == '\\' ||
		    ch == 0x7f)
			break;
	}
	if (i == n) {
		ob_put(b, s, n);
		return;
	}
	ob_put(b, "\"", 1);
	json_esc(b, s, n);
	ob_put(b, "\"", 1);
}

/* Append a string value, escaped for the output format. */
static void put_str(struct cat *c, const char *s, size_t n)
{
	switch (c->fmt) {
	case F_CSV:
	case F_TSV:
		csv_esc(&c->out, c->delim, s, n);
		break;
	case F_JSONL:
		ob_put(&c->out, "\"", 1);
		json_esc(&c->out, s, n);
		ob_put(&c->out, "\"", 1);
		break;
	case F_TEXT:
		text_esc(&c->out, s, n);
		break;
	}
}

/* ---- values ---- */

static uint64_t load_u(const unsigned char *p, unsigned size)
{
	uint64_t v8;
	uint32_t v4;
	uint16_t v2;

	switch (size) {
	case 8: memcpy(&v8, p, 8); return v8;
	case 4: memcpy(&v4, p, 4); return v4;
	case 2: memcpy(&v2, p, 2); return v2;
	default: return p[0];
	}
}

static int64_t load_i(const unsigned char *p, unsigned size)
{
	uint64_t u = load_u(p, size);

	switch (size) {
	case 8: return (int64_t)u;
	case 4: return (int32_t)u;
	case 2: return (int16_t)u;
	default: return (int8_t)u;
	}
}

/*
 * End a value of n bytes written at p + q: when q is 1, put it in quotes
 * (JSON timestamps, durations, NaN).  Returns the end.
 */
static inline char *quoted(char *p, int n, int q)
{
	if (q) {
		p[0] = '"';
		p[n + 1] = '"';
	}
	return p + n + 2 * q;
}

/*
 * Timestamp ns as text at p (room for FS_FMT_MAX bytes); returns the
 * length.  A run of records often shares a ts_ingest: the last text of
 * each column slot (ts_event, ts_ingest) is kept.
 */
static inline int put_time(struct cat *c, unsigned off, int64_t ns, char *p)
{
	struct tstext *t = &c->ts[off / 8 % 2];

	if (!t->len || t->ns != ns) {
		t->len = fs_fmt_time(t->text, ns);
		t->ns = ns;
	}
	memcpy(p, t->text, FS_FMT_MAX);
	return t->len;
}

/*
 * Format a fixed-size value of kind k at f + off into p (room for
 * FS_FMT_MAX + 2 bytes); returns the end.
 */
static char *put_fixed(struct cat *c, const struct col *k,
		       const unsigned char *f, char *p)
{
	const unsigned char *v = f + k->off;
	int json = c->fmt == F_JSONL, q;
	double d;
	float fl;

	switch (k->kind) {
	case FS_K_I64:
		return p + fs_fmt_i64(p, load_i(v, k->size));
	case FS_K_FIX:
		return p + fs_fmt_fix(p, load_i(v, 8));
	case FS_K_BOOL:
		*p++ = v[0] ? '1' : '0';
		return p;
	case FS_K_TS:
		if (c->epoch)
			return p + fs_fmt_i64(p, load_i(v, 8));
		return quoted(p, put_time(c, k->off, load_i(v, 8), p + json),
			      json);
	case FS_K_DUR:
		if (c->epoch)
			return p + fs_fmt_i64(p, load_i(v, 8));
		return quoted(p, fs_fmt_duration(p + json, load_i(v, 8)),
			      json);
	case FS_K_F64:
		memcpy(&d, v, 8);
		q = json && !isfinite(d);
		return quoted(p, fs_fmt_f64(p + q, d), q);
	case FS_K_F32:
		memcpy(&fl, v, 4);
		q = json && !isfinite(fl);
		return quoted(p, fs_fmt_f32(p + q, fl), q);
	default:	/* U64, U32, U16, U8, ID */
		return p + fs_fmt_u64(p, load_u(v, k->size));
	}
}

/* Column name of feature i for explanations. */
static void feature_name(struct cat *c, struct obuf *b, uint32_t i)
{
	char num[FS_FMT_MAX];
	const struct fs_schema *s = c->features;

	if (s && i < s->ncols) {
		ob_puts(b, s->fields[FS_NHDR_FIELDS + i].name);
		return;
	}
	ob_put(b, "f", 1);
	ob_put(b, num, fs_fmt_u64(num, i));
}

/* "name:+0.1234;name2:-0.05" from a SCORE body. */
static void explain_text(struct cat *c, const struct fs_hdr *h,
			 struct obuf *b)
{
	const struct fs_score *s = fs_body(h);
	unsigned n = s->nexplain < FS_EXPLAIN_MAX ? s->nexplain :
		     FS_EXPLAIN_MAX;
	char num[FS_FMT_MAX];

	for (unsigned i = 0; i < n; i++) {
		float v = s->explain[i].contrib;

		if (i)
			ob_put(b, ";", 1);
		feature_name(c, b, s->explain[i].feature);
		ob_put(b, signbit(v) ? ":" : ":+", signbit(v) ? 1 : 2);
		ob_put(b, num, fs_fmt_f32(num, v));
	}
}

/*
 * A SCHEMA record's target type ("features") or its columns
 * ("amt_z:f32,n_1h:f32"), from the schema decoded when it was read.
 */
static void schema_text(struct cat *c, const struct fs_hdr *h, unsigned kind,
			struct obuf *b)
{
	const struct fs_schema_hdr *sh = fs_body(h);
	const struct fs_type *t = fs_type_by_id(sh->for_type);
	const struct fs_schema *s = c->last_schema;

	if (kind == K_SCHEMA_FOR) {
		ob_puts(b, t ? t->name : "?");
		return;
	}
	for (unsigned i = 0; s && i < s->ncols; i++) {
		const struct fs_field *f = &s->fields[FS_NHDR_FIELDS + i];

		if (i)
			ob_put(b, ",", 1);
		ob_puts(b, f->name);
		ob_put(b, ":", 1);
		ob_puts(b, fs_kind_name(f->kind));
	}
}

/* A JSON body: raw in jsonl and text (newlines made spaces). */
static int put_text(struct cat *c, const struct col *k, const struct fs_hdr *h)
{
	const unsigned char *f = (const void *)h;
	uint32_t len;
	size_t at = (size_t)k->off + 4;
	char *p;

	memcpy(&len, f + k->off, 4);
	if (len > fs_frame_size(h) - at)
		return -1;
	if (c->fmt == F_CSV || c->fmt == F_TSV) {
		csv_esc(&c->out, c->delim, (const char *)f + at, len);
		return 0;
	}
	if (len == 0) {
		ob_puts(&c->out, c->fmt == F_JSONL ? "null" : "\"\"");
		return 0;
	}
	p = ob_room(&c->out, len);
	for (uint32_t i = 0; i < len; i++) {
		char ch = f[at + i];

		p[i] = ch == '\n' || ch == '\r' ? ' ' : ch;
	}
	c->out.len += len;
	return 0;
}

/*
 * Append a variable-size value (code, char, explanation, text).
 * Returns -1 when the value runs past the frame.
 */
static int put_var(struct cat *c, const struct col *k, const struct fs_hdr *h)
{
	const char *v = (const char *)h + k->off;
	size_t n;

	switch (k->kind) {
	case FS_K_CODE:
		n = strnlen(v, k->size);
		while (n && v[n - 1] == ' ')
			n--;
		put_str(c, v, n);
		return 0;
	case FS_K_CHAR:
		put_str(c, v, v[0] ? 1 : 0);
		return 0;
	case FS_K_EXPLAIN:
		c->scratch.len = 0;
		explain_text(c, h, &c->scratch);
		put_str(c, c->scratch.p, c->scratch.len);
		return 0;
	case K_SCHEMA_FOR:
	case K_SCHEMA_COLS:
		c->scratch.len = 0;
		schema_text(c, h, k->kind, &c->scratch);
		put_str(c, c->scratch.p, c->scratch.len);
		return 0;
	default:
		return put_text(c, k, h);
	}
}

static int kind_is_var(unsigned kind)
{
	return kind == FS_K_CODE || kind == FS_K_CHAR ||
	       kind == FS_K_EXPLAIN || kind == FS_K_TEXT ||
	       kind >= K_SCHEMA_FOR;
}

/* ---- plans ---- */

/* Text before column i of a plan, into b. */
static void col_pre(struct cat *c, struct obuf *b, unsigned i,
		    const struct fs_field *fd)
{
	switch (c->fmt) {
	case F_CSV:
	case F_TSV:
		if (i)
			ob_put(b, &c->delim, 1);
		break;
	case F_JSONL:
		ob_put(b, ",\"", 2);
		json_esc(b, fd->name, strlen(fd->name));
		ob_put(b, "\":", 2);
		break;
	case F_TEXT:
		ob_put(b, " ", 1);
		if (i || fd->off != offsetof(struct fs_hdr, ts_event)) {
			text_esc(b, fd->name, strlen(fd->name));
			ob_put(b, "=", 1);
		}
		break;
	}
}

/* Pick the fields to print: all, or those of --fields in its order. */
static unsigned select_fields(struct cat *c, const struct fs_field *fields,
			      unsigned nfields, const struct fs_field **out)
{
	unsigned n = 0;

	if (!c->nsel) {
		for (unsigned i = 0; i < nfields; i++)
			out[n++] = &fields[i];
		return n;
	}
	for (unsigned s = 0; s < c->nsel; s++)
		for (unsigned i = 0; i < nfields; i++)
			if (strcmp(fields[i].name, c->sel[s]) == 0) {
				out[n++] = &fields[i];
				c->sel_found[s] = 1;
				break;
			}
	return n;
}

/* Build the print plan of a type from its fields. */
static struct plan *plan_new(struct cat *c, unsigned type, const char *tname,
			     const struct fs_field *fields, unsigned nfields)
{
	struct plan *pl = fs_xcalloc(1, sizeof(*pl));
	const struct fs_field **sel = fs_xcalloc(nfields, sizeof(*sel));
	struct obuf t = { 0 };
	size_t *pre_at, start_at, head_at;
	unsigned n = select_fields(c, fields, nfields, sel);

	pl->gen = ++c->gen;
	pl->type = type;
	pl->ncols = n;
	pl->cols = fs_xcalloc(n ? n : 1, sizeof(*pl->cols));
	pre_at = fs_xcalloc(n ? n : 1, sizeof(*pre_at));
	for (unsigned i = 0; i < nfields; i++)
		if ((size_t)fields[i].off + fields[i].size > pl->need)
			pl->need = fields[i].off + fields[i].size;
	start_at = t.len;
	if (c->fmt == F_JSONL) {
		ob_puts(&t, "{\"type\":\"");
		json_esc(&t, tname, strlen(tname));
		ob_puts(&t, "\"");
	} else if (c->fmt == F_TEXT) {
		ob_puts(&t, tname);
	}
	pl->startlen = t.len - start_at;
	pl->fixmax = pl->startlen + 4;
	for (unsigned i = 0; i < n; i++) {
		struct col *k = &pl->cols[i];

		pre_at[i] = t.len;
		col_pre(c, &t, i, sel[i]);
		k->prelen = t.len - pre_at[i];
		k->name = sel[i]->name;
		k->off = sel[i]->off;
		k->kind = sel[i]->kind;
		k->size = sel[i]->size;
		pl->fixmax += k->prelen + FS_FMT_MAX + 2;
	}
	head_at = t.len;
	for (unsigned i = 0; i < n; i++) {
		if (i)
			ob_put(&t, &c->delim, 1);
		csv_esc(&t, c->delim, sel[i]->name, strlen(sel[i]->name));
	}
	ob_put(&t, "\n", 1);
	pl->headerlen = t.len - head_at;
	pl->text = t.p;
	pl->start = t.p + start_at;
	pl->header = t.p + head_at;
	for (unsigned i = 0; i < n; i++)
		pl->cols[i].pre = t.p + pre_at[i];
	free(pre_at);
	free(sel);
	return pl;
}

static void plan_free(struct plan *pl)
{
	if (!pl)
		return;
	free(pl->cols);
	free(pl->text);
	free(pl);
}

/* The plan of a fixed-layout type, built on first use; NULL: unknown. */
static struct plan *fixed_plan(struct cat *c, unsigned type, int slot)
{
	const struct fs_type *t;

	if (c->fixed[slot])
		return c->fixed[slot];
	t = fs_type_by_id(type);
	if (!t)
		return NULL;
	if (type == FS_T_SCHEMA)
		c->fixed[slot] = plan_new(c, type, t->name, c->schema_fields,
					  FS_NHDR_FIELDS + 3);
	else
		c->fixed[slot] = plan_new(c, type, t->name, t->fields,
					  t->nfields);
	if (t->body_size &&
	    c->fixed[slot]->need < (size_t)FS_HDR_SIZE + t->body_size)
		c->fixed[slot]->need = FS_HDR_SIZE + t->body_size;
	return c->fixed[slot];
}

static struct dyn *dyn_find(struct cat *c, uint16_t type, uint32_t id)
{
	for (unsigned i = 0; i < c->ndyn; i++)
		if (c->dyn[i].id == id && c->dyn[i].type == type)
			return &c->dyn[i];
	return NULL;
}

/* Store schema s (owned from now on) under its id; returns the entry. */
static struct dyn *dyn_store(struct cat *c, struct fs_schema *s, int real)
{
	struct dyn *d = dyn_find(c, s->for_type, s->schema_id);
	const struct fs_type *t = fs_type_by_id(s->for_type);

	if (!d) {
		if (c->ndyn < NDYN) {
			d = &c->dyn[c->ndyn++];
		} else {	/* full: reuse the oldest entries in turn */
			d = &c->dyn[c->dyn_next];
			c->dyn_next = (c->dyn_next + 1) % NDYN;
		}
	}
	if (d->s == c->features)
		c->features = NULL;
	fs_schema_free(d->s);
	plan_free(d->pl);
	d->id = s->schema_id;
	d->type = s->for_type;
	d->real = real;
	d->s = s;
	d->pl = plan_new(c, s->for_type, t->name, s->fields, s->nfields);
	/* explanations name the model's input, not its class outputs */
	if (real && s->for_type == FS_T_FEATURES &&
	    s->schema_id != FS_SCHEMA_ID_CLASSES)
		c->features = s;
	return d;
}

/* A made-up schema for a dynamic record with no SCHEMA: f0.. or c0.. */
static struct dyn *dyn_guess(struct cat *c, unsigned type, uint32_t id,
			     uint32_t ncols)
{
	char **names = fs_xcalloc(ncols ? ncols : 1, sizeof(*names));
	uint8_t *kinds = fs_xcalloc(ncols ? ncols : 1, 1);
	struct fs_schema *s;
	char num[FS_FMT_MAX];

	for (uint32_t i = 0; i < ncols; i++) {
		int n = fs_fmt_u64(num + 1, i);

		num[0] = type == FS_T_FEATURES ? 'f' : 'c';
		names[i] = fs_xmalloc(n + 2);
		memcpy(names[i], num, n + 1);
		names[i][n + 1] = '\0';
		kinds[i] = type == FS_T_FEATURES ? FS_K_F32 : FS_K_I64;
	}
	s = fs_schema_new(type, id, ncols, (const char *const *)names, kinds);
	for (uint32_t i = 0; i < ncols; i++)
		free(names[i]);
	free(names);
	free(kinds);
	return dyn_store(c, s, 0);
}

/*
 * SCHEMA records print their header fields, then for (the type they
 * describe), schema_id and columns (name:kind,...).
 */
static void init_schema_fields(struct cat *c)
{
	const struct fs_type *t = fs_type_by_id(FS_T_SCHEMA);
	struct fs_field *f = c->schema_fields;

	memcpy(f, t->fields, FS_NHDR_FIELDS * sizeof(*f));
	f += FS_NHDR_FIELDS;
	f[0] = (struct fs_field){ "for", FS_HDR_SIZE, K_SCHEMA_FOR, 2, 0,
				  "" };
	f[1] = (struct fs_field){ "schema_id", FS_HDR_SIZE + 4, FS_K_U32, 4,
				  0, "" };
	f[2] = (struct fs_field){ "columns", FS_HDR_SIZE, K_SCHEMA_COLS, 8,
				  0, "" };
}

/* ---- records ---- */

/* Report bad record data at the frame just read; returns -1. */
static int bad_record(struct cat *c, const struct fs_hdr *h, const char *tn,
		      const char *why)
{
	fs_warn("cannot print %s record: %s (frame %llu, byte offset %llu, "
		"'%s')", tn, why,
		(unsigned long long)fs_reader_frames(c->r),
		(unsigned long long)(fs_reader_offset(c->r) -
				     fs_frame_size(h)),
		fs_reader_name(c->r));
	return -1;
}

/* The plan of a FEATURES or AGG record; NULL after a message. */
static struct plan *dyn_plan(struct cat *c, const struct fs_hdr *h,
			     const char *tn)
{
	const struct fs_dyn *dh = fs_body(h);
	size_t slot = h->type == FS_T_FEATURES ? 4 : 8;
	struct dyn *d;
	char why[128];

	if (fs_body_len(h) < sizeof(*dh) ||
	    dh->ncols > (fs_body_len(h) - sizeof(*dh)) / slot) {
		bad_record(c, h, tn, "columns run past the end of the frame");
		return NULL;
	}
	d = dyn_find(c, h->type, dh->schema_id);
	if (d && d->s->ncols != dh->ncols) {
		if (d->real) {
			snprintf(why, sizeof(why), "%u columns, but SCHEMA %u "
				 "has %u", dh->ncols, dh->schema_id,
				 d->s->ncols);
			bad_record(c, h, tn, why);
			return NULL;
		}
		d = NULL;
	}
	if (!d)
		d = dyn_guess(c, h->type, dh->schema_id, dh->ncols);
	return d->pl;
}

/* Print one data or control record through plan pl. */
static int put_record(struct cat *c, const struct plan *pl,
		      const struct fs_hdr *h, const char *tn)
{
	const unsigned char *f = (const void *)h;
	struct obuf *o = &c->out;
	char *p;

	if (pl->need > fs_frame_size(h))
		return bad_record(c, h, tn, "body shorter than its type");
	if (pl->gen != c->last_gen) {
		c->last_gen = pl->gen;
		if (c->header && (c->fmt == F_CSV || c->fmt == F_TSV) &&
		    !c->resumed)
			ob_put(o, pl->header, pl->headerlen);
		c->resumed = 0;
	}
	p = ob_room(o, pl->fixmax);
	memcpy(p, pl->start, pl->startlen);
	p += pl->startlen;
	for (unsigned i = 0; i < pl->ncols; i++) {
		const struct col *k = &pl->cols[i];

		memcpy(p, k->pre, k->prelen);
		p += k->prelen;
		if (!kind_is_var(k->kind)) {
			p = put_fixed(c, k, f, p);
			continue;
		}
		o->len = p - o->p;
		if (put_var(c, k, h) < 0)
			return bad_record(c, h, tn, "text runs past the frame");
		p = ob_room(o, pl->fixmax);
	}
	if (c->fmt == F_JSONL)
		*p++ = '}';
	*p++ = '\n';
	o->len = p - o->p;
	c->nout++;
	return 0;
}

/* Consume schemas, filter, print one frame.  -1: bad data. */
static int print_frame(struct cat *c, const struct fs_hdr *h)
{
	int slot = fs_type_slot(h->type);
	const struct fs_type *t;
	struct plan *pl;

	if (h->type == FS_T_SCHEMA) {
		char why[128];
		struct fs_schema *s = fs_schema_decode(h, why, sizeof(why));

		if (!s)
			return bad_record(c, h, "schema", why);
		c->last_schema = dyn_store(c, s, 1)->s;
	}
	t = slot < 0 ? NULL : fs_type_by_id(h->type);
	if (!t) {
		if (!c->warned_unknown++)
			fs_warn("skipping records of unknown type %u "
				"(frame %llu)", h->type,
				(unsigned long long)fs_reader_frames(c->r));
		return 0;
	}
	if (!c->want[slot])
		return 0;
	if (t->body_size == 0 &&
	    (h->type == FS_T_FEATURES || h->type == FS_T_AGG))
		pl = dyn_plan(c, h, t->name);
	else if (h->type == FS_T_ORDER && (h->flags & FS_F_REJECT))
		pl = c->reject ? c->reject : (c->reject = plan_new(c,
			FS_T_ORDER, t->name, fs_reject_type.fields,
			fs_reject_type.nfields));
	else
		pl = fixed_plan(c, h->type, slot);
	if (!pl)
		return -1;
	if (!pl->ncols)
		return 0;	/* none of --fields in this type */
	return put_record(c, pl, h, t->name);
}

/*
 * Handle one frame: consume schemas, filter, print.  -1: bad data, and
 * nothing of the bad record (not even a header row) is left in the
 * output: what comes before it ends with a complete line.
 */
static int do_frame(struct cat *c, const struct fs_hdr *h)
{
	size_t at = c->out.len;
	unsigned gen = c->last_gen;

	if (print_frame(c, h) == 0)
		return 0;
	c->out.len = at;
	c->last_gen = gen;
	return -1;
}

/* ---- --follow ---- */

struct follow {
	int in, out, rd;
};

/* Copy a growing file into a pipe, as tail -f does, until fs_stop. */
static void *follow_thread(void *arg)
{
	struct follow *fw = arg;
	static char buf[1 << 16];
	struct timespec nap = { 0, 100000000 };

	while (!fs_stop) {
		ssize_t n = read(fw->in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (n == 0) {
			nanosleep(&nap, NULL);
			continue;
		}
		for (ssize_t at = 0; at < n && !fs_stop;) {
			ssize_t k = write(fw->out, buf + at, n - at);

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				goto out;
			at += k;
		}
	}
out:
	close(fw->out);
	return NULL;
}

/*
 * For --follow on a regular file: a reader over a pipe fed by a thread
 * that keeps reading the file as it grows.  NULL when in is no file.
 */
static struct fs_reader *follow_open(const char *uri, struct follow *fw,
				     pthread_t *tid)
{
	struct stat st;
	int fds[2];

	fw->in = strcmp(uri, "-") == 0 ? 0 : -1;
	if (fw->in < 0 && strncmp(uri, "kafka://", 8) != 0)
		fw->in = open(uri, O_RDONLY | O_CLOEXEC);
	if (fw->in < 0) {
		if (strncmp(uri, "kafka://", 8) == 0)
			return NULL;
		fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", uri);
	}
	if (fstat(fw->in, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fw->in != 0)
			close(fw->in);
		return NULL;
	}
	if (pipe(fds) != 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot make a pipe");
	fw->out = fds[1];
	fw->rd = fds[0];
	if (pthread_create(tid, NULL, follow_thread, fw) != 0)
		fs_die(FS_EXIT_FAIL, "cannot start the --follow thread");
	return fs_reader_fd(fds[0], uri);
}

/* ---- options ---- */

/* Split a comma list in place into out[]; returns the count. */
static unsigned split_list(char *s, const char **out, unsigned max,
			   const char *what)
{
	unsigned n = 0;
	char *tok;

	while ((tok = strsep(&s, ",")) != NULL) {
		if (!*tok)
			fs_usage_error("empty name in %s list", what);
		if (n == max)
			fs_usage_error("too many names in %s list", what);
		out[n++] = tok;
	}
	return n;
}

/* --types: mark the wanted types; unknown names are a usage error. */
static void set_types(struct cat *c, char *list)
{
	const char *names[64];
	unsigned n = split_list(list, names, 64, "--types");
	struct obuf valid = { 0 };

	memset(c->want, 0, sizeof(c->want));
	for (unsigned i = 0; i < n; i++) {
		const struct fs_type *t = fs_type_by_name(names[i]);

		if (t) {
			c->want[fs_type_slot(t->id)] = 1;
			continue;
		}
		for (t = fs_types; t->name; t++) {
			ob_puts(&valid, t == fs_types ? "" : ",");
			ob_puts(&valid, t->name);
		}
		ob_put(&valid, "", 1);
		fs_usage_error("unknown record type '%s' (valid: %s)",
			       names[i], valid.p);
	}
}

/* Append the distinct field names of wanted built-in types to b. */
static void list_fields(struct cat *c, struct obuf *b)
{
	for (const struct fs_type *t = fs_types; t->name; t++) {
		if (!c->want[fs_type_slot(t->id)])
			continue;
		for (unsigned i = 0; i < t->nfields; i++) {
			const char *nm = t->fields[i].name;
			size_t l = strlen(nm);
			int dup = 0;

			for (const char *p = b->p; p && p < b->p + b->len;) {
				const char *end = b->p + b->len;
				const char *e = memchr(p, ',', end - p);
				size_t pl = (size_t)((e ? e : end) - p);

				if (pl == l && memcmp(p, nm, l) == 0)
					dup = 1;
				p += pl + 1;
			}
			if (dup)
				continue;
			if (b->len)
				ob_put(b, ",", 1);
			ob_put(b, nm, l);
		}
	}
}

/* Is name a field of a wanted built-in type? */
static int known_field(struct cat *c, const char *name)
{
	for (const struct fs_type *t = fs_types; t->name; t++)
		if (c->want[fs_type_slot(t->id)] && fs_field_by_name(t, name))
			return 1;
	if (c->want[fs_type_slot(FS_T_ORDER)] &&
	    fs_field_by_name(&fs_reject_type, name))
		return 1;
	if (c->want[fs_type_slot(FS_T_SCHEMA)])
		for (unsigned i = 0; i < FS_NHDR_FIELDS + 3; i++)
			if (strcmp(c->schema_fields[i].name, name) == 0)
				return 1;
	return 0;
}

/*
 * --fields: names must exist in a wanted built-in type, unless FEATURES
 * or AGG records may come (their columns are known only from SCHEMA;
 * those are checked at the end by check_fields_seen()).
 */
static void check_fields(struct cat *c)
{
	int dyn = c->want[FS_T_FEATURES] || c->want[FS_T_AGG];
	struct obuf valid = { 0 };

	for (unsigned s = 0; s < c->nsel; s++) {
		if (known_field(c, c->sel[s]) || dyn)
			continue;
		list_fields(c, &valid);
		ob_put(&valid, "", 1);
		fs_usage_error("unknown field '%s' (valid: %s)", c->sel[s],
			       valid.p);
	}
}

/* At the end: a --fields name found in no type nor SCHEMA is an error. */
static int check_fields_seen(struct cat *c)
{
	for (unsigned s = 0; s < c->nsel; s++) {

		if (c->sel_found[s])
			continue;
		if (known_field(c, c->sel[s]))
			continue;
		fs_warn("unknown field '%s': not in any built-in type nor "
			"any SCHEMA record seen", c->sel[s]);
		return FS_EXIT_USAGE;
	}
	return FS_EXIT_OK;
}

static enum fmt parse_format(const char *s, char *delim)
{
	*delim = ',';
	if (strcmp(s, "text") == 0)
		return F_TEXT;
	if (strcmp(s, "csv") == 0)
		return F_CSV;
	if (strcmp(s, "tsv") == 0) {
		*delim = '\t';
		return F_TSV;
	}
	if (strcmp(s, "jsonl") == 0 || strcmp(s, "json") == 0)
		return F_JSONL;
	fs_usage_error("unknown format '%s' (valid: text, csv, tsv, jsonl)",
		       s);
}

enum { O_CONTROL = 256, O_EPOCH, O_FIELDS, O_FOLLOW, O_METRICS,
       O_NO_HEADER, O_TYPES, O_VERSION };

static const struct option long_options[] = {
	{ "control", no_argument, NULL, O_CONTROL },
	{ "epoch", no_argument, NULL, O_EPOCH },
	{ "fields", required_argument, NULL, O_FIELDS },
	{ "follow", no_argument, NULL, O_FOLLOW },
	{ "format", required_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ "input", required_argument, NULL, 'i' },
	{ "limit", required_argument, NULL, 'n' },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "no-header", no_argument, NULL, O_NO_HEADER },
	{ "output", required_argument, NULL, 'o' },
	{ "types", required_argument, NULL, O_TYPES },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct opts {
	const char *in, *out, *metrics;
	char *types;
	int follow;
};

static void parse_args(struct cat *c, struct opts *o, int argc, char **argv)
{
	int ch;

	while ((ch = fs_getopt(argc, argv, "f:hi:n:o:", long_options)) != -1) {
		switch (ch) {
		case 'f': c->fmt = parse_format(optarg, &c->delim); break;
		case 'h': usage(stdout); exit(FS_EXIT_OK);
		case 'i': o->in = optarg; break;
		case 'n':
			c->limit = fs_opt_i64("-n", optarg, 1, INT64_MAX);
			break;
		case 'o': o->out = optarg; break;
		case O_CONTROL: c->control = 1; break;
		case O_EPOCH: c->epoch = 1; break;
		case O_FIELDS:
			c->nsel = split_list(optarg, c->sel, MAXSEL,
					     "--fields");
			break;
		case O_FOLLOW: o->follow = 1; break;
		case O_METRICS: o->metrics = optarg; break;
		case O_NO_HEADER: c->header = 0; break;
		case O_TYPES: o->types = optarg; break;
		case O_VERSION: fs_print_version(NULL); exit(FS_EXIT_OK);
		default: fs_bug("option %d not handled", ch);
		}
	}
	if (optind < argc)
		fs_usage_error("unexpected argument '%s'", argv[optind]);
	for (int s = 0; s < FS_TYPE_SLOTS; s++)
		c->want[s] = s < 16 || c->control;
	if (o->types)
		set_types(c, o->types);
	check_fields(c);
}

/* The main loop: read, print, push text to the writer before blocking. */
static int run(struct cat *c, struct fs_metrics *m)
{
	const struct fs_hdr *h;
	int rc;

	for (;;) {
		if (fs_stop)
			return FS_EXIT_OK;
		rc = fs_read_timed(c->r, &h, 0);
		if (rc == -2) {
			push_out(c);
			fs_writer_flush(c->w);
			rc = fs_read(c->r, &h);
		}
		if (rc == 0)
			return FS_EXIT_OK;
		if (rc < 0)
			return fs_stop ? FS_EXIT_OK : FS_EXIT_DATA;
		c->nin++;
		if (h->type == FS_T_BARRIER && fs_writer_is_sink(c->w)) {
			push_out(c);	/* commit what came before it */
			fs_write_frame(c->w, h);
		}
		if (do_frame(c, h) < 0)
			return FS_EXIT_DATA;
		if (c->out.len >= OUT_PUSH)
			push_out(c);
		if (c->limit && c->nout >= c->limit)
			return FS_EXIT_OK;
		if ((c->nin & 0xffff) == 0) {
			fs_metrics_tick(m);
			if (fs_progress_due())
				fs_progress("fs-cat: %llu records in, %llu "
					    "printed",
					    (unsigned long long)c->nin,
					    (unsigned long long)c->nout);
		}
	}
}

int tool_main(int argc, char **argv)
{
	static struct cat cat;
	struct cat *c = &cat;
	struct opts o = { "-", "-", NULL, NULL, 0 };
	struct follow fw;
	pthread_t tid;
	struct fs_metrics *m;
	int status, followed = 0;

	c->fmt = F_TEXT;
	c->delim = ',';
	c->header = 1;
	init_schema_fields(c);
	parse_args(c, &o, argc, argv);
	c->w = fs_writer_open(o.out);
	c->resumed = fs_writer_resumed(c->w) > 0;
	if (o.follow && (c->r = follow_open(o.in, &fw, &tid)))
		followed = 1;
	if (!c->r)
		c->r = fs_reader_open(o.in);
	fs_reader_flush_on_block(c->r, c->w);
	m = fs_metrics_open(o.metrics);
	fs_metrics_counter(m, "fs_cat_records_in_total",
			   "records read", &c->nin);
	fs_metrics_counter(m, "fs_cat_records_out_total",
			   "records printed", &c->nout);
	status = run(c, m);
	push_out(c);
	fs_progress_done();
	if (status == FS_EXIT_OK && !fs_stop && !c->limit)
		status = check_fields_seen(c);
	fs_writer_close(c->w);
	fs_metrics_close(m);
	fs_reader_close(c->r);
	if (followed) {	/* the thread ends at fs_stop or a write error */
		fs_stop = 1;
		close(fw.rd);
		pthread_join(tid, NULL);
	}
	return status;
}
