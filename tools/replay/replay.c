/*
 * fs-replay - replay recorded records: a record file or stream, a Kafka
 * topic (from an offset or a time), an fs-archive directory (--dir),
 * by event-time range, key and type, flat out or at a multiple of the
 * recorded speed.
 *
 * The input (replay.h) hands out frames as recorded; here they are
 * filtered, paced and written.  Data records go out with ts_ingest set
 * to now (--keep-ingest: as recorded); the input's WATERMARKs and
 * SCHEMAs go on, its BARRIERs do not: under --state fs-replay is the
 * pipeline's source (libcommon/source.c) and makes its own, with the
 * input's position recorded for each.  An input without WATERMARKs
 * gets fs-replay's own every --watermark-interval of event time.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "pii.h"
#include "replay.h"

#define CLOCK_EVERY 64		/* frames between clock reads, flat out */
#define SLEEP_SLICE 100000000LL	/* ns: a stop is seen this soon */
#define POLL_MS 100		/* a Kafka input's wait, between barriers */

/* State kept in the store beside the position (partitions 1..). */
enum { CK_NEXT_WM = 1, CK_WM_OUT, CK_IN_WM, CK_N };

struct replay {
	/* options */
	int64_t from, to;	/* [from, to) of ts_event */
	uint64_t *keys;		/* --key, sorted; NULL: every key */
	size_t nkeys;
	uint32_t types;		/* --types: bit per type slot; 0: all */
	double speed;		/* 0: max */
	int64_t wm_iv, max_delay;
	int keep_ingest, follow;
	/* running */
	struct rp_source *in;
	struct fs_writer *w;
	struct fs_source *src;	/* NULL without --state */
	char *src_name;
	int64_t pos;		/* input position before the current frame */
	int64_t now;		/* wall clock for ts_ingest */
	int64_t next_wm;	/* own watermarks: next boundary */
	int64_t wm_out;		/* the last WATERMARK written */
	int in_wm;		/* the input has carried a WATERMARK */
	int64_t last_ts;	/* greatest ts_event written */
	int64_t first_ts;	/* of the first record written */
	int64_t pace_ev, pace_mono;	/* pacing anchor; pace_ev 0: none */
	int64_t pace_max;	/* the latest event time paced */
	int64_t t0, pos0;
	uint64_t frames, records, filtered;
	struct fs_metrics *metrics;
	/* --keys: encrypted records opened into obuf */
	struct fs_pii *pii;
	struct fs_hdr *obuf;
	int exit;		/* of bad input; FS_EXIT_DATA unless told */
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: fs-replay [-i URI] [--dir DIR] [-o URI] [--from TIME]\n"
"                 [--to TIME] [--key K[,K...]] [--types TYPE[,TYPE...]]\n"
"                 [--speed max|Nx] [--watermark-interval D]\n"
"                 [--max-delay D] [--keep-ingest] [--follow]\n"
"                 [--keys FILE] [--master-key-file FILE]\n"
"                 [--metrics FILE]\n"
"                 " FS_KAFKA_SYNOPSIS "\n"
"                 " FS_PIPELINE_SYNOPSIS "\n"
"Replay recorded records by event time, key and type, flat out or at a\n"
"multiple of the recorded speed.\n"
"\n"
"  -i, --input URI      a record file, - (stdin), or\n"
"                       kafka://HOST:PORT/TOPIC[?offset=...] (default -)\n"
"      --dir DIR        an fs-archive directory: its sealed segments\n"
"                       of the time range (not with -i)\n"
"  -o, --output URI     output endpoint (default -)\n"
"      --from TIME      leave out records with ts_event before TIME\n"
"                       (ISO 8601 or epoch; Kafka: start there)\n"
"      --to TIME        leave out records at or after TIME; the input\n"
"                       ends once its watermark is past TIME\n"
"      --key K[,K...]   only these keys (numbers, or ids hashed)\n"
"      --types T[,T...] only these record types (txn, trade, ...)\n"
"      --speed S        max (default), or a multiple of the recorded\n"
"                       speed: 1x, 10x, 0.5x\n"
"      --watermark-interval D\n"
"                       event time between fs-replay's own WATERMARKs,\n"
"                       made while the input has carried none\n"
"                       (default 1s; 0: none)\n"
"      --max-delay D    own WATERMARKs lag the event time by D (0)\n"
"      --keep-ingest    keep the recorded ts_ingest (default: now)\n"
"      --follow         Kafka: wait for more at the end of the topic\n"
"                       (default: end at its end as of the start)\n"
"      --keys FILE      open encrypted records with the subjects' keys\n"
"                       in this key store (erased: redacted, ERASED)\n"
"      --master-key-file FILE\n"
"                       the store's master key (default: $FS_MASTER_KEY)\n"
"      --metrics FILE   write Prometheus metrics to FILE every second\n"
"  -h, --help           show this help\n"
"      --version        show the version\n");
	fs_kafka_usage(f, 1);
	fs_pipeline_usage(f);
}

enum { O_FROM = 256, O_TO, O_KEY, O_TYPES, O_SPEED, O_WM_IV, O_DELAY,
       O_KEEP_INGEST, O_FOLLOW, O_METRICS, O_VERSION, O_DIR, O_KEYS,
       O_MASTER };

static const struct option long_options[] = {
	{ "dir", required_argument, NULL, O_DIR },
	{ "follow", no_argument, NULL, O_FOLLOW },
	{ "from", required_argument, NULL, O_FROM },
	{ "help", no_argument, NULL, 'h' },
	{ "input", required_argument, NULL, 'i' },
	{ "keep-ingest", no_argument, NULL, O_KEEP_INGEST },
	{ "key", required_argument, NULL, O_KEY },
	{ "keys", required_argument, NULL, O_KEYS },
	{ "master-key-file", required_argument, NULL, O_MASTER },
	{ "max-delay", required_argument, NULL, O_DELAY },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "output", required_argument, NULL, 'o' },
	{ "speed", required_argument, NULL, O_SPEED },
	{ "to", required_argument, NULL, O_TO },
	{ "types", required_argument, NULL, O_TYPES },
	{ "version", no_argument, NULL, O_VERSION },
	{ "watermark-interval", required_argument, NULL, O_WM_IV },
	{ NULL, 0, NULL, 0 },
};

static int64_t opt_time(const char *opt, const char *s)
{
	int64_t ns;

	if (fs_parse_time(s, (size_t)-1, &ns) < 0)
		fs_usage_error("bad %s '%s': want an ISO 8601 time "
			       "(2026-11-23T09:00Z) or an epoch number", opt,
			       s);
	return ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* --key K[,K...]: each an id as fs_id() maps it; added, sorted. */
static void opt_keys(struct replay *r, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, ",");

		if (n == 0)
			fs_usage_error("bad --key '%s': an empty key", s);
		r->keys = fs_xrealloc(r->keys, (r->nkeys + 1) *
				      sizeof(*r->keys));
		r->keys[r->nkeys++] = fs_id(s, n);
		s += n + (s[n] == ',');
	}
	qsort(r->keys, r->nkeys, sizeof(*r->keys), cmp_u64);
}

/* --types T[,T...]: names of the schema table's data types, any case. */
static void opt_types(struct replay *r, const char *s)
{
	char name[32];

	while (*s) {
		size_t n = strcspn(s, ",");
		const struct fs_type *t;

		if (n == 0 || n >= sizeof(name))
			fs_usage_error("bad --types: '%.*s' is no type name",
				       (int)n, s);
		for (size_t i = 0; i < n; i++)
			name[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ?
					 s[i] - 'A' + 'a' : s[i]);
		name[n] = 0;
		t = fs_type_by_name(name);
		if (!t || t->id >= FS_T_WATERMARK)
			fs_usage_error("bad --types: unknown record type '%s' "
				       "(fs-record(5) names them: txn, trade, "
				       "quote, ...)", name);
		r->types |= 1u << fs_type_slot(t->id);
		s += n + (s[n] == ',');
	}
}

/* --speed max|Nx: 0 for max, else the multiple. */
static double opt_speed(const char *s)
{
	size_t n = strlen(s);
	double v;

	if (strcmp(s, "max") == 0)
		return 0;
	if (n < 2 || (s[n - 1] != 'x' && s[n - 1] != 'X') ||
	    fs_parse_f64(s, n - 1, &v) < 0 || !(v > 0) || v > 1e9)
		fs_usage_error("bad --speed '%s': want max, or a multiple of "
			       "the recorded speed such as 1x, 10x, 0.5x", s);
	return v;
}

/* What the command line names beside the filters. */
struct paths {
	const char *in, *dir, *out, *metrics, *keys, *master;
};

static void parse_opts(struct replay *r, struct paths *p, int argc,
		       char **argv)
{
	int c, in_given = 0;

	while ((c = fs_getopt(argc, argv, "hi:o:", long_options)) != -1) {
		switch (c) {
		case 'h': usage(stdout); exit(FS_EXIT_OK);
		case 'i': p->in = optarg; in_given = 1; break;
		case 'o': p->out = optarg; break;
		case O_DIR: p->dir = optarg; break;
		case O_KEYS: p->keys = optarg; break;
		case O_MASTER: p->master = optarg; break;
		case O_FROM: r->from = opt_time("--from", optarg); break;
		case O_TO: r->to = opt_time("--to", optarg); break;
		case O_KEY: opt_keys(r, optarg); break;
		case O_TYPES: opt_types(r, optarg); break;
		case O_SPEED: r->speed = opt_speed(optarg); break;
		case O_WM_IV:
			r->wm_iv = fs_opt_duration("--watermark-interval",
						   optarg, (size_t)-1, 0,
						   INT64_MAX / 4);
			break;
		case O_DELAY:
			r->max_delay = fs_opt_duration("--max-delay", optarg,
						       (size_t)-1, 0,
						       INT64_MAX / 4);
			break;
		case O_KEEP_INGEST: r->keep_ingest = 1; break;
		case O_FOLLOW: r->follow = 1; break;
		case O_METRICS: p->metrics = optarg; break;
		case O_VERSION: fs_print_version(NULL); exit(FS_EXIT_OK);
		default: fs_bug("option %d not handled", c);
		}
	}
	if (optind < argc)
		fs_usage_error("unexpected argument '%s'", argv[optind]);
	if (r->from >= r->to)
		fs_usage_error("--from must be before --to");
	if (p->dir && in_given)
		fs_usage_error("--dir and -i are two inputs: give one");
	if (p->dir && r->follow)
		fs_usage_error("--follow is for Kafka: --dir replays the "
			       "sealed segments there are");
	if (p->master && !p->keys)
		fs_usage_error("--master-key-file without --keys");
}

/* ---- checkpoints ---- */

/*
 * The source's name in the store: the input and every option its
 * output depends on, so a restart with other filters is refused.
 */
static char *source_name(const struct replay *r)
{
	size_t cap = 1024 + 24 * r->nkeys, n;
	char *s = fs_xmalloc(cap);

	n = (size_t)snprintf(s, cap, "fs-replay %s", r->in->name);
	if (r->from != INT64_MIN)
		n += (size_t)snprintf(s + n, cap - n, " --from %lld",
				      (long long)r->from);
	if (r->to != INT64_MAX)
		n += (size_t)snprintf(s + n, cap - n, " --to %lld",
				      (long long)r->to);
	if (r->types)
		n += (size_t)snprintf(s + n, cap - n, " --types %#x",
				      (unsigned)r->types);
	n += (size_t)snprintf(s + n, cap - n, " --watermark-interval %lld "
			      "--max-delay %lld", (long long)r->wm_iv,
			      (long long)r->max_delay);
	for (size_t i = 0; i < r->nkeys && n < cap; i++)
		n += (size_t)snprintf(s + n, cap - n, "%s%llu",
				      i ? "," : " --key ",
				      (unsigned long long)r->keys[i]);
	return s;
}

/* Open the source in the store; restore the position and the state. */
static void ckpt_open(struct replay *r)
{
	int64_t n = fs_pipeline_restored(), v;

	r->src_name = source_name(r);
	r->src = fs_source_open(r->src_name);
	if (!r->src)
		return;
	if (r->in->ops->replaying)	/* the input finds its cut itself */
		(void)fs_source_due(r->src, INT64_MAX);
	if (n <= 0)
		return;
	if (r->in->ops->resume)
		r->in->ops->resume(r->in, fs_source_resume(r->src));
	for (int i = CK_NEXT_WM; i < CK_N; i++) {
		if (fs_ckpt_get_position(fs_pipeline_ckpt(), n, r->src_name,
					 i, &v) < 0)
			fs_die(FS_EXIT_FAIL, "cannot resume '%s': checkpoint "
			       "%lld has its position but not its state",
			       r->src_name, (long long)n);
		if (i == CK_NEXT_WM)
			r->next_wm = v;
		else if (i == CK_WM_OUT)
			r->wm_out = v;
		else
			r->in_wm = (int)v;
	}
}

/* BARRIER before the frame at r->pos, the state beside the position. */
static void barrier(struct replay *r, int final)
{
	int64_t part[CK_N - 1] = { CK_NEXT_WM, CK_WM_OUT, CK_IN_WM };
	int64_t v[CK_N - 1] = { r->next_wm, r->wm_out, r->in_wm };
	int64_t id = fs_source_next_id(r->src);

	if (!r->src)
		return;
	fs_ckpt_put_positions(fs_pipeline_ckpt(), id, r->src_name,
			      CK_N - 1, part, v);
	if (r->in->ops->put_positions)
		r->in->ops->put_positions(r->in, id);
	fs_source_barrier(r->src, r->w, r->pos,
			  r->last_ts > r->wm_out ? r->last_ts : r->wm_out,
			  final);
}

/* ---- output ---- */

/* A WATERMARK of fs-replay's own at ts (above the last one out). */
static void put_wm(struct replay *r, int64_t ts)
{
	struct fs_hdr *h;

	if (ts <= r->wm_out)
		return;
	h = fs_write_reserve(r->w, FS_T_WATERMARK, 0);
	h->flags = FS_F_CONTROL;
	h->ts_event = ts;
	h->ts_ingest = r->now;
	r->wm_out = ts;
}

/*
 * Own watermarks, as fs-gen makes them: once event time reaches the
 * next multiple of --watermark-interval, a WATERMARK at that boundary
 * minus --max-delay.  None at the first two boundaries after the first
 * record (an input with WATERMARKs of its own shows one by then), and
 * none once the input has carried its own: they know its disorder.
 */
static void own_wm(struct replay *r, int64_t ts)
{
	int64_t b;

	if (!r->wm_iv || r->in_wm || ts < r->next_wm)
		return;
	b = ts - ((ts % r->wm_iv) + r->wm_iv) % r->wm_iv;
	if (r->next_wm == INT64_MIN)	/* the first record: wait two */
		b += r->wm_iv;
	else
		put_wm(r, b - r->max_delay);
	r->next_wm = b + r->wm_iv;
}

/* Sleep until mono ns; 0, or -1 early on SIGINT/SIGTERM. */
static int sleep_until(int64_t mono)
{
	for (;;) {
		int64_t now = fs_mono_ns(), t;
		struct timespec ts;

		if (fs_stop)
			return -1;
		if (now >= mono)
			return 0;
		/* in slices, so a signal just before one is seen soon */
		t = mono - now > SLEEP_SLICE ? now + SLEEP_SLICE : mono;
		ts.tv_sec = t / 1000000000;
		ts.tv_nsec = t % 1000000000;
		(void)clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
				      NULL);
	}
}

/*
 * --speed Nx: the record at event time ts goes out at the anchor's
 * monotonic time plus (ts - anchor's event time) / N, against the
 * schedule, so sleeps never add up their overshoot.  A record behind
 * the latest event time paced (disorder) goes at once.  What is
 * buffered goes out before a sleep, so latency downstream is real.
 */
static void pace(struct replay *r, int64_t ts)
{
	int64_t due;

	if (!r->pace_ev) {
		r->pace_ev = ts;
		r->pace_mono = fs_mono_ns();
		r->pace_max = ts;
		return;
	}
	if (ts <= r->pace_max)
		return;
	r->pace_max = ts;
	due = r->pace_mono + (int64_t)((double)(ts - r->pace_ev) / r->speed);
	if (due <= fs_mono_ns())
		return;
	fs_writer_flush(r->w);
	(void)sleep_until(due);
	r->now = fs_now_ns();
}

static int key_wanted(const struct replay *r, uint64_t key)
{
	return !r->keys || bsearch(&key, r->keys, r->nkeys, sizeof(key),
				   cmp_u64);
}

/*
 * --keys: open the encrypted record h into r->obuf (fs_pii_open: the
 * original, or redacted with FS_F_ERASED); NULL when it cannot be
 * opened (said, naming it; r->exit set).
 */
static const struct fs_hdr *open_pii(struct replay *r, const struct fs_hdr *h)
{
	char where[700];
	int n = fs_pii_open(r->pii, h, r->obuf, FS_FRAME_MAX + 8);

	if (n >= 0)
		return r->obuf;
	if (r->in->ops->where)
		r->in->ops->where(r->in, where, sizeof(where));
	else
		snprintf(where, sizeof(where), "frame %llu of '%s'",
			 (unsigned long long)r->frames, r->in->name);
	r->exit = fs_pii_exit(n);
	fs_error("cannot open the encrypted record at %s: %s", where,
		 fs_pii_why(r->pii));
	return NULL;
}

/*
 * One data record read: filter, open (--keys), pace, write.  0, or -1
 * when an encrypted record cannot be opened (said).
 */
static int data(struct replay *r, const struct fs_hdr *h)
{
	struct fs_hdr *o;
	int slot;

	if (h->ts_event < r->from || h->ts_event >= r->to) {
		r->filtered++;
		return 0;
	}
	own_wm(r, h->ts_event);
	/* the key filter compares the opened record's key (--keys) */
	if (r->pii && (h->flags & FS_F_ENCRYPTED) && !(h = open_pii(r, h)))
		return -1;
	slot = fs_type_slot(h->type);
	if ((r->types && (slot < 0 || !(r->types >> slot & 1))) ||
	    !key_wanted(r, h->key)) {
		r->filtered++;
		return 0;
	}
	if (r->speed > 0)
		pace(r, h->ts_event);
	if (r->keep_ingest) {
		fs_write_frame(r->w, h);
	} else {
		o = fs_write_reserve(r->w, h->type, fs_body_len(h));
		memcpy(o, h, fs_frame_size(h));
		o->ts_ingest = r->now;
	}
	r->records++;
	if (!r->first_ts)
		r->first_ts = h->ts_event;
	if (h->ts_event > r->last_ts)
		r->last_ts = h->ts_event;
	return 0;
}

/*
 * One control record read: the input's BARRIERs (fs-replay makes its
 * own) and COMMIT markers go; WATERMARKs go on while they rise; SCHEMA
 * and the rest go on as they are.  0 when it ends the input: a
 * WATERMARK at or past --to says no later record is in the range.
 */
static int control(struct replay *r, const struct fs_hdr *h)
{
	switch (h->type) {
	case FS_T_BARRIER:
	case FS_T_COMMIT:
		return 1;
	case FS_T_WATERMARK:
		r->in_wm = 1;
		if (h->ts_event >= r->to)
			return 0;
		if (h->ts_event > r->wm_out) {
			fs_write_frame(r->w, h);
			r->wm_out = h->ts_event;
		}
		return 1;
	default:
		fs_write_frame(r->w, h);
		return 1;
	}
}

/* The progress line on a TTY: event time, records, rate, ETA. */
static void progress(struct replay *r)
{
	char at[FS_FMT_MAX] = "-", eta[48] = "";
	double el = (double)(fs_mono_ns() - r->t0) / 1e9, left = -1;

	if (!fs_progress_due())
		return;
	if (r->records)
		fs_fmt_time(at, r->last_ts);
	if (r->to != INT64_MAX && r->last_ts > r->first_ts) {
		double span = (double)(r->to - r->last_ts) / 1e9;

		left = r->speed > 0 ? span / r->speed : span * el /
		       ((double)(r->last_ts - r->first_ts) / 1e9);
	} else if (r->in->size > 0 && r->pos > r->pos0) {
		left = (double)(r->in->size - r->pos) * el /
		       (double)(r->pos - r->pos0);
	}
	if (left >= 0)
		snprintf(eta, sizeof(eta), ", ETA %.1fs", left);
	fs_progress("fs-replay: at %s, %llu records, %.0f records/s%s", at,
		    (unsigned long long)r->records,
		    el > 0 ? (double)r->records / el : 0.0, eta);
}

/* Whether a barrier goes before the frame at r->pos now. */
static int barrier_due(struct replay *r, uint64_t n)
{
	if (!r->src || (r->in->ops->replaying &&
			r->in->ops->replaying(r->in)))
		return 0;
	if (n % CLOCK_EVERY && fs_source_room(r->src, r->pos) == INT64_MAX)
		return 0;
	return fs_source_due(r->src, r->pos);
}

/*
 * Read, filter, pace and write until the input ends (0), is bad (-1),
 * or a WATERMARK passes --to (0).
 */
static int run(struct replay *r)
{
	const struct fs_hdr *h;
	int timeout = r->in->ops->replaying ? POLL_MS : -1;
	uint64_t n = 0;

	for (;;) {
		int rc;

		r->pos = r->in->ops->position(r->in);
		if (barrier_due(r, n))
			barrier(r, 0);
		if (n++ % CLOCK_EVERY == 0) {
			if (!r->keep_ingest)
				r->now = fs_now_ns();
			fs_metrics_tick(r->metrics);
			progress(r);
		}
		if (fs_stop)	/* SIGINT/SIGTERM: the end, at this record */
			return 0;
		rc = r->in->ops->next(r->in, &h, timeout);
		if (rc == -2) {		/* quiet: look at the clock */
			n = 0;
			continue;
		}
		if (rc == 3) {		/* the cut of a begun checkpoint */
			(void)fs_source_due(r->src, INT64_MAX);
			barrier(r, 0);
			continue;
		}
		if (rc <= 0)
			return rc;
		r->frames++;
		if (!fs_is_control(h)) {
			if (data(r, h) < 0)
				return -1;
		} else if (!control(r, h))
			return 0;
	}
}

/*
 * A Kafka URI's offset=@TIME is where the replay starts: without
 * --from, records before TIME (disorder) are left out as well.
 */
static void from_uri(struct replay *r, const char *uri)
{
	const char *p = strstr(uri, "offset=@");
	int64_t ns;

	if (r->from != INT64_MIN || !p || !fs_is_kafka(uri))
		return;
	p += strlen("offset=@");
	if (fs_parse_time(p, strcspn(p, "&"), &ns) == 0)
		r->from = ns;	/* else kafka.c says what is wrong */
	if (r->from >= r->to)
		fs_usage_error("the start of '%s' must be before --to", uri);
}

/* The run's state: static, so what it holds is reachable at any exit. */
static struct replay rp = {
	.from = INT64_MIN, .to = INT64_MAX, .wm_iv = 1000000000,
	.next_wm = INT64_MIN, .wm_out = INT64_MIN, .exit = FS_EXIT_DATA,
};

/* --keys FILE: the key store, opened with the master key (or dies). */
static void open_keys(struct replay *r, const struct paths *p)
{
	uint8_t master[32];
	char why[512];
	int err;

	err = fs_pii_master_key(p->master, master, why, sizeof(why));
	if (err < 0)
		fs_die(fs_pii_exit(err), "%s", why);
	r->pii = fs_pii_store_open(p->keys, master, 0, &err, why,
				   sizeof(why));
	OPENSSL_cleanse(master, sizeof(master));
	if (!r->pii)
		fs_die(fs_pii_exit(err), "%s", why);
	if (posix_memalign((void **)&r->obuf, 64, FS_FRAME_MAX + 8))
		fs_die(FS_EXIT_FAIL, "out of memory");
}

int tool_main(int argc, char **argv)
{
	struct replay *r = &rp;
	struct paths p = { .in = "-", .out = "-" };
	struct rp_opts o;
	int rc;

	parse_opts(r, &p, argc, argv);
	from_uri(r, p.in);
	if (p.keys)
		open_keys(r, &p);
	r->w = fs_writer_open(p.out);
	o = (struct rp_opts){
		.from = r->from, .to = r->to == INT64_MAX ? r->to : r->to - 1,
		.follow = r->follow, .checkpointed = fs_pipeline_ckpt() != NULL,
		.flush_w = r->w,
	};
	r->in = p.dir ? rp_archive_open(p.dir, &o) : rp_open(p.in, &o);
	r->metrics = fs_metrics_open(p.metrics);
	fs_metrics_counter(r->metrics, "fs_replay_records_total",
			   "data records written", &r->records);
	fs_metrics_counter(r->metrics, "fs_replay_filtered_total",
			   "data records read and left out", &r->filtered);
	ckpt_open(r);
	if (fs_pipeline_restored() <= 0 && r->from != INT64_MIN)
		(void)r->in->ops->seek_time(r->in, r->from);
	r->now = fs_now_ns();
	r->t0 = fs_mono_ns();
	r->pos0 = r->pos = r->in->ops->position(r->in);
	rc = run(r);
	/*
	 * The end, the range's or SIGTERM's: a final checkpoint of it all.
	 * Bad input (said already) commits nothing; the good records before
	 * it go out all the same.
	 */
	if (rc == 0)
		barrier(r, 1);
	fs_progress_done();
	fs_source_close(r->src);
	free(r->src_name);
	free(r->keys);
	r->in->ops->close(r->in);
	fs_writer_close(r->w);
	fs_metrics_close(r->metrics);
	fs_pii_store_close(r->pii);
	free(r->obuf);
	return rc < 0 ? r->exit : FS_EXIT_OK;
}
