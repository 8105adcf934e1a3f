/*
 * forest_simd.c - the AVX-512 CPU kernel, chosen at run time when the
 * CPU has AVX-512F (no special build flags: the functions carry their
 * own target attribute).
 *
 * Trees are walked as perfect binary trees (forest.c pads shallow
 * leaves): 16 rows per vector, the position of each row inside the
 * current level in one lane.  Levels 0-4 of a tree fit in one register
 * and level 5 in two, so their thresholds and features come from
 * in-register permutes; deeper levels use gathers.  The feature value
 * is gathered from the rows.  Each row's float sum adds the trees in
 * order, exactly as the scalar kernel (and XGBoost) do.
 */
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FS_SIMD 1
#include <immintrin.h>	/* before fs.h: banned.h would break stdlib.h */
#endif

#include "fs.h"
#include "score.h"

#ifdef FS_SIMD

#define SIMD __attribute__((target("avx512f")))
#define NV 4			/* vectors of 16 rows in a block of 64 */

int forest_simd_ok(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f");
}

/* One level for vector v: pos = 2 * pos + (row goes right). */
SIMD static inline __m512i step(__m512i pos, __m512 tv, __m512i fv,
				__m512i laneoff, const float *rows, int zm)
{
	const __m512i fmask = _mm512_set1_epi32(FNODE_FEAT_MASK);
	const __m512i dlb = _mm512_set1_epi32((int)FNODE_DEFAULT_LEFT);
	__m512i xi = _mm512_add_epi32(_mm512_and_si512(fv, fmask), laneoff);
	__m512 x = _mm512_i32gather_ps(xi, rows, 4);
	__mmask16 lt = _mm512_cmp_ps_mask(x, tv, _CMP_LT_OQ);
	__mmask16 miss = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
	__mmask16 dl = _mm512_test_epi32_mask(fv, dlb);
	__mmask16 left;

	if (zm) {
		const __m512i zmb = _mm512_set1_epi32(FNODE_ZERO_MISSING);
		__mmask16 z = _mm512_cmp_ps_mask(_mm512_abs_ps(x),
						 _mm512_set1_ps(1e-35f),
						 _CMP_LE_OQ);

		miss |= _mm512_test_epi32_mask(fv, zmb) & z;
	}
	left = (lt & ~miss) | (miss & dl);
	pos = _mm512_add_epi32(pos, pos);
	return _mm512_mask_add_epi32(pos, (__mmask16)~left, pos,
				     _mm512_set1_epi32(1));
}

/* Leaf positions of the NV vectors of rows in perfect tree t. */
SIMD static inline void tree_pos(const struct forest *f, int t,
				 const float *rows, const __m512i *laneoff,
				 __m512i *pos, int zm)
{
	const float *thr = f->pthr + f->poff[t];
	const uint32_t *feat = f->pfeat + f->poff[t];
	int d = f->pdepth[t];

	for (int v = 0; v < NV; v++)
		pos[v] = _mm512_setzero_si512();
	for (int l = 0; l < d; l++) {
		int64_t base = ((int64_t)1 << l) - 1;
		__m512 t0 = _mm512_setzero_ps(), t1 = t0;
		__m512i f0 = _mm512_setzero_si512(), f1 = f0;

		if (l <= 5) {
			t0 = _mm512_loadu_ps(thr + base);
			f0 = _mm512_loadu_si512(feat + base);
		}
		if (l == 5) {
			t1 = _mm512_loadu_ps(thr + base + 16);
			f1 = _mm512_loadu_si512(feat + base + 16);
		}
		for (int v = 0; v < NV; v++) {
			__m512 tv;
			__m512i fv;

			if (l <= 4) {
				tv = _mm512_permutexvar_ps(pos[v], t0);
				fv = _mm512_permutexvar_epi32(pos[v], f0);
			} else if (l == 5) {
				tv = _mm512_permutex2var_ps(t0, pos[v], t1);
				fv = _mm512_permutex2var_epi32(f0, pos[v], f1);
			} else {
				tv = _mm512_i32gather_ps(pos[v], thr + base, 4);
				fv = _mm512_i32gather_epi32(pos[v], feat + base,
							    4);
			}
			pos[v] = step(pos[v], tv, fv, laneoff[v], rows, zm);
		}
	}
}

/* A tree too deep for the perfect layout: the generic walk. */
static void deep_tree(const struct forest *f, int t, const float *rows,
		      int n, float *acc, double *accd)
{
	int32_t idx[64];

	forest_walk(f, t, rows, n, idx);
	for (int i = 0; i < n; i++) {
		acc[i] += f->leaf_f[f->root[t] + idx[i]];
		accd[i] += f->leaf_d[f->root[t] + idx[i]];
	}
}

/* Trees [t0, t1) of f for n rows, added to acc (float) and accd. */
SIMD static void block(const struct forest *f, int t0, int t1,
		       const float *rows, int n, float *acc, double *accd,
		       int zm)
{
	__m512i laneoff[NV], pos[NV];
	int32_t off[64] __attribute__((aligned(64)));

	for (int i = 0; i < 64; i++)
		off[i] = (i < n ? i : n - 1) * f->nfeat;
	for (int v = 0; v < NV; v++)
		laneoff[v] = _mm512_load_si512(off + 16 * v);
	for (int t = t0; t < t1; t++) {
		const int64_t lo = f->pleaf_off[t];

		if (f->pdepth[t] < 0) {
			deep_tree(f, t, rows, n, acc, accd);
			continue;
		}
		tree_pos(f, t, rows, laneoff, pos, zm);
		if (f->acc_double) {
			for (int v = 0; v < NV; v++)
				_mm512_store_si512(off + 16 * v, pos[v]);
			for (int i = 0; i < n; i++)
				accd[i] += f->pleaf_d[lo + off[i]];
			continue;
		}
		for (int v = 0; v < NV; v++) {
			__m512 lv = _mm512_i32gather_ps(pos[v],
							f->pleaf_f + lo, 4);
			__m512 a = _mm512_load_ps(acc + 16 * v);

			_mm512_store_ps(acc + 16 * v, _mm512_add_ps(a, lv));
		}
	}
}

SIMD void forest_block_simd(const struct forest *f, const float *rows, int n,
			    double *out)
{
	float acc[64] __attribute__((aligned(64)));
	double accd[64];

	for (int c = 0; c < f->nclass; c++) {
		int t0 = f->cls_first[c], t1 = f->cls_first[c + 1];

		for (int i = 0; i < 64; i++) {
			acc[i] = f->base_f;
			accd[i] = 0;
		}
		if (f->has_zero_missing)
			block(f, t0, t1, rows, n, acc, accd, 1);
		else
			block(f, t0, t1, rows, n, acc, accd, 0);
		for (int i = 0; i < n; i++)
			out[i * f->nclass + c] = f->acc_double ?
				f->base_d + accd[i] * f->out_scale :
				(double)acc[i];
	}
}

#else

int forest_simd_ok(void)
{
	return 0;
}

void forest_block_simd(const struct forest *f, const float *rows, int n,
		       double *out)
{
	(void)f;
	(void)rows;
	(void)n;
	(void)out;
	fs_bug("forest_block_simd without AVX-512");
}

#endif
