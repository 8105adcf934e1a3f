/*
 * join.c - fs-join: stream enrichment (fs-join(1)).  Options, the
 * --lookup loop (each record of the input joined with a static table,
 * reloaded on SIGHUP), the summary and the checkpoint snapshot.  The
 * two-input joins (--temporal, --within) are in stream.c.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "join.h"
#include "snapbuf.h"

#define SNAP_MAGIC "FSJOI1"
#define SNAP_VERSION 1

static volatile sig_atomic_t hup;

static void on_hup(int sig)
{
	(void)sig;
	hup = 1;
}

/* The state of a --lookup run. */
struct lk {
	struct jopts *o;
	struct fs_reader *r;
	struct fs_writer *w;
	const struct fs_type *lt;	/* left type, from -t or the input */
	struct jon on;
	struct jtable t;
	struct jrow row;
	struct jcnt n;
	struct fs_metrics *mx;
	int restored_sent;	/* the restored checkpoint's output has
				   the SCHEMA */
};

void jcnt_put(struct sbuf *b, const struct jcnt *n)
{
	uint64_t v[sizeof(*n) / 8];

	memcpy(v, n, sizeof(v));
	for (size_t i = 0; i < sizeof(*n) / 8; i++)
		sb_u64(b, v[i]);
}

void jcnt_get(struct srd *r, struct jcnt *n)
{
	uint64_t v[sizeof(*n) / 8];

	for (size_t i = 0; i < sizeof(*n) / 8; i++)
		v[i] = sr_u64(r);
	memcpy(n, v, sizeof(v));
}

/* Load (or at SIGHUP reload) the table; at start a failure dies. */
static void load(struct lk *l, int first)
{
	struct jtable t;
	char why[1024];
	int io, same;

	if (jtable_load(&t, l->o->lookup, l->o->on_right, &l->on,
			(const char *const *)l->o->fields, l->o->nfields, why,
			sizeof(why), &io) < 0) {
		if (first)
			fs_die(io ? FS_EXIT_FAIL : FS_EXIT_DATA,
			       "cannot load '%s': %s", l->o->lookup, why);
		fs_warn("cannot reload '%s': %s; keeping the table loaded "
			"before", l->o->lookup, why);
		return;
	}
	same = !first && memcmp(t.kinds, l->t.kinds, t.ncols) == 0;
	jtable_free(&l->t);
	l->t = t;
	if (!same) {
		jrow_plan(&l->row, l->lt, (const char *const *)t.names,
			  t.kinds, t.ncols, l->o->outer);
		if (first)
			l->row.sent = l->restored_sent;
	}
	if (!first)
		fs_warn("reloaded '%s': %zu rows", l->o->lookup, t.nrows);
}

/* The left type is known (-t or the first data record): set up. */
static void start(struct lk *l, unsigned type)
{
	l->lt = fs_type_by_id(type);
	if (!l->lt || !l->lt->body_size)
		fs_die(FS_EXIT_DATA, "cannot join %s records: their body is "
		       "not of fixed layout (frame %llu)",
		       l->lt ? l->lt->name : "unknown",
		       (unsigned long long)fs_reader_frames(l->r));
	jon_field(&l->on, l->lt, l->o->on, "--on");
	load(l, 1);
}

static void snap_put(const struct lk *l, uint64_t id)
{
	struct sbuf b = { 0 };
	size_t at;

	sb_head(&b, SNAP_MAGIC, SNAP_VERSION);
	at = sb_sect(&b, "CTR ");
	jcnt_put(&b, &l->n);
	sb_u64(&b, (uint64_t)l->row.sent);
	sb_end(&b, at);
	sb_seal(&b);
	fs_ckpt_put_snapshot(fs_pipeline_ckpt(), (int64_t)id, fs_stage_name(),
			     FS_CKPT_INSTANCE, b.p, b.n);
	sb_free(&b);
}

static void snap_restore(struct lk *l)
{
	int64_t id = fs_pipeline_ckpt() ? fs_pipeline_restored() : 0;
	struct srd r;
	size_t n;
	void *p;

	if (id <= 0)
		return;
	p = fs_pipeline_snapshot(id, &n, NULL);
	if (sr_open(&r, p, n, SNAP_MAGIC, SNAP_VERSION) == 0) {
		sr_sect(&r, "CTR ");
		jcnt_get(&r, &l->n);
		l->restored_sent = sr_u64(&r) != 0;
		l->row.sent = l->restored_sent;
		if (!r.bad && r.off != r.n)
			sr_fail(&r, "bytes after the last section");
	}
	free(p);
	if (r.bad)
		fs_pipeline_bad_snapshot(id, r.why);
}

/* The next frame, as fs_read; flushes and reloads while it waits. */
static int next(struct lk *l, const struct fs_hdr **h)
{
	int rc = fs_read_timed(l->r, h, 0);

	if (rc != -2)
		return rc;
	fs_writer_flush(l->w);
	for (;;) {
		if (hup && l->lt) {
			hup = 0;
			load(l, 0);
		}
		rc = fs_read_timed(l->r, h, 200);
		if (rc != -2)
			return rc;
		fs_metrics_tick(l->mx);
	}
}

/* Join one data record of the left type; -1 on a bad one. */
static int on_left(struct lk *l, const struct fs_hdr *h)
{
	const uint64_t *rv = jtable_find(&l->t, jon_key(&l->on, h));

	l->n.left++;
	if (rv)
		l->n.matched++;
	else if (l->n.unmatched++, !l->o->outer)
		return 0;
	return jrow_put(&l->row, l->w, h, rv, fs_reader_frames(l->r));
}

/* Records ahead whose table slot is prefetched (about a DRAM
   latency's worth of joining at 5M records/s). */
#define PREFETCH_AHEAD 8

static int run_lookup(struct lk *l)
{
	const struct fs_hdr *h, *ahead;
	int rc;

	while ((rc = next(l, &h)) == 1) {
		if (hup && l->lt) {
			hup = 0;
			load(l, 0);
		}
		if (fs_is_control(h)) {
			if (h->type == FS_T_BARRIER && fs_pipeline_ckpt())
				snap_put(l, fs_barrier_id(h));
			fs_write_frame(l->w, h);
			continue;
		}
		if (!l->lt)
			start(l, h->type);
		if (h->type != l->lt->id) {
			l->n.other++;
			fs_write_frame(l->w, h);
			continue;
		}
		/* the table is bigger than the caches: ask for the slot of
		   a record a few ahead while this one is joined */
		ahead = fs_reader_peek(l->r, PREFETCH_AHEAD);
		if (ahead && ahead->type == l->lt->id &&
		    fs_frame_size(ahead) >= (size_t)l->on.off + l->on.size)
			jtable_prefetch(&l->t, jon_key(&l->on, ahead));
		if (on_left(l, h) < 0)
			return FS_EXIT_DATA;
		if ((l->n.left & 4095) == 0)
			fs_metrics_tick(l->mx);
	}
	return rc < 0 ? FS_EXIT_DATA : FS_EXIT_OK;
}

static void summary(const struct jopts *o, const struct jcnt *n,
		    const struct jtable *t)
{
	char tab[128] = "";

	if (t && t->src)
		snprintf(tab, sizeof(tab), "; table %zu rows, %llu duplicate "
			 "keys (the last row kept)", t->nrows,
			 (unsigned long long)t->ndup);
	fs_warn("%llu left records: %llu matched, %llu unmatched (%s)%s%s",
		(unsigned long long)n->left, (unsigned long long)n->matched,
		(unsigned long long)n->unmatched,
		o->outer ? "kept" : "dropped",
		n->other ? ", others passed on" : "", tab);
}

static int lookup_main(struct jopts *o)
{
	static struct lk l;
	struct sigaction sa;
	struct stat sb;
	int rc;

	l.o = o;
	if (strncmp(o->lookup, "sqlite:", 7) != 0 &&
	    stat(o->lookup, &sb) != 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", o->lookup);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	(void)fs_pipeline_restored();
	l.w = fs_writer_open(o->out);
	l.r = fs_reader_open(o->in);
	fs_reader_flush_on_block(l.r, l.w);
	if (o->type)
		start(&l, o->type->id);
	snap_restore(&l);
	l.mx = fs_metrics_open(o->metrics);
	fs_metrics_counter(l.mx, "fs_join_left_total", "left records read",
			   &l.n.left);
	fs_metrics_counter(l.mx, "fs_join_matched_total",
			   "left records matched", &l.n.matched);
	fs_metrics_counter(l.mx, "fs_join_unmatched_total",
			   "left records without a match", &l.n.unmatched);
	rc = run_lookup(&l);
	if (rc != FS_EXIT_OK)
		fs_writers_flush_all();
	if (!o->quiet)
		summary(o, &l.n, &l.t);
	fs_writer_close(l.w);
	fs_metrics_close(l.mx);
	fs_reader_close(l.r);
	jtable_free(&l.t);
	jrow_free(&l.row);
	return rc;
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: fs-join --lookup SRC --on FIELD --fields LIST [-t TYPE]\n"
"               [--outer left] [-i URI] [-o URI] [-q] [--metrics FILE]\n"
"       fs-join --temporal --left URI --right URI --on FIELD\n"
"               --fields LIST [--outer left] [--state-ttl DURATION]\n"
"               [--idle-timeout DURATION] [-o URI] [-q]\n"
"       fs-join --within DURATION --left URI --right URI --on FIELD\n"
"               [--fields LIST] [--outer left] [-o URI] [-q]\n"
"               " FS_PIPELINE_SYNOPSIS "\n"
"               " FS_KAFKA_SYNOPSIS "\n"
"Join records with a table or a second stream into AGG rows (a SCHEMA\n"
"first): the left record's columns, then the right's --fields.\n"
"SIGHUP reloads a --lookup table.\n"
"\n"
"  --lookup SRC         a table: a CSV file, or sqlite:FILE?table=NAME\n"
"  --temporal           each left record with the right's latest version\n"
"                       for its key as of its event time\n"
"  --within DURATION    pairs whose event times differ by at most that\n"
"  --left URI           the left input (--temporal, --within)\n"
"  --right URI          the right input (--temporal, --within)\n"
"  --on FIELD           the join key: a field of the left (and right)\n"
"                       type, or a column of the table; LEFT=RIGHT\n"
"                       when the names differ\n"
"  --fields LIST        right columns to add, comma-separated\n"
"  --outer left         keep unmatched left records (right columns zero,\n"
"                       column matched 0)\n"
"  -t, --type TYPE      the left type (--lookup; default: the first\n"
"                       record's)\n"
"  --state-ttl DURATION drop a key's right versions that long quiet\n"
"  --idle-timeout DURATION  no watermark on an input for that long: an\n"
"                       error (default 10s)\n"
"  -q, --quiet          no summary line at the end\n"
"  --metrics FILE       write Prometheus metrics to FILE every second\n"
"  -i, --input URI      the input of --lookup (default -)\n"
"  -o, --output URI     output endpoint (default -)\n"
"  -h, --help           show this help\n"
"  --version            show the version\n");
	fs_kafka_usage(f, 1);
	fs_pipeline_usage(f);
}

enum { O_FIELDS = 256, O_IDLE, O_LEFT, O_LOOKUP, O_METRICS, O_ON, O_OUTER,
       O_RIGHT, O_TTL, O_TEMPORAL, O_VERSION, O_WITHIN };

static const struct option long_options[] = {
	{ "fields", required_argument, NULL, O_FIELDS },
	{ "help", no_argument, NULL, 'h' },
	{ "idle-timeout", required_argument, NULL, O_IDLE },
	{ "input", required_argument, NULL, 'i' },
	{ "left", required_argument, NULL, O_LEFT },
	{ "lookup", required_argument, NULL, O_LOOKUP },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "on", required_argument, NULL, O_ON },
	{ "outer", required_argument, NULL, O_OUTER },
	{ "output", required_argument, NULL, 'o' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "right", required_argument, NULL, O_RIGHT },
	{ "state-ttl", required_argument, NULL, O_TTL },
	{ "temporal", no_argument, NULL, O_TEMPORAL },
	{ "type", required_argument, NULL, 't' },
	{ "version", no_argument, NULL, O_VERSION },
	{ "within", required_argument, NULL, O_WITHIN },
	{ NULL, 0, NULL, 0 },
};

/* Split --fields at commas into o->fields. */
static void split_fields(struct jopts *o, char *s)
{
	for (char *p = s, *c; p; p = c) {
		c = strchr(p, ',');
		if (c)
			*c++ = '\0';
		if (!*p)
			fs_usage_error("--fields: an empty name");
		if (o->nfields == JN_MAXFIELDS)
			fs_usage_error("--fields: more than %d", JN_MAXFIELDS);
		for (unsigned i = 0; i < o->nfields; i++)
			if (strcmp(o->fields[i], p) == 0)
				fs_usage_error("--fields: '%s' twice", p);
		o->fields[o->nfields++] = p;
	}
}

/* Check what the kind of join needs; exit 2 when it is not there. */
static void check_args(struct jopts *o)
{
	int kinds = !!o->lookup + o->temporal + (o->within >= 0);

	if (kinds != 1)
		fs_usage_error("give one of --lookup, --temporal, --within");
	if (!o->on)
		fs_usage_error("--on is required");
	if (o->lookup && (o->left || o->right))
		fs_usage_error("--lookup reads -i, not --left/--right");
	if (!o->lookup && (!o->left || !o->right))
		fs_usage_error("--%s needs --left and --right",
			       o->temporal ? "temporal" : "within");
	if (!o->lookup && o->type)
		fs_usage_error("-t is for --lookup");
	if ((o->lookup || o->temporal) && !o->nfields)
		fs_usage_error("--fields is required with --%s",
			       o->lookup ? "lookup" : "temporal");
}

/* Parse the options; returns -1 to go on, or an exit status. */
static int parse_args(struct jopts *o, int argc, char **argv)
{
	int ch;

	while ((ch = fs_getopt(argc, argv, "hi:o:qt:", long_options)) != -1) {
		switch (ch) {
		case 'h': usage(stdout); return FS_EXIT_OK;
		case 'i': o->in = optarg; break;
		case 'o': o->out = optarg; break;
		case 'q': o->quiet = 1; break;
		case 't':
			o->type = fs_type_by_name(optarg);
			if (!o->type || o->type->id >= FS_T_WATERMARK)
				fs_usage_error("-t: unknown type '%s'", optarg);
			break;
		case O_FIELDS: split_fields(o, optarg); break;
		case O_IDLE:
			o->idle = fs_opt_duration("--idle-timeout", optarg,
						  (size_t)-1, 1000000,
						  INT64_MAX);
			break;
		case O_LEFT: o->left = optarg; break;
		case O_LOOKUP: o->lookup = optarg; break;
		case O_METRICS: o->metrics = optarg; break;
		case O_ON:
			o->on = fs_xstrdup(optarg);
			o->on_right = strchr(o->on, '=');
			if (o->on_right)
				*o->on_right++ = '\0';
			else
				o->on_right = o->on;
			if (!*o->on || !*o->on_right)
				fs_usage_error("--on: '%s' is not FIELD or "
					       "LEFT=RIGHT", optarg);
			break;
		case O_OUTER:
			if (strcmp(optarg, "left") != 0)
				fs_usage_error("--outer: want 'left', not "
					       "'%s'", optarg);
			o->outer = 1;
			break;
		case O_RIGHT: o->right = optarg; break;
		case O_TTL:
			o->ttl = fs_opt_duration("--state-ttl", optarg,
						 (size_t)-1, 1, INT64_MAX);
			break;
		case O_TEMPORAL: o->temporal = 1; break;
		case O_VERSION: fs_print_version(NULL); return FS_EXIT_OK;
		case O_WITHIN:
			o->within = fs_opt_duration("--within", optarg,
						    (size_t)-1, 0,
						    INT64_MAX / 4);
			break;
		default: fs_bug("option %d not handled", ch);
		}
	}
	if (optind < argc)
		fs_usage_error("unexpected argument '%s'", argv[optind]);
	check_args(o);
	return -1;
}

int tool_main(int argc, char **argv)
{
	static struct jopts o;
	int rc;

	o.in = "-";
	o.out = "-";
	o.within = -1;
	o.idle = 10 * 1000000000LL;
	if ((rc = parse_args(&o, argc, argv)) >= 0)
		return rc;
	if (o.lookup)
		return lookup_main(&o);
	return stream_main(&o);
}
