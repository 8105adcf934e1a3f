/*
 * fsarchive.c - fs-archive's segments (fsarchive.h): names, the manifest,
 * the index, the reader over libarchive (tar + zstd), and the writer:
 * an open frames file hashed as it grows, sealed into a tar.zst by a
 * thread beside the appends.
 */
#include <archive.h>
#include <archive_entry.h>
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "fs.h"
#include "fsarchive.h"

#define RBUF (1u << 20)		/* reader: frames read per call */
#define WBUF (1u << 20)		/* writer: open-file block */

/* ---- names ---- */

/* A ts for a name: decimal, "n" for the minus sign. */
static int name_ts(char *b, size_t n, int64_t v)
{
	if (v < 0)
		return snprintf(b, n, "n%" PRIu64, -(uint64_t)v);
	return snprintf(b, n, "%" PRId64, v);
}

void fs_arc_seg_name(char *buf, size_t n, uint64_t no, int64_t min_ts,
		     int64_t max_ts)
{
	char a[32], b[32];

	name_ts(a, sizeof(a), min_ts);
	name_ts(b, sizeof(b), max_ts);
	snprintf(buf, n, "seg-%08" PRIu64 "-%s-%s.tar.zst", no, a, b);
}

/* Parse a decimal u64 from *s up to stop; advance; -1 if none. */
static int scan_u64(const char **s, int stop, uint64_t *v)
{
	const char *e = strchr(*s, stop);

	if (!e || e == *s || fs_parse_u64(*s, (size_t)(e - *s), v) < 0)
		return -1;
	*s = e + 1;
	return 0;
}

static int scan_ts(const char **s, int stop, int64_t *v)
{
	uint64_t u;
	int neg = **s == 'n';

	*s += neg;
	if (scan_u64(s, stop, &u) < 0 || u > (uint64_t)INT64_MAX + neg)
		return -1;
	*v = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

/* Parse "seg-N-TMIN-TMAX.tar.zst"; -1 if name is not one. */
static int parse_name(const char *name, struct fs_arc_seg *s)
{
	const char *p = name;
	size_t n = strlen(name);

	if (strncmp(p, "seg-", 4) || n < 12 ||
	    strcmp(name + n - 8, ".tar.zst"))
		return -1;
	p += 4;
	if (scan_u64(&p, '-', &s->no) < 0 || scan_ts(&p, '-', &s->min_ts) < 0 ||
	    scan_ts(&p, '.', &s->max_ts) < 0 || strcmp(p, "tar.zst"))
		return -1;
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	const struct fs_arc_seg *x = a, *y = b;

	return (x->no > y->no) - (x->no < y->no);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = fs_xmalloc(n);

	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

int fs_arc_list(const char *dir, struct fs_arc_list *l, char *err,
		size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0, ocap = 0;

	memset(l, 0, sizeof(*l));
	if (!d) {
		snprintf(err, errlen, "cannot open '%s': %s", dir,
			 strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		struct fs_arc_seg s;
		uint64_t no;
		const char *p = e->d_name;

		if (!parse_name(e->d_name, &s)) {
			if (l->n == cap) {
				cap = cap ? 2 * cap : 32;
				l->seg = fs_xrealloc(l->seg,
						     cap * sizeof(*l->seg));
			}
			s.path = join(dir, e->d_name);
			s.name = s.path + strlen(dir) + 1;
			l->seg[l->n++] = s;
		} else if (!strncmp(p, "open-", 5) && (p += 5) &&
			   !scan_u64(&p, '.', &no) && !strcmp(p, "fsr")) {
			if (l->nopen == ocap) {
				ocap = ocap ? 2 * ocap : 4;
				l->open = fs_xrealloc(l->open,
						      ocap * sizeof(char *));
			}
			l->open[l->nopen++] = join(dir, e->d_name);
		}
	}
	closedir(d);
	if (l->n)
		qsort(l->seg, l->n, sizeof(*l->seg), cmp_seg);
	if (l->nopen)
		qsort(l->open, l->nopen, sizeof(char *), cmp_str);
	return 0;
}

void fs_arc_list_free(struct fs_arc_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->seg[i].path);
	for (size_t i = 0; i < l->nopen; i++)
		free(l->open[i]);
	free(l->seg);
	free(l->open);
	memset(l, 0, sizeof(*l));
}

int fs_arc_overlaps(const struct fs_arc_seg *s, int64_t from, int64_t to)
{
	return s->max_ts >= from && s->min_ts < to;
}

/* ---- the manifest ---- */

static void put_u64(cJSON *o, const char *k, uint64_t v)
{
	char b[32];

	snprintf(b, sizeof(b), "%" PRIu64, v);
	cJSON_AddStringToObject(o, k, b);
}

static void put_i64(cJSON *o, const char *k, int64_t v)
{
	char b[32];

	snprintf(b, sizeof(b), "%" PRId64, v);
	cJSON_AddStringToObject(o, k, b);
}

static void put_hex(cJSON *o, const char *k, const uint8_t *h, size_t n)
{
	static const char d[] = "0123456789abcdef";
	char b[2 * FS_MT_HASH + 1];

	for (size_t i = 0; i < n; i++) {
		b[2 * i] = d[h[i] >> 4];
		b[2 * i + 1] = d[h[i] & 15];
	}
	b[2 * n] = 0;
	cJSON_AddStringToObject(o, k, b);
}

/*
 * The manifest's JSON text, a new string: 64-bit values as decimal
 * strings (JSON numbers are doubles to many readers), hashes as hex.
 */
static char *manifest_json(const struct fs_arc_manifest *m)
{
	cJSON *o = cJSON_CreateObject();
	char t[FS_FMT_MAX], *s;

	cJSON_AddStringToObject(o, "format", "fs-archive segment");
	cJSON_AddNumberToObject(o, "version", m->version);
	put_u64(o, "segment", m->segment);
	put_u64(o, "records", m->records);
	put_u64(o, "frames_bytes", m->frames_bytes);
	put_u64(o, "index_entries", m->index_entries);
	cJSON_AddNumberToObject(o, "index_every", FS_ARC_INDEX_EVERY);
	put_u64(o, "first_seq", m->first_seq);
	put_u64(o, "last_seq", m->last_seq);
	put_u64(o, "min_seq", m->min_seq);
	put_u64(o, "max_seq", m->max_seq);
	put_i64(o, "min_ts_event", m->min_ts);
	put_i64(o, "max_ts_event", m->max_ts);
	put_u64(o, "min_key", m->min_key);
	put_u64(o, "max_key", m->max_key);
	cJSON_AddStringToObject(o, "leaf", "rfc6962-sha256(frame)");
	put_hex(o, "root", m->root, FS_MT_HASH);
	put_hex(o, "prev_manifest_sha256", m->prev, FS_MT_HASH);
	put_hex(o, "index_sha256", m->index_sha, FS_MT_HASH);
	put_hex(o, "archive_id", m->archive_id, sizeof(m->archive_id));
	put_i64(o, "created_ns", m->created);
	fs_fmt_time(t, m->created);
	cJSON_AddStringToObject(o, "created", t);
	s = cJSON_Print(o);
	cJSON_Delete(o);
	if (!s)
		fs_die(FS_EXIT_FAIL, "out of memory");
	return s;
}

/* Field k of o as a u64 (decimal string); -1 when absent or bad. */
static int get_u64(const cJSON *o, const char *k, uint64_t *v)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsString(j) ||
	    fs_parse_u64(j->valuestring, (size_t)-1, v) < 0)
		return -1;
	return 0;
}

static int get_i64(const cJSON *o, const char *k, int64_t *v)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsString(j) || fs_parse_i64(j->valuestring, (size_t)-1,
					       INT64_MIN, INT64_MAX, v) < 0)
		return -1;
	return 0;
}

static int get_hex(const cJSON *o, const char *k, uint8_t *h, size_t n)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
	char b[2 * FS_MT_HASH + 1];
	uint8_t t[FS_MT_HASH];

	if (!cJSON_IsString(j) || strlen(j->valuestring) != 2 * n)
		return -1;
	memset(b, '0', sizeof(b) - 1);
	b[sizeof(b) - 1] = 0;
	memcpy(b, j->valuestring, 2 * n);
	if (fs_mt_unhex(b, t) < 0)
		return -1;
	memcpy(h, t, n);
	return 0;
}

int fs_arc_manifest_parse(const char *json, size_t n,
			  struct fs_arc_manifest *m, char *err,
			  size_t errlen)
{
	cJSON *o = cJSON_ParseWithLength(json, n);
	const cJSON *v;
	const char *bad = NULL;

	memset(m, 0, sizeof(*m));
	if (!o) {
		snprintf(err, errlen, "manifest.json is not JSON");
		return -1;
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "version");
	if (!cJSON_IsNumber(v) || v->valueint != FS_ARC_VERSION)
		bad = "version";
	else
		m->version = v->valueint;
#define U(k, f) if (!bad && get_u64(o, k, &m->f)) bad = k
#define I(k, f) if (!bad && get_i64(o, k, &m->f)) bad = k
#define H(k, f) if (!bad && get_hex(o, k, m->f, sizeof(m->f))) bad = k
	U("segment", segment); U("records", records);
	U("frames_bytes", frames_bytes); U("index_entries", index_entries);
	U("first_seq", first_seq); U("last_seq", last_seq);
	U("min_seq", min_seq); U("max_seq", max_seq);
	I("min_ts_event", min_ts); I("max_ts_event", max_ts);
	U("min_key", min_key); U("max_key", max_key);
	I("created_ns", created);
	H("root", root); H("prev_manifest_sha256", prev);
	H("index_sha256", index_sha); H("archive_id", archive_id);
#undef U
#undef I
#undef H
	cJSON_Delete(o);
	if (bad) {
		snprintf(err, errlen, "manifest.json: '%s' missing or "
			 "malformed", bad);
		return -1;
	}
	return 0;
}

/* ---- the index ---- */

static void index_encode(const struct fs_arc_index *e, uint8_t *p)
{
	memcpy(p, &e->record, 8);
	memcpy(p + 8, &e->offset, 8);
	memcpy(p + 16, &e->ts_first, 8);
	memcpy(p + 24, &e->seq_first, 8);
	memcpy(p + 32, &e->ts_max, 8);
	memcpy(p + 40, &e->seq_max, 8);
	memcpy(p + 48, e->root, FS_MT_HASH);
}

void fs_arc_index_decode(const void *v, struct fs_arc_index *e)
{
	const uint8_t *p = v;

	memcpy(&e->record, p, 8);
	memcpy(&e->offset, p + 8, 8);
	memcpy(&e->ts_first, p + 16, 8);
	memcpy(&e->seq_first, p + 24, 8);
	memcpy(&e->ts_max, p + 32, 8);
	memcpy(&e->seq_max, p + 40, 8);
	memcpy(e->root, p + 48, FS_MT_HASH);
}

/* ---- the reader ---- */

struct fs_arc_reader {
	struct archive *a;
	char *raw;			/* manifest.json */
	size_t raw_len;
	struct fs_arc_manifest m;
	uint8_t *idx_raw;
	struct fs_arc_index *idx;
	size_t nidx;
	char *buf;			/* frames read, from start to end */
	size_t cap, start, end;
	uint64_t pos;			/* offset of buf[start] */
	uint64_t member_left;		/* bytes of frames.fsr not read */
	uint64_t record;
	char err[512];
};

/* A member's name for messages ("?" when it has none). */
static const char *member_name(struct archive_entry *e)
{
	const char *n = archive_entry_pathname(e);

	return n ? n : "?";
}

/* Read all of the current member (at most max bytes) into a buffer. */
static int read_member(struct archive *a, struct archive_entry *e,
		       size_t max, char **out, size_t *n, char *err,
		       size_t errlen)
{
	int64_t size = archive_entry_size(e);
	size_t got = 0;
	char *p;

	if (size < 0 || (uint64_t)size > max) {
		snprintf(err, errlen, "member '%s' has a bad size %" PRId64,
			 member_name(e), size);
		return -1;
	}
	p = fs_xmalloc((size_t)size + 1);
	while (got < (size_t)size) {
		la_ssize_t k = archive_read_data(a, p + got,
						 (size_t)size - got);

		if (k <= 0) {
			snprintf(err, errlen, "cannot read member '%s': %s",
				 member_name(e), k < 0 ?
				 archive_error_string(a) : "truncated");
			free(p);
			return -1;
		}
		got += (size_t)k;
	}
	p[got] = 0;
	*out = p;
	*n = got;
	return 0;
}

/* The next member, which must be called name. */
static int next_member(struct fs_arc_reader *r, const char *name,
		       struct archive_entry **e, char *err, size_t errlen)
{
	int rc = archive_read_next_header(r->a, e);

	if (rc == ARCHIVE_EOF) {
		snprintf(err, errlen, "no member '%s'", name);
		return -1;
	}
	if (rc < ARCHIVE_WARN) {
		snprintf(err, errlen, "cannot read the header of '%s': %s",
			 name, archive_error_string(r->a));
		return -1;
	}
	if (!archive_entry_pathname(*e) ||
	    strcmp(archive_entry_pathname(*e), name)) {
		snprintf(err, errlen, "member '%s' where '%s' belongs",
			 member_name(*e), name);
		return -1;
	}
	return 0;
}

/* Manifest and index into r; -1 with why in err. */
static int read_head(struct fs_arc_reader *r, char *err, size_t errlen)
{
	struct archive_entry *e;
	char *ix;
	size_t n;

	if (next_member(r, "manifest.json", &e, err, errlen) ||
	    read_member(r->a, e, FS_ARC_MANIFEST_MAX, &r->raw, &r->raw_len,
			err, errlen) ||
	    fs_arc_manifest_parse(r->raw, r->raw_len, &r->m, err, errlen))
		return -1;
	if (r->m.index_entries != (r->m.records + FS_ARC_INDEX_EVERY - 1) /
				  FS_ARC_INDEX_EVERY) {
		snprintf(err, errlen, "manifest.json: index_entries %" PRIu64
			 " for %" PRIu64 " records", r->m.index_entries,
			 r->m.records);
		return -1;
	}
	if (next_member(r, "index.bin", &e, err, errlen) ||
	    read_member(r->a, e, (size_t)r->m.index_entries *
			FS_ARC_INDEX_SIZE, &ix, &n, err, errlen))
		return -1;
	r->idx_raw = (uint8_t *)ix;
	if (n != r->m.index_entries * FS_ARC_INDEX_SIZE) {
		snprintf(err, errlen, "index.bin holds %zu bytes, not %"
			 PRIu64, n, r->m.index_entries * FS_ARC_INDEX_SIZE);
		return -1;
	}
	r->nidx = (size_t)r->m.index_entries;
	r->idx = fs_xcalloc(r->nidx ? r->nidx : 1, sizeof(*r->idx));
	for (size_t i = 0; i < r->nidx; i++)
		fs_arc_index_decode(ix + i * FS_ARC_INDEX_SIZE, &r->idx[i]);
	if (next_member(r, "frames.fsr", &e, err, errlen))
		return -1;
	if (archive_entry_size(e) < 0 ||
	    (uint64_t)archive_entry_size(e) != r->m.frames_bytes) {
		snprintf(err, errlen, "frames.fsr holds %" PRId64 " bytes, "
			 "the manifest says %" PRIu64, archive_entry_size(e),
			 r->m.frames_bytes);
		return -1;
	}
	r->member_left = r->m.frames_bytes;
	return 0;
}

struct fs_arc_reader *fs_arc_open(const char *path, char *err,
				  size_t errlen)
{
	struct fs_arc_reader *r = fs_xcalloc(1, sizeof(*r));

	r->a = archive_read_new();
	archive_read_support_filter_zstd(r->a);
	archive_read_support_format_tar(r->a);
	if (archive_read_open_filename(r->a, path, 256 << 10)) {
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 archive_error_string(r->a));
		fs_arc_close(r);
		return NULL;
	}
	if (read_head(r, err, errlen)) {
		fs_arc_close(r);
		return NULL;
	}
	if (posix_memalign((void **)&r->buf, 64, RBUF + FS_FRAME_MAX + 8))
		fs_die(FS_EXIT_FAIL, "out of memory");
	r->cap = RBUF + FS_FRAME_MAX + 8;
	return r;
}

const struct fs_arc_manifest *fs_arc_manifest(const struct fs_arc_reader *r)
{
	return &r->m;
}

const char *fs_arc_manifest_raw(const struct fs_arc_reader *r, size_t *n)
{
	*n = r->raw_len;
	return r->raw;
}

const struct fs_arc_index *fs_arc_index(const struct fs_arc_reader *r,
					size_t *n)
{
	*n = r->nidx;
	return r->idx;
}

void fs_arc_index_sha(const struct fs_arc_reader *r, uint8_t h[FS_MT_HASH])
{
	fs_sha256(r->idx_raw ? r->idx_raw : (const uint8_t *)"",
		  r->nidx * FS_ARC_INDEX_SIZE, h);
}

/*
 * Have at least need bytes from start in buf (need <= cap), reading
 * more of frames.fsr; 1, 0 when the member ends first, -1 on an error.
 */
static int fill(struct fs_arc_reader *r, size_t need)
{
	if (r->start == r->end) {
		r->start = r->end = 0;
	} else if (r->start && r->cap - r->start < need) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	while (r->end - r->start < need) {
		size_t want = r->cap - r->end;
		la_ssize_t k;

		if (want > r->member_left)
			want = (size_t)r->member_left;
		if (want > RBUF)
			want = RBUF;
		if (!want)
			return 0;
		k = archive_read_data(r->a, r->buf + r->end, want);
		if (k < 0) {
			snprintf(r->err, sizeof(r->err), "record %" PRIu64
				 " (byte offset %" PRIu64 " of frames.fsr): "
				 "cannot read: %s", r->record + 1,
				 r->pos + (r->end - r->start),
				 archive_error_string(r->a));
			return -1;
		}
		if (k == 0) {
			snprintf(r->err, sizeof(r->err), "record %" PRIu64
				 " (byte offset %" PRIu64 " of frames.fsr): "
				 "the file ends %" PRIu64 " bytes early",
				 r->record + 1, r->pos + (r->end - r->start),
				 r->member_left);
			return -1;
		}
		r->end += (size_t)k;
		r->member_left -= (uint64_t)k;
	}
	return 1;
}

int fs_arc_next(struct fs_arc_reader *r, const struct fs_hdr **h)
{
	uint32_t len;
	int rc = fill(r, 4);

	if (rc <= 0) {
		if (rc == 0 && r->end > r->start) {
			snprintf(r->err, sizeof(r->err), "record %" PRIu64
				 " (byte offset %" PRIu64 " of frames.fsr): "
				 "%zu bytes left over, not a frame",
				 r->record + 1, r->pos, r->end - r->start);
			return -1;
		}
		return rc;
	}
	memcpy(&len, r->buf + r->start, 4);
	if (len < FS_HDR_SIZE - 4 || len > FS_FRAME_MAX || (len + 4) % 8) {
		snprintf(r->err, sizeof(r->err), "record %" PRIu64 " (byte "
			 "offset %" PRIu64 " of frames.fsr): bad frame "
			 "length %" PRIu32, r->record + 1, r->pos, len);
		return -1;
	}
	rc = fill(r, (size_t)len + 4);
	if (rc <= 0) {
		if (rc == 0)
			snprintf(r->err, sizeof(r->err), "record %" PRIu64
				 " (byte offset %" PRIu64 " of frames.fsr): "
				 "truncated frame", r->record + 1, r->pos);
		return -1;
	}
	*h = (const struct fs_hdr *)(r->buf + r->start);
	r->start += (size_t)len + 4;
	r->pos += (uint64_t)len + 4;
	r->record++;
	return 1;
}

/* Skip forward to index block i (unparsed). */
static int skip_to(struct fs_arc_reader *r, size_t i)
{
	uint64_t off;

	if (i >= r->nidx) {		/* past the last record */
		off = r->m.frames_bytes;
		i = r->nidx;
	} else {
		off = r->idx[i].offset;
	}
	if (off <= r->pos)
		return 0;
	while (r->pos < off) {
		size_t have = r->end - r->start;
		uint64_t gap = off - r->pos;

		if (!have) {
			int rc = fill(r, 1);

			if (rc < 0)
				return -1;
			if (rc == 0)
				break;
			continue;
		}
		if (have > gap)
			have = (size_t)gap;
		r->start += have;
		r->pos += have;
	}
	r->record = i < r->nidx ? r->idx[i].record : r->m.records;
	return 0;
}

int fs_arc_seek_time(struct fs_arc_reader *r, int64_t ts)
{
	size_t i = 0;

	while (i < r->nidx && r->idx[i].ts_max < ts)
		i++;
	return skip_to(r, i);
}

int fs_arc_seek_seq(struct fs_arc_reader *r, uint64_t seq)
{
	size_t i = 0;

	while (i < r->nidx && r->idx[i].seq_max < seq)
		i++;
	return skip_to(r, i);
}

int fs_arc_seek_record(struct fs_arc_reader *r, uint64_t rec)
{
	const struct fs_hdr *h;
	size_t i = (size_t)(rec >> FS_ARC_INDEX_LOG);

	if (rec > r->m.records) {
		snprintf(r->err, sizeof(r->err), "no record %" PRIu64
			 ": the segment holds %" PRIu64, rec + 1,
			 r->m.records);
		return -1;
	}
	if (rec > r->record && skip_to(r, i < r->nidx ? i : r->nidx))
		return -1;
	while (r->record < rec) {
		int rc = fs_arc_next(r, &h);

		if (rc <= 0) {
			if (rc == 0)
				snprintf(r->err, sizeof(r->err), "record %"
					 PRIu64 ": frames.fsr ends first",
					 rec + 1);
			return -1;
		}
	}
	return 0;
}

int fs_arc_end(struct fs_arc_reader *r)
{
	struct archive_entry *e;
	int rc = archive_read_next_header(r->a, &e);

	if (rc == ARCHIVE_EOF)
		return 0;
	if (rc < ARCHIVE_WARN)
		snprintf(r->err, sizeof(r->err), "after the last record: %s",
			 archive_error_string(r->a));
	else
		snprintf(r->err, sizeof(r->err), "a member '%s' after "
			 "frames.fsr", member_name(e));
	return -1;
}

uint64_t fs_arc_record(const struct fs_arc_reader *r)
{
	return r->record;
}

uint64_t fs_arc_offset(const struct fs_arc_reader *r)
{
	return r->pos;
}

const char *fs_arc_error(const struct fs_arc_reader *r)
{
	return r->err;
}

void fs_arc_close(struct fs_arc_reader *r)
{
	if (!r)
		return;
	if (r->a)
		archive_read_free(r->a);
	free(r->raw);
	free(r->idx_raw);
	free(r->idx);
	free(r->buf);
	free(r);
}

/* A tar header's octal size field. */
static uint64_t tar_size(const char *h)
{
	uint64_t v = 0;

	for (int i = 124; i < 136 && h[i] >= '0' && h[i] <= '7'; i++)
		v = v * 8 + (uint64_t)(h[i] - '0');
	return v;
}

/* The walk of fs_arc_readable over decoded bytes p[0..n). */
struct walk {
	char *head;			/* bytes before frames.fsr's data */
	size_t nhead, chead;
	int in_frames;
	uint64_t left;			/* of the member's data */
	uint8_t lenb[4];
	unsigned nlen;
	uint64_t frame_left;		/* of the current frame */
	uint64_t cur;			/* its size */
	int64_t records;
	uint64_t good;			/* bytes of whole frames */
	uint64_t at;			/* offset in frames.fsr of p */
	uint64_t cfrom, cto;		/* fs_arc_salvage: copy these */
	uint8_t *copy;
};

static void walk_frames(struct walk *w, const uint8_t *p, size_t n)
{
	if (n > w->left)
		n = (size_t)w->left;
	w->left -= n;
	if (w->copy && w->at < w->cto && w->at + n > w->cfrom) {
		uint64_t a = w->at > w->cfrom ? w->at : w->cfrom;
		uint64_t b = w->at + n < w->cto ? w->at + n : w->cto;

		memcpy(w->copy + (a - w->cfrom), p + (a - w->at), b - a);
	}
	w->at += n;
	while (n) {
		if (!w->frame_left) {
			uint32_t len;

			w->lenb[w->nlen++] = *p++;
			n--;
			if (w->nlen < 4)
				continue;
			memcpy(&len, w->lenb, 4);
			w->nlen = 0;
			w->frame_left = len;
			w->cur = (uint64_t)len + 4;
			if (!len)
				return;
			continue;
		}
		size_t k = n < w->frame_left ? n : (size_t)w->frame_left;

		p += k;
		n -= k;
		w->frame_left -= k;
		if (!w->frame_left) {
			w->records++;
			w->good += w->cur;
		}
	}
}

/* Feed decoded bytes: tar headers until frames.fsr, then its data. */
static void walk(struct walk *w, const uint8_t *p, size_t n)
{
	if (w->in_frames) {
		walk_frames(w, p, n);
		return;
	}
	if (w->nhead + n > w->chead) {
		w->chead = 2 * (w->nhead + n);
		w->head = fs_xrealloc(w->head, w->chead);
	}
	memcpy(w->head + w->nhead, p, n);
	w->nhead += n;
	for (size_t off = 0; off + 512 <= w->nhead;) {
		const char *h = w->head + off;
		uint64_t size = tar_size(h), adv = 512 + ((size + 511) & ~511u);

		if (h[156] == '0' && !strncmp(h, "frames.fsr", 100)) {
			size_t rest = w->nhead - off - 512;

			w->in_frames = 1;
			w->left = size;
			walk_frames(w, (const uint8_t *)h + 512, rest);
			return;
		}
		if (off + adv > w->nhead)
			return;
		off += (size_t)adv;
	}
}

/* Decode path with libzstd a little at a time through walk(). */
static void decode_walk(const char *path, struct walk *w)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ZSTD_DCtx *z = ZSTD_createDCtx();
	uint8_t in[4096], out[4096];
	ssize_t k;

	if (fd < 0 || !z)
		goto out;
	while ((k = read(fd, in, sizeof(in))) > 0) {
		ZSTD_inBuffer ib = { in, (size_t)k, 0 };

		for (;;) {
			ZSTD_outBuffer ob = { out, sizeof(out), 0 };

			if (ZSTD_isError(ZSTD_decompressStream(z, &ob, &ib)))
				goto out;
			walk(w, out, ob.pos);
			if (ib.pos == ib.size && ob.pos < ob.size)
				break;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	ZSTD_freeDCtx(z);
	free(w->head);
	w->head = NULL;
}

int64_t fs_arc_salvage(const char *path, uint64_t from, void **buf)
{
	struct walk w = { 0 };
	uint64_t good;

	*buf = NULL;
	if (fs_arc_readable(path, &good) == -1 || good <= from)
		return 0;
	w.cfrom = from;
	w.cto = good;
	w.copy = fs_xmalloc((size_t)(good - from));
	decode_walk(path, &w);
	if (w.at < good) {		/* decodes less than the first time */
		free(w.copy);
		return 0;
	}
	*buf = w.copy;
	return (int64_t)(good - from);
}

int64_t fs_arc_readable(const char *path, uint64_t *offset)
{
	struct walk w = { 0 };

	decode_walk(path, &w);
	*offset = w.good;
	if (w.in_frames && !w.left && !w.frame_left && !w.nlen)
		return -2;		/* every record decodes */
	return w.in_frames ? w.records : -1;
}

/* ---- the writer ---- */

/* The open segment: what its manifest and index will say. */
struct seg {
	uint64_t no;
	char *path;			/* DIR/open-N.fsr */
	int fd;				/* -1 until the first record */
	int64_t window;			/* its --segment window start */
	struct fs_arc_manifest m;	/* counts, ranges as they grow */
	struct fs_mt tree;		/* of whole blocks' roots */
	struct fs_mt block;		/* the current block */
	uint8_t (*leaves)[FS_MT_HASH];	/* the current block's leaves */
	struct fs_arc_index *idx;
	size_t nidx, cidx;
};

/* A sealed-to-be segment, handed to the seal thread. */
struct seal_job {
	const char *dir;
	int dirfd;
	char *open_path;
	char *zst_path;			/* frames compressed, or NULL */
	char *json;			/* manifest.json */
	uint8_t *index;			/* index.bin */
	size_t index_len;
	struct fs_arc_manifest m;
	char name[128];			/* the sealed file's name */
	int failed;
	char err[600];
};

struct fs_arc_writer {
	char *dir;
	int dirfd;
	struct fs_arc_wopts o;
	struct seg s;
	char *wbuf;			/* open-file block */
	size_t wlen;
	uint8_t prev[FS_MT_HASH];	/* SHA-256 of the last manifest */
	uint8_t archive_id[16];
	pthread_t thread;
	struct seal_job *job;		/* running, or NULL */
	uint64_t records, sealed;
	ZSTD_CCtx *zc;			/* frames, compressed */
	char *zpath;			/* DIR/open-N.zst */
	int zfd;
	int zon;			/* this segment's .zst is good so far */
	char *zbuf;
	size_t zcap;
};

static void seg_start(struct fs_arc_writer *w, uint64_t no)
{
	char name[48];
	struct seg *s = &w->s;

	snprintf(name, sizeof(name), "open-%08" PRIu64 ".fsr", no);
	free(s->path);
	s->path = join(w->dir, name);
	snprintf(name, sizeof(name), "open-%08" PRIu64 ".zst", no);
	free(w->zpath);
	w->zpath = join(w->dir, name);
	w->zfd = -1;
	w->zon = 1;
	ZSTD_CCtx_reset(w->zc, ZSTD_reset_session_only);
	s->no = no;
	s->fd = -1;
	memset(&s->m, 0, sizeof(s->m));
	s->m.min_ts = INT64_MAX;
	s->m.max_ts = INT64_MIN;
	s->m.min_seq = s->m.min_key = UINT64_MAX;
	fs_mt_init(&s->tree);
	fs_mt_init(&s->block);
	s->nidx = 0;
}

/* Hash frame f (size n) into s and count it. */
static void absorb(struct seg *s, const struct fs_hdr *f, size_t n)
{
	struct fs_arc_manifest *m = &s->m;
	unsigned k = (unsigned)(m->records & (FS_ARC_INDEX_EVERY - 1));
	struct fs_arc_index *e;

	if (!k) {
		if (s->nidx == s->cidx) {
			s->cidx = s->cidx ? 2 * s->cidx : 64;
			s->idx = fs_xrealloc(s->idx,
					     s->cidx * sizeof(*s->idx));
		}
		e = &s->idx[s->nidx++];
		e->record = m->records;
		e->offset = m->frames_bytes;
		e->ts_first = f->ts_event;
		e->seq_first = f->seq;
		e->ts_max = s->nidx > 1 ? e[-1].ts_max : INT64_MIN;
		e->seq_max = s->nidx > 1 ? e[-1].seq_max : 0;
	}
	e = &s->idx[s->nidx - 1];
	fs_mt_leaf(f, n, s->leaves[k]);
	fs_mt_push(&s->block, s->leaves[k]);
	if (k == FS_ARC_INDEX_EVERY - 1) {
		fs_mt_root(&s->block, e->root);
		fs_mt_push_subtree(&s->tree, e->root, FS_ARC_INDEX_LOG);
		fs_mt_init(&s->block);
	}
	if (f->ts_event > e->ts_max)
		e->ts_max = f->ts_event;
	if (f->seq > e->seq_max)
		e->seq_max = f->seq;
	if (!m->records)
		m->first_seq = f->seq;
	m->last_seq = f->seq;
	if (f->seq < m->min_seq)
		m->min_seq = f->seq;
	if (f->seq > m->max_seq)
		m->max_seq = f->seq;
	if (f->ts_event < m->min_ts)
		m->min_ts = f->ts_event;
	if (f->ts_event > m->max_ts)
		m->max_ts = f->ts_event;
	if (f->key < m->min_key)
		m->min_key = f->key;
	if (f->key > m->max_key)
		m->max_key = f->key;
	m->records++;
	m->frames_bytes += n;
}

/* Close the books of s: the last block, the root, the index bytes. */
static struct seal_job *seg_finish(struct fs_arc_writer *w)
{
	struct seg *s = &w->s;
	struct seal_job *j = fs_xcalloc(1, sizeof(*j));
	unsigned k = (unsigned)(s->m.records & (FS_ARC_INDEX_EVERY - 1));

	if (k) {
		fs_mt_root(&s->block, s->idx[s->nidx - 1].root);
		for (unsigned i = 0; i < k; i++)
			fs_mt_push(&s->tree, s->leaves[i]);
	}
	s->m.version = FS_ARC_VERSION;
	s->m.segment = s->no;
	s->m.index_entries = s->nidx;
	fs_mt_root(&s->tree, s->m.root);
	memcpy(s->m.prev, w->prev, FS_MT_HASH);
	memcpy(s->m.archive_id, w->archive_id, sizeof(w->archive_id));
	s->m.created = fs_now_ns();
	j->index_len = s->nidx * FS_ARC_INDEX_SIZE;
	j->index = fs_xmalloc(j->index_len + 1);
	for (size_t i = 0; i < s->nidx; i++)
		index_encode(&s->idx[i], j->index + i * FS_ARC_INDEX_SIZE);
	fs_sha256(j->index, j->index_len, s->m.index_sha);
	j->m = s->m;
	j->json = manifest_json(&s->m);
	fs_sha256(j->json, strlen(j->json), w->prev);
	j->dir = w->dir;
	j->dirfd = w->dirfd;
	j->open_path = fs_xstrdup(s->path);
	fs_arc_seg_name(j->name, sizeof(j->name), s->no, s->m.min_ts,
			s->m.max_ts);
	return j;
}

/* Add member name of size bytes (data, or NULL to write later). */
static int put_header(struct archive *a, const char *name, int64_t size,
		      int64_t mtime)
{
	struct archive_entry *e = archive_entry_new();
	int rc;

	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0444);
	archive_entry_set_mtime(e, mtime / 1000000000, mtime % 1000000000);
	rc = archive_write_header(a, e);
	archive_entry_free(e);
	return rc == ARCHIVE_OK ? 0 : -1;
}

static int put_data(struct archive *a, const void *p, size_t n)
{
	return archive_write_data(a, p, n) == (la_ssize_t)n ? 0 : -1;
}

/* libarchive's error, with errno's text when it has one. */
static void arc_err(struct seal_job *j, struct archive *a)
{
	const char *s = archive_error_string(a);
	int e = archive_errno(a);

	if (e > 0)
		snprintf(j->err, sizeof(j->err), "%s (%s)", s ? s : "error",
			 strerror(e));
	else
		snprintf(j->err, sizeof(j->err), "%s", s ? s : "error");
}

/*
 * Where libarchive's tar bytes go while sealing: the headers and the
 * two small members before frames.fsr's data (prefix), then the data
 * (counted, not kept: the frames are compressed already, or are
 * compressed from the open file), then the padding and end blocks
 * (suffix).
 */
struct tar_sink {
	int phase;			/* 0 prefix, 1 data, 2 suffix */
	char *b[3];
	size_t n[3], cap[3];
	uint64_t data;
};

static la_ssize_t sink_write(struct archive *a, void *arg, const void *p,
			     size_t n)
{
	struct tar_sink *s = arg;
	int i = s->phase;

	(void)a;
	if (i == 1) {
		s->data += n;
		return (la_ssize_t)n;
	}
	if (s->n[i] + n > s->cap[i]) {
		s->cap[i] = 2 * (s->n[i] + n);
		s->b[i] = fs_xrealloc(s->b[i], s->cap[i]);
	}
	memcpy(s->b[i] + s->n[i], p, n);
	s->n[i] += n;
	return (la_ssize_t)n;
}

/*
 * The tar of j with libarchive (pax restricted; no filter, no
 * blocking) into s: frames.fsr's data stands in as zeros.
 */
static int make_tar(struct seal_job *j, struct tar_sink *s)
{
	static const char zero[1 << 16];
	struct archive *a = archive_write_new();
	uint64_t left = j->m.frames_bytes;
	int rc = -1;

	if (archive_write_set_format_pax_restricted(a) ||
	    archive_write_set_bytes_per_block(a, 0) ||
	    archive_write_open(a, s, NULL, sink_write, NULL) ||
	    put_header(a, "manifest.json", (int64_t)strlen(j->json),
		       j->m.created) ||
	    put_data(a, j->json, strlen(j->json)) ||
	    put_header(a, "index.bin", (int64_t)j->index_len, j->m.created) ||
	    put_data(a, j->index, j->index_len) ||
	    put_header(a, "frames.fsr", (int64_t)j->m.frames_bytes,
		       j->m.created))
		goto out;
	s->phase = 1;
	while (left) {
		size_t k = left < sizeof(zero) ? (size_t)left : sizeof(zero);

		if (put_data(a, zero, k))
			goto out;
		left -= k;
	}
	s->phase = 2;
	if (archive_write_close(a))
		goto out;
	rc = s->data == j->m.frames_bytes ? 0 : -1;
out:
	if (rc)
		arc_err(j, a);
	archive_write_free(a);
	return rc;
}

/* Write p[0..n) to fd; -1 with why in j->err. */
static int put_bytes(struct seal_job *j, int fd, const void *p, size_t n,
		     const char *path)
{
	size_t off = 0;

	while (off < n) {
		ssize_t k = write(fd, (const char *)p + off, n - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			snprintf(j->err, sizeof(j->err), "cannot write '%s': "
				 "%s", path, strerror(errno));
			return -1;
		}
		off += (size_t)k;
	}
	return 0;
}

/*
 * Compress p[0..n) as one zstd frame (level 3) to fd, or, with
 * fd_in >= 0, the n bytes read from fd_in.  -1 with why in j->err.
 */
static int put_zstd(struct seal_job *j, int fd, const char *path,
		    const void *p, size_t n, int fd_in)
{
	ZSTD_CCtx *z = ZSTD_createCCtx();
	size_t ocap = ZSTD_CStreamOutSize(), r;
	char *out = fs_xmalloc(ocap), *in = fd_in >= 0 ?
					     fs_xmalloc(WBUF) : NULL;
	uint64_t left = fd_in >= 0 ? j->m.frames_bytes : n;
	int rc = -1;

	if (!z)
		fs_die(FS_EXIT_FAIL, "out of memory");
	ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, 3);
	ZSTD_CCtx_setPledgedSrcSize(z, left);
	do {
		ZSTD_inBuffer ib = { p, left, 0 };
		ZSTD_EndDirective e = ZSTD_e_end;

		if (in) {
			ssize_t k = read(fd_in, in, left < WBUF ?
					 (size_t)left : WBUF);

			if (k <= 0) {
				snprintf(j->err, sizeof(j->err), "cannot "
					 "read '%s': %s", j->open_path, k ?
					 strerror(errno) : "too short");
				goto out;
			}
			ib = (ZSTD_inBuffer){ in, (size_t)k, 0 };
			e = (uint64_t)k < left ? ZSTD_e_continue : ZSTD_e_end;
		}
		left -= ib.size;
		do {
			ZSTD_outBuffer ob = { out, ocap, 0 };

			r = ZSTD_compressStream2(z, &ob, &ib, e);
			if (ZSTD_isError(r)) {
				snprintf(j->err, sizeof(j->err), "zstd: %s",
					 ZSTD_getErrorName(r));
				goto out;
			}
			if (put_bytes(j, fd, out, ob.pos, path))
				goto out;
		} while (e == ZSTD_e_end ? r != 0 : ib.pos < ib.size);
	} while (left);
	rc = 0;
out:
	ZSTD_freeCCtx(z);
	free(out);
	free(in);
	return rc;
}

/* Copy the compressed frames of j's .zst file to fd. */
static int put_copy(struct seal_job *j, int fd, const char *path,
		    char *buf)
{
	int in = open(j->zst_path, O_RDONLY | O_CLOEXEC);
	ssize_t k;

	if (in < 0) {
		snprintf(j->err, sizeof(j->err), "cannot open '%s': %s",
			 j->zst_path, strerror(errno));
		return -1;
	}
	while ((k = read(in, buf, WBUF)) > 0)
		if (put_bytes(j, fd, buf, (size_t)k, path)) {
			close(in);
			return -1;
		}
	close(in);
	if (k < 0) {
		snprintf(j->err, sizeof(j->err), "cannot read '%s': %s",
			 j->zst_path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Seal j: the tar.zst into a temporary name, fsync, rename, fsync the
 * directory, remove the open file, fsync the directory again.  A crash
 * at any step leaves either no sealed file (the open file is recovered
 * at the next start) or both (the open file is found sealed already
 * and removed).  0, or -1 with why in j->err and no file made.
 *
 * The file is three zstd frames, which zstd decoders (and so tar
 * --zstd and libarchive) read as one stream: the tar up to frames.fsr's
 * data, the data (compressed while it was appended, by a zstd worker
 * thread beside the hashing; or now from the open file), and the tar's
 * end.  libarchive's own zstd filter would compress it all here, after
 * the hashing, one after the other.
 */
static int seal(struct seal_job *j)
{
	char tmp[160], *tpath, *fpath, *buf = fs_xmalloc(WBUF);
	struct tar_sink s = { 0 };
	int fd = -1, in = -1, rc = -1;

	snprintf(tmp, sizeof(tmp), ".seal-%08" PRIu64 ".tmp", j->m.segment);
	tpath = join(j->dir, tmp);
	fpath = join(j->dir, j->name);
	if (make_tar(j, &s))
		goto out;
	fd = open(tpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	if (fd < 0) {
		snprintf(j->err, sizeof(j->err), "cannot create '%s': %s",
			 tpath, strerror(errno));
		goto out;
	}
	if (!j->zst_path) {
		in = open(j->open_path, O_RDONLY | O_CLOEXEC);
		if (in < 0) {
			snprintf(j->err, sizeof(j->err), "cannot open '%s': "
				 "%s", j->open_path, strerror(errno));
			goto fail;
		}
	}
	if (put_zstd(j, fd, tpath, s.b[0], s.n[0], -1) ||
	    (j->zst_path ? put_copy(j, fd, tpath, buf) :
	     put_zstd(j, fd, tpath, NULL, 0, in)) ||
	    put_zstd(j, fd, tpath, s.b[2], s.n[2], -1))
		goto fail;
	if (fsync(fd) || close(fd)) {
		fd = -1;
		snprintf(j->err, sizeof(j->err), "cannot sync '%s': %s",
			 tpath, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tpath, fpath) || fsync(j->dirfd)) {
		snprintf(j->err, sizeof(j->err), "cannot rename '%s' to "
			 "'%s': %s", tpath, fpath, strerror(errno));
		goto fail;
	}
	if (unlink(j->open_path) || fsync(j->dirfd)) {
		snprintf(j->err, sizeof(j->err), "cannot remove '%s': %s",
			 j->open_path, strerror(errno));
		goto out;
	}
	if (j->zst_path)
		unlink(j->zst_path);
	rc = 0;
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tpath);
out:
	if (in >= 0)
		close(in);
	if (!j->err[0] && rc)
		snprintf(j->err, sizeof(j->err), "unknown error");
	for (int i = 0; i < 3; i++)
		free(s.b[i]);
	free(tpath);
	free(fpath);
	free(buf);
	j->failed = rc != 0;
	return rc;
}

static void *seal_thread(void *arg)
{
	seal(arg);
	return NULL;
}

static void job_free(struct seal_job *j)
{
	free(j->open_path);
	free(j->zst_path);
	free(j->json);
	free(j->index);
	free(j);
}

/* Wait for the running seal; a failed one ends the tool, exit 1. */
static void seal_wait(struct fs_arc_writer *w)
{
	struct seal_job *j = w->job;

	if (!j)
		return;
	pthread_join(w->thread, NULL);
	w->job = NULL;
	if (j->failed) {
		char m[sizeof(j->err) + 400];

		snprintf(m, sizeof(m), "cannot seal segment %" PRIu64 " "
			 "into '%s/%s': %s; '%s' is kept and is recovered "
			 "at the next start", j->m.segment, j->dir, j->name,
			 j->err, j->open_path);
		job_free(j);
		fs_die(FS_EXIT_FAIL, "%s", m);
	}
	w->sealed++;
	job_free(j);
}

/* Write p[0..n) to the open file; dies (exit 1) on failure. */
static void write_all(struct fs_arc_writer *w, const void *p, size_t n)
{
	size_t off = 0;

	if (n && w->o.before_write)
		w->o.before_write(w->o.arg);
	while (off < n) {
		ssize_t k = write(w->s.fd, (const char *)p + off, n - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			fs_die_errno(FS_EXIT_FAIL, "cannot write '%s'",
				     w->s.path);
		off += (size_t)k;
	}
}

/*
 * The .zst beside the open file cannot be written (a full disk): drop
 * it; the seal compresses the open file instead.
 */
static void zdrop(struct fs_arc_writer *w)
{
	if (w->zfd >= 0)
		close(w->zfd);
	w->zfd = -1;
	unlink(w->zpath);
	w->zon = 0;
	ZSTD_CCtx_reset(w->zc, ZSTD_reset_session_only);
}

/*
 * Compress p[0..n) into the open segment's .zst (end: and end its zstd
 * frame).  With a zstd worker thread this hands the bytes over and
 * returns while they are compressed beside the hashing.
 */
static void zfeed(struct fs_arc_writer *w, const void *p, size_t n,
		  ZSTD_EndDirective e)
{
	ZSTD_inBuffer ib = { p, n, 0 };
	size_t r;

	if (!w->zon)
		return;
	do {
		ZSTD_outBuffer ob = { w->zbuf, w->zcap, 0 };
		size_t off = 0;

		r = ZSTD_compressStream2(w->zc, &ob, &ib, e);
		if (ZSTD_isError(r)) {
			zdrop(w);
			return;
		}
		while (off < ob.pos) {
			ssize_t k = write(w->zfd, w->zbuf + off, ob.pos - off);

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				zdrop(w);
				return;
			}
			off += (size_t)k;
		}
	} while (e == ZSTD_e_end ? r != 0 : ib.pos < ib.size);
}

/* Write the open-file block out. */
static void wflush(struct fs_arc_writer *w)
{
	write_all(w, w->wbuf, w->wlen);
	zfeed(w, w->wbuf, w->wlen, ZSTD_e_continue);
	w->wlen = 0;
}

/* Seal the open segment (if it holds records) in the seal thread. */
static void roll(struct fs_arc_writer *w, int wait)
{
	struct seal_job *j;

	if (!w->s.m.records)
		return;
	wflush(w);
	if (close(w->s.fd))
		fs_die_errno(FS_EXIT_FAIL, "cannot write '%s'", w->s.path);
	zfeed(w, NULL, 0, ZSTD_e_end);
	if (w->zon && close(w->zfd))
		zdrop(w);
	w->zfd = -1;
	j = seg_finish(w);
	j->zst_path = w->zon ? fs_xstrdup(w->zpath) : NULL;
	seal_wait(w);
	w->job = j;
	if (pthread_create(&w->thread, NULL, seal_thread, j))
		fs_die(FS_EXIT_FAIL, "cannot start the seal thread");
	if (wait)
		seal_wait(w);
	seg_start(w, w->s.no + 1);
}

/* The --segment window of ts: ts rounded down to a multiple of d. */
static int64_t window_of(int64_t ts, int64_t d)
{
	int64_t q = ts / d;

	if (ts < 0 && ts % d)
		q--;
	return q * d;
}

void fs_arc_append(struct fs_arc_writer *w, const struct fs_hdr *h)
{
	struct seg *s = &w->s;
	size_t n = fs_frame_size(h);

	if (w->o.segment_ns) {
		int64_t wnd = window_of(h->ts_event, w->o.segment_ns);

		if (s->m.records && wnd > s->window)
			roll(w, 0);
		if (!s->m.records)
			s->window = wnd;
	}
	if (w->o.segment_bytes && s->m.records &&
	    s->m.frames_bytes + n > w->o.segment_bytes)
		roll(w, 0);
	if (s->fd < 0) {
		s->fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND |
			     O_CLOEXEC, 0644);
		if (s->fd < 0)
			fs_die_errno(FS_EXIT_FAIL, "cannot create '%s'",
				     s->path);
		w->zfd = open(w->zpath, O_WRONLY | O_CREAT | O_TRUNC |
			      O_CLOEXEC, 0644);
		if (w->zfd < 0)
			zdrop(w);
	}
	absorb(s, h, n);
	if (w->wlen + n > WBUF)
		wflush(w);
	if (n > WBUF) {
		write_all(w, h, n);
		zfeed(w, h, n, ZSTD_e_continue);
	} else {
		memcpy(w->wbuf + w->wlen, h, n);
		w->wlen += n;
	}
	w->records++;
}

/*
 * Read the frames of the open file at path into w->s (hashing them):
 * a frame cut short or malformed at its end is cut off the file.  The
 * number of bytes cut, or dies (exit 1) when the file cannot be read.
 */
static uint64_t scan_open(struct fs_arc_writer *w, const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	size_t cap = WBUF + FS_FRAME_MAX + 8, have = 0, at = 0;
	char *buf;
	uint64_t good = 0, size;
	struct stat st;
	ssize_t k;

	if (fd < 0 || fstat(fd, &st))
		fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", path);
	size = (uint64_t)st.st_size;
	if (posix_memalign((void **)&buf, 64, cap))
		fs_die(FS_EXIT_FAIL, "out of memory");
	for (;;) {
		uint32_t len = 0;
		const struct fs_hdr *f;

		if (have - at < FS_HDR_SIZE ||
		    (memcpy(&len, buf + at, 4), have - at < len + 4)) {
			memmove(buf, buf + at, have - at);
			have -= at;
			at = 0;
			k = read(fd, buf + have, cap - have);
			if (k < 0)
				fs_die_errno(FS_EXIT_FAIL, "cannot read '%s'",
					     path);
			if (k == 0)
				break;
			have += (size_t)k;
			continue;
		}
		f = (const struct fs_hdr *)(buf + at);
		if (len < FS_HDR_SIZE - 4 || len > FS_FRAME_MAX ||
		    (len + 4) % 8 || f->version != FS_FORMAT_VERSION)
			break;
		absorb(&w->s, f, len + 4);
		at += len + 4;
		good += len + 4;
	}
	free(buf);
	if (good < size && ftruncate(fd, (off_t)good))
		fs_die_errno(FS_EXIT_FAIL, "cannot cut '%s'", path);
	close(fd);
	return size - good;
}

/*
 * Recover the open file path of segment no, left by a run that ended
 * without sealing it: cut a torn last frame, then seal it (or remove
 * it with discard_open), and say so with its record count.  An open
 * file whose segment is sealed already (a crash between the rename and
 * the removal) is removed when it holds the same records.
 */
static void recover(struct fs_arc_writer *w, const char *path, uint64_t no,
		    uint64_t next)
{
	struct seal_job *j;
	uint64_t cut;

	seg_start(w, no);
	cut = scan_open(w, path);
	if (cut)
		fs_warn("'%s': cut a torn last frame (%" PRIu64 " bytes)",
			path, cut);
	if (no < next) {
		struct fs_arc_list l;
		char err[600];
		struct fs_arc_reader *r = NULL;
		uint8_t root[FS_MT_HASH], prev[FS_MT_HASH];

		memcpy(prev, w->prev, FS_MT_HASH);
		j = seg_finish(w);
		memcpy(w->prev, prev, FS_MT_HASH);	/* the chain stays */
		memcpy(root, j->m.root, FS_MT_HASH);
		if (!fs_arc_list(w->dir, &l, err, sizeof(err)))
			for (size_t i = 0; i < l.n; i++)
				if (l.seg[i].no == no)
					r = fs_arc_open(l.seg[i].path, err,
							sizeof(err));
		fs_arc_list_free(&l);
		if (!r || fs_arc_manifest(r)->records != j->m.records ||
		    memcmp(fs_arc_manifest(r)->root, root, FS_MT_HASH))
			fs_die(FS_EXIT_DATA, "'%s' holds records of segment "
			       "%" PRIu64 ", which is sealed with others",
			       path, no);
		fs_arc_close(r);
		job_free(j);
		if (unlink(path))
			fs_die_errno(FS_EXIT_FAIL, "cannot remove '%s'", path);
		fs_warn("'%s' was sealed already; removed", path);
		return;
	}
	if (no != next)
		fs_die(FS_EXIT_DATA, "'%s': segment %" PRIu64 " is next, not "
		       "%" PRIu64, path, next, no);
	if (!w->s.m.records || w->o.discard_open) {
		if (unlink(path))
			fs_die_errno(FS_EXIT_FAIL, "cannot remove '%s'", path);
		fs_warn("discarded the open segment %" PRIu64 ": %" PRIu64
			" records", no, w->s.m.records);
		return;
	}
	j = seg_finish(w);
	if (seal(j))
		fs_die(FS_EXIT_FAIL, "cannot seal the recovered segment %"
		       PRIu64 " from '%s': %s; '%s' is kept", no, path,
		       j->err, path);
	fs_warn("recovered the open segment %" PRIu64 ": %" PRIu64
		" records, sealed as '%s'", no, j->m.records, j->name);
	w->sealed++;
	job_free(j);
}

/*
 * Remove the temporary files of a seal that did not finish, and the
 * compressed copies of open files (recovery compresses those again).
 */
static void remove_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", dir);
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if ((!strncmp(e->d_name, ".seal-", 6) && n > 4 &&
		     !strcmp(e->d_name + n - 4, ".tmp")) ||
		    (!strncmp(e->d_name, "open-", 5) && n > 4 &&
		     !strcmp(e->d_name + n - 4, ".zst"))) {
			char *p = join(dir, e->d_name);

			if (unlink(p))
				fs_die_errno(FS_EXIT_FAIL, "cannot remove "
					     "'%s'", p);
			free(p);
		}
	}
	closedir(d);
}

/* Chain state from the newest sealed segment; its number + 1. */
static uint64_t chain_from(struct fs_arc_writer *w, struct fs_arc_list *l)
{
	const struct fs_arc_seg *last = &l->seg[l->n - 1];
	char err[600];
	struct fs_arc_reader *r = fs_arc_open(last->path, err, sizeof(err));
	const char *raw;
	size_t n;

	if (!r)
		fs_die(FS_EXIT_DATA, "the newest segment cannot be read, "
		       "so the chain cannot go on (run fs-archive verify): "
		       "%s", err);
	if (fs_arc_manifest(r)->segment != last->no)
		fs_die(FS_EXIT_DATA, "'%s' holds segment %" PRIu64 " (run "
		       "fs-archive verify)", last->path,
		       fs_arc_manifest(r)->segment);
	raw = fs_arc_manifest_raw(r, &n);
	fs_sha256(raw, n, w->prev);
	memcpy(w->archive_id, fs_arc_manifest(r)->archive_id,
	       sizeof(w->archive_id));
	fs_arc_close(r);
	return last->no + 1;
}

struct fs_arc_writer *fs_arc_writer_open(const char *dir,
					 const struct fs_arc_wopts *o)
{
	struct fs_arc_writer *w = fs_xcalloc(1, sizeof(*w));
	struct fs_arc_list l;
	char err[600];
	uint64_t next = 1;

	if (mkdir(dir, 0777) && errno != EEXIST)
		fs_die_errno(FS_EXIT_FAIL, "cannot make '%s'", dir);
	w->dir = fs_xstrdup(dir);
	w->o = *o;
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", dir);
	if (posix_memalign((void **)&w->wbuf, 64, WBUF))
		fs_die(FS_EXIT_FAIL, "out of memory");
	w->s.leaves = fs_xmalloc(FS_ARC_INDEX_EVERY * FS_MT_HASH);
	w->zc = ZSTD_createCCtx();
	if (!w->zc)
		fs_die(FS_EXIT_FAIL, "out of memory");
	ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, 3);
	/* A worker thread, where libzstd has them: compression beside. */
	ZSTD_CCtx_setParameter(w->zc, ZSTD_c_nbWorkers, 1);
	w->zcap = ZSTD_CStreamOutSize();
	w->zbuf = fs_xmalloc(w->zcap);
	remove_tmp(dir);
	if (fs_arc_list(dir, &l, err, sizeof(err)))
		fs_die(FS_EXIT_FAIL, "%s", err);
	if (l.n)
		next = chain_from(w, &l);
	else if (getrandom(w->archive_id, sizeof(w->archive_id), 0) !=
		 (ssize_t)sizeof(w->archive_id))
		fs_die_errno(FS_EXIT_FAIL, "cannot get random bytes");
	for (size_t i = 0; i < l.nopen; i++) {
		const char *p = strrchr(l.open[i], '/') + 6;
		uint64_t no;

		scan_u64(&p, '.', &no);
		recover(w, l.open[i], no, next);
		if (no >= next)
			next = no + 1;
	}
	fs_arc_list_free(&l);
	seg_start(w, next);
	return w;
}

void fs_arc_writer_close(struct fs_arc_writer *w)
{
	roll(w, 1);
	seal_wait(w);
	close(w->dirfd);
	free(w->s.path);
	free(w->zpath);
	ZSTD_freeCCtx(w->zc);
	free(w->zbuf);
	free(w->s.leaves);
	free(w->s.idx);
	free(w->wbuf);
	free(w->dir);
	free(w);
}

uint64_t fs_arc_writer_records(const struct fs_arc_writer *w)
{
	return w->records;
}

uint64_t fs_arc_writer_sealed(const struct fs_arc_writer *w)
{
	return w->sealed;
}
