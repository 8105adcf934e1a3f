/*
 * score_cuda.h - the CUDA scoring path (score_cuda.cu), built when the
 * Makefile finds nvcc (FS_HAVE_CUDA).  Two slots, each with pinned host
 * buffers, device buffers and its own stream: the caller fills one
 * slot's rows while the other slot is copied and scored, so transfers
 * overlap compute.  Every function returns -1 (or NULL) with a message
 * in err on a CUDA error.
 */
#ifndef SCORE_CUDA_H
#define SCORE_CUDA_H

#include <stddef.h>

#include "score.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CUDA_SLOTS 2

struct cuda_scorer;

/*
 * Number of CUDA devices seen (0 when none or on error); desc gets a
 * one-line description ("NVIDIA H100 80GB HBM3, sm_90, 79 GiB" or why
 * there is none).
 */
int cuda_probe(char *desc, size_t n);

/*
 * Upload the forest f (or, when f is NULL, the logistic model m) to
 * device 0 and allocate CUDA_SLOTS slots of max_batch rows.
 */
struct cuda_scorer *cuda_scorer_new(const struct forest *f,
				    const struct model *m, int max_batch,
				    char *err, size_t errlen);
/* The slot's pinned row buffer (max_batch x nfeat floats, row-major). */
float *cuda_rows(struct cuda_scorer *s, int slot);
/* The slot's pinned margins (max_batch x nclass doubles), valid after
 * wait. */
double *cuda_out(struct cuda_scorer *s, int slot);
/* Queue copy-in, kernel and copy-out of n rows on the slot's stream. */
int cuda_submit(struct cuda_scorer *s, int slot, int n, char *err,
		size_t errlen);
/*
 * Wait for the slot's queued work; *ms gets its device time (copy in,
 * kernel, copy out) from CUDA events.
 */
int cuda_wait(struct cuda_scorer *s, int slot, double *ms, char *err,
	      size_t errlen);
void cuda_scorer_free(struct cuda_scorer *s);

#ifdef __cplusplus
}
#endif

#endif
