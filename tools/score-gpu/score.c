/*
 * fs-score-gpu - score FEATURES records with a tree ensemble (XGBoost
 * JSON, LightGBM text) or a logistic model, on the GPU or the CPU.
 *
 * Rows are gathered into batches in the model's feature order (the
 * SCHEMA record maps names to columns).  Two batches alternate: one is
 * filled while the other is scored (pool threads, or a CUDA stream), so
 * reading overlaps scoring.  A batch leaves when full, when --linger
 * has passed since its first record, before a new FEATURES SCHEMA and
 * at the end.  Records that are not FEATURES are queued in the batch at
 * their place and written back in input order, after the SCOREs of the
 * FEATURES before them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "score.h"
#include "snapbuf.h"
#ifdef FS_HAVE_CUDA
#include "score_cuda.h"
#endif

#define CHUNK 256		/* rows per pool chunk */
#define MAX_SCHEMAS 16
#define PASS_MAX (16u << 20)	/* queued pass-through bytes per batch */
#define BATCH_MAX (1 << 20)
#define RESERVOIR_CAP 65536
#define BATCH_FLOATS (64 << 20)	/* 256 MiB of rows per batch */
#define CLASS_SCHEMA_ID FS_SCHEMA_ID_CLASSES	/* --all-classes' */

enum { DEV_AUTO, DEV_GPU, DEV_CPU };

struct opts {
	const char *model, *in, *out, *alerts, *metrics, *reference, *save_ref;
	int device, batch, threads, explain, allow_missing, stats;
	int explain_alerts;	/* explain only rows at or above threshold */
	int all_classes;	/* class probabilities as FEATURES rows */
	int has_threshold;
	int64_t linger;
	double threshold, psi_alert;
	int64_t psi_window;
};

struct rowmeta {
	int64_t ts_event, ts_ingest;
	uint64_t key, seq;
	uint8_t flags, sch;
};

struct expl {
	uint32_t feat;
	float contrib;
};

struct passref {
	int pos;		/* emitted before row pos */
	size_t off;
};

struct batch {
	struct scorer *sc;
	int n, slot, busy;
	float *rows;		/* n x nfeat, model feature order */
	double *margin;
	struct rowmeta *meta;
	struct expl *ex;	/* FS_EXPLAIN_MAX per row */
	uint8_t *nex;
	char *pass;
	size_t pass_len, pass_cap;
	struct passref *pref;
	int npass, pref_cap;
	int64_t t_first, t_start, t_end;
};

struct schema_map {
	int used;
	uint32_t id;
	unsigned ncols;
	int32_t *map;		/* model feature -> column, -1 missing */
	char *frame;		/* the SCHEMA frame, for snapshots */
};

struct scorer {
	struct opts o;
	struct model *m;
	struct forest *f;
	struct pool *pool;
	int gpu;
#ifdef FS_HAVE_CUDA
	struct cuda_scorer *cu;
#endif
	struct batch b[2];
	int cur, next_sch;
	struct fs_reader *r;
	struct fs_writer *w, *aw;
	struct schema_map sch[MAX_SCHEMAS];
	double **phi;		/* per worker: nfeat + 1 */
	struct shap_work **sw;
	struct drift *drift;
	struct reservoir *res;
	int psi_alerted;
	struct fs_metrics *mx;
	uint64_t n_rows, n_alerts, n_batches, n_pass;
	double psi;
	struct fs_hist lat;
	double *prob;		/* nclass class probabilities */
	int class_schema_out;	/* --all-classes' SCHEMA written */
	int64_t busy_ns, t0;
	uint64_t frame_no, frame_off;	/* the frame being handled */
};

static void usage(FILE *fp)
{
	fprintf(fp,
"Usage: fs-score-gpu -m MODEL [-i URI] [-o URI] [--device auto|gpu|cpu]\n"
"         [--batch N] [--linger DURATION] [-j N] [--threshold T]\n"
"         [--alerts URI] [--explain K] [--explain-alerts]\n"
"         [--allow-missing] [--all-classes]\n"
"         [--reference FILE] [--save-reference FILE] [--psi-alert X]\n"
"         [--psi-window N] [--metrics FILE] [--stats]\n"
"         [-e] " FS_KAFKA_SYNOPSIS "\n"
"Score FEATURES records with an XGBoost JSON, LightGBM text or logistic\n"
"JSON model; write SCORE records (and ALERTs).\n"
"  -m, --model FILE        the model (format told from its content)\n"
"  -i, --input URI         input (default -)\n"
"  -o, --output URI        output (default -)\n"
"      --device D          auto (GPU if built and present), gpu, cpu\n"
"      --batch N           rows per batch (default 4096)\n"
"      --linger DURATION   longest wait of a partial batch (default 1ms)\n"
"  -j, --threads N         CPU scoring threads (default: all cores)\n"
"      --threshold T       decision = score >= T; ALERTs to --alerts\n"
"      --alerts URI        where ALERT records go\n"
"      --explain K         top K feature contributions (TreeSHAP), K <= 8\n"
"      --explain-alerts    explain only scores at or above --threshold\n"
"      --allow-missing     model features absent from the SCHEMA are NaN\n"
"      --all-classes       multi-class: each SCORE followed by a FEATURES\n"
"                          row of the class probabilities\n"
"      --reference FILE    score histogram to check drift against (PSI)\n"
"      --save-reference FILE  write this run's score histogram\n"
"      --psi-alert X       ALERT when PSI exceeds X (default 0.2)\n"
"      --psi-window N      scores in the PSI window (default 10000)\n"
"      --metrics FILE      Prometheus metrics, rewritten every second\n"
"      --stats             rows/s and batch latency on stderr at the end\n"
"  -h, --help              this help\n"
"      --version           version, libraries, CUDA device\n");
	fs_kafka_usage(fp, 1);
	fs_pipeline_usage(fp);
}

static void print_version(void)
{
#ifdef FS_HAVE_CUDA
	char desc[256], line[300];

	cuda_probe(desc, sizeof(desc));
	snprintf(line, sizeof(line), "cuda device: %s", desc);
	fs_print_version(line);
#else
	fs_print_version("cuda device: none (this build lacks CUDA support)");
#endif
}

static double real_opt(const char *name, const char *v)
{
	double d;

	if (fs_parse_f64(v, (size_t)-1, &d) < 0 || !isfinite(d))
		fs_usage_error("bad %s '%s': a number expected", name, v);
	return d;
}

enum {
	O_ALLOW = 256, O_ALERTS, O_ALL_CLASSES, O_BATCH, O_DEVICE, O_EXPLAIN,
	O_EXPLAIN_AL,
	O_LINGER,
	O_METRICS, O_PSI_ALERT, O_PSI_WINDOW, O_REFERENCE, O_SAVE_REF,
	O_STATS, O_THRESHOLD, O_VERSION,
};

static const struct option long_options[] = {
	{ "alerts", required_argument, NULL, O_ALERTS },
	{ "all-classes", no_argument, NULL, O_ALL_CLASSES },
	{ "allow-missing", no_argument, NULL, O_ALLOW },
	{ "batch", required_argument, NULL, O_BATCH },
	{ "device", required_argument, NULL, O_DEVICE },
	{ "explain", required_argument, NULL, O_EXPLAIN },
	{ "explain-alerts", no_argument, NULL, O_EXPLAIN_AL },
	{ "help", no_argument, NULL, 'h' },
	{ "input", required_argument, NULL, 'i' },
	{ "linger", required_argument, NULL, O_LINGER },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "model", required_argument, NULL, 'm' },
	{ "output", required_argument, NULL, 'o' },
	{ "psi-alert", required_argument, NULL, O_PSI_ALERT },
	{ "psi-window", required_argument, NULL, O_PSI_WINDOW },
	{ "reference", required_argument, NULL, O_REFERENCE },
	{ "save-reference", required_argument, NULL, O_SAVE_REF },
	{ "stats", no_argument, NULL, O_STATS },
	{ "threads", required_argument, NULL, 'j' },
	{ "threshold", required_argument, NULL, O_THRESHOLD },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* One option into o (long options with no short form included). */
static void set_opt(struct opts *o, int c, const char *v)
{
	switch (c) {
	case O_ALERTS: o->alerts = v; break;
	case O_ALLOW: o->allow_missing = 1; break;
	case O_ALL_CLASSES: o->all_classes = 1; break;
	case O_BATCH: o->batch = (int)fs_opt_i64("--batch", v, 1, BATCH_MAX);
		break;
	case O_DEVICE:
		if (!strcmp(v, "auto"))
			o->device = DEV_AUTO;
		else if (!strcmp(v, "gpu"))
			o->device = DEV_GPU;
		else if (!strcmp(v, "cpu"))
			o->device = DEV_CPU;
		else
			fs_usage_error("bad --device '%s': auto, gpu or cpu", v);
		break;
	case O_EXPLAIN: o->explain = (int)fs_opt_i64("--explain", v, 0,
						  FS_EXPLAIN_MAX);
		break;
	case O_EXPLAIN_AL: o->explain_alerts = 1; break;
	case O_LINGER:
		o->linger = fs_opt_duration("--linger", v, (size_t)-1, 0,
					    INT64_MAX);
		break;
	case O_METRICS: o->metrics = v; break;
	case O_PSI_ALERT: o->psi_alert = real_opt("--psi-alert", v); break;
	case O_PSI_WINDOW: o->psi_window = fs_opt_i64("--psi-window", v, 10,
						   100000000);
		break;
	case O_REFERENCE: o->reference = v; break;
	case O_SAVE_REF: o->save_ref = v; break;
	case O_STATS: o->stats = 1; break;
	case O_THRESHOLD:
		o->threshold = real_opt("--threshold", v);
		o->has_threshold = 1;
		break;
	case 'i': o->in = v; break;
	case 'j': o->threads = (int)fs_opt_i64("--threads", v, 1, 256); break;
	case 'm': o->model = v; break;
	case 'o': o->out = v; break;
	}
}

static void parse_args(struct opts *o, int argc, char **argv)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->in = o->out = "-";
	o->batch = 4096;
	o->linger = 1000000;
	o->psi_alert = 0.2;
	o->psi_window = 10000;
	while ((c = fs_getopt(argc, argv, "hi:j:m:o:", long_options)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(FS_EXIT_OK);
		} else if (c == O_VERSION) {
			print_version();
			exit(FS_EXIT_OK);
		}
		set_opt(o, c, optarg);
	}
	if (optind < argc)
		fs_usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->model)
		fs_usage_error("no model: give -m FILE");
	if (o->explain_alerts && (!o->explain || !o->has_threshold))
		fs_usage_error("--explain-alerts needs --explain K and "
			       "--threshold T");
	if (!o->threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		o->threads = n < 1 ? 1 : n > 256 ? 256 : (int)n;
	}
}

/* ---- choosing the device ---- */

/* Decide CPU or GPU; says its choice once on stderr for auto. */
static void pick_device(struct scorer *s)
{
#ifdef FS_HAVE_CUDA
	char desc[256], err[200];
	int have;

	/* no driver start-up for cpu: seconds without persistence mode */
	if (s->o.device == DEV_CPU)
		return;
	have = cuda_probe(desc, sizeof(desc));
	if (s->o.device == DEV_GPU && !have)
		fs_die(FS_EXIT_UNAVAIL, "--device gpu: %s", desc);
	s->gpu = have;
	if (s->gpu) {
		s->cu = cuda_scorer_new(s->f, s->m, s->o.batch, err,
					sizeof(err));
		if (!s->cu && s->o.device == DEV_GPU)
			fs_die(FS_EXIT_UNAVAIL, "cannot use the GPU: %s", err);
		if (!s->cu) {	/* auto: a device that cannot be used */
			snprintf(desc, sizeof(desc), "cannot use the GPU: %s",
				 err);
			s->gpu = 0;
		}
	}
	if (s->o.device == DEV_AUTO && s->gpu)
		fs_warn("scoring on the gpu: %s", desc);
	else if (s->o.device == DEV_AUTO)
		fs_warn("scoring on the cpu, %d threads: %s", s->o.threads,
			desc);
#else
	if (s->o.device == DEV_GPU)
		fs_die(FS_EXIT_UNAVAIL, "--device gpu: this build lacks CUDA "
		       "support");
	if (s->o.device == DEV_AUTO)
		fs_warn("scoring on the cpu, %d threads: this build lacks "
			"CUDA support", s->o.threads);
#endif
}

/* Buffers of both batches; GPU batches use the pinned CUDA buffers. */
static void alloc_batches(struct scorer *s)
{
	int cap = s->o.batch, nf = s->m->nfeat;

	for (int i = 0; i < 2; i++) {
		struct batch *b = &s->b[i];

		memset(b, 0, sizeof(*b));
		b->sc = s;
		b->slot = i;
#ifdef FS_HAVE_CUDA
		if (s->gpu) {
			b->rows = cuda_rows(s->cu, i);
			b->margin = cuda_out(s->cu, i);
		}
#endif
		if (!s->gpu) {
			b->rows = fs_xmalloc(sizeof(float) * (size_t)cap * nf);
			b->margin = fs_xmalloc(sizeof(double) * cap *
					       s->m->nclass);
		}
		b->meta = fs_xmalloc(sizeof(*b->meta) * cap);
		b->ex = fs_xmalloc(sizeof(*b->ex) * FS_EXPLAIN_MAX * cap);
		b->nex = fs_xcalloc(cap, 1);
	}
}

static void free_batches(struct scorer *s)
{
	for (int i = 0; i < 2; i++) {
		struct batch *b = &s->b[i];

		if (!s->gpu) {
			free(b->rows);
			free(b->margin);
		}
		free(b->meta);
		free(b->ex);
		free(b->nex);
		free(b->pass);
		free(b->pref);
	}
}

/* ---- scoring a batch ---- */

/* Whether e goes before o: larger |contrib|, then lower column. */
static int expl_before(struct expl e, struct expl o)
{
	float a = fabsf(e.contrib), b = fabsf(o.contrib);

	return a > b || (a == b && e.feat < o.feat);
}

/*
 * Top K of phi over features present in the schema, as they are
 * written (float): by |contribution| descending, equal ones by schema
 * column ascending; zero contributions are left out.
 */
static int top_k(const double *phi, const int32_t *map, int nfeat, int k,
		 struct expl *out)
{
	int n = 0;

	for (int j = 0; j < nfeat; j++) {
		struct expl e = { (uint32_t)map[j], (float)phi[j] };
		int p;

		if (map[j] < 0 || e.contrib == 0)
			continue;
		if (n == k && !expl_before(e, out[k - 1]))
			continue;
		p = n < k ? n++ : k - 1;
		while (p > 0 && expl_before(e, out[p - 1])) {
			out[p] = out[p - 1];
			p--;
		}
		out[p] = e;
	}
	return n;
}

/*
 * The score of row i of b: the link of its margin, or for multi-class
 * models the probability of its top class, that class in *cls.  p:
 * room for the class probabilities.
 */
static double row_score(const struct scorer *s, const struct batch *b, int i,
			double *p, int *cls)
{
	const struct model *m = s->m;

	*cls = 0;
	if (m->nclass == 1)
		return model_link(m, b->margin[i]);
	*cls = model_classes(m, b->margin + (size_t)i * m->nclass, p);
	return p[*cls];
}

static void explain_row(struct scorer *s, struct batch *b, int i, int wk)
{
	int nf = s->m->nfeat, cls;
	double *phi = s->phi[wk];
	double score = row_score(s, b, i, phi, &cls);

	b->nex[i] = 0;
	if (s->o.explain_alerts && !(score >= s->o.threshold))
		return;
	memset(phi, 0, sizeof(double) * (nf + 1));
	shap_row(s->m, s->sw[wk], b->rows + (size_t)i * nf, phi, cls);
	b->nex[i] = (uint8_t)top_k(phi, s->sch[b->meta[i].sch].map, nf,
				   s->o.explain, b->ex + i * FS_EXPLAIN_MAX);
}

/* Pool job: margins (CPU path) and explanations of one chunk. */
static void job_chunk(void *arg, int c, int wk)
{
	struct batch *b = arg;
	struct scorer *s = b->sc;
	int lo = c * CHUNK, hi = lo + CHUNK < b->n ? lo + CHUNK : b->n;
	const float *rows = b->rows + (size_t)lo * s->m->nfeat;
	int64_t now, prev;

	if (!s->gpu && s->f)
		forest_margin(s->f, rows, hi - lo,
			      b->margin + (size_t)lo * s->m->nclass);
	else if (!s->gpu)
		logit_margin(s->m, rows, hi - lo, b->margin + lo);
	for (int i = lo; i < hi && s->o.explain; i++)
		explain_row(s, b, i, wk);
	now = fs_mono_ns();
	prev = __atomic_load_n(&b->t_end, __ATOMIC_RELAXED);
	while (now > prev &&
	       !__atomic_compare_exchange_n(&b->t_end, &prev, now, 1,
					    __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

static int nchunks(const struct batch *b)
{
	return (b->n + CHUNK - 1) / CHUNK;
}

#ifdef FS_HAVE_CUDA
/* A GPU error mid-stream: flush the SCOREs already written, then die. */
_Noreturn static void gpu_fail(struct scorer *s, const char *err)
{
	fs_writer_close(s->w);
	if (s->aw)
		fs_writer_close(s->aw);
	fs_die(FS_EXIT_UNAVAIL, "gpu scoring failed: %s", err);
}
#endif

/* Start scoring b (returns before it is done). */
static void start(struct scorer *s, struct batch *b)
{
	b->busy = 1;
	b->t_start = fs_mono_ns();
	b->t_end = b->t_start;
	if (b->n == 0)
		return;
#ifdef FS_HAVE_CUDA
	if (s->gpu) {
		char err[256];

		if (cuda_submit(s->cu, b->slot, b->n, err, sizeof(err)) < 0)
			gpu_fail(s, err);
		return;
	}
#endif
	pool_start(s->pool, job_chunk, b, nchunks(b));
}

/* Wait for b's scores (and explanations). */
static void complete(struct scorer *s, struct batch *b)
{
	if (b->n == 0)
		return;
#ifdef FS_HAVE_CUDA
	if (s->gpu) {
		char err[256];
		double ms = 0;

		if (cuda_wait(s->cu, b->slot, &ms, err, sizeof(err)) < 0)
			gpu_fail(s, err);
		b->t_end = b->t_start + (int64_t)(ms * 1e6);
		if (s->o.explain) {
			pool_start(s->pool, job_chunk, b, nchunks(b));
			pool_wait(s->pool);
		}
		return;
	}
#endif
	pool_wait(s->pool);
}

/* ---- output ---- */

static void write_alert(struct scorer *s, const struct rowmeta *mt,
			double score, const char *reason)
{
	struct fs_writer *w = s->aw ? s->aw : s->w;
	struct fs_hdr *o = fs_write_reserve(w, FS_T_ALERT,
					    sizeof(struct fs_alert));
	struct fs_alert *a = fs_body(o);

	o->ts_event = mt->ts_event;
	o->ts_ingest = mt->ts_ingest;
	o->key = mt->key;
	o->seq = mt->seq;
	a->score = score;
	a->model_id = s->m->id;
	snprintf(a->reason, sizeof(a->reason), "%s", reason);
	a->first_ts = mt->ts_event;	/* about this one event */
	a->first_seq = mt->seq;
	s->n_alerts++;
}

/* --all-classes: row i's class probabilities as a FEATURES record. */
static void write_classes(struct scorer *s, const struct rowmeta *mt)
{
	int k = s->m->nclass;
	struct fs_hdr *o;
	struct fs_dyn *d;
	float *v;

	if (!s->class_schema_out) {
		char **names = fs_xcalloc(k, sizeof(char *));
		uint8_t *kinds = fs_xmalloc(k);
		struct fs_schema *sc;

		for (int c = 0; c < k; c++) {
			char nm[24];

			snprintf(nm, sizeof(nm), "class_%d", c);
			names[c] = fs_xstrdup(nm);
			kinds[c] = FS_K_F32;
		}
		sc = fs_schema_new(FS_T_FEATURES, CLASS_SCHEMA_ID, k,
				   (const char *const *)names, kinds);
		fs_write_schema(s->w, sc, mt->ts_event);
		fs_schema_free(sc);
		for (int c = 0; c < k; c++)
			free(names[c]);
		free(names);
		free(kinds);
		s->class_schema_out = 1;
	}
	o = fs_write_reserve(s->w, FS_T_FEATURES,
			     sizeof(*d) + sizeof(float) * k);
	d = fs_body(o);
	o->flags = mt->flags & ~FS_F_CONTROL;
	o->ts_event = mt->ts_event;
	o->ts_ingest = mt->ts_ingest;
	o->key = mt->key;
	o->seq = mt->seq;
	d->ncols = (uint32_t)k;
	d->schema_id = CLASS_SCHEMA_ID;
	v = (float *)(d + 1);
	for (int c = 0; c < k; c++)
		v[c] = (float)s->prob[c];
}

static void write_score(struct scorer *s, struct batch *b, int i)
{
	const struct rowmeta *mt = &b->meta[i];
	int cls;
	double score = row_score(s, b, i, s->prob, &cls);
	int dec = s->o.has_threshold && score >= s->o.threshold;
	struct fs_hdr *o = fs_write_reserve(s->w, FS_T_SCORE,
					    sizeof(struct fs_score));
	struct fs_score *sc = fs_body(o);

	o->flags = mt->flags & ~FS_F_CONTROL;
	o->ts_event = mt->ts_event;
	o->ts_ingest = mt->ts_ingest;
	o->key = mt->key;
	o->seq = mt->seq;
	sc->score = score;
	sc->model_id = s->m->id;
	sc->decision = (uint8_t)dec;
	sc->cls = (uint16_t)cls;
	if (s->o.explain) {
		sc->nexplain = b->nex[i];
		memcpy(sc->explain, b->ex + i * FS_EXPLAIN_MAX,
		       sizeof(struct expl) * b->nex[i]);
	}
	if (dec && s->aw) {
		char reason[24];

		snprintf(reason, sizeof(reason), "score>=%g", s->o.threshold);
		write_alert(s, mt, score, reason);
	}
	if (s->o.all_classes)
		write_classes(s, mt);
	if (s->drift)
		drift_add(s->drift, score);
	if (s->res)
		reservoir_add(s->res, score);
}

/*
 * PSI after a batch; one ALERT each time it rises above --psi-alert,
 * once the window is full (the gauge shows the PSI of the scores so far
 * before that).
 */
static void check_drift(struct scorer *s, const struct rowmeta *last)
{
	char reason[24];

	s->psi = drift_psi(s->drift);
	if (!drift_full(s->drift))
		return;
	if (s->psi <= s->o.psi_alert) {
		s->psi_alerted = 0;
		return;
	}
	if (s->psi_alerted || !last)
		return;
	s->psi_alerted = 1;
	snprintf(reason, sizeof(reason), "psi>%g", s->o.psi_alert);
	fs_warn("score drift: PSI %.3f over the last %lld scores (above %g)",
		s->psi, (long long)s->o.psi_window, s->o.psi_alert);
	write_alert(s, last, s->psi, reason);
}

/* Write b's SCOREs with its queued records in input order; reset b. */
static void emit(struct scorer *s, struct batch *b)
{
	int p = 0;

	for (int i = 0; i < b->n; i++) {
		while (p < b->npass && b->pref[p].pos <= i)
			fs_write_frame(s->w, (const struct fs_hdr *)
				       (b->pass + b->pref[p++].off));
		write_score(s, b, i);
	}
	while (p < b->npass)
		fs_write_frame(s->w, (const struct fs_hdr *)
			       (b->pass + b->pref[p++].off));
	if (b->n) {
		s->n_rows += b->n;
		s->n_batches++;
		s->busy_ns += b->t_end - b->t_start;
		fs_hist_add(&s->lat, b->t_end - b->t_start);
		if (s->drift && b->n)
			check_drift(s, &b->meta[b->n - 1]);
	}
	if (s->aw && s->n_alerts)
		fs_writer_flush(s->aw);
	b->n = b->npass = 0;
	b->pass_len = 0;
	b->busy = 0;
	fs_metrics_tick(s->mx);
	if (fs_progress_due())
		fs_progress("%llu rows scored", (unsigned long long)s->n_rows);
}

static void finish(struct scorer *s, struct batch *b)
{
	complete(s, b);
	emit(s, b);
}

/* Send the filling batch off; the older one in flight is finished first. */
static void submit_cur(struct scorer *s)
{
	struct batch *b = &s->b[s->cur], *other = &s->b[!s->cur];

	if (other->busy)
		finish(s, other);
	start(s, b);
	s->cur = !s->cur;
}

/* Everything queued out, in order. */
static void drain(struct scorer *s)
{
	struct batch *b = &s->b[s->cur], *other = &s->b[!s->cur];

	if (other->busy)
		finish(s, other);
	if (b->n || b->npass) {
		start(s, b);
		finish(s, b);
	}
}

static int pending(const struct scorer *s)
{
	for (int i = 0; i < 2; i++)
		if (s->b[i].n || s->b[i].npass || s->b[i].busy)
			return 1;
	return 0;
}

/* When the oldest queued record must leave (mono ns). */
static int64_t deadline(const struct scorer *s)
{
	const struct batch *o = &s->b[!s->cur], *c = &s->b[s->cur];

	if (o->busy)
		return o->t_first + s->o.linger;
	return c->t_first + s->o.linger;
}

/* ---- input ---- */

_Noreturn static void bad_input(struct scorer *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Flush what is good, then die with exit 3 saying where: the number of
 * the frame being handled and the byte offset where it starts (as
 * fs-record(5) and the reader's own messages count them).
 */
static void bad_input(struct scorer *s, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	drain(s);
	fs_writer_close(s->w);
	if (s->aw)
		fs_writer_close(s->aw);
	fs_die(FS_EXIT_DATA, "%s (frame %llu, byte offset %llu, %s)", msg,
	       (unsigned long long)s->frame_no,
	       (unsigned long long)s->frame_off, fs_reader_name(s->r));
}

/* Map the model's features to the columns of a FEATURES schema. */
static void map_schema(struct scorer *s, struct schema_map *sm,
		       const struct fs_schema *sc)
{
	sm->used = 1;
	sm->id = sc->schema_id;
	sm->ncols = sc->ncols;
	free(sm->map);
	sm->map = fs_xmalloc(sizeof(int32_t) * s->m->nfeat);
	for (int j = 0; j < s->m->nfeat; j++) {
		sm->map[j] = -1;
		for (unsigned c = 0; c < sc->ncols; c++) {
			const struct fs_field *fd =
				&sc->fields[FS_NHDR_FIELDS + c];

			if (strcmp(fd->name, s->m->names[j]) == 0) {
				sm->map[j] = (int32_t)c;
				break;
			}
		}
		if (sm->map[j] < 0 && !s->o.allow_missing)
			bad_input(s, "model feature '%s' is not in the FEATURES "
				  "schema (id %u); --allow-missing scores it "
				  "as missing", s->m->names[j], sc->schema_id);
	}
}

static void passthrough(struct scorer *s, const struct fs_hdr *h);

/* One saved SCHEMA frame (length 0: an unused slot) mapped again. */
static void unsnap_schema(struct scorer *s, struct schema_map *sm,
			  struct srd *r)
{
	uint32_t n = sr_u32(r);
	char why[128];
	struct fs_schema *sc;
	struct fs_hdr *h;

	if (!n || r->bad)
		return;
	if (n < FS_HDR_SIZE || n > r->n - r->off) {
		sr_fail(r, "bad SCHEMA frame");
		return;
	}
	h = fs_xmalloc(n);
	sr_get(r, h, n);
	if (fs_frame_size(h) != n || !(sc = fs_schema_decode(h, why,
							     sizeof(why)))) {
		free(h);
		sr_fail(r, "bad SCHEMA frame");
		return;
	}
	map_schema(s, sm, sc);
	fs_schema_free(sc);
	free(sm->frame);
	sm->frame = (char *)h;
}

static void on_schema(struct scorer *s, const struct fs_hdr *h)
{
	char why[128];
	struct fs_schema *sc;
	struct schema_map *sm = NULL;
	const struct fs_schema_hdr *sh = fs_body(h);

	if (fs_body_len(h) >= sizeof(*sh) && sh->for_type != FS_T_FEATURES) {
		passthrough(s, h);
		return;
	}
	if (!(sc = fs_schema_decode(h, why, sizeof(why))))
		bad_input(s, "malformed SCHEMA record: %s", why);
	if (s->o.all_classes && sc->schema_id == CLASS_SCHEMA_ID) {
		fs_schema_free(sc);
		bad_input(s, "FEATURES SCHEMA id %u is the one --all-classes "
			  "writes", CLASS_SCHEMA_ID);
	}
	drain(s);
	for (int i = 0; i < MAX_SCHEMAS && !sm; i++)
		if (s->sch[i].used && s->sch[i].id == sc->schema_id)
			sm = &s->sch[i];
	if (!sm) {
		sm = &s->sch[s->next_sch];
		s->next_sch = (s->next_sch + 1) % MAX_SCHEMAS;
	}
	map_schema(s, sm, sc);
	fs_schema_free(sc);
	free(sm->frame);
	sm->frame = fs_xmalloc(fs_frame_size(h));
	memcpy(sm->frame, h, fs_frame_size(h));
	fs_write_frame(s->w, h);
}

/* ---- checkpoints: the state that later output depends on ---- */
#define SNAP_MAGIC "FSSCO1"
#define SNAP_VERSION 1

/*
 * At a BARRIER under --state: score what came before it, then save the
 * FEATURES schemas seen, the PSI window and alert state, the reference
 * reservoir; the barrier then goes on.
 */
static void snap_put(struct scorer *s, uint64_t id)
{
	struct sbuf b = { 0 };
	size_t at;

	drain(s);
	sb_head(&b, SNAP_MAGIC, SNAP_VERSION);
	at = sb_sect(&b, "CTX ");
	sb_u64(&b, s->m->id);
	sb_u32(&b, (uint32_t)s->next_sch);
	sb_u8(&b, (uint8_t)s->psi_alerted);
	sb_u8(&b, (uint8_t)s->class_schema_out);
	sb_f64(&b, s->psi);
	sb_u64(&b, s->n_rows);
	sb_u64(&b, s->n_alerts);
	sb_end(&b, at);
	at = sb_sect(&b, "SCHM");
	for (int i = 0; i < MAX_SCHEMAS; i++) {
		const struct schema_map *sm = &s->sch[i];
		uint32_t n = sm->used ? (uint32_t)fs_frame_size(
			(const struct fs_hdr *)sm->frame) : 0;

		sb_u32(&b, n);
		sb_put(&b, sm->frame, n);
	}
	sb_end(&b, at);
	at = sb_sect(&b, "DRFT");
	sb_u8(&b, s->drift != NULL);
	if (s->drift)
		drift_snap(s->drift, &b);
	sb_u8(&b, s->res != NULL);
	if (s->res)
		reservoir_snap(s->res, &b);
	sb_end(&b, at);
	sb_seal(&b);
	fs_ckpt_put_snapshot(fs_pipeline_ckpt(), (int64_t)id, fs_stage_name(),
			     FS_CKPT_INSTANCE, b.p, b.n);
	sb_free(&b);
}


/* Put the state of the restored checkpoint back, if there is one. */
static void snap_restore(struct scorer *s)
{
	struct fs_ckpt *st = fs_pipeline_ckpt();
	int64_t id = st ? fs_pipeline_restored() : 0;
	struct srd r;
	size_t n;
	void *p;

	if (id <= 0)
		return;
	p = fs_pipeline_snapshot(id, &n, "the drift statistics are the "
				 "first's");
	if (sr_open(&r, p, n, SNAP_MAGIC, SNAP_VERSION) == 0) {
		sr_sect(&r, "CTX ");
		if (sr_u64(&r) != s->m->id)
			sr_fail(&r, "made with another model");
		s->next_sch = (int)(sr_u32(&r) % MAX_SCHEMAS);
		s->psi_alerted = sr_u8(&r);
		s->class_schema_out = sr_u8(&r);
		s->psi = sr_f64(&r);
		s->n_rows = sr_u64(&r);
		s->n_alerts = sr_u64(&r);
		sr_sect(&r, "SCHM");
		for (int i = 0; i < MAX_SCHEMAS && !r.bad; i++)
			unsnap_schema(s, &s->sch[i], &r);
		sr_sect(&r, "DRFT");
		if (sr_u8(&r) != (s->drift != NULL))
			sr_fail(&r, "--reference given in one run only");
		else if (s->drift)
			drift_unsnap(s->drift, &r);
		if (!r.bad && sr_u8(&r) != (s->res != NULL))
			sr_fail(&r, "--save-reference given in one run only");
		else if (!r.bad && s->res)
			reservoir_unsnap(s->res, &r);
		if (!r.bad && r.off != r.n)
			sr_fail(&r, "bytes after the last section");
	}
	free(p);
	if (r.bad)
		fs_pipeline_bad_snapshot(id, r.why);
}

/* Queue a record that is not scored at its place in the stream. */
static void passthrough(struct scorer *s, const struct fs_hdr *h)
{
	struct batch *b = &s->b[s->cur];
	size_t sz = fs_frame_size(h);

	s->n_pass++;
	if (!pending(s)) {
		fs_write_frame(s->w, h);
		return;
	}
	if (!b->n && !b->npass)
		b->t_first = fs_mono_ns();
	if (b->pass_len + sz > b->pass_cap) {
		b->pass_cap = (b->pass_len + sz) * 2;
		b->pass = fs_xrealloc(b->pass, b->pass_cap);
	}
	if (b->npass == b->pref_cap) {
		b->pref_cap = b->pref_cap ? b->pref_cap * 2 : 64;
		b->pref = fs_xrealloc(b->pref, sizeof(*b->pref) * b->pref_cap);
	}
	memcpy(b->pass + b->pass_len, h, sz);
	b->pref[b->npass].pos = b->n;
	b->pref[b->npass++].off = b->pass_len;
	b->pass_len += sz;
	if (b->pass_len > PASS_MAX)
		submit_cur(s);
}

static void on_features(struct scorer *s, const struct fs_hdr *h)
{
	const struct fs_dyn *d = fs_body(h);
	struct batch *b = &s->b[s->cur];
	const struct schema_map *sm = NULL;
	const float *v = (const float *)(d + 1);
	float *row;
	int nf = s->m->nfeat, k;

	if (fs_body_len(h) < sizeof(*d))
		bad_input(s, "FEATURES record too short");
	for (k = 0; k < MAX_SCHEMAS && !sm; k++)
		if (s->sch[k].used && s->sch[k].id == d->schema_id)
			sm = &s->sch[k];
	if (!sm)
		bad_input(s, "FEATURES record (schema id %u) before its SCHEMA",
			  d->schema_id);
	if (d->ncols != sm->ncols ||
	    fs_body_len(h) < sizeof(*d) + sizeof(float) * (size_t)d->ncols)
		bad_input(s, d->ncols != sm->ncols ? "FEATURES record has %u "
			  "columns, its SCHEMA %u" : "FEATURES record of %u "
			  "columns too short for them (its SCHEMA has %u)",
			  d->ncols, sm->ncols);
	if (!b->n && !b->npass)
		b->t_first = fs_mono_ns();
	row = b->rows + (size_t)b->n * nf;
	for (int j = 0; j < nf; j++)
		row[j] = sm->map[j] >= 0 ? v[sm->map[j]] : NAN;
	b->meta[b->n] = (struct rowmeta){
		.ts_event = h->ts_event, .ts_ingest = h->ts_ingest,
		.key = h->key, .seq = h->seq, .flags = h->flags,
		.sch = (uint8_t)(sm - s->sch),
	};
	if (++b->n == s->o.batch)
		submit_cur(s);
}

static void on_record(struct scorer *s, const struct fs_hdr *h)
{
	/* the reader has consumed h: its start is one frame back */
	s->frame_no = fs_reader_frames(s->r);
	s->frame_off = fs_reader_offset(s->r) - fs_frame_size(h);
	if (h->type == FS_T_FEATURES) {
		on_features(s, h);
	} else if (h->type == FS_T_SCHEMA) {
		on_schema(s, h);
	} else if (h->type == FS_T_BARRIER && fs_pipeline_ckpt()) {
		snap_put(s, fs_barrier_id(h));	/* after what came before */
		fs_write_frame(s->w, h);
	} else {
		passthrough(s, h);
	}
}

/*
 * Read until the end: a partial batch leaves once --linger has passed
 * since its first record.  Returns the exit status.
 */
static int run(struct scorer *s)
{
	const struct fs_hdr *h;

	for (;;) {
		int rc = fs_read_timed(s->r, &h, pending(s) ? 0 : -1);

		if (rc == -2) {
			int64_t left = deadline(s) - fs_mono_ns();

			if (left > 0)
				rc = fs_read_timed(s->r, &h, (int)((left +
							999999) / 1000000));
			if (rc == -2) {
				drain(s);
				fs_writer_flush(s->w);
				continue;
			}
		}
		if (rc == 0 || fs_stop)
			break;
		if (rc < 0) {
			drain(s);
			return FS_EXIT_DATA;
		}
		on_record(s, h);
	}
	drain(s);
	return FS_EXIT_OK;
}

/* ---- setup and teardown ---- */

/*
 * A file that cannot be opened or read (missing, a directory) is a
 * failure, exit 1; what it holds is judged later (bad data, exit 3).
 */
static void check_readable(const char *path, const char *what)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot open %s '%s'", what, path);
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		fs_die(FS_EXIT_FAIL, "cannot read %s '%s': Is a directory",
		       what, path);
	close(fd);
}

static void setup(struct scorer *s)
{
	char err[256];
	int nw;

	s->m = model_load(s->o.model);
	if (s->o.all_classes && s->m->nclass == 1)
		fs_usage_error("--all-classes: '%s' is not a multi-class "
			       "model", s->o.model);
	s->prob = fs_xcalloc(s->m->nclass, sizeof(double));
	if ((int64_t)s->o.batch * s->m->nfeat > BATCH_FLOATS) {
		s->o.batch = (int)(BATCH_FLOATS / s->m->nfeat);
		if (s->o.batch < 1)
			s->o.batch = 1;
		fs_warn("--batch lowered to %d rows for a %d-feature model",
			s->o.batch, s->m->nfeat);
	}
	if (s->m->type != MODEL_LOGIT)
		s->f = forest_build(s->m);
	if (s->o.reference)
		check_readable(s->o.reference, "reference");
	if (s->o.reference &&
	    !(s->drift = drift_load(s->o.reference, s->o.psi_window, err,
				    sizeof(err))))
		fs_die(FS_EXIT_DATA, "bad reference: %s", err);
	if (s->o.save_ref)
		s->res = reservoir_new(RESERVOIR_CAP);
	pick_device(s);
	s->pool = pool_new(s->o.threads);
	nw = pool_size(s->pool);
	s->phi = fs_xcalloc(nw, sizeof(*s->phi));
	s->sw = fs_xcalloc(nw, sizeof(*s->sw));
	for (int i = 0; i < nw && s->o.explain; i++) {
		s->phi[i] = fs_xcalloc(s->m->nfeat + 1, sizeof(double));
		s->sw[i] = shap_work_new(s->m);
	}
	alloc_batches(s);
	fs_hist_init(&s->lat);
	s->r = fs_reader_open(s->o.in);
	s->w = fs_writer_open(s->o.out);
	if (s->o.alerts)
		s->aw = fs_writer_open_side(s->o.alerts);
	fs_reader_flush_on_block(s->r, s->w);
	if (s->o.save_ref)	/* written at the end: refuse a clash now */
		fs_check_output_path(s->o.save_ref);
	s->mx = fs_metrics_open(s->o.metrics);
	fs_metrics_counter(s->mx, "fs_score_rows_total", "rows scored",
			   &s->n_rows);
	fs_metrics_counter(s->mx, "fs_score_batches_total", "batches scored",
			   &s->n_batches);
	fs_metrics_counter(s->mx, "fs_score_alerts_total", "ALERTs written",
			   &s->n_alerts);
	fs_metrics_counter(s->mx, "fs_score_passthrough_total",
			   "records passed through", &s->n_pass);
	fs_metrics_gauge(s->mx, "fs_score_psi", "population stability "
			 "index of the score window", &s->psi);
	fs_metrics_summary(s->mx, "fs_score_batch_seconds", "batch scoring "
			   "latency", &s->lat);
}

static void print_stats(const struct scorer *s)
{
	double wall = (fs_mono_ns() - s->t0) / 1e9;
	double busy = s->busy_ns / 1e9;

	fs_warn("%llu rows, %llu batches on the %s (%d threads): %.3f s, "
		"%.0f rows/s; scoring busy %.3f s, %.0f rows/s; batch latency "
		"p50 %.3f ms, p99 %.3f ms", (unsigned long long)s->n_rows,
		(unsigned long long)s->n_batches, s->gpu ? "gpu" : "cpu",
		s->o.threads, wall, wall > 0 ? s->n_rows / wall : 0, busy,
		busy > 0 ? s->n_rows / busy : 0,
		fs_hist_quantile(&s->lat, 0.5) / 1e6,
		fs_hist_quantile(&s->lat, 0.99) / 1e6);
}

static void teardown(struct scorer *s)
{
	fs_progress_done();
	if (s->o.stats)
		print_stats(s);
	fs_writer_close(s->w);
	if (s->aw)
		fs_writer_close(s->aw);
	fs_metrics_close(s->mx);
	if (s->res && reservoir_save(s->res, s->o.save_ref, 10) < 0)
		fs_die_errno(FS_EXIT_FAIL, "cannot write '%s'", s->o.save_ref);
	fs_reader_close(s->r);
	pool_free(s->pool);
	for (int i = 0; i < MAX_SCHEMAS; i++) {
		free(s->sch[i].map);
		free(s->sch[i].frame);
	}
	for (int i = 0; s->o.explain && i < s->o.threads; i++) {
		free(s->phi[i]);
		shap_work_free(s->sw[i]);
	}
	free(s->phi);
	free(s->sw);
	free_batches(s);
#ifdef FS_HAVE_CUDA
	cuda_scorer_free(s->cu);
#endif
	drift_free(s->drift);
	reservoir_free(s->res);
	forest_free(s->f);
	model_free(s->m);
	free(s->prob);
}

int tool_main(int argc, char **argv)
{
	static struct scorer s;
	int rc;

	parse_args(&s.o, argc, argv);
	(void)fs_pipeline_restored();	/* read before any barrier of ours */
	setup(&s);
	snap_restore(&s);
	s.t0 = fs_mono_ns();
	rc = run(&s);
	teardown(&s);
	return rc;
}
