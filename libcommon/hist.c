/*
 * hist.c - a log-linear latency histogram.
 *
 * Values 0..63 get one bucket each; above that every power of two
 * [2^e, 2^(e+1)) is cut into FS_HIST_SUB = 64 equal buckets of width
 * 2^(e-6), so a bucket is never wider than 1/64 of its lower bound.
 * Group g (g >= 1) holds exponent e = g + 5; the 40 groups reach up to
 * 2^45 - 1 ns (about 9.7 hours).  Larger values land in the last bucket;
 * min, max, sum and count stay exact.
 */
#include <string.h>

#include "fs.h"

#define HIST_GROUPS (FS_HIST_BUCKETS / FS_HIST_SUB)
/* The first value clamped into the last bucket: 2^45. */
#define HIST_TOP ((uint64_t)1 << (HIST_GROUPS + 5))

/* The bucket index of a non-negative value. */
static inline unsigned bucket_of(uint64_t v)
{
	unsigned e;

	if (v < FS_HIST_SUB)
		return (unsigned)v;
	if (v >= HIST_TOP)
		return FS_HIST_BUCKETS - 1;
	e = 63u - (unsigned)__builtin_clzll(v);
	return (e - 5) * FS_HIST_SUB + (unsigned)((v >> (e - 6)) & 63);
}

/* Lowest value and width of bucket i. */
static void bucket_range(unsigned i, uint64_t *low, uint64_t *width)
{
	unsigned g = i / FS_HIST_SUB, s = i % FS_HIST_SUB;

	if (g == 0) {
		*low = s;
		*width = 1;
		return;
	}
	*low = (uint64_t)(FS_HIST_SUB + s) << (g - 1);
	*width = (uint64_t)1 << (g - 1);
}

void fs_hist_init(struct fs_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = INT64_MAX;
	h->max = INT64_MIN;
}

void fs_hist_add(struct fs_hist *h, int64_t v)
{
	if (v < 0)
		v = 0;
	h->bucket[bucket_of((uint64_t)v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void fs_hist_merge(struct fs_hist *dst, const struct fs_hist *src)
{
	unsigned i;

	if (!src->count)
		return;
	for (i = 0; i < FS_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

/*
 * The value of rank ceil(q * count) (at least 1): the midpoint of its
 * bucket, clamped to [min, max].  q <= 0 gives min, q >= 1 gives max.
 */
int64_t fs_hist_quantile(const struct fs_hist *h, double q)
{
	uint64_t rank, seen = 0, low, width;
	double r;
	int64_t v;
	unsigned i;

	if (!h->count)
		return 0;
	if (!(q > 0))
		return h->min;
	if (q >= 1)
		return h->max;
	r = q * (double)h->count;
	rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	for (i = 0; i < FS_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank)
			break;
	}
	if (i == FS_HIST_BUCKETS)
		return h->max;
	bucket_range(i, &low, &width);
	v = (int64_t)(low + (width - 1) / 2);
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}
