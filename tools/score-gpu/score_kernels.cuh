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

/* Walk one tree for row x; returns the tree-local leaf index. */
__device__ static int walk(const struct fnode *nd, int depth, const float *x,
			   int zm)
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

		if (zm)
			miss |= (q.feat & FNODE_ZERO_MISSING) &&
				fabsf(v) <= 1e-35f;
		int lt = (v < q.thr) & !miss;
		idx = (lt | (miss & dl)) ? q.left : q.right;
	}
	return idx;
}

template <bool SHARED>
__global__ void k_forest(const struct fnode *nodes, const int *root,
			 const int *depth, const float *leaf_f,
			 const double *leaf_d, int ntrees, int nfeat,
			 int acc_double, int zm, float base_f, double base_d,
			 double out_scale, const float *rows, int n,
			 double *out, int stride)
{
	extern __shared__ float sm[];
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	const float *x;

	if (SHARED) {
		stage_rows(sm, rows, n, nfeat, stride);
		x = sm + threadIdx.x * stride;
	} else {
		x = rows + (size_t)i * nfeat;
	}
	if (i >= n)
		return;
	if (acc_double) {
		double acc = 0;

		for (int t = 0; t < ntrees; t++) {
			int r = __ldg(&root[t]);
			int l = walk(nodes + r, __ldg(&depth[t]), x, zm);

			acc += __ldg(&leaf_d[r + l]);
		}
		out[i] = __dadd_rn(base_d, __dmul_rn(acc, out_scale));
	} else {
		float acc = base_f;

		for (int t = 0; t < ntrees; t++) {
			int r = __ldg(&root[t]);
			int l = walk(nodes + r, __ldg(&depth[t]), x, zm);

			acc = __fadd_rn(acc, __ldg(&leaf_f[r + l]));
		}
		out[i] = acc;
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
