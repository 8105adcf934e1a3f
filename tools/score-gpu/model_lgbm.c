/*
 * model_lgbm.c - LightGBM's text model format (Booster.save_model()):
 * a header of key=value lines, then "Tree=N" blocks, then "end of
 * trees".  Numerical splits only: a row goes left when x <= threshold
 * (a double); decision_type bit 1 is default_left, bits 2-3 the missing
 * type (0 none: NaN counts as 0; 1 zero: 0 and NaN are missing; 2 NaN).
 * A child < 0 is leaf ~child.  Outputs are summed in double.
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

/* Convert a parsed tree block into m's tree ti. */
static int build_tree(struct model *m, struct lgbm_tree *lt, int ti,
		      char *err, size_t errlen)
{
	struct mtree *t = &m->trees[ti];
	int ni = lt->nleaves - 1, nl = lt->nleaves;

	if (lt->num_cat > 0 || lt->is_linear)
		return model_err(err, errlen, "tree %d: categorical splits and "
				 "linear trees are not supported", ti);
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
		if (dt & 1)
			return model_err(err, errlen, "tree %d: categorical "
					 "splits are not supported", ti);
		nd->feat = (int32_t)f;
		nd->left = child(lt->left[i], ni, nl);
		nd->right = child(lt->right[i], ni, nl);
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
		nd->cover = lt->internal_count ? lt->internal_count[i] : 1;
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
	if ((v = value_of(s, e, "num_class", &vl)) && !(vl == 1 && *v == '1'))
		return model_err(err, errlen, "multi-class models are not "
				 "supported");
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

/* The link from the objective's first word. */
static int set_link(struct model *m, char *err, size_t errlen)
{
	static const char *const sig[] = { "binary", "cross_entropy",
					   "xentropy", NULL };
	static const char *const ex[] = { "poisson", "gamma", "tweedie",
					  NULL };
	size_t w = strcspn(m->objective, " ");

	if (w == 0)
		return model_err(err, errlen, "no objective");
	for (int i = 0; sig[i]; i++)
		if (strlen(sig[i]) == w && !memcmp(m->objective, sig[i], w))
			m->link = LINK_SIGMOID;
	for (int i = 0; ex[i]; i++)
		if (strlen(ex[i]) == w && !memcmp(m->objective, ex[i], w))
			m->link = LINK_EXP;
	if (!strncmp(m->objective, "multiclass", 10) ||
	    !strncmp(m->objective, "lambdarank", 10) ||
	    !strncmp(m->objective, "rank_xendcg", 11))
		return model_err(err, errlen, "objective '%s' is not "
				 "supported", m->objective);
	if (m->link != LINK_SIGMOID)
		m->link_scale = 1;
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
	if (rc == 0 && m->out_scale < 0)
		m->out_scale = 1.0 / m->ntrees;
	return rc;
}
