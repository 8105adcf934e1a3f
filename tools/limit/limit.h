/*
 * limit.h - fs-limit's parts: the limits table (limits.c, loaded from a
 * CSV file or an SQLite table) and the checker (limit.c).
 */
#ifndef FS_LIMIT_H
#define FS_LIMIT_H

#include <stdint.h>

#include "fs.h"

/* No limit. */
#define LIM_NONE INT64_MAX

/*
 * The limits columns.  Per symbol (the most specific row that gives a
 * value): max_qty, max_notional, price_band, max_gross, max_net.  Per
 * account (rows with symbol '*' only): max_exposure, max_rate.
 */
enum {
	C_MAX_QTY, C_MAX_NOTIONAL, C_PRICE_BAND, C_MAX_GROSS, C_MAX_NET,
	C_MAX_EXPOSURE, C_MAX_RATE, NCOLS,
	NSYMCOLS = C_MAX_EXPOSURE	/* the per-symbol ones come first */
};
extern const char *const lim_col_names[NCOLS];

/* One row of a limits file. */
struct lim_row {
	uint64_t acct;
	char sym[12];
	uint8_t acct_any, sym_any;	/* '*' */
	uint8_t has[NCOLS];
	int64_t v[NCOLS];		/* fixed 8 or counts, as the column */
	long line;			/* line (CSV) or row (SQLite) */
};

/* A loaded limits table, rows sorted for lookup. */
struct limits {
	struct lim_row *rows;
	size_t n;
	char *src;			/* the name it was loaded from */
};

/*
 * Load limits from src: a CSV file path, or "sqlite:FILE?table=T".
 * Returns 0, or -1 with what is wrong and where in why ("line 3:
 * negative limit '-5' in column 'max_qty'"); *io set when the source
 * could not be opened or read at all (exit 1 rather than 2).
 */
int limits_load(struct limits *l, const char *src, char *why, size_t n,
		int *io);
void limits_free(struct limits *l);
/*
 * The limits of account acct in symbol sym: v[0..NSYMCOLS) from the
 * most specific row giving each (acct+sym, acct+*, *+sym, *+*), the
 * account's columns from acct+* or *+*; LIM_NONE where none gives one.
 */
void limits_resolve(const struct limits *l, uint64_t acct,
		    const char sym[12], int64_t v[NCOLS]);

#endif
