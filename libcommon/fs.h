/*
 * fs.h - the finstream common library (libfs.a).
 *
 * Every tool includes this one header.  It defines the record stream
 * (fs-record(5)), the schema table of the built-in types, frame readers
 * and writers over endpoints, the error and exit conventions, parsing and
 * printing of numbers, money, durations and timestamps, a latency
 * histogram, Prometheus metrics and a TTY progress line.
 */
#ifndef FS_H
#define FS_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define FS_VERSION_STRING "0.1.0"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "finstream frames are little-endian; this host is not"
#endif

/* ---- exit status: a frozen set, listed in every man page ---- */
enum {
	FS_EXIT_OK = 0,		/* success */
	FS_EXIT_FAIL = 1,	/* failure (I/O, system) */
	FS_EXIT_USAGE = 2,	/* usage error */
	FS_EXIT_DATA = 3,	/* bad input data */
	FS_EXIT_UNAVAIL = 4,	/* a needed service or device unavailable */
};

/* ---- errors (libcommon/error.c) ---- */
extern const char *fs_progname;		/* "fs-cat", set by main() */
extern volatile sig_atomic_t fs_stop;	/* set by SIGINT/SIGTERM */
/*
 * A stage between a pipeline's source and its end, under --state, does
 * not stop at once on SIGINT/SIGTERM: fs_stop_asked is set instead, its
 * reader records a stop request in the store, the source ends its input
 * with a final checkpoint at its next barrier, and every stage drains
 * and exits 0 (finstream(7) Checkpoints).  io.c sets fs_stop_defer.
 */
extern volatile sig_atomic_t fs_stop_asked;
extern int fs_stop_defer;

/* Print "fs-TOOL: MSG" to stderr and exit with status. */
_Noreturn void fs_die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * In a child process (fork) that must not run the parent's atexit
 * handlers (flushing its outputs, its Kafka handles): from then on
 * fs_die and fs_die_errno end it with _exit.
 */
void fs_exit_quick(void);
/* As fs_die, with ": strerror(errno)" appended. */
_Noreturn void fs_die_errno(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Print "fs-TOOL: MSG" to stderr and go on. */
void fs_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "fs-TOOL: MSG" to stderr and return -1. */
int fs_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An internal invariant broke: print and abort(). */
_Noreturn void fs_bug(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/*
 * A usage error: "fs-TOOL: MSG" then "Try 'fs-TOOL --help'." on stderr,
 * exit 2.
 */
_Noreturn void fs_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/*
 * Text printed with stdio is out: flush standard output.  A closed one
 * ("| head": EPIPE) ends the tool quietly with exit 0, as a writer
 * does; any other failure dies with exit 1.
 */
void fs_stdout_done(void);

/*
 * Each tool defines tool_main(); libcommon's main() checks that fds 0-2
 * are open, sets fs_progname, ignores SIGPIPE (writes then fail with
 * EPIPE, and the writer ends the tool quietly), makes SIGINT/SIGTERM set
 * fs_stop, then calls tool_main() and exits with what it returns.
 */
int tool_main(int argc, char **argv);

/*
 * Print the --version text to stdout: tool name and version, the linked
 * library versions, and the compiled-in features.  extra, if not NULL,
 * is printed as one more line (e.g. the CUDA device seen).
 */
void fs_print_version(const char *extra);

/* ---- the record stream (fs-record(5)) ---- */
#define FS_HDR_SIZE 40
#define FS_FRAME_MAX (16u << 20)	/* largest len accepted */
#define FS_FORMAT_VERSION 1

/* A frame header, little-endian, 8-byte aligned in every buffer. */
struct fs_hdr {
	uint32_t len;		/* bytes after this field; 4 + len = k * 8 */
	uint16_t type;		/* FS_T_* */
	uint8_t version;	/* FS_FORMAT_VERSION */
	uint8_t flags;		/* FS_F_* */
	int64_t ts_event;	/* ns since the epoch, UTC */
	int64_t ts_ingest;	/* wall time of entry, ns since the epoch */
	uint64_t key;		/* partitioning key */
	uint64_t seq;		/* per-source sequence number */
};

/* Record types.  Control types have FS_F_CONTROL set. */
enum {
	FS_T_TRADE = 1,
	FS_T_QUOTE = 2,
	FS_T_BOOK = 3,
	FS_T_ORDER = 4,
	FS_T_TXN = 5,
	FS_T_POSITION = 6,
	FS_T_BAR = 7,
	FS_T_FEATURES = 8,
	FS_T_SCORE = 9,
	FS_T_ALERT = 10,
	FS_T_AGG = 11,
	FS_T_VAR = 12,
	FS_T_JSON = 13,
	FS_T_WATERMARK = 0x100,
	FS_T_BARRIER = 0x101,
	FS_T_SCHEMA = 0x102,
	FS_T_COMMIT = 0x103,
};

/* Flags. */
#define FS_F_CONTROL	0x01	/* in-band control record */
#define FS_F_LATE	0x02	/* arrived after its window closed */
#define FS_F_ENCRYPTED	0x04	/* body is encrypted */
#define FS_F_PARTIAL	0x08	/* early (non-final) window result */
#define FS_F_UPDATE	0x10	/* re-emitted result after a late event */
#define FS_F_FINAL	0x20	/* BARRIER: the last; the source's input ended */
#define FS_F_REJECT	0x40	/* ORDER: rejected; struct fs_reject follows */
#define FS_F_ERASED	0x80	/* PII erased: its fields and key are zero */

/* Money and prices: int64 with 8 implied decimals. */
#define FS_FIX_SCALE 100000000LL

/* Body layouts of the fixed built-in types (offsets from body start). */
struct fs_trade {
	char symbol[12];
	char side;		/* 'B' or 'S' */
	uint8_t pad_[3];
	int64_t price;		/* fixed 8 */
	int64_t qty;
	uint64_t trade_id;
	char venue[8];
	uint64_t account;	/* a fill's own account; 0: a market trade */
	uint64_t order_id;	/* a fill's order (ClOrdID); 0: none */
};

struct fs_quote {
	char symbol[12];
	uint8_t pad_[4];
	int64_t bid;		/* fixed 8 */
	int64_t ask;		/* fixed 8 */
	int64_t bid_size;
	int64_t ask_size;
};

struct fs_book {
	char symbol[12];
	char action;		/* 'A' add, 'M' modify, 'D' delete */
	char side;		/* 'B' or 'S' */
	uint8_t pad_[2];
	uint64_t order_id;
	int64_t price;		/* fixed 8 */
	int64_t qty;
};

struct fs_order {
	char symbol[12];
	char side;		/* 'B' or 'S' */
	char ord_type;		/* 'L' limit, 'M' market */
	uint8_t pad_[2];
	uint64_t order_id;
	uint64_t account;
	int64_t price;		/* fixed 8; 0 for market */
	int64_t qty;
};

/*
 * A rejected order (fs-limit --rejects): the ORDER record with flag
 * FS_F_REJECT and, after its 48-byte body, why: the check that failed
 * ("max_qty", "price_band", ...), the order's value for it and the
 * limit, both with 8 implied decimals whatever they count (a quantity
 * of 100 is 10000000000), saturated to the int64 range.
 */
struct fs_reject {
	char reason[16];	/* NUL padded */
	int64_t value;		/* fixed 8 */
	int64_t limit;		/* fixed 8 */
};

/* The print layout of a rejected order: ORDER's fields, then reason. */
extern const struct fs_type fs_reject_type;

struct fs_txn {
	uint64_t account;
	uint64_t merchant;
	uint64_t device;
	int64_t amount;		/* fixed 8 */
	uint16_t mcc;		/* merchant category code */
	uint8_t channel;	/* FS_CH_* */
	uint8_t label;		/* 1 = fraud (synthetic or labelled data) */
	char country[4];	/* ISO 3166 alpha-2, NUL padded */
	char currency[4];	/* ISO 4217, NUL padded */
	uint8_t pad_[4];
};

enum { FS_CH_POS = 0, FS_CH_ONLINE = 1, FS_CH_ATM = 2, FS_CH_MOBILE = 3 };

struct fs_position {
	char symbol[12];
	uint8_t pad_[4];
	uint64_t portfolio;
	int64_t qty;
	int64_t price;		/* fixed 8: mark price */
	char currency[4];
	uint8_t pad2_[4];
};

struct fs_bar {
	char symbol[12];
	uint8_t pad_[4];
	int64_t window_start;	/* ns */
	int64_t window_end;	/* ns, exclusive */
	int64_t open, high, low, close;	/* fixed 8 */
	int64_t volume;
	int64_t vwap;		/* fixed 8 */
	uint64_t count;
};

#define FS_EXPLAIN_MAX 8
/*
 * The schema_id of fs-score-gpu --all-classes' class probabilities
 * (FEATURES class_0..class_K-1 after each SCORE).  A SCORE's explain[]
 * indexes the last FEATURES schema before it of any other id.
 */
#define FS_SCHEMA_ID_CLASSES 0xc1a55e5u

struct fs_score {
	double score;
	uint64_t model_id;
	uint8_t decision;	/* 1 = above threshold */
	uint8_t nexplain;	/* entries used in explain[] */
	uint16_t cls;		/* multi-class models: the class of score */
	uint8_t pad_[4];
	struct {
		uint32_t feature;	/* column index in the FEATURES schema */
		float contrib;		/* SHAP value */
	} explain[FS_EXPLAIN_MAX];
};

/*
 * ALERT: what raised it.  The header is the (last) event's; first_ts
 * and first_seq those of the first event it is about (fs-match: of
 * the match; fs-score-gpu: the event itself, as in the header).
 */
struct fs_alert {
	double score;
	uint64_t model_id;
	char reason[24];	/* short code, NUL padded */
	int64_t first_ts;	/* ts_event of the first event, ns */
	uint64_t first_seq;	/* its seq */
};

/*
 * VAR (fs-var(1)): one risk figure of a portfolio (header key = the
 * portfolio) at one confidence, or with symbol set the component of one
 * position in it (--components).
 */
struct fs_var {
	int64_t var;		/* fixed 8, positive loss */
	int64_t es;		/* fixed 8, expected shortfall */
	double confidence;	/* e.g. 0.99 */
	int64_t horizon;	/* ns: --horizon bars x the bar length */
	char method[16];	/* "hist", "param", "ewma", "cornish-fisher",
				   "mc" */
	uint64_t portfolio;
	char symbol[12];	/* a component's symbol; "" for the total */
	uint32_t observations;	/* returns in the window */
	uint32_t left_out;	/* positions without a price, not valued */
	uint32_t pad_;
	int64_t value;		/* fixed 8: value of the positions valued */
};

/*
 * Dynamic bodies.  FEATURES: struct fs_dyn then ncols float32.  AGG:
 * struct fs_dyn then ncols 8-byte slots (int64, fixed 8, timestamp or
 * double, as the SCHEMA says).  JSON: uint32 length then the text.
 */
struct fs_dyn {
	uint32_t ncols;
	uint32_t schema_id;	/* matches the SCHEMA record's id */
};

/* BARRIER body. */
struct fs_barrier {
	uint64_t checkpoint;
};

/*
 * COMMIT body: the marker a transactional Kafka sink writes to each
 * partition inside the transaction of a checkpoint (finstream(7)
 * Checkpoints), then sink, its transactional.id, NUL-terminated, then
 * the sources' positions as text lines "SOURCE PARTITION POSITION",
 * NUL-padded to 8.  Kafka inputs skip these.
 */
struct fs_commit {
	uint64_t checkpoint;
	uint64_t generation;	/* the sink instance's start, ns */
	uint64_t txn_seq;	/* its transactions, from 1 */
	char sink[];
};

/*
 * SCHEMA body: struct fs_schema_hdr, then ncols kind bytes (FS_K_*), then
 * ncols NUL-terminated names, padded to 8.
 */
struct fs_schema_hdr {
	uint16_t for_type;	/* FS_T_FEATURES or FS_T_AGG */
	uint16_t ncols;
	uint32_t schema_id;
};

/* Accessors. */
static inline void *fs_body(const struct fs_hdr *h)
{
	return (char *)h + FS_HDR_SIZE;
}
static inline size_t fs_body_len(const struct fs_hdr *h)
{
	return h->len + 4 - FS_HDR_SIZE;
}
static inline size_t fs_frame_size(const struct fs_hdr *h)
{
	return (size_t)h->len + 4;
}
static inline int fs_is_control(const struct fs_hdr *h)
{
	return h->flags & FS_F_CONTROL;
}
/* Frame size for a body of n bytes (padded to 8). */
static inline size_t fs_frame_size_for(size_t body)
{
	return FS_HDR_SIZE + ((body + 7) & ~(size_t)7);
}

/* ---- the schema table (libcommon/schema.c) ---- */
enum fs_kind {
	FS_K_I64 = 1,	/* int64 */
	FS_K_U64,	/* uint64 */
	FS_K_U32,
	FS_K_U16,
	FS_K_U8,
	FS_K_F64,	/* double */
	FS_K_F32,	/* float */
	FS_K_FIX,	/* int64, 8 implied decimals (money, prices) */
	FS_K_TS,	/* int64 ns since the epoch, printed ISO 8601 */
	FS_K_DUR,	/* int64 ns, a duration */
	FS_K_CODE,	/* char[size], NUL padded (symbol, country) */
	FS_K_CHAR,	/* one character ('B', 'S') */
	FS_K_ID,	/* uint64 id; strings hash with fs_hash64() */
	FS_K_BOOL,	/* uint8 0/1 */
	FS_K_EXPLAIN,	/* fs_score's explanation list */
	FS_K_TEXT,	/* JSON body: uint32 length, bytes */
};

/*
 * The value of an integer field of kind at p (any alignment): the
 * small unsigned kinds widened, the 8-byte ones (I64, U64, FIX, TS,
 * DUR, ID) as stored.
 */
static inline int64_t fs_load_int(const void *p, unsigned kind)
{
	switch (kind) {
	case FS_K_U8: case FS_K_BOOL: case FS_K_CHAR:
		return *(const uint8_t *)p;
	case FS_K_U16: {
		uint16_t v;

		memcpy(&v, p, 2);
		return v;
	}
	case FS_K_U32: {
		uint32_t v;

		memcpy(&v, p, 4);
		return v;
	}
	default: {
		int64_t v;

		memcpy(&v, p, 8);
		return v;
	}
	}
}

struct fs_field {
	const char *name;
	uint16_t off;		/* from the start of the frame */
	uint8_t kind;		/* enum fs_kind */
	uint8_t size;		/* bytes */
	uint8_t flags;		/* FS_FLD_* */
	const char *doc;
};

#define FS_FLD_HDR	0x01	/* a header field (ts_event, key, ...) */
#define FS_FLD_REQ	0x02	/* an input row must supply it */
#define FS_FLD_KEY	0x04	/* sets the record key when no key is given:
				 * the value for ids, fs_hash64 of the
				 * trimmed text for codes */
#define FS_FLD_PII	0x08	/* personal data: encrypted by libcommon/pii.c
				 * (fs-record(5) Encrypted records); the
				 * header key of a type with PII fields is
				 * PII too */

struct fs_type {
	uint16_t id;
	const char *name;	/* "txn", lower case */
	uint16_t body_size;	/* fixed body size; 0 = dynamic */
	uint16_t nfields;
	const struct fs_field *fields;	/* header fields first */
	const char *doc;
};

/* Every built-in type, control types included, ending with id 0. */
extern const struct fs_type fs_types[];

const struct fs_type *fs_type_by_id(unsigned id);
const struct fs_type *fs_type_by_name(const char *name);

/*
 * A dense index of type ids for per-type arrays: data types 1..15 at
 * 1..15, control types 0x100.. at 16..; -1 for any other id.
 */
#define FS_TYPE_SLOTS 32
static inline int fs_type_slot(unsigned type)
{
	if (type >= 1 && type < 16)
		return (int)type;
	if (type >= FS_T_WATERMARK && type < FS_T_WATERMARK + 16)
		return 16 + (int)(type - FS_T_WATERMARK);
	return -1;
}

static inline unsigned fs_slot_type(int slot)
{
	return slot < 16 ? (unsigned)slot :
	       FS_T_WATERMARK + (unsigned)(slot - 16);
}
/* Field of t named name, or NULL. */
const struct fs_field *fs_field_by_name(const struct fs_type *t,
					const char *name);
const char *fs_kind_name(unsigned kind);
/* Kind from its name ("i64", "fix", ...), or 0. */
unsigned fs_kind_by_name(const char *name);

/*
 * A decoded dynamic schema (from a SCHEMA record, or built by a tool).
 * Column offsets are from the frame start, so the fs_field helpers work
 * on dynamic records too.  The first FS_NHDR_FIELDS columns are the
 * header fields.
 */
#define FS_NHDR_FIELDS 4
#define FS_SCHEMA_MAXCOLS 1024
struct fs_schema {
	uint16_t for_type;
	uint32_t schema_id;
	uint16_t ncols;		/* body columns */
	uint16_t nfields;	/* header fields + body columns */
	struct fs_field *fields;
	char *names;		/* storage for the names */
};

/* Build a schema for a dynamic type from column names and kinds. */
struct fs_schema *fs_schema_new(unsigned for_type, uint32_t schema_id,
				unsigned ncols, const char *const *names,
				const uint8_t *kinds);
/*
 * Decode a SCHEMA record (fs-record(5)); on a malformed body NULL, with
 * what is wrong in why (for the caller's message, which says where).
 */
struct fs_schema *fs_schema_decode(const struct fs_hdr *h, char *why,
				   size_t whylen);
void fs_schema_free(struct fs_schema *s);
/* Encoded SCHEMA body length, and the encoder (body of that length). */
size_t fs_schema_body_len(const struct fs_schema *s);
void fs_schema_encode(const struct fs_schema *s, void *body);
struct fs_writer;
/* Write s as a SCHEMA control record (key = schema_id). */
void fs_write_schema(struct fs_writer *w, const struct fs_schema *s,
		     int64_t ts_event);
/* View a schema as a type (fields and name) for generic code. */
void fs_schema_as_type(const struct fs_schema *s, struct fs_type *t);

/* ---- endpoints, readers and writers (libcommon/io.c) ---- */
struct fs_reader;
struct fs_writer;

/*
 * Open an input endpoint: "-" (stdin), a path, or a kafka:// URI
 * (finstream(7) Endpoints; libcommon/kafka.c).  Dies (exit 1, 2 for a
 * malformed URI, 4 for brokers that cannot be reached) when it cannot
 * open.
 */
struct fs_reader *fs_reader_open(const char *uri);
/*
 * For tools that open an endpoint themselves and read something other
 * than frames (fs-ingest's text input): a "kafka://" URI, which such an
 * input cannot take, ends the tool with exit 4.
 */
void fs_check_scheme(const char *uri);
/* Wrap an open descriptor (not closed by fs_reader_close). */
struct fs_reader *fs_reader_fd(int fd, const char *name);

/*
 * The next frame, zero-copy: *h points into the reader's buffer and
 * stays valid until the next call.  Returns 1 for a frame, 0 at a clean
 * end of input, -1 on bad input (message already printed: what, frame
 * number, byte offset, endpoint name; the tool should flush what it has
 * and exit FS_EXIT_DATA), -2 when timeout_ms passed with no whole frame
 * (only fs_read_timed).  Before blocking for input the reader flushes
 * the writer given to fs_reader_flush_on_block(), so a pipeline never
 * sits on buffered output.
 */
int fs_read(struct fs_reader *r, const struct fs_hdr **h);
int fs_read_timed(struct fs_reader *r, const struct fs_hdr **h,
		  int timeout_ms);
void fs_reader_flush_on_block(struct fs_reader *r, struct fs_writer *w);
uint64_t fs_reader_frames(const struct fs_reader *r);
/*
 * The frame n places after the last one fs_read handed out (n >= 1),
 * when it is already whole in the reader's buffer, else NULL (never
 * for a Kafka input): a look ahead, for prefetching what it will need.
 * Its fields are unchecked; valid until the next fs_read.
 */
const struct fs_hdr *fs_reader_peek(const struct fs_reader *r, unsigned n);
/*
 * The descriptor to poll(2) for more input (a tool with two inputs,
 * fs-join), or -1 for a Kafka input; call it after fs_read_timed(r, h,
 * 0) returned -2 (nothing whole is buffered).
 */
int fs_reader_pollfd(const struct fs_reader *r);
uint64_t fs_reader_offset(const struct fs_reader *r);	/* bytes consumed */
const char *fs_reader_name(const struct fs_reader *r);
/* A Kafka input's number of topic partitions; 0 for other inputs. */
int32_t fs_reader_partitions(const struct fs_reader *r);
void fs_reader_close(struct fs_reader *r);

/*
 * Open an output endpoint: "-" (stdout) or a path, created, and
 * truncated when the first byte is written (or at close), so a run that
 * stops at start leaves an existing file as it was.  A path that is the
 * same file as an input or another output of this run is refused with
 * exit 2 (fs_claim_fd).  Every writer is flushed when the tool ends on a
 * failed write or read elsewhere (see fs_writer_flush).
 */
struct fs_writer *fs_writer_open(const char *uri);
/*
 * A side output (--late, --alerts): as fs_writer_open, but never the
 * pipeline's checkpointed sink; with --state it is written at least once
 * (a restart writes again what followed the last checkpoint).
 */
struct fs_writer *fs_writer_open_side(const char *uri);
/*
 * A side file (an output beside the main one, on descriptor fd of the
 * regular file path) under --state: cut now to the length the restored
 * checkpoint recorded for it (0 without one; a checkpoint that does not
 * name a non-empty one is exit 1), and before each BARRIER this process
 * writes, flush(arg) is called, the file synced and its length recorded
 * in that checkpoint.  Returns the length it was cut to, or -1 (and does
 * nothing) without --state or when path is not a regular file.  Side
 * outputs opened with fs_writer_open_side are registered already;
 * fs_side_file_close before closing fd.
 */
int64_t fs_side_file(int fd, const char *path, void (*flush)(void *),
		     void *arg);
void fs_side_file_close(int fd);
struct fs_writer *fs_writer_fd(int fd, const char *name);
/*
 * Reserve a frame with room for body_len body bytes in the output buffer.
 * len, type and version are set, flags and the padded body are zeroed;
 * the caller fills the rest.  The pointer is valid until the next
 * reserve, write or flush.
 */
struct fs_hdr *fs_write_reserve(struct fs_writer *w, unsigned type,
				size_t body_len);
/* Copy a whole frame. */
void fs_write_frame(struct fs_writer *w, const struct fs_hdr *h);
/* Copy a run of n bytes of whole frames built elsewhere (bulk output). */
void fs_write_frames(struct fs_writer *w, const void *p, size_t n);
/* Write raw bytes (text output of fs-cat). */
void fs_write_bytes(struct fs_writer *w, const void *p, size_t n);
/*
 * Flush buffered output.  Only a closed standard output (EPIPE on fd 1,
 * "| head") ends the tool quietly, exit 0.  Any other failed write (a
 * side output whose reader went away, a full disk) is an error, exit 1.
 * Either way every other writer is flushed first, so the records already
 * made reach the outputs that still work.
 */
void fs_writer_flush(struct fs_writer *w);
/*
 * Flush every open writer, best effort (failures are reported, not
 * fatal): for a tool about to die on an error of its own (a dead-letter
 * file it could not write), so the good records before it are not lost.
 */
void fs_writers_flush_all(void);
/* Flush, fsync if asked, close; dies on error like fs_writer_flush. */
void fs_writer_close(struct fs_writer *w);
uint64_t fs_writer_frames(const struct fs_writer *w);
uint64_t fs_writer_bytes(const struct fs_writer *w);
/*
 * Whether w is the pipeline's checkpointed file sink (--state, a
 * regular file): a BARRIER written to it commits and is not written.
 * A text sink (fs-cat) hands it the BARRIERs it reads.
 */
int fs_writer_is_sink(const struct fs_writer *w);
/*
 * The length a sink kept at open (committed by the restored
 * checkpoint): > 0 when output goes on after earlier output (fs-cat
 * prints no second header row then).
 */
int64_t fs_writer_resumed(const struct fs_writer *w);

/*
 * Flush every open writer, waiting for Kafka deliveries; 0 when all are
 * flushed, -1 when one has failed (a consumer then commits nothing).
 */
int fs_writers_sync(void);

/* ---- Kafka endpoints (libcommon/kafka.c), for io.c and fs_getopt ---- */
/*
 * The options every tool takes through fs_getopt: -X PROP=VALUE,
 * -F FILE, -e/--exit-at-end (where the tool has no -e of its own) and
 * --connect-timeout DURATION.  fs_kafka_opt handles option c; 0 when c
 * is not one of them.  fs_kafka_usage prints their --help lines.
 */
enum { FS_OPT_EXIT_AT_END = 0x7f00, FS_OPT_CONNECT_TIMEOUT };
int fs_kafka_opt(int c, const char *arg);
void fs_kafka_usage(FILE *f, int input);
#define FS_KAFKA_SYNOPSIS "[-X PROP=VALUE] [-F FILE] " \
	"[--connect-timeout DURATION]"
struct fs_kafka;
int fs_is_kafka(const char *uri);
struct fs_kafka *fs_kafka_reader(const char *uri);
/*
 * sink: the pipeline's main output; with --state it is then the
 * checkpointed, transactional sink (one transaction per checkpoint,
 * finstream(7) Checkpoints).
 */
struct fs_kafka *fs_kafka_writer(const char *uri, int sink);
/*
 * A checkpointed source (an input with --state): its name in the store
 * ("kafka:TOPIC"), or NULL; fs_kafka_put_positions records the next
 * offset of each assigned partition as its position for checkpoint id
 * (and, in a group, commits those of the latest complete checkpoint).
 */
const char *fs_kafka_source_name(const struct fs_kafka *k);
/* The number of partitions of an input's topic. */
int32_t fs_kafka_topic_partitions(const struct fs_kafka *k);
/*
 * The key group of a record key among n (n > 0): the partition of n
 * that Kafka's default partitioner puts the key in, murmur2 of its 8
 * bytes as finstream's producers send them (librdkafka's
 * rd_kafka_msg_partitioner_murmur2, as the Java client's
 * Utils.murmur2), so keyed state split by key group is split by
 * Kafka partition.
 */
int32_t fs_key_group(uint64_t key, int32_t n);
void fs_kafka_put_positions(struct fs_kafka *k, int64_t id);
/*
 * Whether a restarted source replays up to the cut of the checkpoint
 * begun before the failure; fs_kafka_read returns 3 at the cut, where
 * the source hands out that checkpoint's BARRIER.
 */
int fs_kafka_replaying(const struct fs_kafka *k);
/*
 * A transactional sink: its name in the store (its transactional.id),
 * or NULL; fs_kafka_commit commits the output up to BARRIER id (with a
 * COMMIT marker in each partition) and completes checkpoint id.
 */
const char *fs_kafka_sink_name(const struct fs_kafka *k);
void fs_kafka_commit(struct fs_kafka *k, int64_t id, int final);
/*
 * Bound an input that reads every partition itself (no group=;
 * fs-replay): with at_end, each partition ends at its high watermark
 * as of this call; each ends too once it has passed to_ns (INT64_MAX:
 * never): at a WATERMARK after to_ns, or, in a partition that has
 * carried no WATERMARK, at a data record after it (neither handed out
 * nor counted as read, so a restart from a checkpoint ends there
 * again).  fs_kafka_read returns 0 once every partition has ended.
 */
void fs_kafka_bound(struct fs_kafka *k, int at_end, int64_t to_ns);
/* As fs_read_timed; flush_w is flushed before the first wait. */
int fs_kafka_read(struct fs_kafka *k, const struct fs_hdr **h,
		  int timeout_ms, struct fs_writer *flush_w);
/* Produce n bytes of whole frames, one message each. */
void fs_kafka_produce(struct fs_kafka *k, const char *p, size_t n);
/*
 * Wait until every message is delivered; dies (exit 1) on a failure.
 * Producers still open when the tool exits are flushed then too.
 */
int fs_kafka_flush(struct fs_kafka *k);
void fs_kafka_close(struct fs_kafka *k);
/* The consumer lag lines of --metrics (metrics.c calls it). */
void fs_kafka_metrics(FILE *f);

/* ---- what endpoints share (libcommon/endpoint.c) ---- */
/*
 * Note that fd (named name) is open as an input (output = 0) or an
 * output.  When it is a regular file that this run already has open as
 * an output, or it is an output and the file is already open as an
 * input, dies with exit 2 naming both: reading and writing one file
 * would destroy the input.  Pipes, terminals and devices never clash.
 * Returns a claim to give back with fs_unclaim() when the file is
 * closed (its inode number may then be reused), or -1 when nothing was
 * noted.  fs_reader_open/fs_writer_open call it; tools call it for
 * files they open themselves (fs-ingest's input, dead-letter files).
 */
int fs_claim_fd(int fd, const char *name, int output);
void fs_unclaim(int claim);
/*
 * For an output a tool writes later or replaces (--metrics, a saved
 * reference, a dead-letter file): die with exit 2 now if path is an input
 * of this run (same file) or another output (same name, symlinks in its
 * folder resolved); then note its name as an output.
 */
void fs_check_output_path(const char *path);
/* The name check alone; fs_writer_open calls it for every path. */
void fs_note_output_path(const char *path);
/* main() hands over the read end of the pipe its signal handler writes. */
void fs_stop_pipe_set(int fd);
/*
 * Wait until fd is readable, for at most timeout_ms (-1: no limit).
 * Returns 1 readable (or hung up, or in error: read it to see), 0 on
 * timeout, -1 when SIGINT/SIGTERM has arrived (fs_stop), even one that
 * arrived just before the call.
 */
int fs_poll_in(int fd, int timeout_ms);
/* Sleep until fs_mono_ns() reaches mono_ns; -1 early on SIGINT/SIGTERM. */
int fs_sleep_until(int64_t mono_ns);

/* ---- numbers, money, time (libcommon/parse.c) ---- */
/*
 * Parse all of s[0..n) (n = (size_t)-1: up to NUL).  Each returns 0 on
 * success and -1 on malformed or out-of-range input, never touching
 * *out then.  No locale, no errno.
 */
int fs_parse_i64(const char *s, size_t n, int64_t min, int64_t max,
		 int64_t *out);
int fs_parse_u64(const char *s, size_t n, uint64_t *out);
int fs_parse_f64(const char *s, size_t n, double *out);
/* "-12.345" -> -1234500000; more than 8 decimals or overflow: -1. */
int fs_parse_fix(const char *s, size_t n, int64_t *out);
/* "1m30s", "250ms", "2h", "1d", "10us", "5ns", "1.5s"; "0" -> 0. */
int fs_parse_duration(const char *s, size_t n, int64_t *ns);
/*
 * A timestamp: ISO 8601 with a zone ("2026-11-24T03:52:25.5Z",
 * "+01:00", a space for T accepted; none: UTC), or epoch numbers: a
 * suffix s, ms, us or ns, or without suffix the unit by magnitude
 * (< 1e11 s, < 1e14 ms, < 1e17 us, else ns).
 */
int fs_parse_time(const char *s, size_t n, int64_t *ns);
/* A tz database zone (fs_tz_set), with a cache of the last wall hour. */
struct fs_tz {
	int set;
	int32_t off;
	int64_t hour;
};
/* What a timestamp leaves open, for fs_parse_time_as(). */
struct fs_time_rules {
	int64_t epoch_unit;	/* ns per unit of a bare epoch number; 0:
				   by magnitude */
	struct fs_tz *tz;	/* zone of zoneless ISO times; NULL: UTC */
};
int fs_parse_time_as(const char *s, size_t n,
		     const struct fs_time_rules *r, int64_t *ns);
/* Zoneless times are local time in zone name; -1 if no such zone. */
int fs_tz_set(struct fs_tz *tz, const char *name);

/*
 * Option values (libcommon/opt.c): the parsed value, or a usage error
 * naming the option (exit 2).  n as above; durations in ns.
 */
/*
 * getopt_long, with the one message every tool gives for an unknown
 * option or a missing argument (a usage error, exit 2); returns the
 * option's value, or -1 after the last option.
 */
struct option;
int fs_getopt(int argc, char **argv, const char *shortopts,
	      const struct option *longopts);
int64_t fs_opt_i64(const char *opt, const char *s, int64_t lo, int64_t hi);
double fs_opt_f64(const char *opt, const char *s, double lo, double hi);
int64_t fs_opt_duration(const char *opt, const char *s, size_t n,
			int64_t lo, int64_t hi);

/* Print into buf (at least FS_FMT_MAX bytes); return the length. */
#define FS_FMT_MAX 48
/* Exact: "-12.345", "100", "0.00000001". */
int fs_fmt_fix(char *buf, int64_t v);
/* "2026-11-24T03:52:25.123456789Z", trailing zero digits trimmed. */
int fs_fmt_time(char *buf, int64_t ns);
/* "1m30s", "250ms". */
int fs_fmt_duration(char *buf, int64_t ns);
int fs_fmt_i64(char *buf, int64_t v);
int fs_fmt_u64(char *buf, uint64_t v);
/*
 * Doubles and floats (libcommon/fmtfloat.c): "%.*g" at the fewest digits,
 * 15 (6) at least, that read back as the same number ("%.17g" ("%.9g")
 * at worst); whole numbers under 2^53 (10^6) as integers; "nan", "-inf".
 */
int fs_fmt_f64(char *buf, double v);
int fs_fmt_f32(char *buf, float v);

/*
 * The one documented 64-bit hash for string ids: FNV-1a 64.  fs_id()
 * maps an id's text to a u64: decimal digits as the number, anything
 * else as fs_hash64 of its bytes.
 */
uint64_t fs_hash64(const void *p, size_t n);
/* The value of hex digit c (0-9, a-f, A-F), or -1. */
int fs_hexval(int c);
/*
 * A table as text rows from SQLite, sqltab.c: src is
 * `sqlite:FILE?table=NAME`, opened read-only.  row(arg, 0, ...) gets
 * the column names, then row(arg, i, ...) row i (from 1), each value's
 * text (NULL as "") and its length.  Stops at the first non-zero row()
 * and returns it (row() says why itself); 0 at the end; -1 with why
 * (whyn bytes) when src is not of that form, the file cannot be opened
 * (*io set to 1), the table cannot be read or has over maxcols columns.
 */
int fs_sqlite_table(const char *src, unsigned maxcols,
		    int (*row)(void *arg, uint64_t line, unsigned nc,
			       const char *const *f, const size_t *fl),
		    void *arg, char *why, size_t whyn, int *io);
uint64_t fs_id(const char *s, size_t n);
/*
 * Table loaders' helpers (fs-join, fs-limit): s[0..*n) without blanks
 * (space, tab) at either end nor a CR at its end, *n updated; and
 * why[0..whyn) set to "UNIT LINE: " and the message, returning -1.
 */
const char *fs_trim_cell(const char *s, size_t *n);
int fs_why_at(char *why, size_t whyn, const char *unit, uint64_t line,
	      const char *fmt, va_list ap);

int64_t fs_now_ns(void);	/* CLOCK_REALTIME */
int64_t fs_mono_ns(void);	/* CLOCK_MONOTONIC */

/* ---- latency histogram (libcommon/hist.c) ---- */
/* Log-linear: 64 linear sub-buckets per power of two, 0 to ~2^44 ns. */
#define FS_HIST_SUB 64
#define FS_HIST_BUCKETS (FS_HIST_SUB * 40)
struct fs_hist {
	uint64_t count;
	int64_t min, max;
	double sum;
	uint64_t bucket[FS_HIST_BUCKETS];
};
void fs_hist_init(struct fs_hist *h);
void fs_hist_add(struct fs_hist *h, int64_t v);	/* v < 0 counts as 0 */
void fs_hist_merge(struct fs_hist *dst, const struct fs_hist *src);
/* Value at quantile q in [0,1], within 1/64 relative; 0 when empty. */
int64_t fs_hist_quantile(const struct fs_hist *h, double q);

/* ---- the checkpoint store (libcommon/ckpt.c, fs-checkpoint(5)) ---- */
/*
 * One SQLite file in WAL mode per pipeline (--state FILE), checkpoints
 * by --job NAME and a rising id n.  Sources put their input positions
 * for n, stateful stages their snapshots (opaque bytes, per partition),
 * sinks their committed lengths; the sink completes n.  Any process of
 * the pipeline may write at once (busy timeout 10 s).  Failures die
 * with exit 1 naming the store; a file that is not a store, exit 3.
 */
struct fs_ckpt;
struct fs_ckpt *fs_ckpt_open(const char *path, const char *job);
void fs_ckpt_close(struct fs_ckpt *c);
const char *fs_ckpt_job(const struct fs_ckpt *c);
/* The latest complete checkpoint of the job, 0 when there is none. */
int64_t fs_ckpt_latest(struct fs_ckpt *c);
/* Each put makes checkpoint id pending if it was not there yet. */
void fs_ckpt_put_position(struct fs_ckpt *c, int64_t id, const char *source,
			  int64_t partition, int64_t position);
/* The positions of n partitions of a source at once (one transaction). */
void fs_ckpt_put_positions(struct fs_ckpt *c, int64_t id, const char *source,
			   size_t n, const int64_t *partition,
			   const int64_t *position);
/*
 * Snapshot rows: partition >= 0 holds the keyed state of the keys in
 * that key group (a key's group is its Kafka partition, fs_key_group);
 * FS_CKPT_INSTANCE holds the state of the instance as a whole (its
 * watermark, counters, fs-score-gpu's drift), and a checkpoint merged
 * from several instances (fs-checkpoint import) has one such row per
 * instance, numbered down from it.  A stage that keeps its state in one
 * piece writes FS_CKPT_INSTANCE only.
 */
#define FS_CKPT_INSTANCE (-1)
void fs_ckpt_put_snapshot(struct fs_ckpt *c, int64_t id, const char *stage,
			  int64_t partition, const void *state, size_t n);
void fs_ckpt_put_sink(struct fs_ckpt *c, int64_t id, const char *sink,
		      int64_t length);
void fs_ckpt_complete(struct fs_ckpt *c, int64_t id);
/*
 * A stage that writes its snapshot for id after forwarding the barrier
 * (asynchronously) marks part pending first; fs_ckpt_part_done clears
 * it.  fs_ckpt_try_complete completes id when its sink recorded a
 * length >= 0 and no part is pending, and returns 1 when this call
 * completed it (only the sink calls it, fs_pipeline_complete).
 */
void fs_ckpt_put_pending(struct fs_ckpt *c, int64_t id, const char *part);
void fs_ckpt_part_done(struct fs_ckpt *c, int64_t id, const char *part);
int fs_ckpt_try_complete(struct fs_ckpt *c, int64_t id);
/* Gets: 0 and the value, or -1 (NULL) when checkpoint id has none. */
int fs_ckpt_get_position(struct fs_ckpt *c, int64_t id, const char *source,
			 int64_t partition, int64_t *position);
/*
 * The partitions of stage's snapshot rows in checkpoint id, instance
 * rows first (-1, -2, ...), then key groups ascending; a new array of
 * *n (free it), NULL when there are none.
 */
int64_t *fs_ckpt_snapshot_parts(struct fs_ckpt *c, int64_t id,
				const char *stage, size_t *n);
/* A new buffer of *n bytes (free it), or NULL. */
void *fs_ckpt_get_snapshot(struct fs_ckpt *c, int64_t id, const char *stage,
			   int64_t partition, size_t *n);
int fs_ckpt_get_sink(struct fs_ckpt *c, int64_t id, const char *sink,
		     int64_t *length);

/* What fs-checkpoint lists and shows. */
struct fs_ckpt_info {
	const char *job;
	int64_t id;
	int complete;
	int64_t started_ns, completed_ns;	/* completed: 0 if pending */
	int64_t npositions, nsnapshots, snapshot_bytes, nsinks;
};
struct fs_ckpt_part {
	const char *kind;	/* "position", "snapshot", "sink" */
	const char *name;	/* source, stage or sink */
	int64_t partition;
	int64_t value;		/* position, snapshot bytes, sink length */
};
/* fn for each checkpoint of the job (of every job with all_jobs). */
void fs_ckpt_list(struct fs_ckpt *c, int all_jobs,
		  void (*fn)(const struct fs_ckpt_info *, void *), void *arg);
void fs_ckpt_parts(struct fs_ckpt *c, int64_t id,
		   void (*fn)(const struct fs_ckpt_part *, void *), void *arg);
/*
 * Keep the keep (>= 1) newest complete checkpoints; drop older ones and
 * pending ones older than the newest complete.  Returns how many went.
 */
int64_t fs_ckpt_prune(struct fs_ckpt *c, int64_t keep);
/*
 * Make complete checkpoint id the latest (a savepoint): every newer one
 * of the job goes (*removed says how many).  -1 if id is not complete.
 */
int fs_ckpt_restore(struct fs_ckpt *c, int64_t id, int64_t *removed);
/*
 * Copy complete checkpoint id into a new store at path; -1 if none.
 * With a set of nset partitions (NULL: all), only the positions of those
 * partitions and the snapshot rows of those key groups go, with every
 * instance row: the state of the partitions another instance takes.
 */
int fs_ckpt_export(struct fs_ckpt *c, int64_t id, const char *path,
		   const int64_t *set, size_t nset);
/*
 * Merge the latest complete checkpoint of each of n exports into one
 * new complete checkpoint of c's job (rescaling: instances' partition
 * sets joined); its id, past each export's and the job's own.  Positions
 * and key groups are united (one held twice: exit 3), instance rows
 * renumbered -1, -2, ... in the order given, sinks united (one with two
 * lengths: exit 3).
 */
int64_t fs_ckpt_merge(struct fs_ckpt *c, const char *const *paths,
		      size_t n);
/* Copy every checkpoint of the store at path in; returns how many. */
int64_t fs_ckpt_import(struct fs_ckpt *c, const char *path);
/*
 * A stop request for c's job (a stage was asked to stop): the source
 * ends its input at its next barrier; a source clears it at its start.
 */
void fs_ckpt_request_stop(struct fs_ckpt *c);
int fs_ckpt_stop_requested(struct fs_ckpt *c);
void fs_ckpt_clear_stop(struct fs_ckpt *c);

/* ---- aligned checkpoints of a pipeline (libcommon/pipeline.c) ---- */
/*
 * The options every tool takes through fs_getopt (finstream(7)
 * Checkpoints): --state FILE (the job's checkpoint store), --job NAME
 * ("default"), --checkpoint-interval DURATION (a source's barrier
 * period, 1s) and --stage NAME (the name of this stage's snapshots;
 * the program name by default).  fs_pipeline_opt handles option c; 0
 * when c is not one of them.  fs_pipeline_usage prints their --help
 * lines.
 *
 * With --state, a reader opened on a regular file is the pipeline's
 * source: at start it seeks to the position recorded for the restored
 * checkpoint, and every --checkpoint-interval and at the end of its
 * input fs_read hands the tool a BARRIER n+1 frame (before the frame at
 * the recorded position).  A writer opened on a regular file is the
 * pipeline's sink: at open it truncates the file to the length
 * recorded for the restored checkpoint (0 without one); a BARRIER
 * written to it is not written: the file is flushed and synced, its
 * length recorded and checkpoint n completed.  Readers and writers on
 * pipes pass barriers through as frames.
 */
enum { FS_OPT_STATE = 0x7f10, FS_OPT_JOB, FS_OPT_CKPT_INTERVAL,
       FS_OPT_STAGE };
int fs_pipeline_opt(int c, const char *arg);
void fs_pipeline_usage(FILE *f);
#define FS_PIPELINE_SYNOPSIS "[--state FILE] [--job NAME] " \
	"[--stage NAME] [--checkpoint-interval DURATION]"
/*
 * The job's open store, or NULL without --state (opened at the first
 * call, or when a reader or writer opens).  Closed at exit.
 */
struct fs_ckpt *fs_pipeline_ckpt(void);
/*
 * The latest complete checkpoint when this process started (read once,
 * at the store's opening): 0 for none, a fresh start.  A stateful
 * stage restores its snapshot of this checkpoint.
 */
int64_t fs_pipeline_restored(void);
/*
 * The sink's last step of checkpoint id, after recording its length:
 * complete it, or once no stage's snapshot of it is pending (at a later
 * call; with final, the last barrier, it waits for them up to 60 s),
 * then prune the store to the 3 newest complete checkpoints
 * (fs-checkpoint export keeps one for longer).
 */
void fs_pipeline_complete(int64_t id, int final);
/*
 * This stage's instance snapshot of checkpoint id, a new buffer of *n
 * bytes (free it); none is exit 1.  A checkpoint merged from several
 * instances (fs-checkpoint import --job) is exit 3 when merged is NULL
 * (state in one piece does not merge), else a warning ending in merged
 * and the first instance's row.
 */
void *fs_pipeline_snapshot(int64_t id, size_t *n, const char *merged);
/* A snapshot of checkpoint id this stage cannot use: exit 3 saying why. */
_Noreturn void fs_pipeline_bad_snapshot(int64_t id, const char *why);
/* A pending snapshot of this stage for id is in the store now. */
void fs_pipeline_part_done(struct fs_ckpt *c, int64_t id);
/*
 * In a child process (fork) that writes a snapshot: a connection of its
 * own to the store (SQLite connections do not cross fork), which
 * fs_pipeline_ckpt returns from then on.
 */
struct fs_ckpt *fs_pipeline_ckpt_reopen(void);
/* The checkpoint number of a BARRIER frame (its u64 body). */
uint64_t fs_barrier_id(const struct fs_hdr *h);
/* The --stage name, or the program name ("fs-window"). */
const char *fs_stage_name(void);
/* The --checkpoint-interval in ns (io.c's source reader). */
int64_t fs_pipeline_interval(void);

/*
 * A source that makes its own records (fs-gen) or reads an input of its
 * own (fs-ingest) under --state (libcommon/source.c): NULL without
 * --state (then every call below does nothing).  name: the source in
 * the store; a restored checkpoint without a position for it is exit 1.
 * fs_source_resume: the position to go on from (that of the restored
 * checkpoint, 0 without one); the source skips to it.
 * fs_source_due(pos): whether BARRIER comes before the record at
 * position pos (it reads the clock: call it every block of records):
 * every --checkpoint-interval, one checkpoint at a time
 * (a due one waits while the one before is incomplete, at most 10
 * intervals), or, while a restart replays the checkpoint begun before
 * the failure, exactly at its recorded position (fs_source_room: how
 * many positions until then; the source must not step over it).
 * fs_source_barrier: record pos for the next checkpoint and write its
 * BARRIER to w (event time ts; FINAL at the end of the source, which a
 * SIGTERM also is).
 */
struct fs_source;
struct fs_source *fs_source_open(const char *name);
int64_t fs_source_resume(const struct fs_source *s);
/*
 * The checkpoint the next barrier starts: a source may record state of
 * its own for it beside its position (fs-ingest: positions of its name
 * under partitions 1, 2, ...) before fs_source_barrier.
 */
int64_t fs_source_next_id(const struct fs_source *s);
int64_t fs_source_room(const struct fs_source *s, int64_t pos);
int fs_source_due(struct fs_source *s, int64_t pos);
void fs_source_barrier(struct fs_source *s, struct fs_writer *w,
		       int64_t pos, int64_t ts, int final);
void fs_source_close(struct fs_source *s);
/* io.c's and source.c's rule for a due barrier: 1 to wait, 0 to go. */
int fs_source_postpone(int64_t next_id, int64_t due_ns,
		       int64_t *recheck_ns);

/* ---- metrics and progress (libcommon/metrics.c) ---- */
struct fs_metrics;
/*
 * Prometheus text exposition written to path once a second (temporary
 * name, then rename) from fs_metrics_tick(), and at fs_metrics_close().
 * path NULL gives NULL, and every call accepts NULL.
 */
struct fs_metrics *fs_metrics_open(const char *path);
void fs_metrics_counter(struct fs_metrics *m, const char *name,
			const char *help, const uint64_t *v);
void fs_metrics_gauge(struct fs_metrics *m, const char *name,
		      const char *help, const double *v);
/* A histogram exported as a summary (quantiles 0.5 0.9 0.99 0.999, in s). */
void fs_metrics_summary(struct fs_metrics *m, const char *name,
			const char *help, const struct fs_hist *h);
void fs_metrics_tick(struct fs_metrics *m);	/* cheap; call often */
void fs_metrics_close(struct fs_metrics *m);
/*
 * Write the open metrics file once more now, for a tool about to end on
 * a closed stdout or an error (fs_writers_flush_all calls it).
 */
void fs_metrics_last(void);
/*
 * For an input that waits (a Kafka consumer): write the open metrics
 * file if a second has passed, so gauges such as the consumer lag stay
 * current while no record arrives.
 */
void fs_metrics_idle(void);

/*
 * Progress line on stderr, only when stderr is a TTY: "\r" + the text
 * from fmt, at most 4 times a second; fs_progress_done() clears it.
 */
int fs_progress_due(void);	/* cheap; 1 when a redraw is due */
void fs_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fs_progress_done(void);

/* ---- small helpers ---- */
void *fs_xmalloc(size_t n);		/* dies on failure */
void *fs_xcalloc(size_t n, size_t size);
void *fs_xrealloc(void *p, size_t n);
char *fs_xstrdup(const char *s);
/*
 * Big zeroed state (hash tables, arenas), big.c. From FS_BIG_MIN bytes
 * up: its own mapping, in huge pages where allowed, populated in one
 * call, since in a VM each 4 KiB page fault costs ~4 us (16 ms for a
 * 4 MiB table) and each TLB miss on 4 KiB pages is dear. fs_big_want(n)
 * says a block of n bytes will be asked for soon: a background thread
 * maps and populates it, and an fs_big_alloc(n) after it takes it
 * (waiting only for what is left), so a growing table does not stall
 * the records behind it. One want, one block: say it once per need.
 * fs_big_ready(n) says, without waiting, whether such a block is made,
 * so a table can put off growing until it is. Free with fs_big_free and
 * the same size; that thread unmaps a big block.
 */
#define FS_BIG_MIN (1u << 20)
void *fs_big_alloc(size_t n);		/* zeroed; dies on failure */
void *fs_big_try(size_t n);		/* zeroed; NULL on failure */
void fs_big_want(size_t n);
void fs_big_unwant(size_t n);		/* that want is void after all */
int fs_big_ready(size_t n);		/* 1: a wanted n is made, no wait */
void fs_big_free(void *p, size_t n);

#include "banned.h"

#endif
