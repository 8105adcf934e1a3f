/*
 * fs-archive - the immutable log: records appended into sealed segments
 * (tar + zstd through libarchive) with RFC 6962 Merkle roots and a hash
 * chain of manifests; verify, list, prove, check proofs.  The segment
 * format and the writer live in libcommon/fsarchive.c (fs-replay reads
 * segments with the same code); this file is the command line.
 */
#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "fsarchive.h"
#include "pii.h"

#include <openssl/crypto.h>

struct opts {
	const char *dir, *input, *root, *old_root;
	const char *keys, *master_key_file;
	int64_t segment_ns;
	uint64_t segment_bytes;
	int discard_open, json, have_seq, have_from, have_to;
	int encrypt_pii, have_subject;
	uint64_t seq, from_size, to_size, subject;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: fs-archive write --dir DIR [--segment DURATION] [--segment-size SIZE]\n"
"                        [--discard-open] [--encrypt-pii --keys FILE\n"
"                        [--master-key-file FILE]] [-i URI]\n"
"       fs-archive erase --keys FILE --subject N [--master-key-file FILE]\n"
"       fs-archive verify --dir DIR\n"
"       fs-archive ls --dir DIR [--json]\n"
"       fs-archive prove --dir DIR --seq N\n"
"       fs-archive prove --dir DIR --from-size M [--to-size N]\n"
"       fs-archive check-proof FILE --root HEX [--old-root HEX]\n"
"Keep a record stream as sealed, hash-chained segments with Merkle roots;\n"
"verify them, list them, prove a record or an archive's growth; encrypt\n"
"PII under per-subject keys, and erase a subject by deleting its key.\n"
"\n"
"      --dir DIR          the archive directory\n"
"      --segment DURATION  write: roll segments by event time, at multiples\n"
"                         of DURATION (10m, 1h)\n"
"      --segment-size SIZE  write: roll before the frames pass SIZE bytes\n"
"                         (k, M, G: powers of 1024); default 256M\n"
"      --discard-open     write: discard an open segment a crash left,\n"
"                         instead of sealing it\n"
"      --encrypt-pii      write: encrypt each record's PII fields and key\n"
"                         (AES-256-GCM) under its subject's key\n"
"      --keys FILE        the key store (SQLite); write makes it when the\n"
"                         archive is new\n"
"      --master-key-file FILE  the master key (32 bytes, or 64 hex\n"
"                         digits); default: $FS_MASTER_KEY (hex)\n"
"      --subject N        erase: the subject (account) whose key goes\n"
"  -i, --input URI        write: read records from URI (default -, stdin)\n"
"      --json             ls: one JSON object per segment and line\n"
"      --seq N            prove: inclusion proof of the record with seq N\n"
"      --from-size M      prove: consistency proof of the archive of the\n"
"                         first M segments with that of --to-size N\n"
"      --to-size N        (default: every segment)\n"
"      --root HEX         check-proof: the trusted root (inclusion: the\n"
"                         segment's root; consistency: the newer head)\n"
"      --old-root HEX     check-proof: the trusted older head\n"
"  -h, --help             print this help and exit\n"
"      --version          print the version and exit\n");
}

enum { O_DIR = 256, O_SEGMENT, O_SEGSIZE, O_DISCARD, O_JSON, O_SEQ,
       O_FROM, O_TO, O_ROOT, O_OLDROOT, O_VERSION, O_ENCRYPT, O_KEYS,
       O_MKF, O_SUBJECT };

static const struct option long_options[] = {
	{ "dir", required_argument, NULL, O_DIR },
	{ "discard-open", no_argument, NULL, O_DISCARD },
	{ "encrypt-pii", no_argument, NULL, O_ENCRYPT },
	{ "from-size", required_argument, NULL, O_FROM },
	{ "help", no_argument, NULL, 'h' },
	{ "input", required_argument, NULL, 'i' },
	{ "json", no_argument, NULL, O_JSON },
	{ "keys", required_argument, NULL, O_KEYS },
	{ "master-key-file", required_argument, NULL, O_MKF },
	{ "old-root", required_argument, NULL, O_OLDROOT },
	{ "root", required_argument, NULL, O_ROOT },
	{ "segment", required_argument, NULL, O_SEGMENT },
	{ "segment-size", required_argument, NULL, O_SEGSIZE },
	{ "seq", required_argument, NULL, O_SEQ },
	{ "subject", required_argument, NULL, O_SUBJECT },
	{ "to-size", required_argument, NULL, O_TO },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* "256M", "1G", "4096": bytes, k/M/G powers of 1024. */
static uint64_t opt_size(const char *opt, const char *s)
{
	size_t n = strlen(s);
	int shift = 0;
	int64_t v;

	if (n && strchr("kKmMgG", s[n - 1])) {
		shift = strchr("kK", s[n - 1]) ? 10 :
			strchr("mM", s[n - 1]) ? 20 : 30;
		n--;
	}
	if (fs_parse_i64(s, n, 1, INT64_MAX >> 30, &v) < 0)
		fs_usage_error("bad %s '%s': want bytes, such as 256M", opt,
			       s);
	return (uint64_t)v << shift;
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
	int c;

	while ((c = fs_getopt(argc, argv, "hi:", long_options)) != -1) {
		switch (c) {
		case 'h': usage(stdout); exit(FS_EXIT_OK);
		case 'i': o->input = optarg; break;
		case O_DIR: o->dir = optarg; break;
		case O_DISCARD: o->discard_open = 1; break;
		case O_ENCRYPT: o->encrypt_pii = 1; break;
		case O_KEYS: o->keys = optarg; break;
		case O_MKF: o->master_key_file = optarg; break;
		case O_SUBJECT:
			if (!*optarg)
				fs_usage_error("bad --subject '': want an "
					       "account id");
			/* an id as records hold it (fs-record(5)) */
			o->subject = fs_id(optarg, strlen(optarg));
			o->have_subject = 1;
			break;
		case O_FROM:
			o->from_size = (uint64_t)fs_opt_i64("--from-size",
							    optarg, 1,
							    INT64_MAX);
			o->have_from = 1;
			break;
		case O_TO:
			o->to_size = (uint64_t)fs_opt_i64("--to-size", optarg,
							  1, INT64_MAX);
			o->have_to = 1;
			break;
		case O_JSON: o->json = 1; break;
		case O_OLDROOT: o->old_root = optarg; break;
		case O_ROOT: o->root = optarg; break;
		case O_SEGMENT:
			o->segment_ns = fs_opt_duration("--segment", optarg,
							(size_t)-1, 1,
							INT64_MAX);
			break;
		case O_SEGSIZE:
			o->segment_bytes = opt_size("--segment-size", optarg);
			break;
		case O_SEQ:
			if (fs_parse_u64(optarg, (size_t)-1, &o->seq) < 0)
				fs_usage_error("bad --seq '%s': want a "
					       "number", optarg);
			o->have_seq = 1;
			break;
		case O_VERSION: fs_print_version(NULL); exit(FS_EXIT_OK);
		default: fs_usage_error("unexpected option");
		}
	}
}

static void need_dir(const struct opts *o, const char *cmd)
{
	if (!o->dir)
		fs_usage_error("%s needs --dir DIR", cmd);
}

static void hex(const uint8_t h[FS_MT_HASH], char b[2 * FS_MT_HASH + 1])
{
	fs_mt_hex(h, b);
}

/* ---- keys ---- */

/*
 * The key store of --keys under the master key (--master-key-file or
 * $FS_MASTER_KEY), made when create is set and it is missing; dies
 * with fs_pii_exit's status (2 no master key, 3 a wrong one, 4 a store
 * missing) naming what is wrong.
 */
static struct fs_pii *keys_open(const struct opts *o, int create)
{
	uint8_t mk[32];
	char why[512];
	struct fs_pii *s;
	int e = fs_pii_master_key(o->master_key_file, mk, why, sizeof(why));

	if (e < 0)
		fs_die(fs_pii_exit(e), "%s", why);
	s = fs_pii_store_open(o->keys, mk, create ? FS_PII_CREATE : 0, &e,
			      why, sizeof(why));
	OPENSSL_cleanse(mk, sizeof(mk));
	if (!s)
		fs_die(fs_pii_exit(e), "%s", why);
	return s;
}

/* Whether dir holds a segment or an open file already. */
static int archive_exists(const char *dir)
{
	struct fs_arc_list l;
	char err[256];
	int any;

	if (fs_arc_list(dir, &l, err, sizeof(err)) < 0)
		return 0;	/* no such directory yet */
	any = l.n > 0 || l.nopen > 0;
	fs_arc_list_free(&l);
	return any;
}

/* fs_arc_wopts.before_write: new subjects' keys are durable first. */
static void keys_commit(void *arg)
{
	struct fs_pii *s = arg;
	int e = fs_pii_flush(s);

	if (e < 0)
		fs_die(fs_pii_exit(e), "%s", fs_pii_why(s));
}

static int cmd_erase(const struct opts *o)
{
	struct fs_pii *s;
	int e;

	if (!o->keys || !o->have_subject)
		fs_usage_error("erase needs --keys FILE and --subject N");
	s = keys_open(o, 0);
	e = fs_pii_erase(s, o->subject);
	if (e < 0)
		fs_die(fs_pii_exit(e), "%s", fs_pii_why(s));
	fs_pii_store_close(s);
	fs_warn("erased subject %" PRIu64 ": its key is gone from '%s'; "
		"its records' PII can no longer be read", o->subject,
		o->keys);
	return FS_EXIT_OK;
}

/* ---- write ---- */

static int cmd_write(const struct opts *o)
{
	struct fs_arc_wopts wo = {
		.segment_ns = o->segment_ns,
		.segment_bytes = o->segment_bytes ? o->segment_bytes :
				 (uint64_t)256 << 20,
		.discard_open = o->discard_open,
	};
	struct fs_pii *ks = NULL;
	struct fs_reader *r;
	struct fs_arc_writer *w;
	const struct fs_hdr *h;
	int64_t t0 = fs_mono_ns();
	uint64_t *sealed = NULL;
	size_t cap = 0;
	uint64_t n;
	double s;
	int rc;

	if (o->keys && !o->encrypt_pii)
		fs_usage_error("--keys without --encrypt-pii: say "
			       "--encrypt-pii to encrypt");
	if (o->encrypt_pii) {
		if (!o->keys)
			fs_usage_error("--encrypt-pii needs --keys FILE");
		/* a new archive may make its store; else it must exist */
		ks = keys_open(o, !archive_exists(o->dir));
		wo.before_write = keys_commit;
		wo.arg = ks;
	}
	r = fs_reader_open(o->input ? o->input : "-");
	w = fs_arc_writer_open(o->dir, &wo);
	while ((rc = fs_read(r, &h)) == 1) {
		if (ks) {
			size_t need = fs_frame_size(h) + FS_PII_OVERHEAD;
			int k;

			if (need > cap) {	/* 8-aligned, grown rarely */
				free(sealed);
				cap = need < 4096 ? 4096 : need;
				sealed = fs_xmalloc(cap);
			}
			k = fs_pii_seal(ks, h, sealed, cap);
			if (k < 0)
				fs_die(fs_pii_exit(k), "%s", fs_pii_why(ks));
			h = (const struct fs_hdr *)sealed;
		}
		fs_arc_append(w, h);
		if (!(fs_arc_writer_records(w) & 4095) && fs_progress_due())
			fs_progress("fs-archive: %" PRIu64 " records, %"
				    PRIu64 " segments sealed",
				    fs_arc_writer_records(w),
				    fs_arc_writer_sealed(w));
	}
	fs_progress_done();
	n = fs_arc_writer_records(w);
	fs_arc_writer_close(w);	/* seals what the input left open */
	if (ks)
		fs_pii_store_close(ks);
	free(sealed);
	s = (fs_mono_ns() - t0) / 1e9;
	fs_warn("wrote %" PRIu64 " records in %.3f s%s", n, s,
		rc < 0 ? "; the input ended in bad data" : "");
	fs_reader_close(r);
	return rc < 0 ? FS_EXIT_DATA : FS_EXIT_OK;
}

/* ---- verify ---- */

struct vstate {
	const char *dir, *name;
	int bad;			/* problems in this segment */
	int problems;			/* in the archive */
};

static void problem(struct vstate *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct vstate *v, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: verify: %s: ", fs_progname, v->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	v->bad++;
	v->problems++;
}

/*
 * A segment that cannot be read: say from which record on, decoding
 * it again a little at a time (libarchive's read-ahead fails early).
 */
static void damaged(struct vstate *v, const char *why)
{
	char path[4096];
	uint64_t off;
	int64_t n;
	const char *p = strstr(why, "cannot read: ");

	if (p)		/* the reader's own record number: too late */
		why = p + strlen("cannot read: ");
	snprintf(path, sizeof(path), "%s/%s", v->dir, v->name);
	n = fs_arc_readable(path, &off);
	if (n < 0)		/* not in the frames: why says where */
		problem(v, "%s", why);
	else
		problem(v, "record %" PRId64 " (byte offset %" PRIu64 " of "
			"frames.fsr) and those after it cannot be read: %s",
			n + 1, off, why);
}

/* Check index entry e against the block that ends at record n. */
static int check_block(struct vstate *v, const struct fs_arc_index *e,
		       size_t k, const struct fs_arc_index *got)
{
	uint64_t a = got->record + 1, b = got->record + FS_ARC_INDEX_EVERY;

	if (memcmp(e->root, got->root, FS_MT_HASH)) {
		problem(v, "records %" PRIu64 "-%" PRIu64 " (index block %zu)"
			": their Merkle root is not the one in the index: a "
			"record among them was changed", a, b, k);
		return -1;
	}
	if (e->record != got->record || e->offset != got->offset ||
	    e->ts_first != got->ts_first || e->seq_first != got->seq_first ||
	    e->ts_max != got->ts_max || e->seq_max != got->seq_max) {
		problem(v, "index block %zu (record %" PRIu64 ") does not "
			"match the records", k, a);
		return -1;
	}
	return 0;
}

/*
 * Recompute segment r's records against its manifest and index; the
 * problems found are reported.
 */
static void verify_records(struct vstate *v, struct fs_arc_reader *r)
{
	const struct fs_arc_manifest *m = fs_arc_manifest(r);
	const struct fs_arc_index *ix;
	struct fs_arc_index got = { 0 };
	struct fs_mt tree, block;
	struct fs_arc_manifest c = { 0 };
	const struct fs_hdr *h;
	uint8_t leaf[FS_MT_HASH], root[FS_MT_HASH];
	size_t nix, k = 0;
	int rc;

	ix = fs_arc_index(r, &nix);
	fs_mt_init(&tree);
	fs_mt_init(&block);
	c.min_ts = INT64_MAX;
	c.max_ts = INT64_MIN;
	c.min_seq = c.min_key = UINT64_MAX;
	got.ts_max = INT64_MIN;
	while ((rc = fs_arc_next(r, &h)) == 1) {
		size_t n = fs_frame_size(h);

		if (!block.n) {
			got.record = c.records;
			got.offset = c.frames_bytes;
			got.ts_first = h->ts_event;
			got.seq_first = h->seq;
		}
		fs_mt_leaf(h, n, leaf);
		fs_mt_push(&block, leaf);
		fs_mt_push(&tree, leaf);
		if (h->ts_event > got.ts_max)
			got.ts_max = h->ts_event;
		if (h->seq > got.seq_max)
			got.seq_max = h->seq;
		if (!c.records)
			c.first_seq = h->seq;
		c.last_seq = h->seq;
#define MIN(f, x) if ((x) < c.f) c.f = (x)
#define MAX(f, x) if ((x) > c.f) c.f = (x)
		MIN(min_seq, h->seq); MAX(max_seq, h->seq);
		MIN(min_ts, h->ts_event); MAX(max_ts, h->ts_event);
		MIN(min_key, h->key); MAX(max_key, h->key);
#undef MIN
#undef MAX
		c.records++;
		c.frames_bytes += n;
		if (block.n == FS_ARC_INDEX_EVERY) {
			fs_mt_root(&block, got.root);
			if (k >= nix) {
				problem(v, "record %" PRIu64 ": more records "
					"than the index covers", c.records);
				return;
			}
			if (check_block(v, &ix[k], k, &got))
				return;
			k++;
			fs_mt_init(&block);
		}
	}
	if (rc < 0) {
		damaged(v, fs_arc_error(r));
		return;
	}
	if (block.n) {
		fs_mt_root(&block, got.root);
		if (k >= nix) {
			problem(v, "record %" PRIu64 ": more records than the "
				"index covers", c.records);
			return;
		}
		if (check_block(v, &ix[k], k, &got))
			return;
		k++;
	}
	if (fs_arc_end(r)) {
		problem(v, "%s", fs_arc_error(r));
		return;
	}
	if (c.records != m->records || c.frames_bytes != m->frames_bytes ||
	    k != nix) {
		problem(v, "holds %" PRIu64 " records (%" PRIu64 " bytes), "
			"the manifest says %" PRIu64 " (%" PRIu64 " bytes)",
			c.records, c.frames_bytes, m->records,
			m->frames_bytes);
		return;
	}
	fs_mt_root(&tree, root);
	if (memcmp(root, m->root, FS_MT_HASH)) {
		problem(v, "the Merkle root of its records is not the "
			"manifest's");
		return;
	}
	if (c.records && (c.first_seq != m->first_seq ||
	    c.last_seq != m->last_seq || c.min_seq != m->min_seq ||
	    c.max_seq != m->max_seq || c.min_ts != m->min_ts ||
	    c.max_ts != m->max_ts || c.min_key != m->min_key ||
	    c.max_key != m->max_key))
		problem(v, "the manifest's seq, time or key ranges are not "
			"those of the records");
}

/* Check one segment's manifest against its name and the chain. */
static int verify_head(struct vstate *v, const struct fs_arc_seg *s,
		       struct fs_arc_reader *r, const uint8_t *prev,
		       const uint8_t *id)
{
	const struct fs_arc_manifest *m = fs_arc_manifest(r);
	uint8_t h[FS_MT_HASH];

	if (m->segment != s->no) {
		problem(v, "holds segment %" PRIu64 ", not %" PRIu64 ": "
			"segment files were swapped or renamed",
			m->segment, s->no);
		return -1;
	}
	if (id && memcmp(id, m->archive_id, sizeof(m->archive_id))) {
		problem(v, "is a segment of another archive (its "
			"archive_id differs)");
		return -1;
	}
	if (prev && memcmp(prev, m->prev, FS_MT_HASH)) {
		problem(v, "the chain breaks: its prev_manifest_sha256 is "
			"not the hash of segment %" PRIu64 "'s manifest (one "
			"of the two was replaced)", s->no - 1);
		return -1;
	}
	if (m->records && (m->min_ts != s->min_ts || m->max_ts != s->max_ts)) {
		problem(v, "the time range in its name is not the "
			"manifest's");
		return -1;
	}
	fs_arc_index_sha(r, h);
	if (memcmp(h, m->index_sha, FS_MT_HASH)) {
		problem(v, "index.bin is not the one the manifest hashed");
		return -1;
	}
	return 0;
}

static int cmd_verify(const struct opts *o)
{
	struct fs_arc_list l;
	struct vstate v = { .dir = o->dir };
	char err[700], hb[2 * FS_MT_HASH + 1];
	uint8_t prev[FS_MT_HASH] = { 0 }, id[16], head[FS_MT_HASH];
	uint64_t expect = 1, records = 0;
	int have_prev = 1, have_id = 0;
	struct fs_mt heads;

	if (fs_arc_list(o->dir, &l, err, sizeof(err)))
		fs_die(FS_EXIT_FAIL, "%s", err);
	fs_mt_init(&heads);
	for (size_t i = 0; i < l.n; i++) {
		const struct fs_arc_seg *s = &l.seg[i];
		struct fs_arc_reader *r;
		const char *raw;
		size_t n;

		v.name = s->name;
		v.bad = 0;
		if (s->no > expect) {
			problem(&v, "segments %" PRIu64 "-%" PRIu64 " are "
				"missing (deleted?)", expect, s->no - 1);
			have_prev = 0;
		} else if (s->no < expect) {
			problem(&v, "a second file of segment %" PRIu64,
				s->no);
		}
		expect = s->no + 1;
		r = fs_arc_open(s->path, err, sizeof(err));
		if (!r) {
			damaged(&v, err);
			have_prev = 0;
			continue;
		}
		if (!have_id) {
			memcpy(id, fs_arc_manifest(r)->archive_id, 16);
			have_id = 1;
		}
		if (!verify_head(&v, s, r, have_prev ? prev : NULL, id))
			verify_records(&v, r);
		raw = fs_arc_manifest_raw(r, &n);
		fs_sha256(raw, n, prev);
		fs_mt_leaf(raw, n, head);
		fs_mt_push(&heads, head);
		have_prev = 1;
		records += fs_arc_manifest(r)->records;
		fs_arc_close(r);
	}
	for (size_t i = 0; i < l.nopen; i++)
		printf("%s: an open segment, not sealed yet (fs-archive "
		       "write recovers it)\n", l.open[i]);
	fs_mt_root(&heads, head);
	hex(head, hb);
	if (v.problems) {
		fs_warn("%s: %d problems in %zu segments", o->dir, v.problems,
			l.n);
		fs_arc_list_free(&l);
		return FS_EXIT_DATA;
	}
	printf("%s: %zu segments, %" PRIu64 " records, head %s: OK\n",
	       o->dir, l.n, records, hb);
	fs_arc_list_free(&l);
	return FS_EXIT_OK;
}

/* ---- ls ---- */

static int cmd_ls(const struct opts *o)
{
	struct fs_arc_list l;
	char err[700], rh[2 * FS_MT_HASH + 1], hh[2 * FS_MT_HASH + 1],
	     mh[2 * FS_MT_HASH + 1], t0[FS_FMT_MAX], t1[FS_FMT_MAX];
	struct fs_mt heads;
	int bad = 0;

	if (fs_arc_list(o->dir, &l, err, sizeof(err)))
		fs_die(FS_EXIT_FAIL, "%s", err);
	fs_mt_init(&heads);
	if (!o->json)
		printf("%8s %10s %-30s %-30s %12s  %s\n", "segment",
		       "records", "from", "to", "bytes", "root");
	for (size_t i = 0; i < l.n; i++) {
		struct fs_arc_reader *r = fs_arc_open(l.seg[i].path, err,
						      sizeof(err));
		const struct fs_arc_manifest *m;
		uint8_t h[FS_MT_HASH];
		struct stat st;
		const char *raw;
		size_t n;

		if (!r) {
			fs_warn("%s", err);
			bad = 1;
			continue;
		}
		m = fs_arc_manifest(r);
		raw = fs_arc_manifest_raw(r, &n);
		fs_sha256(raw, n, h);
		hex(h, mh);
		fs_mt_leaf(raw, n, h);
		fs_mt_push(&heads, h);
		fs_mt_root(&heads, h);
		hex(h, hh);
		hex(m->root, rh);
		fs_fmt_time(t0, m->min_ts);
		fs_fmt_time(t1, m->max_ts);
		if (stat(l.seg[i].path, &st))
			st.st_size = 0;
		if (o->json)
			printf("{\"segment\":%" PRIu64 ",\"file\":\"%s\","
			       "\"records\":%" PRIu64 ",\"min_ts_event\":\""
			       "%" PRId64 "\",\"max_ts_event\":\"%" PRId64
			       "\",\"from\":\"%s\",\"to\":\"%s\",\"first_seq"
			       "\":\"%" PRIu64 "\",\"last_seq\":\"%" PRIu64
			       "\",\"bytes\":%jd,\"frames_bytes\":%" PRIu64
			       ",\"root\":\"%s\",\"manifest_sha256\":\"%s\","
			       "\"head_size\":%" PRIu64 ",\"head\":\"%s\"}\n",
			       m->segment, l.seg[i].name, m->records,
			       m->min_ts, m->max_ts, t0, t1, m->first_seq,
			       m->last_seq, (intmax_t)st.st_size,
			       m->frames_bytes, rh, mh, heads.n, hh);
		else
			printf("%8" PRIu64 " %10" PRIu64 " %-30s %-30s %12jd"
			       "  %s\n", m->segment, m->records, t0, t1,
			       (intmax_t)st.st_size, rh);
		fs_arc_close(r);
	}
	if (!o->json && l.n) {
		printf("head of %" PRIu64 " segments: %s\n", heads.n, hh);
	}
	for (size_t i = 0; i < l.nopen; i++)
		fs_warn("%s: an open segment, not sealed yet", l.open[i]);
	fs_arc_list_free(&l);
	fs_stdout_done();
	return bad ? FS_EXIT_DATA : FS_EXIT_OK;
}

/* ---- prove ---- */

static void put_path(cJSON *o, uint8_t (*p)[FS_MT_HASH], unsigned n)
{
	cJSON *a = cJSON_AddArrayToObject(o, "path");
	char b[2 * FS_MT_HASH + 1];

	for (unsigned i = 0; i < n; i++) {
		hex(p[i], b);
		cJSON_AddItemToArray(a, cJSON_CreateString(b));
	}
}

static void put_hash(cJSON *o, const char *k, const uint8_t *h)
{
	char b[2 * FS_MT_HASH + 1];

	hex(h, b);
	cJSON_AddStringToObject(o, k, b);
}

static void print_json(cJSON *o)
{
	char *s = cJSON_Print(o);

	if (!s)
		fs_die(FS_EXIT_FAIL, "out of memory");
	puts(s);
	free(s);
	cJSON_Delete(o);
	fs_stdout_done();
}

static struct fs_arc_reader *open_or_die(const char *path)
{
	char err[700];
	struct fs_arc_reader *r = fs_arc_open(path, err, sizeof(err));

	if (!r)
		fs_die(FS_EXIT_DATA, "%s", err);
	return r;
}

/*
 * Find the first record with seq in segment path: its number in
 * *leaf and a copy of its frame; 0, or -1 if none.
 */
static int find_seq(const char *path, uint64_t seq, uint64_t *leaf,
		    char **frame, size_t *len)
{
	struct fs_arc_reader *r = open_or_die(path);
	const struct fs_hdr *h;
	int rc;

	if (fs_arc_seek_seq(r, seq))
		fs_die(FS_EXIT_DATA, "%s: %s", path, fs_arc_error(r));
	while ((rc = fs_arc_next(r, &h)) == 1)
		if (h->seq == seq) {
			*leaf = fs_arc_record(r) - 1;
			*len = fs_frame_size(h);
			*frame = fs_xmalloc(*len);
			memcpy(*frame, h, *len);
			fs_arc_close(r);
			return 0;
		}
	if (rc < 0)
		fs_die(FS_EXIT_DATA, "%s: %s", path, fs_arc_error(r));
	fs_arc_close(r);
	return -1;
}

/*
 * To an inclusion proof of a record in segment k (from 0) of l, add
 * the inclusion proof of that segment's manifest in the archive's
 * head: head_size (the segments), head_path, head.
 */
static void put_head_path(cJSON *j, struct fs_arc_list *l, size_t k)
{
	struct fs_mt_range rg[FS_MT_MAXH];
	struct fs_mt_nodes *nodes = fs_xmalloc(sizeof(*nodes));
	uint8_t p[FS_MT_MAXH][FS_MT_HASH], h[FS_MT_HASH];
	struct fs_mt t;
	unsigned nr = fs_mt_path_ranges(k, l->n, rg);

	fs_mt_nodes_init(nodes, rg, nr);
	fs_mt_init(&t);
	for (size_t i = 0; i < l->n; i++) {
		struct fs_arc_reader *r = open_or_die(l->seg[i].path);
		const char *raw;
		size_t len;

		raw = fs_arc_manifest_raw(r, &len);
		fs_mt_leaf(raw, len, h);
		fs_mt_nodes_leaf(nodes, h);
		fs_mt_push(&t, h);
		fs_arc_close(r);
	}
	if (fs_mt_nodes_get(nodes, p))
		fs_bug("head path ranges left unfilled");
	fs_mt_root(&t, h);
	cJSON_AddNumberToObject(j, "head_size", (double)l->n);
	{
		cJSON *a = cJSON_AddArrayToObject(j, "head_path");
		char b[2 * FS_MT_HASH + 1];

		for (unsigned i = 0; i < nr; i++) {
			hex(p[i], b);
			cJSON_AddItemToArray(a, cJSON_CreateString(b));
		}
	}
	put_hash(j, "head", h);
	free(nodes);
}

/* The RFC 6962 inclusion proof of the record with seq --seq. */
static int prove_seq(const struct opts *o, struct fs_arc_list *l)
{
	struct fs_mt_range rg[FS_MT_MAXH];
	struct fs_mt_nodes *nodes = fs_xmalloc(sizeof(*nodes));
	uint8_t p[FS_MT_MAXH][FS_MT_HASH], leaf[FS_MT_HASH];
	const struct fs_arc_manifest *m;
	struct fs_arc_reader *r = NULL;
	const struct fs_hdr *h;
	uint64_t at = 0;
	char *frame = NULL, *fh;
	size_t i, len = 0;
	unsigned nr;
	cJSON *j;

	for (i = 0; i < l->n; i++) {
		r = open_or_die(l->seg[i].path);
		m = fs_arc_manifest(r);
		if (o->seq >= m->min_seq && o->seq <= m->max_seq &&
		    !find_seq(l->seg[i].path, o->seq, &at, &frame, &len))
			break;
		fs_arc_close(r);
		r = NULL;
	}
	if (!r)
		fs_die(FS_EXIT_DATA, "no record with seq %" PRIu64 " in '%s'",
		       o->seq, o->dir);
	m = fs_arc_manifest(r);
	nr = fs_mt_path_ranges(at, m->records, rg);
	fs_mt_nodes_init(nodes, rg, nr);
	while (fs_arc_next(r, &h) == 1) {
		fs_mt_leaf(h, fs_frame_size(h), leaf);
		fs_mt_nodes_leaf(nodes, leaf);
	}
	if (fs_mt_nodes_get(nodes, p))
		fs_die(FS_EXIT_DATA, "%s: %s", l->seg[i].name,
		       fs_arc_error(r)[0] ? fs_arc_error(r) :
		       "fewer records than the manifest says");
	fs_mt_leaf(frame, len, leaf);
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "type", "inclusion");
	cJSON_AddNumberToObject(j, "segment", (double)m->segment);
	cJSON_AddStringToObject(j, "file", l->seg[i].name);
	{
		char b[24];

		snprintf(b, sizeof(b), "%" PRIu64, o->seq);
		cJSON_AddStringToObject(j, "seq", b);
	}
	cJSON_AddNumberToObject(j, "leaf_index", (double)at);
	cJSON_AddNumberToObject(j, "tree_size", (double)m->records);
	put_hash(j, "leaf_hash", leaf);
	put_path(j, p, nr);
	put_hash(j, "root", m->root);
	fh = fs_xmalloc(2 * len + 1);
	for (size_t k = 0; k < len; k++)
		snprintf(fh + 2 * k, 3, "%02x", (unsigned char)frame[k]);
	cJSON_AddStringToObject(j, "frame", fh);
	free(fh);
	free(frame);
	free(nodes);
	{
		size_t n;
		const char *raw = fs_arc_manifest_raw(r, &n);
		char *t = fs_xmalloc(n + 1);

		memcpy(t, raw, n);
		t[n] = 0;
		cJSON_AddStringToObject(j, "manifest", t);
		free(t);
	}
	fs_arc_close(r);
	put_head_path(j, l, i);
	print_json(j);
	return FS_EXIT_OK;
}

/*
 * The consistency proof between the heads of the first M and first N
 * segments: trees whose leaves are the segments' manifest members.
 */
static int prove_heads(const struct opts *o, struct fs_arc_list *l)
{
	uint64_t m = o->from_size, n = o->have_to ? o->to_size : l->n;
	struct fs_mt_range rg[FS_MT_MAXH];
	struct fs_mt_nodes *nodes = fs_xmalloc(sizeof(*nodes));
	uint8_t p[FS_MT_MAXH][FS_MT_HASH], h[FS_MT_HASH], r1[FS_MT_HASH],
		r2[FS_MT_HASH];
	struct fs_mt t;
	unsigned nr;
	cJSON *j;

	if (m > n || n > l->n)
		fs_die(FS_EXIT_DATA, "'%s' has %zu segments: no heads of %"
		       PRIu64 " and %" PRIu64, o->dir, l->n, m, n);
	nr = fs_mt_proof_ranges(m, n, rg);
	fs_mt_nodes_init(nodes, rg, nr);
	fs_mt_init(&t);
	for (uint64_t i = 0; i < n; i++) {
		struct fs_arc_reader *r = open_or_die(l->seg[i].path);
		const char *raw;
		size_t len;

		if (fs_arc_manifest(r)->segment != i + 1)
			fs_die(FS_EXIT_DATA, "%s holds segment %" PRIu64
			       ", not %" PRIu64 " (run fs-archive verify)",
			       l->seg[i].name, fs_arc_manifest(r)->segment,
			       i + 1);
		raw = fs_arc_manifest_raw(r, &len);
		fs_mt_leaf(raw, len, h);
		fs_mt_nodes_leaf(nodes, h);
		fs_mt_push(&t, h);
		if (t.n == m)
			fs_mt_root(&t, r1);
		fs_arc_close(r);
	}
	fs_mt_root(&t, r2);
	if (fs_mt_nodes_get(nodes, p))
		fs_bug("consistency proof ranges left unfilled");
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "type", "consistency");
	cJSON_AddStringToObject(j, "leaves", "manifest.json of each segment");
	cJSON_AddNumberToObject(j, "first_size", (double)m);
	cJSON_AddNumberToObject(j, "second_size", (double)n);
	put_hash(j, "first_root", r1);
	put_hash(j, "second_root", r2);
	put_path(j, p, nr);
	free(nodes);
	print_json(j);
	return FS_EXIT_OK;
}

static int cmd_prove(const struct opts *o)
{
	struct fs_arc_list l;
	char err[700];
	int rc;

	if (o->have_seq == o->have_from)
		fs_usage_error("prove needs --seq N or --from-size M");
	if (fs_arc_list(o->dir, &l, err, sizeof(err)))
		fs_die(FS_EXIT_FAIL, "%s", err);
	rc = o->have_seq ? prove_seq(o, &l) : prove_heads(o, &l);
	fs_arc_list_free(&l);
	return rc;
}

/* ---- check-proof ---- */

static char *slurp(const char *path, size_t *n)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *p = NULL;
	size_t cap = 0, k;

	if (!f)
		fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", path);
	*n = 0;
	do {
		if (cap - *n < 65536)
			p = fs_xrealloc(p, cap = cap ? 2 * cap : 65536);
		k = fread(p + *n, 1, cap - *n - 1, f);
		*n += k;
	} while (k > 0);
	if (ferror(f))
		fs_die_errno(FS_EXIT_FAIL, "cannot read '%s'", path);
	if (f != stdin)
		fclose(f);
	p[*n] = 0;
	return p;
}

static _Noreturn void invalid(const char *file, const char *why)
{
	fs_die(FS_EXIT_DATA, "%s: the proof does not verify: %s", file, why);
}

static void get_hash(cJSON *j, const char *k, uint8_t *h, const char *file)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
	char why[80];

	if (!cJSON_IsString(v) || fs_mt_unhex(v->valuestring, h)) {
		snprintf(why, sizeof(why), "'%s' is not a 64-digit hex hash",
			 k);
		invalid(file, why);
	}
}

static uint64_t get_size(cJSON *j, const char *k, const char *file)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
	char why[80];

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
	    v->valuedouble > 9007199254740992.0 ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble) {
		snprintf(why, sizeof(why), "'%s' is not a count", k);
		invalid(file, why);
	}
	return (uint64_t)v->valuedouble;
}

/* The "path" array: *n hashes, a new array. */
static uint8_t (*get_path(cJSON *j, unsigned *n, const char *file))[32]
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "path"), *e;
	uint8_t (*p)[FS_MT_HASH];
	unsigned i = 0;

	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > FS_MT_MAXH)
		invalid(file, "'path' is not an array of hashes");
	p = fs_xcalloc((size_t)cJSON_GetArraySize(a) + 1, FS_MT_HASH);
	cJSON_ArrayForEach(e, a) {
		if (!cJSON_IsString(e) || fs_mt_unhex(e->valuestring, p[i]))
			invalid(file, "'path' holds a bad hash");
		i++;
	}
	*n = i;
	return p;
}

/*
 * The second half of an inclusion proof: its manifest holds root and
 * is a leaf of the head trusted (RFC 9162 2.1.3.2).  0 valid; -1 when
 * the proof has no head, or a head other than trusted; exits 3 when
 * the head is trusted but the proof does not hold.
 */
static int check_head(cJSON *j, const uint8_t *root, const uint8_t *trusted,
		      const char *file)
{
	const cJSON *man = cJSON_GetObjectItemCaseSensitive(j, "manifest");
	const cJSON *hp = cJSON_GetObjectItemCaseSensitive(j, "head_path");
	struct fs_arc_manifest m;
	uint8_t head[FS_MT_HASH], leaf[FS_MT_HASH], (*p)[FS_MT_HASH];
	cJSON *sub;
	char err[300];
	unsigned np;
	uint64_t size;
	int ok;

	if (!cJSON_IsString(man) || !cJSON_IsArray(hp))
		return -1;
	get_hash(j, "head", head, file);
	if (memcmp(head, trusted, FS_MT_HASH))
		return -1;
	size = get_size(j, "head_size", file);
	if (fs_arc_manifest_parse(man->valuestring,
				  strlen(man->valuestring), &m, err,
				  sizeof(err)))
		invalid(file, err);
	if (memcmp(m.root, root, FS_MT_HASH))
		invalid(file, "its manifest does not hold its root");
	sub = cJSON_CreateObject();
	cJSON_AddItemReferenceToObject(sub, "path", (cJSON *)hp);
	p = get_path(sub, &np, file);
	cJSON_Delete(sub);
	fs_mt_leaf(man->valuestring, strlen(man->valuestring), leaf);
	ok = m.segment >= 1 && fs_mt_verify_inclusion(m.segment - 1, size,
		leaf, (const uint8_t (*)[FS_MT_HASH])p, np, trusted);
	free(p);
	if (!ok)
		invalid(file, "the head path does not lead from the "
			"manifest to the head (RFC 9162 2.1.3.2)");
	printf("%s: inclusion proof OK: the record in segment %" PRIu64
	       ", the segment in the head of %" PRIu64 " segments\n", file,
	       m.segment, size);
	return 0;
}

static int cmd_check(const struct opts *o, const char *file)
{
	uint8_t trusted[FS_MT_HASH], old[FS_MT_HASH], r[FS_MT_HASH],
		r1[FS_MT_HASH], leaf[FS_MT_HASH], (*p)[FS_MT_HASH];
	const cJSON *type, *fr;
	size_t n;
	char *text;
	cJSON *j;
	unsigned np;
	int ok;

	if (!o->root || fs_mt_unhex(o->root, trusted))
		fs_usage_error("check-proof needs --root HEX (64 hex digits)");
	if (o->old_root && fs_mt_unhex(o->old_root, old))
		fs_usage_error("bad --old-root '%s': want 64 hex digits",
			       o->old_root);
	text = slurp(file, &n);
	j = cJSON_ParseWithLength(text, n);
	free(text);
	if (!j)
		invalid(file, "it is not JSON");
	type = cJSON_GetObjectItemCaseSensitive(j, "type");
	p = get_path(j, &np, file);
	if (cJSON_IsString(type) && !strcmp(type->valuestring, "inclusion")) {
		uint64_t m = get_size(j, "leaf_index", file),
			 size = get_size(j, "tree_size", file);

		get_hash(j, "leaf_hash", leaf, file);
		get_hash(j, "root", r, file);
		fr = cJSON_GetObjectItemCaseSensitive(j, "frame");
		if (cJSON_IsString(fr)) {
			size_t k = strlen(fr->valuestring) / 2;
			uint8_t *b = fs_xmalloc(k + 1), h[FS_MT_HASH];

			for (size_t i = 0; i < k; i++) {
				unsigned v;
				char d[3] = { fr->valuestring[2 * i],
					      fr->valuestring[2 * i + 1], 0 };
				char *end;

				v = (unsigned)strtoul(d, &end, 16);
				if (*end)
					invalid(file, "'frame' is not hex");
				b[i] = (uint8_t)v;
			}
			fs_mt_leaf(b, k, h);
			free(b);
			if (memcmp(h, leaf, FS_MT_HASH))
				invalid(file, "leaf_hash is not the hash of "
					"the frame");
		}
		ok = fs_mt_verify_inclusion(m, size, leaf,
			(const uint8_t (*)[FS_MT_HASH])p, np, r);
		if (!ok)
			invalid(file, "the audit path does not lead from the "
				"leaf to the root (RFC 9162 2.1.3.2)");
		if (!memcmp(r, trusted, FS_MT_HASH))
			printf("%s: inclusion proof OK: leaf %" PRIu64 " of %"
			       PRIu64 " in the segment's root\n", file, m,
			       size);
		else if (check_head(j, r, trusted, file))
			invalid(file, "neither its root nor its head is the "
				"--root given");
	} else if (cJSON_IsString(type) &&
		   !strcmp(type->valuestring, "consistency")) {
		uint64_t m = get_size(j, "first_size", file),
			 size = get_size(j, "second_size", file);

		get_hash(j, "first_root", r1, file);
		get_hash(j, "second_root", r, file);
		if (memcmp(r, trusted, FS_MT_HASH))
			invalid(file, "its second_root is not the --root "
				"given");
		if (o->old_root && memcmp(r1, old, FS_MT_HASH))
			invalid(file, "its first_root is not the --old-root "
				"given");
		ok = fs_mt_verify_consistency(m, size, r1, trusted,
			(const uint8_t (*)[FS_MT_HASH])p, np);
		if (!ok)
			invalid(file, "the proof does not join the two roots "
				"(RFC 9162 2.1.4.2)");
		printf("%s: consistency proof OK: %" PRIu64 " segments "
		       "within %" PRIu64 "\n", file, m, size);
	} else {
		invalid(file, "'type' is neither inclusion nor consistency");
	}
	free(p);
	cJSON_Delete(j);
	return FS_EXIT_OK;
}

int tool_main(int argc, char **argv)
{
	struct opts o = { 0 };
	const char *cmd;
	char **rest;
	int nrest;

	if (argc < 2 || argv[1][0] == '-') {
		parse_opts(&o, argc, argv);	/* --help, --version */
		fs_usage_error("a command is needed: write, erase, verify, "
			       "ls, prove or check-proof");
	}
	cmd = argv[1];
	parse_opts(&o, argc - 1, argv + 1);
	rest = argv + 1 + optind;
	nrest = argc - 1 - optind;
	if (!strcmp(cmd, "check-proof")) {
		if (nrest != 1)
			fs_usage_error("check-proof needs one FILE");
		return cmd_check(&o, rest[0]);
	}
	if (nrest > 0)
		fs_usage_error("unexpected argument '%s'", rest[0]);
	if (!strcmp(cmd, "write")) {
		need_dir(&o, cmd);
		return cmd_write(&o);
	}
	if (!strcmp(cmd, "erase"))
		return cmd_erase(&o);
	if (!strcmp(cmd, "verify")) {
		need_dir(&o, cmd);
		return cmd_verify(&o);
	}
	if (!strcmp(cmd, "ls")) {
		need_dir(&o, cmd);
		return cmd_ls(&o);
	}
	if (!strcmp(cmd, "prove")) {
		need_dir(&o, cmd);
		return cmd_prove(&o);
	}
	fs_usage_error("unknown command '%s': want write, erase, verify, "
		       "ls, prove or check-proof", cmd);
}
