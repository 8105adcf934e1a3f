/*
 * input.c - fs-replay's record-file and Kafka sources (replay.h).
 *
 * A file source reads frames through libcommon's reader on a descriptor
 * of its own (fs_reader_fd), so the reader injects no barriers: under
 * --state fs-replay is the source (libcommon/source.c) and its position
 * is the byte offset of the next frame.  A Kafka source reads through
 * kafka.c, bounded (fs_kafka_bound): each partition ends at its high
 * watermark as of the start (unless --follow) and once it has passed
 * --to; under --state kafka.c records and restores the offset of each
 * partition.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replay.h"

struct file_src {
	struct rp_source s;
	struct fs_reader *r;
	int fd, own, claim;
	int64_t base;		/* byte offset the reader started at */
};

static int file_next(struct rp_source *s, const struct fs_hdr **h,
		     int timeout_ms)
{
	struct file_src *f = (struct file_src *)s;

	return fs_read_timed(f->r, h, timeout_ms);
}

static int64_t file_position(const struct rp_source *s)
{
	const struct file_src *f = (const struct file_src *)s;

	return f->base + (int64_t)fs_reader_offset(f->r);
}

static void file_resume(struct rp_source *s, int64_t pos)
{
	struct file_src *f = (struct file_src *)s;

	if (pos > 0 && lseek(f->fd, pos, SEEK_SET) != pos)
		fs_die_errno(FS_EXIT_FAIL, "cannot seek '%s' to byte %lld",
			     s->name, (long long)pos);
	f->base = pos;
}

static int file_seek_time(struct rp_source *s, int64_t ns)
{
	(void)s;
	(void)ns;
	return -1;	/* a plain file has no index: read from its start */
}

static void file_close(struct rp_source *s)
{
	struct file_src *f = (struct file_src *)s;

	fs_reader_close(f->r);
	fs_unclaim(f->claim);
	if (f->own)
		close(f->fd);
	free(f);
}

static const struct rp_source_ops file_ops = {
	.seek_time = file_seek_time,
	.resume = file_resume,
	.next = file_next,
	.position = file_position,
	.close = file_close,
};

struct rp_source *rp_file_open(const char *path, const struct rp_opts *o)
{
	struct file_src *f = fs_xcalloc(1, sizeof(*f));
	struct stat st;

	f->s.ops = &file_ops;
	f->s.size = -1;
	if (strcmp(path, "-") == 0) {
		f->fd = 0;
	} else {
		f->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (f->fd < 0 && errno == EINTR && fs_stop)
			exit(FS_EXIT_OK);	/* stopped at a FIFO's open */
		if (f->fd < 0)
			fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", path);
		f->own = 1;
	}
	if (fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode))
		f->s.size = st.st_size;
	if (o->checkpointed && f->s.size < 0)
		fs_usage_error("--state needs a regular input file: '%s' "
			       "cannot be read again from a checkpoint's "
			       "position", path);
	if (o->checkpointed) {
		char *real = realpath(path, NULL);

		if (!real)
			fs_die_errno(FS_EXIT_FAIL, "cannot resolve '%s'", path);
		snprintf(f->s.name, sizeof(f->s.name), "%s", real);
		free(real);
	} else {
		snprintf(f->s.name, sizeof(f->s.name), "%s", path);
	}
	f->claim = fs_claim_fd(f->fd, path, 0);
	f->r = fs_reader_fd(f->fd, path);
	fs_reader_flush_on_block(f->r, o->flush_w);
	return &f->s;
}

struct kafka_src {
	struct rp_source s;
	struct fs_kafka *k;
	struct fs_writer *flush_w;
	int64_t frames;
};

static int kafka_next(struct rp_source *s, const struct fs_hdr **h,
		      int timeout_ms)
{
	struct kafka_src *k = (struct kafka_src *)s;
	int rc = fs_kafka_read(k->k, h, timeout_ms, k->flush_w);

	k->frames += rc == 1;
	return rc;
}

/*
 * The frames handed out: kafka.c keeps the real positions (one offset
 * a partition, put_positions), so this one is a count for the store.
 */
static int64_t kafka_position(const struct rp_source *s)
{
	return ((const struct kafka_src *)s)->frames;
}

static void kafka_put(struct rp_source *s, int64_t id)
{
	fs_kafka_put_positions(((struct kafka_src *)s)->k, id);
}

static int kafka_replaying(const struct rp_source *s)
{
	return fs_kafka_replaying(((const struct kafka_src *)s)->k);
}

static int kafka_seek_time(struct rp_source *s, int64_t ns)
{
	(void)s;
	(void)ns;
	return 0;	/* done at open: offset=@TIME in the URI */
}

static void kafka_close(struct rp_source *s)
{
	fs_kafka_close(((struct kafka_src *)s)->k);
	free(s);
}

static const struct rp_source_ops kafka_ops = {
	.seek_time = kafka_seek_time,
	.next = kafka_next,
	.position = kafka_position,
	.put_positions = kafka_put,
	.replaying = kafka_replaying,
	.close = kafka_close,
};

struct rp_source *rp_kafka_open(const char *uri, const struct rp_opts *o)
{
	struct kafka_src *k = fs_xcalloc(1, sizeof(*k));
	char u[1024];

	k->s.ops = &kafka_ops;
	k->s.size = -1;
	k->flush_w = o->flush_w;
	if (strstr(uri, "group="))
		fs_usage_error("fs-replay reads every partition itself: "
			       "'%s' names a group", uri);
	/* --from: where the brokers' time index says, unless told */
	if (o->from != INT64_MIN && !strstr(uri, "offset="))
		snprintf(u, sizeof(u), "%s%coffset=@%lldns", uri,
			 strchr(uri, '?') ? '&' : '?', (long long)o->from);
	else
		snprintf(u, sizeof(u), "%s", uri);
	snprintf(k->s.name, sizeof(k->s.name), "%s", uri);
	k->k = fs_kafka_reader(u);
	fs_kafka_bound(k->k, !o->follow, o->to);
	return &k->s;
}

struct rp_source *rp_open(const char *uri, const struct rp_opts *o)
{
	return fs_is_kafka(uri) ? rp_kafka_open(uri, o) :
	       rp_file_open(uri, o);
}
