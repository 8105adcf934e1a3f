/*
 * schema.c - the ONE schema table: every built-in record type, field by
 * field (name, offset from the frame start, kind, size, flags).  CSV and
 * JSON parsing, printing, field lookup and SQL columns all read it.
 *
 * Also the dynamic schemas of FEATURES and AGG records, carried in-band
 * by SCHEMA control records.
 */
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

static_assert(sizeof(struct fs_hdr) == FS_HDR_SIZE, "header size");
static_assert(sizeof(struct fs_trade) == 64, "trade size");
static_assert(sizeof(struct fs_reject) == 32, "reject size");
static_assert(sizeof(struct fs_quote) == 48, "quote size");
static_assert(sizeof(struct fs_book) == 40, "book size");
static_assert(sizeof(struct fs_order) == 48, "order size");
static_assert(sizeof(struct fs_txn) == 48, "txn size");
static_assert(sizeof(struct fs_position) == 48, "position size");
static_assert(sizeof(struct fs_bar) == 88, "bar size");
static_assert(sizeof(struct fs_score) == 88, "score size");
static_assert(sizeof(struct fs_alert) == 56, "alert size");
static_assert(sizeof(struct fs_var) == 88, "var size");

#define HDR(name, kind, flags, doc) \
	{ #name, offsetof(struct fs_hdr, name), kind, \
	  sizeof(((struct fs_hdr *)0)->name), FS_FLD_HDR | (flags), doc }
#define HDR_FIELDS \
	HDR(ts_event, FS_K_TS, FS_FLD_REQ, "event time"), \
	HDR(ts_ingest, FS_K_TS, 0, "time the event entered the system"), \
	HDR(key, FS_K_U64, 0, "partitioning key"), \
	HDR(seq, FS_K_U64, 0, "per-source sequence number")
#define F(st, name, kind, flags, doc) \
	{ #name, FS_HDR_SIZE + offsetof(struct st, name), kind, \
	  sizeof(((struct st *)0)->name), flags, doc }
#define REQ FS_FLD_REQ
#define KEY FS_FLD_KEY
#define PII FS_FLD_PII

static const struct fs_field trade_fields[] = {
	HDR_FIELDS,
	F(fs_trade, symbol, FS_K_CODE, REQ | KEY, "instrument code"),
	F(fs_trade, side, FS_K_CHAR, 0, "B buy, S sell (aggressor)"),
	F(fs_trade, price, FS_K_FIX, REQ, "trade price"),
	F(fs_trade, qty, FS_K_I64, REQ, "quantity"),
	F(fs_trade, trade_id, FS_K_ID, 0, "trade id"),
	F(fs_trade, venue, FS_K_CODE, 0, "execution venue (MIC)"),
	F(fs_trade, account, FS_K_ID, 0, "a fill's own account; 0: none"),
	F(fs_trade, order_id, FS_K_ID, 0, "a fill's order (client order id); 0: none"),
};

static const struct fs_field quote_fields[] = {
	HDR_FIELDS,
	F(fs_quote, symbol, FS_K_CODE, REQ | KEY, "instrument code"),
	F(fs_quote, bid, FS_K_FIX, REQ, "best bid price"),
	F(fs_quote, ask, FS_K_FIX, REQ, "best ask price"),
	F(fs_quote, bid_size, FS_K_I64, 0, "quantity at the bid"),
	F(fs_quote, ask_size, FS_K_I64, 0, "quantity at the ask"),
};

static const struct fs_field book_fields[] = {
	HDR_FIELDS,
	F(fs_book, symbol, FS_K_CODE, REQ | KEY, "instrument code"),
	F(fs_book, action, FS_K_CHAR, REQ, "A add, M modify, D delete"),
	F(fs_book, side, FS_K_CHAR, REQ, "B bid, S ask"),
	F(fs_book, order_id, FS_K_ID, REQ, "order id"),
	F(fs_book, price, FS_K_FIX, 0, "limit price"),
	F(fs_book, qty, FS_K_I64, 0, "remaining quantity"),
};

static const struct fs_field order_fields[] = {
	HDR_FIELDS,
	F(fs_order, symbol, FS_K_CODE, REQ | KEY, "instrument code"),
	F(fs_order, side, FS_K_CHAR, REQ, "B buy, S sell"),
	F(fs_order, ord_type, FS_K_CHAR, 0, "L limit, M market"),
	F(fs_order, order_id, FS_K_ID, 0, "client order id"),
	F(fs_order, account, FS_K_ID, 0, "account id"),
	F(fs_order, price, FS_K_FIX, 0, "limit price; 0 for market"),
	F(fs_order, qty, FS_K_I64, REQ, "quantity"),
};

/* A rejected ORDER (FS_F_REJECT): its fields, then the reject's. */
#define R(name, kind, doc) \
	{ #name, FS_HDR_SIZE + sizeof(struct fs_order) + \
	  offsetof(struct fs_reject, name), kind, \
	  sizeof(((struct fs_reject *)0)->name), 0, doc }
static const struct fs_field reject_fields[] = {
	HDR_FIELDS,
	F(fs_order, symbol, FS_K_CODE, REQ | KEY, "instrument code"),
	F(fs_order, side, FS_K_CHAR, REQ, "B buy, S sell"),
	F(fs_order, ord_type, FS_K_CHAR, 0, "L limit, M market"),
	F(fs_order, order_id, FS_K_ID, 0, "client order id"),
	F(fs_order, account, FS_K_ID, 0, "account id"),
	F(fs_order, price, FS_K_FIX, 0, "limit price; 0 for market"),
	F(fs_order, qty, FS_K_I64, REQ, "quantity"),
	R(reason, FS_K_CODE, "the check that failed"),
	R(value, FS_K_FIX, "the order's value for it"),
	R(limit, FS_K_FIX, "the limit it broke"),
};

static const struct fs_field txn_fields[] = {
	HDR_FIELDS,
	F(fs_txn, account, FS_K_ID, REQ | KEY | PII, "card or account id"),
	F(fs_txn, merchant, FS_K_ID, 0, "merchant id"),
	F(fs_txn, device, FS_K_ID, PII, "device id"),
	F(fs_txn, amount, FS_K_FIX, REQ, "amount in currency units"),
	F(fs_txn, mcc, FS_K_U16, 0, "merchant category code"),
	F(fs_txn, channel, FS_K_U8, 0, "0 pos, 1 online, 2 atm, 3 mobile"),
	F(fs_txn, label, FS_K_U8, 0, "1 = fraud (labelled data)"),
	F(fs_txn, country, FS_K_CODE, 0, "ISO 3166 alpha-2"),
	F(fs_txn, currency, FS_K_CODE, 0, "ISO 4217 code"),
};

static const struct fs_field position_fields[] = {
	HDR_FIELDS,
	F(fs_position, symbol, FS_K_CODE, REQ, "instrument code"),
	F(fs_position, portfolio, FS_K_ID, REQ | KEY, "portfolio id"),
	F(fs_position, qty, FS_K_I64, REQ, "quantity held (negative short)"),
	F(fs_position, price, FS_K_FIX, 0, "mark price"),
	F(fs_position, currency, FS_K_CODE, 0, "ISO 4217 code"),
};

static const struct fs_field bar_fields[] = {
	HDR_FIELDS,
	F(fs_bar, symbol, FS_K_CODE, REQ | KEY, "instrument code"),
	F(fs_bar, window_start, FS_K_TS, REQ, "bar start (inclusive)"),
	F(fs_bar, window_end, FS_K_TS, REQ, "bar end (exclusive)"),
	F(fs_bar, open, FS_K_FIX, REQ, "first price"),
	F(fs_bar, high, FS_K_FIX, REQ, "highest price"),
	F(fs_bar, low, FS_K_FIX, REQ, "lowest price"),
	F(fs_bar, close, FS_K_FIX, REQ, "last price"),
	F(fs_bar, volume, FS_K_I64, 0, "quantity traded"),
	F(fs_bar, vwap, FS_K_FIX, 0, "volume-weighted average price"),
	F(fs_bar, count, FS_K_U64, 0, "number of trades"),
};

static const struct fs_field score_fields[] = {
	HDR_FIELDS,
	F(fs_score, score, FS_K_F64, REQ, "model output (probability)"),
	F(fs_score, model_id, FS_K_U64, 0, "hash of the model file"),
	F(fs_score, decision, FS_K_BOOL, 0, "1 = at or above threshold"),
	{ "explain", FS_HDR_SIZE + offsetof(struct fs_score, nexplain),
	  FS_K_EXPLAIN, 1 + 2 + 4 + 8 * FS_EXPLAIN_MAX, 0,
	  "top features by SHAP value" },
	{ "class", FS_HDR_SIZE + offsetof(struct fs_score, cls), FS_K_U16, 2,
	  0, "multi-class models: the top class (score is its probability)" },
};

static const struct fs_field alert_fields[] = {
	HDR_FIELDS,
	F(fs_alert, score, FS_K_F64, 0, "score that raised the alert"),
	F(fs_alert, model_id, FS_K_U64, 0, "hash of the model file"),
	F(fs_alert, reason, FS_K_CODE, REQ, "short reason code"),
	F(fs_alert, first_ts, FS_K_TS, 0, "first event's ts_event"),
	F(fs_alert, first_seq, FS_K_U64, 0, "first event's seq"),
};

static const struct fs_field var_fields[] = {
	HDR_FIELDS,
	F(fs_var, var, FS_K_FIX, REQ, "value at risk (a positive loss)"),
	F(fs_var, es, FS_K_FIX, 0, "expected shortfall"),
	F(fs_var, confidence, FS_K_F64, REQ, "confidence level"),
	F(fs_var, horizon, FS_K_DUR, 0, "horizon"),
	F(fs_var, method, FS_K_CODE, 0,
	  "hist, param, ewma, cornish-fisher or mc"),
	F(fs_var, portfolio, FS_K_ID, KEY, "portfolio id"),
	F(fs_var, symbol, FS_K_CODE, 0,
	  "a component's symbol; empty for the portfolio"),
	F(fs_var, observations, FS_K_U32, 0, "returns in the window"),
	F(fs_var, left_out, FS_K_U32, 0, "positions left out (no price)"),
	F(fs_var, value, FS_K_FIX, 0, "value of the positions valued"),
};

static const struct fs_field json_fields[] = {
	HDR_FIELDS,
	{ "json", FS_HDR_SIZE, FS_K_TEXT, 4, REQ | PII, "the JSON text" },
};

static const struct fs_field hdr_only_fields[] = {
	HDR_FIELDS,
};

static const struct fs_field barrier_fields[] = {
	HDR_FIELDS,
	F(fs_barrier, checkpoint, FS_K_U64, REQ, "checkpoint number"),
};

#define T(id, name, st, fields, doc) \
	{ id, name, st, sizeof(fields) / sizeof(fields[0]), fields, doc }

const struct fs_type fs_types[] = {
	T(FS_T_TRADE, "trade", 64, trade_fields, "an execution"),
	T(FS_T_QUOTE, "quote", 48, quote_fields, "top of book"),
	T(FS_T_BOOK, "book", 40, book_fields, "an order-book update"),
	T(FS_T_ORDER, "order", 48, order_fields, "an order"),
	T(FS_T_TXN, "txn", 48, txn_fields, "a card or payment transaction"),
	T(FS_T_POSITION, "position", 48, position_fields, "a holding"),
	T(FS_T_BAR, "bar", 88, bar_fields, "OHLCV bar"),
	T(FS_T_FEATURES, "features", 0, hdr_only_fields,
	  "float32 feature vector (columns from SCHEMA)"),
	T(FS_T_SCORE, "score", 88, score_fields, "a model score"),
	T(FS_T_ALERT, "alert", 56, alert_fields, "an alert"),
	T(FS_T_AGG, "agg", 0, hdr_only_fields,
	  "window result (columns from SCHEMA)"),
	T(FS_T_VAR, "var", 88, var_fields, "a risk result"),
	T(FS_T_JSON, "json", 0, json_fields, "schema-flexible JSON body"),
	T(FS_T_WATERMARK, "watermark", 0, hdr_only_fields,
	  "event time has reached ts_event"),
	T(FS_T_BARRIER, "barrier", 8, barrier_fields, "checkpoint barrier"),
	T(FS_T_SCHEMA, "schema", 0, hdr_only_fields,
	  "columns of a dynamic type"),
	{ 0, NULL, 0, 0, NULL, NULL },
};

const struct fs_type fs_reject_type =
	T(FS_T_ORDER, "order", 80, reject_fields,
	  "a rejected order (flag FS_F_REJECT)");

const struct fs_type *fs_type_by_id(unsigned id)
{
	if (id >= 1 && id <= FS_T_JSON)
		return &fs_types[id - 1];
	for (const struct fs_type *t = fs_types; t->name; t++)
		if (t->id == id)
			return t;
	return NULL;
}

const struct fs_type *fs_type_by_name(const char *name)
{
	for (const struct fs_type *t = fs_types; t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

const struct fs_field *fs_field_by_name(const struct fs_type *t,
					const char *name)
{
	for (unsigned i = 0; i < t->nfields; i++)
		if (strcmp(t->fields[i].name, name) == 0)
			return &t->fields[i];
	return NULL;
}

static const char *const kind_names[] = {
	[FS_K_I64] = "i64", [FS_K_U64] = "u64", [FS_K_U32] = "u32",
	[FS_K_U16] = "u16", [FS_K_U8] = "u8", [FS_K_F64] = "f64",
	[FS_K_F32] = "f32", [FS_K_FIX] = "fix", [FS_K_TS] = "ts",
	[FS_K_DUR] = "dur", [FS_K_CODE] = "code", [FS_K_CHAR] = "char",
	[FS_K_ID] = "id", [FS_K_BOOL] = "bool", [FS_K_EXPLAIN] = "explain",
	[FS_K_TEXT] = "text",
};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

const char *fs_kind_name(unsigned kind)
{
	return kind < NKINDS && kind_names[kind] ? kind_names[kind] : "?";
}

unsigned fs_kind_by_name(const char *name)
{
	for (unsigned k = 1; k < NKINDS; k++)
		if (kind_names[k] && strcmp(kind_names[k], name) == 0)
			return k;
	return 0;
}

/* Size of a column slot of a dynamic type. */
static unsigned slot_size(unsigned for_type)
{
	return for_type == FS_T_FEATURES ? 4 : 8;
}

/* Is kind usable in a column of a dynamic type? */
static int dyn_kind_ok(unsigned for_type, unsigned kind)
{
	if (for_type == FS_T_FEATURES)
		return kind == FS_K_F32;
	switch (kind) {
	case FS_K_I64: case FS_K_U64: case FS_K_F64: case FS_K_FIX:
	case FS_K_TS: case FS_K_DUR: case FS_K_ID:
	case FS_K_CODE:		/* up to 8 bytes, NUL padded (fs-join) */
		return 1;
	}
	return 0;
}

struct fs_schema *fs_schema_new(unsigned for_type, uint32_t schema_id,
				unsigned ncols, const char *const *names,
				const uint8_t *kinds)
{
	struct fs_schema *s;
	const struct fs_type *base = fs_type_by_id(for_type);
	size_t nlen = 0, at = 0;
	unsigned slot = slot_size(for_type);

	if (ncols > FS_SCHEMA_MAXCOLS || !base)
		return NULL;
	for (unsigned i = 0; i < ncols; i++)
		nlen += strlen(names[i]) + 1;
	s = fs_xcalloc(1, sizeof(*s));
	s->for_type = for_type;
	s->schema_id = schema_id;
	s->ncols = ncols;
	s->nfields = FS_NHDR_FIELDS + ncols;
	s->fields = fs_xcalloc(s->nfields, sizeof(*s->fields));
	s->names = fs_xmalloc(nlen ? nlen : 1);
	memcpy(s->fields, base->fields,
	       FS_NHDR_FIELDS * sizeof(*s->fields));
	for (unsigned i = 0; i < ncols; i++) {
		size_t l = strlen(names[i]) + 1;
		struct fs_field *f = &s->fields[FS_NHDR_FIELDS + i];

		memcpy(s->names + at, names[i], l);
		f->name = s->names + at;
		f->off = FS_HDR_SIZE + sizeof(struct fs_dyn) + slot * i;
		f->kind = kinds[i];
		f->size = slot;
		f->doc = "";
		at += l;
	}
	return s;
}

void fs_schema_free(struct fs_schema *s)
{
	if (!s)
		return;
	free(s->fields);
	free(s->names);
	free(s);
}

struct fs_schema *fs_schema_decode(const struct fs_hdr *h, char *why,
				   size_t whylen)
{
	const struct fs_schema_hdr *sh = fs_body(h);
	size_t blen = fs_body_len(h), at;
	const uint8_t *kinds;
	const char *p, *names[FS_SCHEMA_MAXCOLS];

	if (h->type != FS_T_SCHEMA || blen < sizeof(*sh)) {
		snprintf(why, whylen, "body too short");
		return NULL;
	}
	if ((sh->for_type != FS_T_FEATURES && sh->for_type != FS_T_AGG) ||
	    sh->ncols > FS_SCHEMA_MAXCOLS ||
	    sizeof(*sh) + sh->ncols > blen) {
		snprintf(why, whylen, "type %u, %u columns", sh->for_type,
			 sh->ncols);
		return NULL;
	}
	kinds = (const uint8_t *)(sh + 1);
	p = (const char *)(kinds + sh->ncols);
	at = sizeof(*sh) + sh->ncols;
	for (unsigned i = 0; i < sh->ncols; i++) {
		const char *nul = memchr(p, '\0', blen - at);

		if (!nul || nul == p || !dyn_kind_ok(sh->for_type, kinds[i])) {
			snprintf(why, whylen, "column %u: %s", i + 1,
				 !nul ? "name runs past the record" :
				 nul == p ? "empty name" : "bad kind");
			return NULL;
		}
		names[i] = p;
		at += nul - p + 1;
		p = nul + 1;
	}
	return fs_schema_new(sh->for_type, sh->schema_id, sh->ncols, names,
			     kinds);
}

size_t fs_schema_body_len(const struct fs_schema *s)
{
	size_t n = sizeof(struct fs_schema_hdr) + s->ncols;

	for (unsigned i = 0; i < s->ncols; i++)
		n += strlen(s->fields[FS_NHDR_FIELDS + i].name) + 1;
	return n;
}

void fs_schema_encode(const struct fs_schema *s, void *body)
{
	struct fs_schema_hdr *sh = body;
	uint8_t *kinds = (uint8_t *)(sh + 1);
	char *p = (char *)(kinds + s->ncols);

	sh->for_type = s->for_type;
	sh->ncols = s->ncols;
	sh->schema_id = s->schema_id;
	for (unsigned i = 0; i < s->ncols; i++) {
		const struct fs_field *f = &s->fields[FS_NHDR_FIELDS + i];
		size_t l = strlen(f->name) + 1;

		kinds[i] = f->kind;
		memcpy(p, f->name, l);
		p += l;
	}
}

void fs_write_schema(struct fs_writer *w, const struct fs_schema *s,
		     int64_t ts_event)
{
	struct fs_hdr *h = fs_write_reserve(w, FS_T_SCHEMA,
					    fs_schema_body_len(s));

	h->flags = FS_F_CONTROL;
	h->ts_event = ts_event;
	h->ts_ingest = fs_now_ns();
	h->key = s->schema_id;
	fs_schema_encode(s, fs_body(h));
}

void fs_schema_as_type(const struct fs_schema *s, struct fs_type *t)
{
	const struct fs_type *base = fs_type_by_id(s->for_type);

	t->id = s->for_type;
	t->name = base ? base->name : "?";
	t->body_size = 0;
	t->nfields = s->nfields;
	t->fields = s->fields;
	t->doc = base ? base->doc : "";
}
