/*
 * model_xgb.c - XGBoost's JSON model format, as Booster.save_model()
 * writes it (schema: doc/model.schema in XGBoost).  gbtree boosters
 * with one output; the base score is turned into a margin the way the
 * objective does (logit for the logistic ones, log for the log-link
 * ones); leaves hold their output in split_conditions; missing values
 * follow default_left.  Categorical splits, dart, gblinear and
 * multi-class models are refused with a message.
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

static const struct objective objectives[] = {
	{ "binary:logistic", LINK_SIGMOID, 1 },
	{ "binary:logitraw", LINK_IDENTITY, 0 },
	{ "count:poisson", LINK_EXP, 2 },
	{ "reg:absoluteerror", LINK_IDENTITY, 0 },
	{ "reg:gamma", LINK_EXP, 2 },
	{ "reg:linear", LINK_IDENTITY, 0 },
	{ "reg:logistic", LINK_SIGMOID, 1 },
	{ "reg:pseudohubererror", LINK_IDENTITY, 0 },
	{ "reg:quantileerror", LINK_IDENTITY, 0 },
	{ "reg:squarederror", LINK_IDENTITY, 0 },
	{ "reg:squaredlogerror", LINK_IDENTITY, 0 },
	{ "reg:tweedie", LINK_EXP, 2 },
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
	if (!o->name) {
		if (strncmp(on->valuestring, "multi:", 6) == 0)
			return model_err(err, errlen, "multi-class models "
					 "('%.30s') are not supported",
					 on->valuestring);
		return model_err(err, errlen, "unsupported objective '%.40s'",
				 on->valuestring);
	}
	if (nc && (num_value(nc, &ncls) < 0 || ncls > 1))
		return model_err(err, errlen, "multi-class models are not "
				 "supported");
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
	cJSON *ft = path(learner, "feature_types", NULL, NULL);
	cJSON *nf = path(learner, "learner_model_param", "num_feature", NULL);
	cJSON *it;
	double n = 0;
	int i = 0;

	if (num_value(nf, &n) < 0 || n < 1 || n > MODEL_MAX_FEATURES)
		return model_err(err, errlen, "bad num_feature");
	cJSON_ArrayForEach(it, ft) {
		if (cJSON_IsString(it) && strcmp(it->valuestring, "c") == 0)
			return model_err(err, errlen, "categorical features "
					 "are not supported");
	}
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

static int parse_tree(struct mtree *t, cJSON *tree, int ti, char *err,
		      size_t errlen)
{
	double *a[A_NARR] = { NULL };
	cJSON *st = cJSON_GetObjectItemCaseSensitive(tree, "split_type");
	cJSON *it;
	int n = -1, rc = 0;

	cJSON_ArrayForEach(it, st) {
		if (!cJSON_IsNumber(it) || it->valuedouble != 0) {
			return model_err(err, errlen, "tree %d has "
					 "categorical splits: not supported",
					 ti);
		}
	}
	for (int k = 0; k < A_NARR && rc == 0; k++)
		rc = num_array(tree, arr_keys[k], k ? n : -1, k ? NULL : &n,
			       &a[k], err, errlen, ti);
	if (rc == 0 && n == 0)
		rc = model_err(err, errlen, "tree %d has no nodes", ti);
	if (rc == 0 && fill_tree(t, a, n) < 0)
		rc = model_err(err, errlen, "tree %d: bad node indices", ti);
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
	cJSON_ArrayForEach(it, info) {
		if (!cJSON_IsNumber(it) || it->valuedouble != 0)
			return model_err(err, errlen, "multi-output models "
					 "are not supported");
	}
	n = cJSON_GetArraySize(trees);
	m->trees = fs_xcalloc(n ? n : 1, sizeof(*m->trees));
	cJSON_ArrayForEach(it, trees) {
		if (parse_tree(&m->trees[i], it, i, err, errlen) < 0) {
			m->ntrees = i + 1;
			return -1;
		}
		i++;
		m->ntrees = i;
	}
	return 0;
}

int xgb_parse(struct model *m, const char *buf, size_t len, char *err,
	      size_t errlen)
{
	cJSON *root = cJSON_ParseWithLength(buf, len);
	cJSON *learner = path(root, "learner", NULL, NULL);
	int rc;

	if (!root)
		return model_err(err, errlen, "malformed JSON near byte %ld",
				 (long)(cJSON_GetErrorPtr() ?
					cJSON_GetErrorPtr() - buf : 0));
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
	return rc;
}
