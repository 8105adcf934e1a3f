/*
 * fmtfloat.c - doubles and floats as text.
 *
 * The text is what printf's "%.*g" gives at the fewest significant
 * digits, at least 15 for a double and 6 for a float, that read back as
 * the same number: fixed ("0.1", "148.58") unless the decimal exponent is
 * under -4 or at least that digit count ("1e+06", "1.4067478332435712e-05").
 * Whole doubles under 2^53 and whole floats under 10^6 print as integers.
 *
 * The digits come from libdouble-conversion's shortest mode (dconv.h), one
 * call per value, and are laid out here.  For a normal number they are
 * printf's digits: the interval of texts that read back as v holds at most
 * one number of 15 (6) digits, so when the shortest has no more digits
 * printf at 15 (6) finds the same one; when it has more, printf at that
 * count gives the nearest, which is the library's choice, unless v lies
 * exactly half way (printf rounds to even; the library's documentation
 * says away from zero, though 3.2.1 rounds to even too) or the interval
 * is lopsided (a power of two: its lower neighbour is nearer).  Those
 * values, and subnormals, take the old way: printf at each digit count
 * in turn until strtod reads back the value.  Most floats take a shorter
 * way still, fmt_f32_scaled(), the old way done exactly in a double.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "dconv.h"

/* 5^n for n <= 27, the largest under 2^64. */
static const uint64_t pow5[28] = {
	1ULL, 5ULL, 25ULL, 125ULL, 625ULL, 3125ULL, 15625ULL, 78125ULL,
	390625ULL, 1953125ULL, 9765625ULL, 48828125ULL, 244140625ULL,
	1220703125ULL, 6103515625ULL, 30517578125ULL, 152587890625ULL,
	762939453125ULL, 3814697265625ULL, 19073486328125ULL,
	95367431640625ULL, 476837158203125ULL, 2384185791015625ULL,
	11920928955078125ULL, 59604644775390625ULL, 298023223876953125ULL,
	1490116119384765625ULL, 7450580596923828125ULL,
};

/* The old way: "%.*g" from pmin digits up until it reads back as v. */
static int fmt_printf(char *buf, double v, int single)
{
	int pmin = single ? 6 : 15, pmax = single ? 9 : 17;
	int n = 0;

	for (int p = pmin; p <= pmax; p++) {
		n = snprintf(buf, FS_FMT_MAX, "%.*g", p, v);
		if (p == pmax)
			break;
		if (single ? strtof(buf, NULL) == (float)v :
			     strtod(buf, NULL) == v)
			break;
	}
	return n;
}

/*
 * Is a (> 0) exactly half way between the k digits d (a ~ 0.d * 10^point)
 * and their neighbour above or below, i.e. (10 * d +- 5) / 10^n with
 * n = k + 1 - point?  Then a has n fraction digits, so a * 2^n is a
 * whole number m, and m * 5^n is the numerator.
 */
static int is_tie(double a, const char *d, int k, int point)
{
	int n = k + 1 - point;
	uint64_t s = 0, m;
	double x;

	if (n <= 0 || n > 27)	/* a whole number, or 5^n > any numerator */
		return 0;
	x = ldexp(a, n);
	if (x >= 18446744073709551616.0 || x != floor(x))
		return 0;
	for (int i = 0; i < k; i++)
		s = s * 10 + (uint64_t)(d[i] - '0');
	m = (uint64_t)x;
	if (m > (10 * s + 5) / pow5[n])
		return 0;
	m *= pow5[n];
	return m == 10 * s - 5 || m == 10 * s + 5;
}

/*
 * Lay out the k digits d of |v| ~ 0.d * 10^point as "%.*g" does at
 * precision p (trailing zeros already gone), neg: a leading '-'.
 */
static int fmt_g(char *buf, int neg, const char *d, int k, int point, int p)
{
	char *o = buf;
	int x = point - 1;

	if (neg)
		*o++ = '-';
	if (x < -4 || x >= p) {
		*o++ = d[0];
		if (k > 1) {
			*o++ = '.';
			memcpy(o, d + 1, k - 1);
			o += k - 1;
		}
		*o++ = 'e';
		*o++ = x < 0 ? '-' : '+';
		x = abs(x);
		if (x >= 100) {
			*o++ = '0' + x / 100;
			x %= 100;
		}
		*o++ = '0' + x / 10;
		*o++ = '0' + x % 10;
	} else if (point <= 0) {
		*o++ = '0';
		*o++ = '.';
		memset(o, '0', -point);
		o += -point;
		memcpy(o, d, k);
		o += k;
	} else if (point >= k) {
		memcpy(o, d, k);
		o += k;
		memset(o, '0', point - k);
		o += point - k;
	} else {
		memcpy(o, d, point);
		o += point;
		*o++ = '.';
		memcpy(o, d + point, k - point);
		o += k - point;
	}
	*o = '\0';
	return o - buf;
}

/* 10^i, exact as doubles. */
static const double pow10_d[13] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
};

/*
 * A normal float of 1e-4 <= |v| < 1e6 the old way, done exactly without
 * printf: at p = 6, 7, ... digits, d = |v| * 10^j (j = p - 1 - the decimal
 * exponent) is exact in a double (24 + 28 bits for j <= 12), its nearest
 * integer (half to even, as printf) gives the p digits, and they read
 * back as v when d is within half a float ulp * 10^j of them (a quarter
 * below a power of two; on the edge, when v's significand is even, as
 * strtof rounds).  Returns the length, or -1 out of range.
 */
static int fmt_f32_scaled(char *buf, float v)
{
	double a = fabs((double)v), d, r, up, down, half_ulp;
	uint64_t h;
	uint32_t b;
	int e, x, j, p, k, even, lopsided;
	char dig[FS_FMT_MAX];

	memcpy(&b, &v, 4);
	e = (int)(b >> 23 & 0xff) - 127;	/* 2^e <= a < 2^(e+1) */
	even = (b & 1) == 0;
	lopsided = (b & 0x7fffff) == 0;
	h = (uint64_t)(e - 24 + 1023) << 52;	/* 2^(e - 24), normal */
	memcpy(&half_ulp, &h, 8);
	x = (e * 78913) >> 18;		/* floor(e * log10(2)): x or x - 1 */
	if (5 - x < 0 || 5 - x > 12)
		return -1;
	if (a * pow10_d[5 - x] >= 1e6)
		x++;
	for (p = 6; p <= 9; p++) {
		j = p - 1 - x;
		if (j < 0 || j > 12)
			return -1;
		d = a * pow10_d[j];
		r = rint(d);
		up = pow10_d[j] * half_ulp;
		down = lopsided ? up / 2 : up;
		if (r - d < up && d - r < down)
			break;
		if ((r - d == up || d - r == down) && even)
			break;
	}
	if (p > 9)
		return -1;	/* cannot be: 9 digits always read back */
	if (r >= pow10_d[p]) {	/* rounded up to 10^p */
		r /= 10;
		x++;
	}
	k = fs_fmt_u64(dig, (uint64_t)r);
	while (k > 1 && dig[k - 1] == '0')
		k--;
	return fmt_g(buf, signbit(v) != 0, dig, k, x + 1, p);
}

/* A finite v (a float's value when single) as the file comment says. */
static int fmt_float(char *buf, double v, int single)
{
	int pmin = single ? 6 : 15;
	char d[FS_DTOA_MAX];
	int k, point, exp, lopsided;

	if (single) {
		float f = (float)v;
		uint32_t b;

		memcpy(&b, &f, 4);
		exp = b >> 23 & 0xff;
		lopsided = (b & 0x7fffff) == 0 && exp > 1;
	} else {
		uint64_t b;

		memcpy(&b, &v, 8);
		exp = b >> 52 & 0x7ff;
		lopsided = (b & 0xfffffffffffffULL) == 0 && exp > 1;
	}
	if (v == 0)
		return fmt_g(buf, signbit(v) != 0, "0", 1, 1, pmin);
	if (exp == 0)		/* subnormal */
		return fmt_printf(buf, v, single);
	k = fs_dtoa_shortest(v, single, d, &point);
	if (k > pmin && (lopsided || is_tie(fabs(v), d, k, point)))
		return fmt_printf(buf, v, single);
	return fmt_g(buf, signbit(v) != 0, d, k, point, k > pmin ? k : pmin);
}

int fs_fmt_f64(char *buf, double v)
{
	int n = 0;

	if (isnan(v)) {
		memcpy(buf, "nan", 4);
		return 3;
	}
	if (isinf(v)) {
		if (v < 0)
			buf[n++] = '-';
		memcpy(buf + n, "inf", 4);
		return n + 3;
	}
	/* Whole numbers below 2^53 (counts, sizes) print as integers. */
	if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v &&
	    (v != 0 || !signbit(v)))
		return fs_fmt_i64(buf, (int64_t)v);
	return fmt_float(buf, v, 0);
}

int fs_fmt_f32(char *buf, float v)
{
	int n;

	if (!isfinite(v))
		return fs_fmt_f64(buf, v);
	/* Whole numbers below 10^6: "%.6g" prints every digit. */
	if (fabsf(v) < 1e6f && v == (float)(int32_t)v &&
	    (v != 0 || !signbit(v)))
		return fs_fmt_i64(buf, (int32_t)v);
	if ((n = fmt_f32_scaled(buf, v)) >= 0)
		return n;
	return fmt_float(buf, v, 1);
}
