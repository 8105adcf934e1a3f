/*
 * forest.c - tree ensembles flattened for fast batch scoring.
 *
 * Each tree's nodes are laid out breadth first in one array of 16-byte
 * nodes; a leaf points at itself, so a row walks exactly depth[t] steps
 * and lands on its leaf without a data-dependent loop exit.  Rows are
 * scored in blocks of BLK: for each tree, all rows of the block take one
 * step, then the next, so the loads of different rows overlap instead
 * of waiting on each other.  XGBoost models sum in float in tree order,
 * as XGBoost does (bit-identical margins); LightGBM models in double.
 * Multi-class models keep their trees class by class, each class's in
 * model order, and give each row one margin per class.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "score.h"

#define BLK 64

/* The FNODE_* flags and feature of internal node nd. */
static uint32_t node_feat(const struct mnode *nd)
{
	return (uint32_t)nd->feat |
	       (nd->default_left ? FNODE_DEFAULT_LEFT : 0) |
	       (nd->zero_missing ? FNODE_ZERO_MISSING : 0) |
	       (nd->cat ? FNODE_CAT : 0) |
	       (nd->cat == CAT_IN_LEFT ? FNODE_CAT_IN_LEFT : 0);
}

/* Lay tree t out breadth first from node base in f; returns its size. */
static int32_t flatten(struct forest *f, const struct mtree *t, int64_t base)
{
	int32_t *map = fs_xmalloc(sizeof(int32_t) * t->nnodes);
	int32_t *order = fs_xmalloc(sizeof(int32_t) * t->nnodes);
	int32_t head = 0, tail = 0;

	order[tail] = 0;
	map[0] = tail++;
	while (head < tail) {
		const struct mnode *nd = &t->nodes[order[head++]];

		if (nd->feat < 0)
			continue;
		order[tail] = nd->left;
		map[nd->left] = tail++;
		order[tail] = nd->right;
		map[nd->right] = tail++;
	}
	for (int32_t k = 0; k < tail; k++) {
		const struct mnode *nd = &t->nodes[order[k]];
		struct fnode *o = &f->nodes[base + k];

		if (nd->feat < 0) {
			o->thr = 0;
			o->feat = 0;
			o->left = o->right = k;
			f->leaf_f[base + k] = (float)nd->value;
			f->leaf_d[base + k] = nd->value;
			continue;
		}
		if (nd->cat)
			o->cat = nd->cat_off;
		else
			o->thr = nd->thr;
		o->feat = node_feat(nd);
		o->left = map[nd->left];
		o->right = map[nd->right];
		f->leaf_f[base + k] = 0;
		f->leaf_d[base + k] = 0;
		if (nd->zero_missing)
			f->has_zero_missing = 1;
		if (nd->cat)
			f->has_cat = 1;
	}
	free(map);
	free(order);
	return tail;
}

/* Fill the subtree of node ni at (level, pos) of a perfect tree of depth d. */
static void perfect_fill(const struct mtree *t, int32_t ni, int level,
			 int64_t pos, int d, float *thr, uint32_t *feat,
			 float *lf, double *ld)
{
	const struct mnode *nd = &t->nodes[ni];

	if (nd->feat < 0) {
		/* a shallow leaf: every leaf below it gets its value */
		int64_t lo = pos << (d - level), hi = (pos + 1) << (d - level);

		for (int64_t k = lo; k < hi; k++) {
			lf[k] = (float)nd->value;
			ld[k] = nd->value;
		}
		return;	/* padding nodes below stay feat 0, thr 0 */
	}
	thr[((int64_t)1 << level) - 1 + pos] = nd->thr;
	feat[((int64_t)1 << level) - 1 + pos] = node_feat(nd);
	perfect_fill(t, nd->left, level + 1, 2 * pos, d, thr, feat, lf, ld);
	perfect_fill(t, nd->right, level + 1, 2 * pos + 1, d, thr, feat, lf,
		     ld);
}

/* Whether tree t has a categorical split. */
static int has_cat(const struct mtree *t)
{
	for (int32_t i = 0; i < t->nnodes; i++)
		if (t->nodes[i].feat >= 0 && t->nodes[i].cat)
			return 1;
	return 0;
}

/*
 * The perfect-tree copy for the AVX-512 kernel, of f's trees (tree i of
 * f is model tree order[i]).
 */
static void build_perfect(struct forest *f, const struct model *m,
			  const int32_t *order)
{
	int64_t ni = 0, nl = 0;

	f->pdepth = fs_xcalloc(m->ntrees + 1, sizeof(int32_t));
	f->poff = fs_xcalloc(m->ntrees + 1, sizeof(int64_t));
	f->pleaf_off = fs_xcalloc(m->ntrees + 1, sizeof(int64_t));
	for (int i = 0; i < m->ntrees; i++) {
		const struct mtree *t = &m->trees[order[i]];
		int d = t->depth;

		/*
		 * deep or sparse trees keep the generic walk (memory), and
		 * so do trees with categorical splits
		 */
		f->pdepth[i] = d <= PERFECT_MAX_DEPTH && !has_cat(t) &&
			       (2 << d) <= 4 * t->nnodes + 64 ? d : -1;
		f->poff[i] = ni;
		f->pleaf_off[i] = nl;
		if (f->pdepth[i] >= 0) {
			ni += ((int64_t)1 << d) - 1;
			nl += (int64_t)1 << d;
		}
	}
	/* slack of 16 so level loads of 16 lanes never leave the arrays */
	f->pthr = fs_xcalloc(ni + 16, sizeof(float));
	f->pfeat = fs_xcalloc(ni + 16, sizeof(uint32_t));
	f->pleaf_f = fs_xcalloc(nl + 16, sizeof(float));
	f->pleaf_d = fs_xcalloc(nl + 16, sizeof(double));
	for (int i = 0; i < m->ntrees; i++)
		if (f->pdepth[i] >= 0)
			perfect_fill(&m->trees[order[i]], 0, 0, 0, f->pdepth[i],
				     f->pthr + f->poff[i],
				     f->pfeat + f->poff[i],
				     f->pleaf_f + f->pleaf_off[i],
				     f->pleaf_d + f->pleaf_off[i]);
}

struct forest *forest_build(const struct model *m)
{
	struct forest *f = fs_xcalloc(1, sizeof(*f));
	int32_t *order = fs_xcalloc(m->ntrees + 1, sizeof(int32_t));
	int64_t total = 0, at = 0;
	int k = 0;

	for (int i = 0; i < m->ntrees; i++)
		total += m->trees[i].nnodes;
	f->ntrees = m->ntrees;
	f->nfeat = m->nfeat;
	f->nclass = m->nclass;
	f->acc_double = m->acc_double;
	f->base_f = (float)m->base_margin;
	f->base_d = m->base_margin;
	f->out_scale = m->out_scale;
	f->cls_first = fs_xcalloc(m->nclass + 1, sizeof(int32_t));
	for (int c = 0; c < m->nclass; c++) {
		f->cls_first[c] = k;
		for (int i = 0; i < m->ntrees; i++)
			if (m->trees[i].cls == c)
				order[k++] = i;
	}
	f->cls_first[m->nclass] = k;
	f->cats = fs_xcalloc(m->ncats + 1, sizeof(uint32_t));
	if (m->ncats)
		memcpy(f->cats, m->cats, sizeof(uint32_t) * m->ncats);
	f->ncats = m->ncats;
	f->root = fs_xcalloc(m->ntrees + 1, sizeof(int32_t));
	f->depth = fs_xcalloc(m->ntrees + 1, sizeof(int32_t));
	f->nodes = fs_xcalloc(total + 1, sizeof(struct fnode));
	f->leaf_f = fs_xcalloc(total + 1, sizeof(float));
	f->leaf_d = fs_xcalloc(total + 1, sizeof(double));
	for (int i = 0; i < m->ntrees; i++) {
		f->root[i] = (int32_t)at;
		f->depth[i] = m->trees[order[i]].depth;
		at += flatten(f, &m->trees[order[i]], at);
	}
	f->nnodes = at;
	if (forest_simd_ok() && !getenv("FS_SCORE_NO_SIMD")) {
		f->simd = 1;
		build_perfect(f, m, order);
	}
	free(order);
	return f;
}

void forest_free(struct forest *f)
{
	if (!f)
		return;
	free(f->root);
	free(f->depth);
	free(f->cls_first);
	free(f->cats);
	free(f->nodes);
	free(f->leaf_f);
	free(f->leaf_d);
	free(f->pdepth);
	free(f->poff);
	free(f->pleaf_off);
	free(f->pthr);
	free(f->pfeat);
	free(f->pleaf_f);
	free(f->pleaf_d);
	free(f);
}

/*
 * Walk one tree for n rows: idx[i] ends on row i's leaf (tree-local).
 * zm: the forest has zero-as-missing nodes (LightGBM); cat: it has
 * categorical nodes, whose sets are in cats.
 */
static inline void walk(const struct fnode *nd, int depth, const float *rows,
			int nfeat, int n, int32_t *idx, int zm, int cat,
			const uint32_t *cats)
{
	for (int i = 0; i < n; i++)
		idx[i] = 0;
	for (int d = 0; d < depth; d++) {
		for (int i = 0; i < n; i++) {
			const struct fnode *q = &nd[idx[i]];
			float x = rows[i * nfeat + (q->feat & FNODE_FEAT_MASK)];
			int miss = isnan(x);
			int dl = (q->feat & FNODE_DEFAULT_LEFT) != 0;
			int lt;

			if (cat && (q->feat & FNODE_CAT)) {
				lt = fs_cat_left(cats, q->cat, x,
						 (q->feat & FNODE_CAT_IN_LEFT)
						 != 0, dl);
				idx[i] = lt ? q->left : q->right;
				continue;
			}
			if (zm)
				miss |= (q->feat & FNODE_ZERO_MISSING) &&
					fabsf(x) <= 1e-35f;
			lt = (x < q->thr) & !miss;
			idx[i] = (lt | (miss & dl)) ? q->left : q->right;
		}
	}
}

/* Walk tree t with the walk this forest needs. */
static inline void walk_tree(const struct forest *f, int t, const float *rows,
			     int n, int32_t *idx, int zm)
{
	const struct fnode *nd = f->nodes + f->root[t];

	if (f->has_cat)
		walk(nd, f->depth[t], rows, f->nfeat, n, idx, 1, 1, f->cats);
	else if (zm)
		walk(nd, f->depth[t], rows, f->nfeat, n, idx, 1, 0, NULL);
	else
		walk(nd, f->depth[t], rows, f->nfeat, n, idx, 0, 0, NULL);
}

/* Float accumulation (XGBoost): base + tree 0 + tree 1 + ... per class. */
static void block_f(const struct forest *f, const float *rows, int n,
		    double *out, int zm)
{
	float acc[BLK];
	int32_t idx[BLK];

	for (int c = 0; c < f->nclass; c++) {
		for (int i = 0; i < n; i++)
			acc[i] = f->base_f;
		for (int t = f->cls_first[c]; t < f->cls_first[c + 1]; t++) {
			const float *lv = f->leaf_f + f->root[t];

			walk_tree(f, t, rows, n, idx, zm);
			for (int i = 0; i < n; i++)
				acc[i] += lv[idx[i]];
		}
		for (int i = 0; i < n; i++)
			out[i * f->nclass + c] = acc[i];
	}
}

/* Double accumulation (LightGBM), scaled for averaged forests. */
static void block_d(const struct forest *f, const float *rows, int n,
		    double *out, int zm)
{
	double acc[BLK];
	int32_t idx[BLK];

	for (int c = 0; c < f->nclass; c++) {
		for (int i = 0; i < n; i++)
			acc[i] = 0;
		for (int t = f->cls_first[c]; t < f->cls_first[c + 1]; t++) {
			const double *lv = f->leaf_d + f->root[t];

			walk_tree(f, t, rows, n, idx, zm);
			for (int i = 0; i < n; i++)
				acc[i] += lv[idx[i]];
		}
		for (int i = 0; i < n; i++)
			out[i * f->nclass + c] = f->base_d +
						 acc[i] * f->out_scale;
	}
}

void forest_walk(const struct forest *f, int t, const float *rows, int n,
		 int32_t *idx)
{
	walk_tree(f, t, rows, n, idx, f->has_zero_missing);
}

void forest_margin(const struct forest *f, const float *rows, int n,
		   double *out)
{
	for (int i = 0; i < n; i += BLK) {
		int k = n - i < BLK ? n - i : BLK;
		const float *r = rows + (size_t)i * f->nfeat;
		double *o = out + (size_t)i * f->nclass;

		if (f->simd)
			forest_block_simd(f, r, k, o);
		else if (f->acc_double)
			block_d(f, r, k, o, f->has_zero_missing);
		else if (f->has_zero_missing)
			block_f(f, r, k, o, 1);
		else
			block_f(f, r, k, o, 0);
	}
}
