/*
 * shap.c - exact path-dependent TreeSHAP (Lundberg, Erion and Lee 2018,
 * "Consistent individualized feature attribution for tree ensembles",
 * Algorithm 2), as XGBoost's pred_contribs computes it: node covers
 * (hessian sums, or LightGBM's data counts) weigh the paths not taken,
 * the bias column holds the base margin plus each tree's mean output.
 * Sums are in double; the result is in margin space.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "score.h"

struct path_el {
	int feat;
	double zero, one, pw;
};

struct shap_work {
	struct path_el *path;	/* (depth + 2)(depth + 3)/2 elements */
};

struct shap_work *shap_work_new(const struct model *m)
{
	struct shap_work *w = fs_xcalloc(1, sizeof(*w));
	size_t d = (size_t)m->max_depth + 3;

	w->path = fs_xcalloc(d * (d + 1) / 2, sizeof(*w->path));
	return w;
}

void shap_work_free(struct shap_work *w)
{
	if (!w)
		return;
	free(w->path);
	free(w);
}

static void extend(struct path_el *p, int ud, double zero, double one,
		   int feat)
{
	p[ud].feat = feat;
	p[ud].zero = zero;
	p[ud].one = one;
	p[ud].pw = ud == 0 ? 1 : 0;
	for (int i = ud - 1; i >= 0; i--) {
		p[i + 1].pw += one * p[i].pw * (i + 1) / (double)(ud + 1);
		p[i].pw = zero * p[i].pw * (ud - i) / (double)(ud + 1);
	}
}

static void unwind(struct path_el *p, int ud, int pi)
{
	double one = p[pi].one, zero = p[pi].zero, next = p[ud].pw;

	for (int i = ud - 1; i >= 0; i--) {
		if (one != 0) {
			double tmp = p[i].pw;

			p[i].pw = next * (ud + 1) / ((double)(i + 1) * one);
			next = tmp - p[i].pw * zero * (ud - i) /
				     (double)(ud + 1);
		} else {
			p[i].pw = p[i].pw * (ud + 1) / (zero * (ud - i));
		}
	}
	for (int i = pi; i < ud; i++) {
		p[i].feat = p[i + 1].feat;
		p[i].zero = p[i + 1].zero;
		p[i].one = p[i + 1].one;
	}
}

static double unwound_sum(const struct path_el *p, int ud, int pi)
{
	double one = p[pi].one, zero = p[pi].zero, next = p[ud].pw;
	double total = 0;

	for (int i = ud - 1; i >= 0; i--) {
		if (one != 0) {
			double tmp = next * (ud + 1) / ((double)(i + 1) * one);

			total += tmp;
			next = p[i].pw - tmp * zero * ((ud - i) /
						       (double)(ud + 1));
		} else if (zero != 0) {
			total += (p[i].pw / zero) /
				 ((ud - i) / (double)(ud + 1));
		}
	}
	return total;
}

/* The child a row takes at internal node nd (the "hot" one). */
static int32_t hot_child(const struct model *m, const struct mnode *nd,
			 const float *row)
{
	float x = row[nd->feat];
	int miss = isnan(x) || (nd->zero_missing && fabsf(x) <= 1e-35f);

	if (nd->cat)
		return fs_cat_left(m->cats, nd->cat_off, x,
				   nd->cat == CAT_IN_LEFT, nd->default_left) ?
			       nd->left : nd->right;
	if (miss)
		return nd->default_left ? nd->left : nd->right;
	return x < nd->thr ? nd->left : nd->right;
}

struct shap_ctx {
	const struct model *m;
	const struct mtree *t;
	const float *row;
	double *phi;
	double scale;
};

static void recurse(const struct shap_ctx *c, int32_t ni, int ud,
		    struct path_el *parent, double pzero, double pone,
		    int pfeat)
{
	const struct mnode *nd = &c->t->nodes[ni];
	struct path_el *p = parent + ud + 1;
	int32_t hot, cold;
	double izero = 1, ione = 1, w;
	int pi;

	memcpy(p, parent, sizeof(*p) * (ud + 1));
	extend(p, ud, pzero, pone, pfeat);
	if (nd->feat < 0) {
		for (int i = 1; i <= ud; i++) {
			double s = unwound_sum(p, ud, i);

			c->phi[p[i].feat] += s * (p[i].one - p[i].zero) *
					     nd->value * c->scale;
		}
		return;
	}
	hot = hot_child(c->m, nd, c->row);
	cold = hot == nd->left ? nd->right : nd->left;
	w = nd->cover;
	for (pi = 0; pi <= ud; pi++)
		if (p[pi].feat == nd->feat)
			break;
	if (pi != ud + 1) {
		izero = p[pi].zero;
		ione = p[pi].one;
		unwind(p, ud, pi);
		ud--;
	}
	recurse(c, hot, ud + 1, p,
		(w != 0 ? c->t->nodes[hot].cover / w : 0) * izero, ione,
		nd->feat);
	recurse(c, cold, ud + 1, p,
		(w != 0 ? c->t->nodes[cold].cover / w : 0) * izero, 0,
		nd->feat);
}

void shap_row(const struct model *m, struct shap_work *w, const float *row,
	      double *phi, int cls)
{
	struct shap_ctx c = { .m = m, .row = row, .phi = phi,
			      .scale = m->out_scale };

	if (m->type == MODEL_LOGIT) {
		logit_contrib(m, row, phi);
		return;
	}
	phi[m->nfeat] += m->base_margin;
	for (int i = 0; i < m->ntrees; i++) {
		c.t = &m->trees[i];
		if (c.t->cls != cls)
			continue;
		phi[m->nfeat] += c.t->mean[0] * m->out_scale;
		if (c.t->nodes[0].feat < 0)
			continue;
		recurse(&c, 0, 0, w->path, 1, 1, -1);
	}
}
