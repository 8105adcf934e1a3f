/*
 * score.h - fs-score-gpu internals: the parsed model, the flattened
 * forest the CPU and GPU kernels walk, TreeSHAP, the worker pool and
 * score drift (PSI).
 */
#ifndef SCORE_H
#define SCORE_H

#include <stddef.h>
#include <stdint.h>

enum model_type { MODEL_XGB = 1, MODEL_LGBM, MODEL_LOGIT };
/*
 * The objective's output transform of a margin.  One-output links:
 * identity, sigmoid (of link_scale * x), exp, sign(x) * x^2 (LightGBM's
 * "sqrt" regressions), log(1 + exp(x)) (LightGBM cross_entropy_lambda),
 * x > 0 (XGBoost binary:hinge).  Multi-class links turn nclass margins
 * into class probabilities: softmax, or one sigmoid per class
 * (LightGBM multiclassova).
 */
enum link_fn {
	LINK_IDENTITY = 0, LINK_SIGMOID, LINK_EXP, LINK_SQUARE, LINK_SOFTPLUS,
	LINK_HINGE, LINK_SOFTMAX, LINK_OVA,
};

/* Most classes of a multi-class model. */
#define MODEL_MAX_CLASSES 1024
/* Where a categorical split sends the categories in its set. */
enum { CAT_NONE = 0, CAT_IN_RIGHT, CAT_IN_LEFT };

/* Deepest tree accepted: deeper ones are refused as malformed. */
#define MODEL_MAX_DEPTH 64
#define MODEL_MAX_FEATURES 65536
#define MODEL_MAX_NODES (1 << 24)	/* per model, all trees */

/*
 * A tree node as parsed.  A row goes left when x < thr; a missing value
 * (NaN, and |x| <= 1e-35 when zero_missing) goes left when default_left.
 * A categorical node (cat set) tests x's category against the set at
 * model.cats[cat_off] instead (see fs_cat_in() for the rule).
 * Leaves have feat < 0.
 */
struct mnode {
	int32_t feat;
	int32_t left, right;
	float thr;
	uint8_t default_left;
	uint8_t zero_missing;
	uint8_t cat;		/* CAT_* */
	uint32_t cat_off;	/* categorical: its set in model.cats */
	double value;		/* leaf output */
	double cover;		/* hessian sum (XGBoost), data count (LightGBM) */
};

struct mtree {
	int32_t nnodes;
	int32_t depth;		/* edges on the longest root-leaf path */
	int32_t cls;		/* the class it adds to (multi-class) */
	struct mnode *nodes;	/* node 0 is the root */
	double *mean;		/* cover-weighted mean output below each node */
};

struct model {
	int type;		/* MODEL_* */
	int link;		/* LINK_*, applied to the margin */
	double link_scale;	/* LightGBM "sigmoid:k" */
	int acc_double;		/* sum tree outputs in double (LightGBM) */
	double base_margin;	/* added to the tree sum (each class's) */
	int nclass;		/* outputs: 1, or the classes */
	double out_scale;	/* 1, or 1/ntrees for averaged forests */
	char objective[40];
	int nfeat;
	char **names;		/* nfeat feature names */
	int ntrees;
	struct mtree *trees;
	int max_depth;
	double *weights;	/* logistic: nfeat weights */
	double *means;		/* logistic: centre for explanations */
	double intercept;
	uint64_t id;		/* fs_hash64 of the model file */
	/*
	 * Category sets of the categorical nodes: at a node's cat_off, the
	 * number of 32-bit words n, then n words, bit c of the set being
	 * bit c % 32 of word c / 32.
	 */
	uint32_t *cats;
	uint32_t ncats, cats_cap;
};

#ifdef __CUDACC__
#define FS_HOSTDEV __host__ __device__
#else
#define FS_HOSTDEV
#endif

/*
 * Whether category value v is in the set at cats[off], by the rule of
 * the library that wrote the model.  XGBoost (in_left 0; its
 * common::Decision): a v below 0 or at least 2^24 is no category and is
 * in no set; otherwise its integer part is tested.  LightGBM (in_left
 * 1; Tree::CategoricalDecision): v is cast to int, and a negative one
 * is in no set (so -0.5 is category 0).  Values past the set's words
 * are not in it.  NaN is in no set (the caller sends it its own way).
 */
static inline FS_HOSTDEV int fs_cat_in(const uint32_t *cats, uint32_t off,
				       float v, int in_left)
{
	uint32_t c, nw = cats[off];

	if (in_left ? !(v > -1.0f && v < 2147483648.0f)
		    : !(v >= 0.0f && v < 16777216.0f))
		return 0;
	c = (uint32_t)(int32_t)v;
	return (c >> 5) < nw && ((cats[off + 1 + (c >> 5)] >> (c & 31)) & 1);
}

/*
 * The side a row takes at a categorical node: NaN goes to the default
 * side (LightGBM: always right, parsed as default_left 0); XGBoost
 * sends the categories in the set right, LightGBM left.
 */
static inline FS_HOSTDEV int fs_cat_left(const uint32_t *cats, uint32_t off,
					 float v, int in_left, int dl)
{
	if (v != v)
		return dl;
	return fs_cat_in(cats, off, v, in_left) == in_left;
}


/* model.c */
/*
 * Parse a model held in buf: XGBoost JSON, LightGBM text or the
 * logistic JSON, told apart by content.  NULL and a message in err on
 * anything malformed or unsupported.
 */
struct model *model_parse(const char *buf, size_t len, char *err,
			  size_t errlen);
/* Read and parse path; dies with exit 1 (cannot open) or 3 (bad model). */
struct model *model_load(const char *path);
void model_free(struct model *m);
/* Apply the model's link to a margin: the score (one-output models). */
double model_link(const struct model *m, double margin);
/*
 * Class probabilities of a multi-class model from its nclass margins
 * into p; returns the top class (the first of equal ones).
 */
int model_classes(const struct model *m, const double *margin, double *p);
/* Add a category set of n words to m; returns its offset in m->cats. */
uint32_t model_add_cats(struct model *m, const uint32_t *words, uint32_t n);
const char *model_type_name(const struct model *m);
/*
 * Check the trees of m (children in range, every node reached once, depth
 * limits), fill depth and mean; 0, or -1 and a message.
 */
int model_check_trees(struct model *m, char *err, size_t errlen);
/* Set err to the formatted message; returns -1. */
int model_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Copy n bytes of s as the next feature name; -1 on a bad name. */
char *model_strndup(const char *s, size_t n);

/* model_xgb.c, model_lgbm.c, model_logit.c: fill m from buf. */
int xgb_parse(struct model *m, const char *buf, size_t len, char *err,
	      size_t errlen);
int lgbm_parse(struct model *m, const char *buf, size_t len, char *err,
	       size_t errlen);
int logit_parse(struct model *m, const char *buf, size_t len, char *err,
		size_t errlen);
/* Margins of n rows (nfeat floats each) of a logistic model. */
void logit_margin(const struct model *m, const float *rows, int n,
		  double *out);
/* Per-feature contributions of one row (nfeat + 1, bias last). */
void logit_contrib(const struct model *m, const float *row, double *phi);

/*
 * forest.c: trees flattened for the kernels.  Nodes of a tree are laid
 * out breadth first, children by offset from the tree's first node;
 * leaves point at themselves, so walking exactly depth[t] steps from
 * the root always ends on the leaf (branch-free inner loop).
 */
#define FNODE_DEFAULT_LEFT	0x80000000u
#define FNODE_ZERO_MISSING	0x40000000u
#define FNODE_CAT		0x20000000u	/* categorical split */
#define FNODE_CAT_IN_LEFT	0x10000000u	/* its set goes left */
#define FNODE_FEAT_MASK		0x00ffffffu
struct fnode {
	union {
		float thr;	/* split threshold; left when x < thr */
		uint32_t cat;	/* FNODE_CAT: its set in forest.cats */
	};
	uint32_t feat;		/* feature index | FNODE_* flags */
	int32_t left, right;	/* tree-local node indices */
};

struct forest {
	int ntrees, nfeat;
	int acc_double;
	int has_zero_missing;
	int has_cat;		/* some node is categorical */
	/*
	 * Outputs: the trees are laid out class by class (in model order
	 * within a class), class c's being [cls_first[c], cls_first[c + 1]);
	 * a row's margins are nclass doubles.
	 */
	int nclass;
	int32_t *cls_first;
	uint32_t *cats;		/* the model's category sets */
	uint32_t ncats;
	float base_f;		/* base margin, float accumulation */
	double base_d;		/* base margin, double accumulation */
	double out_scale;
	int32_t *root;		/* first node of each tree */
	int32_t *depth;		/* steps to walk in each tree */
	struct fnode *nodes;
	float *leaf_f;		/* leaf output per node (float models) */
	double *leaf_d;		/* leaf output per node (double models) */
	int64_t nnodes;
	/*
	 * The same trees as perfect binary trees (shallow ones padded, so
	 * the node at level L, position p is at (1 << L) - 1 + p), for the
	 * AVX-512 kernel; pdepth < 0 for trees too deep for it.
	 */
	int simd;
	int32_t *pdepth;
	int64_t *poff;		/* first node of each tree in pthr/pfeat */
	float *pthr;
	uint32_t *pfeat;
	int64_t *pleaf_off;	/* first leaf of each tree in pleaf_* */
	float *pleaf_f;
	double *pleaf_d;
};

#define PERFECT_MAX_DEPTH 8
struct forest *forest_build(const struct model *m);
/* forest_simd.c: 1 when this CPU runs the AVX-512 kernel. */
int forest_simd_ok(void);
/* Margins of n <= 64 rows with the AVX-512 kernel (f->simd set). */
void forest_block_simd(const struct forest *f, const float *rows, int n,
		       double *out);
/* forest.c: walk tree t for n rows (generic layout), leaves in idx. */
void forest_walk(const struct forest *f, int t, const float *rows, int n,
		 int32_t *idx);
void forest_free(struct forest *f);
/* Margins of n rows (f->nfeat floats each, row-major) into out
 * (nclass per row). */
void forest_margin(const struct forest *f, const float *rows, int n,
		   double *out);

/* shap.c: exact path-dependent TreeSHAP (Lundberg et al. 2018). */
struct shap_work;
struct shap_work *shap_work_new(const struct model *m);
void shap_work_free(struct shap_work *w);
/*
 * Add the SHAP values of one row's margin of class cls (0 for one-output
 * models) to phi (nfeat + 1 doubles, zeroed by the caller; the last is
 * the bias: base margin plus the trees' means).
 */
void shap_row(const struct model *m, struct shap_work *w, const float *row,
	      double *phi, int cls);

/* pool.c: worker threads that run chunks of a job. */
struct pool;
typedef void pool_fn(void *arg, int chunk, int worker);
struct pool *pool_new(int nthreads);
/* Start fn(arg, c, w) for c in [0, nchunks) on the workers; returns. */
void pool_start(struct pool *p, pool_fn *fn, void *arg, int nchunks);
/* Wait for the job started last. */
void pool_wait(struct pool *p);
int pool_size(const struct pool *p);
void pool_free(struct pool *p);

/* drift.c: score distribution against a saved reference (PSI). */
#define DRIFT_MAX_BINS 20
struct drift;
/* Load a reference written by drift_save(); NULL and a message. */
struct drift *drift_load(const char *path, size_t window, char *err,
			 size_t errlen);
/* Add a score; returns 1 when the window is full and PSI is current. */
int drift_add(struct drift *d, double score);
/* PSI of the scores in the window (fewer before it is full). */
double drift_psi(const struct drift *d);
/* 1 when the window holds its N scores. */
int drift_full(const struct drift *d);
void drift_free(struct drift *d);
/* A bounded sample of scores for --save-reference. */
struct reservoir;
struct reservoir *reservoir_new(size_t cap);
void reservoir_add(struct reservoir *r, double v);
/* Write deciles and bin fractions of the sample; -1 on error (errno). */
int reservoir_save(const struct reservoir *r, const char *path, int nbins);
void reservoir_free(struct reservoir *r);
/*
 * Checkpoint snapshots (snapbuf.h): the drift window and the reservoir
 * into b, and back; an unsnap that fails says why in r (-1).
 */
struct sbuf;
struct srd;
void drift_snap(const struct drift *d, struct sbuf *b);
int drift_unsnap(struct drift *d, struct srd *r);
void reservoir_snap(const struct reservoir *res, struct sbuf *b);
int reservoir_unsnap(struct reservoir *res, struct srd *r);

#endif
