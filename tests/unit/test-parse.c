/*
 * test-parse.c - unit tests of libcommon/parse.c: integers, doubles,
 * fixed-point money, durations, timestamps, the id hash and clocks.
 *
 * libfs.a owns main(), so the test program is tool_main().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "fs.h"

#define ALL ((size_t)-1)

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* xorshift64*: a fixed sequence, so failures reproduce. */
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* A random int64 spread over all magnitudes, not only huge ones. */
static int64_t rnd_i64(void)
{
	uint64_t v = rnd();
	unsigned bits = (unsigned)(rnd() % 64);

	if (bits < 63)
		v &= ((uint64_t)1 << bits) - 1;
	return (rnd() & 1) ? (int64_t)v : (int64_t)(0 - v);
}

/* ---- integers ---- */

static void test_i64_valid(void **st)
{
	int64_t v;

	(void)st;
	assert_int_equal(fs_parse_i64("0", ALL, INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == 0);
	assert_int_equal(fs_parse_i64("-42", ALL, INT64_MIN, INT64_MAX, &v),
			 0);
	assert_true(v == -42);
	assert_int_equal(fs_parse_i64("+42", ALL, INT64_MIN, INT64_MAX, &v),
			 0);
	assert_true(v == 42);
	assert_int_equal(fs_parse_i64("9223372036854775807", ALL, INT64_MIN,
				      INT64_MAX, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(fs_parse_i64("-9223372036854775808", ALL, INT64_MIN,
				      INT64_MAX, &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(fs_parse_i64("0000000000000000000000000017", ALL,
				      INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == 17);
	/* Bounded by n, not by the NUL. */
	assert_int_equal(fs_parse_i64("123abc", 3, INT64_MIN, INT64_MAX, &v),
			 0);
	assert_true(v == 123);
}

static void test_i64_invalid(void **st)
{
	static const char *bad[] = {
		"", "-", "+", " 1", "1 ", "1a", "0x10", "1.0", "--1", "+-1",
		"9223372036854775808", "-9223372036854775809",
		"99999999999999999999", "184467440737095516160", "1e3",
	};
	int64_t v = 777;
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fs_parse_i64(bad[i], ALL, INT64_MIN,
					      INT64_MAX, &v), -1);
		assert_true(v == 777);
	}
	/* Range limits from the caller. */
	assert_int_equal(fs_parse_i64("11", ALL, 0, 10, &v), -1);
	assert_int_equal(fs_parse_i64("-1", ALL, 0, 10, &v), -1);
	assert_int_equal(fs_parse_i64("10", ALL, 0, 10, &v), 0);
	assert_true(v == 10);
	assert_int_equal(fs_parse_i64("123abc", 4, INT64_MIN, INT64_MAX, &v),
			 -1);
}

static void test_u64(void **st)
{
	uint64_t v = 5;

	(void)st;
	assert_int_equal(fs_parse_u64("18446744073709551615", ALL, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(fs_parse_u64("0", ALL, &v), 0);
	assert_true(v == 0);
	v = 5;
	assert_int_equal(fs_parse_u64("18446744073709551616", ALL, &v), -1);
	assert_int_equal(fs_parse_u64("-1", ALL, &v), -1);
	assert_int_equal(fs_parse_u64("", ALL, &v), -1);
	assert_int_equal(fs_parse_u64("12 ", ALL, &v), -1);
	assert_true(v == 5);
}

/* fs_fmt_i64/u64 against snprintf, and back through the parsers. */
static void test_fmt_int_roundtrip(void **st)
{
	char a[FS_FMT_MAX], b[64];
	int64_t v, back;
	uint64_t u, uback;
	int i, n;

	(void)st;
	for (i = 0; i < 200000; i++) {
		v = i == 0 ? INT64_MIN : i == 1 ? INT64_MAX : rnd_i64();
		n = fs_fmt_i64(a, v);
		snprintf(b, sizeof(b), "%lld", (long long)v);
		assert_string_equal(a, b);
		assert_int_equal(n, (int)strlen(b));
		assert_int_equal(fs_parse_i64(a, (size_t)n, INT64_MIN,
					      INT64_MAX, &back), 0);
		assert_true(back == v);
		u = i == 0 ? UINT64_MAX : rnd() >> (rnd() % 64);
		n = fs_fmt_u64(a, u);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)u);
		assert_string_equal(a, b);
		assert_int_equal(fs_parse_u64(a, ALL, &uback), 0);
		assert_true(uback == u);
	}
}

/* ---- doubles ---- */

static void test_f64(void **st)
{
	static const char *bad[] = {
		"", "-", "1e", "e5", " 1", "1 ", "0x10", "1,5", "nan(1)",
		"1e400", "-1e400", "infinit", "..1", "1..", ".",
	};
	char buf[FS_FMT_MAX];
	double v = 3;
	size_t i;

	(void)st;
	assert_int_equal(fs_parse_f64("0.1", ALL, &v), 0);
	assert_true(v == 0.1);
	assert_int_equal(fs_parse_f64("-2.5e-3", ALL, &v), 0);
	assert_true(v == -2.5e-3);
	assert_int_equal(fs_parse_f64(".5", ALL, &v), 0);
	assert_true(v == 0.5);
	assert_int_equal(fs_parse_f64("NaN", ALL, &v), 0);
	assert_true(isnan(v));
	assert_int_equal(fs_parse_f64("nan", ALL, &v), 0);
	assert_true(isnan(v));
	assert_int_equal(fs_parse_f64("-inf", ALL, &v), 0);
	assert_true(isinf(v) && v < 0);
	assert_int_equal(fs_parse_f64("Infinity", ALL, &v), 0);
	assert_true(isinf(v) && v > 0);
	assert_int_equal(fs_parse_f64("2.5xyz", 3, &v), 0);
	assert_true(v == 2.5);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 3;
		assert_int_equal(fs_parse_f64(bad[i], ALL, &v), -1);
		assert_true(v == 3);
	}
	fs_fmt_f64(buf, 0.1);
	assert_string_equal(buf, "0.1");
	fs_fmt_f64(buf, 1.0 / 3);
	assert_string_equal(buf, "0.3333333333333333");
	fs_fmt_f64(buf, 100);
	assert_string_equal(buf, "100");
	fs_fmt_f64(buf, NAN);
	assert_string_equal(buf, "nan");
	fs_fmt_f64(buf, -INFINITY);
	assert_string_equal(buf, "-inf");
	fs_fmt_f64(buf, INFINITY);
	assert_string_equal(buf, "inf");
	fs_fmt_f64(buf, -0.0);
	assert_string_equal(buf, "-0");
	fs_fmt_f64(buf, -42.0);
	assert_string_equal(buf, "-42");
	fs_fmt_f64(buf, 9007199254740993.0 * 4);
	assert_string_equal(buf, "3.602879701896397e+16");
	fs_fmt_f64(buf, 1e300);
	assert_string_equal(buf, "1e+300");
}

/* Random bit patterns print and read back bit for bit. */
static void test_f64_roundtrip(void **st)
{
	char buf[FS_FMT_MAX];
	double v, back;
	uint64_t bits;
	int i, n;

	(void)st;
	for (i = 0; i < 100000; i++) {
		bits = rnd();
		memcpy(&v, &bits, sizeof(v));
		if (i % 3 == 0)
			v = (double)rnd_i64() / 1000.0;
		if (isnan(v) || isinf(v))
			continue;
		n = fs_fmt_f64(buf, v);
		assert_true(n > 0 && n < FS_FMT_MAX);
		assert_int_equal(fs_parse_f64(buf, (size_t)n, &back), 0);
		assert_memory_equal(&v, &back, sizeof(v));
	}
}

/* ---- fixed point ---- */

static void check_fix(const char *s, int64_t want)
{
	int64_t v;

	if (fs_parse_fix(s, ALL, &v) != 0)
		fail_msg("fs_parse_fix(\"%s\") failed", s);
	if (v != want)
		fail_msg("fs_parse_fix(\"%s\") = %lld, want %lld", s,
			 (long long)v, (long long)want);
}

static void test_fix_parse(void **st)
{
	static const char *bad[] = {
		"", "-", "+", ".", "-.", "1e3", "1.2.3", " 1", "1 ", "1,5",
		"0.000000001", "1.123456789", "92233720368.54775808",
		"-92233720368.54775809", "92233720369", "100000000000",
		"abc", "0x1", "--1", "nan",
	};
	int64_t v = 9;
	size_t i;

	(void)st;
	check_fix("-12.345", -1234500000LL);
	check_fix("100", 10000000000LL);
	check_fix("0.00000001", 1);
	check_fix("-0.00000001", -1);
	check_fix("+7.5", 750000000LL);
	check_fix(".5", 50000000LL);
	check_fix("5.", 500000000LL);
	check_fix("-0", 0);
	check_fix("0.12345678", 12345678LL);
	check_fix("000123.10000000", 12310000000LL);
	check_fix("92233720368.54775807", INT64_MAX);
	check_fix("-92233720368.54775808", INT64_MIN);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fs_parse_fix(bad[i], ALL, &v) != -1)
			fail_msg("fs_parse_fix(\"%s\") accepted", bad[i]);
		assert_true(v == 9);
	}
	assert_int_equal(fs_parse_fix("1.25|x", 4, &v), 0);
	assert_true(v == 125000000LL);
}

static void test_fix_fmt(void **st)
{
	char buf[FS_FMT_MAX], ref[64];
	int64_t v, back;
	uint64_t mag;
	int i, n;

	(void)st;
	fs_fmt_fix(buf, -1234500000LL);
	assert_string_equal(buf, "-12.345");
	fs_fmt_fix(buf, 10000000000LL);
	assert_string_equal(buf, "100");
	fs_fmt_fix(buf, 1);
	assert_string_equal(buf, "0.00000001");
	fs_fmt_fix(buf, 0);
	assert_string_equal(buf, "0");
	fs_fmt_fix(buf, INT64_MIN);
	assert_string_equal(buf, "-92233720368.54775808");
	fs_fmt_fix(buf, INT64_MAX);
	assert_string_equal(buf, "92233720368.54775807");
	for (i = 0; i < 300000; i++) {
		v = i == 0 ? INT64_MIN : i == 1 ? INT64_MAX : rnd_i64();
		n = fs_fmt_fix(buf, v);
		assert_int_equal(n, (int)strlen(buf));
		assert_int_equal(fs_parse_fix(buf, (size_t)n, &back), 0);
		assert_true(back == v);
		/* Independent reference: %08llu then trim. */
		mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
		snprintf(ref, sizeof(ref), "%s%llu.%08llu", v < 0 ? "-" : "",
			 (unsigned long long)(mag / 100000000),
			 (unsigned long long)(mag % 100000000));
		n = (int)strlen(ref);
		while (ref[n - 1] == '0')
			ref[--n] = 0;
		if (ref[n - 1] == '.')
			ref[--n] = 0;
		assert_string_equal(buf, ref);
	}
}

/* ---- durations ---- */

static void check_dur(const char *s, int64_t want)
{
	int64_t v;

	if (fs_parse_duration(s, ALL, &v) != 0)
		fail_msg("fs_parse_duration(\"%s\") failed", s);
	if (v != want)
		fail_msg("fs_parse_duration(\"%s\") = %lld, want %lld", s,
			 (long long)v, (long long)want);
}

static void test_duration_parse(void **st)
{
	static const char *bad[] = {
		"", "5", "-", "s", "1x", "1m30", "1.5", "1.5ns", "ms", "1 s",
		" 1s", "1s ", "9223372036854775808ns", "106752d", "1e3s",
		"1..5s", "-5", "1.s5", "0.0000000001s",
	};
	int64_t v = 11;
	size_t i;

	(void)st;
	check_dur("0", 0);
	check_dur("0s", 0);
	check_dur("1m30s", 90000000000LL);
	check_dur("250ms", 250000000LL);
	check_dur("2h", 7200000000000LL);
	check_dur("1d", 86400000000000LL);
	check_dur("10us", 10000);
	check_dur("10\xc2\xb5s", 10000);
	check_dur("5ns", 5);
	check_dur("1.5s", 1500000000LL);
	check_dur("1.5ms", 1500000LL);
	check_dur(".5s", 500000000LL);
	check_dur("1h30m", 5400000000000LL);
	check_dur("1d2h3m4s5ms6us7ns", 93784005006007LL);
	check_dur("-1m", -60000000000LL);
	check_dur("0.000000001s", 1);
	check_dur("1.5m", 90000000000LL);
	check_dur("9223372036854775807ns", INT64_MAX);
	check_dur("-9223372036854775808ns", INT64_MIN);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fs_parse_duration(bad[i], ALL, &v) != -1)
			fail_msg("fs_parse_duration(\"%s\") accepted", bad[i]);
		assert_true(v == 11);
	}
}

static void test_duration_fmt(void **st)
{
	static const struct {
		int64_t ns;
		const char *s;
	} known[] = {
		{0, "0s"}, {5, "5ns"}, {1500, "1.5us"}, {250000000, "250ms"},
		{1500000, "1.5ms"}, {1000000000, "1s"}, {1500000000, "1.5s"},
		{90000000000LL, "1m30s"}, {3600000000000LL, "1h"},
		{86400000000000LL, "1d"}, {3601000000001LL, "1h1.000000001s"},
		{-60000000000LL, "-1m"},
		{93784005006007LL, "1d2h3m4.005006007s"},
	};
	char buf[FS_FMT_MAX];
	int64_t v, back;
	size_t i;
	int n;

	(void)st;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		fs_fmt_duration(buf, known[i].ns);
		assert_string_equal(buf, known[i].s);
	}
	for (i = 0; i < 300000; i++) {
		v = i == 0 ? INT64_MIN : i == 1 ? INT64_MAX : rnd_i64();
		n = fs_fmt_duration(buf, v);
		assert_true(n > 0 && n < FS_FMT_MAX);
		assert_int_equal(n, (int)strlen(buf));
		if (fs_parse_duration(buf, (size_t)n, &back) != 0)
			fail_msg("cannot read back \"%s\"", buf);
		assert_true(back == v);
	}
}

/* ---- timestamps ---- */

static void check_time(const char *s, int64_t want)
{
	int64_t v;

	if (fs_parse_time(s, ALL, &v) != 0)
		fail_msg("fs_parse_time(\"%s\") failed", s);
	if (v != want)
		fail_msg("fs_parse_time(\"%s\") = %lld, want %lld", s,
			 (long long)v, (long long)want);
}

static void test_time_parse(void **st)
{
	/* 2026-11-24 03:52:25 UTC */
	const int64_t t0 = 1795492345LL * 1000000000LL;

	(void)st;
	check_time("2026-11-24T03:52:25Z", t0);
	check_time("2026-11-24T03:52:25.5Z", t0 + 500000000);
	check_time("2026-11-24t03:52:25z", t0);
	check_time("2026-11-24 03:52:25Z", t0);
	check_time("2026-11-24T03:52:25", t0);
	check_time("2026-11-24T03:52:25.123456789Z", t0 + 123456789);
	check_time("2026-11-24T03:52:25,25Z", t0 + 250000000);
	check_time("2026-11-24T04:52:25+01:00", t0);
	check_time("2026-11-24T04:52:25+0100", t0);
	check_time("2026-11-24T04:52:25+01", t0);
	check_time("2026-11-23T22:22:25-05:30", t0);
	check_time("2026-11-24T03:52Z", t0 - 25000000000LL);
	check_time("2026-11-24", t0 - (3 * 3600 + 52 * 60 + 25) * 1000000000LL);
	check_time("1970-01-01T00:00:00Z", 0);
	check_time("1969-12-31T23:59:59.999999999Z", -1);
	check_time("1900-01-01T00:00:00Z", -2208988800LL * 1000000000LL);
	check_time("2000-02-29", 951782400LL * 1000000000LL);
	check_time("2262-04-11T23:47:16.854775807Z", INT64_MAX);
	check_time("1677-09-21T00:12:43.145224192Z", INT64_MIN);
	/* Epoch numbers. */
	check_time("1700000000", 1700000000LL * 1000000000LL);
	check_time("1700000000.5", 1700000000500000000LL);
	check_time("1700000000123", 1700000000123000000LL);
	check_time("1700000000123456", 1700000000123456000LL);
	check_time("1700000000123456789", 1700000000123456789LL);
	check_time("1700000000s", 1700000000LL * 1000000000LL);
	check_time("1700000000123ms", 1700000000123000000LL);
	check_time("1700000000123456us", 1700000000123456000LL);
	check_time("5ns", 5);
	check_time("5ms", 5000000);
	check_time("0", 0);
	check_time("-1", -1000000000LL);
	check_time("-1.5s", -1500000000LL);
	check_time("100000000000", 100000000000000000LL);	/* 1e11: ms */
	check_time("9000000000000", 9000000000000000000LL);
	check_time("100000000000000", 100000000000000000LL);
}

static void test_time_invalid(void **st)
{
	static const char *bad[] = {
		"", "x", "2026-13-01", "2026-00-01", "2026-01-00",
		"2026-01-32", "2025-02-29", "1900-02-29", "2100-02-29",
		"2026-11-24T24:00:00Z", "2026-11-24T23:60:00Z",
		"2026-11-24T23:59:60Z", "2026-11-24T03:52:25.Z",
		"2026-11-24T03:52:25.1234567890Z", "2026-11-24T03:52:25+24:00",
		"2026-11-24T03:52:25+01:60", "2026-11-24T03:52:25 Z",
		"2026-11-24T03:52:25ZZ", "2026-11-24X03:52:25Z",
		"2026-11-24T3:52:25Z", "2026-1-24", "26-11-24",
		"2026-11-24T", "2026-11-24T03", "2026-11-24T03:5",
		"2262-04-11T23:47:16.854775808Z",
		"1677-09-21T00:12:43.145224191Z", "0000-01-01", "9999-12-31",
		"1700000000x", "1.5ns", "1e9", "9223372036854775808ns",
		"99999999999999999999", "-", "s", "99999999999",
		"99999999999999", "2026-11-24T03:52:25+1:00",
	};
	int64_t v = 13;
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fs_parse_time(bad[i], ALL, &v) != -1)
			fail_msg("fs_parse_time(\"%s\") accepted", bad[i]);
		assert_true(v == 13);
	}
}

/* Formatting against the C library's gmtime_r, and reading back. */
static void test_time_roundtrip(void **st)
{
	char buf[FS_FMT_MAX], ref[64];
	int64_t v, back, sec, sub;
	struct tm tm;
	time_t t;
	int i, n;

	(void)st;
	fs_fmt_time(buf, 0);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	fs_fmt_time(buf, -1);
	assert_string_equal(buf, "1969-12-31T23:59:59.999999999Z");
	fs_fmt_time(buf, 1795492345500000000LL);
	assert_string_equal(buf, "2026-11-24T03:52:25.5Z");
	fs_fmt_time(buf, INT64_MIN);
	assert_string_equal(buf, "1677-09-21T00:12:43.145224192Z");
	fs_fmt_time(buf, INT64_MAX);
	assert_string_equal(buf, "2262-04-11T23:47:16.854775807Z");
	for (i = 0; i < 300000; i++) {
		v = i == 0 ? INT64_MIN : i == 1 ? INT64_MAX : (int64_t)rnd();
		if (i % 4 == 2)	/* whole seconds and ms, common in data */
			v -= v % 1000000000;
		else if (i % 4 == 3)
			v -= v % 1000000;
		n = fs_fmt_time(buf, v);
		assert_int_equal(n, (int)strlen(buf));
		assert_int_equal(fs_parse_time(buf, (size_t)n, &back), 0);
		assert_true(back == v);
		sec = v / 1000000000;
		sub = v % 1000000000;
		if (sub < 0) {
			sec--;
			sub += 1000000000;
		}
		t = (time_t)sec;
		assert_non_null(gmtime_r(&t, &tm));
		n = (int)strftime(ref, sizeof(ref), "%Y-%m-%dT%H:%M:%S", &tm);
		assert_memory_equal(buf, ref, (size_t)n);
		/* And timegm agrees with the ISO reader on whole seconds. */
		if (i >= 2 && i % 50 == 0) {
			snprintf(ref + n, sizeof(ref) - (size_t)n, "Z");
			assert_int_equal(fs_parse_time(ref, ALL, &back), 0);
			assert_true(back == sec * 1000000000);
			assert_true((int64_t)timegm(&tm) == sec);
		}
	}
}

/* Every day 1678..2261 through the zone forms, against timegm. */
static void test_time_calendar(void **st)
{
	char buf[64];
	struct tm tm;
	int64_t v, want;
	time_t t;

	(void)st;
	for (t = -9214560000LL; t < 9214560000LL; t += 86400 * 7 + 3661) {
		gmtime_r(&t, &tm);
		want = (int64_t)t * 1000000000;
		strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S+00:00", &tm);
		assert_int_equal(fs_parse_time(buf, ALL, &v), 0);
		assert_true(v == want);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S-0700", &tm);
		assert_int_equal(fs_parse_time(buf, ALL, &v), 0);
		assert_true(v == want + 7 * 3600 * 1000000000LL);
		strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
		assert_int_equal(fs_parse_time(buf, ALL, &v), 0);
		assert_true(v == want - (int64_t)(tm.tm_hour * 3600 +
				tm.tm_min * 60 + tm.tm_sec) * 1000000000);
	}
}

/* ---- hash, ids, clocks ---- */

static void test_hash(void **st)
{
	(void)st;
	/* Published FNV-1a 64 test vectors. */
	assert_true(fs_hash64("", 0) == 0xcbf29ce484222325ULL);
	assert_true(fs_hash64("a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(fs_hash64("foobar", 6) == 0x85944171f73967e8ULL);
	assert_true(fs_id("12345", ALL) == 12345);
	assert_true(fs_id("18446744073709551615", ALL) == UINT64_MAX);
	assert_true(fs_id("18446744073709551616", ALL) ==
		    fs_hash64("18446744073709551616", 20));
	assert_true(fs_id("acct-7", ALL) == fs_hash64("acct-7", 6));
	assert_true(fs_id("", 0) == fs_hash64("", 0));
	assert_true(fs_id("-5", ALL) == fs_hash64("-5", 2));
	assert_true(fs_id("42xyz", 2) == 42);
}

static void test_clocks(void **st)
{
	int64_t a, b, now;
	int i;

	(void)st;
	now = fs_now_ns();
	assert_true(now > 1577836800LL * 1000000000LL);	/* after 2020 */
	a = fs_mono_ns();
	for (i = 0; i < 1000; i++) {
		b = fs_mono_ns();
		assert_true(b >= a);
		a = b;
	}
}

int tool_main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_i64_valid),
		cmocka_unit_test(test_i64_invalid),
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_fmt_int_roundtrip),
		cmocka_unit_test(test_f64),
		cmocka_unit_test(test_f64_roundtrip),
		cmocka_unit_test(test_fix_parse),
		cmocka_unit_test(test_fix_fmt),
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_duration_fmt),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_time_invalid),
		cmocka_unit_test(test_time_roundtrip),
		cmocka_unit_test(test_time_calendar),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_clocks),
	};

	(void)argc;
	(void)argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
