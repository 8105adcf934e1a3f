/*
 * model.c - loading a model file: format detection, the checks every
 * tree model gets (so a malformed file never reaches a kernel), the
 * cover-weighted node means TreeSHAP needs, and the output link.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "score.h"

int model_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

char *model_strndup(const char *s, size_t n)
{
	char *p = fs_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

const char *model_type_name(const struct model *m)
{
	switch (m->type) {
	case MODEL_XGB:
		return "xgboost";
	case MODEL_LGBM:
		return "lightgbm";
	default:
		return "logistic";
	}
}

double model_link(const struct model *m, double margin)
{
	switch (m->link) {
	case LINK_SIGMOID:
		if (!m->acc_double) {
			/* XGBoost: float sigmoid of a float margin */
			float x = (float)margin;

			return 1.0f / (1.0f + expf(-x));
		}
		return 1.0 / (1.0 + exp(-m->link_scale * margin));
	case LINK_EXP:
		if (!m->acc_double)
			return expf((float)margin);
		return exp(margin);
	case LINK_SQUARE:	/* LightGBM RegressionL2loss, sqrt */
		return copysign(margin * margin, margin);
	case LINK_SOFTPLUS:	/* LightGBM CrossEntropyLambda */
		return log1p(exp(margin));
	case LINK_HINGE:	/* XGBoost HingeObj: 1 or 0 */
		return (float)margin > 0 ? 1.0 : 0.0;
	default:
		return margin;
	}
}

int model_classes(const struct model *m, const double *margin, double *p)
{
	int k = m->nclass, top = 0;

	for (int c = 1; c < k; c++)
		if (margin[c] > margin[top])
			top = c;
	if (m->link == LINK_OVA) {
		for (int c = 0; c < k; c++)
			p[c] = 1.0 / (1.0 + exp(-m->link_scale * margin[c]));
	} else if (!m->acc_double) {
		/* XGBoost common::Softmax: in float, from the largest */
		float wmax = (float)margin[top];
		double sum = 0;

		for (int c = 0; c < k; c++) {
			float e = expf((float)margin[c] - wmax);

			p[c] = e;
			sum += e;
		}
		for (int c = 0; c < k; c++)
			p[c] = (float)p[c] / (float)sum;
	} else {
		/* LightGBM Common::Softmax, in double */
		double wmax = margin[top], sum = 0;

		for (int c = 0; c < k; c++) {
			p[c] = exp(margin[c] - wmax);
			sum += p[c];
		}
		for (int c = 0; c < k; c++)
			p[c] /= sum;
	}
	return top;
}

uint32_t model_add_cats(struct model *m, const uint32_t *words, uint32_t n)
{
	uint32_t off = m->ncats;

	if ((uint64_t)m->ncats + n + 1 > m->cats_cap) {
		m->cats_cap = (m->ncats + n + 1) * 2;
		m->cats = fs_xrealloc(m->cats, sizeof(uint32_t) * m->cats_cap);
	}
	m->cats[m->ncats++] = n;
	memcpy(m->cats + m->ncats, words, sizeof(uint32_t) * n);
	m->ncats += n;
	return off;
}

/* Cover-weighted mean output of the subtree under node i (post order). */
static void fill_means(struct mtree *t, int32_t *order, int n)
{
	for (int k = n - 1; k >= 0; k--) {
		struct mnode *nd = &t->nodes[order[k]];
		double v;

		if (nd->feat < 0) {
			v = nd->value;
		} else {
			const struct mnode *l = &t->nodes[nd->left];
			const struct mnode *r = &t->nodes[nd->right];

			v = t->mean[nd->left] * l->cover +
			    t->mean[nd->right] * r->cover;
			v = nd->cover != 0 ? v / nd->cover : 0;
		}
		t->mean[order[k]] = v;
	}
}

/*
 * Walk tree t breadth first from the root: every child index in range,
 * no node reached twice (so no cycles or shared subtrees), depth within
 * MODEL_MAX_DEPTH.  Unreached nodes are allowed (XGBoost keeps deleted
 * nodes).  Returns 0 or -1 with a message.
 */
static int check_tree(const struct model *m, struct mtree *t, int ti,
		      char *err, size_t errlen)
{
	int32_t n = t->nnodes, head = 0, tail = 0;
	int32_t *order, *depth;
	uint8_t *seen;
	int rc = 0;

	if (n < 1)
		return model_err(err, errlen, "tree %d has no nodes", ti);
	order = fs_xmalloc(sizeof(*order) * n);
	depth = fs_xcalloc(n, sizeof(*depth));
	seen = fs_xcalloc(n, 1);
	order[tail++] = 0;
	seen[0] = 1;
	t->depth = 0;
	while (head < tail && rc == 0) {
		int32_t i = order[head++];
		const struct mnode *nd = &t->nodes[i];
		int32_t kids[2] = { nd->left, nd->right };

		if (nd->feat < 0)
			continue;
		if (nd->cat && (nd->cat_off >= m->ncats ||
				m->cats[nd->cat_off] > m->ncats - nd->cat_off - 1)) {
			rc = model_err(err, errlen, "tree %d node %d: bad "
				       "category set", ti, i);
			break;
		}
		if (nd->feat >= m->nfeat) {
			rc = model_err(err, errlen, "tree %d node %d: feature "
				       "%d out of range (model has %d)", ti,
				       i, nd->feat, m->nfeat);
			break;
		}
		for (int k = 0; k < 2 && rc == 0; k++) {
			int32_t c = kids[k];

			if (c <= 0 || c >= n || seen[c]) {
				rc = model_err(err, errlen, "tree %d node %d: "
					       "bad child %d", ti, i, c);
			} else if (depth[i] + 1 > MODEL_MAX_DEPTH) {
				rc = model_err(err, errlen, "tree %d deeper "
					       "than %d levels", ti,
					       MODEL_MAX_DEPTH);
			} else {
				seen[c] = 1;
				depth[c] = depth[i] + 1;
				if (depth[c] > t->depth)
					t->depth = depth[c];
				order[tail++] = c;
			}
		}
	}
	if (rc == 0) {
		t->mean = fs_xcalloc(n, sizeof(*t->mean));
		fill_means(t, order, tail);
	}
	free(order);
	free(depth);
	free(seen);
	return rc;
}

int model_check_trees(struct model *m, char *err, size_t errlen)
{
	int64_t total = 0;

	m->max_depth = 0;
	for (int i = 0; i < m->ntrees; i++) {
		total += m->trees[i].nnodes;
		if (total > MODEL_MAX_NODES)
			return model_err(err, errlen, "more than %d nodes",
					 MODEL_MAX_NODES);
		if (m->trees[i].cls < 0 || m->trees[i].cls >= m->nclass)
			return model_err(err, errlen, "tree %d: class %d of "
					 "%d", i, m->trees[i].cls, m->nclass);
		if (check_tree(m, &m->trees[i], i, err, errlen) < 0)
			return -1;
		if (m->trees[i].depth > m->max_depth)
			m->max_depth = m->trees[i].depth;
	}
	return 0;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->ntrees; i++) {
		free(m->trees[i].nodes);
		free(m->trees[i].mean);
	}
	free(m->trees);
	if (m->names) {
		for (int i = 0; i < m->nfeat; i++)
			free(m->names[i]);
		free(m->names);
	}
	free(m->weights);
	free(m->means);
	free(m->cats);
	free(m);
}

/* Feature names must be unique: the SCHEMA match is by name. */
static int check_names(const struct model *m, char *err, size_t errlen)
{
	if (m->nfeat < 1)
		return model_err(err, errlen, "model has no features");
	for (int i = 0; i < m->nfeat; i++) {
		if (!m->names[i] || !m->names[i][0])
			return model_err(err, errlen, "feature %d has no "
					 "name", i);
		for (int j = 0; j < i; j++)
			if (strcmp(m->names[i], m->names[j]) == 0)
				return model_err(err, errlen, "feature name "
						 "'%s' appears twice",
						 m->names[i]);
	}
	return 0;
}

/* Which parser: JSON with "learner" (XGBoost), other JSON (logistic). */
static int detect(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && strchr(" \t\r\n", buf[i]) && buf[i])
		i++;
	if (i < len && buf[i] == '{') {
		if (memmem(buf, len, "\"learner\"", 9))
			return MODEL_XGB;
		return MODEL_LOGIT;
	}
	if (len - i >= 4 && memcmp(buf + i, "tree", 4) == 0)
		return MODEL_LGBM;
	return 0;
}

struct model *model_parse(const char *buf, size_t len, char *err,
			  size_t errlen)
{
	struct model *m = fs_xcalloc(1, sizeof(*m));
	int rc;

	m->type = detect(buf, len);
	m->out_scale = 1;
	m->link_scale = 1;
	m->nclass = 1;
	switch (m->type) {
	case MODEL_XGB:
		rc = xgb_parse(m, buf, len, err, errlen);
		break;
	case MODEL_LGBM:
		rc = lgbm_parse(m, buf, len, err, errlen);
		break;
	case MODEL_LOGIT:
		rc = logit_parse(m, buf, len, err, errlen);
		break;
	default:
		rc = model_err(err, errlen, "not an XGBoost JSON, LightGBM "
			       "text or logistic JSON model");
	}
	if (rc == 0)
		rc = check_names(m, err, errlen);
	if (rc == 0 && m->type != MODEL_LOGIT)
		rc = model_check_trees(m, err, errlen);
	if (rc < 0) {
		model_free(m);
		return NULL;
	}
	m->id = fs_hash64(buf, len);
	return m;
}

/* Read a whole file into a NUL-terminated buffer; NULL on error. */
static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (fd < 0)
		return NULL;
	fs_claim_fd(fd, path, 0);	/* no output may be the model */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		cap = (size_t)st.st_size;
	for (;;) {
		ssize_t k;

		if (n + 1 >= cap) {
			cap = cap ? cap * 2 : 65536;
			buf = fs_xrealloc(buf, cap + 1);
		} else if (!buf) {
			buf = fs_xmalloc(cap + 1);
		}
		k = read(fd, buf + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = errno;

			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

struct model *model_load(const char *path)
{
	char err[256];
	size_t len = 0;
	char *buf = slurp(path, &len);
	struct model *m;

	if (!buf)
		fs_die_errno(FS_EXIT_FAIL, "cannot open model '%s'", path);
	if (len == 0)
		fs_die(FS_EXIT_DATA, "bad model '%s': empty file", path);
	m = model_parse(buf, len, err, sizeof(err));
	free(buf);
	if (!m)
		fs_die(FS_EXIT_DATA, "bad model '%s': %s", path, err);
	return m;
}
