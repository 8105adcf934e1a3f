/*
 * record.c - cells to records through the schema table: the column plan
 * built from a header, conversion of one cell per field kind, the header
 * fields every record gets (ts_ingest, key, seq), and bad-row handling
 * (fail, skip, dead letter).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ingest.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define SLOTS_MAX (FS_NHDR_FIELDS + FS_SCHEMA_MAXCOLS + 8)
/* The output batch: records are built in place, written in bulk. */
#define OB_SIZE (1u << 20)

void ing_init(struct ing *g)
{
	memset(g, 0, sizeof(*g));
	g->delim = ',';
	g->quoting = 1;
	g->key_slot = g->seq_slot = g->ts_slot = g->keyfld_slot = -1;
	g->slots = fs_xcalloc(SLOTS_MAX, sizeof(*g->slots));
	g->col = fs_xcalloc(ING_MAXCOLS, sizeof(*g->col));
	g->colname = fs_xcalloc(ING_MAXCOLS, sizeof(*g->colname));
	g->cs = fs_xcalloc(ING_MAXCOLS + 1, sizeof(*g->cs));
	g->cn = fs_xcalloc(ING_MAXCOLS + 1, sizeof(*g->cn));
	g->ob_size = OB_SIZE;	/* allocated at the first record */
	g->max_ts = INT64_MIN;
	g->next_wm = INT64_MAX;	/* no watermarks unless asked */
}

static void free_colnames(struct ing *g)
{
	for (unsigned i = 0; i < ING_MAXCOLS && g->colname[i]; i++) {
		free(g->colname[i]);
		g->colname[i] = NULL;
	}
}

void ing_free(struct ing *g)
{
	free_colnames(g);
	free(g->colname);
	free(g->slots);
	free(g->col);
	free((void *)g->cs);
	free(g->cn);
	free(g->ob);
	free(g->unq);
	free(g->hdr_raw);
	free(g->buf);
	free(g->jtab);
	fs_schema_free(g->schema);
	if (g->dead)
		fclose(g->dead);
	memset(g, 0, sizeof(*g));
}

/* Record a fatal error in g->err; returns -1 for the caller to pass up. */
int ing_fatal(struct ing *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->err, sizeof(g->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* Show s[0..n) for a message: quoted, escaped, cut at 48 bytes. */
void ing_show(char *buf, size_t size, const char *s, size_t n)
{
	size_t o = 0, i;

	for (i = 0; i < n && i < 48 && o + 8 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (i < n && o + 4 < size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o < size ? o : size - 1] = 0;
}

/* Room for n more bytes of unescaped cell text; stays valid per row. */
char *ing_unq_room(struct ing *g, size_t n)
{
	if (g->unq_len + n > g->unq_cap) {
		/* Cells already made point into unq: only grow between rows. */
		if (g->unq_len)
			return NULL;
		g->unq_cap = n < 65536 ? 65536 : n;
		free(g->unq);
		g->unq = fs_xmalloc(g->unq_cap);
	}
	return g->unq + g->unq_len;
}

/* Add the fields of the type (or the header fields) as slots. */
static void base_slots(struct ing *g)
{
	const struct fs_type *t = g->type;

	g->nslots = 0;
	g->reqmask = 0;
	g->key_slot = g->seq_slot = g->ts_slot = g->keyfld_slot = -1;
	for (unsigned i = 0; i < t->nfields; i++) {
		const struct fs_field *f = &t->fields[i];
		struct ing_slot *s = &g->slots[g->nslots];

		if (f->kind == FS_K_TEXT || f->kind == FS_K_EXPLAIN)
			continue;	/* not from a cell (json, explain) */
		s->name = f->name;
		s->off = f->off;
		s->kind = f->kind;
		s->size = f->size;
		s->flags = f->flags;
		s->skip = !strcmp(f->name, "ts_ingest");
		/* A feature table's event time defaults to the ingest time. */
		if ((f->flags & FS_FLD_REQ) &&
		    !(g->features && !strcmp(f->name, "ts_event")))
			g->reqmask |= 1ULL << g->nslots;
		if (!strcmp(f->name, "ts_event"))
			g->ts_slot = (int)g->nslots;
		else if (!strcmp(f->name, "key"))
			g->key_slot = (int)g->nslots;
		else if (!strcmp(f->name, "seq"))
			g->seq_slot = (int)g->nslots;
		if ((f->flags & FS_FLD_KEY) && g->keyfld_slot < 0)
			g->keyfld_slot = (int)g->nslots;
		g->nslots++;
	}
	if (g->type->body_size)
		g->frame_size = fs_frame_size_for(g->type->body_size);
	else
		g->frame_size = FS_HDR_SIZE;
}

/* The slots of the type's fields, for inputs without a header. */
void ing_plan_fields(struct ing *g)
{
	base_slots(g);
}

/* The field name a column name stands for, after --map. */
static const char *mapped(const struct ing *g, const char *name, size_t n)
{
	for (int i = 0; i < g->nmaps; i++)
		if (strlen(g->maps[i].col) == n &&
		    !memcmp(g->maps[i].col, name, n))
			return g->maps[i].field;
	return NULL;
}

/*
 * The slot a column or key name feeds: --map first, then the field of
 * that name, then the same ignoring case.  Returns -1 when none.
 */
int ing_slot_for(const struct ing *g, const char *name, size_t n)
{
	const char *m = mapped(g, name, n);
	unsigned i;

	if (m) {
		name = m;
		n = strlen(m);
	}
	/* a name of other length never matches (it may hold a NUL) */
	for (i = 0; i < g->nslots; i++)
		if (strnlen(g->slots[i].name, n + 1) == n &&
		    !memcmp(g->slots[i].name, name, n))
			return (int)i;
	for (i = 0; i < g->nslots; i++)
		if (strnlen(g->slots[i].name, n + 1) == n &&
		    !strncasecmp(g->slots[i].name, name, n))
			return (int)i;
	return -1;
}

/* Emit a SCHEMA for the feature slots unless the last one matches. */
static void feature_schema(struct ing *g, unsigned first)
{
	const char *names[FS_SCHEMA_MAXCOLS];
	uint8_t kinds[FS_SCHEMA_MAXCOLS];
	uint64_t h = 14695981039346656037ULL;
	unsigned n = g->nslots - first;
	uint32_t id;

	for (unsigned i = 0; i < n; i++) {
		names[i] = g->slots[first + i].name;
		kinds[i] = FS_K_F32;
		h ^= fs_hash64(names[i], strlen(names[i]) + 1);
		h *= 1099511628211ULL;
	}
	if (g->schema && g->schema->ncols == n) {
		unsigned i;

		for (i = 0; i < n; i++)
			if (strcmp(g->schema->fields[FS_NHDR_FIELDS + i].name,
				   names[i]))
				break;
		if (i == n)
			return;
	}
	id = (uint32_t)(h ^ (h >> 32));
	fs_schema_free(g->schema);
	g->schema = fs_schema_new(FS_T_FEATURES, id ? id : 1, n, names,
				  kinds);
	if (!g->schema)
		fs_bug("cannot build a schema of %u columns", n);
	ing_flush_batch(g);
	fs_write_schema(g->w, g->schema, 0);
}

/* Turn the non-header columns into float32 feature slots. */
static int feature_slots(struct ing *g, unsigned ncols)
{
	unsigned first = g->nslots, nf = 0;

	for (unsigned c = 0; c < ncols; c++) {
		struct ing_slot *s;

		if (g->col[c] != ING_NONE || !g->colname[c][0])
			continue;
		if (nf == FS_SCHEMA_MAXCOLS)
			return ing_fatal(g, "%s: more than %d feature columns "
					 "(line %llu)", g->name,
					 FS_SCHEMA_MAXCOLS,
					 (unsigned long long)g->line);
		s = &g->slots[g->nslots];
		memset(s, 0, sizeof(*s));
		s->name = g->colname[c];
		s->off = (uint16_t)(FS_HDR_SIZE + sizeof(struct fs_dyn) +
				    4 * nf);
		s->kind = FS_K_F32;
		s->size = 4;
		g->col[c] = (uint16_t)g->nslots++;
		nf++;
	}
	if (!nf)
		return ing_fatal(g, "%s: no feature columns: every column is "
				 "a header field (line %llu)", g->name,
				 (unsigned long long)g->line);
	g->nfeat = nf;
	g->frame_size = fs_frame_size_for(sizeof(struct fs_dyn) + 4 * nf);
	feature_schema(g, first);
	return 0;
}

/* Check that each column feeds a different slot; -1 (fatal) if not. */
static int check_dups(struct ing *g, unsigned ncols)
{
	for (unsigned c = 0; c < ncols; c++) {
		if (g->col[c] == ING_NONE)
			continue;
		for (unsigned d = c + 1; d < ncols; d++)
			if (g->col[d] == g->col[c])
				return ing_fatal(g, "%s: columns %u '%s' and "
					"%u '%s' both give field '%s' "
					"(line %llu)", g->name, c + 1,
					g->colname[c], d + 1, g->colname[d],
					g->slots[g->col[c]].name,
					(unsigned long long)g->line);
	}
	return 0;
}

/* Warn once about the columns that feed no field. */
static void warn_unknown(struct ing *g, unsigned ncols)
{
	char list[512];
	size_t o = 0;
	unsigned n = 0;

	for (unsigned c = 0; c < ncols; c++) {
		if (g->col[c] != ING_NONE)
			continue;
		if (o < sizeof(list) - 64)
			o += (size_t)snprintf(list + o, sizeof(list) - o,
					      "%s'%s'", n ? ", " : "",
					      g->colname[c]);
		n++;
	}
	if (n && !g->quiet)
		fs_warn("%s: ignoring %u unknown column%s for type %s: %s "
			"(line %llu)", g->name, n, n > 1 ? "s" : "",
			g->type->name, list, (unsigned long long)g->line);
}

/*
 * Build the column plan from a header of ncols names.  Returns 0, or -1
 * with g->err set (a missing required column, duplicates, too many).
 */
int ing_plan(struct ing *g, unsigned ncols, const char *const *names,
	     const uint32_t *lens)
{
	uint64_t have = 0;

	if (ncols > ING_MAXCOLS)
		return ing_fatal(g, "%s: more than %d columns (line %llu)",
				 g->name, ING_MAXCOLS,
				 (unsigned long long)g->line);
	free_colnames(g);
	base_slots(g);
	for (unsigned c = 0; c < ncols; c++) {
		const char *m = mapped(g, names[c], lens[c]);
		int s = ing_slot_for(g, names[c], lens[c]);

		g->colname[c] = m ? fs_xstrdup(m) : strndup(names[c], lens[c]);
		if (!g->colname[c])
			fs_die(FS_EXIT_FAIL, "out of memory");
		g->col[c] = s < 0 ? ING_NONE : (uint16_t)s;
		if (s >= 0 && s < 64)
			have |= 1ULL << s;
	}
	g->ncols = ncols;
	if (check_dups(g, ncols) < 0)
		return -1;
	for (unsigned s = 0; s < g->nslots && s < 64; s++)
		if ((g->reqmask >> s & 1) && !(have >> s & 1))
			return ing_fatal(g, "%s: missing %s '%s' for type %s "
					 "(line %llu)", g->name,
					 g->fmt == ING_JSONL ? "key" : "column",
					 g->slots[s].name, g->type->name,
					 (unsigned long long)g->line);
	if (g->features)
		return feature_slots(g, ncols);
	warn_unknown(g, ncols);
	return 0;
}

/* Zero 128 bytes at p (8-aligned) with plain stores, not rep stos. */
static inline void zero128(void *p)
{
#ifdef __SSE2__
	const __m128i z = _mm_setzero_si128();
	__m128i *q = p;

	_mm_storeu_si128(q, z);
	_mm_storeu_si128(q + 1, z);
	_mm_storeu_si128(q + 2, z);
	_mm_storeu_si128(q + 3, z);
	_mm_storeu_si128(q + 4, z);
	_mm_storeu_si128(q + 5, z);
	_mm_storeu_si128(q + 6, z);
	_mm_storeu_si128(q + 7, z);
#else
	memset(p, 0, 128);
#endif
}

/* Start a record: zeroed, features preset to NaN. */
/* Hand the records built so far to the writer. */
void ing_flush_batch(struct ing *g)
{
	if (g->ob_used)
		fs_write_frames(g->w, g->ob, g->ob_used);
	g->ob_used = 0;
	g->frame = (uint64_t *)(void *)g->ob;
}

/* Flush the batch and the writer (the input would block). */
void ing_flush(struct ing *g)
{
	ing_flush_batch(g);
	fs_writer_flush(g->w);
}

/* Make room for need bytes in the batch: flush it, or make it. */
static void batch_room(struct ing *g, size_t need)
{
	if (g->ob) {
		ing_flush_batch(g);
		return;
	}
	g->ob_cap = g->ob_size > need ? g->ob_size : need;
	g->ob = fs_xmalloc(g->ob_cap);
}

static inline __attribute__((always_inline)) void rec_begin(struct ing *g)
{
	size_t need = g->frame_size < 128 ? 128 : g->frame_size;

	if (g->ob_used + need > g->ob_cap)
		batch_room(g, need);
	g->frame = (uint64_t *)(void *)(g->ob + g->ob_used);
	if (g->frame_size <= 128)
		zero128(g->frame);
	else
		memset(g->frame, 0, g->frame_size);
	g->seen = 0;
	g->unq_len = 0;
	if (g->features) {
		float *f = (float *)((char *)g->frame + FS_HDR_SIZE +
				     sizeof(struct fs_dyn));

		for (unsigned i = 0; i < g->nfeat; i++)
			f[i] = NAN;
	}
}

void ing_rec_begin(struct ing *g)
{
	rec_begin(g);
}

/* Set g->why to "WHAT: 'VALUE'"; returns -1. */
static int refuse(struct ing *g, const char *what, const char *s, size_t n)
{
	char v[256];

	ing_show(v, sizeof(v), s, n);
	snprintf(g->why, sizeof(g->why), "%s: '%s'", what, v);
	return -1;
}

/* An unsigned integer of size bytes at dst. */
static int set_uint(struct ing *g, const char *s, size_t n, unsigned size,
		    void *dst)
{
	static const char *const what[] = {
		"", "not an integer from 0 to 255",
		"not an integer from 0 to 65535", "",
		"not an integer from 0 to 4294967295",
	};
	uint64_t v, max = size >= 8 ? UINT64_MAX : (1ULL << (8 * size)) - 1;

	if (fs_parse_u64(s, n, &v) < 0 || v > max)
		return refuse(g, size >= 8 ? "not an integer from 0 to "
			      "18446744073709551615" : what[size], s, n);
	switch (size) {
	case 1: *(uint8_t *)dst = (uint8_t)v; break;
	case 2: { uint16_t x = (uint16_t)v; memcpy(dst, &x, 2); } break;
	case 4: { uint32_t x = (uint32_t)v; memcpy(dst, &x, 4); } break;
	default: memcpy(dst, &v, 8); break;
	}
	return 0;
}

/* A boolean: 0, 1, true, false (any case). */
static int set_bool(struct ing *g, const char *s, size_t n, uint8_t *dst)
{
	if (n == 1 && (*s == '0' || *s == '1'))
		*dst = (uint8_t)(*s - '0');
	else if (n == 4 && !strncasecmp(s, "true", 4))
		*dst = 1;
	else if (n == 5 && !strncasecmp(s, "false", 5))
		*dst = 0;
	else
		return refuse(g, "not a boolean (0, 1, true, false)", s, n);
	return 0;
}

/*
 * A floating-point value (f64 or f32); a boolean as pandas writes one
 * (True, False, in any case) is 1 or 0.
 */
static int set_float(struct ing *g, const struct ing_slot *sl,
		     const char *s, size_t n, char *dst)
{
	double d;

	if (n == 4 && !strncasecmp(s, "true", 4))
		d = 1;
	else if (n == 5 && !strncasecmp(s, "false", 5))
		d = 0;
	else if (fs_parse_f64(s, n, &d) < 0)
		return refuse(g, "not a number", s, n);
	if (sl->kind == FS_K_F32) {
		float f = (float)d;

		memcpy(dst, &f, 4);
	} else {
		memcpy(dst, &d, 8);
	}
	return 0;
}

/* Eight ASCII digits at s as a number (SWAR); -1 if one is no digit. */
static inline int digits8(const char *s, uint64_t *v)
{
	const uint64_t zeros = 0x3030303030303030ULL;
	const uint64_t high = 0xf0f0f0f0f0f0f0f0ULL;
	uint64_t c, a;

	memcpy(&c, s, 8);
	if ((c & high) != zeros ||
	    ((c + 0x0606060606060606ULL) & high) != zeros)
		return -1;
	a = c - zeros;
	a = (a * 10 + (a >> 8)) & 0x00ff00ff00ff00ffULL;
	a = (a * 100 + (a >> 16)) & 0x0000ffff0000ffffULL;
	*v = (a * 10000 + (a >> 32)) & 0xffffffffULL;
	return 0;
}

/*
 * s[0..n) as up to 19 decimal digits (no sign), the common case of ids
 * and counts; -1 for anything else, which the library parsers then get.
 */
static inline int quick_digits(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0, c;

	if (n - 1 >= 19)
		return -1;
	for (; n >= 8; s += 8, n -= 8) {
		if (digits8(s, &c) < 0)
			return -1;
		x = x * 100000000 + c;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';

		if (d > 9)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

/*
 * A timestamp, as fs_parse_time() reads it, faster for the common
 * "YYYY-MM-DDTHH:MM:SS[.fffffffff]Z" of sorted input: the library
 * parses each new whole second once, the fraction is added here.
 */
static inline int parse_ts(struct ing *g, const char *s, size_t n,
			   int64_t *v)
{
	static const int64_t scale[10] = { 1000000000, 100000000, 10000000,
		1000000, 100000, 10000, 1000, 100, 10, 1 };
	size_t fd = n - 21;	/* fraction digits */
	int64_t frac = 0, base;
	char buf[20];

	if (n < 20 || n > 30 || s[n - 1] != 'Z' || s[10] != 'T' ||
	    (s[19] == 'Z' ? n != 20 : s[19] != '.' || n < 22))
		return fs_parse_time_as(s, n, &g->trules, v);
	if (n == 20)
		fd = 0;
	for (size_t i = 0; i < fd; i++) {
		unsigned d = (unsigned)(unsigned char)s[20 + i] - '0';

		if (d > 9)
			return fs_parse_time_as(s, n, &g->trules, v);
		frac = frac * 10 + d;
	}
	if (!g->ts_ok || memcmp(g->ts_key, s, 19)) {
		memcpy(buf, s, 19);
		buf[19] = 'Z';
		if (fs_parse_time(buf, 20, &base) < 0)
			return fs_parse_time_as(s, n, &g->trules, v);
		memcpy(g->ts_key, s, 19);
		g->ts_base = base;
		g->ts_ok = 1;
	}
	if (__builtin_add_overflow(g->ts_base, frac * scale[fd], v))
		return fs_parse_time_as(s, n, &g->trules, v);
	return 0;
}

/* The rarer kinds of convert(). */
static int convert_rare(struct ing *g, const struct ing_slot *sl,
			const char *s, size_t n, char *dst)
{
	int64_t v;

	switch (sl->kind) {
	case FS_K_DUR:
		if (fs_parse_duration(s, n, &v) < 0)
			return refuse(g, "not a duration", s, n);
		break;
	case FS_K_I64:
		if (fs_parse_i64(s, n, INT64_MIN, INT64_MAX, &v) < 0)
			return refuse(g, "not an integer", s, n);
		break;
	case FS_K_CHAR:
		if (n != 1)
			return refuse(g, "not a single character", s, n);
		*dst = *s;
		return 0;
	case FS_K_U64: case FS_K_U32: case FS_K_U16: case FS_K_U8:
		return set_uint(g, s, n, sl->size, dst);
	case FS_K_BOOL:
		return set_bool(g, s, n, (uint8_t *)dst);
	case FS_K_F64: case FS_K_F32:
		return set_float(g, sl, s, n, dst);
	default:
		return refuse(g, "cannot be read from text", s, n);
	}
	memcpy(dst, &v, 8);
	return 0;
}

/*
 * Convert the trimmed, non-empty cell s[0..n) into dst by kind: the
 * library parsers, with plain digit strings done inline (same result).
 */
static inline __attribute__((always_inline)) int
convert(struct ing *g, const struct ing_slot *sl, const char *s, size_t n,
	char *dst)
{
	uint64_t u;
	int64_t v;

	switch (sl->kind) {
	case FS_K_FIX:
		if (fs_parse_fix(s, n, &v) < 0)
			return refuse(g, "not a decimal number", s, n);
		memcpy(dst, &v, 8);
		return 0;
	case FS_K_TS:
		if (parse_ts(g, s, n, &v) < 0)
			return refuse(g, "not a timestamp", s, n);
		memcpy(dst, &v, 8);
		return 0;
	case FS_K_ID:
		if (quick_digits(s, n, &u) < 0)
			u = fs_id(s, n);
		memcpy(dst, &u, 8);
		return 0;
	case FS_K_CODE:
		if (n > sl->size) {
			char what[64];

			snprintf(what, sizeof(what), "longer than %u bytes",
				 sl->size);
			return refuse(g, what, s, n);
		}
		memcpy(dst, s, n);
		return 0;
	case FS_K_U64:
		if (quick_digits(s, n, &u) < 0)
			break;
		memcpy(dst, &u, 8);
		return 0;
	case FS_K_U16:
		if (quick_digits(s, n, &u) < 0 || u > 0xffff)
			break;
		memcpy(dst, &(uint16_t){ (uint16_t)u }, 2);
		return 0;
	case FS_K_U8:
		if (quick_digits(s, n, &u) < 0 || u > 0xff)
			break;
		*(uint8_t *)dst = (uint8_t)u;
		return 0;
	}
	return convert_rare(g, sl, s, n, dst);
}

/*
 * Convert cell s[0..n) into field sl of the record at frame.  Blanks
 * around the cell are dropped; an empty cell leaves the field 0 (NaN for
 * a feature) unless the field is required.  Returns 1 when the field was
 * set, 0 when left empty, -1 with g->why set when refused.
 */
static inline __attribute__((always_inline)) int
set_cell(struct ing *g, const struct ing_slot *sl, char *frame,
	 const char *s, size_t n)
{
	if (n && ((unsigned char)s[0] <= ' ' ||
		  (unsigned char)s[n - 1] <= ' ')) {
		while (n && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
	}
	if (!n) {
		if (!(sl->flags & FS_FLD_REQ))
			return 0;
		snprintf(g->why, sizeof(g->why), "empty value for a required "
			 "field");
		return -1;
	}
	if (sl->skip)
		return 0;
	return convert(g, sl, s, n, frame + sl->off) < 0 ? -1 : 1;
}

int ing_set(struct ing *g, unsigned slot, const char *s, size_t n)
{
	int k = set_cell(g, &g->slots[slot], (char *)g->frame, s, n);

	if (k > 0 && slot < 64)
		g->seen |= 1ULL << slot;
	return k < 0 ? -1 : 0;
}

/*
 * Convert the cells g->cs/g->cn of a row of g->ncols columns.  Returns
 * 0, or the 1-based column that failed (g->why says why).
 */
static inline __attribute__((always_inline)) unsigned set_row(struct ing *g)
{
	const uint16_t *col = g->col;
	const char *const *cs = g->cs;
	const uint32_t *cn = g->cn;
	const struct ing_slot *slots = g->slots;
	char *frame = (char *)g->frame;
	unsigned nc = g->ncols;
	uint64_t seen = 0;

	for (unsigned c = 0; c < nc; c++) {
		unsigned sl = col[c];
		int k;

		if (sl == ING_NONE)
			continue;
		k = set_cell(g, &slots[sl], frame, cs[c], cn[c]);
		if (k < 0)
			return c + 1;
		if (k && sl < 64)
			seen |= 1ULL << sl;
	}
	g->seen = seen;
	return 0;
}

unsigned ing_set_row(struct ing *g)
{
	return set_row(g);
}

/* The record key from the field flagged FS_FLD_KEY. */
static inline uint64_t derived_key(const struct ing *g)
{
	const struct ing_slot *sl;
	const char *p;

	if (g->keyfld_slot < 0)
		return 0;
	sl = &g->slots[g->keyfld_slot];
	p = (const char *)g->frame + sl->off;
	if (sl->kind == FS_K_CODE)
		return fs_hash64(p, strnlen(p, sl->size));
	return (uint64_t)fs_load_int(p, sl->kind);
}

/*
 * The record just written took the latest event time to g->next_wm:
 * write a WATERMARK of max_ts - wm_delay (no later record is expected
 * below it), after the records before it, and arm the next one for
 * when that crosses the next multiple of wm_iv.  The first record only
 * arms it.
 */
static __attribute__((noinline)) void watermark(struct ing *g)
{
	int64_t wm = g->max_ts < INT64_MIN + g->wm_delay ? INT64_MIN :
		     g->max_ts - g->wm_delay;
	int64_t b = wm / g->wm_iv * g->wm_iv;

	if (wm < 0 && b != wm)
		b -= g->wm_iv;		/* floor, not truncation */
	if (g->next_wm != INT64_MIN) {
		struct fs_hdr *h;

		ing_flush_batch(g);
		h = fs_write_reserve(g->w, FS_T_WATERMARK, 0);
		h->flags = FS_F_CONTROL;
		h->ts_event = wm;
		h->ts_ingest = g->now;
		h->seq = g->watermarks++;
	}
	g->next_wm = b > INT64_MAX - g->wm_iv - g->wm_delay ? INT64_MAX :
		     b + g->wm_iv + g->wm_delay;
}

static inline void note_time(struct ing *g, int64_t ts)
{
	if (ts > g->max_ts) {
		g->max_ts = ts;
		/* next_wm is INT64_MAX when off: the largest time reaches it */
		if (ts >= g->next_wm && g->wm_iv)
			watermark(g);
	}
}

/* Fill the header fields the row did not give. */
static inline void fill_header(struct ing *g, struct fs_hdr *h)
{
	h->ts_ingest = g->now;
	if (g->ts_slot < 0 || !(g->seen >> g->ts_slot & 1))
		h->ts_event = g->now;
	if (g->key_slot < 0 || !(g->seen >> g->key_slot & 1))
		h->key = derived_key(g);
	if (g->seq_slot < 0 || !(g->seen >> g->seq_slot & 1))
		h->seq = g->rows;
}

/*
 * Finish the record being built and write it.  Returns 0, or -1 with
 * g->why set when a required field was not given.
 */
static inline __attribute__((always_inline)) int rec_end(struct ing *g)
{
	struct fs_hdr *h = (struct fs_hdr *)g->frame;
	uint64_t miss = g->reqmask & ~g->seen;

	if (miss) {
		snprintf(g->why, sizeof(g->why), "missing value for '%s'",
			 g->slots[__builtin_ctzll(miss)].name);
		return -1;
	}
	fill_header(g, h);
	h->len = (uint32_t)(g->frame_size - 4);
	h->type = g->type->id;
	h->version = FS_FORMAT_VERSION;
	if (g->features) {
		struct fs_dyn *d = fs_body(h);

		d->ncols = g->nfeat;
		d->schema_id = g->schema->schema_id;
	}
	g->ob_used += g->frame_size;	/* commit it to the batch */
	g->records++;
	note_time(g, h->ts_event);
	return 0;
}

int ing_rec_end(struct ing *g)
{
	return rec_end(g);
}

/*
 * Build and write the record of a CSV row, its cells in g->cs/g->cn.
 * Returns 0, the 1-based column whose cell was refused, or
 * ING_ROW_MISSING; g->why says why.
 */
unsigned ing_csv_row(struct ing *g)
{
	unsigned c;

	rec_begin(g);
	if ((c = set_row(g)))
		return c;
	return rec_end(g) < 0 ? ING_ROW_MISSING : 0;
}

/*
 * Finish a JSON record whose body is text[0..n) and write it.  Returns
 * 0, or -1 with g->why set.
 */
int ing_rec_end_text(struct ing *g, const char *text, size_t n)
{
	struct fs_hdr *h = (struct fs_hdr *)g->frame, *o;
	uint64_t miss = g->reqmask & ~g->seen;
	uint32_t len = (uint32_t)n;

	if (miss) {
		snprintf(g->why, sizeof(g->why), "missing value for '%s'",
			 g->slots[__builtin_ctzll(miss)].name);
		return -1;
	}
	if (n + 4 + FS_HDR_SIZE > FS_FRAME_MAX) {
		snprintf(g->why, sizeof(g->why), "longer than a record can "
			 "hold (%zu bytes)", n);
		return -1;
	}
	fill_header(g, h);
	ing_flush_batch(g);	/* keep the order; h stays readable */
	o = fs_write_reserve(g->w, FS_T_JSON, 4 + n);
	o->ts_event = h->ts_event;
	o->ts_ingest = h->ts_ingest;
	o->key = h->key;
	o->seq = h->seq;
	memcpy(fs_body(o), &len, 4);
	memcpy((char *)fs_body(o) + 4, text, n);
	g->records++;
	note_time(g, o->ts_event);
	return 0;
}

/* Write text as a CSV cell (quoted when needed) to f. */
static void dead_csv_cell(FILE *f, const char *s, char delim)
{
	if (!strpbrk(s, "\"\r\n") && !strchr(s, delim)) {
		fputs(s, f);
		return;
	}
	putc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			putc('"', f);
		putc(*s, f);
	}
	putc('"', f);
}

/* Write s[0..n) as a JSON string to f. */
static void dead_json_str(FILE *f, const char *s, size_t n)
{
	putc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			putc(c, f);
	}
	putc('"', f);
}

/*
 * The dead-letter file cannot be written: an I/O failure (exit 1), after
 * the records of the good rows so far are written to the output.
 */
static _Noreturn void dead_failed(struct ing *g, const char *what)
{
	int e = errno;

	ing_flush_batch(g);
	fs_writers_flush_all();
	errno = e;
	fs_die_errno(FS_EXIT_FAIL, "cannot %s dead-letter file '%s'", what,
		     g->dead_path);
}

/* Open the dead-letter file on the first bad row (append). */
static int dead_open(struct ing *g)
{
	struct stat st;

	g->dead = fopen(g->dead_path, "a");
	if (!g->dead)
		dead_failed(g, "open");
	/* appending to the input would feed it its own bad rows */
	fs_claim_fd(fileno(g->dead), g->dead_path, 1);
	/* An existing non-empty file already has its header. */
	if (fstat(fileno(g->dead), &st) == 0 && st.st_size > 0)
		g->dead_hdr = 1;
	return 0;
}

/* Append a bad row and its reason to the dead-letter file. */
static int dead_write(struct ing *g, const char *raw, size_t rawlen,
		      const char *msg)
{
	if (!g->dead && dead_open(g) < 0)
		return -1;
	if (g->fmt == ING_JSONL) {
		fputs("{\"error\":", g->dead);
		dead_json_str(g->dead, msg, strlen(msg));
		fputs(",\"raw\":", g->dead);
		dead_json_str(g->dead, raw, rawlen);
		fputs("}\n", g->dead);
	} else if (g->fmt == ING_FIX) {
		fwrite(raw, 1, rawlen, g->dead);
		fprintf(g->dead, "\t%s\n", msg);
	} else {
		if (!g->dead_hdr && g->hdr_raw) {
			fwrite(g->hdr_raw, 1, g->hdr_len, g->dead);
			fprintf(g->dead, "%cerror\n", g->delim);
		}
		g->dead_hdr = 1;
		fwrite(raw, 1, rawlen, g->dead);
		putc(g->delim, g->dead);
		dead_csv_cell(g->dead, msg, g->delim);
		putc('\n', g->dead);
	}
	if (ferror(g->dead))
		dead_failed(g, "write");
	return 0;
}

/*
 * A bad row: raw[0..rawlen) and why (printf).  With --on-error fail this
 * is fatal: g->err is set and -1 returned.  Otherwise the row is counted
 * (and written to the dead-letter file) and 0 returned.
 */
int ing_bad_row(struct ing *g, const char *raw, size_t rawlen,
		const char *fmt, ...)
{
	char msg[sizeof(g->err)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (g->on_error == ING_FAIL) {
		memcpy(g->err, msg, sizeof(msg));
		return -1;
	}
	if (!g->bad)
		snprintf(g->first_bad, sizeof(g->first_bad), "%s", msg);
	g->bad++;
	if (g->on_error == ING_DEAD)
		return dead_write(g, raw, rawlen, msg);
	return 0;
}

/* The notes at the end of a run: skipped rows, other FIX messages. */
void ing_summary(struct ing *g)
{
	ing_flush_batch(g);
	if (g->dead && fclose(g->dead) != 0) {
		g->dead = NULL;
		dead_failed(g, "write");
	}
	g->dead = NULL;
	if (g->quiet)
		return;
	if (g->bad && g->on_error == ING_SKIP)
		fs_warn("skipped %llu bad row%s (first: %s)",
			(unsigned long long)g->bad, g->bad > 1 ? "s" : "",
			g->first_bad);
	else if (g->bad)
		fs_warn("%llu bad row%s written to '%s' (first: %s)",
			(unsigned long long)g->bad, g->bad > 1 ? "s" : "",
			g->dead_path, g->first_bad);
	if (g->other)
		fs_warn("skipped %llu FIX message%s of other types (read: "
			"35=8 fills, 35=D orders)",
			(unsigned long long)g->other, g->other > 1 ? "s" : "");
}
