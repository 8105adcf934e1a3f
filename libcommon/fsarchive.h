/*
 * fsarchive.h - fs-archive's segments: format, writer and reader
 * (libcommon/fsarchive.c; fs-archive(1) FORMAT says it for users).
 *
 * An archive is a directory.  Each sealed segment is one file
 *
 *	seg-NNNNNNNN-TMIN-TMAX.tar.zst
 *
 * NNNNNNNN the segment number from 1 (8 digits or more), TMIN and TMAX
 * the smallest and largest ts_event of its records (ns since the epoch,
 * decimal, "n" for a minus sign), so a reader picks the segments of a
 * time range from the names alone.  The file is a tar (POSIX pax
 * restricted, as libarchive writes it), zstd-compressed at level 3 in
 * three zstd frames (the tar up to frames.fsr's data, the data, the
 * tar's end) that decoders read as one stream, with three members in
 * this order:
 *
 *	manifest.json	what struct fs_arc_manifest holds, as JSON
 *	index.bin	one struct fs_arc_index (80 bytes, little-endian) per
 *			FS_ARC_INDEX_EVERY records
 *	frames.fsr	the records, frames as fs-record(5) writes them
 *
 * The Merkle root is RFC 6962 MTH over the records, each leaf the whole
 * frame (its len field included); the chain: each manifest holds the
 * SHA-256 of the previous segment's manifest member (zeros for the
 * first).  The open segment is a plain frames file open-NNNNNNNN.fsr,
 * compressed as it grows into open-NNNNNNNN.zst.
 */
#ifndef FS_ARCHIVE_H
#define FS_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"

struct fs_hdr;

#define FS_ARC_VERSION 1
#define FS_ARC_INDEX_LOG 10	/* an index entry per 2^10 records */
#define FS_ARC_INDEX_EVERY (1u << FS_ARC_INDEX_LOG)
#define FS_ARC_INDEX_SIZE 80	/* bytes of an entry in index.bin */
#define FS_ARC_MANIFEST_MAX (1u << 20)

/* A segment's manifest (manifest.json), parsed. */
struct fs_arc_manifest {
	int version;			/* FS_ARC_VERSION */
	uint64_t segment;		/* its number, from 1 */
	uint64_t records;
	uint64_t frames_bytes;		/* size of frames.fsr */
	uint64_t index_entries;
	uint64_t first_seq, last_seq;	/* of the first and last record */
	uint64_t min_seq, max_seq;
	int64_t min_ts, max_ts;		/* ts_event, ns */
	uint64_t min_key, max_key;
	int64_t created;		/* wall time of sealing, ns */
	uint8_t root[FS_MT_HASH];	/* MTH of the records */
	uint8_t prev[FS_MT_HASH];	/* SHA-256 of the previous manifest */
	uint8_t index_sha[FS_MT_HASH];	/* SHA-256 of index.bin */
	uint8_t archive_id[16];		/* random, one per archive */
};

/*
 * An index entry: block k covers records [k * FS_ARC_INDEX_EVERY,
 * (k + 1) * FS_ARC_INDEX_EVERY) of the segment (the last one fewer).
 * ts_max and seq_max are the largest over every record from the
 * segment's first to the end of the block, so the first block with
 * ts_max >= T holds the first record at or after T, and every record
 * before it is earlier than T, whatever the disorder.
 */
struct fs_arc_index {
	uint64_t record;		/* number of its first record, from 0 */
	uint64_t offset;		/* its byte offset in frames.fsr */
	int64_t ts_first;		/* ts_event of its first record */
	uint64_t seq_first;		/* seq of its first record */
	int64_t ts_max;
	uint64_t seq_max;
	uint8_t root[FS_MT_HASH];	/* MTH of the block's records */
};

/* ---- the directory ---- */

/* A sealed segment, as its file name tells. */
struct fs_arc_seg {
	uint64_t no;
	int64_t min_ts, max_ts;
	char *path;			/* DIR/NAME */
	const char *name;		/* NAME, in path */
};

struct fs_arc_list {
	size_t n;
	struct fs_arc_seg *seg;		/* by number, ascending */
	size_t nopen;
	char **open;			/* open-*.fsr paths, ascending */
};

/*
 * List the sealed segments (and open files) of dir, without opening
 * them; 0, or -1 with why in err (the directory cannot be read).
 * Other files are left out.
 */
int fs_arc_list(const char *dir, struct fs_arc_list *l, char *err,
		size_t errlen);
void fs_arc_list_free(struct fs_arc_list *l);
/* Whether segment s may hold records with from <= ts_event < to. */
int fs_arc_overlaps(const struct fs_arc_seg *s, int64_t from, int64_t to);
/* The file name of a segment (into buf of at least 80 bytes). */
void fs_arc_seg_name(char *buf, size_t n, uint64_t no, int64_t min_ts,
		     int64_t max_ts);

/* ---- reading a sealed segment ---- */

struct fs_arc_reader;
/*
 * Open a sealed segment and read its manifest and index (the first two
 * tar members: a small read, the frames are not decompressed).  NULL
 * with why in err when the file cannot be opened or those members are
 * missing or malformed.
 */
struct fs_arc_reader *fs_arc_open(const char *path, char *err,
				  size_t errlen);
const struct fs_arc_manifest *fs_arc_manifest(const struct fs_arc_reader *r);
/* The manifest member's bytes, as hashed into the next one's prev. */
const char *fs_arc_manifest_raw(const struct fs_arc_reader *r, size_t *n);
const struct fs_arc_index *fs_arc_index(const struct fs_arc_reader *r,
					size_t *n);
/* SHA-256 of index.bin as read. */
void fs_arc_index_sha(const struct fs_arc_reader *r, uint8_t h[FS_MT_HASH]);
/*
 * Skip forward to the index block holding the first record with
 * ts_event >= ts (seq >= seq): the records before it are all earlier
 * (lower); those from it on are not filtered, the caller compares.
 * Skipping decompresses the bytes skipped but does not parse them.
 * Only forward: a block before the current position leaves it where it
 * is.  0, or -1 on a read error (fs_arc_error).
 */
int fs_arc_seek_time(struct fs_arc_reader *r, int64_t ts);
int fs_arc_seek_seq(struct fs_arc_reader *r, uint64_t seq);
/*
 * Skip forward to record rec (from 0; the number of records: the end)
 * through the index block that holds it, then frame by frame.  Only
 * forward.  0, or -1 (fs_arc_error): a read error, or no such record.
 */
int fs_arc_seek_record(struct fs_arc_reader *r, uint64_t rec);
/*
 * The next record, zero-copy and 8-aligned; *h is valid until the next
 * call.  1 a record, 0 the end of frames.fsr (after its last whole
 * frame, with nothing left over), -1 a read error or a bad frame: a
 * truncated, corrupt or short member, a len out of range
 * (fs_arc_error says what, with the record number and byte offset).
 */
int fs_arc_next(struct fs_arc_reader *r, const struct fs_hdr **h);
/*
 * After fs_arc_next returned 0: whether the tar ends cleanly there (0),
 * or -1 (fs_arc_error): a member follows, or the end is damaged.
 */
int fs_arc_end(struct fs_arc_reader *r);
/* Number (from 0) of the record the next fs_arc_next returns. */
uint64_t fs_arc_record(const struct fs_arc_reader *r);
/* Its byte offset in frames.fsr. */
uint64_t fs_arc_offset(const struct fs_arc_reader *r);
const char *fs_arc_error(const struct fs_arc_reader *r);
void fs_arc_close(struct fs_arc_reader *r);
/*
 * For a segment that fs_arc_open or fs_arc_next could not read: decode
 * it again with libzstd a little at a time (libarchive reads ahead, so
 * its error may come before any record) and walk the tar to frames.fsr.
 * Returns the number of whole records that decode, their bytes in
 * *offset; -1 when frames.fsr is never reached, -2 when all of it
 * decodes (the damage is elsewhere).
 */
int64_t fs_arc_readable(const char *path, uint64_t *offset);
/*
 * The records of a damaged segment that libarchive's read-ahead kept
 * from fs_arc_next: the bytes of frames.fsr from offset from (where
 * fs_arc_next stopped, fs_arc_offset) to the end of the last whole
 * record that libzstd decodes (fs_arc_readable), decoded again into
 * *buf (malloc'd, the caller frees; frames unchecked).  Their length,
 * 0 (*buf NULL) when there are none.
 */
int64_t fs_arc_salvage(const char *path, uint64_t from, void **buf);
/*
 * Decode an index entry from index.bin bytes p[0..80); and a manifest
 * from its JSON text: 0, or -1 with why in err.
 */
void fs_arc_index_decode(const void *p, struct fs_arc_index *e);
int fs_arc_manifest_parse(const char *json, size_t n,
			  struct fs_arc_manifest *m, char *err,
			  size_t errlen);

/* ---- writing ---- */

struct fs_arc_wopts {
	int64_t segment_ns;		/* roll by event time; 0: never */
	uint64_t segment_bytes;		/* roll by size; 0: never */
	int discard_open;		/* recovery discards, not seals */
	/*
	 * Called before frames go to the open file (each block, a big
	 * frame, a seal): what the frames need must be durable first
	 * (fs-archive --encrypt-pii: the new subjects' keys).  May be
	 * NULL; arg is passed to it.
	 */
	void (*before_write)(void *arg);
	void *arg;
};

struct fs_arc_writer;
/*
 * Open dir for appending (made if missing): read the newest segment's
 * manifest for the chain, remove temporary files of an interrupted
 * seal, and recover each open file left by a crash (a torn last frame
 * cut off; then sealed, or with discard_open removed), saying on
 * stderr how many records each held.  Dies (exit 1; 3 for a newest
 * manifest that cannot be read) on failure.
 */
struct fs_arc_writer *fs_arc_writer_open(const char *dir,
					 const struct fs_arc_wopts *o);
/*
 * Append one frame to the open segment, sealing it first when the
 * frame's time window is past the open segment's or the frame would
 * take it past segment_bytes.  Seals run in a thread beside the
 * appends, one at a time; a failed seal dies with exit 1 at the next
 * roll or at close, leaving its open file in place.
 */
void fs_arc_append(struct fs_arc_writer *w, const struct fs_hdr *h);
/* Seal the open segment (if it holds records), wait, free w. */
void fs_arc_writer_close(struct fs_arc_writer *w);
/* Records and segments sealed or appended so far (progress line). */
uint64_t fs_arc_writer_records(const struct fs_arc_writer *w);
uint64_t fs_arc_writer_sealed(const struct fs_arc_writer *w);

#endif
