/*
 * drift.c - score drift.  --save-reference keeps a bounded uniform
 * sample of the scores (reservoir sampling) and writes its deciles with
 * the fraction of scores in each bin:
 *
 *   fs-score-reference 1
 *   bins 10
 *   0.0123 0.1        upper edge of the bin, fraction of scores in it
 *   ...
 *   inf 0.1
 *
 * --reference reads it back; the population stability index of the
 * last N scores against it is PSI = sum (a - e) ln(a / e), with a and e
 * the actual and expected fractions (floored at 1e-4).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "score.h"
#include "snapbuf.h"

#define PSI_FLOOR 1e-4

struct drift {
	int nbins;
	double edge[DRIFT_MAX_BINS];	/* upper edges, last +inf */
	double ref[DRIFT_MAX_BINS];
	uint64_t count[DRIFT_MAX_BINS];
	uint8_t *ring;
	size_t win, pos, filled;
};

/* Parse "edge fraction" with edge "inf" allowed; -1 if malformed. */
static int bin_line(const char *s, double *edge, double *frac)
{
	char *end;

	while (*s == ' ')
		s++;
	if (strncmp(s, "inf", 3) == 0) {
		*edge = INFINITY;
		end = (char *)s + 3;
	} else {
		*edge = strtod(s, &end);
		if (end == s)
			return -1;
	}
	s = end;
	*frac = strtod(s, &end);
	if (end == s || !(*frac >= 0 && *frac <= 1))
		return -1;
	while (*end == ' ' || *end == '\n' || *end == '\r')
		end++;
	return *end ? -1 : 0;
}

static int read_ref(struct drift *d, FILE *fp, char *err, size_t errlen)
{
	char line[256];
	double sum = 0;

	if (!fgets(line, sizeof(line), fp) ||
	    strncmp(line, "fs-score-reference 1", 20) != 0)
		return model_err(err, errlen, "not a score reference file");
	if (!fgets(line, sizeof(line), fp) ||
	    sscanf(line, "bins %d", &d->nbins) != 1 || d->nbins < 2 ||
	    d->nbins > DRIFT_MAX_BINS)
		return model_err(err, errlen, "bad 'bins' line");
	for (int i = 0; i < d->nbins; i++) {
		if (!fgets(line, sizeof(line), fp) ||
		    bin_line(line, &d->edge[i], &d->ref[i]) < 0 ||
		    (i > 0 && !(d->edge[i] > d->edge[i - 1])))
			return model_err(err, errlen, "bad bin %d", i + 1);
		sum += d->ref[i];
	}
	if (!isinf(d->edge[d->nbins - 1]) || fabs(sum - 1) > 1e-3)
		return model_err(err, errlen, "bins do not cover all scores");
	return 0;
}

struct drift *drift_load(const char *path, size_t window, char *err,
			 size_t errlen)
{
	struct drift *d = fs_xcalloc(1, sizeof(*d));
	FILE *fp = fopen(path, "r");
	int rc;

	if (!fp) {
		model_err(err, errlen, "cannot open '%s': %s", path,
			  strerror(errno));
		free(d);
		return NULL;
	}
	fs_claim_fd(fileno(fp), path, 0);	/* no output may be it */
	rc = read_ref(d, fp, err, errlen);
	fclose(fp);
	if (rc < 0) {
		free(d);
		return NULL;
	}
	d->win = window < 1 ? 1 : window;
	d->ring = fs_xcalloc(d->win, 1);
	return d;
}

int drift_add(struct drift *d, double score)
{
	int b = 0;

	while (b < d->nbins - 1 && !(score <= d->edge[b]))
		b++;
	if (d->filled == d->win)
		d->count[d->ring[d->pos]]--;
	else
		d->filled++;
	d->ring[d->pos] = (uint8_t)b;
	d->count[b]++;
	d->pos = (d->pos + 1) % d->win;
	return d->filled == d->win;
}

int drift_full(const struct drift *d)
{
	return d->filled == d->win;
}

double drift_psi(const struct drift *d)
{
	double psi = 0;

	if (!d->filled)
		return 0;
	for (int i = 0; i < d->nbins; i++) {
		double a = (double)d->count[i] / (double)d->filled;
		double e = d->ref[i];

		a = a < PSI_FLOOR ? PSI_FLOOR : a;
		e = e < PSI_FLOOR ? PSI_FLOOR : e;
		psi += (a - e) * log(a / e);
	}
	return psi;
}

void drift_free(struct drift *d)
{
	if (!d)
		return;
	free(d->ring);
	free(d);
}

struct reservoir {
	double *v;
	size_t cap, n;
	uint64_t seen, rng;
};

struct reservoir *reservoir_new(size_t cap)
{
	struct reservoir *r = fs_xcalloc(1, sizeof(*r));

	r->cap = cap;
	r->v = fs_xmalloc(sizeof(double) * cap);
	r->rng = 0x9e3779b97f4a7c15ull;
	return r;
}

/* splitmix64: a fixed seed keeps --save-reference reproducible. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void reservoir_add(struct reservoir *r, double v)
{
	r->seen++;
	if (r->n < r->cap) {
		r->v[r->n++] = v;
		return;
	}
	uint64_t j = next_rand(&r->rng) % r->seen;

	if (j < r->cap)
		r->v[j] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int reservoir_save(const struct reservoir *r, const char *path, int nbins)
{
	double *s = fs_xmalloc(sizeof(double) * (r->n + 1));
	double edge[DRIFT_MAX_BINS];
	size_t cnt[DRIFT_MAX_BINS] = { 0 };
	int nb = 0, rc;
	FILE *fp;

	memcpy(s, r->v, sizeof(double) * r->n);
	qsort(s, r->n, sizeof(double), cmp_double);
	for (int i = 1; i < nbins && r->n; i++) {
		double e = s[(r->n * i) / nbins];

		if (nb == 0 || e > edge[nb - 1])
			edge[nb++] = e;
	}
	edge[nb++] = INFINITY;
	if (nb < 2) {	/* one distinct value: split just above it */
		edge[0] = r->n ? s[0] : 0;
		edge[1] = INFINITY;
		nb = 2;
	}
	for (size_t k = 0, b = 0; k < r->n; k++) {
		while (b < (size_t)nb - 1 && !(s[k] <= edge[b]))
			b++;
		cnt[b]++;
	}
	free(s);
	if (!(fp = fopen(path, "w")))
		return -1;
	fprintf(fp, "fs-score-reference 1\nbins %d\n", nb);
	for (int i = 0; i < nb; i++) {
		double frac = r->n ? (double)cnt[i] / (double)r->n : 1.0 / nb;

		if (isinf(edge[i]))
			fprintf(fp, "inf %.17g\n", frac);
		else
			fprintf(fp, "%.17g %.17g\n", edge[i], frac);
	}
	rc = ferror(fp) ? -1 : 0;
	if (fclose(fp) != 0)
		rc = -1;
	return rc;
}

void reservoir_free(struct reservoir *r)
{
	if (!r)
		return;
	free(r->v);
	free(r);
}

void drift_snap(const struct drift *d, struct sbuf *b)
{
	sb_u64(b, d->win);
	sb_u64(b, d->pos);
	sb_u64(b, d->filled);
	sb_u32(b, (uint32_t)d->nbins);
	for (int i = 0; i < d->nbins; i++)
		sb_u64(b, d->count[i]);
	sb_put(b, d->ring, d->filled < d->win ? d->filled : d->win);
}

int drift_unsnap(struct drift *d, struct srd *r)
{
	size_t n;

	if (sr_u64(r) != d->win)
		return sr_fail(r, "another --psi-window");
	d->pos = sr_u64(r);
	d->filled = sr_u64(r);
	if (sr_u32(r) != (uint32_t)d->nbins)
		return sr_fail(r, "another reference (bins)");
	for (int i = 0; i < d->nbins; i++)
		d->count[i] = sr_u64(r);
	if (d->pos >= d->win && d->win)
		return sr_fail(r, "bad drift window position");
	n = d->filled < d->win ? d->filled : d->win;
	sr_get(r, d->ring, n);
	return r->bad ? -1 : 0;
}

void reservoir_snap(const struct reservoir *res, struct sbuf *b)
{
	sb_u64(b, res->cap);
	sb_u64(b, res->n);
	sb_u64(b, res->seen);
	sb_u64(b, res->rng);
	sb_put(b, res->v, sizeof(double) * res->n);
}

int reservoir_unsnap(struct reservoir *res, struct srd *r)
{
	if (sr_u64(r) != res->cap)
		return sr_fail(r, "another reservoir size");
	res->n = sr_u64(r);
	res->seen = sr_u64(r);
	res->rng = sr_u64(r);
	if (res->n > res->cap)
		return sr_fail(r, "bad reservoir size");
	sr_get(r, res->v, sizeof(double) * res->n);
	return r->bad ? -1 : 0;
}
