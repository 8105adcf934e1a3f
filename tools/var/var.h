/*
 * var.h - fs-var's parts: the numerics (risk.c) and the tool (var.c).
 */
#ifndef FS_VAR_H
#define FS_VAR_H

#include <stddef.h>
#include <stdint.h>

/* ---- the normal distribution ---- */
double risk_pnorm(double x);		/* P(Z <= x) */
double risk_dnorm(double x);		/* density */
/* The p-quantile of N(0,1), 0 < p < 1, to about 1e-15 relative. */
double risk_qnorm(double p);

/*
 * The q-quantile (0 <= q <= 1) of n sorted values, linear interpolation
 * between order statistics (numpy.quantile's default): at h = (n-1)q,
 * s[floor h] + (h - floor h)(s[floor h + 1] - s[floor h]).
 */
double risk_quantile(const double *s, size_t n, double q);
/* Sort n doubles ascending. */
void risk_sort(double *v, size_t n);

/*
 * Pivoted Cholesky of the symmetric positive semi-definite n x n matrix
 * a (row-major, destroyed): L (n x n, row-major, columns past the rank
 * zero) with a = L L^T up to the pivots whose remaining diagonal is at
 * most tol times the largest diagonal.  Returns the rank r; columns
 * 0..r-1 of L hold the factor in the original order of the rows (no
 * permutation is left to undo).
 */
size_t risk_pchol(double *a, size_t n, double *l, double tol);

/* ---- a seeded generator: xoshiro256** ---- */
struct risk_rng {
	uint64_t s[4];
	double spare;
	int has_spare;
};
void risk_rng_seed(struct risk_rng *g, uint64_t seed);
double risk_uniform(struct risk_rng *g);	/* (0, 1) */
double risk_normal(struct risk_rng *g);		/* N(0, 1), polar method */
double risk_chi2(struct risk_rng *g, double dof);	/* chi-square */

/* ---- backtests ---- */
/* P(X <= x) for X ~ Binomial(n, p), 0 < p < 1. */
double risk_binom_cdf(uint64_t x, uint64_t n, double p);

struct risk_bt {
	uint64_t n, exceptions;
	double pof, pof_p;	/* Kupiec's proportion of failures, chi2(1) */
	double ind, ind_p;	/* Christoffersen's independence, chi2(1) */
	double cc, cc_p;	/* conditional coverage = pof + ind, chi2(2) */
	int zone;		/* Basel: 0 green, 1 yellow, 2 red */
};
/*
 * The statistics of the n exception indicators ex[] (0 or 1, oldest
 * first) of a VaR at level 1 - p: the likelihood ratios with the
 * convention 0 log 0 = 0, their p-values, and the traffic-light zone
 * from the binomial P(X <= exceptions): green below 0.95 (and always
 * with no exception), yellow below 0.9999, red beyond.
 */
void risk_backtest(const uint8_t *ex, size_t n, double p,
		   struct risk_bt *o);

#endif
