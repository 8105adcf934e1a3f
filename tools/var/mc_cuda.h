/*
 * mc_cuda.h - fs-var's Monte Carlo paths on a CUDA device (mc_cuda.cu),
 * built when the Makefile finds nvcc (FS_HAVE_CUDA).
 */
#ifndef MC_CUDA_H
#define MC_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CUDA devices seen (0: none); desc says which, or why none. */
int var_cuda_probe(char *desc, size_t n);

/*
 * sims[j] = sum_k wv[k] z_jk for j < np, z ~ N(0, 1) from path j's own
 * counter-based stream (splitmix64 of seed and j, Box-Muller), in one
 * batched kernel on device 0.  0, or -1 with a message in err.
 */
int var_cuda_mc(const double *wv, size_t r, uint64_t np, uint64_t seed,
		double *sims, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
