/*
 * replay.h - fs-replay's inputs behind one small interface.
 *
 * replay.c reads frames through struct rp_source and knows nothing of
 * where they come from: a record file or stream (input.c, rp_file_open),
 * a Kafka topic (input.c, rp_kafka_open), an fs-archive directory
 * (archive_src.c, rp_archive_open, for --dir).  A source hands out frames as
 * recorded, filters nothing, and makes no barriers of its own:
 * replay.c filters, paces and checkpoints (libcommon/source.c).
 */
#ifndef REPLAY_H
#define REPLAY_H

#include "fs.h"

struct rp_source;

struct rp_source_ops {
	/*
	 * Go to the first frame that may hold ts_event >= ns (a hint:
	 * replay.c still filters what comes before it).  0 when done,
	 * -1 when the source cannot seek by time (then it reads from its
	 * start).  Called once, before the first next(), on a fresh start
	 * only (not after resume()).
	 */
	int (*seek_time)(struct rp_source *s, int64_t ns);
	/*
	 * Go on from pos, a value position() returned in an earlier run
	 * (the restored checkpoint's).  NULL when the source resumes by
	 * itself (Kafka: kafka.c seeks each partition from the store).
	 */
	void (*resume)(struct rp_source *s, int64_t pos);
	/*
	 * The next frame: 1 with *h (valid until the next call), 0 at the
	 * end (or SIGINT/SIGTERM), -1 bad input (said already: what,
	 * where; exit 3), -2 when timeout_ms passed with none, 3 at the
	 * cut of a checkpoint begun before a failure (replaying(): the
	 * barrier goes out now).
	 */
	int (*next)(struct rp_source *s, const struct fs_hdr **h,
		    int timeout_ms);
	/* The position of the next frame, for the store (bytes, index). */
	int64_t (*position)(const struct rp_source *s);
	/*
	 * Record positions of the source's own for checkpoint id beside
	 * position() (Kafka: the offset of each partition); may be NULL.
	 */
	void (*put_positions)(struct rp_source *s, int64_t id);
	/*
	 * Where the frame next() returned last is, for messages ("segment
	 * 'P' record N"); may be NULL (replay.c says "frame N").
	 */
	void (*where)(const struct rp_source *s, char *buf, size_t n);
	/* Whether next() decides where a replayed checkpoint's cut is. */
	int (*replaying)(const struct rp_source *s);
	void (*close)(struct rp_source *s);
};

/*
 * What every source has; a source's own struct starts with it.  name:
 * for messages and the store (a canonical path, a URI); size: bytes in
 * all, for the ETA of the progress line, or -1.
 */
struct rp_source {
	const struct rp_source_ops *ops;
	char name[512];
	int64_t size;
};

/* What a source may need of the command line. */
struct rp_opts {
	int64_t from, to;	/* event-time range; INT64_MIN/MAX: open */
	int follow;		/* Kafka: wait for more at the end */
	int checkpointed;	/* --state given */
	struct fs_writer *flush_w;	/* flushed before an input blocks */
};

/* The input of -i URI: rp_kafka_open for kafka://, else rp_file_open. */
struct rp_source *rp_open(const char *uri, const struct rp_opts *o);
/* -i - or a path (a regular file under --state; a pipe is exit 2). */
struct rp_source *rp_file_open(const char *path, const struct rp_opts *o);
/* -i kafka://...: --from becomes offset=@TIME; bounded by --to. */
struct rp_source *rp_kafka_open(const char *uri, const struct rp_opts *o);

/*
 * --dir DIR: the sealed segments of an fs-archive directory that may
 * hold [from, to], in segment order; the open one left out (a note on
 * stderr).  Position: segment number << 40 | record number in it.
 */
struct rp_source *rp_archive_open(const char *dir, const struct rp_opts *o);

#endif
