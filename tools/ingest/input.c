/*
 * input.c - bytes in: a file, stdin, memory, or an archive of such files
 * (libarchive: tar, zip, gzip, zstd, xz, bzip2, detected by content, and
 * nested: a tar of .csv.gz files works).  Each text file is read into one
 * large buffer and handed, whole rows at a time, to the format's parser.
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
#define DEPTH_MAX 3

/* A byte source: a descriptor, memory, or an archive member. */
struct src {
	int fd;				/* -1 if none */
	int regular;			/* fd is a regular file */
	const char *mem;		/* memory input */
	size_t mlen, moff;
	struct archive *a;		/* member data of a */
	char pre[PEEK];			/* bytes peeked, returned first */
	size_t pren, preoff;
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

/* Up to n bytes from what s wraps.  -1 (g->err) on error. */
static ssize_t raw_read(struct ing *g, struct src *s, char *buf, size_t n)
{
	ssize_t k;

	if (s->a) {
		k = archive_read_data(s->a, buf, n);
		if (k < 0)
			return ing_fatal(g, "%s: corrupt archive: %s", g->name,
					 arc_why(s->a));
		return k;
	}
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
 * stop at a line of text (no NUL): a slow producer is not kept waiting.
 */
static int peek(struct ing *g, struct src *s)
{
	while (s->pren < 262 && !(memchr(s->pre, '\n', s->pren) &&
				  !memchr(s->pre, 0, s->pren))) {
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
		{ "\x1f\x8b", 2 },			/* gzip */
		{ "\x28\xb5\x2f\xfd", 4 },		/* zstd */
		{ "PK\x03\x04", 4 },			/* zip */
		{ "PK\x05\x06", 4 },			/* empty zip */
		{ "\xfd" "7zXZ\x00", 6 },		/* xz */
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

/* Parse one text file from s.  Returns 0, or -1 (g->err). */
static int stream(struct ing *g, const char *name, struct src *s)
{
	size_t len = 0;
	int eof = 0;

	file_begin(g, name);
	if (!g->buf && grow(g) < 0)
		return -1;
	while (!eof) {
		ssize_t n, c;

		if (len == g->cap) {
			char *old = g->buf;

			g->buf = NULL;
			if (grow(g) < 0) {
				g->buf = old;
				return -1;
			}
			memcpy(g->buf, old, len);
			free(old);
		}
		n = src_read(g, s, g->buf + len, g->cap - len);
		if (n < 0)
			return -1;
		if (fs_stop) {
			g->stopped = 1;
			return 0;
		}
		eof = n == 0;
		len += (size_t)n;
		g->bytes += (uint64_t)n;
		g->now = fs_now_ns();
		c = g->parse(g, g->buf, len, eof);
		if (c < 0)
			return -1;
		if (eof && (size_t)c != len)
			fs_bug("parser left %zu bytes at the end", len - c);
		memmove(g->buf, g->buf + c, len - (size_t)c);
		len -= (size_t)c;
		if (g->tick)
			g->tick(g);
	}
	return 0;
}

static int input(struct ing *g, const char *name, struct src *s, int depth);

/* An archive being read through a src. */
struct arc {
	struct ing *g;
	struct src *s;
	char buf[ARC_BUF];
};

static la_ssize_t arc_read(struct archive *a, void *ctx, const void **out)
{
	struct arc *x = ctx;
	ssize_t n = src_read(x->g, x->s, x->buf, sizeof(x->buf));

	if (n < 0) {
		archive_set_error(a, EIO, "%s", x->g->err);
		return -1;
	}
	*out = x->buf;
	return n;
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

/* Read each regular member of the archive a (opened) in order. */
static int members(struct ing *g, const char *name, struct archive *a,
		   int depth)
{
	struct archive_entry *e;
	char mname[sizeof(g->name)];
	struct src *m;
	int r, rc = 0;

	while ((r = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		if (r < ARCHIVE_WARN) {
			snprintf(g->name, sizeof(g->name), "%s", name);
			return ing_fatal(g, "%s: corrupt archive: %s", name,
					 arc_why(a));
		}
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
	struct arc *x = NULL;
	int r, rc;

	/* Not format_all: mtree and others would claim plain text. */
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_zip(a);
	archive_read_support_format_7zip(a);
	archive_read_support_format_cpio(a);
	archive_read_support_format_raw(a);
	if (depth == 0 && s->regular && lseek(s->fd, 0, SEEK_SET) == 0) {
		r = archive_read_open_fd(a, s->fd, ARC_BUF);
	} else {
		x = fs_xmalloc(sizeof(*x));
		x->g = g;
		x->s = s;
		r = archive_read_open(a, x, NULL, arc_read, NULL);
	}
	if (r != ARCHIVE_OK) {
		rc = ing_fatal(g, "%s: corrupt archive: %s", name,
			       arc_why(a));
	} else {
		rc = members(g, name, a, depth);
	}
	archive_read_free(a);
	free(x);
	return rc;
}

/* Sniff s and read it as an archive or as one text file. */
static int input(struct ing *g, const char *name, struct src *s, int depth)
{
	snprintf(g->name, sizeof(g->name), "%s", name);
	if (peek(g, s) < 0)
		return -1;
	if (depth < DEPTH_MAX &&
	    is_archive((const unsigned char *)s->pre, s->pren))
		return archive_in(g, name, s, depth);
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
