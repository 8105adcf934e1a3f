/*
 * input.c - bytes in: a file, stdin, memory, or an archive of such files
 * (gzip, zstd and xz decoded in decomp.c; tar, zip, bzip2 and the rest by
 * libarchive; detected by content, and nested: a tar of .csv.gz files
 * works).  Each text file is read into one large buffer and handed, whole
 * rows at a time, to the format's parser.  Data goes to the parser as soon
 * as it is read or decoded: when an input turns out damaged, every whole
 * row before the damage has been parsed, and the partial row at the
 * damage is dropped.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest.h"

#define BUF_START (1u << 18)
#define PEEK 512
#define ARC_BUF (1u << 16)
/*
 * libarchive's zip reader inflates all the bytes at hand at once and
 * drops the result when they are damaged: handed zip data in slices this
 * small, it loses at most the rows of one slice before the damage.
 */
#define ZIP_SLICE 512
#define DEC_IN (1u << 16)
#define DEPTH_MAX 6

struct arc;

/* A byte source: a descriptor, memory, an archive member or a decoder. */
struct src {
	int fd;				/* -1 if none */
	int regular;			/* fd is a regular file */
	const char *mem;		/* memory input */
	size_t mlen, moff;
	struct archive *a;		/* member data of a */
	struct arc *x;			/* ... read through x */
	const char *blk;		/* the rest of a's last data block */
	size_t blkn;
	struct ing_dec *z;		/* decoded data of up */
	struct src *up;
	const char *zname;		/* up's name, for messages */
	unsigned char *in;		/* bytes read from up */
	size_t inpos, inlen;
	int fin;			/* up has ended */
	char pre[PEEK];			/* bytes peeked, returned first */
	size_t pren, preoff;
};

/* An archive being read through a src. */
struct arc {
	struct ing *g;
	struct src *s;
	int seekable;			/* s->fd read directly */
	int failed;			/* reading s failed (g->err says) */
	size_t slice;			/* most bytes handed at once */
	size_t pos, len;		/* buf[pos..len) not handed yet */
	char buf[ARC_BUF];
};

/* Read from a descriptor; flush output first when it would block. */
static ssize_t fd_read(struct ing *g, struct src *s, char *buf, size_t n)
{
	for (;;) {
		ssize_t k;

		if (!s->regular) {
			struct pollfd p = { s->fd, POLLIN, 0 };

			if (poll(&p, 1, 0) == 0) {
				ing_flush(g);
				if (fs_poll_in(s->fd, -1) < 0)
					return 0;	/* SIGINT/SIGTERM */
			}
		}
		k = read(s->fd, buf, n);
		if (k >= 0)
			return k;
		if (errno == EINTR && fs_stop)
			return 0;
		if (errno != EINTR && errno != EAGAIN)
			return ing_fatal(g, "%s: read error: %s", g->name,
					 strerror(errno));
	}
}

/* libarchive's last error, or a generic one. */
static const char *arc_why(struct archive *a)
{
	const char *s = archive_error_string(a);

	return s ? s : "truncated or unreadable";
}

/* A libarchive call on a failed: -1, with g->err saying why. */
static int arc_fail(struct ing *g, const struct arc *x, const char *name,
		    struct archive *a)
{
	if (x && x->failed)	/* our read callback failed: g->err says */
		return -1;
	return ing_fatal(g, "%s: corrupt archive: %s (read to %s:%llu)",
			 name, arc_why(a), g->name,
			 (unsigned long long)g->line);
}

static ssize_t src_read(struct ing *g, struct src *s, char *buf, size_t n);

/*
 * Up to n bytes of the member s->a is at, block by block as libarchive
 * makes them (archive_read_data() would drop the bytes of its call that
 * came before an error).  Sparse holes are not filled: text has none.
 */
static ssize_t member_read(struct ing *g, struct src *s, char *buf,
			   size_t n)
{
	while (!s->blkn) {
		const void *p;
		size_t size;
		la_int64_t off;
		int r = archive_read_data_block(s->a, &p, &size, &off);

		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return arc_fail(g, s->x, g->name, s->a);
		s->blk = p;
		s->blkn = size;
	}
	if (n > s->blkn)
		n = s->blkn;
	memcpy(buf, s->blk, n);
	s->blk += n;
	s->blkn -= n;
	return (ssize_t)n;
}

/*
 * Up to n decoded bytes of s->up, as soon as there are any.  On damage
 * the bytes made before it come first, then -1 (g->err) naming the
 * compressed byte and the last line read.
 */
static ssize_t dec_read(struct ing *g, struct src *s, char *buf, size_t n)
{
	for (;;) {
		size_t used;
		ssize_t k;

		if (s->inpos == s->inlen && !s->fin) {
			k = src_read(g, s->up, (char *)s->in, DEC_IN);
			if (k < 0)
				return -1;
			if (k == 0 && fs_stop)
				return 0;
			s->fin = k == 0;
			s->inpos = 0;
			s->inlen = (size_t)k;
		}
		used = s->inlen - s->inpos;
		k = ing_dec_run(s->z, s->in + s->inpos, &used, s->fin, buf,
				n);
		s->inpos += used;
		if (k < 0) {
			uint64_t pos;
			const char *why = ing_dec_why(s->z, &pos);

			return ing_fatal(g, "%s: corrupt %s data at "
					 "compressed byte %llu: %s (read to "
					 "%s:%llu)", s->zname,
					 ing_dec_name(s->z),
					 (unsigned long long)pos, why, g->name,
					 (unsigned long long)g->line);
		}
		if (k > 0 || (s->fin && s->inpos == s->inlen))
			return k;
		if (!used && s->inpos < s->inlen)
			fs_bug("%s decoder made no progress",
			       ing_dec_name(s->z));
	}
}

/* Up to n bytes from what s wraps.  -1 (g->err) on error. */
static ssize_t raw_read(struct ing *g, struct src *s, char *buf, size_t n)
{
	if (s->z)
		return dec_read(g, s, buf, n);
	if (s->a)
		return member_read(g, s, buf, n);
	if (s->mem) {
		size_t m = s->mlen - s->moff;

		if (m > n)
			m = n;
		memcpy(buf, s->mem + s->moff, m);
		s->moff += m;
		return (ssize_t)m;
	}
	return fd_read(g, s, buf, n);
}

/* Up to n bytes from s: the peeked ones first.  -1 (g->err) on error. */
static ssize_t src_read(struct ing *g, struct src *s, char *buf, size_t n)
{
	if (s->preoff < s->pren) {
		size_t m = s->pren - s->preoff;

		if (m > n)
			m = n;
		memcpy(buf, s->pre + s->preoff, m);
		s->preoff += m;
		return (ssize_t)m;
	}
	return raw_read(g, s, buf, n);
}

/*
 * Fill s->pre with the first bytes, enough to sniff a tar header, but
 * stop at a line of text (no NUL) or at the magic of a compressed
 * stream: a slow producer is not kept waiting.
 */
static int peek(struct ing *g, struct src *s)
{
	while (s->pren < 262 && !(memchr(s->pre, '\n', s->pren) &&
				  !memchr(s->pre, 0, s->pren)) &&
	       !ing_dec_sniff(s->pre, s->pren)) {
		ssize_t k = raw_read(g, s, s->pre + s->pren,
				     sizeof(s->pre) - s->pren);

		if (k < 0)
			return -1;
		if (k == 0)
			break;
		s->pren += (size_t)k;
	}
	s->preoff = 0;
	return 0;
}

/* Do the first n bytes at p look compressed or archived? */
static int is_archive(const unsigned char *p, size_t n)
{
	static const struct {
		const char *m;
		size_t n;
	} magic[] = {
		{ "PK\x03\x04", 4 },			/* zip */
		{ "PK\x05\x06", 4 },			/* empty zip */
		{ "\x04\x22\x4d\x18", 4 },		/* lz4 */
		{ "7z\xbc\xaf\x27\x1c", 6 },		/* 7-zip */
	};

	for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++)
		if (n >= magic[i].n && !memcmp(p, magic[i].m, magic[i].n))
			return 1;
	if (n >= 10 && !memcmp(p, "BZh", 3) && p[3] >= '1' && p[3] <= '9' &&
	    !memcmp(p + 4, "1AY&SY", 6))
		return 1;
	return n >= 262 && !memcmp(p + 257, "ustar", 5);
}

/* Start a new text file: names, line numbers, header state. */
static void file_begin(struct ing *g, const char *name)
{
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->line = 0;
	g->started = 0;
	free(g->hdr_raw);
	g->hdr_raw = NULL;
	g->hdr_len = 0;
	if (g->fmt == ING_JSONL)
		ing_jsonl_reset(g);
}

/* Make room at the end of the buffer; -1 when a row is too long. */
static int grow(struct ing *g)
{
	size_t cap = g->cap ? g->cap * 2 : g->buf_start ? g->buf_start :
		     BUF_START;

	if (g->cap >= ING_ROW_MAX)
		return ing_fatal(g, "%s:%llu: a row longer than %u MiB%s",
				 g->name, (unsigned long long)g->line + 1,
				 ING_ROW_MAX >> 20, g->fmt <= ING_TSV ?
				 " (a quote that is never closed?)" : "");
	free(g->buf);	/* empty: nothing to keep */
	g->buf = NULL;
	g->buf = fs_xmalloc(cap + ING_SLACK);
	memset(g->buf + cap, 0, ING_SLACK);
	g->cap = cap;
	return 0;
}

/*
 * Read more of s after the *len bytes in g->buf (grown when full).
 * Returns the bytes read (0 at the end or on a stop), or -1 (g->err).
 */
static ssize_t fill(struct ing *g, struct src *s, size_t *len)
{
	ssize_t n;

	if (*len == g->cap) {
		char *old = g->buf;

		g->buf = NULL;
		if (grow(g) < 0) {
			g->buf = old;
			return -1;
		}
		memcpy(g->buf, old, *len);
		free(old);
	}
	n = src_read(g, s, g->buf + *len, g->cap - *len);
	if (n > 0) {
		*len += (size_t)n;
		g->bytes += (uint64_t)n;
	}
	return n;
}

/* The state of the restored checkpoint at its position. */
static void restored_state(struct ing *g, uint64_t to)
{
	g->pos = to;
	g->line = g->skip_line;
	g->max_ts = g->skip_max_ts;
	g->next_wm = g->skip_next_wm;
}

/*
 * Resume a checkpointed source at stream offset g->skip: read the CSV
 * header again, then seek a plain regular file to the offset, or read
 * and drop the bytes before it (decoded streams).  g->buf holds *len
 * bytes from stream offset *off.  Returns 0, or -1 (g->err).
 */
static int resume(struct ing *g, struct src *s, size_t *len, uint64_t *off)
{
	uint64_t to = g->skip;
	ssize_t n, c;

	g->skip = 0;
	g->hdr_only = g->fmt <= ING_TSV && !g->no_header;
	while (g->hdr_only && !g->hdr_raw) {
		if ((n = fill(g, s, len)) < 0)
			return -1;
		c = g->parse(g, g->buf, *len, n == 0 && !fs_stop);
		if (c < 0)
			return -1;
		memmove(g->buf, g->buf + c, *len - (size_t)c);
		*len -= (size_t)c;
		*off += (uint64_t)c;
		if (n == 0 && !g->hdr_raw)
			goto ended;
	}
	g->hdr_only = 0;
	if (*off > to)
		fs_die(FS_EXIT_FAIL, "cannot resume '%s' at byte %llu: its "
		       "header ends at byte %llu (another input?)", g->name,
		       (unsigned long long)to, (unsigned long long)*off);
	if (s->fd >= 0 && s->regular) {		/* a plain file: seek */
		struct stat st;

		if (fstat(s->fd, &st) != 0 || (uint64_t)st.st_size < to)
			goto ended;
		if (lseek(s->fd, (off_t)to, SEEK_SET) != (off_t)to)
			fs_die_errno(FS_EXIT_FAIL, "cannot seek '%s'",
				     g->name);
		s->preoff = s->pren;
		*len = 0;
		*off = to;
	}
	while (*off < to) {			/* read and drop */
		size_t m = *len < to - *off ? *len : (size_t)(to - *off);

		memmove(g->buf, g->buf + m, *len - m);
		*len -= m;
		*off += m;
		if (*off == to)
			break;
		if ((n = fill(g, s, len)) < 0)
			return -1;
		if (n == 0)
			goto ended;
	}
	restored_state(g, to);
	return 0;
ended:
	if (!fs_stop)
		fs_die(FS_EXIT_FAIL, "cannot resume '%s' at byte %llu: it "
		       "ends before (another input?)", g->name,
		       (unsigned long long)to);
	restored_state(g, to);		/* stopped: a final barrier there */
	g->stopped = 1;
	return 0;
}

/*
 * Parse one text file from s.  Returns 0, or -1 (g->err).  With --state
 * (g->src) a barrier may come after each block of whole rows, and while
 * a restart replays the checkpoint begun before the failure the parser
 * is handed no byte past its position, where its barrier comes.
 */
static int stream(struct ing *g, const char *name, struct src *s)
{
	size_t len = 0;
	uint64_t off = 0;	/* stream offset of g->buf[0] */
	int eof = 0, more = 0;
	ssize_t n = 1;

	file_begin(g, name);
	if (!g->buf && grow(g) < 0)
		return -1;
	if (g->skip && resume(g, s, &len, &off) < 0)
		return -1;
	if (g->stopped)
		return 0;
	while (!eof || more) {
		size_t hand = len;
		int64_t room;
		ssize_t c;
		int fin;

		if (!more) {
			n = fill(g, s, &len);
			if (n < 0)
				return -1;
			/* on a stop, the whole rows read so far still count */
			eof = n == 0 && !fs_stop;
			hand = len;
			g->now = fs_now_ns();
		}
		fin = eof;
		room = fs_source_room(g->src, (int64_t)off);
		more = room < (int64_t)len;
		if (more) {		/* replaying: up to the cut */
			hand = (size_t)room;
			fin = 0;
		}
		c = g->parse(g, g->buf, hand, fin);
		if (c < 0)
			return -1;
		if (fin && (size_t)c != len)
			fs_bug("parser left %zu bytes at the end", len - c);
		if (more && (size_t)c < hand)
			fs_die(FS_EXIT_FAIL, "cannot replay '%s': no row ends "
			       "at byte %llu, where a checkpoint was begun "
			       "(the input changed?)", g->name,
			       (unsigned long long)(off + hand));
		memmove(g->buf, g->buf + c, len - (size_t)c);
		len -= (size_t)c;
		off += (uint64_t)c;
		g->pos = off;
		if (g->src && fs_source_due(g->src, (int64_t)off))
			g->barrier(g, 0);
		if (g->tick)
			g->tick(g);
		/* a stop goes on to the cut a replay must reach first */
		if (fs_stop && (n == 0 || fs_source_room(g->src, (int64_t)
						     off) == INT64_MAX)) {
			g->stopped = 1;
			return 0;
		}
	}
	return 0;
}

static int input(struct ing *g, const char *name, struct src *s, int depth);

/* libarchive's read callback: the next slice of x->s. */
static la_ssize_t arc_read(struct archive *a, void *ctx, const void **out)
{
	struct arc *x = ctx;
	size_t m;

	if (x->pos == x->len) {
		ssize_t n = x->seekable ?
			    fd_read(x->g, x->s, x->buf, sizeof(x->buf)) :
			    src_read(x->g, x->s, x->buf, sizeof(x->buf));

		if (n < 0) {
			x->failed = 1;
			archive_set_error(a, EIO, "%s", x->g->err);
			return -1;
		}
		x->pos = 0;
		x->len = (size_t)n;
	}
	m = x->len - x->pos;
	if (m > x->slice)
		m = x->slice;
	*out = x->buf + x->pos;
	x->pos += m;
	return (la_ssize_t)m;
}

/* libarchive's seek callback, for a regular file read directly. */
static la_int64_t arc_seek(struct archive *a, void *ctx, la_int64_t off,
			   int whence)
{
	struct arc *x = ctx;
	off_t r;

	(void)a;
	if (whence == SEEK_CUR) {	/* from what was handed on */
		r = lseek(x->s->fd, 0, SEEK_CUR);
		if (r < 0)
			return ARCHIVE_FATAL;
		off += r - (off_t)(x->len - x->pos);
		whence = SEEK_SET;
	}
	r = lseek(x->s->fd, off, whence);
	if (r < 0)
		return ARCHIVE_FATAL;
	x->pos = x->len = 0;
	return r;
}

/* Should this member be read?  Regular files, no AppleDouble litter. */
static int member_wanted(struct archive_entry *e)
{
	const char *p = archive_entry_pathname(e), *b;

	if (archive_entry_filetype(e) != AE_IFREG || !p)
		return 0;
	b = strrchr(p, '/');
	b = b ? b + 1 : p;
	return strncmp(b, "._", 2) && !strstr(p, "__MACOSX/");
}

/* Read each regular member of the archive a (opened over x) in order. */
static int members(struct ing *g, const char *name, struct archive *a,
		   struct arc *x, int depth)
{
	struct archive_entry *e;
	char mname[sizeof(g->name)];
	struct src *m;
	int r, rc = 0;

	while ((r = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		if (r < ARCHIVE_WARN)
			return arc_fail(g, x, name, a);
		if (!member_wanted(e))
			continue;
		if (archive_format(a) == ARCHIVE_FORMAT_RAW)
			snprintf(mname, sizeof(mname), "%s", name);
		else
			snprintf(mname, sizeof(mname), "%s:%s", name,
				 archive_entry_pathname(e));
		m = fs_xcalloc(1, sizeof(*m));
		m->fd = -1;
		m->a = a;
		m->x = x;
		snprintf(g->name, sizeof(g->name), "%s", mname);
		rc = input(g, mname, m, depth + 1);
		free(m);
		if (rc < 0 || g->stopped)
			break;
	}
	return rc;
}

/* Open an archive over s (seekable when s is a regular file) and read it. */
static int archive_in(struct ing *g, const char *name, struct src *s,
		      int depth)
{
	struct archive *a = archive_read_new();
	struct arc *x = fs_xcalloc(1, sizeof(*x));
	int r, rc;

	/* Not format_all: mtree and others would claim plain text. */
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_zip(a);
	archive_read_support_format_7zip(a);
	archive_read_support_format_cpio(a);
	archive_read_support_format_raw(a);
	x->g = g;
	x->s = s;
	x->slice = s->pren >= 2 && !memcmp(s->pre, "PK", 2) ? ZIP_SLICE :
		   ARC_BUF;
	archive_read_set_read_callback(a, arc_read);
	archive_read_set_callback_data(a, x);
	if (depth == 0 && s->regular && lseek(s->fd, 0, SEEK_SET) == 0) {
		x->seekable = 1;	/* zip reads its central directory */
		archive_read_set_seek_callback(a, arc_seek);
	}
	r = archive_read_open1(a);
	if (r != ARCHIVE_OK) {
		snprintf(g->name, sizeof(g->name), "%s", name);
		rc = arc_fail(g, x, name, a);
	} else {
		rc = members(g, name, a, x, depth);
	}
	archive_read_free(a);
	free(x);
	return rc;
}

/* Read the data of up, a kind (ING_Z_*) stream, as an input. */
static int decoded_in(struct ing *g, const char *name, struct src *up,
		      int kind, int depth)
{
	struct src *d = fs_xcalloc(1, sizeof(*d));
	int rc;

	d->fd = -1;
	d->z = ing_dec_open(kind);
	d->up = up;
	d->zname = name;
	d->in = fs_xmalloc(DEC_IN);
	rc = input(g, name, d, depth + 1);
	ing_dec_close(d->z);
	free(d->in);
	free(d);
	return rc;
}

/* Sniff s and read it as compressed, an archive, or one text file. */
static int input(struct ing *g, const char *name, struct src *s, int depth)
{
	int kind;

	snprintf(g->name, sizeof(g->name), "%s", name);
	if (peek(g, s) < 0)
		return -1;
	if (depth < DEPTH_MAX && (kind = ing_dec_sniff(s->pre, s->pren)))
		return decoded_in(g, name, s, kind, depth);
	if (depth < DEPTH_MAX &&
	    is_archive((const unsigned char *)s->pre, s->pren)) {
		if (g->src)
			fs_usage_error("--state: '%s' is an archive, which "
				       "cannot be resumed where a checkpoint "
				       "left it (give its files one at a "
				       "time, or as a gzip, zstd or xz "
				       "stream)", name);
		return archive_in(g, name, s, depth);
	}
	return stream(g, name, s);
}

/*
 * Ingest path ("-" for stdin).  Returns 0, or -1 with g->err set (the
 * caller flushes what was written and exits 3).  Dies when it cannot
 * open the path.
 */
int ing_input_path(struct ing *g, const char *path)
{
	struct src *s = fs_xcalloc(1, sizeof(*s));
	struct stat st;
	int rc;

	fs_check_scheme(path);
	s->fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (s->fd < 0 && errno == EINTR && fs_stop) {
		fs_writers_flush_all();
		exit(FS_EXIT_OK);	/* stopped while a FIFO waited */
	}
	if (s->fd < 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", path);
	if (fstat(s->fd, &st) == 0 && S_ISDIR(st.st_mode))
		fs_die(FS_EXIT_FAIL, "cannot read '%s': Is a directory", path);
	fs_claim_fd(s->fd, path, 0);
	s->regular = fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode);
	rc = input(g, strcmp(path, "-") ? path : "stdin", s, 0);
	if (s->fd > 0)
		close(s->fd);
	free(s);
	return rc;
}

/* Ingest n bytes at p, named name (fuzzing, tests).  As above. */
int ing_input_mem(struct ing *g, const char *name, const void *p, size_t n)
{
	struct src *s = fs_xcalloc(1, sizeof(*s));
	int rc;

	s->fd = -1;
	s->mem = p ? p : "";
	s->mlen = n;
	rc = input(g, name, s, 0);
	free(s);
	return rc;
}
