/*
 * risk.c - the numerics of fs-var: the normal distribution, quantiles,
 * a pivoted Cholesky factor and a seeded random generator.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "var.h"

double risk_pnorm(double x)
{
	return 0.5 * erfc(-x / M_SQRT2);
}

double risk_dnorm(double x)
{
	return exp(-0.5 * x * x) / sqrt(2 * M_PI);
}

/*
 * Acklam's rational approximation (relative error 1.15e-9), then one
 * Halley step against erfc, which brings it to machine precision.
 */
double risk_qnorm(double p)
{
	static const double a[] = { -3.969683028665376e+01,
		2.209460984245205e+02, -2.759285104469687e+02,
		1.383577518672690e+02, -3.066479806614716e+01,
		2.506628277459239e+00 };
	static const double b[] = { -5.447609879822406e+01,
		1.615858368580409e+02, -1.556989798598866e+02,
		6.680131188771972e+01, -1.328068155288572e+01 };
	static const double c[] = { -7.784894002430293e-03,
		-3.223964580411365e-01, -2.400758277161838e+00,
		-2.549732539343734e+00, 4.374664141464968e+00,
		2.938163982698783e+00 };
	static const double d[] = { 7.784695709041462e-03,
		3.224671290700398e-01, 2.445134137142996e+00,
		3.754408661907416e+00 };
	double q, r, x, e, u;

	if (p <= 0)
		return -INFINITY;
	if (p >= 1)
		return INFINITY;
	if (p < 0.02425) {
		q = sqrt(-2 * log(p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) *
		     q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) *
		     q + 1);
	} else if (p <= 1 - 0.02425) {
		q = p - 0.5;
		r = q * q;
		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) *
		     r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r +
		     b[3]) * r + b[4]) * r + 1);
	} else {
		q = sqrt(-2 * log(1 - p));
		x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) *
		      q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) *
		      q + 1);
	}
	e = risk_pnorm(x) - p;
	u = e * sqrt(2 * M_PI) * exp(x * x / 2);
	return x - u / (1 + x * u / 2);
}

double risk_quantile(const double *s, size_t n, double q)
{
	double h, f;
	size_t lo;

	if (n == 0)
		return NAN;
	h = (double)(n - 1) * q;
	lo = (size_t)floor(h);
	if (lo >= n - 1)
		return s[n - 1];
	f = h - (double)lo;
	return s[lo] + f * (s[lo + 1] - s[lo]);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void risk_sort(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_dbl);
}

/*
 * Outer-product form: at step k take the index p of the largest
 * remaining diagonal, column k = residual column p / sqrt(d_p), and
 * subtract its outer product from the residual.
 */
size_t risk_pchol(double *a, size_t n, double *l, double tol)
{
	double dmax = 0;
	size_t k;

	memset(l, 0, n * n * sizeof(*l));
	for (size_t i = 0; i < n; i++)
		if (a[i * n + i] > dmax)
			dmax = a[i * n + i];
	if (dmax <= 0)
		return 0;
	for (k = 0; k < n; k++) {
		size_t p = 0;
		double dp = -1, sq;

		for (size_t i = 0; i < n; i++)
			if (a[i * n + i] > dp) {
				dp = a[i * n + i];
				p = i;
			}
		if (dp <= tol * dmax)
			break;
		sq = sqrt(dp);
		for (size_t i = 0; i < n; i++)
			l[i * n + k] = a[i * n + p] / sq;
		for (size_t i = 0; i < n; i++) {
			double li = l[i * n + k];

			if (li == 0)
				continue;
			for (size_t j = 0; j < n; j++)
				a[i * n + j] -= li * l[j * n + k];
		}
		a[p * n + p] = 0;
	}
	return k;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void risk_rng_seed(struct risk_rng *g, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		g->s[i] = splitmix64(&seed);
	g->has_spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t next(struct risk_rng *g)
{
	uint64_t *s = g->s, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

double risk_uniform(struct risk_rng *g)
{
	return ((next(g) >> 11) + 0.5) * 0x1.0p-53;
}

double risk_normal(struct risk_rng *g)
{
	double u, v, s;

	if (g->has_spare) {
		g->has_spare = 0;
		return g->spare;
	}
	do {
		u = 2 * risk_uniform(g) - 1;
		v = 2 * risk_uniform(g) - 1;
		s = u * u + v * v;
	} while (s >= 1 || s == 0);
	s = sqrt(-2 * log(s) / s);
	g->spare = v * s;
	g->has_spare = 1;
	return u * s;
}

/* Gamma(k, 1) by Marsaglia and Tsang; k < 1 through k + 1. */
static double gamma1(struct risk_rng *g, double k)
{
	double d, c, x, v, u;

	if (k < 1)
		return gamma1(g, k + 1) * pow(risk_uniform(g), 1 / k);
	d = k - 1.0 / 3;
	c = 1 / sqrt(9 * d);
	for (;;) {
		do {
			x = risk_normal(g);
			v = 1 + c * x;
		} while (v <= 0);
		v = v * v * v;
		u = risk_uniform(g);
		if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
			return d * v;
	}
}

double risk_chi2(struct risk_rng *g, double dof)
{
	return 2 * gamma1(g, dof / 2);
}

/* x log y with 0 log 0 = 0 (and 0 log anything = 0). */
static double xlogy(double x, double y)
{
	return x == 0 ? 0 : x * log(y);
}

double risk_binom_cdf(uint64_t x, uint64_t n, double p)
{
	double lp = log(p), lq = log1p(-p), ln1 = lgamma((double)n + 1);
	double sum = 0;

	if (x >= n)
		return 1;
	for (uint64_t k = 0; k <= x; k++)
		sum += exp(ln1 - lgamma((double)k + 1) -
			   lgamma((double)(n - k) + 1) + (double)k * lp +
			   (double)(n - k) * lq);
	return sum < 1 ? sum : 1;
}

/* chi-square survival functions of 1 and 2 degrees of freedom */
static double chi2_sf1(double x)
{
	return erfc(sqrt(x / 2));
}

static double chi2_sf2(double x)
{
	return exp(-x / 2);
}

void risk_backtest(const uint8_t *ex, size_t n, double p,
		   struct risk_bt *o)
{
	double x = 0, t[2][2] = { { 0, 0 }, { 0, 0 } }, N = (double)n;
	double pi01, pi11, pi, a, b, cdf;

	for (size_t i = 0; i < n; i++) {
		x += ex[i];
		if (i)
			t[ex[i - 1]][ex[i]]++;
	}
	o->exceptions = (uint64_t)x;
	o->n = n;
	/* Kupiec: unconditional coverage, x ~ Binomial(N, p) */
	a = xlogy(N - x, 1 - p) + xlogy(x, p);
	b = n ? xlogy(N - x, 1 - x / N) + xlogy(x, x / N) : 0;
	o->pof = fmax(0, -2 * (a - b));
	/* Christoffersen: a first-order Markov chain against independence */
	a = t[0][0] + t[0][1];
	b = t[1][0] + t[1][1];
	pi01 = a > 0 ? t[0][1] / a : 0;
	pi11 = b > 0 ? t[1][1] / b : 0;
	pi = a + b > 0 ? (t[0][1] + t[1][1]) / (a + b) : 0;
	o->ind = fmax(0, -2 * (xlogy(t[0][0] + t[1][0], 1 - pi) +
			       xlogy(t[0][1] + t[1][1], pi) -
			       xlogy(t[0][0], 1 - pi01) -
			       xlogy(t[0][1], pi01) -
			       xlogy(t[1][0], 1 - pi11) -
			       xlogy(t[1][1], pi11)));
	o->cc = o->pof + o->ind;
	o->pof_p = chi2_sf1(o->pof);
	o->ind_p = chi2_sf1(o->ind);
	o->cc_p = chi2_sf2(o->cc);
	cdf = risk_binom_cdf(o->exceptions, n, p);
	o->zone = x == 0 || cdf < 0.95 ? 0 : cdf < 0.9999 ? 1 : 2;
}
