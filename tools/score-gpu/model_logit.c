/*
 * model_logit.c - a logistic-regression model for simple rules:
 *
 *   {"model": "logistic", "feature_names": ["amount", "n_1h"],
 *    "weights": [0.8, 1.5], "intercept": -4.2,
 *    "means": [0.3, 1.1]}            (optional)
 *
 * score = 1 / (1 + exp(-(intercept + sum w_i x_i))); "link": "identity"
 * gives the plain linear score.  A missing (NaN) value contributes 0.
 * Explanations are w_i (x_i - mean_i), the exact SHAP values of a linear
 * model with independent features (means default to 0).
 */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fs.h"
#include "score.h"

/* Numbers of array key into a new double[m->nfeat]; NULL if absent. */
static int get_vec(struct model *m, cJSON *root, const char *key,
		   double **out, char *err, size_t errlen)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key), *it;
	int i = 0;

	*out = NULL;
	if (!a)
		return 0;
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != m->nfeat)
		return model_err(err, errlen, "'%s' must be an array of %d "
				 "numbers", key, m->nfeat);
	*out = fs_xcalloc(m->nfeat, sizeof(double));
	cJSON_ArrayForEach(it, a) {
		if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
			return model_err(err, errlen, "'%s' entry %d is not a "
					 "finite number", key, i);
		(*out)[i++] = it->valuedouble;
	}
	return 0;
}

static int parse_root(struct model *m, cJSON *root, char *err, size_t errlen)
{
	cJSON *names = cJSON_GetObjectItemCaseSensitive(root, "feature_names");
	cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "intercept");
	cJSON *link = cJSON_GetObjectItemCaseSensitive(root, "link");
	cJSON *it;
	int n = cJSON_GetArraySize(names), i = 0;

	if (!cJSON_IsArray(names) || n < 1 || n > MODEL_MAX_FEATURES)
		return model_err(err, errlen, "no 'feature_names' array");
	m->nfeat = n;
	m->names = fs_xcalloc(n, sizeof(*m->names));
	cJSON_ArrayForEach(it, names) {
		if (!cJSON_IsString(it))
			return model_err(err, errlen, "feature name %d is not "
					 "a string", i);
		m->names[i++] = fs_xstrdup(it->valuestring);
	}
	if (get_vec(m, root, "weights", &m->weights, err, errlen) < 0 ||
	    get_vec(m, root, "means", &m->means, err, errlen) < 0)
		return -1;
	if (!m->weights)
		return model_err(err, errlen, "no 'weights' array");
	if (b && (!cJSON_IsNumber(b) || !isfinite(b->valuedouble)))
		return model_err(err, errlen, "'intercept' is not a number");
	m->intercept = b ? b->valuedouble : 0;
	m->link = LINK_SIGMOID;
	if (link && !(cJSON_IsString(link) &&
		      (!strcmp(link->valuestring, "identity") ||
		       !strcmp(link->valuestring, "logistic"))))
		return model_err(err, errlen, "'link' must be \"logistic\" "
				 "or \"identity\"");
	if (link && !strcmp(link->valuestring, "identity"))
		m->link = LINK_IDENTITY;
	return 0;
}

int logit_parse(struct model *m, const char *buf, size_t len, char *err,
		size_t errlen)
{
	cJSON *root = cJSON_ParseWithLength(buf, len);
	cJSON *kind;
	int rc;

	m->type = MODEL_LOGIT;
	m->acc_double = 1;
	if (!root)
		return model_err(err, errlen, "malformed JSON near byte %ld",
				 (long)(cJSON_GetErrorPtr() ?
					cJSON_GetErrorPtr() - buf : 0));
	kind = cJSON_GetObjectItemCaseSensitive(root, "model");
	if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "logistic"))
		rc = model_err(err, errlen, "JSON model is neither XGBoost "
			       "(no 'learner') nor {\"model\": \"logistic\"}");
	else
		rc = parse_root(m, root, err, errlen);
	snprintf(m->objective, sizeof(m->objective), "logistic");
	cJSON_Delete(root);
	return rc;
}

void logit_margin(const struct model *m, const float *rows, int n,
		  double *out)
{
	for (int r = 0; r < n; r++) {
		const float *x = rows + (size_t)r * m->nfeat;
		double s = m->intercept;

		for (int i = 0; i < m->nfeat; i++)
			if (!isnan(x[i]))
				s += m->weights[i] * x[i];
		out[r] = s;
	}
}

void logit_contrib(const struct model *m, const float *row, double *phi)
{
	double bias = m->intercept;

	for (int i = 0; i < m->nfeat; i++) {
		double mu = m->means ? m->means[i] : 0;

		bias += m->weights[i] * mu;
		phi[i] += isnan(row[i]) ? -m->weights[i] * mu
					: m->weights[i] * (row[i] - mu);
	}
	phi[m->nfeat] += bias;
}
