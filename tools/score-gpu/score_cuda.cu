/*
 * score_cuda.cu - GPU batch scoring of flattened forests and logistic
 * models.  One thread per row.  A block first copies its rows into
 * shared memory with coalesced loads (stride nfeat + 1 when nfeat is
 * even, to spread banks), then each thread walks every tree from the
 * read-only cache, exactly as the CPU kernel does: same node layout,
 * same fixed number of steps per tree, same summation order (float for
 * XGBoost models, double for LightGBM), so GPU margins equal CPU ones.
 * The kernels live in score_kernels.cuh (tests/unit/test-kernels-emu.cpp
 * runs them on the host); this file is the host side.
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "score_cuda.h"
#include "score_kernels.cuh"

struct slot {
	cudaStream_t stream;
	cudaEvent_t ev0, ev1;	/* around copy-in, kernel, copy-out */
	float *h_rows, *d_rows;
	double *h_out, *d_out;
};

struct cuda_scorer {
	int nfeat, nclass, max_batch, logit;
	struct kforest k;	/* device pointers */
	struct fnode *d_nodes;
	int *d_root, *d_depth, *d_cls_first;
	uint32_t *d_cats;
	float *d_leaf_f;
	double *d_leaf_d, *d_weights, intercept;
	struct slot slot[CUDA_SLOTS];
};

static int cerr(cudaError_t e, const char *what, char *err, size_t errlen)
{
	if (e == cudaSuccess)
		return 0;
	snprintf(err, errlen, "%s: %s", what, cudaGetErrorString(e));
	return -1;
}

extern "C" int cuda_probe(char *desc, size_t n)
{
	int count = 0;
	cudaError_t e = cudaGetDeviceCount(&count);
	struct cudaDeviceProp p;

	if (e != cudaSuccess) {
		int dv = 0;

		/* 0: libcuda.so.1 could not be loaded at all */
		if (cudaDriverGetVersion(&dv) == cudaSuccess && dv == 0)
			snprintf(desc, n, "no CUDA device (no NVIDIA driver: "
				 "libcuda.so.1 not found)");
		else if (e == cudaErrorInsufficientDriver)
			snprintf(desc, n, "no CUDA device (the NVIDIA driver "
				 "supports CUDA %d.%d; this build needs %d.%d)",
				 dv / 1000, dv % 1000 / 10, CUDART_VERSION / 1000,
				 CUDART_VERSION % 1000 / 10);
		else
			snprintf(desc, n, "no CUDA device (%s)",
				 cudaGetErrorString(e));
		return 0;
	}
	if (count < 1) {
		snprintf(desc, n, "no CUDA device");
		return 0;
	}
	if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
		snprintf(desc, n, "no usable CUDA device");
		return 0;
	}
	snprintf(desc, n, "%s, sm_%d%d, %.0f GiB%s", p.name, p.major, p.minor,
		 p.totalGlobalMem / 1073741824.0,
		 count > 1 ? " (device 0 of several)" : "");
	return count;
}

/* Copy n elements of size sz to a new device buffer. */
static int upload(void **d, const void *h, size_t n, size_t sz, char *err,
		  size_t errlen)
{
	size_t bytes = (n ? n : 1) * sz;

	if (cerr(cudaMalloc(d, bytes), "cudaMalloc", err, errlen) < 0)
		return -1;
	if (!h || !n)
		return 0;
	return cerr(cudaMemcpy(*d, h, n * sz, cudaMemcpyHostToDevice),
		    "cudaMemcpy", err, errlen);
}

static int upload_model(struct cuda_scorer *s, const struct forest *f,
			const struct model *m, char *err, size_t errlen)
{
	if (!f) {
		s->logit = 1;
		s->intercept = m->intercept;
		return upload((void **)&s->d_weights, m->weights, m->nfeat,
			      sizeof(double), err, errlen);
	}
	if (upload((void **)&s->d_nodes, f->nodes, f->nnodes,
		   sizeof(struct fnode), err, errlen) < 0 ||
	    upload((void **)&s->d_root, f->root, f->ntrees, sizeof(int), err,
		   errlen) < 0 ||
	    upload((void **)&s->d_depth, f->depth, f->ntrees, sizeof(int),
		   err, errlen) < 0 ||
	    upload((void **)&s->d_cls_first, f->cls_first, f->nclass + 1,
		   sizeof(int), err, errlen) < 0 ||
	    upload((void **)&s->d_cats, f->cats, f->ncats, sizeof(uint32_t),
		   err, errlen) < 0 ||
	    upload((void **)&s->d_leaf_f, f->leaf_f, f->nnodes, sizeof(float),
		   err, errlen) < 0 ||
	    upload((void **)&s->d_leaf_d, f->leaf_d, f->nnodes,
		   sizeof(double), err, errlen) < 0)
		return -1;
	s->k.nodes = s->d_nodes;
	s->k.root = s->d_root;
	s->k.depth = s->d_depth;
	s->k.cls_first = s->d_cls_first;
	s->k.leaf_f = s->d_leaf_f;
	s->k.leaf_d = s->d_leaf_d;
	s->k.cats = f->has_cat ? s->d_cats : NULL;
	s->k.nclass = f->nclass;
	s->k.nfeat = f->nfeat;
	s->k.acc_double = f->acc_double;
	s->k.zm = f->has_zero_missing;
	s->k.base_f = f->base_f;
	s->k.base_d = f->base_d;
	s->k.out_scale = f->out_scale;
	return 0;
}

static int slot_init(struct cuda_scorer *s, struct slot *sl, char *err,
		     size_t errlen)
{
	size_t rows = (size_t)s->max_batch * s->nfeat * sizeof(float);
	size_t outs = (size_t)s->max_batch * s->nclass * sizeof(double);

	if (cerr(cudaStreamCreateWithFlags(&sl->stream,
					   cudaStreamNonBlocking),
		 "cudaStreamCreate", err, errlen) < 0 ||
	    cerr(cudaEventCreate(&sl->ev0), "cudaEventCreate", err,
		 errlen) < 0 ||
	    cerr(cudaEventCreate(&sl->ev1), "cudaEventCreate", err,
		 errlen) < 0 ||
	    cerr(cudaMallocHost((void **)&sl->h_rows, rows),
		 "cudaMallocHost", err, errlen) < 0 ||
	    cerr(cudaMallocHost((void **)&sl->h_out, outs),
		 "cudaMallocHost", err, errlen) < 0 ||
	    cerr(cudaMalloc((void **)&sl->d_rows, rows), "cudaMalloc", err,
		 errlen) < 0 ||
	    cerr(cudaMalloc((void **)&sl->d_out, outs), "cudaMalloc", err,
		 errlen) < 0)
		return -1;
	return 0;
}

extern "C" struct cuda_scorer *cuda_scorer_new(const struct forest *f,
					       const struct model *m,
					       int max_batch, char *err,
					       size_t errlen)
{
	struct cuda_scorer *s = (struct cuda_scorer *)calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->nfeat = m->nfeat;
	s->nclass = f ? f->nclass : 1;
	s->max_batch = max_batch;
	if (cerr(cudaSetDevice(0), "cudaSetDevice", err, errlen) < 0 ||
	    upload_model(s, f, m, err, errlen) < 0) {
		cuda_scorer_free(s);
		return NULL;
	}
	for (int i = 0; i < CUDA_SLOTS; i++) {
		if (slot_init(s, &s->slot[i], err, errlen) < 0) {
			cuda_scorer_free(s);
			return NULL;
		}
	}
	/*
	 * The kernels exist for this GPU (built for sm_90 only), and the
	 * model upload has landed: cudaMemcpy from pageable memory may
	 * return before its DMA ends, and the slots' non-blocking streams
	 * do not wait for the legacy stream it ran on.
	 */
	struct cudaFuncAttributes fa;

	if (cerr(cudaFuncGetAttributes(&fa, s->logit ? (const void *)k_logit :
				       (const void *)k_forest<true>),
		 "no kernel for this GPU (built for sm_90)", err,
		 errlen) < 0 ||
	    cerr(cudaDeviceSynchronize(), "model upload", err, errlen) < 0) {
		cuda_scorer_free(s);
		return NULL;
	}
	return s;
}

extern "C" float *cuda_rows(struct cuda_scorer *s, int slot)
{
	return s->slot[slot].h_rows;
}

extern "C" double *cuda_out(struct cuda_scorer *s, int slot)
{
	return s->slot[slot].h_out;
}

/* Launch the kernel for n rows already on the device in slot sl. */
static void launch(struct cuda_scorer *s, struct slot *sl, int n)
{
	int blocks = (n + THREADS - 1) / THREADS;
	int stride = smem_stride(s->nfeat);
	size_t smem = (size_t)THREADS * stride * sizeof(float);

	if (s->logit) {
		k_logit<<<blocks, THREADS, 0, sl->stream>>>(
			s->d_weights, s->intercept, s->nfeat, sl->d_rows, n,
			sl->d_out);
	} else if (smem <= SMEM_MAX) {
		k_forest<true><<<blocks, THREADS, smem, sl->stream>>>(
			s->k, sl->d_rows, n, sl->d_out, stride);
	} else {
		k_forest<false><<<blocks, THREADS, 0, sl->stream>>>(
			s->k, sl->d_rows, n, sl->d_out, 0);
	}
}

extern "C" int cuda_submit(struct cuda_scorer *s, int slot, int n, char *err,
			   size_t errlen)
{
	struct slot *sl = &s->slot[slot];

	if (n <= 0)
		return 0;
	if (n > s->max_batch) {
		snprintf(err, errlen, "batch of %d rows over %d", n,
			 s->max_batch);
		return -1;
	}
	if (cerr(cudaEventRecord(sl->ev0, sl->stream), "cudaEventRecord", err,
		 errlen) < 0)
		return -1;
	if (cerr(cudaMemcpyAsync(sl->d_rows, sl->h_rows,
				 (size_t)n * s->nfeat * sizeof(float),
				 cudaMemcpyHostToDevice, sl->stream),
		 "copy to device", err, errlen) < 0)
		return -1;
	launch(s, sl, n);
	if (cerr(cudaGetLastError(), "kernel launch", err, errlen) < 0)
		return -1;
	if (cerr(cudaMemcpyAsync(sl->h_out, sl->d_out,
				 (size_t)n * s->nclass * sizeof(double),
				 cudaMemcpyDeviceToHost, sl->stream),
		 "copy from device", err, errlen) < 0)
		return -1;
	return cerr(cudaEventRecord(sl->ev1, sl->stream), "cudaEventRecord",
		    err, errlen);
}

extern "C" int cuda_wait(struct cuda_scorer *s, int slot, double *ms,
			 char *err, size_t errlen)
{
	struct slot *sl = &s->slot[slot];
	float t = 0;

	if (cerr(cudaStreamSynchronize(sl->stream), "cudaStreamSynchronize",
		 err, errlen) < 0 ||
	    cerr(cudaEventElapsedTime(&t, sl->ev0, sl->ev1),
		 "cudaEventElapsedTime", err, errlen) < 0)
		return -1;
	*ms = t;
	return 0;
}

extern "C" void cuda_scorer_free(struct cuda_scorer *s)
{
	if (!s)
		return;
	for (int i = 0; i < CUDA_SLOTS; i++) {
		struct slot *sl = &s->slot[i];

		if (sl->stream)
			cudaStreamSynchronize(sl->stream);
		cudaFreeHost(sl->h_rows);
		cudaFreeHost(sl->h_out);
		cudaFree(sl->d_rows);
		cudaFree(sl->d_out);
		if (sl->stream)
			cudaStreamDestroy(sl->stream);
		if (sl->ev0)
			cudaEventDestroy(sl->ev0);
		if (sl->ev1)
			cudaEventDestroy(sl->ev1);
	}
	cudaFree(s->d_nodes);
	cudaFree(s->d_root);
	cudaFree(s->d_depth);
	cudaFree(s->d_cls_first);
	cudaFree(s->d_cats);
	cudaFree(s->d_leaf_f);
	cudaFree(s->d_leaf_d);
	cudaFree(s->d_weights);
	free(s);
}
