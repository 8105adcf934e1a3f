/*
 * model_lgbm.c - LightGBM's text model format (Booster.save_model()):
 * a header of key=value lines, then "Tree=N" blocks, then "end of
 * trees".  A numerical split sends a row left when x <= threshold (a
 * double); decision_type bit 1 is default_left, bits 2-3 the missing
 * type (0 none: NaN counts as 0; 1 zero: 0 and NaN are missing; 2 NaN).
 * A categorical split (decision_type bit 0) has for threshold the index
 * of its bitset in cat_boundaries/cat_threshold; the categories in the
 * set go left, others, negative values and NaN right
 * (Tree::CategoricalDecision).  A child < 0 is leaf ~child.  Outputs
 * are summed in double; tree i adds to class i % num_class.
 *
 * The double threshold becomes a float one with the same meaning for
 * float inputs: x <= t  <=>  x < next float above the largest float <= t.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "score.h"

#define LGBM_ZERO 1e-35f

struct lgbm_tree {
	int nleaves;
	double *split_feature, *threshold, *decision_type, *left, *right;
	double *leaf_value, *leaf_count, *internal_count;
	int n[8];		/* entries parsed per array */
	int num_cat, is_linear;
	double *cat_bound, *cat_thr;	/* cat_boundaries, cat_threshold */
	int n_bound, n_thr;
};

/* The value of "key=" in line [s, e), or NULL. */
static const char *value_of(const char *s, const char *e, const char *key,
			    size_t *vlen)
{
	size_t k = strlen(key);

	if ((size_t)(e - s) <= k || memcmp(s, key, k) != 0 || s[k] != '=')
		return NULL;
	*vlen = (size_t)(e - s) - k - 1;
	return s + k + 1;
}

/* Parse up to max space-separated numbers of [s, s+n) into *out. */
static int numbers(const char *s, size_t n, double **out, int max)
{
	char *tmp = model_strndup(s, n), *p = tmp, *end;
	int k = 0;

	*out = fs_xmalloc(sizeof(double) * (max > 0 ? max : 1));
	for (;;) {
		while (*p == ' ')
			p++;
		if (!*p || *p == '\r')
			break;
		if (k >= max) {
			k = -1;
			break;
		}
		(*out)[k] = strtod(p, &end);
		if (end == p || (*end && *end != ' ' && *end != '\r')) {
			k = -1;
			break;
		}
		k++;
		p = end;
	}
	free(tmp);
	return k;
}

static void tree_free(struct lgbm_tree *t)
{
	free(t->split_feature);
	free(t->threshold);
	free(t->decision_type);
	free(t->left);
	free(t->right);
	free(t->leaf_value);
	free(t->leaf_count);
	free(t->internal_count);
	free(t->cat_bound);
	free(t->cat_thr);
	memset(t, 0, sizeof(*t));
}

/* One key=value line of a tree block into t; -1 on a bad value. */
static int tree_line(struct lgbm_tree *t, const char *s, const char *e)
{
	static const char *const keys[8] = {
		"split_feature", "threshold", "decision_type", "left_child",
		"right_child", "leaf_value", "leaf_count", "internal_count",
	};
	double **dst[8] = {
		&t->split_feature, &t->threshold, &t->decision_type, &t->left,
		&t->right, &t->leaf_value, &t->leaf_count, &t->internal_count,
	};
	const char *v;
	size_t vl;
	double d;

	if ((v = value_of(s, e, "num_leaves", &vl)) ||
	    (v = value_of(s, e, "num_cat", &vl)) ||
	    (v = value_of(s, e, "is_linear", &vl))) {
		double *one;
		int k = numbers(v, vl, &one, 1);

		d = k == 1 ? one[0] : -1;
		free(one);
		if (!(d >= 0 && d <= MODEL_MAX_NODES) || d != floor(d))
			return -1;
		if (s[4] == 'l')
			t->nleaves = (int)d;
		else if (s[0] == 'n')
			t->num_cat = (int)d;
		else
			t->is_linear = (int)d;
		return 0;
	}
	if ((v = value_of(s, e, "cat_boundaries", &vl))) {
		if (t->cat_bound)
			return -1;
		t->n_bound = numbers(v, vl, &t->cat_bound, t->num_cat + 1);
		return t->n_bound < 0 ? -1 : 0;
	}
	if ((v = value_of(s, e, "cat_threshold", &vl))) {
		if (t->cat_thr)
			return -1;
		t->n_thr = numbers(v, vl, &t->cat_thr, (int)(vl / 2 + 1));
		return t->n_thr < 0 ? -1 : 0;
	}
	for (int k = 0; k < 8; k++) {
		if (!(v = value_of(s, e, keys[k], &vl)))
			continue;
		if (t->nleaves < 1 || *dst[k])
			return -1;
		t->n[k] = numbers(v, vl, dst[k], t->nleaves);
		return t->n[k] < 0 ? -1 : 0;
	}
	return 0;
}

/* The float threshold equivalent to x <= t (see the top comment). */
static float lgbm_thr(double t)
{
	float f = (float)t;

	if (isnan(t))
		return NAN;
	if ((double)f > t)
		f = nextafterf(f, -INFINITY);
	return nextafterf(f, INFINITY);
}

/* A child reference: internal node c, or leaf ~c placed after them. */
static int32_t child(double c, int ninternal, int nleaves)
{
	if (c != floor(c) || c >= ninternal || c < -nleaves)
		return -1;
	return c >= 0 ? (int32_t)c : ninternal + (int32_t)(-c - 1);
}

/*
 * Make nd a categorical node with bitset cat_idx of lt: the words
 * cat_threshold[cat_boundaries[i] .. cat_boundaries[i + 1]).
 */
static int cat_node(struct model *m, const struct lgbm_tree *lt,
		    struct mnode *nd, double cat_idx)
{
	uint32_t w[256] = { 0 }, *words = w;
	double lo, hi;
	int n;

	if (cat_idx != floor(cat_idx) || cat_idx < 0 ||
	    cat_idx >= lt->num_cat)
		return -1;
	lo = lt->cat_bound[(int)cat_idx];
	hi = lt->cat_bound[(int)cat_idx + 1];
	if (lo != floor(lo) || hi != floor(hi) || lo < 0 || hi < lo ||
	    hi > lt->n_thr)
		return -1;
	n = (int)(hi - lo);
	if (n > 256)
		words = fs_xmalloc(sizeof(uint32_t) * n);
	for (int k = 0; k < n; k++) {
		double v = lt->cat_thr[(int)lo + k];

		if (v != floor(v) || v < 0 || v > 4294967295.0) {
			if (words != w)
				free(words);
			return -1;
		}
		words[k] = (uint32_t)v;
	}
	nd->cat = CAT_IN_LEFT;
	nd->cat_off = model_add_cats(m, words, (uint32_t)n);
	nd->default_left = 0;	/* NaN goes right */
	if (words != w)
		free(words);
	return 0;
}

/* Convert a parsed tree block into m's tree ti. */
static int build_tree(struct model *m, struct lgbm_tree *lt, int ti,
		      char *err, size_t errlen)
{
	struct mtree *t = &m->trees[ti];
	int ni = lt->nleaves - 1, nl = lt->nleaves;

	if (lt->is_linear)
		return model_err(err, errlen, "tree %d: linear trees are not "
				 "supported", ti);
	if (lt->num_cat > 0 && (lt->n_bound != lt->num_cat + 1 ||
				!lt->cat_thr))
		return model_err(err, errlen, "tree %d: num_cat %d without its "
				 "cat_boundaries and cat_threshold", ti,
				 lt->num_cat);
	t->cls = ti % m->nclass;
	if (nl < 1 || lt->n[5] != nl)
		return model_err(err, errlen, "tree %d: bad num_leaves or "
				 "leaf_value", ti);
	for (int k = 0; k < 5 && ni > 0; k++)
		if (lt->n[k] != ni)
			return model_err(err, errlen, "tree %d: split arrays "
					 "do not have %d entries", ti, ni);
	t->nnodes = ni + nl;
	t->nodes = fs_xcalloc(t->nnodes, sizeof(*t->nodes));
	for (int i = 0; i < ni; i++) {
		struct mnode *nd = &t->nodes[i];
		double f = lt->split_feature[i];
		double dd = lt->decision_type[i];
		int dt = dd >= 0 && dd <= 255 ? (int)dd : 0;

		if (dd != dt)
			return model_err(err, errlen, "tree %d: bad "
					 "decision_type", ti);
		if (f != floor(f) || f < 0 || f >= m->nfeat)
			return model_err(err, errlen, "tree %d: bad "
					 "split_feature", ti);
		nd->feat = (int32_t)f;
		nd->left = child(lt->left[i], ni, nl);
		nd->right = child(lt->right[i], ni, nl);
		nd->cover = lt->internal_count ? lt->internal_count[i] : 1;
		if (dt & 1) {
			if (cat_node(m, lt, nd, lt->threshold[i]) < 0)
				return model_err(err, errlen, "tree %d node "
						 "%d: bad categorical split",
						 ti, i);
			continue;
		}
		nd->thr = lgbm_thr(lt->threshold[i]);
		switch ((dt >> 2) & 3) {
		case 0:	/* NaN is taken as 0, then compared */
			nd->default_left = 0.0 <= lt->threshold[i];
			break;
		case 1:
			nd->default_left = (dt >> 1) & 1;
			nd->zero_missing = 1;
			break;
		default:
			nd->default_left = (dt >> 1) & 1;
		}
	}
	for (int i = 0; i < nl; i++) {
		struct mnode *nd = &t->nodes[ni + i];

		nd->feat = -1;
		nd->value = lt->leaf_value[i];
		nd->cover = lt->leaf_count ? lt->leaf_count[i] : 1;
	}
	if ((lt->internal_count && lt->n[7] != ni) ||
	    (lt->leaf_count && lt->n[6] != nl))
		return model_err(err, errlen, "tree %d: bad counts", ti);
	return 0;
}

/* Header lines: objective, feature names, averaging. */
static int header_line(struct model *m, const char *s, const char *e,
		       char *err, size_t errlen)
{
	const char *v;
	size_t vl;

	if ((v = value_of(s, e, "objective", &vl))) {
		const char *sg = memmem(v, vl, "sigmoid:", 8);

		snprintf(m->objective, sizeof(m->objective), "%.*s",
			 (int)vl, v);
		if (sg) {
			double *k;
			size_t rest = vl - (size_t)(sg + 8 - v);
			const char *sp = memchr(sg, ' ', rest);
			int nk = numbers(sg + 8, sp ? (size_t)(sp - sg - 8)
						     : rest, &k, 1);

			m->link_scale = nk == 1 ? k[0] : NAN;
			free(k);
			if (!isfinite(m->link_scale))
				return model_err(err, errlen, "bad sigmoid");
		}
		return 0;
	}
	if ((v = value_of(s, e, "num_class", &vl))) {
		double *k;
		int nk = numbers(v, vl, &k, 1);
		double c = nk == 1 ? k[0] : 0;

		free(k);
		if (!(c >= 1 && c <= MODEL_MAX_CLASSES) || c != floor(c))
			return model_err(err, errlen, "bad num_class");
		m->nclass = (int)c;
		return 0;
	}
	if ((v = value_of(s, e, "feature_names", &vl))) {
		const char *p = v, *end = v + vl;

		if (m->names)
			return model_err(err, errlen, "feature_names twice");
		m->names = fs_xcalloc(MODEL_MAX_FEATURES, sizeof(char *));
		while (p < end && m->nfeat < MODEL_MAX_FEATURES) {
			const char *sp = memchr(p, ' ', (size_t)(end - p));
			const char *we = sp ? sp : end;

			if (we > p && we[-1] == '\r')
				we--;
			if (we > p)
				m->names[m->nfeat++] =
					model_strndup(p, (size_t)(we - p));
			p = sp ? sp + 1 : end;
		}
		return 0;
	}
	if (value_of(s, e, "average_output", &vl) ||
	    (e - s == 14 && memcmp(s, "average_output", 14) == 0))
		m->out_scale = -1;	/* set to 1/ntrees at the end */
	return 0;
}

/* Whether the objective line has the word w after its name. */
static int has_word(const char *obj, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = strchr(obj, ' '); p; p = strchr(p + 1, ' '))
		if (!strncmp(p + 1, w, n) && (p[n + 1] == ' ' || !p[n + 1]))
			return 1;
	return 0;
}

/*
 * The link from the objective line, as the objective's ConvertOutput
 * (LightGBM, src/objective) turns a raw score into a prediction:
 * regression_objective.hpp: RegressionL2loss and the losses derived
 * from it (regression_l1, huber, fair, quantile, mape) return the raw
 * score, or sign(x) x^2 when trained on sqrt labels ("sqrt");
 * RegressionPoissonLoss and its gamma and tweedie exp(x), sqrt or not;
 * binary_objective.hpp: 1 / (1 + exp(-sigmoid x));
 * xentropy_objective.hpp: cross_entropy 1 / (1 + exp(-x)),
 * cross_entropy_lambda log(1 + exp(x));
 * multiclass_objective.hpp: multiclass softmax, multiclassova one
 * sigmoid per class; rank_objective.hpp (lambdarank, rank_xendcg): the
 * raw score.
 */
static int set_link(struct model *m, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		int link;
	} objs[] = {
		{ "regression", LINK_IDENTITY },
		{ "regression_l1", LINK_IDENTITY },
		{ "huber", LINK_IDENTITY }, { "fair", LINK_IDENTITY },
		{ "quantile", LINK_IDENTITY }, { "mape", LINK_IDENTITY },
		{ "poisson", LINK_EXP }, { "gamma", LINK_EXP },
		{ "tweedie", LINK_EXP }, { "binary", LINK_SIGMOID },
		{ "cross_entropy", LINK_SIGMOID },
		{ "cross_entropy_lambda", LINK_SOFTPLUS },
		{ "multiclass", LINK_SOFTMAX }, { "multiclassova", LINK_OVA },
		{ "lambdarank", LINK_IDENTITY }, { "rank_xendcg", LINK_IDENTITY },
	};
	size_t w = strcspn(m->objective, " ");
	size_t i, n = sizeof(objs) / sizeof(objs[0]);

	if (w == 0)
		return model_err(err, errlen, "no objective");
	for (i = 0; i < n; i++)
		if (strlen(objs[i].name) == w &&
		    !memcmp(m->objective, objs[i].name, w))
			break;
	if (i == n)
		return model_err(err, errlen, "unsupported objective '%.*s'",
				 (int)(w < 40 ? w : 40), m->objective);
	m->link = objs[i].link;
	if (m->link == LINK_IDENTITY && i < 6 && has_word(m->objective, "sqrt"))
		m->link = LINK_SQUARE;
	if (m->link != LINK_SIGMOID && m->link != LINK_OVA)
		m->link_scale = 1;
	if (m->link == LINK_SIGMOID && strcmp(objs[i].name, "binary"))
		m->link_scale = 1;	/* cross_entropy: no sigmoid:k */
	if ((m->link == LINK_SOFTMAX || m->link == LINK_OVA) !=
	    (m->nclass > 1))
		return model_err(err, errlen, "objective '%.*s' with "
				 "num_class %d", (int)(w < 40 ? w : 40),
				 m->objective, m->nclass);
	return 0;
}

/* Finish the current tree block (if any) into m. */
static int end_tree(struct model *m, struct lgbm_tree *lt, int *in_tree,
		    char *err, size_t errlen)
{
	int rc = 0;

	if (!*in_tree)
		return 0;
	if (!m->names)
		rc = model_err(err, errlen, "no feature_names before trees");
	if (rc == 0) {
		m->trees = fs_xrealloc(m->trees, sizeof(*m->trees) *
				       (m->ntrees + 1));
		memset(&m->trees[m->ntrees], 0, sizeof(*m->trees));
		m->ntrees++;
		rc = build_tree(m, lt, m->ntrees - 1, err, errlen);
	}
	tree_free(lt);
	*in_tree = 0;
	return rc;
}

int lgbm_parse(struct model *m, const char *buf, size_t len, char *err,
	       size_t errlen)
{
	const char *p = buf, *end = buf + len;
	struct lgbm_tree lt;
	int in_tree = 0, done = 0, rc = 0, line = 0;

	memset(&lt, 0, sizeof(lt));
	m->type = MODEL_LGBM;
	m->acc_double = 1;
	while (p < end && !done && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;

		line++;
		if (e > p && e[-1] == '\r')
			e--;
		if (e - p >= 5 && memcmp(p, "Tree=", 5) == 0) {
			rc = end_tree(m, &lt, &in_tree, err, errlen);
			in_tree = 1;
		} else if (e - p == 12 && memcmp(p, "end of trees", 12) == 0) {
			rc = end_tree(m, &lt, &in_tree, err, errlen);
			done = 1;
		} else if (in_tree) {
			if (tree_line(&lt, p, e) < 0)
				rc = model_err(err, errlen, "bad tree value "
					       "(line %d)", line);
		} else if (memchr(p, '\0', (size_t)(e - p))) {
			rc = model_err(err, errlen, "NUL byte (line %d)", line);
		} else {
			rc = header_line(m, p, e, err, errlen);
		}
		p = nl ? nl + 1 : end;
	}
	tree_free(&lt);
	if (rc == 0 && !done)
		rc = model_err(err, errlen, "truncated: no 'end of trees'");
	if (rc == 0 && m->ntrees == 0)
		rc = model_err(err, errlen, "no trees");
	if (rc == 0)
		rc = set_link(m, err, errlen);
	if (rc == 0 && m->ntrees % m->nclass)
		rc = model_err(err, errlen, "%d trees for %d classes",
			       m->ntrees, m->nclass);
	/* average_output: the mean over iterations (GBDT::PredictRaw) */
	if (rc == 0 && m->out_scale < 0)
		m->out_scale = (double)m->nclass / m->ntrees;
	return rc;
}
