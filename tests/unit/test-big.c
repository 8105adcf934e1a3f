/*
 * test-big.c - unit tests of big zeroed blocks (libcommon/big.c): small
 * and big sizes, blocks wanted ahead and taken, more wants than the
 * preparer keeps, and wants never taken.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fs.h"

/* Every byte of p[0, n) is zero; then fill it (it must be writable). */
static void check_zero_and_fill(unsigned char *p, size_t n, int v)
{
	size_t nz = 0;

	for (size_t i = 0; i < n; i++)
		nz += p[i] != 0;
	assert_int_equal(nz, 0);
	memset(p, v, n);
}

static void test_small_and_big(void **state)
{
	(void)state;
	size_t sizes[] = { 0, 1, 4096, FS_BIG_MIN - 1, FS_BIG_MIN,
			   FS_BIG_MIN + 4096, 3u << 20 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *p = fs_big_alloc(sizes[i]);

		assert_non_null(p);
		check_zero_and_fill(p, sizes[i], 0xa5);
		fs_big_free(p, sizes[i]);
	}
	fs_big_free(NULL, 1u << 20);
}

/* Wanted blocks come back zeroed and of the size asked, in any order. */
static void test_want_then_take(void **state)
{
	(void)state;
	size_t n[3] = { 1u << 20, 2u << 20, 4u << 20 };
	unsigned char *p[3];

	unsigned char *q;

	for (int i = 0; i < 3; i++)
		fs_big_want(n[i]);
	fs_big_want(n[0]);		/* twice: two blocks of that size */
	for (int i = 2; i >= 0; i--) {
		p[i] = fs_big_alloc(n[i]);
		check_zero_and_fill(p[i], n[i], i + 1);
	}
	q = fs_big_alloc(n[0]);
	assert_true(q != p[0]);
	check_zero_and_fill(q, n[0], 9);
	fs_big_free(q, n[0]);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p[i][0], i + 1);
		assert_int_equal(p[i][n[i] - 1], i + 1);
		fs_big_free(p[i], n[i]);
	}
	/* after frees, a want and its take still pair up */
	fs_big_want(n[1]);
	p[1] = fs_big_alloc(n[1]);
	check_zero_and_fill(p[1], n[1], 7);
	fs_big_free(p[1], n[1]);
}

/* More wants than slots, and small wants: all ignored or served. */
static void test_many_wants(void **state)
{
	(void)state;
	enum { N = 20 };
	unsigned char *p[N];

	fs_big_want(100);		/* below FS_BIG_MIN: nothing to do */
	for (int i = 0; i < N; i++)
		fs_big_want(((size_t)i + 1) << 20);
	for (int i = 0; i < N; i++) {
		size_t n = ((size_t)i + 1) << 20;

		p[i] = fs_big_alloc(n);
		check_zero_and_fill(p[i], n, 0x5a);
	}
	for (int i = 0; i < N; i++)
		fs_big_free(p[i], ((size_t)i + 1) << 20);
	/* a want left untaken at exit is harmless */
	fs_big_want(5u << 20);
}

/* A want given back, made or not, leaves the others to be taken. */
static void test_unwant(void **state)
{
	(void)state;
	size_t n = 2u << 20;
	unsigned char *p, *q;

	fs_big_unwant(n);		/* nothing wanted: nothing to do */
	fs_big_want(n);
	fs_big_unwant(n);
	p = fs_big_alloc(n);
	check_zero_and_fill(p, n, 1);
	fs_big_want(n);
	fs_big_want(n);
	fs_big_want(n);
	fs_big_unwant(n);
	p[0] = 2;
	q = fs_big_alloc(n);
	check_zero_and_fill(q, n, 3);
	fs_big_free(q, n);
	q = fs_big_alloc(n);
	check_zero_and_fill(q, n, 4);
	fs_big_free(q, n);
	fs_big_unwant(n);
	assert_int_equal(p[0], 2);
	fs_big_free(p, n);
}

int tool_main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_and_big),
		cmocka_unit_test(test_want_then_take),
		cmocka_unit_test(test_many_wants),
		cmocka_unit_test(test_unwant),
	};

	(void)argc;
	(void)argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
