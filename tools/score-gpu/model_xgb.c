/*
 * model_xgb.c - XGBoost's JSON model format, as Booster.save_model()
 * writes it (schema: doc/model.schema in XGBoost).  gbtree boosters
 * with one output per class; the base score is turned into a margin the
 * way the objective's ProbToMargin does (logit for the logistic ones, log
 * for the log-link ones); leaves hold their output in split_conditions;
 * missing values follow default_left.  Categorical splits (split_type 1)
 * take their category sets from categories_nodes/_segments/_sizes and
 * categories; XGBoost writes NaN as their split condition, and NaN and
 * Infinity are read as the numbers they stand for.  Multi-class models
 * (multi:softmax, multi:softprob) give one margin per class, the class
 * of each tree in tree_info.  dart, gblinear and multi-target trees are
 * refused with a message.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fs.h"
#include "score.h"

struct objective {
	const char *name;
	int link;
	int base;		/* 0 identity, 1 logit, 2 log */
};

/*
 * Every objective of XGBoost 1.7-2.1 with the transform its
 * PredTransform applies and the ProbToMargin its base score goes
 * through (src/objective/regression_obj.cu, multiclass_obj.cu,
 * hinge.cu, aft_obj.cu, rank_obj.cu / lambdarank_obj.cc).
 */
static const struct objective objectives[] = {
	{ "binary:hinge", LINK_HINGE, 0 },
	{ "binary:logistic", LINK_SIGMOID, 1 },
	{ "binary:logitraw", LINK_IDENTITY, 0 },
	{ "count:poisson", LINK_EXP, 2 },
	{ "multi:softmax", LINK_SOFTMAX, 0 },
	{ "multi:softprob", LINK_SOFTMAX, 0 },
	{ "rank:map", LINK_IDENTITY, 0 },
	{ "rank:ndcg", LINK_IDENTITY, 0 },
	{ "rank:pairwise", LINK_IDENTITY, 0 },
	{ "reg:absoluteerror", LINK_IDENTITY, 0 },
	{ "reg:gamma", LINK_EXP, 2 },
	{ "reg:linear", LINK_IDENTITY, 0 },
	{ "reg:logistic", LINK_SIGMOID, 1 },
	{ "reg:pseudohubererror", LINK_IDENTITY, 0 },
	{ "reg:quantileerror", LINK_IDENTITY, 0 },
	{ "reg:squarederror", LINK_IDENTITY, 0 },
	{ "reg:squaredlogerror", LINK_IDENTITY, 0 },
	{ "reg:tweedie", LINK_EXP, 2 },
	{ "survival:aft", LINK_EXP, 2 },
	{ "survival:cox", LINK_EXP, 2 },
	{ NULL, 0, 0 },
};

/* obj[a][b]... : the nested member, or NULL. */
static cJSON *path(cJSON *o, const char *a, const char *b, const char *c)
{
	const char *keys[3] = { a, b, c };

	for (int i = 0; i < 3 && keys[i] && o; i++)
		o = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o,
								       keys[i])
				      : NULL;
	return o;
}

/* A number held as a JSON string ("5E-1", "[5E-1]") or a number. */
static int num_value(const cJSON *v, double *out)
{
	const char *s;
	char *end;

	if (cJSON_IsNumber(v)) {
		*out = v->valuedouble;
		return 0;
	}
	if (!cJSON_IsString(v))
		return -1;
	s = v->valuestring;
	if (*s == '[')
		s++;
	*out = strtod(s, &end);
	if (end == s || (*end && !(*end == ']' && end[1] == '\0')))
		return -1;
	return 0;
}

/* Objective and base score into m. */
static int parse_objective(struct model *m, cJSON *learner, char *err,
			   size_t errlen)
{
	cJSON *on = path(learner, "objective", "name", NULL);
	cJSON *bs = path(learner, "learner_model_param", "base_score", NULL);
	cJSON *nc = path(learner, "learner_model_param", "num_class", NULL);
	const struct objective *o;
	double base, ncls = 0;

	if (!cJSON_IsString(on))
		return model_err(err, errlen, "no learner.objective.name");
	for (o = objectives; o->name; o++)
		if (strcmp(o->name, on->valuestring) == 0)
			break;
	if (!o->name)
		return model_err(err, errlen, "unsupported objective '%.40s'",
				 on->valuestring);
	if (nc && num_value(nc, &ncls) < 0)
		return model_err(err, errlen, "bad num_class");
	if (o->link == LINK_SOFTMAX) {
		if (!(ncls >= 2 && ncls <= MODEL_MAX_CLASSES))
			return model_err(err, errlen, "%s with num_class %g "
					 "(2 to %d expected)", o->name, ncls,
					 MODEL_MAX_CLASSES);
		m->nclass = (int)ncls;
	} else if (ncls > 1) {
		return model_err(err, errlen, "num_class %g with one-output "
				 "objective %s", ncls, o->name);
	}
	if (num_value(bs, &base) < 0 || !isfinite(base))
		return model_err(err, errlen, "bad or missing base_score");
	snprintf(m->objective, sizeof(m->objective), "%s", o->name);
	m->link = o->link;
	if (o->base == 1) {
		if (!(base > 0 && base < 1))
			return model_err(err, errlen, "base_score %g outside "
					 "(0, 1) for %s", base, o->name);
		m->base_margin = -logf(1.0f / (float)base - 1.0f);
	} else if (o->base == 2) {
		if (!(base > 0))
			return model_err(err, errlen, "base_score %g not "
					 "positive for %s", base, o->name);
		m->base_margin = logf((float)base);
	} else {
		m->base_margin = (float)base;
	}
	return 0;
}

/* Feature names from learner.feature_names, or f0, f1, ... */
static int parse_features(struct model *m, cJSON *learner, char *err,
			  size_t errlen)
{
	cJSON *fn = path(learner, "feature_names", NULL, NULL);
	cJSON *nf = path(learner, "learner_model_param", "num_feature", NULL);
	cJSON *it;
	double n = 0;
	int i = 0;

	if (num_value(nf, &n) < 0 || n < 1 || n > MODEL_MAX_FEATURES)
		return model_err(err, errlen, "bad num_feature");
	m->nfeat = (int)n;
	m->names = fs_xcalloc(m->nfeat, sizeof(*m->names));
	if (cJSON_GetArraySize(fn) > 0) {
		if (cJSON_GetArraySize(fn) != m->nfeat)
			return model_err(err, errlen, "%d feature names for "
					 "%d features", cJSON_GetArraySize(fn),
					 m->nfeat);
		cJSON_ArrayForEach(it, fn) {
			if (!cJSON_IsString(it))
				return model_err(err, errlen, "feature name "
						 "%d is not a string", i);
			m->names[i++] = fs_xstrdup(it->valuestring);
		}
	} else {
		for (i = 0; i < m->nfeat; i++) {
			char b[16];

			snprintf(b, sizeof(b), "f%d", i);
			m->names[i] = fs_xstrdup(b);
		}
	}
	return 0;
}

/*
 * Copy the numeric array member key of tree into out[n] (allocated);
 * its length must be n (n < 0: take its length into *pn).
 */
static int num_array(cJSON *tree, const char *key, int n, int *pn,
		     double **out, char *err, size_t errlen, int ti)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(tree, key), *it;
	int len = cJSON_GetArraySize(a), i = 0;

	if (!cJSON_IsArray(a))
		return model_err(err, errlen, "tree %d: no array '%s'", ti,
				 key);
	if (n >= 0 && len != n)
		return model_err(err, errlen, "tree %d: '%s' has %d entries, "
				 "not %d", ti, key, len, n);
	if (pn)
		*pn = len;
	*out = fs_xmalloc(sizeof(double) * (len ? len : 1));
	cJSON_ArrayForEach(it, a) {
		if (cJSON_IsString(it) && strcmp(it->valuestring, "N") == 0) {
			(*out)[i++] = NAN;	/* a NaN, see unnan() */
			continue;
		}
		if (!cJSON_IsNumber(it))
			return model_err(err, errlen, "tree %d: '%s' entry %d "
					 "is not a number", ti, key, i);
		(*out)[i++] = it->valuedouble;
	}
	return 0;
}

enum { A_LEFT, A_RIGHT, A_INDEX, A_COND, A_DEFL, A_HESS, A_NARR };
static const char *const arr_keys[A_NARR] = {
	"left_children", "right_children", "split_indices",
	"split_conditions", "default_left", "sum_hessian",
};

/* An int32 that a double holds exactly, or INT32_MIN. */
static int32_t as_i32(double v)
{
	if (!(v >= -2147483647.0 && v <= 2147483647.0) || v != floor(v))
		return INT32_MIN;
	return (int32_t)v;
}

static int fill_tree(struct mtree *t, double **a, int n)
{
	t->nnodes = n;
	t->nodes = fs_xcalloc(n ? n : 1, sizeof(*t->nodes));
	for (int i = 0; i < n; i++) {
		struct mnode *nd = &t->nodes[i];
		int32_t l = as_i32(a[A_LEFT][i]);

		nd->cover = a[A_HESS][i];
		if (l == -1) {
			nd->feat = -1;
			nd->value = (float)a[A_COND][i];
			continue;
		}
		nd->left = l;
		nd->right = as_i32(a[A_RIGHT][i]);
		nd->feat = as_i32(a[A_INDEX][i]);
		if (nd->feat < 0 || l == INT32_MIN)
			return -1;
		nd->thr = (float)a[A_COND][i];
		nd->default_left = a[A_DEFL][i] != 0;
	}
	return 0;
}

enum { C_NODES, C_SEGS, C_SIZES, C_CATS, C_NARR };
static const char *const cat_keys[C_NARR] = {
	"categories_nodes", "categories_segments", "categories_sizes",
	"categories",
};

/*
 * The category set of categorical node k (k-th of categories_nodes) as
 * a bitset in m->cats; its offset, or -1 on a bad entry.
 */
static int64_t cat_set(struct model *m, double **c, int *nc, int k)
{
	double seg = c[C_SEGS][k], size = c[C_SIZES][k];
	uint32_t *w, nw = 1, off;

	if (seg != floor(seg) || size != floor(size) || seg < 0 ||
	    size < 0 || seg + size > nc[C_CATS])
		return -1;
	for (int j = (int)seg; j < (int)(seg + size); j++) {
		double v = c[C_CATS][j];

		/* XGBoost's categories are below 2^24 (OutOfRangeCat) */
		if (v != floor(v) || v < 0 || v >= 16777216)
			return -1;
		if ((uint32_t)v / 32 + 1 > nw)
			nw = (uint32_t)v / 32 + 1;
	}
	w = fs_xcalloc(nw, sizeof(uint32_t));
	for (int j = (int)seg; j < (int)(seg + size); j++) {
		uint32_t v = (uint32_t)c[C_CATS][j];

		w[v / 32] |= 1u << (v % 32);
	}
	off = model_add_cats(m, w, nw);
	free(w);
	return off;
}

/* The categorical nodes of tree ti (split_type 1) and their sets. */
static int tree_cats(struct model *m, struct mtree *t, cJSON *tree,
		     const double *stype, int ti, char *err, size_t errlen)
{
	double *c[C_NARR] = { NULL };
	int nc[C_NARR] = { 0 }, rc = 0;

	for (int k = 0; k < C_NARR && rc == 0; k++)
		rc = num_array(tree, cat_keys[k], k && k < C_CATS ? nc[0] : -1,
			       &nc[k], &c[k], err, errlen, ti);
	for (int i = 0; i < t->nnodes && rc == 0; i++) {
		struct mnode *nd = &t->nodes[i];
		int k;
		int64_t off;

		if (stype[i] == 0 || nd->feat < 0)
			continue;
		for (k = 0; k < nc[C_NODES]; k++)
			if (c[C_NODES][k] == i)
				break;
		if (stype[i] != 1 || k == nc[C_NODES])
			rc = model_err(err, errlen, "tree %d node %d: bad "
				       "split_type or no categories", ti, i);
		else if ((off = cat_set(m, c, nc, k)) < 0)
			rc = model_err(err, errlen, "tree %d node %d: bad "
				       "categories", ti, i);
		else {
			nd->cat = CAT_IN_RIGHT;
			nd->cat_off = (uint32_t)off;
		}
	}
	for (int k = 0; k < C_NARR; k++)
		free(c[k]);
	return rc;
}

static int parse_tree(struct model *m, struct mtree *t, cJSON *tree, int ti,
		      char *err, size_t errlen)
{
	double *a[A_NARR] = { NULL }, *st = NULL;
	int n = -1, rc = 0, ncat = 0;

	for (int k = 0; k < A_NARR && rc == 0; k++)
		rc = num_array(tree, arr_keys[k], k ? n : -1, k ? NULL : &n,
			       &a[k], err, errlen, ti);
	if (rc == 0 && n == 0)
		rc = model_err(err, errlen, "tree %d has no nodes", ti);
	if (rc == 0 && fill_tree(t, a, n) < 0)
		rc = model_err(err, errlen, "tree %d: bad node indices", ti);
	/* split_type: absent in models from before categorical support */
	if (rc == 0 && cJSON_GetObjectItemCaseSensitive(tree, "split_type"))
		rc = num_array(tree, "split_type", n, NULL, &st, err, errlen,
			       ti);
	for (int i = 0; st && rc == 0 && i < n; i++)
		ncat += st[i] != 0 && t->nodes[i].feat >= 0;
	if (rc == 0 && ncat)
		rc = tree_cats(m, t, tree, st, ti, err, errlen);
	free(st);
	for (int k = 0; k < A_NARR; k++)
		free(a[k]);
	return rc;
}

static int parse_trees(struct model *m, cJSON *gb, char *err, size_t errlen)
{
	cJSON *name = path(gb, "name", NULL, NULL);
	cJSON *trees = path(gb, "model", "trees", NULL);
	cJSON *info = path(gb, "model", "tree_info", NULL);
	cJSON *it;
	int n, i = 0;

	if (!cJSON_IsString(name))
		return model_err(err, errlen, "no gradient_booster.name");
	if (strcmp(name->valuestring, "gbtree") != 0)
		return model_err(err, errlen, "booster '%.20s' is not "
				 "supported (only gbtree)",
				 name->valuestring);
	if (!cJSON_IsArray(trees))
		return model_err(err, errlen, "no gradient_booster.model.trees");
	n = cJSON_GetArraySize(trees);
	if (cJSON_GetArraySize(info) != n)
		return model_err(err, errlen, "tree_info has %d entries for "
				 "%d trees", cJSON_GetArraySize(info), n);
	m->trees = fs_xcalloc(n ? n : 1, sizeof(*m->trees));
	cJSON_ArrayForEach(it, info) {
		/* the class (output group) each tree adds to */
		if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
		    it->valuedouble >= m->nclass ||
		    it->valuedouble != floor(it->valuedouble))
			return model_err(err, errlen, "tree_info entry %d: "
					 "not a class of %d", i, m->nclass);
		m->trees[i++].cls = (int32_t)it->valuedouble;
	}
	i = 0;
	cJSON_ArrayForEach(it, trees) {
		if (parse_tree(m, &m->trees[i], it, i, err, errlen) < 0) {
			m->ntrees = i + 1;
			return -1;
		}
		i++;
		m->ntrees = i;
	}
	return 0;
}

/*
 * XGBoost's JSON writer puts NaN, Infinity and -Infinity where a float
 * is not finite (categorical nodes' split conditions are NaN); cJSON
 * reads only JSON numbers.  Returns a copy of buf with, outside
 * strings, NaN as the string "N" (read back as NaN by num_array) and
 * Infinity as 1e999999: the same lengths, so byte offsets in messages
 * still point into the file as written.
 */
static char *unnan(const char *buf, size_t len)
{
	char *o = fs_xmalloc(len + 1);
	int in_str = 0;

	memcpy(o, buf, len);
	o[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (in_str) {
			if (o[i] == '\\')
				i++;
			else if (o[i] == '"')
				in_str = 0;
		} else if (o[i] == '"') {
			in_str = 1;
		} else if (o[i] == 'N' && len - i >= 3 &&
			   !memcmp(o + i, "NaN", 3)) {
			memcpy(o + i, "\"N\"", 3);
			i += 2;
		} else if (o[i] == 'I' && len - i >= 8 &&
			   !memcmp(o + i, "Infinity", 8)) {
			memcpy(o + i, "1e999999", 8);
			i += 7;
		}
	}
	return o;
}

int xgb_parse(struct model *m, const char *buf, size_t len, char *err,
	      size_t errlen)
{
	char *text = unnan(buf, len);
	cJSON *root = cJSON_ParseWithLength(text, len);
	cJSON *learner = path(root, "learner", NULL, NULL);
	int rc;

	if (!root) {
		rc = model_err(err, errlen, "malformed JSON near byte %ld",
			       (long)(cJSON_GetErrorPtr() ?
				      cJSON_GetErrorPtr() - text : 0));
		free(text);
		return rc;
	}
	if (!cJSON_IsObject(learner))
		rc = model_err(err, errlen, "no 'learner' object");
	else
		rc = parse_objective(m, learner, err, errlen);
	if (rc == 0)
		rc = parse_features(m, learner, err, errlen);
	if (rc == 0)
		rc = parse_trees(m, path(learner, "gradient_booster", NULL,
					 NULL), err, errlen);
	cJSON_Delete(root);
	free(text);
	return rc;
}
