/*
 * ingest.h - shared state of fs-ingest: the parsers (csv.c, jsonl.c,
 * fix.c) turn text rows into cells, record.c turns cells into records
 * through the schema table, input.c reads files, stdin and archives.
 */
#ifndef INGEST_H
#define INGEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "fs.h"

enum { ING_CSV, ING_TSV, ING_JSONL, ING_FIX };
enum { ING_FAIL, ING_SKIP, ING_DEAD };

/* The longest row (or line) accepted. */
#define ING_ROW_MAX FS_FRAME_MAX
/* Bytes past the end of the input buffer that scanners may read. */
#define ING_SLACK 64
/* The most columns in a header. */
#define ING_MAXCOLS 4096
/* ing_csv_row(): a required field was not given. */
#define ING_ROW_MISSING 0xffffffffu
/* Slot index for a column that feeds no field. */
#define ING_NONE 0xffff

/* One destination of a cell: a field of the output record. */
struct ing_slot {
	const char *name;	/* field name */
	uint16_t off;		/* from the frame start */
	uint8_t kind;		/* FS_K_* */
	uint8_t size;
	uint8_t flags;		/* FS_FLD_* */
	uint8_t skip;		/* read and dropped (ts_ingest) */
};

/* A --map col=field pair. */
struct ing_map {
	const char *col;
	const char *field;
};

struct ing;
typedef ssize_t (*ing_parse_fn)(struct ing *g, char *p, size_t n, int eof);

struct ing {
	/* configuration */
	int fmt;			/* ING_* */
	char delim;
	int quoting;			/* CSV quotes honoured */
	int no_header;
	int quiet;			/* no warnings (fuzzing) */
	const struct fs_type *type;	/* the type being built */
	const struct fs_type *fix_only;	/* -f fix -t TYPE */
	int features, json;
	struct ing_map *maps;
	int nmaps;
	int on_error;			/* ING_FAIL/SKIP/DEAD */
	const char *dead_path;
	FILE *dead;
	struct fs_writer *w;
	ing_parse_fn parse;
	void (*tick)(struct ing *g);	/* after each block, or NULL */
	int stopped;			/* fs_stop seen */
	int hdr_only;			/* CSV: stop after the header row */

	/*
	 * A checkpointed source (--state; ingest.c): barriers between
	 * rows at stream offsets (of the decoded text), resumed at skip.
	 */
	struct fs_source *src;		/* NULL without --state */
	void (*barrier)(struct ing *g, int final);
	uint64_t pos;			/* offset of the next row */
	uint64_t skip;			/* the restored position */
	uint64_t skip_line;		/* ... and the state there */
	int64_t skip_max_ts, skip_next_wm;

	/* totals */
	uint64_t rows;			/* data rows seen, whole input */
	uint64_t records;		/* records written */
	uint64_t bad;			/* bad rows skipped or dead-lettered */
	uint64_t bytes;			/* input bytes */
	uint64_t other;			/* FIX messages of other types */
	char first_bad[1024];
	int64_t now;			/* ingest clock, read per block */
	/* WATERMARKs (--max-delay, --watermark-interval) */
	int64_t wm_delay, wm_iv;	/* wm_iv 0: none */
	int64_t max_ts;			/* latest ts_event written */
	int64_t next_wm;		/* max_ts that brings the next one */
	uint64_t watermarks;		/* written */
	struct fs_time_rules trules;	/* --epoch-unit, --tz */
	struct fs_tz tz;
	char ts_key[19];		/* the whole second last parsed */
	int ts_ok;
	int64_t ts_base;		/* ... and its value */

	/* the current file */
	char name[1024];
	uint64_t line;			/* lines consumed so far */
	int started;			/* BOM/header handled */
	char *hdr_raw;			/* the header line, for dead letters */
	size_t hdr_len;
	int dead_hdr;			/* header written to the dead file */

	/* the column plan */
	struct ing_slot *slots;		/* nslots, fields of the type */
	unsigned nslots;
	uint16_t *col;			/* column -> slot (ING_NONE) */
	char **colname;
	unsigned ncols;
	int key_slot, seq_slot, ts_slot;	/* header slots, -1 if none */
	int keyfld_slot;		/* the field flagged FS_FLD_KEY */
	uint64_t reqmask;		/* slots flagged FS_FLD_REQ */
	uint64_t seen;			/* slots given in this row */
	int jtab_n;			/* JSON key table (jsonl.c) */
	void *jtab;

	/* FEATURES */
	struct fs_schema *schema;
	unsigned nfeat;

	/* per-row scratch */
	uint64_t *frame;		/* the record being built, in ob */
	size_t frame_size;
	char *ob;			/* output batch of whole records */
	size_t ob_used, ob_cap;
	size_t ob_size;			/* its size when made */
	const char **cs;		/* cell starts */
	uint32_t *cn;			/* cell lengths */
	char *unq;			/* unescaped cells */
	size_t unq_cap, unq_len;
	char why[512];			/* why a cell was refused */
	char err[1024];			/* a fatal error, for the caller */

	/* input buffer (input.c) */
	char *buf;
	size_t cap;
	size_t buf_start;		/* first size; 0: the default */
};

/* record.c */
void ing_init(struct ing *g);
void ing_free(struct ing *g);
int ing_fatal(struct ing *g, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int ing_plan(struct ing *g, unsigned ncols, const char *const *names,
	     const uint32_t *lens);
int ing_slot_for(const struct ing *g, const char *name, size_t n);
void ing_rec_begin(struct ing *g);
int ing_set(struct ing *g, unsigned slot, const char *s, size_t n);
unsigned ing_set_row(struct ing *g);
unsigned ing_csv_row(struct ing *g);
int ing_rec_end(struct ing *g);
int ing_rec_end_text(struct ing *g, const char *text, size_t n);
void ing_plan_fields(struct ing *g);
int ing_bad_row(struct ing *g, const char *raw, size_t rawlen,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void ing_show(char *buf, size_t size, const char *s, size_t n);
char *ing_unq_room(struct ing *g, size_t n);
void ing_summary(struct ing *g);
void ing_flush_batch(struct ing *g);
void ing_flush(struct ing *g);

/*
 * The line-at-a-time formats (JSON Lines, FIX): the next complete line
 * of [*s, e), or the rest at eof. Sets [*ls, *le) to it without its
 * newline and CR, moves *s past it and counts it in g->line; 0 when no
 * complete line is left (the parser returns *s - p, what it consumed).
 */
static inline int ing_next_line(struct ing *g, char **s, char *e, int eof,
				char **ls, char **le)
{
	char *nl;

	if (*s >= e)
		return 0;
	nl = memchr(*s, '\n', (size_t)(e - *s));
	if (!nl && !eof)
		return 0;
	*ls = *s;
	*le = nl ? nl : e;
	*s = nl ? nl + 1 : e;
	g->line++;
	if (*le > *ls && (*le)[-1] == '\r')
		(*le)--;
	return 1;
}

/* csv.c, jsonl.c, fix.c */
ssize_t ing_csv_parse(struct ing *g, char *p, size_t n, int eof);
ssize_t ing_jsonl_parse(struct ing *g, char *p, size_t n, int eof);
ssize_t ing_fix_parse(struct ing *g, char *p, size_t n, int eof);
void ing_jsonl_reset(struct ing *g);

/* decomp.c: gzip, zstd and xz streams */
enum { ING_Z_GZIP = 1, ING_Z_ZSTD, ING_Z_XZ };
struct ing_dec;
int ing_dec_sniff(const void *p, size_t n);
struct ing_dec *ing_dec_open(int kind);
void ing_dec_close(struct ing_dec *z);
const char *ing_dec_name(const struct ing_dec *z);
const char *ing_dec_why(const struct ing_dec *z, uint64_t *pos);
ssize_t ing_dec_run(struct ing_dec *z, const void *in, size_t *inlen,
		    int fin, void *out, size_t n);

/* input.c */
int ing_input_path(struct ing *g, const char *path);
int ing_input_mem(struct ing *g, const char *name, const void *p,
		  size_t n);

#endif
