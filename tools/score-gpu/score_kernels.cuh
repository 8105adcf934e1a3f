/*
 * score_kernels.cuh - the device code of fs-score-gpu, included by
 * score_cuda.cu.  Kept apart from the host code so that
 * tests/unit/test-kernels-emu.cpp can compile these very kernels with
 * g++ (threadIdx, __syncthreads, __ldg, ... emulated on host threads)
 * and check their margins against the CPU kernel on machines without a
 * GPU.  So: nothing here but the kernels, what they need, and the
 * launch constants the host side and the emulation must agree on.
 *
 * The kernels walk the same node layout as forest.c, the same fixed
 * number of steps per tree, and sum in the same order (float for
 * XGBoost models, double for LightGBM), so GPU margins equal CPU ones.
 * Categorical nodes take fs_cat_left() (score.h), the CPU kernel's own
 * test; multi-class forests give nclass margins per row, the trees of
 * class c being [cls_first[c], cls_first[c + 1]).
 */
#ifndef SCORE_KERNELS_CUH
#define SCORE_KERNELS_CUH

#include "score.h"

#define THREADS 128
#define SMEM_MAX (40 * 1024)

/*
 * Row stride of the rows staged in shared memory: nfeat + 1 when nfeat
 * is even, so the rows of neighbouring threads start in different banks.
 * k_forest<true> needs THREADS * stride floats; over SMEM_MAX the host
 * launches k_forest<false>, which reads the rows from global memory.
 */
static inline int smem_stride(int nfeat)
{
	return nfeat % 2 ? nfeat : nfeat + 1;
}

/* Stage this block's rows in shared memory; returns the row stride. */
__device__ static int stage_rows(float *sm, const float *rows, int n,
				 int nfeat, int stride)
{
	int first = blockIdx.x * blockDim.x;
	int nrow = min((int)blockDim.x, n - first);
	const float *src = rows + (size_t)first * nfeat;

	for (int k = threadIdx.x; k < nrow * nfeat; k += blockDim.x)
		sm[(k / nfeat) * stride + k % nfeat] = src[k];
	__syncthreads();
	return stride;
}

/*
 * Walk one tree for row x; returns the tree-local leaf index.  zm: the
 * forest has zero-as-missing nodes; cats: its category sets, or NULL
 * when it has no categorical node.
 */
__device__ static int walk(const struct fnode *nd, int depth, const float *x,
			   int zm, const uint32_t *cats)
{
	int idx = 0;

	for (int d = 0; d < depth; d++) {
		struct fnode q;

		q.thr = __ldg(&nd[idx].thr);
		q.feat = __ldg(&nd[idx].feat);
		q.left = __ldg(&nd[idx].left);
		q.right = __ldg(&nd[idx].right);
		float v = x[q.feat & FNODE_FEAT_MASK];
		int miss = isnan(v);
		int dl = (q.feat & FNODE_DEFAULT_LEFT) != 0;

		if (cats && (q.feat & FNODE_CAT)) {
			idx = fs_cat_left(cats, q.cat, v,
					  (q.feat & FNODE_CAT_IN_LEFT) != 0,
					  dl) ? q.left : q.right;
			continue;
		}
		if (zm)
			miss |= (q.feat & FNODE_ZERO_MISSING) &&
				fabsf(v) <= 1e-35f;
		int lt = (v < q.thr) & !miss;
		idx = (lt | (miss & dl)) ? q.left : q.right;
	}
	return idx;
}

/* The model of a k_forest launch (passed by value). */
struct kforest {
	const struct fnode *nodes;
	const int *root, *depth, *cls_first;
	const float *leaf_f;
	const double *leaf_d;
	const uint32_t *cats;	/* NULL: no categorical node */
	int nclass, nfeat, acc_double, zm;
	float base_f;
	double base_d, out_scale;
};

template <bool SHARED>
__global__ void k_forest(struct kforest k, const float *rows, int n,
			 double *out, int stride)
{
	extern __shared__ float sm[];
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	const float *x;

	if (SHARED) {
		stage_rows(sm, rows, n, k.nfeat, stride);
		x = sm + threadIdx.x * stride;
	} else {
		x = rows + (size_t)i * k.nfeat;
	}
	if (i >= n)
		return;
	for (int c = 0; c < k.nclass; c++) {
		int t0 = __ldg(&k.cls_first[c]), t1 = __ldg(&k.cls_first[c + 1]);
		double *o = &out[(size_t)i * k.nclass + c];

		if (k.acc_double) {
			double acc = 0;

			for (int t = t0; t < t1; t++) {
				int r = __ldg(&k.root[t]);
				int l = walk(k.nodes + r, __ldg(&k.depth[t]), x,
					     k.zm, k.cats);

				acc += __ldg(&k.leaf_d[r + l]);
			}
			*o = __dadd_rn(k.base_d, __dmul_rn(acc, k.out_scale));
		} else {
			float acc = k.base_f;

			for (int t = t0; t < t1; t++) {
				int r = __ldg(&k.root[t]);
				int l = walk(k.nodes + r, __ldg(&k.depth[t]), x,
					     k.zm, k.cats);

				acc = __fadd_rn(acc, __ldg(&k.leaf_f[r + l]));
			}
			*o = acc;
		}
	}
}

__global__ void k_logit(const double *w, double b, int nfeat,
			const float *rows, int n, double *out)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i >= n)
		return;
	const float *x = rows + (size_t)i * nfeat;
	double s = b;

	for (int k = 0; k < nfeat; k++)
		if (!isnan(x[k]))
			s = __dadd_rn(s, __dmul_rn(w[k], (double)x[k]));
	out[i] = s;
}

#endif
