/*
 * fuzz-match.c - libFuzzer harness for fs-match's pattern and condition
 * compiler (tools/match/expr.c).  Input: a pattern line, then --define
 * lines up to an empty line, then bytes that make two txn frames (the
 * event and the previous one).  A pattern that compiles has every
 * condition evaluated on them, for every variable, with the aggregates
 * folded over the event, so the evaluator meets what the parser lets
 * through.
 */
// FUZZ_SOURCES: tools/match/expr.c
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "match/match.h"

int tool_main(int c, char **v)
{
	(void)c;
	(void)v;
	return 0;
}

/* The next line of data[*o..n) into buf (NUL-terminated); its length. */
static size_t line(const uint8_t *data, size_t n, size_t *o, char *buf,
		   size_t cap)
{
	size_t k = 0;

	while (*o < n && data[*o] != '\n') {
		if (k + 1 < cap)
			buf[k++] = data[*o] ? (char)data[*o] : ' ';
		(*o)++;
	}
	if (*o < n)
		(*o)++;
	buf[k] = '\0';
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pattern p;
	char text[512], err[1536];
	_Alignas(8) char ev[2][96];
	uint32_t vcnt[MAXVAR] = { 0 };
	union aval agg[MAXAGG];
	size_t o = 0;

	memset(&p, 0, sizeof(p));
	p.type = fs_type_by_id(FS_T_TXN);
	line(data, size, &o, text, sizeof(text));
	if (pat_parse(&p, text, err, sizeof(err)) < 0)
		return 0;
	while (line(data, size, &o, text, sizeof(text)) > 0)
		if (pat_define(&p, text, err, sizeof(err)) < 0)
			return 0;
	memset(ev, 0, sizeof(ev));
	memcpy(ev, data + o, size - o < sizeof(ev) ? size - o : sizeof(ev));
	memset(agg, 0, sizeof(agg));
	for (int v = 0; v < p.nvar; v++) {
		struct evalctx c = { ev[0], ev[1], vcnt, agg, v };

		if (p.cond[v] >= 0)
			(void)pat_test(&p, p.cond[v], &c);
		pat_fold(&p, agg, v, vcnt[v], ev[0]);
		vcnt[v]++;
		if (p.cond[v] >= 0)
			(void)pat_test(&p, p.cond[v], &c);
	}
	return 0;
}
