/*
 * mc_cuda.cu - fs-var's Monte Carlo P&L paths on the GPU: one kernel
 * launch for all paths; thread tid values paths j = tid, tid + stride,
 * ...  Path j draws its normals from its own counter-based stream
 * (splitmix64 of the seed and j, then Box-Muller), so the numbers do
 * not depend on the launch shape.  curand is not used: its headers
 * are not part of every toolkit install (this one has none).
 */
#include <cstdio>

#include "mc_cuda.h"

#define THREADS 256

extern "C" int var_cuda_probe(char *desc, size_t n)
{
	int count = 0;
	cudaError_t e = cudaGetDeviceCount(&count);
	cudaDeviceProp p;

	if (e != cudaSuccess || count < 1) {
		snprintf(desc, n, "no CUDA device (%s)",
			 e != cudaSuccess ? cudaGetErrorString(e) : "none");
		return 0;
	}
	if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
		snprintf(desc, n, "no usable CUDA device");
		return 0;
	}
	snprintf(desc, n, "%s, sm_%d%d", p.name, p.major, p.minor);
	return count;
}

__device__ static unsigned long long mix(unsigned long long *x)
{
	unsigned long long z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Two N(0, 1) from the stream x (Box-Muller). */
__device__ static double2 normal2(unsigned long long *x)
{
	double u = ((mix(x) >> 11) + 0.5) * 0x1.0p-53;
	double v = ((mix(x) >> 11) + 0.5) * 0x1.0p-53;
	double r = sqrt(-2 * log(u)), s, c;

	sincospi(2 * v, &s, &c);
	return make_double2(r * c, r * s);
}

__global__ void paths(const double *__restrict__ wv, unsigned r,
		      unsigned long long np, unsigned long long seed,
		      double *__restrict__ out)
{
	extern __shared__ double w[];
	unsigned long long tid = blockIdx.x * (unsigned long long)blockDim.x +
		threadIdx.x;
	unsigned long long stride = (unsigned long long)gridDim.x *
		blockDim.x;
	for (unsigned k = threadIdx.x; k < r; k += blockDim.x)
		w[k] = wv[k];
	__syncthreads();
	for (unsigned long long j = tid; j < np; j += stride) {
		unsigned long long x = seed ^ (j * 0xd1b54a32d192ed03ULL);
		double a = 0;
		unsigned k = 0;

		for (; k + 2 <= r; k += 2) {
			double2 z = normal2(&x);

			a += w[k] * z.x + w[k + 1] * z.y;
		}
		if (k < r)
			a += w[k] * normal2(&x).x;
		out[j] = a;
	}
}

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
	snprintf(err, errlen, "%s: %s", #x, cudaGetErrorString(e_)); \
	goto out; } } while (0)

extern "C" int var_cuda_mc(const double *wv, size_t r, uint64_t np,
			   uint64_t seed, double *sims, char *err,
			   size_t errlen)
{
	double *dw = NULL, *ds = NULL;
	int rc = -1, sms = 0, blocks;
	size_t shm = (r ? r : 1) * sizeof(double);

	if (shm > 48 * 1024) {
		snprintf(err, errlen, "%zu factors: more than the 6144 the "
			 "kernel keeps in shared memory", r);
		return -1;
	}
	CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
	blocks = sms * 8;
	if ((unsigned long long)blocks * THREADS > np)
		blocks = (int)((np + THREADS - 1) / THREADS);
	CK(cudaMalloc(&dw, shm));
	CK(cudaMalloc(&ds, np * sizeof(double)));
	CK(cudaMemcpy(dw, wv, r * sizeof(double), cudaMemcpyHostToDevice));
	paths<<<blocks, THREADS, shm>>>(dw, (unsigned)r, np, seed, ds);
	CK(cudaGetLastError());
	CK(cudaMemcpy(sims, ds, np * sizeof(double), cudaMemcpyDeviceToHost));
	rc = 0;
out:
	cudaFree(dw);
	cudaFree(ds);
	return rc;
}
