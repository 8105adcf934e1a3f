/*
 * fs-stat - a pass-through meter.  Every frame goes out unchanged; on
 * the way it is counted by type, its bytes summed, and for data records
 * the end-to-end latency (now - ts_ingest) goes into a histogram and the
 * event-time lag (now - the latest event time) is tracked.  A live line
 * on a TTY, a summary on stderr at the end.
 *
 * The wall clock is read once per batch of 256 frames, and whenever the
 * reader would block, not per record: the meter must keep up with tens
 * of millions of records a second.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

#define BATCH 256

struct meter {
	uint64_t count[FS_TYPE_SLOTS];
	uint64_t other;		/* types outside the table */
	uint64_t encrypted, erased;	/* PII sealed; its key erased */
	uint64_t records, control, bytes;
	struct fs_hist lat;
	struct fs_hist ilat;	/* --every: latency in this interval */
	uint64_t irecords;	/* --every: records before this interval */
	int64_t istart;		/* --every: monotonic start of the interval */
	int64_t max_event;	/* latest event time of a data record */
	int have_event;
	int64_t now;		/* wall clock, refreshed per batch */
	int64_t t0;		/* monotonic start */
	int64_t last_mono;	/* live line: previous draw */
	uint64_t last_records;
	int64_t every, next_every;	/* --every, monotonic ns */
	int64_t warmup, lat_from;	/* --warmup; wall time latency counts from */
	uint64_t warm_left_out;	/* records of the warm-up */
	double lag_s, rate;	/* metrics gauges */
	int quiet, json;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: fs-stat [-q] [--json] [--every DURATION] [--warmup DURATION]\n"
"               [-i URI] [-o URI] [--metrics FILE]\n"
"               [-e] " FS_KAFKA_SYNOPSIS "\n"
"Pass records through unchanged; report counts, rate, bytes, end-to-end\n"
"latency percentiles and event-time lag on stderr.\n"
"\n"
"  -q, --quiet           no live line; only the summary at the end\n"
"      --json            the summary as one JSON line on stderr\n"
"      --every DURATION  also print a status line every DURATION (1s, 10s)\n"
"      --warmup DURATION leave the first DURATION of records out of the\n"
"                        latency summary (a pipeline's start-up)\n"
"  -i, --input URI       read records from URI (default -, stdin)\n"
"  -o, --output URI      write records to URI (default -, stdout)\n"
"      --metrics FILE    write Prometheus metrics to FILE every second\n"
"  -h, --help            print this help and exit\n"
"      --version         print the version and exit\n");
	fs_kafka_usage(f, 1);
	fs_pipeline_usage(f);
}

/* A duration for people: "850ns", "12.3us", "1.2ms", "3.2s", "1.5h". */
static void fmt_dur(char *buf, size_t n, int64_t ns)
{
	const char *sign = ns < 0 ? "-" : "";
	double v = ns < 0 ? -(double)ns : (double)ns;

	if (v < 1e3)
		snprintf(buf, n, "%s%.0fns", sign, v);
	else if (v < 1e6)
		snprintf(buf, n, "%s%.1fus", sign, v / 1e3);
	else if (v < 1e9)
		snprintf(buf, n, "%s%.1fms", sign, v / 1e6);
	else if (v < 600e9)
		snprintf(buf, n, "%s%.1fs", sign, v / 1e9);
	else if (v < 7200e9)
		snprintf(buf, n, "%s%.1fmin", sign, v / 60e9);
	else if (v < 172800e9)
		snprintf(buf, n, "%s%.1fh", sign, v / 3600e9);
	else
		snprintf(buf, n, "%s%.1fd", sign, v / 86400e9);
}

/* A count or rate with a decimal prefix: "19.2 M records/s", "304 B". */
static void fmt_si(char *buf, size_t n, double v, const char *sep,
		   const char *unit)
{
	if (v >= 1e9)
		snprintf(buf, n, "%.2f G%s%s", v / 1e9, sep, unit);
	else if (v >= 1e6)
		snprintf(buf, n, "%.1f M%s%s", v / 1e6, sep, unit);
	else if (v >= 1e3)
		snprintf(buf, n, "%.1f k%s%s", v / 1e3, sep, unit);
	else
		snprintf(buf, n, "%.0f %s", v, unit);
}

/* Count one frame; a data record adds a latency sample. */
static inline void count_frame(struct meter *m, const struct fs_hdr *h)
{
	int slot = fs_type_slot(h->type);

	m->bytes += fs_frame_size(h);
	if (slot >= 0)
		m->count[slot]++;
	else
		m->other++;
	if (h->flags & FS_F_CONTROL) {
		m->control++;
		return;
	}
	m->records++;
	if (h->flags & (FS_F_ENCRYPTED | FS_F_ERASED)) {
		m->encrypted += (h->flags & FS_F_ENCRYPTED) != 0;
		m->erased += (h->flags & FS_F_ERASED) != 0;
	}
	if (!m->lat_from)	/* saturating: --warmup may be huge */
		m->lat_from = m->warmup > INT64_MAX - m->now ? INT64_MAX :
			      m->now + m->warmup;
	if (h->ts_ingest && m->now < m->lat_from) {
		m->warm_left_out++;
	} else if (h->ts_ingest) {
		fs_hist_add(&m->lat, m->now - h->ts_ingest);
		if (m->every)
			fs_hist_add(&m->ilat, m->now - h->ts_ingest);
	}
	if (!m->have_event || h->ts_event > m->max_event) {
		m->max_event = h->ts_event;
		m->have_event = 1;
	}
}

/* Event-time lag: now - the latest event time, or "n/a" before one. */
static void lag_text(const struct meter *m, char *buf, size_t n)
{
	if (m->have_event)
		fmt_dur(buf, n, m->now - m->max_event);
	else
		snprintf(buf, n, "n/a");
}

/* "fs-stat: N records, R records/s, latency p99 X, event-time lag Y". */
static void status_text(struct meter *m, char *buf, size_t n, double rate)
{
	char r[48], cnt[48], p99[32], lag[32];

	fmt_si(cnt, sizeof(cnt), (double)m->records, " ", "records");
	fmt_si(r, sizeof(r), rate, " ", "records/s");
	fmt_dur(p99, sizeof(p99), fs_hist_quantile(&m->lat, 0.99));
	lag_text(m, lag, sizeof(lag));
	snprintf(buf, n, "fs-stat: %s, %s, latency p99 %s, "
		 "event-time lag %s", cnt, r, m->lat.count ? p99 : "n/a", lag);
}

/*
 * The --every line: totals, then what happened since the last line
 * (rate and latency of that interval alone, so a stall or a recovery
 * shows when it happens rather than fading into a run's average).
 */
static void every_text(struct meter *m, char *buf, size_t n, int64_t mono)
{
	char cnt[48], r[48], p50[32], p99[32], mx[32], lag[32], iv[32];
	double s = (mono - m->istart) / 1e9;
	const struct fs_hist *l = &m->ilat;

	fmt_si(cnt, sizeof(cnt), (double)m->records, " ", "records");
	fmt_si(r, sizeof(r), s > 0 ? (m->records - m->irecords) / s : 0, " ",
	       "records/s");
	fmt_dur(iv, sizeof(iv), mono - m->istart);
	fmt_dur(p50, sizeof(p50), fs_hist_quantile(l, 0.5));
	fmt_dur(p99, sizeof(p99), fs_hist_quantile(l, 0.99));
	fmt_dur(mx, sizeof(mx), l->max);
	lag_text(m, lag, sizeof(lag));
	if (l->count)
		snprintf(buf, n, "fs-stat: %s; last %s: %s, latency p50 %s "
			 "p99 %s max %s; event-time lag %s", cnt, iv, r, p50,
			 p99, mx, lag);
	else
		snprintf(buf, n, "fs-stat: %s; last %s: %s; event-time lag "
			 "%s", cnt, iv, r, lag);
}

/* Per batch: refresh the clock, metrics, the live and --every lines. */
static void tick(struct meter *m, struct fs_metrics *mx)
{
	int64_t mono;
	char line[400];
	int draw;

	m->now = fs_now_ns();
	if (m->have_event)
		m->lag_s = (m->now - m->max_event) / 1e9;
	fs_metrics_tick(mx);
	draw = !m->quiet && fs_progress_due();
	if (!m->every && !draw)
		return;
	mono = fs_mono_ns();
	if (draw && mono > m->last_mono) {
		double rate = (m->records - m->last_records) * 1e9 /
			      (double)(mono - m->last_mono);

		m->rate = rate;
		m->last_mono = mono;
		m->last_records = m->records;
		status_text(m, line, sizeof(line), rate);
		fs_progress("%s", line);
	}
	if (m->every && mono >= m->next_every) {
		m->next_every = mono + m->every;
		every_text(m, line, sizeof(line), mono);
		fs_progress_done();
		fprintf(stderr, "%s\n", line);
		fs_hist_init(&m->ilat);
		m->irecords = m->records;
		m->istart = mono;
	}
}

/* "(1000000 txn, 1001 control)" */
static void type_list(struct meter *m, char *buf, size_t n)
{
	size_t at = 0;

	buf[0] = '\0';
	for (int s = 0; s < 16 && at < n; s++) {
		const struct fs_type *t = fs_type_by_id(s);

		if (!m->count[s])
			continue;
		at += snprintf(buf + at, n - at, "%s%llu %s", at ? ", " : "(",
			       (unsigned long long)m->count[s],
			       t ? t->name : "?");
	}
	if (at < n)
		at += snprintf(buf + at, n - at, "%s%llu control",
			       at ? ", " : "(",
			       (unsigned long long)m->control);
	if (m->other && at < n)
		at += snprintf(buf + at, n - at, ", %llu unknown type",
			       (unsigned long long)m->other);
	if (m->encrypted && at < n)
		at += snprintf(buf + at, n - at, "; %llu with PII encrypted",
			       (unsigned long long)m->encrypted);
	if (m->erased && at < n)
		at += snprintf(buf + at, n - at, "; %llu with PII erased",
			       (unsigned long long)m->erased);
	if (at < n)
		snprintf(buf + at, n - at, ")");
}

static void summary_text(struct meter *m, double secs)
{
	char types[512], by[48], rr[48], br[48];
	char q[5][32], lag[32];
	static const double qs[4] = { 0.5, 0.9, 0.99, 0.999 };

	type_list(m, types, sizeof(types));
	fmt_si(by, sizeof(by), (double)m->bytes, "", "B");
	fmt_si(rr, sizeof(rr), secs > 0 ? m->records / secs : 0, " ",
	       "records/s");
	fmt_si(br, sizeof(br), secs > 0 ? m->bytes / secs : 0, "", "B/s");
	fprintf(stderr, "fs-stat: %llu records %s %s in %.3f s: %s, %s\n",
		(unsigned long long)m->records, types, by, secs, rr, br);
	for (int i = 0; i < 4; i++)
		fmt_dur(q[i], 32, fs_hist_quantile(&m->lat, qs[i]));
	fmt_dur(q[4], 32, m->lat.max);
	lag_text(m, lag, sizeof(lag));
	if (m->warm_left_out) {
		char w[32];

		fmt_dur(w, sizeof(w), m->warmup);
		fprintf(stderr, "fs-stat: warm-up: the first %s (%llu "
			"records) left out of the latency\n", w,
			(unsigned long long)m->warm_left_out);
	}
	if (m->lat.count)
		fprintf(stderr, "fs-stat: latency p50 %s p90 %s p99 %s "
			"p999 %s max %s; event-time lag %s\n",
			q[0], q[1], q[2], q[3], q[4], lag);
	else
		fprintf(stderr, "fs-stat: latency n/a (no ts_ingest); "
			"event-time lag %s\n", lag);
}

static void summary_json(struct meter *m, double secs, int status)
{
	const struct fs_hist *l = &m->lat;
	int first = 1;

	fprintf(stderr, "{\"records\":%llu,\"control\":%llu,\"frames\":%llu,"
		"\"bytes\":%llu,\"seconds\":%.6f,\"records_per_s\":%.1f,"
		"\"bytes_per_s\":%.1f,\"types\":{",
		(unsigned long long)m->records,
		(unsigned long long)m->control,
		(unsigned long long)(m->records + m->control),
		(unsigned long long)m->bytes, secs,
		secs > 0 ? m->records / secs : 0.0,
		secs > 0 ? m->bytes / secs : 0.0);
	for (int s = 0; s < FS_TYPE_SLOTS; s++) {
		const struct fs_type *t = fs_type_by_id(fs_slot_type(s));

		if (!m->count[s])
			continue;
		fprintf(stderr, "%s\"%s\":%llu", first ? "" : ",",
			t ? t->name : "unknown",
			(unsigned long long)m->count[s]);
		first = 0;
	}
	if (m->other)
		fprintf(stderr, "%s\"unknown\":%llu", first ? "" : ",",
			(unsigned long long)m->other);
	fprintf(stderr, "},\"encrypted\":%llu,\"erased\":%llu",
		(unsigned long long)m->encrypted,
		(unsigned long long)m->erased);
	fprintf(stderr, ",\"latency_ns\":{\"count\":%llu,\"p50\":%lld,"
		"\"p90\":%lld,\"p99\":%lld,\"p999\":%lld,\"max\":%lld},",
		(unsigned long long)l->count,
		(long long)fs_hist_quantile(l, 0.5),
		(long long)fs_hist_quantile(l, 0.9),
		(long long)fs_hist_quantile(l, 0.99),
		(long long)fs_hist_quantile(l, 0.999),
		(long long)(l->count ? l->max : 0));
	fprintf(stderr, "\"warmup_ns\":%lld,\"warmup_records\":%llu,",
		(long long)m->warmup, (unsigned long long)m->warm_left_out);
	if (m->have_event)
		fprintf(stderr, "\"event_lag_ns\":%lld,",
			(long long)(m->now - m->max_event));
	else
		fprintf(stderr, "\"event_lag_ns\":null,");
	fprintf(stderr, "\"status\":\"%s\"}\n",
		status == FS_EXIT_OK ? "ok" : "bad-input");
}

/* How long to wait for input: until the next --every line, or forever. */
static int wait_ms(const struct meter *m)
{
	int64_t left;

	if (!m->every)
		return -1;
	left = (m->next_every - fs_mono_ns()) / 1000000 + 1;
	return left < 1 ? 1 : left > 60000 ? 60000 : (int)left;
}

/* The pass-through loop; returns the exit status. */
static int run(struct meter *m, struct fs_reader *r, struct fs_writer *w,
	       struct fs_metrics *mx)
{
	const struct fs_hdr *h;
	unsigned batch = 0;
	int rc;

	m->now = fs_now_ns();
	while (!fs_stop) {
		rc = fs_read_timed(r, &h, 0);
		while (rc == -2 && !fs_stop) {	/* would block: flush, */
			fs_writer_flush(w);	/* report, wait, re-time */
			tick(m, mx);
			rc = fs_read_timed(r, &h, wait_ms(m));
			m->now = fs_now_ns();
		}
		if (rc == -2)
			break;
		if (rc == 0)
			break;
		if (rc < 0)
			return fs_stop ? FS_EXIT_OK : FS_EXIT_DATA;
		fs_write_frame(w, h);
		count_frame(m, h);
		if (++batch == BATCH) {
			batch = 0;
			tick(m, mx);
		}
	}
	return FS_EXIT_OK;
}

enum { O_EVERY = 256, O_JSON, O_METRICS, O_VERSION, O_WARMUP };

static const struct option long_options[] = {
	{ "every", required_argument, NULL, O_EVERY },
	{ "warmup", required_argument, NULL, O_WARMUP },
	{ "help", no_argument, NULL, 'h' },
	{ "input", required_argument, NULL, 'i' },
	{ "json", no_argument, NULL, O_JSON },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "output", required_argument, NULL, 'o' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void register_metrics(struct meter *m, struct fs_metrics *mx)
{
	fs_metrics_counter(mx, "fs_stat_records_total",
			   "data records passed", &m->records);
	fs_metrics_counter(mx, "fs_stat_control_total",
			   "control records passed", &m->control);
	fs_metrics_counter(mx, "fs_stat_pii_erased_total",
			   "records whose subject's PII was erased",
			   &m->erased);
	fs_metrics_counter(mx, "fs_stat_bytes_total", "bytes passed",
			   &m->bytes);
	fs_metrics_gauge(mx, "fs_stat_event_lag_seconds",
			 "wall clock minus the latest event time", &m->lag_s);
	fs_metrics_gauge(mx, "fs_stat_records_per_second",
			 "recent rate of data records", &m->rate);
	fs_metrics_summary(mx, "fs_stat_latency_seconds",
			   "end-to-end latency (now - ts_ingest)", &m->lat);
}

int tool_main(int argc, char **argv)
{
	static struct meter meter;
	struct meter *m = &meter;
	const char *in = "-", *out = "-", *metrics = NULL;
	struct fs_reader *r;
	struct fs_writer *w;
	struct fs_metrics *mx;
	int ch, status;
	double secs;

	while ((ch = fs_getopt(argc, argv, "hi:o:q", long_options)) != -1) {
		switch (ch) {
		case 'h': usage(stdout); return FS_EXIT_OK;
		case 'i': in = optarg; break;
		case 'o': out = optarg; break;
		case 'q': m->quiet = 1; break;
		case O_EVERY:
			m->every = fs_opt_duration("--every", optarg,
						   (size_t)-1, 1, INT64_MAX);
			break;
		case O_WARMUP:
			m->warmup = fs_opt_duration("--warmup", optarg,
						    (size_t)-1, 1, INT64_MAX);
			break;
		case O_JSON: m->json = 1; break;
		case O_METRICS: metrics = optarg; break;
		case O_VERSION: fs_print_version(NULL); return FS_EXIT_OK;
		default: fs_bug("option %d not handled", ch);
		}
	}
	if (optind < argc)
		fs_usage_error("unexpected argument '%s'", argv[optind]);
	fs_hist_init(&m->lat);
	fs_hist_init(&m->ilat);
	r = fs_reader_open(in);
	w = fs_writer_open(out);
	fs_reader_flush_on_block(r, w);
	mx = fs_metrics_open(metrics);
	register_metrics(m, mx);
	m->t0 = m->last_mono = fs_mono_ns();
	m->next_every = m->t0 + m->every;
	m->istart = m->t0;
	status = run(m, r, w, mx);
	fs_writer_flush(w);
	m->now = fs_now_ns();
	secs = (fs_mono_ns() - m->t0) / 1e9;
	if (m->have_event)
		m->lag_s = (m->now - m->max_event) / 1e9;
	m->rate = secs > 0 ? m->records / secs : 0;
	fs_progress_done();
	if (m->json)
		summary_json(m, secs, status);
	else
		summary_text(m, secs);
	fs_writer_close(w);
	fs_metrics_close(mx);
	fs_reader_close(r);
	return status;
}
