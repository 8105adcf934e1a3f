/*
 * io.c - endpoints, and the buffered frame reader and writer.
 *
 * The reader hands out frames in place in its buffer (zero copy); the
 * buffer starts 8-byte aligned and every frame is a multiple of 8 bytes,
 * so a frame can be read through struct pointers.  Every frame is
 * checked before it is handed out: its length (header size to 16 MiB, a
 * multiple of 8 in total) and its version.  Errors say where: frame
 * number and byte offset in the endpoint.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

#define RBUF_INIT (1u << 20)
#define WBUF_SIZE (1u << 20)
#define WRITERS_MAX 16
#define CLOCK_EVERY 64		/* a source reads the clock every 64 frames */

struct fs_reader {
	int fd;
	int own_fd;
	int claim;		/* fs_claim_fd's, given back at close */
	int failed;		/* a data error was reported */
	char *buf;
	size_t cap, pos, end;
	uint64_t base;		/* stream offset of buf[0] */
	uint64_t frames;
	struct fs_writer *flush_w;
	struct fs_kafka *k;	/* a kafka:// input, or NULL */
	/* A checkpointed file source (finstream(7) Checkpoints): */
	char *src;		/* its name in the store, or NULL */
	int64_t next_id;	/* the next barrier's checkpoint number */
	int64_t due_ns;		/* fs_mono_ns() when the next one is due */
	int64_t recheck_ns;	/* a postponed one looks again then */
	int64_t replay_to;	/* a file source's cut to replay to, or -1 */
	int bar_out;		/* a barrier was the last thing handed out */
	int64_t last_ts;	/* ts_event of the last frame handed out */
	int ended;		/* the final barrier went out */
	uint64_t bar[6];	/* the barrier frame handed out */
	char name[256];
};

struct fs_writer {
	int fd;
	int own_fd;
	int claim;		/* fs_claim_fd's, given back at close */
	int tty;
	int trunc;		/* a regular file to truncate at first write */
	int dead;		/* a write failed: never write again */
	struct fs_kafka *k;	/* a kafka:// output, or NULL */
	char *sink;		/* a checkpointed file sink's name, or NULL */
	char *side;		/* a checkpointed side file's name, or NULL */
	int64_t resumed;	/* its committed length at open */
	int bar_pending;	/* a reserved BARRIER waits in bar */
	uint64_t bar[6];	/* a BARRIER reserved on a sink */
	char *buf;
	size_t cap, used;
	uint64_t frames, bytes;
	char name[256];
};

/* The open writers, flushed when the tool ends on an error elsewhere. */
static struct fs_writer *writers[WRITERS_MAX];
static int exiting;		/* flushing them on the way out */

static void *aligned_buf(size_t n)
{
	void *p;

	if (posix_memalign(&p, 64, n) != 0)
		fs_die(FS_EXIT_FAIL, "out of memory (%zu bytes)", n);
	return p;
}

void fs_check_scheme(const char *uri)
{
	if (fs_is_kafka(uri))
		fs_die(FS_EXIT_UNAVAIL, "cannot open '%s': %s reads text "
		       "from a pipe or a file, not from Kafka (kafka:// takes "
		       "records: use it with -o)", uri, fs_progname);
}

/*
 * A bigger pipe buffer (1 MiB, the default unprivileged limit) means
 * fewer, larger reads and writes and fewer context switches between the
 * stages of a pipeline; best effort, and only for pipes.
 */
static void grow_pipe(int fd)
{
	int cur = fcntl(fd, F_GETPIPE_SZ);

	if (cur > 0 && cur < (1 << 20))
		(void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

struct fs_reader *fs_reader_fd(int fd, const char *name)
{
	struct fs_reader *r = fs_xcalloc(1, sizeof(*r));

	r->fd = fd;
	r->claim = -1;
	grow_pipe(fd);
	r->cap = RBUF_INIT;
	r->buf = aligned_buf(r->cap);
	snprintf(r->name, sizeof(r->name), "%s", name);
	return r;
}

/*
 * The canonical name of the regular file open on fd, for the store: a
 * new string, or NULL when fd is not a regular file or there is no
 * store (no --state).
 */
static char *ckpt_name(int fd, const char *path)
{
	struct stat st;
	char *real;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    !fs_pipeline_ckpt())
		return NULL;
	real = realpath(path, NULL);
	if (!real)
		fs_die_errno(FS_EXIT_FAIL, "cannot resolve '%s'", path);
	return real;
}

/*
 * A reader on a regular file with --state is the pipeline's source:
 * seek to the position of the restored checkpoint, number barriers
 * from it.
 */
static volatile sig_atomic_t src_stop;	/* SIGINT/SIGTERM at a source */

static void on_src_stop(int sig)
{
	(void)sig;
	src_stop = 1;
}

/*
 * SIGINT/SIGTERM end a source's input at the next frame, with a final
 * checkpoint that the tool's output carries on to the sink; the tool
 * itself ends as at the end of its input.  So does a stop request that
 * another stage recorded in the store (seen at each barrier); a start
 * clears an old one.
 */
static void source_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_src_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fs_ckpt_clear_stop(fs_pipeline_ckpt());
}

/*
 * A reader that is not the source, under --state: the tool is a stage
 * between, and drains on SIGINT/SIGTERM (fs_stop_asked, main.c): it
 * records a stop request for the source and goes on to the final
 * barrier.  A second signal stops it at once.
 */
static void stage_signals(void)
{
	if (fs_pipeline_ckpt())
		fs_stop_defer = 1;
}

/* The stop asked of a draining stage, recorded once for the source. */
static void stop_asked(void)
{
	static int done;

	if (fs_stop_asked && !done) {
		done = 1;
		fs_ckpt_request_stop(fs_pipeline_ckpt());
		fs_stop_defer = 0;	/* the next signal stops at once */
	}
}

static void source_open(struct fs_reader *r)
{
	int64_t n, pos = 0;

	if (!(r->src = ckpt_name(r->fd, r->name))) {
		stage_signals();
		return;
	}
	source_signals();
	n = fs_pipeline_restored();
	if (n > 0 && fs_ckpt_get_position(fs_pipeline_ckpt(), n, r->src, 0,
					  &pos) < 0)
		fs_die(FS_EXIT_FAIL, "cannot resume '%s': checkpoint %lld of "
		       "job '%s' has no position for it (another input?)",
		       r->name, (long long)n, fs_ckpt_job(fs_pipeline_ckpt()));
	if (pos > 0 && lseek(r->fd, pos, SEEK_SET) != pos)
		fs_die_errno(FS_EXIT_FAIL, "cannot seek '%s' to byte %lld",
			     r->name, (long long)pos);
	r->base = (uint64_t)pos;
	r->next_id = n + 1;
	r->due_ns = fs_mono_ns() + fs_pipeline_interval();
	/*
	 * Checkpoint n + 1 was begun before the failure: its barrier goes
	 * out again at the same byte, so the epoch replayed is the same one
	 * (what a Kafka sink may have committed already, kafka.c).
	 */
	if (fs_ckpt_get_position(fs_pipeline_ckpt(), n + 1, r->src, 0,
				 &r->replay_to) < 0 || r->replay_to < pos)
		r->replay_to = -1;
}

struct fs_reader *fs_reader_open(const char *uri)
{
	struct fs_reader *r;
	int fd;

	if (strcmp(uri, "-") == 0) {
		int c = fs_claim_fd(0, "-", 0);

		r = fs_reader_fd(0, "-");
		r->claim = c;
		stage_signals();
		return r;
	}
	if (fs_is_kafka(uri)) {
		r = fs_xcalloc(1, sizeof(*r));
		r->fd = -1;
		r->claim = -1;
		r->k = fs_kafka_reader(uri);
		snprintf(r->name, sizeof(r->name), "%s", uri);
		if (fs_kafka_source_name(r->k)) {	/* with --state */
			r->src = fs_xstrdup(fs_kafka_source_name(r->k));
			r->next_id = fs_pipeline_restored() + 1;
			r->due_ns = fs_mono_ns() + fs_pipeline_interval();
			source_signals();
		}
		return r;
	}
	fd = open(uri, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == EINTR && fs_stop)
		exit(FS_EXIT_OK);	/* stopped while a FIFO waited */
	if (fd < 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", uri);
	r = fs_reader_fd(fd, uri);
	r->claim = fs_claim_fd(fd, uri, 0);
	r->own_fd = 1;
	source_open(r);
	return r;
}

void fs_reader_flush_on_block(struct fs_reader *r, struct fs_writer *w)
{
	r->flush_w = w;
}

int fs_reader_pollfd(const struct fs_reader *r)
{
	return r->k ? -1 : r->fd;
}

uint64_t fs_reader_frames(const struct fs_reader *r)
{
	return r->frames;
}

const struct fs_hdr *fs_reader_peek(const struct fs_reader *r, unsigned n)
{
	size_t at = r->pos;

	if (r->k)
		return NULL;
	for (;;) {
		uint32_t len;

		if (r->end - at < FS_HDR_SIZE)
			return NULL;
		memcpy(&len, r->buf + at, 4);
		if (len < FS_HDR_SIZE - 4 || r->end - at < (size_t)len + 4)
			return NULL;
		if (--n == 0)
			return (const struct fs_hdr *)(r->buf + at);
		at += (size_t)len + 4;
	}
}

uint64_t fs_reader_offset(const struct fs_reader *r)
{
	return r->base + r->pos;
}

const char *fs_reader_name(const struct fs_reader *r)
{
	return r->name;
}

int32_t fs_reader_partitions(const struct fs_reader *r)
{
	return r->k ? fs_kafka_topic_partitions(r->k) : 0;
}

void fs_reader_close(struct fs_reader *r)
{
	if (!r)
		return;
	fs_unclaim(r->claim);
	fs_kafka_close(r->k);
	if (r->own_fd)
		close(r->fd);
	free(r->src);
	free(r->buf);
	free(r);
}

/* Report a data error at the current frame; always returns -1. */
static int bad_frame(struct fs_reader *r, const char *what)
{
	r->failed = 1;
	fs_warn("bad input '%s': %s (frame %llu, byte offset %llu)",
		r->name, what, (unsigned long long)r->frames + 1,
		(unsigned long long)(r->base + r->pos));
	return -1;
}

/*
 * Check the frame header at buf[pos] (at least 4 bytes there).  Returns
 * the frame size, or 0 after reporting a bad length.
 */
static size_t frame_size(struct fs_reader *r)
{
	uint32_t len;
	char msg[128];

	memcpy(&len, r->buf + r->pos, 4);
	if (len < FS_HDR_SIZE - 4 || len > FS_FRAME_MAX ||
	    (len + 4) % 8 != 0) {
		snprintf(msg, sizeof(msg), "frame length %u is %s", len,
			 len > FS_FRAME_MAX ? "over the 16 MiB limit" :
			 len < FS_HDR_SIZE - 4 ? "under the header size" :
			 "not a multiple of 8 with its length field");
		bad_frame(r, msg);
		return 0;
	}
	return (size_t)len + 4;
}

/*
 * Make room for need bytes from pos, then read once.  Returns bytes
 * read (> 0), 0 at end of input, -1 on a read error, -2 on timeout.
 */
static ssize_t fill(struct fs_reader *r, size_t need, int timeout_ms)
{
	ssize_t n;
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };

	stop_asked();
	if (fs_stop)
		return 0;
	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->end - r->pos);
		r->base += r->pos;
		r->end -= r->pos;
		r->pos = 0;
	}
	if (need > r->cap) {
		char *nb = aligned_buf(need);

		memcpy(nb, r->buf, r->end);
		free(r->buf);
		r->buf = nb;
		r->cap = need;
	}
	/* Flush before blocking; wait for input or a stop signal. */
	if (poll(&pfd, 1, 0) == 0) {
		int p;

		if (r->flush_w)
			fs_writer_flush(r->flush_w);
		p = fs_poll_in(r->fd, timeout_ms);
		if (p < 0)
			return 0;
		if (p == 0)
			return -2;
	}
	do {
		n = read(r->fd, r->buf + r->end, r->cap - r->end);
	} while (n < 0 && errno == EINTR && !fs_stop);
	if (n < 0) {
		int e = errno;

		if (e == EINTR)
			return 0;
		/* An endpoint that cannot be read is a failure, not bad data */
		fs_writers_flush_all();
		errno = e;
		fs_die_errno(FS_EXIT_FAIL, "cannot read '%s' (byte offset "
			     "%llu)", r->name,
			     (unsigned long long)(r->base + r->end));
	}
	r->end += n;
	return n;
}

/* At end of input with a partial frame buffered: report it. */
static int truncated(struct fs_reader *r, size_t size)
{
	char msg[128];
	size_t have = r->end - r->pos;

	if (have < 4)
		snprintf(msg, sizeof(msg), "truncated frame: %zu of 4 length "
			 "bytes at end of input", have);
	else
		snprintf(msg, sizeof(msg), "truncated frame: %zu of %zu bytes "
			 "at end of input", have, size);
	return bad_frame(r, msg);
}

/*
 * A source's BARRIER for checkpoint r->next_id, after recording the
 * offset of the next frame as its position: the frame at *h.
 */
static int barrier(struct fs_reader *r, const struct fs_hdr **h)
{
	struct fs_hdr *b = (struct fs_hdr *)r->bar;
	uint64_t id = (uint64_t)r->next_id++;

	if (r->k)
		fs_kafka_put_positions(r->k, (int64_t)id);
	else
		fs_ckpt_put_position(fs_pipeline_ckpt(), (int64_t)id, r->src,
				     0, (int64_t)(r->base + r->pos));
	if (!r->ended && fs_ckpt_stop_requested(fs_pipeline_ckpt()))
		src_stop = 1;	/* a stage asked: the next is the last */
	memset(r->bar, 0, sizeof(r->bar));
	b->len = sizeof(r->bar) - 4;
	b->type = FS_T_BARRIER;
	b->version = FS_FORMAT_VERSION;
	b->flags = FS_F_CONTROL | (r->ended ? FS_F_FINAL : 0);
	b->ts_event = r->last_ts;
	b->seq = id;
	memcpy(b + 1, &id, 8);
	r->due_ns = fs_mono_ns() + fs_pipeline_interval();
	*h = b;
	return 1;
}

static int read_frame(struct fs_reader *r, const struct fs_hdr **h,
		      int timeout_ms);

/*
 * One checkpoint at a time, as Flink's coordinator does by default
 * (max concurrent checkpoints 1): a barrier that is due waits, 10 ms at
 * a time, while the one before is not complete (its snapshots are
 * still being written), for at most 10 intervals (a pipeline whose
 * sink never completes one still gets barriers).  1: wait.
 */
static int postpone(struct fs_reader *r)
{
	return !r->ended && fs_source_postpone(r->next_id, r->due_ns,
					       &r->recheck_ns);
}

/*
 * A checkpointed Kafka source waits for records no longer than until
 * its next barrier is due: a quiet topic still checkpoints.  As
 * read_frame, or 3 when the barrier is due first.
 */
static int kafka_source_read(struct fs_reader *r, const struct fs_hdr **h,
			     int timeout_ms)
{
	int64_t end = timeout_ms < 0 ? INT64_MAX :
		      fs_mono_ns() + (int64_t)timeout_ms * 1000000;

	for (;;) {
		int64_t due = r->due_ns > r->recheck_ns ? r->due_ns :
			      r->recheck_ns;
		int64_t now = fs_mono_ns(), until = due < end ? due : end;
		int64_t ms = until > now ? (until - now + 999999) / 1000000
					 : 0;
		int rc;

		if (fs_kafka_replaying(r->k)) {	/* the cut decides */
			ms = end == INT64_MAX ? -1 : end > now ?
			     (end - now + 999999) / 1000000 : 0;
		} else if (now >= r->due_ns && !r->failed && !postpone(r)) {
			r->bar_out = 1;
			return 3;
		}
		rc = read_frame(r, h, ms > INT32_MAX ? INT32_MAX : (int)ms);
		if (rc == 3)
			r->bar_out = 1;
		if (rc != -2 || fs_mono_ns() >= end)
			return rc;
	}
}

int fs_read_timed(struct fs_reader *r, const struct fs_hdr **h,
		  int timeout_ms)
{
	int rc;

	if (!r->src)
		return read_frame(r, h, timeout_ms);
	if (r->ended)
		return 0;
	if (r->bar_out) {
		/*
		 * The interval runs from when the tool is done with the
		 * last barrier (its snapshot), and a frame comes between
		 * two barriers: a snapshot slower than the interval does
		 * not make the next barrier due at once, for ever.
		 */
		r->bar_out = 0;
		r->due_ns = fs_mono_ns() + fs_pipeline_interval();
	} else if (r->replay_to >= 0 && !r->k) {
		/* the cut of the checkpoint begun before the failure */
		if (r->base + r->pos >= (uint64_t)r->replay_to) {
			r->replay_to = -1;
			r->bar_out = 1;
			return barrier(r, h);
		}
	} else if ((r->frames % CLOCK_EVERY) == 0 &&
		   !(r->k && fs_kafka_replaying(r->k)) &&
		   fs_mono_ns() >= r->due_ns && !r->failed && !postpone(r)) {
		r->bar_out = 1;
		return barrier(r, h);
	}
	if (src_stop)
		rc = 0;
	else if (r->k)
		rc = kafka_source_read(r, h, timeout_ms);
	else
		rc = read_frame(r, h, timeout_ms);
	if (rc == 3)
		return barrier(r, h);
	if (rc == 1)
		r->last_ts = (*h)->ts_event;
	if (rc == 0) {		/* the end, or SIGINT/SIGTERM: commit all */
		r->ended = 1;
		return barrier(r, h);
	}
	return rc;
}

/* The next frame of the endpoint itself (fs_read_timed's contract). */
static int read_frame(struct fs_reader *r, const struct fs_hdr **h,
		      int timeout_ms)
{
	size_t size = 0;
	const struct fs_hdr *f;

	if (r->failed)
		return -1;
	if (r->k) {
		int rc = fs_kafka_read(r->k, h, timeout_ms, r->flush_w);

		if (rc == 1) {
			r->frames++;
			r->base += fs_frame_size(*h);
		} else if (rc == -1) {
			r->failed = 1;
		}
		return rc;
	}
	for (;;) {
		size_t have = r->end - r->pos;

		if (have >= 4 && !size && !(size = frame_size(r)))
			return -1;
		if (size && have >= size)
			break;
		ssize_t n = fill(r, size ? size : 8, timeout_ms);
		if (n == -2)
			return -2;
		if (n < 0)
			return -1;
		if (n == 0) {
			if (r->end == r->pos || fs_stop)
				return 0;
			return truncated(r, size);
		}
	}
	f = (const struct fs_hdr *)(r->buf + r->pos);
	if (f->version != FS_FORMAT_VERSION) {
		char msg[64];

		snprintf(msg, sizeof(msg), "unknown format version %u",
			 f->version);
		return bad_frame(r, msg);
	}
	r->pos += size;
	r->frames++;
	*h = f;
	return 1;
}

int fs_read(struct fs_reader *r, const struct fs_hdr **h)
{
	return fs_read_timed(r, h, -1);
}

struct fs_writer *fs_writer_fd(int fd, const char *name)
{
	struct fs_writer *w = fs_xcalloc(1, sizeof(*w));

	w->fd = fd;
	w->claim = -1;
	grow_pipe(fd);
	w->cap = WBUF_SIZE;
	w->buf = aligned_buf(w->cap);
	w->tty = isatty(fd);
	snprintf(w->name, sizeof(w->name), "%s", name);
	for (int i = 0; i < WRITERS_MAX; i++)
		if (!writers[i]) {
			writers[i] = w;
			break;
		}
	return w;
}

static void drain(struct fs_writer *w);
static void write_failed(struct fs_writer *w, int e);

/*
 * A writer on a regular file (of size bytes) with --state is the
 * pipeline's sink: what follows the length committed by the restored
 * checkpoint (all of it without one) is cut now, and output goes on
 * from there.  A checkpoint without this sink is an error unless the
 * file is empty (a new instance's output after a rescale).  Without --state, nothing changes (truncated at the first
 * write, as always).
 */
static void sink_open(struct fs_writer *w, int64_t size)
{
	int64_t n, len = 0;

	if (!(w->sink = ckpt_name(w->fd, w->name)))
		return;
	n = fs_pipeline_restored();
	/* an empty new output goes on from the checkpoint (a rescale) */
	if (n > 0 && fs_ckpt_get_sink(fs_pipeline_ckpt(), n, w->sink,
				      &len) < 0 && size > 0)
		fs_die(FS_EXIT_FAIL, "cannot resume '%s': checkpoint %lld of "
		       "job '%s' has no length for it (another output?)",
		       w->name, (long long)n, fs_ckpt_job(fs_pipeline_ckpt()));
	if (size < len)
		fs_die(FS_EXIT_FAIL, "cannot resume '%s': it has %lld bytes, "
		       "checkpoint %lld committed %lld", w->name,
		       (long long)size, (long long)n, (long long)len);
	if (ftruncate(w->fd, len) != 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot truncate '%s'", w->name);
	if (lseek(w->fd, len, SEEK_SET) != len)
		fs_die_errno(FS_EXIT_FAIL, "cannot seek '%s'", w->name);
	w->trunc = 0;
	w->resumed = len;
}

/*
 * Side files: outputs beside the main one that are regular files under
 * --state (--late, --alerts, --rejects, fs-ingest's dead-letter file).
 * At start each is cut to the length the restored checkpoint recorded
 * for it (empty without one), and when this process passes a BARRIER on
 * any writer, each is written out, synced and its length recorded in
 * that checkpoint first: what a restart replays is written to them once.
 */
#define SIDES_MAX 8
static struct side {
	char *name;		/* realpath, the store's sink name */
	int fd;
	void (*flush)(void *);
	void *arg;
} sides[SIDES_MAX];
static int nsides;

int64_t fs_side_file(int fd, const char *path, void (*flush)(void *),
		     void *arg)
{
	struct stat st;
	int64_t n, len = 0;
	char *name = ckpt_name(fd, path);

	if (!name)
		return -1;
	if (nsides == SIDES_MAX)
		fs_bug("more than %d side files", SIDES_MAX);
	n = fs_pipeline_restored();
	if (fstat(fd, &st) != 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot stat '%s'", path);
	if (n > 0 && fs_ckpt_get_sink(fs_pipeline_ckpt(), n, name, &len) < 0 &&
	    st.st_size > 0)
		fs_die(FS_EXIT_FAIL, "cannot resume '%s': checkpoint %lld of "
		       "job '%s' has no length for it (another output?)",
		       path, (long long)n, fs_ckpt_job(fs_pipeline_ckpt()));
	if (st.st_size < len)
		fs_die(FS_EXIT_FAIL, "cannot resume '%s': it has %lld bytes, "
		       "checkpoint %lld committed %lld", path,
		       (long long)st.st_size, (long long)n, (long long)len);
	if (ftruncate(fd, len) != 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot truncate '%s'", path);
	if (lseek(fd, len, SEEK_SET) != len)
		fs_die_errno(FS_EXIT_FAIL, "cannot seek '%s'", path);
	sides[nsides++] = (struct side){ name, fd, flush, arg };
	return len;
}

void fs_side_file_close(int fd)
{
	for (int i = 0; i < nsides; i++)
		if (sides[i].fd == fd) {
			free(sides[i].name);
			sides[i] = sides[--nsides];
			return;
		}
}

/* Before BARRIER id leaves this process: the side files into it. */
static void sides_commit(const struct fs_hdr *bar)
{
	struct fs_ckpt *c = fs_pipeline_ckpt();

	for (int i = 0; i < nsides; i++) {
		struct side *d = &sides[i];
		off_t len;

		if (d->flush)
			d->flush(d->arg);
		if (fdatasync(d->fd) != 0 ||
		    (len = lseek(d->fd, 0, SEEK_END)) < 0)
			fs_die_errno(FS_EXIT_FAIL, "cannot write '%s'",
				     d->name);
		fs_ckpt_put_sink(c, (int64_t)fs_barrier_id(bar), d->name,
				 len);
	}
}

static void drain_side(void *w)
{
	struct fs_writer *sw = w;

	if (!sw->dead)
		drain(sw);
}

/*
 * Commit a sink up to BARRIER id: write out, sync, record the length,
 * complete the checkpoint.
 */
static void sink_commit(struct fs_writer *w, const struct fs_hdr *bar)
{
	uint64_t id = fs_barrier_id(bar);
	int final = (bar->flags & FS_F_FINAL) != 0;
	struct fs_ckpt *c = fs_pipeline_ckpt();
	off_t len;

	drain(w);
	if (w->dead)
		return;
	if (w->k) {
		fs_kafka_commit(w->k, (int64_t)id, final);
		return;
	}
	if (fdatasync(w->fd) != 0)
		write_failed(w, errno);
	len = lseek(w->fd, 0, SEEK_CUR);
	if (len < 0)
		write_failed(w, errno);
	fs_ckpt_put_sink(c, (int64_t)id, w->sink, len);
	fs_pipeline_complete((int64_t)id, final);
}

/* A BARRIER reserved on a sink is committed at the next call on w. */
static void sink_pending(struct fs_writer *w)
{
	if (w->bar_pending) {
		w->bar_pending = 0;
		sink_commit(w, (const struct fs_hdr *)w->bar);
	}
}

int64_t fs_writer_resumed(const struct fs_writer *w)
{
	return w->resumed;
}

int fs_writer_is_sink(const struct fs_writer *w)
{
	return w->sink != NULL;
}

static struct fs_writer *writer_open(const char *uri, int side);

struct fs_writer *fs_writer_open(const char *uri)
{
	return writer_open(uri, 0);
}

struct fs_writer *fs_writer_open_side(const char *uri)
{
	return writer_open(uri, 1);
}

/* A main output (side = 0) on a file with --state is the sink. */
static struct fs_writer *writer_open(const char *uri, int side)
{
	struct fs_writer *w;
	int fd;

	struct stat st;
	int c;

	if (strcmp(uri, "-") == 0) {
		c = fs_claim_fd(1, "-", 1);

		w = fs_writer_fd(1, "-");
		w->claim = c;
		return w;
	}
	if (fs_is_kafka(uri)) {
		struct fs_kafka *k = fs_kafka_writer(uri, !side);

		w = fs_writer_fd(-1, uri);
		w->k = k;
		if (fs_kafka_sink_name(k))
			w->sink = fs_xstrdup(fs_kafka_sink_name(k));
		return w;
	}
	/* No O_TRUNC: a clash with an input is found before data is lost */
	fs_note_output_path(uri);
	fd = open(uri, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EINTR && fs_stop) {
		fs_writers_flush_all();
		exit(FS_EXIT_OK);	/* stopped while a FIFO waited */
	}
	if (fd < 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot create '%s'", uri);
	c = fs_claim_fd(fd, uri, 1);
	w = fs_writer_fd(fd, uri);
	w->claim = c;
	w->own_fd = 1;
	w->trunc = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	if (w->trunc && !side)
		sink_open(w, st.st_size);
	else if (w->trunc && fs_side_file(fd, uri, drain_side, w) >= 0) {
		w->side = fs_xstrdup(uri);
		w->trunc = 0;		/* cut to the checkpoint's length */
	}
	return w;
}

/* Binary frames never go to a terminal. */
static void refuse_tty(struct fs_writer *w)
{
	fs_die(FS_EXIT_USAGE, "refusing to write binary records to a "
	       "terminal; pipe into fs-cat or use -o FILE");
	(void)w;
}

/*
 * w's write failed with errno e.  On the way out already: note it and go
 * on.  Otherwise flush every other writer, then end: quietly (exit 0)
 * for a closed standard output, with an error (exit 1) for any other.
 */
static void write_failed(struct fs_writer *w, int e)
{
	w->dead = 1;
	if (exiting) {
		fs_warn("cannot write '%s': %s", w->name, strerror(e));
		return;
	}
	fs_writers_flush_all();
	if (e == EPIPE && w->fd == 1)
		exit(FS_EXIT_OK);	/* | head: the reader went away */
	errno = e;
	fs_die_errno(FS_EXIT_FAIL, "cannot write '%s'", w->name);
}

/* Write all of p[0..n) to w's descriptor; see write_failed. */
static void write_all(struct fs_writer *w, const char *p, size_t n)
{
	size_t off = 0;

	if (w->dead)
		return;
	if (w->k) {
		fs_kafka_produce(w->k, p, n);
		w->bytes += n;
		return;
	}
	if (w->trunc && n) {
		w->trunc = 0;
		if (ftruncate(w->fd, 0) != 0) {
			write_failed(w, errno);
			return;
		}
	}
	while (off < n) {
		ssize_t k = write(w->fd, p + off, n - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			write_failed(w, errno);
			return;
		}
		off += k;
	}
	w->bytes += n;
}

void fs_writers_flush_all(void)
{
	int was = exiting;

	exiting = 1;
	for (int i = 0; i < WRITERS_MAX; i++)
		if (writers[i] && !writers[i]->dead)
			fs_writer_flush(writers[i]);
	fs_metrics_last();
	exiting = was;
}

/* Hand the buffer to the endpoint (no wait for Kafka deliveries). */
static void drain(struct fs_writer *w)
{
	write_all(w, w->buf, w->used);
	w->used = 0;
}

/*
 * A Kafka output's flush hands the messages to librdkafka, which sends
 * them within linger.ms; waiting for the brokers' acknowledgement on
 * every flush would cost a round trip each time a tool's input blocks
 * (a paced fs-gen ran 25 times slower).  fs_writers_sync, a writer's
 * close and the end of the tool wait for delivery.
 */
void fs_writer_flush(struct fs_writer *w)
{
	drain(w);
	if (!exiting)
		sink_pending(w);
}

int fs_writers_sync(void)
{
	for (int i = 0; i < WRITERS_MAX; i++)
		if (writers[i] && !writers[i]->dead) {
			drain(writers[i]);
			if (writers[i]->k)
				fs_kafka_flush(writers[i]->k);
		}
	for (int i = 0; i < WRITERS_MAX; i++)
		if (writers[i] && writers[i]->dead)
			return -1;
	return 0;
}

/* Make room for n bytes in the buffer; returns where they go. */
static char *room(struct fs_writer *w, size_t n)
{
	if (w->used + n > w->cap) {
		drain(w);
		if (n > w->cap) {
			free(w->buf);
			w->cap = n;
			w->buf = aligned_buf(n);
		}
	}
	return w->buf + w->used;
}

static void put_bytes(struct fs_writer *w, const void *p, size_t n);

struct fs_hdr *fs_write_reserve(struct fs_writer *w, unsigned type,
				size_t body_len)
{
	size_t size = fs_frame_size_for(body_len);
	struct fs_hdr *h;

	if (w->tty)
		refuse_tty(w);
	if (size - 4 > FS_FRAME_MAX)
		fs_bug("frame of %zu bytes is over the limit", size);
	if (w->sink) {
		sink_pending(w);
		if (type == FS_T_BARRIER && size <= sizeof(w->bar)) {
			h = (struct fs_hdr *)w->bar;
			memset(h, 0, sizeof(w->bar));
			h->len = size - 4;
			h->type = type;
			h->version = FS_FORMAT_VERSION;
			w->bar_pending = 1;
			return h;
		}
	}
	h = (struct fs_hdr *)room(w, size);
	memset(h, 0, size);
	h->len = size - 4;
	h->type = type;
	h->version = FS_FORMAT_VERSION;
	w->used += size;
	w->frames++;
	return h;
}

void fs_write_frame(struct fs_writer *w, const struct fs_hdr *h)
{
	size_t size = fs_frame_size(h);

	if (nsides && h->type == FS_T_BARRIER)
		sides_commit(h);

	if (w->sink) {
		sink_pending(w);
		if (h->type == FS_T_BARRIER) {
			sink_commit(w, h);
			return;
		}
	}
	if (w->tty)
		refuse_tty(w);
	memcpy(room(w, size), h, size);
	w->used += size;
	w->frames++;
}

void fs_write_frames(struct fs_writer *w, const void *p, size_t n)
{
	const char *c = p;
	size_t off = 0;

	if (w->tty && n)
		refuse_tty(w);
	if (nsides && !w->side)	/* side files into each barrier first */
		for (off = 0; off < n; off += fs_frame_size((const void *)
							  (c + off)))
			if (((const struct fs_hdr *)(c + off))->type ==
			    FS_T_BARRIER)
				sides_commit((const void *)(c + off));
	off = 0;
	if (w->sink) {		/* barriers split the run and commit */
		size_t from = 0;

		sink_pending(w);
		while (off < n) {
			const struct fs_hdr *f = (const void *)(c + off);
			size_t size = fs_frame_size(f);

			if (f->type == FS_T_BARRIER) {
				fs_write_frames(w, c + from, off - from);
				sink_commit(w, f);
				from = off + size;
			}
			off += size;
		}
		if (off != n)
			fs_bug("fs_write_frames: %zu bytes are not whole "
			       "frames", n);
		c += from;
		n -= from;
		off = 0;
		if (!n)
			return;
	}
	while (off < n) {	/* count them; each must be whole */
		uint32_t len;

		memcpy(&len, c + off, 4);
		off += (size_t)len + 4;
		w->frames++;
	}
	if (off != n)
		fs_bug("fs_write_frames: %zu bytes are not whole frames", n);
	put_bytes(w, c, n);
}

/* Copy p[0..n) into the buffer, or write it past the buffer. */
static void put_bytes(struct fs_writer *w, const void *p, size_t n)
{
	if (n > w->cap / 2) {
		drain(w);
		write_all(w, p, n);
		return;
	}
	memcpy(room(w, n), p, n);
	w->used += n;
}

void fs_write_bytes(struct fs_writer *w, const void *p, size_t n)
{
	if (w->k)
		fs_die(FS_EXIT_USAGE, "cannot write text to '%s': a kafka:// "
		       "output takes records", w->name);
	sink_pending(w);
	put_bytes(w, p, n);
}

void fs_writer_close(struct fs_writer *w)
{
	if (!w)
		return;
	fs_writer_flush(w);
	if (w->trunc && ftruncate(w->fd, 0) != 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot truncate '%s'", w->name);
	for (int i = 0; i < WRITERS_MAX; i++)
		if (writers[i] == w)
			writers[i] = NULL;
	fs_unclaim(w->claim);
	fs_kafka_close(w->k);
	if (w->side)
		fs_side_file_close(w->fd);
	if (w->own_fd && close(w->fd) != 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot close '%s'", w->name);
	free(w->side);
	free(w->sink);
	free(w->buf);
	free(w);
}

uint64_t fs_writer_frames(const struct fs_writer *w)
{
	return w->frames;
}

uint64_t fs_writer_bytes(const struct fs_writer *w)
{
	return w->bytes + w->used;
}
