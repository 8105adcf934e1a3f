/*
 * fs-window - keyed event-time windows and aggregates, and per-event
 * rolling features for fraud scoring.
 *
 * This file holds the options, the main loop (watermark, idle timeout,
 * end-of-input flush) and the output of results; engine.c keeps the
 * windows, agg.c the aggregates, features.c the feature sets.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

#define TIME_LIMIT (1LL << 62)	/* |ts_event| accepted: years 1824-2116 */
#define DUR_LIMIT (1LL << 60)	/* longest window, gap, delay: ~36 years */
#define MAX_ASSIGN 4096		/* windows one event may fall in */

static void usage(FILE *f)
{
	fprintf(f,
"usage: fs-window (--tumble SIZE | --hop SIZE/SLIDE | --session GAP |\n"
"                  --cumulate SIZE/STEP) [-a LIST] [-k FIELD] [-t TYPE]\n"
"                 [--offset D] [--max-delay D] [--lateness D] [--late URI]\n"
"                 [--idle-timeout D] [--emit final|every:D]\n"
"                 [--distinct-exact N] [-i URI] [-o URI] [--metrics FILE]\n"
"       fs-window --features NAME [--state-ttl D] [--max-delay D]\n"
"                 [-i URI] [-o URI] [--metrics FILE]\n"
"       (either form) [-e] " FS_KAFKA_SYNOPSIS "\n"
"Keyed event-time windows and aggregates (AGG and BAR records), or\n"
"per-event rolling features (FEATURES records).\n"
"\n"
"  -a, --agg LIST         aggregates, comma separated (default count):\n"
"                         count sum(F) avg(F) min(F) max(F) stddev(F)\n"
"                         var(F) first(F) last(F) distinct(F)\n"
"                         quantile(F,Q) vwap ohlc\n"
"      --cumulate SIZE/STEP  windows [start, start+STEP*k) within SIZE\n"
"      --distinct-exact N  distinct() is exact up to N values, then\n"
"                         HyperLogLog (1.6%% error; default 1024)\n"
"      --emit final|every:D  final results only (default), or early\n"
"                         results each D of event time, flagged PARTIAL\n"
"      --features NAME    per-TXN features: %s\n"
"  -h, --help             print this help and exit\n"
"      --hop SIZE/SLIDE   windows of SIZE starting every SLIDE\n"
"  -i, --input URI        read records from URI (default -, stdin)\n"
"      --idle-timeout D   with no input for D, the watermark follows\n"
"                         the wall clock so windows still close\n"
"      --key-groups N     --state: snapshot keyed state in N groups, a\n"
"                         key's group its Kafka partition (default: the\n"
"                         partitions of a Kafka input, else 0: one piece)\n"
"  -k, --key FIELD        group by FIELD (default: the record key)\n"
"      --late URI         write records too late for any window to URI\n"
"      --lateness D       keep fired windows D longer for late events\n"
"      --max-delay D      watermark = max event time - D (default 0)\n"
"      --metrics FILE     write Prometheus metrics to FILE every second\n"
"  -o, --output URI       write records to URI (default -, stdout)\n"
"      --offset D         shift window alignment from the epoch by D\n"
"      --session GAP      session windows closed by GAP of inactivity\n"
"      --state-ttl D      --features: forget accounts quiet for D\n"
"  -t, --type TYPE        aggregate records of TYPE (default: the type\n"
"                         of the first data record)\n"
"      --tumble SIZE      fixed windows of SIZE\n"
"      --version          print the version and exit\n", feat_set_list());
	fs_kafka_usage(f, 1);
	fs_pipeline_usage(f);
}

enum {
	OPT_CUMULATE = 256, OPT_DISTINCT, OPT_EMIT, OPT_FEATURES, OPT_HOP,
	OPT_IDLE, OPT_KGROUPS, OPT_LATE, OPT_LATENESS, OPT_MAXDELAY, OPT_METRICS,
	OPT_OFFSET, OPT_SESSION, OPT_TTL, OPT_TUMBLE, OPT_VERSION,
};

static const struct option long_options[] = {
	{ "agg", required_argument, NULL, 'a' },
	{ "cumulate", required_argument, NULL, OPT_CUMULATE },
	{ "distinct-exact", required_argument, NULL, OPT_DISTINCT },
	{ "emit", required_argument, NULL, OPT_EMIT },
	{ "features", required_argument, NULL, OPT_FEATURES },
	{ "help", no_argument, NULL, 'h' },
	{ "hop", required_argument, NULL, OPT_HOP },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE },
	{ "input", required_argument, NULL, 'i' },
	{ "key", required_argument, NULL, 'k' },
	{ "key-groups", required_argument, NULL, OPT_KGROUPS },
	{ "late", required_argument, NULL, OPT_LATE },
	{ "lateness", required_argument, NULL, OPT_LATENESS },
	{ "max-delay", required_argument, NULL, OPT_MAXDELAY },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "offset", required_argument, NULL, OPT_OFFSET },
	{ "output", required_argument, NULL, 'o' },
	{ "session", required_argument, NULL, OPT_SESSION },
	{ "state-ttl", required_argument, NULL, OPT_TTL },
	{ "tumble", required_argument, NULL, OPT_TUMBLE },
	{ "type", required_argument, NULL, 't' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* SIZE/STEP into o->size and o->slide. */
static void pair_arg(struct wopts *o, const char *opt, const char *s)
{
	const char *sl = strchr(s, '/');

	if (!sl)
		fs_usage_error("bad value for %s: '%s' (expected SIZE/STEP, "
			       "e.g. 1h/5m)", opt, s);
	o->size = fs_opt_duration(opt, s, (size_t)(sl - s), 1, DUR_LIMIT);
	o->slide = fs_opt_duration(opt, sl + 1, (size_t)-1, 1, DUR_LIMIT);
}

static void set_kind(struct wopts *o, int kind, const char *opt,
		     const char *arg)
{
	if (o->kind != WK_NONE)
		fs_usage_error("give one of --tumble, --hop, --session, "
			       "--cumulate");
	o->kind = kind;
	if (kind == WK_HOP || kind == WK_CUMULATE)
		pair_arg(o, opt, arg);
	else
		o->size = fs_opt_duration(opt, arg, (size_t)-1, 1, DUR_LIMIT);
}

static void emit_arg(struct wopts *o, const char *s)
{
	if (strcmp(s, "final") == 0)
		o->early = 0;
	else if (strncmp(s, "every:", 6) == 0)
		o->early = fs_opt_duration("--emit every:", s + 6,
					   (size_t)-1, 1, DUR_LIMIT);
	else
		fs_usage_error("bad value for --emit: '%s' (final or "
			       "every:DURATION)", s);
}

static void parse_opt(struct wopts *o, int c, const char *arg)
{
	switch (c) {
	case 'a': o->agg = arg; break;
	case 'i': o->in = arg; break;
	case 'k': o->key = arg; break;
	case 'o': o->out = arg; break;
	case 't': o->type = arg; break;
	case OPT_CUMULATE: set_kind(o, WK_CUMULATE, "--cumulate", arg); break;
	case OPT_HOP: set_kind(o, WK_HOP, "--hop", arg); break;
	case OPT_SESSION: set_kind(o, WK_SESSION, "--session", arg); break;
	case OPT_TUMBLE: set_kind(o, WK_TUMBLE, "--tumble", arg); break;
	case OPT_DISTINCT:
		o->distinct_limit = (unsigned)fs_opt_i64("--distinct-exact",
							  arg, 1, 1 << 24);
		break;
	case OPT_EMIT: emit_arg(o, arg); break;
	case OPT_FEATURES: o->features = arg; break;
	case OPT_IDLE:
		o->idle_timeout = fs_opt_duration("--idle-timeout", arg,
						  (size_t)-1, 1000000,
						  DUR_LIMIT);
		break;
	case OPT_LATE: o->late = arg; break;
	case OPT_LATENESS:
		o->lateness = fs_opt_duration("--lateness", arg, (size_t)-1,
						 0, DUR_LIMIT);
		break;
	case OPT_MAXDELAY:
		o->max_delay = fs_opt_duration("--max-delay", arg, (size_t)-1,
						 0, DUR_LIMIT);
		break;
	case OPT_KGROUPS:
		o->key_groups = (int32_t)fs_opt_i64("--key-groups", arg, 0,
						    100000);
		break;
	case OPT_METRICS: o->metrics = arg; break;
	case OPT_OFFSET:
		o->offset = fs_opt_duration("--offset", arg, (size_t)-1,
						 0, DUR_LIMIT);
		break;
	case OPT_TTL:
		o->state_ttl = fs_opt_duration("--state-ttl", arg, (size_t)-1,
						 1, DUR_LIMIT);
		break;
	}
}

/* Is there a built-in data type with a field called name? */
static int field_known(const char *name, const char *type)
{
	for (const struct fs_type *t = fs_types; t->id; t++)
		if (t->body_size && !(type && strcmp(type, t->name)) &&
		    t->id < FS_T_WATERMARK && fs_field_by_name(t, name))
			return 1;
	return 0;
}

/* Cross-option checks once everything is parsed. */
static void check_opts(struct wctx *c)
{
	struct wopts *o = &c->o;

	if (o->features) {
		if (o->kind != WK_NONE || o->agg || o->key || o->late ||
		    o->lateness || o->early || o->type)
			fs_usage_error("--features computes per-event "
				       "features; it takes no window, --agg, "
				       "--key, --type, --late or --emit");
		return;
	}
	if (o->kind == WK_NONE)
		fs_usage_error("give a window (--tumble, --hop, --session or "
			       "--cumulate) or --features");
	if (o->state_ttl)
		fs_usage_error("--state-ttl applies to --features; window "
			       "state is freed as each window closes");
	if (o->kind == WK_HOP && o->slide > o->size)
		fs_usage_error("--hop: SLIDE must not exceed SIZE");
	if (o->kind == WK_CUMULATE && o->size % o->slide != 0)
		fs_usage_error("--cumulate: SIZE must be a multiple of STEP");
	if ((o->kind == WK_HOP || o->kind == WK_CUMULATE) &&
	    (o->size + o->slide - 1) / o->slide > MAX_ASSIGN)
		fs_usage_error("window of %s puts each event in more than %d "
			       "windows", o->kind == WK_HOP ? "--hop" :
			       "--cumulate", MAX_ASSIGN);
	if (o->kind == WK_SESSION && o->offset)
		fs_usage_error("--offset does not apply to --session");
	if (o->offset >= (o->kind == WK_HOP ? o->slide : o->size))
		fs_usage_error("--offset must be under the window step");
	if (o->type && !fs_type_by_name(o->type))
		fs_usage_error("unknown record type '%s'", o->type);
	if (agg_parse(&c->as, o->agg ? o->agg : "count") != 0)
		fs_usage_error("bad --agg list");
	for (unsigned i = 0; i < c->as.n; i++)
		if (c->as.a[i].field[0] && !field_known(c->as.a[i].field,
							o->type))
			fs_usage_error("unknown field '%s' in --agg (no record "
				       "type%s%s has it)", c->as.a[i].field,
				       o->type ? " " : "",
				       o->type ? o->type : "");
	if (o->key && !field_known(o->key, o->type))
		fs_usage_error("unknown field '%s' for --key", o->key);
}

static void parse_args(struct wctx *c, int argc, char **argv)
{
	int ch;

	c->o.in = c->o.out = "-";
	c->o.distinct_limit = 1024;
	while ((ch = fs_getopt(argc, argv, "a:hi:k:o:t:", long_options))
	       != -1) {
		if (ch == 'h') {
			usage(stdout);
			exit(FS_EXIT_OK);
		}
		if (ch == OPT_VERSION) {
			fs_print_version(NULL);
			exit(FS_EXIT_OK);
		}
		parse_opt(&c->o, ch, optarg);
	}
	if (optind < argc)
		fs_usage_error("unexpected argument '%s'", argv[optind]);
	c->as.distinct_limit = c->o.distinct_limit;
	check_opts(c);
}

/* ---- output ---- */

/* Flush what is good, then die with a data error. */
static _Noreturn void data_fail(struct wctx *c, const char *msg)
{
	fs_writer_flush(c->w);
	if (c->late_w)
		fs_writer_flush(c->late_w);
	fs_die(FS_EXIT_DATA, "%s", msg);
}

void out_build_schema(struct wctx *c)
{
	const char *names[W_MAX_AGGS + 2];
	uint8_t kinds[W_MAX_AGGS + 2];
	uint64_t hsh = 0;

	names[0] = "window_start";
	names[1] = "window_end";
	kinds[0] = kinds[1] = FS_K_TS;
	for (unsigned i = 0; i < c->as.n; i++) {
		const struct agg *a = &c->as.a[i];

		if (a->col < 0)
			continue;
		names[a->col] = a->name;
		kinds[a->col] = a->out_kind;
	}
	for (unsigned i = 0; i < c->as.ncols; i++)
		hsh = fs_hash64(names[i], strlen(names[i])) ^ (hsh * 31 +
							      kinds[i]);
	c->as.schema = fs_schema_new(FS_T_AGG, (uint32_t)(hsh ^ hsh >> 32),
				     c->as.ncols, names, kinds);
	if (!c->as.schema)
		fs_bug("cannot build the AGG schema");
}

static void send_schema(struct wctx *c)
{
	if (!c->as.schema)
		out_build_schema(c);
	fs_write_schema(c->w, c->as.schema, 0);
	c->schema_sent = 1;
}

void out_overflow(struct wctx *c, const struct agg *a, uint64_t key,
		  int64_t start, int64_t end)
{
	char msg[512], what[192], ts[FS_FMT_MAX], te[FS_FMT_MAX];

	if (a->fn == AGG_VWAP)
		snprintf(what, sizeof(what), "the exact sum of price x qty of "
			 "'vwap' would not fit in 128 bits");
	else if (a->fn == AGG_OHLC)
		snprintf(what, sizeof(what), "the volume or vwap of 'ohlc' "
			 "would not fit in 64 bits");
	else
		snprintf(what, sizeof(what), "the exact sum '%s' would not "
			 "fit in 64 bits", a->name);
	fs_fmt_time(ts, start);
	fs_fmt_time(te, end);
	snprintf(msg, sizeof(msg), "bad input '%s': %s (key %llu, window "
		 "[%s, %s), frame %llu, byte offset %llu)",
		 fs_reader_name(c->r), what, (unsigned long long)key, ts, te,
		 (unsigned long long)c->rec_frame,
		 (unsigned long long)c->rec_off);
	fs_warn("%s; the record is left out", msg);
	c->n_refused++;
}

static _Noreturn void overflow(struct wctx *c, const char *what,
			       const struct slot *sl, int64_t end)
{
	char msg[256], t[FS_FMT_MAX];

	fs_fmt_time(t, end);
	snprintf(msg, sizeof(msg), "%s does not fit in 64 bits (key %llu, "
		 "window ending %s)", what, (unsigned long long)sl->key, t);
	data_fail(c, msg);
}

static void put_hdr(struct wctx *c, struct fs_hdr *h, const struct slot *sl,
		    int64_t end, unsigned flags)
{
	h->flags = (uint8_t)flags;
	h->ts_event = end - 1;
	h->ts_ingest = sl->max_ingest;
	h->key = sl->key;
	h->seq = c->out_seq++;
}

void out_result(struct wctx *c, int64_t start, int64_t end,
		struct slot *sl, unsigned flags)
{
	const struct agg *bad = NULL;
	struct fs_hdr *h;

	if (c->as.ohlc >= 0) {
		struct fs_bar bar;

		memset(&bar, 0, sizeof(bar));
		if (agg_bar(&c->as, sl, &bar) != 0)
			overflow(c, "the volume or vwap of ohlc", sl, end);
		bar.window_start = start;
		bar.window_end = end;
		h = fs_write_reserve(c->w, FS_T_BAR, sizeof(bar));
		put_hdr(c, h, sl, end, flags);
		memcpy(fs_body(h), &bar, sizeof(bar));
	}
	if (c->as.ncols > 2) {
		struct fs_dyn *d;

		if (agg_values(&c->as, sl, c->cols, &bad) != 0) {
			char what[160];

			snprintf(what, sizeof(what), "the exact sum '%s'",
				 bad->name);
			overflow(c, what, sl, end);
		}
		if (!c->schema_sent)
			send_schema(c);
		c->cols[0] = start;
		c->cols[1] = end;
		h = fs_write_reserve(c->w, FS_T_AGG, sizeof(*d) +
				     8 * (size_t)c->as.ncols);
		put_hdr(c, h, sl, end, flags);
		d = fs_body(h);
		d->ncols = c->as.ncols;
		d->schema_id = c->as.schema->schema_id;
		memcpy(d + 1, c->cols, 8 * (size_t)c->as.ncols);
	}
	if (!(flags & FS_F_PARTIAL))
		sl->emitted = 1;
	c->fired = 1;
	c->n_out++;
}

void out_late(struct wctx *c, const struct fs_hdr *h)
{
	c->n_late++;
	if (c->late_w) {
		struct fs_hdr *o = fs_write_reserve(c->late_w, h->type,
						    fs_body_len(h));

		memcpy(o, h, fs_frame_size(h));
		o->flags |= FS_F_LATE;
	}
}

/* Write a WATERMARK when the watermark moved past the last one sent. */
static void send_wm(struct wctx *c, int64_t wm)
{
	struct fs_hdr *h;

	if (wm <= c->wm_sent)
		return;
	h = fs_write_reserve(c->w, FS_T_WATERMARK, 0);
	h->flags = FS_F_CONTROL;
	h->ts_event = wm;
	h->ts_ingest = fs_now_ns();
	c->wm_sent = wm;
	c->fired = 0;
}

/*
 * Flush the output when records have waited in it for FLUSH_NS, so a
 * busy input (which never blocks, so never triggers the flush before a
 * blocking read) does not hold results back.  Called once per batch.
 */
#define FLUSH_NS 1000000
static void flush_due(struct wctx *c)
{
	uint64_t b = fs_writer_bytes(c->w);
	int64_t now;

	if (b == c->flushed_bytes) {
		c->flushed_at = 0;
		return;
	}
	now = fs_mono_ns();
	if (!c->flushed_at) {
		c->flushed_at = now;	/* the first pending record */
		return;
	}
	if (now - c->flushed_at >= FLUSH_NS) {
		fs_writer_flush(c->w);
		c->flushed_bytes = fs_writer_bytes(c->w);
		c->flushed_at = 0;
	}
}

/* ---- input ---- */

void bind_type(struct wctx *c, const struct fs_type *t)
{
	if (agg_bind(&c->as, t) != 0)
		fs_die(FS_EXIT_USAGE, "cannot aggregate records of type '%s' "
		       "as asked", t->name);
	if (c->o.key) {
		c->keyf = fs_field_by_name(t, c->o.key);
		if (!c->keyf || c->keyf->kind == FS_K_TEXT ||
		    c->keyf->kind == FS_K_EXPLAIN)
			fs_die(FS_EXIT_USAGE, "--key: type '%s' has no field "
			       "'%s' to group by", t->name, c->o.key);
	}
	c->cols = fs_xcalloc(c->as.ncols, sizeof(*c->cols));
	eng_init(c);
}

/* Is h a data record of a fixed-layout type (one fs-window can use)? */
static const struct fs_type *fixed_type(const struct fs_hdr *h)
{
	const struct fs_type *t = fs_type_by_id(h->type);

	return t && t->body_size && h->type < FS_T_WATERMARK ? t : NULL;
}

/* Check the record's body and event time; die on bad data. */
static void check_record(struct wctx *c, const struct fs_hdr *h,
			 const struct fs_type *t)
{
	char msg[256];

	if (fs_body_len(h) < t->body_size)
		snprintf(msg, sizeof(msg), "bad input '%s': %s body of %zu "
			 "bytes, expected %u (frame %llu, byte offset %llu)",
			 fs_reader_name(c->r), t->name, fs_body_len(h),
			 t->body_size, (unsigned long long)c->rec_frame,
			 (unsigned long long)c->rec_off);
	else if (h->ts_event <= -TIME_LIMIT || h->ts_event >= TIME_LIMIT)
		snprintf(msg, sizeof(msg), "bad input '%s': event time %lld "
			 "out of range (frame %llu, byte offset %llu)",
			 fs_reader_name(c->r), (long long)h->ts_event,
			 (unsigned long long)c->rec_frame,
			 (unsigned long long)c->rec_off);
	else
		return;
	eng_flush(c);
	data_fail(c, msg);
}

static void on_data(struct wctx *c, const struct fs_hdr *h)
{
	const struct fs_type *t;
	uint64_t key;

	if (!c->as.type) {
		t = fixed_type(h);
		if (!t || (c->o.type && strcmp(c->o.type, t->name) != 0)) {
			fs_write_frame(c->w, h);
			c->n_passed++;
			return;
		}
		bind_type(c, t);
	}
	if (h->type != c->as.type->id) {
		fs_write_frame(c->w, h);
		c->n_passed++;
		return;
	}
	check_record(c, h, c->as.type);
	key = c->keyf ? agg_field_key(c->keyf, h) : h->key;
	c->n_in++;
	eng_event(c, h, key);
	if (h->ts_event > c->max_ts) {
		int64_t w = w_sat_add(h->ts_event, -c->o.max_delay);

		c->max_ts = h->ts_event;
		if (w > c->wm)
			c->wm = w;
	}
	eng_advance(c);
	if (c->fired)
		send_wm(c, c->wm);
}

static void on_record(struct wctx *c, const struct fs_hdr *h)
{
	if (!fs_is_control(h)) {
		on_data(c, h);
		return;
	}
	if (h->type != FS_T_WATERMARK) {
		/*
		 * The final barrier: the input has ended, so what the end
		 * of input fires goes out before the last checkpoint, which
		 * then covers all of the output.
		 */
		if (h->type == FS_T_BARRIER && (h->flags & FS_F_FINAL) &&
		    c->as.type) {
			eng_flush(c);
			send_wm(c, c->max_ts > c->wm ? c->max_ts : c->wm);
		}
		if (h->type == FS_T_BARRIER && fs_pipeline_ckpt())
			snap_put(c, NULL, fs_barrier_id(h));
		fs_write_frame(c->w, h);	/* BARRIER, SCHEMA, ... */
		return;
	}
	if (h->ts_event > c->wm) {
		c->wm = h->ts_event;
		if (c->as.type)
			eng_advance(c);
		send_wm(c, c->wm);
	}
}

/*
 * No input for a while: once quiet for --idle-timeout, the watermark
 * moves on with the wall clock from where the last record left it.
 */
static void on_idle(struct wctx *c, int64_t *quiet0, int64_t *base,
		    int poll_ms)
{
	int64_t now = fs_mono_ns(), w;

	if (!*quiet0) {
		*quiet0 = now - (int64_t)poll_ms * 1000000;
		*base = c->wm;
	}
	if (now - *quiet0 < c->o.idle_timeout || *base == W_TIME_MIN)
		return;
	w = w_sat_add(*base, now - *quiet0);
	if (w > c->wm) {
		c->wm = w;
		if (c->as.type)
			eng_advance(c);
		if (c->fired)
			send_wm(c, c->wm);
	}
	fs_writer_flush(c->w);
	if (c->late_w)
		fs_writer_flush(c->late_w);
}

static void progress(struct wctx *c)
{
	char t[FS_FMT_MAX] = "-";

	c->g_wm = c->wm == W_TIME_MIN ? NAN : (double)c->wm / 1e9;
	c->g_keys = (double)c->n_keys;
	fs_metrics_tick(c->m);
	if (!fs_progress_due())
		return;
	if (c->wm != W_TIME_MIN)
		fs_fmt_time(t, c->wm);
	fs_progress("fs-window: %llu records, %llu results, %llu late, "
		    "watermark %s", (unsigned long long)c->n_in,
		    (unsigned long long)c->n_out,
		    (unsigned long long)c->n_late, t);
}

static void add_metrics(struct wctx *c)
{
	fs_metrics_counter(c->m, "window_records_in_total",
			   "data records aggregated", &c->n_in);
	fs_metrics_counter(c->m, "window_results_total",
			   "results written (AGG or BAR, per key)", &c->n_out);
	fs_metrics_counter(c->m, "window_late_records_total",
			   "records too late for any window", &c->n_late);
	fs_metrics_counter(c->m, "window_windows_fired_total",
			   "windows that fired", &c->n_fired);
	fs_metrics_counter(c->m, "window_records_passed_total",
			   "records of other types passed through",
			   &c->n_passed);
	fs_metrics_gauge(c->m, "window_state_keys",
			 "key states held (per window, or accounts)",
			 &c->g_keys);
	fs_metrics_gauge(c->m, "window_watermark_seconds",
			 "the watermark, seconds since the epoch", &c->g_wm);
}

#define WIN_BATCH 16
#define WIN_FRAME_MAX 256

struct win_batch {
	unsigned n;
	uint64_t frame[WIN_BATCH], off[WIN_BATCH];	/* where each was */
	_Alignas(8) char f[WIN_BATCH][WIN_FRAME_MAX];
};

/* Note where the record h just read lies in the input. */
static void rec_where(struct wctx *c, const struct fs_hdr *h,
		      uint64_t *frame, uint64_t *off)
{
	*frame = fs_reader_frames(c->r);
	*off = fs_reader_offset(c->r) - fs_frame_size(h);
}

/*
 * Process the batched records in order, after prefetching the state
 * each will touch, so that the cache misses of the batch overlap.
 */
static void win_flush(struct wctx *c, struct win_batch *b)
{
	for (int st = 0; st < 2; st++)
		for (unsigned i = 0; i < b->n; i++) {
			const struct fs_hdr *h = (const void *)b->f[i];

			eng_prefetch(c, h, c->keyf ? agg_field_key(c->keyf, h)
				     : h->key, st);
		}
	for (unsigned i = 0; i < b->n; i++) {
		c->rec_frame = b->frame[i];
		c->rec_off = b->off[i];
		on_record(c, (const struct fs_hdr *)b->f[i]);
	}
	b->n = 0;
}

/* One input record: batch a record to aggregate, else process it. */
static void win_input(struct wctx *c, struct win_batch *b,
		      const struct fs_hdr *h)
{
	if (!c->as.type || fs_is_control(h) || h->type != c->as.type->id ||
	    fs_frame_size(h) > WIN_FRAME_MAX ||
	    fs_body_len(h) < c->as.type->body_size ||
	    h->ts_event <= -TIME_LIMIT || h->ts_event >= TIME_LIMIT) {
		win_flush(c, b);
		rec_where(c, h, &c->rec_frame, &c->rec_off);
		on_record(c, h);
		return;
	}
	rec_where(c, h, &b->frame[b->n], &b->off[b->n]);
	memcpy(b->f[b->n++], h, fs_frame_size(h));
	if (b->n == WIN_BATCH)
		win_flush(c, b);
}

static int run_windows(struct wctx *c)
{
	struct win_batch *b = fs_xcalloc(1, sizeof(*b));
	const struct fs_hdr *h;
	int64_t quiet0 = 0, base = 0;
	int rc = 0, poll_ms = 100;

	if (c->o.idle_timeout && c->o.idle_timeout / 1000000 < poll_ms)
		poll_ms = (int)(c->o.idle_timeout / 1000000);
	if (c->o.type)
		bind_type(c, fs_type_by_name(c->o.type));
	snap_restore(c, NULL);
	add_metrics(c);
	while (!fs_stop) {
		rc = c->o.idle_timeout ? fs_read_timed(c->r, &h, poll_ms) :
			fs_read(c->r, &h);
		if (rc == -2) {
			on_idle(c, &quiet0, &base, poll_ms);
			continue;
		}
		if (rc <= 0)
			break;
		quiet0 = 0;
		/* Batch what is already there; never wait to fill one. */
		do {
			win_input(c, b, h);
		} while (b->n && !fs_stop &&
			 (rc = fs_read_timed(c->r, &h, 0)) > 0);
		win_flush(c, b);
		flush_due(c);
		progress(c);
		if (rc == 0 || rc == -1)
			break;
	}
	free(b);
	if (c->as.type) {
		eng_flush(c);
		send_wm(c, c->max_ts > c->wm ? c->max_ts : c->wm);
	}
	progress(c);
	if (c->n_refused)
		fs_warn("%llu record%s left out: an exact sum would not fit "
			"(messages above)", (unsigned long long)c->n_refused,
			c->n_refused > 1 ? "s" : "");
	return rc == -1 || c->n_refused ? FS_EXIT_DATA : FS_EXIT_OK;
}

/* ---- features ---- */

static void feat_schema(struct wctx *c, const struct feat *f,
			struct fs_schema **sp, int write)
{
	uint8_t kinds[256];
	const char *const *names = feat_names(f);
	uint64_t hsh = 0;

	for (unsigned i = 0; i < feat_ncols(f); i++) {
		kinds[i] = FS_K_F32;
		hsh = fs_hash64(names[i], strlen(names[i])) ^ hsh * 31;
	}
	*sp = fs_schema_new(FS_T_FEATURES, (uint32_t)(hsh ^ hsh >> 32),
			    feat_ncols(f), names, kinds);
	if (!*sp)
		fs_bug("cannot build the FEATURES schema");
	if (write)
		fs_write_schema(c->w, *sp, 0);
	c->schema_sent = 1;
}

static _Noreturn void short_txn(struct wctx *c, const struct fs_hdr *h)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "bad input '%s': txn body of %zu bytes, "
		 "expected %zu (frame %llu)", fs_reader_name(c->r),
		 fs_body_len(h), sizeof(struct fs_txn),
		 (unsigned long long)fs_reader_frames(c->r));
	data_fail(c, msg);
}

/* Write the FEATURES record of the TXN h. */
static void feat_record(struct wctx *c, struct feat *f,
			const struct fs_schema *s, const struct fs_hdr *h)
{
	unsigned n = feat_ncols(f);
	struct fs_hdr *o;
	struct fs_dyn *d;

	o = fs_write_reserve(c->w, FS_T_FEATURES, sizeof(*d) + 4 * (size_t)n);
	o->flags = h->flags & FS_F_LATE;
	o->ts_event = h->ts_event;
	o->ts_ingest = h->ts_ingest;
	o->key = h->key;
	o->seq = h->seq;
	d = fs_body(o);
	d->ncols = n;
	d->schema_id = s->schema_id;
	feat_txn(f, h, (float *)(d + 1));
	c->n_out++;
}

#define FEAT_BATCH 32
#define TXN_FRAME (FS_HDR_SIZE + sizeof(struct fs_txn))

struct feat_run {
	struct feat *f;
	struct fs_schema *s;
	unsigned n;		/* TXN frames in batch */
	_Alignas(8) char batch[FEAT_BATCH][TXN_FRAME];
};

/*
 * Features of the batched TXNs, in order.  Prefetching each stage for
 * the whole batch first lets the cache misses of the accounts overlap.
 */
static void feat_flush(struct wctx *c, struct feat_run *fr)
{
	for (int st = 0; st < 3; st++)
		for (unsigned i = 0; i < fr->n; i++)
			feat_prefetch(fr->f, (const struct fs_hdr *)
				      fr->batch[i], st);
	for (unsigned i = 0; i < fr->n; i++)
		feat_record(c, fr->f, fr->s,
			    (const struct fs_hdr *)fr->batch[i]);
	fr->n = 0;
}

/* One input record: batch a TXN, else flush the batch and forward. */
static void feat_input(struct wctx *c, struct feat_run *fr,
		       const struct fs_hdr *h)
{
	if (h->type != FS_T_TXN || fs_is_control(h)) {
		feat_flush(c, fr);
		if (h->type == FS_T_BARRIER && fs_pipeline_ckpt())
			snap_put(c, fr->f, fs_barrier_id(h));
		fs_write_frame(c->w, h);
		c->n_passed += !fs_is_control(h);
		return;
	}
	if (fs_body_len(h) < sizeof(struct fs_txn)) {
		feat_flush(c, fr);
		short_txn(c, h);
	}
	if (!fr->s)
		feat_schema(c, fr->f, &fr->s, 1);
	c->n_in++;
	memcpy(fr->batch[fr->n++], h, TXN_FRAME);
	((struct fs_hdr *)fr->batch[fr->n - 1])->len = TXN_FRAME - 4;
}

static int run_features(struct wctx *c)
{
	struct feat_run *fr = fs_xcalloc(1, sizeof(*fr));
	const struct fs_hdr *h;
	int rc = 0;

	fr->f = feat_new(c->o.features, c->o.max_delay, c->o.state_ttl);
	if (!fr->f)
		fs_usage_error("unknown feature set '%s' (known: %s)",
			       c->o.features, feat_set_list());
	snap_restore(c, fr->f);
	if (c->schema_sent)	/* before the checkpoint: not again */
		feat_schema(c, fr->f, &fr->s, 0);
	add_metrics(c);
	fs_metrics_counter(c->m, "window_expired_keys_total",
			   "accounts dropped by --state-ttl", &c->n_expired);
	while (!fs_stop && (rc = fs_read(c->r, &h)) > 0) {
		/* Batch what is already there; never wait to fill one. */
		do {
			feat_input(c, fr, h);
		} while (fr->n < FEAT_BATCH &&
			 (rc = fs_read_timed(c->r, &h, 0)) > 0);
		feat_flush(c, fr);
		flush_due(c);
		c->n_keys = feat_keys(fr->f);
		c->n_expired = feat_expired(fr->f);
		progress(c);
		if (rc == 0 || rc == -1)
			break;
	}
	c->n_keys = feat_keys(fr->f);
	c->n_expired = feat_expired(fr->f);
	progress(c);
	fs_schema_free(fr->s);
	feat_free(fr->f);
	free(fr);
	return rc == -1 ? FS_EXIT_DATA : FS_EXIT_OK;
}

int tool_main(int argc, char **argv)
{
	struct wctx c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.wm = c.wm_sent = c.max_ts = W_TIME_MIN;
	c.o.key_groups = -1;
	parse_args(&c, argc, argv);
	c.r = fs_reader_open(c.o.in);
	if (c.o.key_groups < 0)		/* by the partitions of a Kafka input */
		c.o.key_groups = fs_pipeline_ckpt() ?
			fs_reader_partitions(c.r) : 0;
	c.w = fs_writer_open(c.o.out);
	fs_reader_flush_on_block(c.r, c.w);	/* results leave when idle */
	if (c.o.late)
		c.late_w = fs_writer_open_side(c.o.late);
	fs_reader_flush_on_block(c.r, c.w);
	c.m = fs_metrics_open(c.o.metrics);
	rc = c.o.features ? run_features(&c) : run_windows(&c);
	fs_progress_done();
	fs_writer_close(c.w);
	fs_writer_close(c.late_w);
	fs_metrics_close(c.m);
	if (c.n_late && !c.late_w)
		fs_warn("%llu late records dropped (keep them with --late "
			"URI)", (unsigned long long)c.n_late);
	fs_reader_close(c.r);
	if (!c.o.features && c.as.type)
		eng_free(&c);
	fs_schema_free(c.as.schema);
	free(c.cols);
	return rc;
}
