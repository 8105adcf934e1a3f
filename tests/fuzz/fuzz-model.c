/*
 * fuzz-model.c - libFuzzer harness for fs-score-gpu's model parsers
 * (XGBoost JSON, LightGBM text, logistic JSON).  A parsed model is also
 * flattened and scored on a row of the input's bytes, and explained,
 * so the checks in model.c are what keeps the kernels in bounds.
 */
// FUZZ_SOURCES: tools/score-gpu/model.c tools/score-gpu/model_xgb.c tools/score-gpu/model_lgbm.c tools/score-gpu/model_logit.c tools/score-gpu/forest.c tools/score-gpu/forest_simd.c tools/score-gpu/shap.c
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "score-gpu/score.h"

int tool_main(int c, char **v)
{
	(void)c;
	(void)v;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct model *m = model_parse((const char *)data, size, err,
				      sizeof(err));
	float row[64];
	double *out, *prob, *phi;
	struct shap_work *w;

	if (!m)
		return 0;
	if (m->nfeat <= 64) {
		out = calloc(m->nclass, sizeof(double));
		prob = calloc(m->nclass, sizeof(double));
		for (int i = 0; i < m->nfeat; i++)
			row[i] = i < (int)size ? (float)data[i] / 16 - 8 : NAN;
		if (m->type == MODEL_LOGIT) {
			logit_margin(m, row, 1, out);
		} else {
			struct forest *f = forest_build(m);

			forest_margin(f, row, 1, out);
			forest_free(f);
		}
		if (m->nclass > 1)
			(void)model_classes(m, out, prob);
		else
			(void)model_link(m, out[0]);
		phi = calloc(m->nfeat + 1, sizeof(double));
		w = shap_work_new(m);
		shap_row(m, w, row, phi, m->nclass - 1);
		shap_work_free(w);
		free(phi);
		free(prob);
		free(out);
	}
	model_free(m);
	return 0;
}
