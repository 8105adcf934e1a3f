/*
 * fs-ingest - CSV, TSV, JSON Lines and FIX tag=value (files, stdin, or
 * archives of them) into records.  Columns map to fields by name through
 * the schema table; bad rows fail the run, are skipped, or go to a
 * dead-letter file.  See fs-ingest(1).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest.h"

static const char usage_text[] =
	"usage: fs-ingest [-f csv|tsv|jsonl|fix] [-t TYPE] [-i FILE] "
	"[-o FILE]\n"
	"                 [-m COL=FIELD]... [-d CHAR] [--no-header]\n"
	"                 [-e fail|skip|dead-letter:FILE] [--metrics FILE]\n"
	"                 [--max-delay D] [--watermark-interval D]\n"
	"                 [--epoch-unit s|ms|us|ns] [--tz ZONE]\n"
	"                 " FS_KAFKA_SYNOPSIS "\n"
	"\n"
	"Read text rows and write records.\n"
	"\n"
	"  -f, --format FMT      csv (default), tsv, jsonl or fix\n"
	"  -t, --type TYPE       record type: txn, trade, quote, book, order,\n"
	"                        position, bar, score, alert, var, features,\n"
	"                        json (jsonl only); fix defaults to trade and\n"
	"                        order by message type\n"
	"  -i, --input FILE      input file or archive (default - for stdin)\n"
	"  -o, --output FILE     output (default - for stdout)\n"
	"  -m, --map COL=FIELD   read column (or key) COL as field FIELD\n"
	"  -d, --delimiter CHAR  CSV delimiter (default ','; 'tab' for TAB)\n"
	"      --no-header       the CSV has no header: columns are the\n"
	"                        type's fields in schema order\n"
	"  -e, --on-error MODE   bad rows: fail (default, exit 3), skip, or\n"
	"                        dead-letter:FILE\n"
	"      --max-delay D     write WATERMARK records: event time up to\n"
	"                        which no more rows are expected, the latest\n"
	"                        ts_event minus D (rows may be D out of order)\n"
	"      --watermark-interval D\n"
	"                        event time between WATERMARKs (default 1s;\n"
	"                        given alone, --max-delay is 0)\n"
	"      --epoch-unit U    bare epoch numbers are in U: s, ms, us or ns\n"
	"                        (default: told by magnitude)\n"
	"      --tz ZONE         timestamps without a zone are local time in\n"
	"                        ZONE, e.g. America/New_York (default UTC)\n"
	"      --metrics FILE    write Prometheus metrics to FILE\n"
	"  -h, --help            show this help\n"
	"      --version         show the version\n";

static struct fs_metrics *metrics;
static const char *tz_name;	/* --tz, for the source's name */

/* After each input block: metrics and the progress line. */
static void tick(struct ing *g)
{
	fs_metrics_tick(metrics);
	if (fs_progress_due())
		fs_progress("%s: %llu rows, %llu records", g->name,
			    (unsigned long long)g->rows,
			    (unsigned long long)g->records);
}

/* Parse --format. */
static void set_format(struct ing *g, const char *s)
{
	static const char *const names[] = { "csv", "tsv", "jsonl", "fix" };

	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			g->fmt = i;
			return;
		}
	if (!strcmp(s, "json"))
		g->fmt = ING_JSONL;
	else
		fs_usage_error("unknown format '%s' (csv, tsv, jsonl, fix)", s);
}

/* Parse --on-error. */
static void set_on_error(struct ing *g, const char *s)
{
	if (!strcmp(s, "fail"))
		g->on_error = ING_FAIL;
	else if (!strcmp(s, "skip"))
		g->on_error = ING_SKIP;
	else if (!strncmp(s, "dead-letter:", 12) && s[12]) {
		g->on_error = ING_DEAD;
		g->dead_path = s + 12;
	} else {
		fs_usage_error("bad --on-error '%s' (fail, skip, "
			       "dead-letter:FILE)", s);
	}
}

/* Parse --delimiter: one character, or "tab", "\t". */
static void set_delim(struct ing *g, const char *s)
{
	if (!strcmp(s, "tab") || !strcmp(s, "\\t"))
		s = "\t";
	if (strlen(s) != 1 || strchr("\"\r\n", *s))
		fs_usage_error("bad --delimiter '%s': one character, not a "
			       "quote or newline", s);
	g->delim = *s;
}

/* Parse --epoch-unit. */
static void set_epoch_unit(struct ing *g, const char *s)
{
	static const char *const names[] = { "s", "ms", "us", "ns" };
	static const int64_t ns[] = { 1000000000, 1000000, 1000, 1 };

	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			g->trules.epoch_unit = ns[i];
			return;
		}
	fs_usage_error("bad --epoch-unit '%s' (s, ms, us, ns)", s);
}

/* Parse --tz. */
static void set_tz(struct ing *g, const char *s)
{
	if (fs_tz_set(&g->tz, s) < 0)
		fs_usage_error("unknown --tz '%s': not a zone of the tz "
			       "database (e.g. America/New_York, UTC)", s);
	g->trules.tz = &g->tz;
	tz_name = s;
}

/* Parse --map COL=FIELD into g->maps. */
static void add_map(struct ing *g, char *s)
{
	char *eq = strchr(s, '=');

	if (!eq || eq == s || !eq[1])
		fs_usage_error("bad --map '%s': use COLUMN=FIELD", s);
	*eq = 0;
	g->maps = fs_xrealloc(g->maps, (size_t)(g->nmaps + 1) *
			      sizeof(*g->maps));
	g->maps[g->nmaps].col = s;
	g->maps[g->nmaps++].field = eq + 1;
}

/* Check -t and the options that depend on it. */
static void check_type(struct ing *g, const char *tname)
{
	const struct fs_type *t;

	if (!tname) {
		if (g->fmt != ING_FIX)
			fs_usage_error("-t TYPE is required (e.g. -t txn)");
		return;
	}
	t = fs_type_by_name(tname);
	if (!t || (t->id >= FS_T_WATERMARK) || t->id == FS_T_AGG)
		fs_usage_error("unknown or unsupported type '%s'", tname);
	if (g->fmt == ING_FIX) {
		if (t->id != FS_T_TRADE && t->id != FS_T_ORDER)
			fs_usage_error("-f fix makes trade or order records, "
				       "not %s", tname);
		g->fix_only = t;
		return;
	}
	g->type = t;
	g->features = t->id == FS_T_FEATURES;
	g->json = t->id == FS_T_JSON;
	if (g->json && g->fmt != ING_JSONL)
		fs_usage_error("-t json needs -f jsonl");
	for (int i = 0; i < g->nmaps; i++) {
		const struct fs_field *f;

		f = fs_field_by_name(t, g->maps[i].field);

		if (!g->features && (!f || f->kind == FS_K_TEXT ||
				     f->kind == FS_K_EXPLAIN))
			fs_usage_error("bad --map '%s=%s': type %s has no "
				       "field '%s' to read", g->maps[i].col,
				       g->maps[i].field, tname,
				       g->maps[i].field);
	}
}

/* Options that do not fit together. */
static void check_combos(struct ing *g)
{
	if (g->fmt == ING_FIX && g->nmaps)
		fs_usage_error("--map does not apply to -f fix");
	if (g->no_header && (g->fmt > ING_TSV || g->features))
		fs_usage_error("--no-header needs -f csv or tsv and a type "
			       "with fixed fields");
	if (g->fmt == ING_TSV) {
		if (g->delim == ',')
			g->delim = '\t';
		g->quoting = 0;
	}
	g->parse = g->fmt == ING_JSONL ? ing_jsonl_parse :
		   g->fmt == ING_FIX ? ing_fix_parse : ing_csv_parse;
}

static const struct option long_options[] = {
	{ "delimiter", required_argument, NULL, 'd' },
	{ "epoch-unit", required_argument, NULL, 'E' },
	{ "format", required_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ "input", required_argument, NULL, 'i' },
	{ "map", required_argument, NULL, 'm' },
	{ "max-delay", required_argument, NULL, 'D' },
	{ "metrics", required_argument, NULL, 'M' },
	{ "no-header", no_argument, NULL, 'H' },
	{ "on-error", required_argument, NULL, 'e' },
	{ "output", required_argument, NULL, 'o' },
	{ "type", required_argument, NULL, 't' },
	{ "tz", required_argument, NULL, 'Z' },
	{ "version", no_argument, NULL, 'V' },
	{ "watermark-interval", required_argument, NULL, 'W' },
	{ NULL, 0, NULL, 0 },
};

/* Parse the command line into g; in, out, metrics paths. */
static void options(struct ing *g, int argc, char **argv, const char **in,
		    const char **out, const char **mpath)
{
	const char *tname = NULL;
	int c, wm = 0;

	while ((c = fs_getopt(argc, argv, "d:e:f:hi:m:o:t:", long_options))
	       != -1) {
		switch (c) {
		case 'd': set_delim(g, optarg); break;
		case 'e': set_on_error(g, optarg); break;
		case 'E': set_epoch_unit(g, optarg); break;
		case 'f': set_format(g, optarg); break;
		case 'h':
			fputs(usage_text, stdout);
			fs_kafka_usage(stdout, 0);
			fs_pipeline_usage(stdout);
			exit(FS_EXIT_OK);
		case 'H': g->no_header = 1; break;
		case 'i': *in = optarg; break;
		case 'm': add_map(g, optarg); break;
		case 'M': *mpath = optarg; break;
		case 'o': *out = optarg; break;
		case 't': tname = optarg; break;
		case 'V': fs_print_version(NULL); exit(FS_EXIT_OK);
		case 'Z': set_tz(g, optarg); break;
		case 'D':
			g->wm_delay = fs_opt_duration("--max-delay", optarg,
						      (size_t)-1, 0,
						      INT64_MAX / 4);
			wm = 1;
			break;
		case 'W':
			g->wm_iv = fs_opt_duration("--watermark-interval",
						   optarg, (size_t)-1, 1,
						   INT64_MAX / 4);
			wm = 1;
			break;
		default: fs_bug("option %d not handled", c);
		}
	}
	if (optind < argc)
		fs_usage_error("unexpected argument '%s' (use -i FILE)",
			       argv[optind]);
	check_type(g, tname);
	check_combos(g);
	if (wm) {
		if (!g->wm_iv)
			g->wm_iv = 1000000000;	/* 1s */
		g->next_wm = INT64_MIN;	/* the first record arms it */
	}
}

/*
 * Checkpoints (--state, finstream(7)): the source's name, its state
 * beside the position (libcommon/source.c records partition 0, the
 * stream offset of the next row; this file partitions 1-3: the line
 * number and the WATERMARK state there) and the dead-letter file.
 */
static struct {
	struct fs_ckpt *c;
	char *name;		/* the source in the store */
	int dead;		/* the dead-letter file is a side file */
} ck;

enum { CK_LINE = 1, CK_MAX_TS, CK_NEXT_WM, CK_N };

/*
 * The source's name: the input's realpath and the options its records
 * depend on, so that another input or other options are another source.
 */
static char *source_name(const struct ing *g, const char *real)
{
	static const char *const fmts[] = { "csv", "tsv", "jsonl", "fix" };
	const struct fs_type *t = g->type ? g->type : g->fix_only;
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		fs_die_errno(FS_EXIT_FAIL, "cannot name the source");
	fprintf(f, "fs-ingest %s -f %s -t %s", real, fmts[g->fmt],
		t ? t->name : "trade,order");
	if (g->fmt <= ING_TSV)
		fprintf(f, " -d %d%s", g->delim,
			g->no_header ? " --no-header" : "");
	for (int i = 0; i < g->nmaps; i++)
		fprintf(f, " -m %s=%s", g->maps[i].col, g->maps[i].field);
	if (g->trules.epoch_unit)
		fprintf(f, " --epoch-unit %lldns",
			(long long)g->trules.epoch_unit);
	if (tz_name)
		fprintf(f, " --tz %s", tz_name);
	if (g->wm_iv)
		fprintf(f, " --max-delay %lldns --watermark-interval %lldns",
			(long long)g->wm_delay, (long long)g->wm_iv);
	if (fclose(f) != 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot name the source");
	return buf;
}

/* fs_side_file's flush: the dead letters buffered so far. */
static void dead_flush(void *f)
{
	fflush(f);
}

/*
 * With --state: the input must be a regular file (a pipe cannot be read
 * again from a position); open the source and restore the state at its
 * position; open the dead-letter file, cut to the restored checkpoint's
 * length.
 */
static void ckpt_open(struct ing *g, const char *in)
{
	int64_t v[CK_N], n;
	struct stat st;
	char *real;

	if (!(ck.c = fs_pipeline_ckpt()))
		return;
	if (!strcmp(in, "-"))
		fs_usage_error("--state needs an input file (-i FILE): "
			       "stdin cannot be read again from a "
			       "checkpoint's position");
	if (stat(in, &st) == 0 && !S_ISREG(st.st_mode))
		fs_usage_error("--state needs a regular input file: '%s' "
			       "cannot be read again from a checkpoint's "
			       "position", in);
	if (!(real = realpath(in, NULL)))
		fs_die_errno(FS_EXIT_FAIL, "cannot open '%s'", in);
	ck.name = source_name(g, real);
	free(real);
	g->src = fs_source_open(ck.name);
	g->skip = (uint64_t)fs_source_resume(g->src);
	g->skip_max_ts = g->max_ts;
	g->skip_next_wm = g->next_wm;
	n = fs_pipeline_restored();
	for (int i = CK_LINE; i < CK_N && n > 0; i++)
		if (fs_ckpt_get_position(ck.c, n, ck.name, i, &v[i]) < 0)
			fs_die(FS_EXIT_FAIL, "cannot resume '%s': checkpoint "
			       "%lld has its position but not its state",
			       ck.name, (long long)n);
	if (n > 0) {
		g->skip_line = (uint64_t)v[CK_LINE];
		g->skip_max_ts = v[CK_MAX_TS];
		g->skip_next_wm = v[CK_NEXT_WM];
	}
	if (g->dead_path) {
		int64_t len;

		g->dead = fopen(g->dead_path, "a");
		if (!g->dead)
			fs_die_errno(FS_EXIT_FAIL, "cannot open dead-letter "
				     "file '%s'", g->dead_path);
		fs_claim_fd(fileno(g->dead), g->dead_path, 1);
		len = fs_side_file(fileno(g->dead), g->dead_path, dead_flush,
				   g->dead);
		g->dead_hdr = len != 0;	/* -1: not a file, appended to */
		ck.dead = len >= 0;
	}
}

/*
 * A barrier after the row before g->pos: the records so far out first,
 * the state beside the position, and the BARRIER (the dead-letter file,
 * a side file, is written, synced and its length recorded before it).
 */
static void barrier(struct ing *g, int final)
{
	int64_t part[CK_N - 1] = { CK_LINE, CK_MAX_TS, CK_NEXT_WM };
	int64_t v[CK_N - 1] = { (int64_t)g->line, g->max_ts, g->next_wm };

	ing_flush_batch(g);
	fs_ckpt_put_positions(ck.c, fs_source_next_id(g->src), ck.name,
			      CK_N - 1, part, v);
	fs_source_barrier(g->src, g->w, (int64_t)g->pos,
			  g->max_ts == INT64_MIN ? 0 : g->max_ts, final);
}

/* The end of the source: a FINAL barrier; forget the side file. */
static void ckpt_close(struct ing *g)
{
	if (!g->src)
		return;
	barrier(g, 1);
	if (ck.dead)
		fs_side_file_close(fileno(g->dead));
	fs_source_close(g->src);
	g->src = NULL;
	free(ck.name);
}

int tool_main(int argc, char **argv)
{
	const char *in = "-", *out = "-", *mpath = NULL;
	struct ing g;
	int rc;

	ing_init(&g);
	options(&g, argc, argv, &in, &out, &mpath);
	g.w = fs_writer_open(out);
	g.tick = tick;
	metrics = fs_metrics_open(mpath);
	if (g.dead_path)	/* appended to later: refuse a clash now */
		fs_check_output_path(g.dead_path);
	ckpt_open(&g, in);
	g.barrier = barrier;
	fs_metrics_counter(metrics, "fs_ingest_rows_total",
			   "data rows read", &g.rows);
	fs_metrics_counter(metrics, "fs_ingest_records_total",
			   "records written", &g.records);
	fs_metrics_counter(metrics, "fs_ingest_bad_rows_total",
			   "bad rows skipped or dead-lettered", &g.bad);
	fs_metrics_counter(metrics, "fs_ingest_bytes_total",
			   "input bytes read", &g.bytes);
	rc = ing_input_path(&g, in);
	if (rc == 0)
		ckpt_close(&g);
	fs_progress_done();
	ing_summary(&g);
	fs_writer_close(g.w);
	fs_metrics_close(metrics);
	if (rc < 0)
		fs_die(FS_EXIT_DATA, "%s", g.err);
	free(g.maps);
	ing_free(&g);
	return FS_EXIT_OK;
}
