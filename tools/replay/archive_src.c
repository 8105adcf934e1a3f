/*
 * archive_src.c - fs-replay's fs-archive directory source (--dir DIR,
 * replay.h).
 *
 * The sealed segments whose names say they may hold records of
 * [--from, --to) are read in segment-number order (disorder can make
 * the time ranges of segments overlap: each is tested on its own); in
 * each, the index skips to the first block that may hold --from
 * (libcommon/fsarchive.c, fs_arc_seek_time), and frames come out as
 * recorded, zero-copy from the reader's buffer.  The open segment
 * (open-N.fsr, not sealed) is left out, with a note of its record
 * count on stderr.
 *
 * Position: segment number << 40 | record number in the segment (from
 * 0) of the next frame; the end of segment N is N << 40 | its record
 * count.  resume() reopens that segment and skips to the record
 * through the index block that holds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsarchive.h"
#include "replay.h"

#define REC_BITS 40
#define REC_MASK ((INT64_C(1) << REC_BITS) - 1)

struct arc_src {
	struct rp_source s;
	struct fs_arc_list l;
	size_t i;			/* l.seg of r (or the next to open) */
	struct fs_arc_reader *r;	/* NULL: none open */
	int64_t from, to;		/* [from, to) of the segments read */
	/*
	 * Each segment opened (but the one resume() opens at a record)
	 * seeks to --from, on a fresh start and a restart alike, so both
	 * see the same positions and control records.
	 */
	int64_t seek;			/* INT64_MIN: none */
	int64_t pos;			/* of the next frame */
	/* a damaged segment: its records read ahead, then err */
	char *salv;
	size_t slen, sat;
	char err[1024];
};

/* A segment fs-replay cannot read: say which and where (exit 3). */
static int bad_segment(struct arc_src *a, const char *why)
{
	return fs_error("cannot read segment '%s': %s", a->l.seg[a->i].path,
			why);
}

/*
 * Open segment a->i and go to record rec (0: its start, then to
 * --from's block when seeking).  0, or -1 (said).
 */
static int open_seg(struct arc_src *a, uint64_t rec)
{
	const struct fs_arc_seg *g = &a->l.seg[a->i];

	a->r = fs_arc_open(g->path, a->err, sizeof(a->err));
	if (!a->r)
		return bad_segment(a, a->err);
	if (fs_arc_manifest(a->r)->segment != g->no) {
		snprintf(a->err, sizeof(a->err), "its manifest says segment "
			 "%" PRIu64, fs_arc_manifest(a->r)->segment);
		return bad_segment(a, a->err);
	}
	if ((rec ? fs_arc_seek_record(a->r, rec) :
	     a->seek != INT64_MIN ? fs_arc_seek_time(a->r, a->seek) : 0) < 0)
		return bad_segment(a, fs_arc_error(a->r));
	a->pos = (int64_t)(g->no << REC_BITS) | (int64_t)fs_arc_record(a->r);
	return 0;
}

/* From a->i on, the first segment of the range: its index, or l.n. */
static size_t next_wanted(const struct arc_src *a, size_t i)
{
	while (i < a->l.n && !fs_arc_overlaps(&a->l.seg[i], a->from, a->to))
		i++;
	return i;
}

/*
 * libarchive reads ahead, so a damaged segment fails before the records
 * just before the damage were handed out: decode it again with libzstd
 * (fs_arc_salvage) for them, and say from which record on it cannot be
 * read, as fs-archive verify does, once they are out.
 */
static void damaged(struct arc_src *a)
{
	const char *why = fs_arc_error(a->r), *p;
	const char *path = a->l.seg[a->i].path;
	uint64_t off;
	int64_t n = fs_arc_readable(path, &off);
	void *b;

	p = strstr(why, "cannot read: ");
	if (p && n >= 0)
		snprintf(a->err, sizeof(a->err), "record %" PRId64 " (byte "
			 "offset %" PRIu64 " of frames.fsr) and those after "
			 "it cannot be read: %s", n + 1, off,
			 p + strlen("cannot read: "));
	else
		snprintf(a->err, sizeof(a->err), "%s", why);
	a->slen = (size_t)fs_arc_salvage(path, fs_arc_offset(a->r), &b);
	a->salv = b ? b : fs_xmalloc(1);
	a->sat = 0;
}

/* The next record salvaged; -1 (said) after the last. */
static int salv_next(struct arc_src *a, const struct fs_hdr **h)
{
	uint32_t len;

	if (a->sat + 4 <= a->slen) {
		memcpy(&len, a->salv + a->sat, 4);
		if (len >= FS_HDR_SIZE - 4 && len <= FS_FRAME_MAX &&
		    (len + 4) % 8 == 0 && a->sat + 4 + len <= a->slen) {
			*h = (const struct fs_hdr *)(a->salv + a->sat);
			a->sat += 4 + (size_t)len;
			a->pos++;
			return 1;
		}
	}
	free(a->salv);
	a->salv = NULL;
	a->slen = 0;
	return bad_segment(a, a->err);
}

static int arc_next(struct rp_source *s, const struct fs_hdr **h,
		    int timeout_ms)
{
	struct arc_src *a = (struct arc_src *)s;

	(void)timeout_ms;
	for (;;) {
		int rc;

		if (fs_stop)
			return 0;
		if (a->salv)
			return salv_next(a, h);
		if (!a->r) {
			a->i = next_wanted(a, a->i);
			if (a->i >= a->l.n)
				return 0;
			if (open_seg(a, 0) < 0)
				return -1;
		}
		rc = fs_arc_next(a->r, h);
		if (rc == 1) {
			a->pos++;
			return 1;
		}
		if (rc < 0) {
			damaged(a);
			continue;
		}
		if (fs_arc_end(a->r) < 0)
			return bad_segment(a, fs_arc_error(a->r));
		fs_arc_close(a->r);
		a->r = NULL;
		a->i++;
	}
}

static int64_t arc_position(const struct rp_source *s)
{
	return ((const struct arc_src *)s)->pos;
}

/*
 * Go on from pos: segment pos >> 40 at record pos & (2^40 - 1).  A
 * segment that is gone, or holds fewer records, dies (exit 3): the
 * archive is not the one checkpointed.
 */
static void arc_resume(struct rp_source *s, int64_t pos)
{
	struct arc_src *a = (struct arc_src *)s;
	uint64_t no = (uint64_t)pos >> REC_BITS;
	size_t i = 0;

	if (pos <= 0)
		return;
	while (i < a->l.n && a->l.seg[i].no != no)
		i++;
	if (i == a->l.n)
		fs_die(FS_EXIT_DATA, "cannot resume '%s': segment %" PRIu64
		       " of the checkpoint is not there", s->name, no);
	if (a->r)
		fs_arc_close(a->r);
	a->r = NULL;
	a->i = i;
	if (open_seg(a, (uint64_t)(pos & REC_MASK)) < 0)
		exit(FS_EXIT_DATA);
}

static int arc_seek_time(struct rp_source *s, int64_t ns)
{
	(void)ns;	/* --from: each segment opened seeks to it */
	return s == NULL ? -1 : 0;
}

static void arc_close(struct rp_source *s)
{
	struct arc_src *a = (struct arc_src *)s;

	fs_arc_close(a->r);
	fs_arc_list_free(&a->l);
	free(a->salv);
	free(a);
}

/* The frame last returned: its segment and record number (from 1). */
static void arc_where(const struct rp_source *s, char *buf, size_t n)
{
	const struct arc_src *a = (const struct arc_src *)s;

	if (a->i < a->l.n)
		snprintf(buf, n, "segment '%s' record %" PRId64,
			 a->l.seg[a->i].path, a->pos & REC_MASK);
	else
		snprintf(buf, n, "'%s'", s->name);
}

static const struct rp_source_ops arc_ops = {
	.where = arc_where,
	.seek_time = arc_seek_time,
	.resume = arc_resume,
	.next = arc_next,
	.position = arc_position,
	.close = arc_close,
};

/* Whole frames in an open segment's file (its torn end left out). */
static uint64_t count_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t n = 0;
	off_t off = 0, end;
	uint32_t len;

	if (fd < 0)
		return 0;
	end = lseek(fd, 0, SEEK_END);
	while (off + 4 <= end && pread(fd, &len, 4, off) == 4 &&
	       len >= FS_HDR_SIZE - 4 && len <= FS_FRAME_MAX &&
	       off + 4 + (off_t)len <= end) {
		off += 4 + (off_t)len;
		n++;
	}
	close(fd);
	return n;
}

struct rp_source *rp_archive_open(const char *dir, const struct rp_opts *o)
{
	static char err[1024];	/* static: reachable when it dies */
	char *real = realpath(dir, NULL);
	struct fs_arc_list l;
	struct arc_src *a;

	if (!real)
		fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", dir);
	if (fs_arc_list(dir, &l, err, sizeof(err)) < 0) {
		free(real);
		fs_die(FS_EXIT_FAIL, "cannot list the archive: %s", err);
	}
	a = fs_xcalloc(1, sizeof(*a));
	a->s.ops = &arc_ops;
	a->s.size = -1;
	snprintf(a->s.name, sizeof(a->s.name), "dir:%s", real);
	free(real);
	a->l = l;
	a->from = o->from;
	a->to = o->to == INT64_MAX ? INT64_MAX : o->to + 1;
	a->seek = o->from;
	for (size_t i = 0; i < a->l.nopen; i++)
		fs_warn("'%s' is the open segment, not sealed: its %" PRIu64
			" records are left out", a->l.open[i],
			count_open(a->l.open[i]));
	a->i = next_wanted(a, 0);
	if (a->i < a->l.n)
		a->pos = (int64_t)(a->l.seg[a->i].no << REC_BITS);
	return &a->s;
}
