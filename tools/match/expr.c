/*
 * expr.c - fs-match's pattern and condition compiler and evaluator.
 *
 * A --pattern is a sequence of variables with quantifiers; a --define
 * gives one variable's condition, compiled here into a tree of nodes in
 * one flat array (struct pattern), typed when compiled, evaluated by
 * pat_test without allocation.  fs-match(1) GRAMMAR is the reference.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdlib.h>

#include "match.h"

#define E8 ((__int128)FS_FIX_SCALE)

/* The parser's state over one option's text. */
struct ps {
	struct pattern *p;
	const char *opt;	/* "--pattern" or "--define" */
	const char *s;		/* the whole text */
	size_t i;		/* next character */
	int var;		/* the variable being defined */
	char *err;		/* the message of an error */
	size_t errlen;
	jmp_buf fail;		/* where an error goes */
};

/* An error at column at + 1: the message into ps->err, then out. */
_Noreturn static void perr(struct ps *ps, size_t at, const char *what)
{
	snprintf(ps->err, ps->errlen, "%s '%s': %s (column %zu)", ps->opt,
		 ps->s, what, at + 1);
	longjmp(ps->fail, 1);
}

static void skip_ws(struct ps *ps)
{
	while (ps->s[ps->i] == ' ' || ps->s[ps->i] == '\t')
		ps->i++;
}

/* An identifier at ps->i into buf (skipping blanks first); its length. */
static size_t ident(struct ps *ps, char *buf, size_t cap)
{
	size_t n = 0;

	skip_ws(ps);
	if (!isalpha((unsigned char)ps->s[ps->i]) && ps->s[ps->i] != '_')
		return 0;
	while (isalnum((unsigned char)ps->s[ps->i]) || ps->s[ps->i] == '_') {
		if (n + 1 >= cap)
			perr(ps, ps->i, "name too long");
		buf[n++] = ps->s[ps->i++];
	}
	buf[n] = '\0';
	return n;
}

/* Whether the next non-blank text is tok; if so it is consumed. */
static int eat(struct ps *ps, const char *tok)
{
	size_t n = strlen(tok);

	skip_ws(ps);
	if (strncmp(ps->s + ps->i, tok, n) != 0)
		return 0;
	if (isalpha((unsigned char)tok[0]) &&
	    (isalnum((unsigned char)ps->s[ps->i + n]) ||
	     ps->s[ps->i + n] == '_'))
		return 0;
	ps->i += n;
	return 1;
}

/* A decimal count at ps->i (quantifier bounds). */
static uint32_t count(struct ps *ps)
{
	size_t at, n = 0;
	int64_t v;

	skip_ws(ps);
	at = ps->i;
	while (isdigit((unsigned char)ps->s[ps->i + n]))
		n++;
	if (!n || fs_parse_i64(ps->s + at, n, 0, 1000000, &v) < 0)
		perr(ps, at, "expected a count from 0 to 1000000");
	ps->i += n;
	return (uint32_t)v;
}

/* A quantifier after a variable, or {1,1} when there is none. */
static void quant(struct ps *ps, uint32_t *lo, uint32_t *hi)
{
	size_t at;

	*lo = *hi = 1;
	if (ps->s[ps->i] == '?') {
		ps->i++;
		*lo = 0;
	} else if (ps->s[ps->i] == '+') {
		ps->i++;
		*hi = QMAX;
	} else if (ps->s[ps->i] == '*') {
		ps->i++;
		*lo = 0;
		*hi = QMAX;
	} else if (ps->s[ps->i] == '{') {
		at = ps->i++;
		skip_ws(ps);
		*lo = ps->s[ps->i] == ',' ? 0 : count(ps);
		*hi = *lo;
		if (eat(ps, ",")) {
			skip_ws(ps);
			*hi = ps->s[ps->i] == '}' ? QMAX : count(ps);
		}
		if (!eat(ps, "}"))
			perr(ps, ps->i, "expected '}'");
		if (*hi < *lo || *hi == 0)
			perr(ps, at, "bad bounds");
	}
}

int pat_parse(struct pattern *p, const char *text, char *err,
	      size_t errlen)
{
	struct ps ps = { .p = p, .opt = "--pattern", .s = text, .var = -1,
			 .err = err, .errlen = errlen };
	char name[24];
	size_t at;

	if (setjmp(ps.fail))
		return -1;
	p->nvar = 0;
	for (;;) {
		skip_ws(&ps);
		if (!text[ps.i])
			break;
		at = ps.i;
		if (!ident(&ps, name, sizeof(name)))
			perr(&ps, at, "expected a variable name");
		if (p->nvar == MAXVAR)
			perr(&ps, at, "more than 16 variables");
		for (int v = 0; v < p->nvar; v++)
			if (strcmp(p->vname[v], name) == 0)
				perr(&ps, at, "a variable twice");
		memcpy(p->vname[p->nvar], name, sizeof(name));
		quant(&ps, &p->qmin[p->nvar], &p->qmax[p->nvar]);
		p->cond[p->nvar] = -1;
		p->nvar++;
		if (text[ps.i] && text[ps.i] != ' ' && text[ps.i] != '\t')
			perr(&ps, ps.i, "expected a quantifier or a blank");
	}
	if (!p->nvar)
		perr(&ps, 0, "empty pattern");
	return 0;
}

/* ---- conditions ---- */

static int var_index(const struct pattern *p, const char *name)
{
	for (int v = 0; v < p->nvar; v++)
		if (strcmp(p->vname[v], name) == 0)
			return v;
	return -1;
}

static int16_t new_node(struct ps *ps, size_t at, int op, int ty)
{
	struct node *n;

	if (ps->p->nnode == MAXNODE)
		perr(ps, at, "condition too long");
	n = &ps->p->n[ps->p->nnode];
	memset(n, 0, sizeof(*n));
	n->op = (uint8_t)op;
	n->ty = (uint8_t)ty;
	n->l = n->r = -1;
	return (int16_t)ps->p->nnode++;
}

static int field_ty(unsigned kind)
{
	switch (kind) {
	case FS_K_F64: case FS_K_F32: return TY_DBL;
	case FS_K_CODE: return TY_CODE;
	case FS_K_EXPLAIN: case FS_K_TEXT: return 0;
	default: return TY_EXACT;
	}
}

/* The field named at ps->i of the matched type, or exit 2 listing all. */
static const struct fs_field *field(struct ps *ps)
{
	const struct fs_type *t = ps->p->type;
	const struct fs_field *f;
	char name[64], list[1024];
	size_t at, n = 0;

	skip_ws(ps);
	at = ps->i;
	if (!ident(ps, name, sizeof(name)))
		perr(ps, at, "expected a field name");
	f = fs_field_by_name(t, name);
	if (f && field_ty(f->kind))
		return f;
	list[0] = '\0';
	for (unsigned k = 0; k < t->nfields; k++)
		if (field_ty(t->fields[k].kind) && n < sizeof(list))
			n += (size_t)snprintf(list + n, sizeof(list) - n,
					      "%s%s", n ? ", " : "",
					      t->fields[k].name);
	snprintf(ps->err, ps->errlen, "%s '%s': no field '%s' in %s records "
		 "(column %zu); fields: %s", ps->opt, ps->s, name, t->name,
		 at + 1, list);
	longjmp(ps->fail, 1);
}

static int16_t expr(struct ps *ps);

static int16_t field_node(struct ps *ps, size_t at, int op)
{
	const struct fs_field *f = field(ps);
	int16_t k = new_node(ps, at, op, field_ty(f->kind));
	struct node *n = &ps->p->n[k];

	n->kind = f->kind;
	n->size = f->size;
	n->off = f->off;
	return k;
}

/* A number literal: exact when it has at most 8 decimals. */
static int16_t number(struct ps *ps)
{
	size_t at = ps->i, n = 0;
	int64_t fx;
	double d;
	int16_t k;

	while (isdigit((unsigned char)ps->s[at + n]) || ps->s[at + n] == '.')
		n++;
	if (fs_parse_f64(ps->s + at, n, &d) < 0)
		perr(ps, at, "bad number");
	ps->i += n;
	if (fs_parse_fix(ps->s + at, n, &fx) == 0) {
		k = new_node(ps, at, N_LIT, TY_EXACT);
		ps->p->n[k].x = fx;
	} else {
		k = new_node(ps, at, N_LIT, TY_DBL);
	}
	ps->p->n[k].d = d;
	return k;
}

static int16_t string(struct ps *ps)
{
	char q = ps->s[ps->i];
	size_t at = ps->i++, n = 0;
	int16_t k = new_node(ps, at, N_STR, TY_CODE);

	while (ps->s[ps->i] && ps->s[ps->i] != q) {
		if (n >= sizeof(ps->p->n[k].s) - 1)
			perr(ps, at, "string too long");
		ps->p->n[k].s[n++] = ps->s[ps->i++];
	}
	if (!ps->s[ps->i])
		perr(ps, at, "unterminated string");
	ps->i++;
	return k;
}

/* FUNC '(' VAR ['.' FIELD] ')' after the function's name. */
static int16_t aggregate(struct ps *ps, size_t at, const char *fn)
{
	static const char *const fns[] = { "sum", "avg", "min", "max",
					   "first", "last" };
	struct pattern *p = ps->p;
	char name[24];
	int v, a = -1;
	int16_t k;

	for (int i = 0; i < 6; i++)
		if (strcmp(fn, fns[i]) == 0)
			a = i;
	if (a < 0 && strcmp(fn, "count") != 0)
		perr(ps, at, "unknown function");
	if (!eat(ps, "("))
		perr(ps, ps->i, "expected '('");
	skip_ws(ps);
	at = ps->i;
	if (!ident(ps, name, sizeof(name)) || (v = var_index(p, name)) < 0)
		perr(ps, at, "expected a pattern variable");
	if (a < 0) {
		k = new_node(ps, at, N_COUNT, TY_EXACT);
	} else {
		struct aggdef *g;

		if (!eat(ps, "."))
			perr(ps, ps->i, "expected '.FIELD'");
		k = field_node(ps, ps->i, N_AGG);
		if (p->n[k].ty == TY_CODE &&
		    ((a != A_FIRST && a != A_LAST) || p->n[k].size > 8))
			perr(ps, at, "only first and last of a code field "
			     "of up to 8 bytes");
		if (a == A_AVG)
			p->n[k].ty = TY_DBL;
		if (p->nagg == MAXAGG)
			perr(ps, at, "more than 16 aggregates");
		g = &p->agg[p->nagg];
		g->fn = (uint8_t)a;
		g->var = (uint8_t)v;
		g->kind = p->n[k].kind;
		g->size = p->n[k].size;
		g->off = p->n[k].off;
		g->ty = field_ty(g->kind);
		p->n[k].slot = (int16_t)p->nagg++;
	}
	p->n[k].var = (int16_t)v;
	if (!eat(ps, ")"))
		perr(ps, ps->i, "expected ')'");
	return k;
}

static int16_t atom(struct ps *ps)
{
	char name[24];
	size_t at;
	int16_t k;

	skip_ws(ps);
	at = ps->i;
	if (isdigit((unsigned char)ps->s[at]) || ps->s[at] == '.')
		return number(ps);
	if (ps->s[at] == '\'' || ps->s[at] == '"')
		return string(ps);
	if (eat(ps, "(")) {
		k = expr(ps);
		if (!eat(ps, ")"))
			perr(ps, ps->i, "expected ')'");
		return k;
	}
	if (!ident(ps, name, sizeof(name)))
		perr(ps, at, ps->s[at] ? "unexpected character" :
		     "unexpected end");
	if (strcmp(name, "prev") == 0 && eat(ps, "."))
		return field_node(ps, at, N_PREV);
	if (eat(ps, "("))
		return ps->i--, aggregate(ps, at, name);
	ps->i = at;
	return field_node(ps, at, N_FIELD);
}

static int is_num(int ty)
{
	return ty == TY_EXACT || ty == TY_DBL;
}

static int16_t unary(struct ps *ps)
{
	size_t at;
	int16_t k, l;

	skip_ws(ps);
	at = ps->i;
	if (!eat(ps, "-"))
		return atom(ps);
	l = unary(ps);
	if (!is_num(ps->p->n[l].ty))
		perr(ps, at, "'-' of a non-number");
	k = new_node(ps, at, N_NEG, ps->p->n[l].ty);
	ps->p->n[k].l = l;
	return k;
}

/* A binary arithmetic node: exact unless a side is a double or op /. */
static int16_t arith(struct ps *ps, size_t at, int op, int16_t l, int16_t r)
{
	int tl = ps->p->n[l].ty, tr = ps->p->n[r].ty, ty;
	int16_t k;

	if (!is_num(tl) || !is_num(tr))
		perr(ps, at, "arithmetic on a non-number");
	ty = tl == TY_EXACT && tr == TY_EXACT && op != N_DIV ? TY_EXACT :
	     TY_DBL;
	k = new_node(ps, at, op, ty);
	ps->p->n[k].l = l;
	ps->p->n[k].r = r;
	return k;
}

static int16_t product(struct ps *ps)
{
	int16_t l = unary(ps);
	size_t at;

	for (;;) {
		skip_ws(ps);
		at = ps->i;
		if (eat(ps, "*"))
			l = arith(ps, at, N_MUL, l, unary(ps));
		else if (eat(ps, "/"))
			l = arith(ps, at, N_DIV, l, unary(ps));
		else
			return l;
	}
}

static int16_t sum(struct ps *ps)
{
	int16_t l = product(ps);
	size_t at;

	for (;;) {
		skip_ws(ps);
		at = ps->i;
		if (eat(ps, "+"))
			l = arith(ps, at, N_ADD, l, product(ps));
		else if (eat(ps, "-"))
			l = arith(ps, at, N_SUB, l, product(ps));
		else
			return l;
	}
}

static int16_t compare(struct ps *ps)
{
	static const struct { const char *t; int op; } ops[] = {
		{ "<=", N_LE }, { ">=", N_GE }, { "<>", N_NE },
		{ "!=", N_NE }, { "==", N_EQ }, { "<", N_LT },
		{ ">", N_GT }, { "=", N_EQ },
	};
	int16_t l = sum(ps), r, k;
	size_t at;
	int tl, tr;

	skip_ws(ps);
	at = ps->i;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!eat(ps, ops[i].t))
			continue;
		r = sum(ps);
		tl = ps->p->n[l].ty;
		tr = ps->p->n[r].ty;
		if (!(is_num(tl) && is_num(tr)) &&
		    !(tl == TY_CODE && tr == TY_CODE))
			perr(ps, at, "comparison of unlike values");
		k = new_node(ps, at, ops[i].op, TY_BOOL);
		ps->p->n[k].l = l;
		ps->p->n[k].r = r;
		return k;
	}
	return l;
}

static int16_t bool_of(struct ps *ps, size_t at, int16_t k)
{
	if (ps->p->n[k].ty != TY_BOOL)
		perr(ps, at, "expected a condition");
	return k;
}

static int16_t negation(struct ps *ps)
{
	size_t at;
	int16_t k;

	skip_ws(ps);
	at = ps->i;
	if (!eat(ps, "not"))
		return compare(ps);
	k = new_node(ps, at, N_NOT, TY_BOOL);
	ps->p->n[k].l = bool_of(ps, at, negation(ps));
	return k;
}

static int16_t chain(struct ps *ps, int op, const char *tok,
		    int16_t (*sub)(struct ps *))
{
	size_t at;
	int16_t l, k;

	skip_ws(ps);
	at = ps->i;
	l = sub(ps);
	for (;;) {
		skip_ws(ps);
		if (!eat(ps, tok))
			return l;
		k = new_node(ps, at, op, TY_BOOL);
		ps->p->n[k].l = bool_of(ps, at, l);
		skip_ws(ps);
		ps->p->n[k].r = bool_of(ps, ps->i, sub(ps));
		l = k;
	}
}

static int16_t and_expr(struct ps *ps)
{
	return chain(ps, N_AND, "and", negation);
}

static int16_t expr(struct ps *ps)
{
	return chain(ps, N_OR, "or", and_expr);
}

int pat_define(struct pattern *p, const char *text, char *err,
	       size_t errlen)
{
	struct ps ps = { .p = p, .opt = "--define", .s = text, .var = -1,
			 .err = err, .errlen = errlen };
	char name[24];
	size_t at;
	int16_t k;

	if (setjmp(ps.fail))
		return -1;
	if (!ident(&ps, name, sizeof(name)))
		perr(&ps, ps.i, "expected a variable name");
	if ((ps.var = var_index(p, name)) < 0)
		perr(&ps, 0, "no such variable in the pattern");
	if (p->cond[ps.var] >= 0)
		perr(&ps, 0, "a variable defined twice");
	if (!eat(&ps, ":"))
		perr(&ps, ps.i, "expected ':'");
	skip_ws(&ps);
	at = ps.i;
	k = bool_of(&ps, at, expr(&ps));
	skip_ws(&ps);
	if (text[ps.i])
		perr(&ps, ps.i, "unexpected text");
	p->cond[ps.var] = k;
	return 0;
}

/* ---- evaluation ---- */

static __int128 exact_of(int64_t raw, unsigned kind)
{
	if (kind == FS_K_FIX)
		return raw;
	if (kind == FS_K_U64 || kind == FS_K_ID)
		return (__int128)(uint64_t)raw * E8;
	return (__int128)raw * E8;
}

static double dbl_of_field(const char *p, unsigned kind)
{
	if (kind == FS_K_F32) {
		float f;

		memcpy(&f, p, 4);
		return f;
	}
	if (kind == FS_K_F64) {
		double d;

		memcpy(&d, p, 8);
		return d;
	}
	return (double)exact_of(fs_load_int(p, kind), kind) / 1e8;
}

/* A slot's raw bits as a value of the field's type. */
static __int128 slot_x(const struct aggdef *g, union aval a)
{
	if (g->fn == A_SUM)
		return g->kind == FS_K_FIX ? a.i : (__int128)a.i * E8;
	return exact_of(a.i, g->kind);
}

static int64_t sat64(__int128 v)
{
	return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN :
	       (int64_t)v;
}

/* Fold one raw value into slot a; cnt: values folded before. */
static union aval fold1(const struct aggdef *g, union aval a, uint32_t cnt,
			const char *ev)
{
	const char *f = ev + g->off;
	union aval v;

	if (g->ty == TY_CODE) {
		v.i = 0;
		memcpy(&v.i, f, g->size);
		return g->fn == A_FIRST && cnt ? a : v;
	}
	if (g->ty == TY_DBL || g->fn == A_AVG) {
		double d = dbl_of_field(f, g->kind);

		switch (g->fn) {
		case A_SUM: case A_AVG: v.d = (cnt ? a.d : 0) + d; break;
		case A_MIN: v.d = cnt && a.d <= d ? a.d : d; break;
		case A_MAX: v.d = cnt && a.d >= d ? a.d : d; break;
		case A_FIRST: v.d = cnt ? a.d : d; break;
		default: v.d = d; break;
		}
		return v;
	}
	v.i = fs_load_int(f, g->kind);
	switch (g->fn) {
	case A_SUM:
		if (cnt)
			v.i = sat64((__int128)a.i + v.i);
		break;
	case A_MIN:
		if (cnt && slot_x(g, a) <= exact_of(v.i, g->kind))
			v = a;
		break;
	case A_MAX:
		if (cnt && slot_x(g, a) >= exact_of(v.i, g->kind))
			v = a;
		break;
	case A_FIRST:
		if (cnt)
			v = a;
		break;
	}
	return v;
}

void pat_fold(const struct pattern *p, union aval *agg, int var,
	      uint32_t cnt, const char *ev)
{
	for (int s = 0; s < p->nagg; s++)
		if (p->agg[s].var == var)
			agg[s] = fold1(&p->agg[s], agg[s], cnt, ev);
}

/* Slot s as seen by the test in c (the event folded in for its var). */
static union aval slot_at(const struct pattern *p, int s, uint32_t *cnt,
			  const struct evalctx *c)
{
	const struct aggdef *g = &p->agg[s];

	*cnt = c->vcnt[g->var];
	if (g->var != c->var)
		return c->agg[s];
	return fold1(g, c->agg[s], (*cnt)++, c->ev);
}

static __int128 eval_x(const struct pattern *p, int k,
		       const struct evalctx *c);

static double eval_d(const struct pattern *p, int k, const struct evalctx *c)
{
	const struct node *n = &p->n[k];
	union aval a;
	uint32_t cnt;

	if (n->ty == TY_EXACT)
		return (double)eval_x(p, k, c) / 1e8;
	switch (n->op) {
	case N_LIT: return n->d;
	case N_FIELD: return dbl_of_field(c->ev + n->off, n->kind);
	case N_PREV: return dbl_of_field(c->prev + n->off, n->kind);
	case N_AGG:
		a = slot_at(p, n->slot, &cnt, c);
		if (!cnt)
			return 0;
		if (p->agg[n->slot].fn == A_AVG)
			return a.d / cnt;
		return a.d;
	case N_ADD: return eval_d(p, n->l, c) + eval_d(p, n->r, c);
	case N_SUB: return eval_d(p, n->l, c) - eval_d(p, n->r, c);
	case N_MUL: return eval_d(p, n->l, c) * eval_d(p, n->r, c);
	case N_DIV: return eval_d(p, n->l, c) / eval_d(p, n->r, c);
	case N_NEG: return -eval_d(p, n->l, c);
	}
	fs_bug("node op %d as a double", n->op);
}

/* Saturate to what 128 bits hold comfortably (|v| < 2^120). */
static __int128 sat(__int128 v)
{
	const __int128 lim = (__int128)1 << 120;

	return v > lim ? lim : v < -lim ? -lim : v;
}

static __int128 eval_x(const struct pattern *p, int k,
		       const struct evalctx *c)
{
	const struct node *n = &p->n[k];
	union aval a;
	uint32_t cnt;

	switch (n->op) {
	case N_LIT: return n->x;
	case N_FIELD:
		return exact_of(fs_load_int(c->ev + n->off, n->kind), n->kind);
	case N_PREV:
		return exact_of(fs_load_int(c->prev + n->off, n->kind),
				n->kind);
	case N_COUNT:
		return (__int128)(c->vcnt[n->var] + (n->var == c->var)) * E8;
	case N_AGG:
		a = slot_at(p, n->slot, &cnt, c);
		return cnt ? slot_x(&p->agg[n->slot], a) : 0;
	case N_ADD: return sat(eval_x(p, n->l, c) + eval_x(p, n->r, c));
	case N_SUB: return sat(eval_x(p, n->l, c) - eval_x(p, n->r, c));
	case N_MUL: {
		__int128 l = eval_x(p, n->l, c), r = eval_x(p, n->r, c);
		__int128 lim = ((__int128)1 << 60);

		double d;

		if (!(l > lim || l < -lim || r > lim || r < -lim))
			return l * r / E8;
		d = (double)l * (double)r / 1e8;
		return d >= 0x1p120 ? (__int128)1 << 120 :
		       d <= -0x1p120 ? -((__int128)1 << 120) : (__int128)d;
	}
	case N_NEG: return -eval_x(p, n->l, c);
	}
	fs_bug("node op %d as exact", n->op);
}

/* The bytes of code node k into buf[16], NUL padded. */
static void code_of(const struct pattern *p, int k, const struct evalctx *c,
		    char *buf)
{
	const struct node *n = &p->n[k];
	union aval a;
	uint32_t cnt;

	memset(buf, 0, 16);
	switch (n->op) {
	case N_STR: memcpy(buf, n->s, 16); break;
	case N_FIELD: memcpy(buf, c->ev + n->off, n->size); break;
	case N_PREV: memcpy(buf, c->prev + n->off, n->size); break;
	default:
		a = slot_at(p, n->slot, &cnt, c);
		if (cnt)
			memcpy(buf, &a.i, 8);
	}
}

static int cmp_code(const struct pattern *p, const struct node *n,
		    const struct evalctx *c)
{
	char a[16], b[16];

	code_of(p, n->l, c, a);
	code_of(p, n->r, c, b);
	return memcmp(a, b, 16);
}

/* l op r as -1, 0, 1 (a NaN compares as unordered: 2). */
static int cmp_num(const struct pattern *p, const struct node *n,
		   const struct evalctx *c)
{
	if (p->n[n->l].ty == TY_EXACT && p->n[n->r].ty == TY_EXACT) {
		__int128 l = eval_x(p, n->l, c), r = eval_x(p, n->r, c);

		return (l > r) - (l < r);
	} else {
		double l = eval_d(p, n->l, c), r = eval_d(p, n->r, c);

		return l < r ? -1 : l > r ? 1 : l == r ? 0 : 2;
	}
}

int pat_test(const struct pattern *p, int k, const struct evalctx *c)
{
	const struct node *n = &p->n[k];
	int o;

	switch (n->op) {
	case N_AND: return pat_test(p, n->l, c) && pat_test(p, n->r, c);
	case N_OR: return pat_test(p, n->l, c) || pat_test(p, n->r, c);
	case N_NOT: return !pat_test(p, n->l, c);
	}
	o = p->n[n->l].ty == TY_CODE ? cmp_code(p, n, c) : cmp_num(p, n, c);
	if (o == 2)
		return n->op == N_NE;
	switch (n->op) {
	case N_LT: return o < 0;
	case N_LE: return o <= 0;
	case N_GT: return o > 0;
	case N_GE: return o >= 0;
	case N_EQ: return o == 0;
	default: return o != 0;
	}
}
