/*
 * test-hist.c - unit tests of the log-linear histogram (libcommon/hist.c):
 * quantiles against exact quantiles of the sorted data, clamping, merge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fs.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static double rnd_unit(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The exact quantile the histogram approximates: rank ceil(q n). */
static int64_t exact_quantile(const int64_t *sorted, size_t n, double q)
{
	double r = ceil(q * (double)n);
	size_t k = r < 1 ? 1 : (size_t)r;

	if (q <= 0)
		return sorted[0];
	if (k > n)
		k = n;
	return sorted[k - 1];
}

/* Check every tested quantile of h against the data within 1/64. */
static void check_quantiles(const struct fs_hist *h, int64_t *v, size_t n)
{
	static const double qs[] = {
		0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999,
		0.9999, 1,
	};
	int64_t est, want, prev = INT64_MIN;
	size_t i;

	qsort(v, n, sizeof(*v), cmp_i64);
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		est = fs_hist_quantile(h, qs[i]);
		want = exact_quantile(v, n, qs[i]);
		if (fabs((double)est - (double)want) > (double)want / 64)
			fail_msg("q=%g: got %lld, exact %lld", qs[i],
				 (long long)est, (long long)want);
		assert_true(est >= prev);	/* monotone in q */
		prev = est;
	}
	assert_true(fs_hist_quantile(h, 0) == v[0]);
	assert_true(fs_hist_quantile(h, 1) == v[n - 1]);
}

static void test_empty(void **st)
{
	struct fs_hist h;

	(void)st;
	fs_hist_init(&h);
	assert_int_equal(h.count, 0);
	assert_true(fs_hist_quantile(&h, 0.5) == 0);
	assert_true(fs_hist_quantile(&h, 0) == 0);
	assert_true(fs_hist_quantile(&h, 1) == 0);
}

static void test_single_and_small(void **st)
{
	struct fs_hist h;
	int64_t v;

	(void)st;
	fs_hist_init(&h);
	fs_hist_add(&h, 123456789);
	assert_true(fs_hist_quantile(&h, 0.5) == 123456789);
	assert_true(fs_hist_quantile(&h, 0.001) == 123456789);
	/* Values under 64 have a bucket each: exact. */
	fs_hist_init(&h);
	for (v = 0; v < 64; v++)
		fs_hist_add(&h, v);
	assert_true(fs_hist_quantile(&h, 0.5) == 31);
	assert_true(fs_hist_quantile(&h, 1.0 / 64) == 0);
	assert_true(fs_hist_quantile(&h, 2.0 / 64) == 1);
	assert_true(fs_hist_quantile(&h, 0.99) == 63);
	assert_true(h.sum == 63 * 64 / 2);
	/* Negative values count as 0. */
	fs_hist_init(&h);
	fs_hist_add(&h, -5);
	fs_hist_add(&h, INT64_MIN);
	assert_int_equal(h.count, 2);
	assert_true(h.min == 0 && h.max == 0);
	assert_true(fs_hist_quantile(&h, 0.5) == 0);
}

/* Exact small integers through every bucket boundary region. */
static void test_every_value(void **st)
{
	static int64_t v[200000];
	struct fs_hist h;
	size_t n = 0;
	int64_t x;

	(void)st;
	fs_hist_init(&h);
	for (x = 0; x < 200000; x++) {
		v[n++] = x;
		fs_hist_add(&h, x);
	}
	check_quantiles(&h, v, n);
}

/* Log-uniform over 1 ns .. ~2^44 ns, uniform and a heavy tail. */
static void test_distributions(void **st)
{
	enum { N = 100000 };
	static int64_t v[N];
	struct fs_hist h;
	int d, i;

	(void)st;
	for (d = 0; d < 4; d++) {
		fs_hist_init(&h);
		for (i = 0; i < N; i++) {
			double u = rnd_unit();

			if (d == 0)
				v[i] = (int64_t)exp(u * 30.0);	/* log-unif. */
			else if (d == 1)
				v[i] = (int64_t)(u * 1e7);	/* uniform */
			else if (d == 2)	/* Pareto tail */
				v[i] = (int64_t)(1000.0 / pow(1 - u, 1.5));
			else	/* clustered: small set of values */
				v[i] = (int64_t)(rnd() % 7) * 1000003;
			if (v[i] > ((int64_t)1 << 44))
				v[i] = (int64_t)1 << 44;
			fs_hist_add(&h, v[i]);
		}
		assert_int_equal(h.count, N);
		check_quantiles(&h, v, N);
	}
}

/* The relative error bound holds at every bucket edge. */
static void test_bucket_edges(void **st)
{
	struct fs_hist h;
	int64_t base, v, est;
	int e, k;

	(void)st;
	for (e = 6; e < 45; e++) {
		for (k = -2; k <= 2; k++) {
			base = (int64_t)1 << e;
			v = base + k * (base >> 6);
			fs_hist_init(&h);
			fs_hist_add(&h, 0);
			fs_hist_add(&h, v);
			fs_hist_add(&h, INT64_MAX);	/* keep max away */
			est = fs_hist_quantile(&h, 0.5);
			if (fabs((double)est - (double)v) > (double)v / 64)
				fail_msg("v=%lld: got %lld", (long long)v,
					 (long long)est);
		}
	}
}

/* Beyond 2^45 values clamp to the last bucket; min and max stay exact. */
static void test_clamp(void **st)
{
	struct fs_hist h;

	(void)st;
	fs_hist_init(&h);
	fs_hist_add(&h, (int64_t)1 << 50);
	fs_hist_add(&h, INT64_MAX);
	assert_true(h.min == (int64_t)1 << 50);
	assert_true(h.max == INT64_MAX);
	assert_true(h.bucket[FS_HIST_BUCKETS - 1] == 2);
	assert_true(fs_hist_quantile(&h, 1) == INT64_MAX);
	assert_true(fs_hist_quantile(&h, 0.5) >= (int64_t)1 << 50);
	assert_true(fs_hist_quantile(&h, 0) == (int64_t)1 << 50);
}

static void test_merge(void **st)
{
	enum { N = 50000 };
	static int64_t v[2 * N];
	struct fs_hist a, b, all, empty;
	int i;

	(void)st;
	fs_hist_init(&a);
	fs_hist_init(&b);
	fs_hist_init(&all);
	fs_hist_init(&empty);
	for (i = 0; i < 2 * N; i++) {
		v[i] = (int64_t)exp(rnd_unit() * 25.0) + (i < N ? 0 : 5000);
		fs_hist_add(i < N ? &a : &b, v[i]);
		fs_hist_add(&all, v[i]);
	}
	fs_hist_merge(&a, &empty);
	assert_int_equal(a.count, N);
	fs_hist_merge(&empty, &a);
	assert_memory_equal(empty.bucket, a.bucket, sizeof(a.bucket));
	assert_true(empty.min == a.min && empty.max == a.max);
	fs_hist_merge(&a, &b);
	assert_int_equal(a.count, all.count);
	assert_true(a.min == all.min && a.max == all.max);
	assert_memory_equal(a.bucket, all.bucket, sizeof(a.bucket));
	assert_true(fabs(a.sum - all.sum) <= all.sum * 1e-12);
	check_quantiles(&a, v, 2 * N);
}

int tool_main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single_and_small),
		cmocka_unit_test(test_every_value),
		cmocka_unit_test(test_distributions),
		cmocka_unit_test(test_bucket_edges),
		cmocka_unit_test(test_clamp),
		cmocka_unit_test(test_merge),
	};

	(void)argc;
	(void)argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
