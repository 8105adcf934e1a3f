/*
 * match.h - fs-match's parts: the pattern and condition compiler
 * (expr.c) and the matcher with its I/O (match.c).  fs-match(1) gives
 * the grammar and the semantics both follow.
 */
#ifndef MATCH_H
#define MATCH_H

#include "fs.h"

#define MAXVAR 16		/* variables in a pattern */
#define MAXAGG 16		/* aggregate slots over all conditions */
#define MAXNODE 256		/* nodes over all conditions */
#define QMAX UINT32_MAX		/* an unbounded quantifier's maximum */

/* Value types of expression nodes, fixed when compiled. */
enum { TY_BOOL = 1, TY_EXACT, TY_DBL, TY_CODE };

/* Node operations. */
enum {
	N_LIT, N_STR, N_FIELD, N_PREV, N_COUNT, N_AGG,
	N_ADD, N_SUB, N_MUL, N_DIV, N_NEG,
	N_LT, N_LE, N_GT, N_GE, N_EQ, N_NE,
	N_AND, N_OR, N_NOT,
};

/* Aggregate functions of a slot. */
enum { A_SUM, A_AVG, A_MIN, A_MAX, A_FIRST, A_LAST };

/*
 * A compiled node.  Exact numbers are scaled by 1e8 whatever their
 * field's kind (an id of 2^64 fits in the 128 bits they are computed
 * in); doubles are in the field's own units.
 */
struct node {
	uint8_t op, ty;
	uint8_t kind, size;	/* N_FIELD, N_PREV, N_AGG: the field */
	uint16_t off;		/* its offset in the frame */
	int16_t l, r;		/* operands (node indexes) */
	int16_t var;		/* N_COUNT, N_AGG: the variable */
	int16_t slot;		/* N_AGG: the slot */
	__int128 x;		/* N_LIT: exact value */
	double d;		/* N_LIT: value as a double */
	char s[16];		/* N_STR: the text, NUL padded */
};

/* An aggregate slot: fn over var's events' field. */
struct aggdef {
	uint8_t fn, var, kind, size, ty;
	uint16_t off;
};

struct pattern {
	char name[24];		/* the ALERT's reason */
	int nvar;
	char vname[MAXVAR][24];
	uint32_t qmin[MAXVAR], qmax[MAXVAR];
	int16_t cond[MAXVAR];	/* root node, -1: any event matches */
	int nnode, nagg;
	struct node n[MAXNODE];
	struct aggdef agg[MAXAGG];
	const struct fs_type *type;	/* the records matched */
};

/* A slot's running value: exact (scaled 1e8) or double. */
union aval {
	int64_t i;
	double d;
};

/*
 * Parse --pattern text into p (variables and quantifiers): 0, or -1
 * with the message of a syntax error, naming its column (from 1), in
 * err.
 */
int pat_parse(struct pattern *p, const char *text, char *err,
	      size_t errlen);
/*
 * Parse one --define 'VAR: CONDITION' and compile it into p (p->type
 * set): 0, or -1 with the message in err: the column of a syntax or
 * type error, or an unknown field named with the type's fields listed.
 */
int pat_define(struct pattern *p, const char *text, char *err,
	       size_t errlen);

/*
 * The context of one condition test: the event, the previous event of
 * the run (the event itself for a run's first), the run's per-variable
 * counts and slots, and the variable tested (the event counts as its).
 */
struct evalctx {
	const char *ev, *prev;
	const uint32_t *vcnt;
	const union aval *agg;
	int var;
};

/* Whether condition node root holds in c. */
int pat_test(const struct pattern *p, int root, const struct evalctx *c);
/*
 * Fold event ev, taken as variable var, into slots agg (cnt: var's
 * events before it).
 */
void pat_fold(const struct pattern *p, union aval *agg, int var,
	      uint32_t cnt, const char *ev);

#endif
