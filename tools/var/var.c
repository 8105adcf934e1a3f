/*
 * fs-var - streaming Value-at-Risk and Expected Shortfall of portfolios
 * from POSITION and BAR records (fs-var(1) gives the definitions).
 *
 * Bars are grouped into intervals by window_end.  An interval closes
 * when a bar of a later interval arrives, when a WATERMARK passes the
 * event time of its bars, at a FINAL barrier and at the end of input.
 * Closing it appends one simple return per priced symbol to a ring of
 * --window returns per symbol (a symbol without a bar in the interval
 * keeps its close: return 0), then, when --every says so, values every
 * portfolio with the latest closes and writes its VAR records.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "snapbuf.h"
#include "var.h"
#ifdef FS_HAVE_CUDA
#include "mc_cuda.h"
#endif

#define MAX_CONF 16
#define WINDOW_MAX 100000
#define SNAP_MAGIC "FSVAR1"
#define SNAP_VERSION 2

enum { M_HIST, M_PARAM, M_EWMA, M_CF, M_MC };
static const char *const method_names[] = {
	"hist", "param", "ewma", "cornish-fisher", "mc",
};

struct opts {
	const char *in, *out, *metrics;
	int method, ncf, components, quiet;
	double conf[MAX_CONF];
	size_t window;
	int64_t every;
	double horizon, lambda, dof;
	uint64_t paths, seed;
	int backtest;
	size_t bt_window;
	const char *scenarios;
	int gpu;
};

struct sym {
	char code[12];
	uint32_t warned;	/* "no price" said */
	double last;		/* last close; NaN: none yet */
	double pend;		/* close in the open interval; NaN: none */
	uint64_t nret;		/* returns so far; >= window: usable */
	uint32_t shk;		/* --scenarios: its shock row + 1, or 0 */
};

struct pos {
	uint32_t sym;
	int64_t qty;
};

/*
 * A portfolio.  With --backtest: the last one-bar forecast (its VaR
 * per level and the values of the positions it valued, to value the
 * next interval's realised P&L with) and a ring of bt_window exception
 * indicators per level.
 */
struct port {
	uint64_t id;
	struct pos *p;
	uint32_t n, cap;
	int fc;			/* a forecast waits for its interval */
	uint32_t fn, fcap;
	uint32_t *fsym;
	double *fv, fvar[MAX_CONF];
	double real;		/* the last realised P&L */
	uint64_t npairs;	/* forecasts checked */
	uint8_t *ex;		/* bt_window x ncf, slot npairs % bt_window */
};

/* Open addressing, u64 hash -> index + 1 (0: empty). */
struct table {
	uint32_t *slot;
	uint32_t cap;		/* power of two */
};

struct var {
	struct opts o;
	struct fs_reader *r;
	struct fs_writer *w;
	struct fs_metrics *mx;
	struct sym *sy;
	uint32_t nsym, capsym;
	struct table st, pt;
	double *ret;		/* capsym x window ring of returns */
	struct port *pf;
	uint32_t npf, cappf;
	/* the open interval */
	int have_cur;
	int64_t cur_end, cur_ts, cur_ingest, bar_len;
	uint64_t nint;		/* intervals closed */
	int64_t last_bucket;
	int emitted;
	/* counters */
	uint64_t n_bars, n_pos, n_late, n_ignored, n_var, n_short;
	uint64_t n_left, n_singular, n_updates;
	uint64_t frame_no, frame_off;
	/* work buffers, sized for the largest portfolio */
	size_t wcap;
	uint32_t *act;
	double *v, *x, *pnl, *cov, *fac, *wv, *comp_v, *comp_e, *ci;
	struct ord { double p; uint32_t s; } *ord;
	uint32_t *tail;		/* hist: the scenarios in the tail */
	double *sims;
	/* --backtest: the AGG rows' schema, sent once */
	struct fs_schema *bt_schema;
	int bt_sent;
	uint8_t *bt_tmp;
	uint64_t n_bt;
	/*
	 * --scenarios: nsc scenarios (names in file order); shk holds a
	 * row of nsc shocks per symbol named in the file (NaN: none for
	 * that scenario), star the shock of symbol '*' (NaN: none);
	 * shl and starl the lines they came from.
	 */
	uint32_t nsc, nshk, capshk;
	char **sc_name;
	double *shk, *star;
	uint32_t *shl, *starl;
	struct fs_schema *sc_schema;
	int sc_sent;
	int64_t *sc_cols;
	char *line;		/* the file's line buffer */
	FILE *scf;
	uint64_t n_sc;
	int gpu_ok;		/* --gpu and a device */
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: fs-var [--method hist|param|ewma|cornish-fisher|mc]\n"
"              [--confidence LIST] [--window N] [--every DURATION]\n"
"              [--horizon H] [--lambda L] [--paths N] [--seed N]\n"
"              [--dof V] [--gpu] [--components] [--backtest]\n"
"              [--backtest-window N] [--scenarios FILE] [-q]\n"
"              [-i URI] [-o URI]\n"
"              [--metrics FILE] [-e] " FS_KAFKA_SYNOPSIS "\n"
"              " FS_PIPELINE_SYNOPSIS "\n"
"Value-at-Risk and Expected Shortfall of portfolios from POSITION and\n"
"BAR records; one VAR record per portfolio and confidence.\n"
"\n"
"      --method M        hist (default), param, ewma, cornish-fisher, mc\n"
"      --confidence LIST confidence levels (default 0.99,0.975)\n"
"      --window N        returns per symbol in the window (default 250)\n"
"      --every DURATION  a record per portfolio every DURATION of event\n"
"                        time (default 0: at every bar interval)\n"
"      --horizon H       horizon in bars; VaR and ES scale by sqrt(H)\n"
"                        (default 1)\n"
"      --lambda L        ewma decay (default 0.94)\n"
"      --paths N         mc: simulated paths (default 10000)\n"
"      --seed N          mc: random seed (default 1)\n"
"      --dof V           mc: Student-t with V > 2 degrees of freedom\n"
"                        (default: normal)\n"
"      --gpu             mc: draw the paths on a CUDA device when there\n"
"                        is one (normal draws only)\n"
"      --components      also a VAR record per position (Euler\n"
"                        components), with its symbol\n"
"      --backtest        also an AGG row per portfolio and level: each\n"
"                        interval's VaR against the next one's P&L\n"
"      --backtest-window N  forecasts in the backtest (default 250)\n"
"      --scenarios FILE  also an AGG row per portfolio: the P&L of each\n"
"                        scenario of shocks in the CSV FILE\n"
"  -q, --quiet           no summary on stderr at the end\n"
"  -i, --input URI       read records from URI (default -)\n"
"  -o, --output URI      write records to URI (default -)\n"
"      --metrics FILE    write Prometheus metrics to FILE every second\n"
"  -h, --help            print this help and exit\n"
"      --version         print the version and exit\n");
	fs_kafka_usage(f, 1);
	fs_pipeline_usage(f);
}

/* ---- options ---- */

enum {
	O_BACKTEST = 256, O_BT_WINDOW, O_COMPONENTS, O_CONFIDENCE, O_DOF,
	O_EVERY, O_GPU, O_HORIZON,
	O_LAMBDA, O_METHOD, O_METRICS, O_PATHS, O_SCENARIOS, O_SEED,
	O_VERSION, O_WINDOW,
};

static const struct option long_options[] = {
	{ "backtest", no_argument, NULL, O_BACKTEST },
	{ "backtest-window", required_argument, NULL, O_BT_WINDOW },
	{ "components", no_argument, NULL, O_COMPONENTS },
	{ "confidence", required_argument, NULL, O_CONFIDENCE },
	{ "dof", required_argument, NULL, O_DOF },
	{ "every", required_argument, NULL, O_EVERY },
	{ "gpu", no_argument, NULL, O_GPU },
	{ "help", no_argument, NULL, 'h' },
	{ "horizon", required_argument, NULL, O_HORIZON },
	{ "input", required_argument, NULL, 'i' },
	{ "lambda", required_argument, NULL, O_LAMBDA },
	{ "method", required_argument, NULL, O_METHOD },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "output", required_argument, NULL, 'o' },
	{ "paths", required_argument, NULL, O_PATHS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "scenarios", required_argument, NULL, O_SCENARIOS },
	{ "seed", required_argument, NULL, O_SEED },
	{ "version", no_argument, NULL, O_VERSION },
	{ "window", required_argument, NULL, O_WINDOW },
	{ NULL, 0, NULL, 0 },
};

/* "0.99,0.975": each strictly between 0 and 1. */
static void parse_conf(struct opts *o, const char *v)
{
	const char *p = v;

	o->ncf = 0;
	for (;;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		double c;

		if (o->ncf == MAX_CONF)
			fs_usage_error("bad --confidence '%s': at most %d "
				       "levels", v, MAX_CONF);
		if (fs_parse_f64(p, n, &c) < 0 || !(c > 0 && c < 1))
			fs_usage_error("bad --confidence '%s': numbers "
				       "between 0 and 1 expected", v);
		o->conf[o->ncf++] = c;
		if (!e)
			break;
		p = e + 1;
	}
}

static void set_opt(struct opts *o, int c, const char *v)
{
	switch (c) {
	case O_BACKTEST: o->backtest = 1; break;
	case O_BT_WINDOW:
		o->bt_window = (size_t)fs_opt_i64("--backtest-window", v, 1,
						  WINDOW_MAX);
		break;
	case O_COMPONENTS: o->components = 1; break;
	case O_GPU: o->gpu = 1; break;
	case O_CONFIDENCE: parse_conf(o, v); break;
	case O_DOF: o->dof = fs_opt_f64("--dof", v, 2.000001, 1e9); break;
	case O_EVERY:
		o->every = fs_opt_duration("--every", v, (size_t)-1, 0,
					   INT64_MAX);
		break;
	case O_HORIZON: o->horizon = fs_opt_f64("--horizon", v, 1e-9, 1e9);
		break;
	case O_LAMBDA: o->lambda = fs_opt_f64("--lambda", v, 0, 0.999999);
		break;
	case O_METHOD:
		for (o->method = 0; o->method <= M_MC; o->method++)
			if (!strcmp(v, method_names[o->method]))
				return;
		fs_usage_error("bad --method '%s': hist, param, ewma, "
			       "cornish-fisher or mc", v);
	case O_METRICS: o->metrics = v; break;
	case O_PATHS: o->paths = (uint64_t)fs_opt_i64("--paths", v, 2,
						    100000000);
		break;
	case O_SCENARIOS: o->scenarios = v; break;
	case O_SEED: o->seed = (uint64_t)fs_opt_i64("--seed", v, 0,
						  INT64_MAX);
		break;
	case O_WINDOW: o->window = (size_t)fs_opt_i64("--window", v, 2,
						    WINDOW_MAX);
		break;
	case 'i': o->in = v; break;
	case 'o': o->out = v; break;
	case 'q': o->quiet = 1; break;
	}
}

static void parse_args(struct opts *o, int argc, char **argv)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->in = o->out = "-";
	o->ncf = 2;
	o->conf[0] = 0.99;
	o->conf[1] = 0.975;
	o->window = 250;
	o->horizon = 1;
	o->lambda = 0.94;
	o->paths = 10000;
	o->seed = 1;
	o->bt_window = 250;
	while ((c = fs_getopt(argc, argv, "hi:o:q", long_options)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(FS_EXIT_OK);
		} else if (c == O_VERSION) {
			fs_print_version(NULL);
			exit(FS_EXIT_OK);
		}
		set_opt(o, c, optarg);
	}
	if (optind < argc)
		fs_usage_error("unexpected argument '%s'", argv[optind]);
	if (o->method != M_MC && o->dof > 0)
		fs_usage_error("--dof needs --method mc");
	if (o->method != M_MC && o->gpu)
		fs_usage_error("--gpu needs --method mc");
}

/* ---- symbols and portfolios ---- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The slot of key h: holding index + 1 where same(idx) says so, or 0. */
static uint32_t *tab_find(struct table *t, uint64_t h,
			  int (*same)(const struct var *, uint32_t,
				      const void *),
			  const struct var *ctx, const void *k)
{
	uint32_t m = t->cap - 1, i = (uint32_t)mix64(h) & m;

	for (;; i = (i + 1) & m)
		if (!t->slot[i] || same(ctx, t->slot[i] - 1, k))
			return &t->slot[i];
}

static void tab_init(struct table *t, uint32_t cap)
{
	t->cap = cap;
	t->slot = fs_xcalloc(cap, sizeof(*t->slot));
}

static int same_sym(const struct var *s, uint32_t i, const void *k)
{
	return memcmp(s->sy[i].code, k, 12) == 0;
}

static int same_port(const struct var *s, uint32_t i, const void *k)
{
	return s->pf[i].id == *(const uint64_t *)k;
}

static uint64_t sym_hash(const char code[12])
{
	return fs_hash64(code, 12);
}

/* Put every entry back after growing the table to twice its size. */
static void tab_grow(struct var *s, struct table *t, uint32_t n,
		     int is_sym)
{
	free(t->slot);
	tab_init(t, t->cap * 2);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t *sl = is_sym ?
			tab_find(t, sym_hash(s->sy[i].code), same_sym, s,
				 s->sy[i].code) :
			tab_find(t, s->pf[i].id, same_port, s, &s->pf[i].id);
		*sl = i + 1;
	}
}

/* The index of symbol code (char[12], NUL padded), made if new. */
static uint32_t sym_get(struct var *s, const char code[12])
{
	uint32_t *sl = tab_find(&s->st, sym_hash(code), same_sym, s, code);
	struct sym *y;

	if (*sl)
		return *sl - 1;
	if (s->nsym == s->capsym) {
		size_t w = s->o.window;

		s->capsym = s->capsym ? s->capsym * 2 : 64;
		s->sy = fs_xrealloc(s->sy, s->capsym * sizeof(*s->sy));
		s->ret = fs_xrealloc(s->ret, s->capsym * w * sizeof(double));
	}
	y = &s->sy[s->nsym];
	memset(y, 0, sizeof(*y));
	memcpy(y->code, code, 12);
	y->last = y->pend = NAN;
	*sl = ++s->nsym;
	if (s->nsym * 2 > s->st.cap)
		tab_grow(s, &s->st, s->nsym, 1);
	return s->nsym - 1;
}

static struct port *port_get(struct var *s, uint64_t id)
{
	uint32_t *sl = tab_find(&s->pt, id, same_port, s, &id);
	struct port *p;

	if (*sl)
		return &s->pf[*sl - 1];
	if (s->npf == s->cappf) {
		s->cappf = s->cappf ? s->cappf * 2 : 16;
		s->pf = fs_xrealloc(s->pf, s->cappf * sizeof(*s->pf));
	}
	p = &s->pf[s->npf];
	memset(p, 0, sizeof(*p));
	p->id = id;
	*sl = ++s->npf;
	if (s->npf * 2 > s->pt.cap)
		tab_grow(s, &s->pt, s->npf, 0);
	return &s->pf[s->npf - 1];
}

/* The latest position per portfolio and symbol holds. */
static void set_pos(struct var *s, uint64_t port, uint32_t sym, int64_t qty)
{
	struct port *p = port_get(s, port);

	for (uint32_t i = 0; i < p->n; i++)
		if (p->p[i].sym == sym) {
			p->p[i].qty = qty;
			return;
		}
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->p = fs_xrealloc(p->p, p->cap * sizeof(*p->p));
	}
	p->p[p->n++] = (struct pos){ .sym = sym, .qty = qty };
}

/* ---- the risk of one portfolio ---- */

static int64_t to_fix(double x)
{
	double f = nearbyint(x * (double)FS_FIX_SCALE);

	if (!(fabs(f) < 9.2e18))
		return f < 0 ? INT64_MIN : INT64_MAX;
	return (int64_t)f;
}


/* Room for n positions in the work buffers. */
static void work_size(struct var *s, size_t n)
{
	size_t w = s->o.window;

	if (n <= s->wcap && s->ord)
		return;
	s->wcap = n > s->wcap * 2 ? n : s->wcap * 2;
	n = s->wcap ? s->wcap : 1;
	s->act = fs_xrealloc(s->act, n * sizeof(*s->act));
	s->v = fs_xrealloc(s->v, n * sizeof(double));
	s->ci = fs_xrealloc(s->ci, n * sizeof(double));
	s->comp_v = fs_xrealloc(s->comp_v, n * MAX_CONF * sizeof(double));
	s->comp_e = fs_xrealloc(s->comp_e, n * MAX_CONF * sizeof(double));
	s->x = fs_xrealloc(s->x, n * w * sizeof(double));
	s->wv = fs_xrealloc(s->wv, n * sizeof(double));
	if (s->o.method == M_MC) {
		s->cov = fs_xrealloc(s->cov, n * n * sizeof(double));
		s->fac = fs_xrealloc(s->fac, n * n * sizeof(double));
	}
	if (!s->ord) {
		s->pnl = fs_xmalloc(w * sizeof(double));
		s->ord = fs_xmalloc(w * sizeof(*s->ord));
		s->tail = fs_xmalloc(w * sizeof(*s->tail));
	}
}

struct result {
	double var[MAX_CONF], es[MAX_CONF];
};

static int cmp_ord(const void *a, const void *b)
{
	double x = ((const struct ord *)a)->p, y = ((const struct ord *)b)->p;

	return (x > y) - (x < y);
}

/*
 * hist: VaR = -Q_{1-c}(P), ES = -mean(P_s <= -VaR); components from
 * the scenarios at the quantile and in the tail.
 */
/* The order statistics 0..k-1 of pnl into ord; ties keep time order. */
static void hist_order(struct var *s, size_t k)
{
	size_t w = s->o.window, m = 0;

	if (k * 8 > w) {	/* a wide tail: sort it all (stable) */
		for (size_t t = 0; t < w; t++)
			s->ord[t] = (struct ord){ s->pnl[t], (uint32_t)t };
		qsort(s->ord, w, sizeof(*s->ord), cmp_ord);
		return;
	}
	for (size_t t = 0; t < w; t++) {
		double p = s->pnl[t];
		size_t j;

		if (m == k && !(p < s->ord[k - 1].p))
			continue;
		j = m < k ? m++ : k - 1;
		for (; j > 0 && s->ord[j - 1].p > p; j--)
			s->ord[j] = s->ord[j - 1];
		s->ord[j] = (struct ord){ p, (uint32_t)t };
	}
}

static void m_hist(struct var *s, size_t n, struct result *res)
{
	size_t w = s->o.window, kmax = 0;

	for (int c = 0; c < s->o.ncf; c++) {
		size_t lo = (size_t)floor((double)(w - 1) *
					  (1 - s->o.conf[c]));

		lo = lo + 1 < w ? lo + 2 : w;
		kmax = lo > kmax ? lo : kmax;
	}
	hist_order(s, kmax);
	for (int c = 0; c < s->o.ncf; c++) {
		double h = (double)(w - 1) * (1 - s->o.conf[c]), f, q, sum = 0;
		size_t lo = (size_t)floor(h), hi, k = 0;

		if (lo >= w - 1)
			lo = w - 1;
		hi = lo + 1 < w ? lo + 1 : lo;
		f = h - (double)lo;
		q = s->ord[lo].p + f * (s->ord[hi].p - s->ord[lo].p);
		/* the tail: every scenario at or below the quantile */
		for (size_t t = 0; t < w; t++)
			if (s->pnl[t] <= q) {
				sum += s->pnl[t];
				s->tail[k++] = (uint32_t)t;
			}
		res->var[c] = -q;
		res->es[c] = k ? -sum / (double)k : -q;
		for (size_t i = 0; s->o.components && i < n; i++) {
			const double *xi = s->x + i * w;
			double e = 0;

			for (size_t j = 0; j < k; j++)
				e += xi[s->tail[j]];
			s->comp_v[i * MAX_CONF + c] = -s->v[i] *
				((1 - f) * xi[s->ord[lo].s] +
				 f * xi[s->ord[hi].s]);
			s->comp_e[i * MAX_CONF + c] = k ?
				-s->v[i] * e / (double)k :
				s->comp_v[i * MAX_CONF + c];
		}
	}
}

/*
 * Normal VaR and ES from the P&L standard deviation sd; components
 * from ci[i] = (Sigma v)_i (sum_i v_i ci[i] = sd^2).
 */
static void normal_out(struct var *s, size_t n, double sd, int comps,
		       struct result *res)
{
	for (int c = 0; c < s->o.ncf; c++) {
		double cf = s->o.conf[c], z = risk_qnorm(cf);
		double ef = risk_dnorm(z) / (1 - cf);

		res->var[c] = z * sd;
		res->es[c] = ef * sd;
		for (size_t i = 0; comps && i < n; i++) {
			double d = sd > 0 ? s->v[i] * s->ci[i] / sd : 0;

			s->comp_v[i * MAX_CONF + c] = z * d;
			s->comp_e[i * MAX_CONF + c] = ef * d;
		}
	}
}

/* param: Sigma the sample covariance (ddof 1); v'Sigma v = var(P). */
static void m_param(struct var *s, size_t n, int comps, struct result *res)
{
	size_t w = s->o.window;
	double m = 0, ss = 0;

	for (size_t t = 0; t < w; t++)
		m += s->pnl[t];
	m /= (double)w;
	for (size_t t = 0; t < w; t++)
		ss += (s->pnl[t] - m) * (s->pnl[t] - m);
	for (size_t i = 0; comps && i < n; i++) {
		const double *xi = s->x + i * w;
		double mi = 0, cv = 0;

		for (size_t t = 0; t < w; t++)
			mi += xi[t];
		mi /= (double)w;
		for (size_t t = 0; t < w; t++)
			cv += (xi[t] - mi) * (s->pnl[t] - m);
		s->ci[i] = cv / (double)(w - 1);
	}
	normal_out(s, n, sqrt(ss / (double)(w - 1)), comps, res);
}

/* ewma: v'Sigma_t v is the same recursion on P_t^2, from P_0^2. */
static void m_ewma(struct var *s, size_t n, int comps, struct result *res)
{
	size_t w = s->o.window;
	double l = s->o.lambda, s2 = s->pnl[0] * s->pnl[0];

	for (size_t t = 1; t < w; t++)
		s2 = l * s2 + (1 - l) * s->pnl[t] * s->pnl[t];
	for (size_t i = 0; comps && i < n; i++) {
		const double *xi = s->x + i * w;
		double c = xi[0] * s->pnl[0];

		for (size_t t = 1; t < w; t++)
			c = l * c + (1 - l) * xi[t] * s->pnl[t];
		s->ci[i] = c;
	}
	normal_out(s, n, sqrt(s2), comps, res);
}

/*
 * Scale the param components of each level so that they add up to the
 * method's VaR and ES (cornish-fisher, mc).
 */
static void scale_comps(struct var *s, size_t n, const struct result *res)
{
	struct result pr;

	m_param(s, n, 1, &pr);
	for (int c = 0; c < s->o.ncf; c++) {
		double fv = pr.var[c] != 0 ? res->var[c] / pr.var[c] : 0;
		double fe = pr.es[c] != 0 ? res->es[c] / pr.es[c] : 0;

		for (size_t i = 0; i < n; i++) {
			s->comp_v[i * MAX_CONF + c] *= fv;
			s->comp_e[i * MAX_CONF + c] *= fe;
		}
	}
}

/*
 * cornish-fisher: mean mu and central moments m2, m3, m4 (over n) of
 * P; S = m3/m2^1.5, K = m4/m2^2 - 3; z = qnorm(1-c);
 * h = z + (z^2-1)S/6 + (z^3-3z)K/24 - (2z^3-5z)S^2/36;
 * VaR = -mu - h sqrt(m2).  ES = -mu - sqrt(m2) E[h(Z); Z < z]/(1-c),
 * the tail mean of the same expansion, from the partial moments of Z.
 */
static void m_cf(struct var *s, size_t n, struct result *res)
{
	size_t w = s->o.window;
	double mu = 0, m2 = 0, m3 = 0, m4 = 0, sk, ku, sd;

	for (size_t t = 0; t < w; t++)
		mu += s->pnl[t];
	mu /= (double)w;
	for (size_t t = 0; t < w; t++) {
		double d = s->pnl[t] - mu, d2 = d * d;

		m2 += d2;
		m3 += d2 * d;
		m4 += d2 * d2;
	}
	m2 /= (double)w;
	m3 /= (double)w;
	m4 /= (double)w;
	sd = sqrt(m2);
	sk = m2 > 0 ? m3 / (m2 * sd) : 0;
	ku = m2 > 0 ? m4 / (m2 * m2) - 3 : 0;
	for (int c = 0; c < s->o.ncf; c++) {
		double a = 1 - s->o.conf[c], z = risk_qnorm(a);
		double z2 = z * z, z3 = z2 * z, ph = risk_dnorm(z);
		double h = z + (z2 - 1) * sk / 6 + (z3 - 3 * z) * ku / 24 -
			(2 * z3 - 5 * z) * sk * sk / 36;
		/* partial moments I_k = E[Z^k; Z < z] */
		double i0 = a, i1 = -ph, i2 = a - z * ph;
		double i3 = -(z2 + 2) * ph;
		double th = i1 + sk / 6 * (i2 - i0) + ku / 24 * (i3 - 3 * i1) -
			sk * sk / 36 * (2 * i3 - 5 * i1);

		res->var[c] = -mu - h * sd;
		res->es[c] = -mu - sd * th / a;
	}
	if (s->o.components)
		scale_comps(s, n, res);
}

/*
 * mc: x = F z with F F' = Sigma (pivoted Cholesky, rank r), z ~ N(0,I)
 * (Student-t: times sqrt((dof-2)/W), W ~ chi2(dof), so cov(x) =
 * Sigma); the P&L of a path v'F z is computed as (F'v).z.  Seeded by
 * --seed, the portfolio and the interval, so a rerun is identical.
 */
static void m_mc(struct var *s, const struct port *p, size_t n,
		 struct result *res)
{
	size_t w = s->o.window, r;
	uint64_t np = s->o.paths;
	struct risk_rng g;
	double *mean = s->ci;

	for (size_t i = 0; i < n; i++) {
		double m = 0;

		for (size_t t = 0; t < w; t++)
			m += s->x[i * w + t];
		mean[i] = m / (double)w;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j <= i; j++) {
			const double *xi = s->x + i * w, *xj = s->x + j * w;
			double c = 0;

			for (size_t t = 0; t < w; t++)
				c += (xi[t] - mean[i]) * (xj[t] - mean[j]);
			c /= (double)(w - 1);
			s->cov[i * n + j] = s->cov[j * n + i] = c;
		}
	r = risk_pchol(s->cov, n, s->fac, 1e-12);
	if (r < n && !s->n_singular++)
		fs_warn("covariance of portfolio %llu is singular (rank %zu "
			"of %zu): a pivoted Cholesky factor of rank %zu is "
			"used (said once)", (unsigned long long)p->id, r, n, r);
	for (size_t k = 0; k < r; k++) {
		double a = 0;

		for (size_t i = 0; i < n; i++)
			a += s->v[i] * s->fac[i * n + k];
		s->wv[k] = a;
	}
	risk_rng_seed(&g, s->o.seed ^ mix64(p->id) ^ mix64(~s->nint));
#ifdef FS_HAVE_CUDA
	if (s->gpu_ok) {
		char err[256];

		if (var_cuda_mc(s->wv, r, np, s->o.seed ^ mix64(p->id) ^
				mix64(~s->nint), s->sims, err, sizeof(err)))
			fs_die(FS_EXIT_UNAVAIL, "--gpu: %s", err);
		goto drawn;
	}
#endif
	for (uint64_t j = 0; j < np; j++) {
		double a = 0;

		for (size_t k = 0; k < r; k++)
			a += s->wv[k] * risk_normal(&g);
		if (s->o.dof > 0)
			a *= sqrt((s->o.dof - 2) / risk_chi2(&g, s->o.dof));
		s->sims[j] = a;
	}
#ifdef FS_HAVE_CUDA
drawn:
#endif
	risk_sort(s->sims, np);
	for (int c = 0; c < s->o.ncf; c++) {
		double q = risk_quantile(s->sims, np, 1 - s->o.conf[c]);
		double sum = 0;
		uint64_t k;

		for (k = 0; k < np && s->sims[k] <= q; k++)
			sum += s->sims[k];
		res->var[c] = -q;
		res->es[c] = k ? -sum / (double)k : -q;
	}
	if (s->o.components)
		scale_comps(s, n, res);
}

/* One VAR record. */
static void put_var(struct var *s, uint64_t port, const char *sym,
		    double conf, double var, double es, uint32_t left,
		    double value)
{
	struct fs_hdr *h = fs_write_reserve(s->w, FS_T_VAR,
					    sizeof(struct fs_var));
	struct fs_var *b = fs_body(h);
	double sq = sqrt(s->o.horizon);

	h->ts_event = s->cur_ts;
	h->ts_ingest = s->cur_ingest;
	h->key = port;
	h->seq = s->n_var++;
	b->var = to_fix(var * sq);
	b->es = to_fix(es * sq);
	b->confidence = conf;
	b->horizon = (int64_t)nearbyint(s->o.horizon * (double)s->bar_len);
	memcpy(b->method, method_names[s->o.method],
	       strlen(method_names[s->o.method]));
	b->portfolio = port;
	if (sym)
		memcpy(b->symbol, sym, sizeof(b->symbol));
	b->observations = (uint32_t)s->o.window;
	b->left_out = left;
	b->value = to_fix(value);
}

/*
 * y[t] += sum_j v[j] x_j[t] for t < n, four positions at a time, in
 * vectors of four doubles (AVX2 where the CPU has it: the vector
 * adds and multiplies round as the scalar ones, so every build gives
 * the same numbers).
 */
typedef double v4d __attribute__((vector_size(32)));

__attribute__((target_clones("arch=x86-64-v3", "default")))
static void axpy4(double *restrict y, const double *const x[4],
		  const double v[4], size_t n)
{
	v4d a = { v[0], v[0], v[0], v[0] }, b = { v[1], v[1], v[1], v[1] };
	v4d c = { v[2], v[2], v[2], v[2] }, d = { v[3], v[3], v[3], v[3] };
	size_t t = 0;

	for (; t + 4 <= n; t += 4) {
		v4d yy, x0, x1, x2, x3;

		memcpy(&yy, y + t, 32);
		memcpy(&x0, x[0] + t, 32);
		memcpy(&x1, x[1] + t, 32);
		memcpy(&x2, x[2] + t, 32);
		memcpy(&x3, x[3] + t, 32);
		yy += (a * x0 + b * x1) + (c * x2 + d * x3);
		memcpy(y + t, &yy, 32);
	}
	for (; t < n; t++)
		y[t] += (v[0] * x[0][t] + v[1] * x[1][t]) +
			(v[2] * x[2][t] + v[3] * x[3][t]);
}

/*
 * The P&L scenarios pnl[t] = sum_i v_i r_i,t of the n positions in
 * act/v, oldest first (ring slot start is the oldest return).
 */
static void pnl_sum(struct var *s, size_t n, size_t start)
{
	size_t w = s->o.window, tail = w - start;

	memset(s->pnl, 0, w * sizeof(double));
	for (size_t i = 0; i < n; i += 4) {
		const double *x[4], *x2[4];
		double v[4];

		for (size_t j = 0; j < 4; j++) {
			/* past the last position: a zero weight */
			size_t k = i + j < n ? i + j : i;
			const double *ring = s->ret + (size_t)s->act[k] * w;

			v[j] = i + j < n ? s->v[k] : 0;
			x[j] = ring + start;
			x2[j] = ring;
		}
		axpy4(s->pnl, x, v, tail);
		axpy4(s->pnl + tail, x2, v, start);
	}
}

/* ---- backtests ---- */

static const char *const bt_names[] = {
	"portfolio", "confidence", "intervals", "exceptions", "var", "pnl",
	"pof_lr", "pof_p", "ind_lr", "ind_p", "cc_lr", "cc_p", "zone",
};
static const uint8_t bt_kinds[] = {
	FS_K_ID, FS_K_F64, FS_K_I64, FS_K_I64, FS_K_FIX, FS_K_FIX,
	FS_K_F64, FS_K_F64, FS_K_F64, FS_K_F64, FS_K_F64, FS_K_F64, FS_K_I64,
};
#define BT_NCOLS (sizeof(bt_kinds))

/* A schema id from the column names and kinds (as fs-window's). */
static uint32_t schema_id(const char *const *names, const uint8_t *kinds,
			  size_t n)
{
	uint64_t h = 0;

	for (size_t i = 0; i < n; i++)
		h = fs_hash64(names[i], strlen(names[i])) ^ (h * 31 + kinds[i]);
	return (uint32_t)(h ^ h >> 32);
}

/*
 * The interval just closed wrote its returns in ring slot `slot': check
 * each portfolio's waiting forecast against the P&L of the positions it
 * valued over that interval, sum_i v_i r_i.
 */
static void bt_realise(struct var *s, size_t slot)
{
	size_t w = s->o.window, bw = s->o.bt_window;

	for (uint32_t k = 0; k < s->npf; k++) {
		struct port *p = &s->pf[k];
		uint8_t *ex;
		double pl = 0;

		if (!p->fc)
			continue;
		for (uint32_t i = 0; i < p->fn; i++)
			pl += p->fv[i] * s->ret[(size_t)p->fsym[i] * w + slot];
		if (!p->ex)
			p->ex = fs_xcalloc(bw * MAX_CONF, 1);
		ex = p->ex + (p->npairs % bw) * MAX_CONF;
		for (int c = 0; c < s->o.ncf; c++)
			ex[c] = pl < -p->fvar[c];
		p->real = pl;
		p->npairs++;
		p->fc = 0;
	}
}

/* Keep the forecast of p: the n positions valued and the VaRs. */
static void bt_keep(struct var *s, struct port *p, size_t n,
		    const struct result *res)
{
	if (n > p->fcap) {
		p->fcap = (uint32_t)n;
		p->fsym = fs_xrealloc(p->fsym, n * sizeof(*p->fsym));
		p->fv = fs_xrealloc(p->fv, n * sizeof(*p->fv));
	}
	memcpy(p->fsym, s->act, n * sizeof(*p->fsym));
	memcpy(p->fv, s->v, n * sizeof(*p->fv));
	p->fn = (uint32_t)n;
	for (int c = 0; c < s->o.ncf; c++)
		p->fvar[c] = res->var[c];
	p->fc = 1;
}

/* The backtest rows of p: one per level, once a forecast was checked. */
static void bt_put(struct var *s, const struct port *p)
{
	size_t bw = s->o.bt_window, n = p->npairs < bw ? p->npairs : bw;
	size_t first = p->npairs - n;

	if (!n)
		return;
	if (!s->bt_sent) {
		fs_write_schema(s->w, s->bt_schema, 0);
		s->bt_sent = 1;
	}
	for (int c = 0; c < s->o.ncf; c++) {
		struct fs_hdr *h = fs_write_reserve(s->w, FS_T_AGG,
			sizeof(struct fs_dyn) + 8 * BT_NCOLS);
		struct fs_dyn *d = fs_body(h);
		unsigned char *col = (unsigned char *)(d + 1);
		double cf = s->o.conf[c];
		int64_t iv[4];
		double fv[7];
		struct risk_bt bt;

		for (size_t i = 0; i < n; i++)
			s->bt_tmp[i] = p->ex[((first + i) % bw) * MAX_CONF + c];
		risk_backtest(s->bt_tmp, n, 1 - cf, &bt);
		h->ts_event = s->cur_ts;
		h->ts_ingest = s->cur_ingest;
		h->key = p->id;
		h->seq = s->n_var++;
		d->ncols = BT_NCOLS;
		d->schema_id = s->bt_schema->schema_id;
		memcpy(col, &p->id, 8);
		fv[0] = cf;
		memcpy(col + 8, &fv[0], 8);
		iv[0] = (int64_t)bt.n;
		iv[1] = (int64_t)bt.exceptions;
		iv[2] = to_fix(p->fvar[c]);
		iv[3] = to_fix(p->real);
		memcpy(col + 16, iv, sizeof(iv));
		fv[1] = bt.pof;
		fv[2] = bt.pof_p;
		fv[3] = bt.ind;
		fv[4] = bt.ind_p;
		fv[5] = bt.cc;
		fv[6] = bt.cc_p;
		memcpy(col + 48, fv + 1, 6 * 8);
		iv[0] = bt.zone;
		memcpy(col + 96, iv, 8);
		s->n_bt++;
	}
}

/* ---- stress scenarios ---- */

static const char *const sc_fixed[] = { "portfolio", "value", "left_out" };
#define SC_NFIXED 3

static _Noreturn void sc_bad(struct var *s, unsigned long line,
			     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static _Noreturn void sc_bad(struct var *s, unsigned long line,
			     const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fs_die(FS_EXIT_USAGE, "bad --scenarios '%s': %s (line %lu)",
	       s->o.scenarios, msg, line);
}

/* Split line (NUL-terminated, no newline) at commas; fields trimmed. */
static size_t sc_split(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;

	for (;;) {
		char *e = strchr(p, ','), *end;

		if (e)
			*e = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strlen(p);
		while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
				   end[-1] == '\r'))
			*--end = 0;
		if (n < max)
			f[n] = p;
		n++;
		if (!e)
			return n;
		p = e + 1;
	}
}

/* The index of scenario name, added if new. */
static uint32_t sc_get(struct var *s, const char *name, unsigned long line)
{
	uint32_t i;

	for (i = 0; i < s->nsc; i++)
		if (!strcmp(s->sc_name[i], name))
			return i;
	for (int k = 0; k < SC_NFIXED; k++)
		if (!strcmp(name, sc_fixed[k]))
			sc_bad(s, line, "a scenario may not be named '%s' (a "
			       "column of the rows)", name);
	if (s->nsc + SC_NFIXED >= FS_SCHEMA_MAXCOLS)
		sc_bad(s, line, "more than %d scenarios",
		       FS_SCHEMA_MAXCOLS - SC_NFIXED);
	s->sc_name = fs_xrealloc(s->sc_name, (i + 1) * sizeof(char *));
	s->sc_name[i] = fs_xstrdup(name);
	s->star = fs_xrealloc(s->star, (i + 1) * sizeof(double));
	s->starl = fs_xrealloc(s->starl, (i + 1) * sizeof(uint32_t));
	s->star[i] = NAN;
	s->starl[i] = 0;
	s->nsc++;
	return i;
}

/* One shock; rows of shk are widened once all scenarios are known. */
struct sc_row {
	uint32_t sc, sym;	/* sym: UINT32_MAX for '*' */
	uint32_t line;
	double shock;
};

/*
 * Read the scenarios file: a header naming the columns scenario,
 * symbol and shock (in any order), then one shock per line.  Blank
 * lines and lines starting with '#' are skipped.  Anything else wrong
 * exits 2 naming the line.
 */
static void sc_load(struct var *s)
{
	static struct sc_row *rows;	/* static: reachable at an exit */
	size_t nrows = 0, caprows = 0, cap = 0;
	unsigned long line = 0;
	int col[3] = { -1, -1, -1 }, ncol = 0;
	static const char *const want[] = { "scenario", "symbol", "shock" };
	char *f[8];

	if (!(s->scf = fopen(s->o.scenarios, "r")))
		fs_die(FS_EXIT_FAIL, "cannot open --scenarios '%s': %s",
		       s->o.scenarios, strerror(errno));
	while (getline(&s->line, &cap, s->scf) >= 0) {
		size_t n, l = strlen(s->line);
		struct sc_row r;
		char code[12];

		line++;
		while (l && (s->line[l - 1] == '\n' || s->line[l - 1] == '\r'))
			s->line[--l] = 0;
		if (!l || s->line[0] == '#')
			continue;
		n = sc_split(s->line, f, 8);
		if (ncol == 0) {
			for (size_t i = 0; i < n && i < 8; i++) {
				int k;

				for (k = 0; k < 3; k++)
					if (!strcmp(f[i], want[k]))
						break;
				if (k == 3)
					sc_bad(s, line, "unknown column '%s'"
					       " (scenario, symbol, shock)", f[i]);
				if (col[k] >= 0)
					sc_bad(s, line, "column '%s' twice",
					       f[i]);
				col[k] = (int)i;
			}
			if (n > 3)
				sc_bad(s, line, "%zu columns: scenario, symbol "
				       "and shock expected", n);
			for (int k = 0; k < 3; k++)
				if (col[k] < 0)
					sc_bad(s, line, "no column '%s'",
					       want[k]);
			ncol = (int)n;
			continue;
		}
		if (n != (size_t)ncol)
			sc_bad(s, line, "%zu fields, %d expected", n, ncol);
		for (int k = 0; k < 3; k++)
			if (!f[col[k]][0])
				sc_bad(s, line, "no %s", want[k]);
		if (strlen(f[col[1]]) > 12)
			sc_bad(s, line, "symbol '%s' longer than 12 bytes",
			       f[col[1]]);
		if (fs_parse_f64(f[col[2]], strlen(f[col[2]]), &r.shock) < 0 ||
		    !isfinite(r.shock))
			sc_bad(s, line, "bad shock '%s': a number expected",
			       f[col[2]]);
		r.sc = sc_get(s, f[col[0]], line);
		r.line = (uint32_t)line;
		if (!strcmp(f[col[1]], "*")) {
			r.sym = UINT32_MAX;
		} else {
			memset(code, 0, sizeof(code));
			memcpy(code, f[col[1]], strlen(f[col[1]]));
			r.sym = sym_get(s, code);
		}
		if (nrows == caprows) {
			caprows = caprows ? caprows * 2 : 64;
			rows = fs_xrealloc(rows, caprows * sizeof(*rows));
		}
		rows[nrows++] = r;
	}
	fclose(s->scf);
	s->scf = NULL;
	if (ncol == 0 || s->nsc == 0)
		sc_bad(s, line, "no scenarios");
	for (size_t i = 0; i < nrows; i++) {
		struct sc_row *r = &rows[i];
		uint32_t *at;
		double *v;

		if (r->sym == UINT32_MAX) {
			at = &s->starl[r->sc];
			v = &s->star[r->sc];
		} else {
			struct sym *y = &s->sy[r->sym];

			if (!y->shk) {
				if (s->nshk == s->capshk) {
					s->capshk = s->capshk ?
						s->capshk * 2 : 16;
					s->shk = fs_xrealloc(s->shk,
						(size_t)s->capshk * s->nsc *
						sizeof(double));
					s->shl = fs_xrealloc(s->shl,
						(size_t)s->capshk * s->nsc *
						sizeof(uint32_t));
				}
				for (uint32_t k = 0; k < s->nsc; k++) {
					s->shk[(size_t)s->nshk * s->nsc + k] =
						NAN;
					s->shl[(size_t)s->nshk * s->nsc + k] =
						0;
				}
				y->shk = ++s->nshk;
			}
			at = &s->shl[(size_t)(y->shk - 1) * s->nsc + r->sc];
			v = &s->shk[(size_t)(y->shk - 1) * s->nsc + r->sc];
		}
		if (*at) {
			unsigned long l = r->line, was = *at;

			sc_bad(s, l, "scenario '%s' shocks symbol '%.12s' "
			       "twice (first at line %lu)",
			       s->sc_name[r->sc], r->sym == UINT32_MAX ? "*" :
			       s->sy[r->sym].code, was);
		}
		*at = r->line;
		*v = r->shock;
	}
	free(rows);
	rows = NULL;
	{
		const char **names = fs_xmalloc((s->nsc + SC_NFIXED) *
						sizeof(char *));
		uint8_t *kinds = fs_xmalloc(s->nsc + SC_NFIXED);

		for (int k = 0; k < SC_NFIXED; k++)
			names[k] = sc_fixed[k];
		kinds[0] = FS_K_ID;
		kinds[1] = FS_K_FIX;
		kinds[2] = FS_K_I64;
		for (uint32_t i = 0; i < s->nsc; i++) {
			names[SC_NFIXED + i] = s->sc_name[i];
			kinds[SC_NFIXED + i] = FS_K_FIX;
		}
		s->sc_schema = fs_schema_new(FS_T_AGG, schema_id(names, kinds,
			s->nsc + SC_NFIXED), s->nsc + SC_NFIXED, names, kinds);
		free(names);
		free(kinds);
		s->sc_cols = fs_xmalloc((s->nsc + SC_NFIXED) * 8);
	}
}

/*
 * The scenario row of portfolio p: value and positions left out as in
 * its VAR records; the P&L of scenario k is sum_i v_i shock_ik, the
 * shock of the symbol's own line, else of '*', else 0.
 */
static void sc_port(struct var *s, const struct port *p)
{
	uint32_t m = s->nsc, left = 0, n = 0;
	double value = 0, *pl = s->wv;
	struct fs_hdr *h;
	struct fs_dyn *d;

	work_size(s, m > p->n ? m : p->n);
	pl = s->wv;
	for (uint32_t k = 0; k < m; k++)
		pl[k] = 0;
	for (uint32_t i = 0; i < p->n; i++) {
		const struct sym *y = &s->sy[p->p[i].sym];
		const double *row = y->shk ?
			s->shk + (size_t)(y->shk - 1) * m : NULL;
		double v;

		if (p->p[i].qty == 0)
			continue;
		if (isnan(y->last)) {
			left++;
			continue;
		}
		v = (double)p->p[i].qty * y->last;
		value += v;
		n++;
		for (uint32_t k = 0; k < m; k++) {
			double sh = row && !isnan(row[k]) ? row[k] : s->star[k];

			if (!isnan(sh))
				pl[k] += v * sh;
		}
	}
	if (n == 0 && left == 0)
		return;
	if (!s->sc_sent) {
		fs_write_schema(s->w, s->sc_schema, 0);
		s->sc_sent = 1;
	}
	memcpy(&s->sc_cols[0], &p->id, 8);
	s->sc_cols[1] = to_fix(value);
	s->sc_cols[2] = left;
	for (uint32_t k = 0; k < m; k++)
		s->sc_cols[SC_NFIXED + k] = to_fix(pl[k]);
	h = fs_write_reserve(s->w, FS_T_AGG, sizeof(*d) +
			     8 * (size_t)(m + SC_NFIXED));
	h->ts_event = s->cur_ts;
	h->ts_ingest = s->cur_ingest;
	h->key = p->id;
	h->seq = s->n_var++;
	d = fs_body(h);
	d->ncols = m + SC_NFIXED;
	d->schema_id = s->sc_schema->schema_id;
	memcpy(d + 1, s->sc_cols, 8 * (size_t)(m + SC_NFIXED));
	s->n_sc++;
}

/*
 * Value portfolio p with the latest closes and, when emit says so,
 * write its records; a symbol never priced is left out (said once per
 * symbol); a symbol with fewer than --window returns holds the record
 * back.  With --backtest this runs at every interval, and the forecast
 * is kept for the next.
 */
static void risk_port(struct var *s, struct port *p, int emit)
{
	size_t w = s->o.window, n = 0, start = s->nint % w;
	uint32_t left = 0;
	double value = 0;
	struct result res;
	/* the returns of each position, time-ordered: components and mc */
	int need_x = s->o.components || s->o.method == M_MC;

	work_size(s, p->n);
	for (uint32_t k = 0; k < p->n; k++) {
		struct sym *y = &s->sy[p->p[k].sym];

		if (p->p[k].qty == 0)
			continue;
		if (isnan(y->last)) {
			left++;
			if (!y->warned++)
				fs_warn("no price for symbol '%.12s' (portfolio "
					"%llu): its positions are left out",
					y->code, (unsigned long long)p->id);
			continue;
		}
		if (y->nret < w) {
			s->n_short += (uint64_t)emit;
			return;
		}
		s->act[n] = p->p[k].sym;
		s->v[n] = (double)p->p[k].qty * y->last;
		value += s->v[n];
		n++;
	}
	if (n == 0 && left == 0)
		return;
	if (emit) {
		s->n_left += left;
		s->n_updates++;
	}
	pnl_sum(s, n, start);
	for (size_t i = 0; need_x && i < n; i++) {
		const double *ring = s->ret + (size_t)s->act[i] * w;

		/* the ring from start is the oldest return */
		memcpy(s->x + i * w, ring + start, (w - start) * sizeof(double));
		memcpy(s->x + i * w + w - start, ring, start * sizeof(double));
	}
	switch (s->o.method) {
	case M_HIST: m_hist(s, n, &res); break;
	case M_PARAM: m_param(s, n, s->o.components, &res); break;
	case M_EWMA: m_ewma(s, n, s->o.components, &res); break;
	case M_CF: m_cf(s, n, &res); break;
	default: m_mc(s, p, n, &res); break;
	}
	/* the rows of the forecast checked last, then keep this one */
	if (s->o.backtest && emit)
		bt_put(s, p);
	if (s->o.backtest)
		bt_keep(s, p, n, &res);
	if (!emit)
		return;
	for (int c = 0; c < s->o.ncf; c++)
		put_var(s, p->id, NULL, s->o.conf[c], res.var[c], res.es[c],
			left, value);
	for (size_t i = 0; s->o.components && i < n; i++)
		for (int c = 0; c < s->o.ncf; c++)
			put_var(s, p->id, s->sy[s->act[i]].code,
				s->o.conf[c], s->comp_v[i * MAX_CONF + c],
				s->comp_e[i * MAX_CONF + c], 0, s->v[i]);
}

/* ---- intervals ---- */

/* Close the open interval: returns into the rings, then records. */
static void close_interval(struct var *s)
{
	size_t w = s->o.window, slot = s->nint % w;
	int64_t bucket;
	int emit;

	if (!s->have_cur)
		return;
	for (uint32_t i = 0; i < s->nsym; i++) {
		struct sym *y = &s->sy[i];
		double r = 0;

		if (isnan(y->pend) && isnan(y->last))
			continue;
		if (!isnan(y->pend)) {
			if (isnan(y->last)) {
				y->last = y->pend;
				y->pend = NAN;
				continue;	/* a first close: no return */
			}
			r = y->pend / y->last - 1;
			y->last = y->pend;
			y->pend = NAN;
		}
		s->ret[(size_t)i * w + slot] = r;
		y->nret++;
	}
	if (s->o.backtest)
		bt_realise(s, slot);
	s->nint++;
	s->have_cur = 0;
	bucket = s->o.every ? s->cur_ts / s->o.every -
		(s->cur_ts < 0 && s->cur_ts % s->o.every) : (int64_t)s->nint;
	emit = !s->emitted || bucket != s->last_bucket;
	if (!emit && !s->o.backtest)
		return;
	if (emit) {
		s->emitted = 1;
		s->last_bucket = bucket;
	}
	for (uint32_t k = 0; k < s->npf; k++) {
		risk_port(s, &s->pf[k], emit);
		if (emit && s->o.scenarios)
			sc_port(s, &s->pf[k]);
	}
}

static _Noreturn void bad_input(struct var *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static _Noreturn void bad_input(struct var *s, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fs_writer_flush(s->w);
	fs_die(FS_EXIT_DATA, "bad input '%s': %s (frame %llu, byte offset "
	       "%llu)", fs_reader_name(s->r), msg,
	       (unsigned long long)s->frame_no,
	       (unsigned long long)s->frame_off);
}

static void check_body(struct var *s, const struct fs_hdr *h, size_t want,
		       const char *what)
{
	if (fs_body_len(h) < want)
		bad_input(s, "a %s record with a body of %zu bytes, %zu "
			  "expected", what, fs_body_len(h), want);
}

static void check_code(struct var *s, const char *code, const char *what)
{
	if (!code[0])
		bad_input(s, "a %s record without a symbol", what);
}

static void on_bar(struct var *s, const struct fs_hdr *h)
{
	struct fs_bar b;
	uint32_t i;

	check_body(s, h, sizeof(b), "BAR");
	memcpy(&b, fs_body(h), sizeof(b));
	check_code(s, b.symbol, "BAR");
	if (b.close <= 0)
		bad_input(s, "a BAR of '%.12s' with close %lld, not positive",
			  b.symbol, (long long)b.close);
	if (b.window_end <= b.window_start)
		bad_input(s, "a BAR of '%.12s' whose window_end is not after "
			  "its window_start", b.symbol);
	if (s->have_cur && b.window_end < s->cur_end) {
		s->n_late++;
		return;
	}
	if (s->have_cur && b.window_end > s->cur_end)
		close_interval(s);
	if (!s->have_cur) {
		if (s->nint && b.window_end <= s->cur_end) {
			s->n_late++;	/* its interval closed already */
			return;
		}
		s->have_cur = 1;
		s->cur_end = b.window_end;
		s->cur_ts = h->ts_event;
		s->cur_ingest = h->ts_ingest;
	}
	if (h->ts_event > s->cur_ts)
		s->cur_ts = h->ts_event;
	if (h->ts_ingest > s->cur_ingest)
		s->cur_ingest = h->ts_ingest;
	s->bar_len = b.window_end - b.window_start;
	i = sym_get(s, b.symbol);
	s->sy[i].pend = (double)b.close / (double)FS_FIX_SCALE;
	s->n_bars++;
}

static void on_position(struct var *s, const struct fs_hdr *h)
{
	struct fs_position p;

	check_body(s, h, sizeof(p), "POSITION");
	memcpy(&p, fs_body(h), sizeof(p));
	check_code(s, p.symbol, "POSITION");
	set_pos(s, p.portfolio, sym_get(s, p.symbol), p.qty);
	s->n_pos++;
}

/* ---- checkpoints ---- */

/* The backtest state of p: its forecast and its exceptions. */
static void bt_snap(const struct var *s, struct sbuf *b,
		    const struct port *p)
{
	size_t nb = s->o.bt_window * MAX_CONF;

	sb_u8(b, (uint8_t)p->fc);
	sb_u32(b, p->fn);
	for (uint32_t i = 0; i < p->fn; i++) {
		sb_u32(b, p->fsym[i]);
		sb_f64(b, p->fv[i]);
	}
	for (int c = 0; c < s->o.ncf; c++)
		sb_f64(b, p->fvar[c]);
	sb_f64(b, p->real);
	sb_u64(b, p->npairs);
	sb_u8(b, p->ex != NULL);
	if (p->ex)
		sb_put(b, p->ex, nb);
}

static void bt_unsnap(struct var *s, struct srd *r, struct port *p)
{
	size_t nb = s->o.bt_window * MAX_CONF;
	uint32_t n;

	p->fc = sr_u8(r);
	n = sr_u32(r);
	if (n > s->nsym) {
		sr_fail(r, "a backtest forecast of too many positions");
		return;
	}
	p->fcap = p->fn = n;
	p->fsym = fs_xrealloc(p->fsym, (n ? n : 1) * sizeof(*p->fsym));
	p->fv = fs_xrealloc(p->fv, (n ? n : 1) * sizeof(*p->fv));
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		p->fsym[i] = sr_u32(r);
		p->fv[i] = sr_f64(r);
		if (p->fsym[i] >= s->nsym)
			sr_fail(r, "a backtest forecast of no symbol");
	}
	for (int c = 0; c < s->o.ncf; c++)
		p->fvar[c] = sr_f64(r);
	p->real = sr_f64(r);
	p->npairs = sr_u64(r);
	if (sr_u8(r)) {
		if (!p->ex)
			p->ex = fs_xcalloc(nb, 1);
		sr_get(r, p->ex, nb);
	}
}

static void snap_put(struct var *s, uint64_t id)
{
	struct sbuf b = { 0 };
	size_t at, w = s->o.window;

	sb_head(&b, SNAP_MAGIC, SNAP_VERSION);
	at = sb_sect(&b, "CTX ");
	sb_u8(&b, (uint8_t)s->o.method);
	sb_u64(&b, w);
	sb_u8(&b, (uint8_t)s->have_cur);
	sb_u8(&b, (uint8_t)s->emitted);
	sb_i64(&b, s->cur_end);
	sb_i64(&b, s->cur_ts);
	sb_i64(&b, s->cur_ingest);
	sb_i64(&b, s->bar_len);
	sb_u64(&b, s->nint);
	sb_i64(&b, s->last_bucket);
	sb_u64(&b, s->n_bars);
	sb_u64(&b, s->n_pos);
	sb_u64(&b, s->n_late);
	sb_u64(&b, s->n_ignored);
	sb_u64(&b, s->n_var);
	sb_u64(&b, s->n_short);
	sb_u64(&b, s->n_left);
	sb_u64(&b, s->n_singular);
	sb_u64(&b, s->n_updates);
	sb_u8(&b, (uint8_t)s->o.backtest);
	sb_u64(&b, s->o.bt_window);
	sb_u8(&b, (uint8_t)s->o.ncf);
	sb_u8(&b, (uint8_t)s->bt_sent);
	sb_u64(&b, s->n_bt);
	sb_end(&b, at);
	at = sb_sect(&b, "SYMS");
	sb_u32(&b, s->nsym);
	for (uint32_t i = 0; i < s->nsym; i++) {
		const struct sym *y = &s->sy[i];

		sb_put(&b, y->code, 12);
		sb_u32(&b, y->warned);
		sb_f64(&b, y->last);
		sb_f64(&b, y->pend);
		sb_u64(&b, y->nret);
		sb_put(&b, s->ret + (size_t)i * w, w * sizeof(double));
	}
	sb_end(&b, at);
	at = sb_sect(&b, "PORT");
	sb_u32(&b, s->npf);
	for (uint32_t k = 0; k < s->npf; k++) {
		sb_u64(&b, s->pf[k].id);
		sb_u32(&b, s->pf[k].n);
		for (uint32_t i = 0; i < s->pf[k].n; i++) {
			sb_u32(&b, s->pf[k].p[i].sym);
			sb_i64(&b, s->pf[k].p[i].qty);
		}
		if (s->o.backtest)
			bt_snap(s, &b, &s->pf[k]);
	}
	sb_end(&b, at);
	sb_seal(&b);
	fs_ckpt_put_snapshot(fs_pipeline_ckpt(), (int64_t)id, fs_stage_name(),
			     FS_CKPT_INSTANCE, b.p, b.n);
	sb_free(&b);
}

static void unsnap(struct var *s, struct srd *r)
{
	size_t w = s->o.window;
	uint32_t n;

	sr_sect(r, "CTX ");
	if (sr_u8(r) != s->o.method || sr_u64(r) != w)
		sr_fail(r, "made with another --method or --window");
	s->have_cur = sr_u8(r);
	s->emitted = sr_u8(r);
	s->cur_end = sr_i64(r);
	s->cur_ts = sr_i64(r);
	s->cur_ingest = sr_i64(r);
	s->bar_len = sr_i64(r);
	s->nint = sr_u64(r);
	s->last_bucket = sr_i64(r);
	s->n_bars = sr_u64(r);
	s->n_pos = sr_u64(r);
	s->n_late = sr_u64(r);
	s->n_ignored = sr_u64(r);
	s->n_var = sr_u64(r);
	s->n_short = sr_u64(r);
	s->n_left = sr_u64(r);
	s->n_singular = sr_u64(r);
	s->n_updates = sr_u64(r);
	if (sr_u8(r) != s->o.backtest || sr_u64(r) != s->o.bt_window ||
	    sr_u8(r) != s->o.ncf)
		sr_fail(r, "made with another --backtest, --backtest-window "
			"or --confidence");
	s->bt_sent = sr_u8(r);
	s->n_bt = sr_u64(r);
	sr_sect(r, "SYMS");
	n = sr_u32(r);
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		char code[12];
		struct sym *y;

		sr_get(r, code, 12);
		if (sym_get(s, code) != i)
			sr_fail(r, "a symbol twice");
		y = &s->sy[i];
		y->warned = sr_u32(r);
		y->last = sr_f64(r);
		y->pend = sr_f64(r);
		y->nret = sr_u64(r);
		sr_get(r, s->ret + (size_t)i * w, w * sizeof(double));
	}
	sr_sect(r, "PORT");
	n = sr_u32(r);
	for (uint32_t k = 0; k < n && !r->bad; k++) {
		uint64_t id = sr_u64(r);
		uint32_t np = sr_u32(r);

		port_get(s, id);
		for (uint32_t i = 0; i < np && !r->bad; i++) {
			uint32_t sym = sr_u32(r);
			int64_t qty = sr_i64(r);

			if (sym >= s->nsym)
				sr_fail(r, "a position of no symbol");
			else
				set_pos(s, id, sym, qty);
		}
		if (s->o.backtest && !r->bad)
			bt_unsnap(s, r, port_get(s, id));
	}
	if (!r->bad && r->off != r->n)
		sr_fail(r, "bytes after the last section");
}

/* Put the state of the restored checkpoint back, if there is one. */
static void snap_restore(struct var *s)
{
	struct fs_ckpt *st = fs_pipeline_ckpt();
	int64_t id = st ? fs_pipeline_restored() : 0;
	struct srd r;
	size_t n;
	void *p;

	if (id <= 0)
		return;
	p = fs_pipeline_snapshot(id, &n, NULL);
	if (sr_open(&r, p, n, SNAP_MAGIC, SNAP_VERSION) == 0)
		unsnap(s, &r);
	free(p);
	if (r.bad)
		fs_pipeline_bad_snapshot(id, r.why);
}

/* ---- the main loop ---- */

static void on_record(struct var *s, const struct fs_hdr *h)
{
	s->frame_no = fs_reader_frames(s->r);
	s->frame_off = fs_reader_offset(s->r) - fs_frame_size(h);
	if (!fs_is_control(h)) {
		if (h->type == FS_T_BAR)
			on_bar(s, h);
		else if (h->type == FS_T_POSITION)
			on_position(s, h);
		else
			s->n_ignored++;
		return;
	}
	switch (h->type) {
	case FS_T_WATERMARK:
		if (s->have_cur && h->ts_event > s->cur_ts)
			close_interval(s);
		break;
	case FS_T_BARRIER:
		if (h->flags & FS_F_FINAL)
			close_interval(s);
		if (fs_pipeline_ckpt())
			snap_put(s, fs_barrier_id(h));
		break;
	case FS_T_SCHEMA:
		return;		/* of AGG or FEATURES records, not passed */
	}
	fs_write_frame(s->w, h);
}

static int run(struct var *s)
{
	const struct fs_hdr *h;
	int rc;

	while ((rc = fs_read(s->r, &h)) == 1 && !fs_stop) {
		on_record(s, h);
		fs_metrics_tick(s->mx);
	}
	if (rc < 0) {
		fs_writer_flush(s->w);
		return FS_EXIT_DATA;
	}
	close_interval(s);
	return FS_EXIT_OK;
}

/* --gpu: a device, or the CPU said once. */
static void gpu_setup(struct var *s)
{
	const char *why = "this build has no CUDA";
#ifndef FS_HAVE_CUDA
	(void)s;
#else
	char desc[256];

	if (s->o.dof > 0) {
		why = "Student-t draws (--dof) are made on the CPU";
	} else if (var_cuda_probe(desc, sizeof(desc)) > 0) {
		s->gpu_ok = 1;
		if (!s->o.quiet)
			fs_warn("--gpu: mc paths on %s", desc);
		return;
	} else {
		why = desc;
	}
#endif
	fs_warn("--gpu: %s: mc paths on the CPU", why);
}

static void setup(struct var *s)
{
	s->r = fs_reader_open(s->o.in);
	s->w = fs_writer_open(s->o.out);
	fs_reader_flush_on_block(s->r, s->w);
	tab_init(&s->st, 64);
	tab_init(&s->pt, 64);
	if (s->o.method == M_MC)
		s->sims = fs_xmalloc(s->o.paths * sizeof(double));
	if (s->o.gpu)
		gpu_setup(s);
	if (s->o.backtest) {
		s->bt_schema = fs_schema_new(FS_T_AGG, schema_id(bt_names,
			bt_kinds, BT_NCOLS), BT_NCOLS, bt_names, bt_kinds);
		s->bt_tmp = fs_xmalloc(s->o.bt_window);
	}
	s->mx = fs_metrics_open(s->o.metrics);
	fs_metrics_counter(s->mx, "fs_var_bars_total", "BAR records read",
			   &s->n_bars);
	fs_metrics_counter(s->mx, "fs_var_positions_total",
			   "POSITION records read", &s->n_pos);
	fs_metrics_counter(s->mx, "fs_var_records_total",
			   "VAR records written", &s->n_var);
	fs_metrics_counter(s->mx, "fs_var_short_total", "portfolio updates "
			   "held back for too few bars", &s->n_short);
	fs_metrics_counter(s->mx, "fs_var_left_out_total",
			   "positions left out for want of a price",
			   &s->n_left);
}

static void summary(const struct var *s)
{
	fs_warn("%llu VAR records from %llu bars in %llu intervals and %llu "
		"positions; %llu portfolio updates held back for fewer than "
		"%zu returns; %llu positions left out (no price); %llu late "
		"bars dropped; %llu other records ignored",
		(unsigned long long)s->n_var, (unsigned long long)s->n_bars,
		(unsigned long long)s->nint, (unsigned long long)s->n_pos,
		(unsigned long long)s->n_short, s->o.window,
		(unsigned long long)s->n_left, (unsigned long long)s->n_late,
		(unsigned long long)s->n_ignored);
	if (s->o.backtest)
		fs_warn("%llu backtest rows", (unsigned long long)s->n_bt);
	if (s->o.scenarios)
		fs_warn("%llu scenario rows of %u scenarios",
			(unsigned long long)s->n_sc, s->nsc);
}

static void teardown(struct var *s)
{
	fs_writer_close(s->w);
	fs_reader_close(s->r);
	fs_metrics_close(s->mx);
	for (uint32_t k = 0; k < s->npf; k++) {
		free(s->pf[k].p);
		free(s->pf[k].fsym);
		free(s->pf[k].fv);
		free(s->pf[k].ex);
	}
	fs_schema_free(s->bt_schema);
	fs_schema_free(s->sc_schema);
	for (uint32_t i = 0; i < s->nsc; i++)
		free(s->sc_name[i]);
	free(s->sc_name);
	free(s->shk);
	free(s->shl);
	free(s->star);
	free(s->starl);
	free(s->sc_cols);
	free(s->line);
	free(s->bt_tmp);
	free(s->pf);
	free(s->sy);
	free(s->ret);
	free(s->st.slot);
	free(s->pt.slot);
	free(s->act);
	free(s->v);
	free(s->ci);
	free(s->comp_v);
	free(s->comp_e);
	free(s->x);
	free(s->wv);
	free(s->cov);
	free(s->fac);
	free(s->pnl);
	free(s->ord);
	free(s->tail);
	free(s->sims);
}

int tool_main(int argc, char **argv)
{
	static struct var s;
	int rc;

	parse_args(&s.o, argc, argv);
	(void)fs_pipeline_restored();	/* read before any barrier of ours */
	setup(&s);
	snap_restore(&s);
	if (s.o.scenarios)
		sc_load(&s);	/* after the snapshot's symbols */
	rc = run(&s);
	if (!s.o.quiet)
		summary(&s);
	teardown(&s);
	return rc;
}
