/*
 * parse.c - parsing and printing of integers, fixed-point money, durations
 * and timestamps, parsing of doubles (fmtfloat.c prints them); the
 * string-id hash; clocks.
 *
 * Everything here is locale-free and allocation-free.  The integer,
 * fixed-point and timestamp paths sit on the CSV hot paths, so they use
 * hand-written digit loops, never strtod or snprintf.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

typedef unsigned __int128 fs_u128;

#define NS_PER_S 1000000000LL
#define I64_NEG_MAG ((uint64_t)INT64_MAX + 1)	/* |INT64_MIN| */

static const uint64_t pow10_u64[20] = {
	1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
	10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
	100000000000ULL, 1000000000000ULL, 10000000000000ULL,
	100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
	100000000000000000ULL, 1000000000000000000ULL,
	10000000000000000000ULL,
};

static inline size_t len_of(const char *s, size_t n)
{
	return n == (size_t)-1 ? strlen(s) : n;
}

static inline int is_digit(char c)
{
	return (unsigned char)(c - '0') < 10;
}

/*
 * Read decimal digits at [*pp, e) into *v.  Returns the number of digits
 * read (0 if none) or -1 when the value passes UINT64_MAX; *pp advances
 * past the digits.
 */
static int scan_u64(const char **pp, const char *e, uint64_t *v)
{
	const char *p = *pp;
	uint64_t x = 0;
	int nd = 0;

	while (p < e && is_digit(*p)) {
		unsigned d = (unsigned)(*p - '0');

		/* Fewer than 19 digits cannot overflow. */
		if (nd >= 19 && x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
		p++;
		nd++;
	}
	*pp = p;
	*v = x;
	return nd;
}

int fs_parse_i64(const char *s, size_t n, int64_t min, int64_t max,
		 int64_t *out)
{
	const char *p = s, *e;
	uint64_t mag;
	int64_t v;
	int neg = 0;

	n = len_of(s, n);
	e = s + n;
	if (p < e && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	if (scan_u64(&p, e, &mag) <= 0 || p != e)
		return -1;
	if (neg) {
		if (mag > I64_NEG_MAG)
			return -1;
		v = mag == I64_NEG_MAG ? INT64_MIN : -(int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return -1;
		v = (int64_t)mag;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int fs_parse_u64(const char *s, size_t n, uint64_t *out)
{
	const char *p = s, *e;
	uint64_t v;

	n = len_of(s, n);
	e = s + n;
	if (p < e && *p == '+')
		p++;
	if (scan_u64(&p, e, &v) <= 0 || p != e)
		return -1;
	*out = v;
	return 0;
}

/* Case-insensitive equality of s[0..n) with the lower-case word w. */
static int word_eq(const char *s, size_t n, const char *w)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!w[i] || c != w[i])
			return 0;
	}
	return w[i] == 0;
}

int fs_parse_f64(const char *s, size_t n, double *out)
{
	char buf[512];
	const char *b;
	size_t i, bn;
	char *end;
	double v;
	int saved = errno, neg = 0;

	n = len_of(s, n);
	b = s;
	bn = n;
	if (bn && (*b == '-' || *b == '+')) {
		neg = *b == '-';
		b++;
		bn--;
	}
	if (word_eq(b, bn, "nan")) {
		*out = neg ? -NAN : NAN;
		return 0;
	}
	if (word_eq(b, bn, "inf") || word_eq(b, bn, "infinity")) {
		*out = neg ? -INFINITY : INFINITY;
		return 0;
	}
	/* Plain decimal syntax only: no hex, no spaces, no nan(...). */
	if (!bn || bn >= sizeof(buf) || !(is_digit(*b) || *b == '.'))
		return -1;
	for (i = 0; i < bn; i++) {
		char c = b[i];

		if (!is_digit(c) && c != '.' && c != 'e' && c != 'E' &&
		    c != '+' && c != '-')
			return -1;
	}
	memcpy(buf, s, n);
	buf[n] = 0;
	v = strtod(buf, &end);
	errno = saved;
	if (end != buf + n || isinf(v))
		return -1;
	*out = v;
	return 0;
}

int fs_parse_fix(const char *s, size_t n, int64_t *out)
{
	const char *p = s, *e;
	uint64_t ip = 0, frac = 0, mag;
	int neg = 0, nd = 0, fd = 0;

	n = len_of(s, n);
	e = s + n;
	if (p < e && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	/* INT64_MAX / 1e8 = 92233720368.5...: the largest integer part. */
	for (; p < e && is_digit(*p); p++, nd++) {
		ip = ip * 10 + (uint64_t)(*p - '0');
		if (ip > 92233720368ULL)
			return -1;
	}
	if (p < e && *p == '.') {
		for (p++; p < e && is_digit(*p); p++, fd++) {
			if (fd == 8)
				return -1;
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
	}
	if (p != e || nd + fd == 0)
		return -1;
	mag = ip * (uint64_t)FS_FIX_SCALE + frac * pow10_u64[8 - fd];
	if (mag > (neg ? I64_NEG_MAG : (uint64_t)INT64_MAX))
		return -1;
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	return 0;
}

/*
 * A decimal number "123", "1.5", ".25" as an integer part and up to 18
 * fraction digits; further fraction digits must be 0 or inexact is set.
 */
struct dec {
	uint64_t ip;
	uint64_t frac;
	int fd;		/* fraction digits kept in frac */
	int inexact;	/* a non-zero digit past the 18th decimal */
};

/* Scan a dec at [*pp, e); returns 0, or -1 on no digits or overflow. */
static int scan_dec(const char **pp, const char *e, struct dec *d)
{
	const char *p = *pp;
	int nd, any;

	memset(d, 0, sizeof(*d));
	nd = scan_u64(&p, e, &d->ip);
	if (nd < 0)
		return -1;
	any = nd > 0;
	if (p < e && *p == '.') {
		for (p++; p < e && is_digit(*p); p++) {
			any = 1;
			if (d->fd < 18) {
				d->frac = d->frac * 10 + (uint64_t)(*p - '0');
				d->fd++;
			} else if (*p != '0') {
				d->inexact = 1;
			}
		}
	}
	*pp = p;
	return any ? 0 : -1;
}

/*
 * d * unit as an exact integer in *v (unit in ns).  Returns -1 when the
 * product is not a whole number of ns.
 */
static int dec_scale(const struct dec *d, uint64_t unit, fs_u128 *v)
{
	fs_u128 f = (fs_u128)d->frac * unit;
	uint64_t p = pow10_u64[d->fd];

	if (d->inexact || f % p)
		return -1;
	*v = (fs_u128)d->ip * unit + f / p;
	return 0;
}

/* Store a sign and a magnitude as int64; -1 when out of range. */
static int set_signed(fs_u128 mag, int neg, int64_t *out)
{
	if (mag > (neg ? I64_NEG_MAG : (uint64_t)INT64_MAX))
		return -1;
	*out = neg ? (int64_t)(0 - (uint64_t)mag) : (int64_t)(uint64_t)mag;
	return 0;
}

/*
 * Match a duration unit at [*pp, e); return its length in ns, or 0 when
 * there is none.  "ms" is tried before "m".
 */
static uint64_t scan_unit(const char **pp, const char *e)
{
	static const struct {
		const char *name;
		unsigned char len;
		uint64_t ns;
	} units[] = {
		{"ns", 2, 1ULL},
		{"us", 2, 1000ULL},
		{"\xc2\xb5s", 3, 1000ULL},	/* micro sign */
		{"\xce\xbcs", 3, 1000ULL},	/* greek mu */
		{"ms", 2, 1000000ULL},
		{"s", 1, 1000000000ULL},
		{"m", 1, 60000000000ULL},
		{"h", 1, 3600000000000ULL},
		{"d", 1, 86400000000000ULL},
	};
	const char *p = *pp;
	size_t left = (size_t)(e - p), i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (units[i].len <= left &&
		    !memcmp(p, units[i].name, units[i].len)) {
			*pp = p + units[i].len;
			return units[i].ns;
		}
	}
	return 0;
}

int fs_parse_duration(const char *s, size_t n, int64_t *ns)
{
	const char *p = s, *e;
	fs_u128 total = 0, part;
	struct dec d;
	uint64_t unit;
	int neg = 0;

	n = len_of(s, n);
	e = s + n;
	if (p < e && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	if (e - p == 1 && *p == '0')
		return set_signed(0, 0, ns);
	if (p == e)
		return -1;
	while (p < e) {
		if (scan_dec(&p, e, &d) < 0)
			return -1;
		unit = scan_unit(&p, e);
		if (!unit || dec_scale(&d, unit, &part) < 0)
			return -1;
		total += part;
		if (total > I64_NEG_MAG)
			return -1;
	}
	return set_signed(total, neg, ns);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The date of day z since 1970-01-01. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m,
			    unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, unsigned m)
{
	static const unsigned char dm[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* Exactly k digits at p (the caller checked the length); -1 if not. */
static int digits_at(const char *p, int k)
{
	int v = 0;

	while (k--) {
		if (!is_digit(*p))
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	return v;
}

/*
 * A zone at [p, e): "", "Z", "+HH", "+HHMM", "+HH:MM" (or '-').  Sets
 * *off to seconds east of UTC; returns 1 for "" (no zone), 0 or -1.
 */
static int parse_zone(const char *p, const char *e, int *off)
{
	size_t n = (size_t)(e - p);
	int sign, hh, mm = 0;

	*off = 0;
	if (n == 0)
		return 1;
	if (n == 1 && (*p == 'Z' || *p == 'z'))
		return 0;
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p == '-' ? -1 : 1;
	if (n == 3) {
		hh = digits_at(p + 1, 2);
	} else if (n == 5) {
		hh = digits_at(p + 1, 2);
		mm = digits_at(p + 3, 2);
	} else if (n == 6 && p[3] == ':') {
		hh = digits_at(p + 1, 2);
		mm = digits_at(p + 4, 2);
	} else {
		return -1;
	}
	if (hh < 0 || mm < 0 || hh > 23 || mm > 59)
		return -1;
	*off = sign * (hh * 3600 + mm * 60);
	return 0;
}

/*
 * The clock part "HH:MM[:SS[.f]]" then a zone; adds to *sec and *sub.
 * Returns 1 when there was no zone (*sec is then the wall time), 0, -1.
 */
static int parse_clock(const char *p, const char *e, int64_t *sec,
		       int64_t *sub)
{
	int hh, mi, ss = 0, off, fd = 0, z;
	int64_t f = 0;

	if (e - p < 5 || p[2] != ':')
		return -1;
	hh = digits_at(p, 2);
	mi = digits_at(p + 3, 2);
	p += 5;
	if (e - p >= 3 && *p == ':') {
		ss = digits_at(p + 1, 2);
		p += 3;
		if (p < e && (*p == '.' || *p == ',')) {
			for (p++; p < e && is_digit(*p); p++, fd++) {
				if (fd == 9)
					return -1;
				f = f * 10 + (*p - '0');
			}
			if (fd == 0)
				return -1;
		}
	}
	if (hh < 0 || mi < 0 || ss < 0 || hh > 23 || mi > 59 || ss > 59)
		return -1;
	if ((z = parse_zone(p, e, &off)) < 0)
		return -1;
	*sec += hh * 3600 + mi * 60 + ss - off;
	*sub = f * (int64_t)pow10_u64[9 - fd];
	return z;
}

/* Seconds east of UTC at the instant u, in the zone TZ names. */
static int tz_off_at(int64_t u)
{
	time_t t = (time_t)u;
	struct tm tm;

	return localtime_r(&t, &tm) ? (int)tm.tm_gmtoff : 0;
}

/*
 * Seconds east of UTC of the wall time w (seconds, as if UTC) in the
 * zone, as python's zoneinfo reads it with fold=0: a wall time in the
 * gap of a forward shift, or in the repeated span of a backward one,
 * takes the offset from before the shift.  Assumes at most one shift
 * within a day either side, as every zone in the tz database has.
 */
static int tz_wall_off(int64_t w)
{
	int64_t lo = w - 86400, hi = w + 86400;
	int before = tz_off_at(lo), after = tz_off_at(hi);

	if (before == after)
		return before;
	while (hi - lo > 1) {	/* the first second of the new offset */
		int64_t mid = lo + (hi - lo) / 2;

		if (tz_off_at(mid) == before)
			lo = mid;
		else
			hi = mid;
	}
	return w < hi + (before > after ? before : after) ? before : after;
}

/*
 * Make zoneless times local time in the tz database zone name (e.g.
 * "America/New_York"): sets TZ for the process.  -1 when the name is
 * not a zone of the database (TZDIR, else /usr/share/zoneinfo).
 */
int fs_tz_set(struct fs_tz *tz, const char *name)
{
	const char *dir = getenv("TZDIR");
	char path[4096], magic[4];
	FILE *f;
	int ok;

	memset(tz, 0, sizeof(*tz));
	tz->hour = INT64_MIN;
	if (!*name || *name == '/' || strstr(name, ".."))
		return -1;
	snprintf(path, sizeof(path), ":%s/%s", dir && *dir ? dir :
		 "/usr/share/zoneinfo", name);
	f = fopen(path + 1, "rb");
	if (!f)
		return -1;
	ok = fread(magic, 1, 4, f) == 4 && !memcmp(magic, "TZif", 4);
	fclose(f);
	if (!ok || setenv("TZ", path, 1) < 0)
		return -1;
	tzset();
	tz->set = 1;
	return 0;
}

/* The offset of wall time w, through a cache of the last wall hour. */
static int tz_off(struct fs_tz *tz, int64_t w)
{
	int64_t h = w >= 0 ? w / 3600 : (w - 3599) / 3600;
	int a, b;

	if (h == tz->hour)
		return tz->off;
	a = tz_wall_off(h * 3600);
	b = tz_wall_off(h * 3600 + 3599);
	if (a != b)	/* a shift inside the hour: no caching */
		return tz_wall_off(w);
	tz->hour = h;
	tz->off = a;
	return a;
}

/* ISO 8601 date, optional time and zone; s has "DDDD-" at its start. */
static int parse_iso(const char *s, size_t n, const struct fs_time_rules *r,
		     int64_t *ns)
{
	int y, m, d, local = 1;
	int64_t sec, sub = 0, v;

	if (n < 10 || s[4] != '-' || s[7] != '-')
		return -1;
	y = digits_at(s, 4);
	m = digits_at(s + 5, 2);
	d = digits_at(s + 8, 2);
	if (y < 0 || m < 1 || m > 12 || d < 1 ||
	    d > days_in_month(y, (unsigned)m))
		return -1;
	sec = days_from_civil(y, (unsigned)m, (unsigned)d) * 86400;
	if (n > 10) {
		if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
			return -1;
		if ((local = parse_clock(s + 11, s + n, &sec, &sub)) < 0)
			return -1;
	}
	if (local && r && r->tz && r->tz->set)
		sec -= tz_off(r->tz, sec);
	/* Borrow a second so that the earliest instants do not overflow. */
	if (sec < 0 && sub > 0) {
		sec++;
		sub -= NS_PER_S;
	}
	if (__builtin_mul_overflow(sec, NS_PER_S, &v) ||
	    __builtin_add_overflow(v, sub, &v))
		return -1;
	*ns = v;
	return 0;
}

/*
 * Epoch numbers: "1700000000", "1700000000.5", "-5s", "1700000000123ms";
 * a bare number in r's unit, else by magnitude.
 */
static int parse_epoch(const char *s, size_t n,
		       const struct fs_time_rules *r, int64_t *ns)
{
	const char *p = s, *e = s + n;
	struct dec d;
	uint64_t unit;
	fs_u128 v;
	int neg = 0;

	if (p < e && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	if (scan_dec(&p, e, &d) < 0)
		return -1;
	if (p == e) {
		if (r && r->epoch_unit)
			unit = r->epoch_unit;
		else if (d.ip < 100000000000ULL)
			unit = NS_PER_S;
		else if (d.ip < 100000000000000ULL)
			unit = 1000000;
		else if (d.ip < 100000000000000000ULL)
			unit = 1000;
		else
			unit = 1;
	} else if (e - p == 1 && *p == 's') {
		unit = NS_PER_S;
	} else if (e - p == 2 && p[1] == 's' &&
		   (*p == 'm' || *p == 'u' || *p == 'n')) {
		unit = *p == 'm' ? 1000000 : *p == 'u' ? 1000 : 1;
	} else {
		return -1;
	}
	if (dec_scale(&d, unit, &v) < 0)
		return -1;
	return set_signed(v, neg, ns);
}

int fs_parse_time_as(const char *s, size_t n,
		     const struct fs_time_rules *r, int64_t *ns)
{
	n = len_of(s, n);
	if (n >= 10 && s[4] == '-' && is_digit(s[0]))
		return parse_iso(s, n, r, ns);
	return parse_epoch(s, n, r, ns);
}

int fs_parse_time(const char *s, size_t n, int64_t *ns)
{
	return fs_parse_time_as(s, n, NULL, ns);
}

static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324"
	"25262728293031323334353637383940414243444546474849"
	"50515253545556575859606162636465666768697071727374"
	"75767778798081828384858687888990919293949596979899";

int fs_fmt_u64(char *buf, uint64_t v)
{
	int n = 1;
	char *p;

	while (n < 20 && v >= pow10_u64[n])
		n++;
	p = buf + n;
	*p = 0;
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);

		v /= 100;
		p -= 2;
		memcpy(p, digit_pairs + 2 * r, 2);
	}
	if (v >= 10)
		memcpy(p - 2, digit_pairs + 2 * v, 2);
	else
		p[-1] = (char)('0' + v);
	return n;
}

int fs_fmt_i64(char *buf, int64_t v)
{
	if (v < 0) {
		buf[0] = '-';
		return 1 + fs_fmt_u64(buf + 1, 0 - (uint64_t)v);
	}
	return fs_fmt_u64(buf, (uint64_t)v);
}

/* Exactly k digits of v, zero padded, at p. */
static void put_digits(char *p, uint64_t v, int k)
{
	while (k >= 2) {
		k -= 2;
		memcpy(p + k, digit_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (k)
		p[0] = (char)('0' + v % 10);
}

/*
 * Append "." and the k-digit fraction f with trailing zeros trimmed at
 * p (nothing when f is 0); return the length written.
 */
static int put_frac(char *p, uint64_t f, int k)
{
	if (!f)
		return 0;
	while (f % 10 == 0) {
		f /= 10;
		k--;
	}
	p[0] = '.';
	put_digits(p + 1, f, k);
	return k + 1;
}

int fs_fmt_fix(char *buf, int64_t v)
{
	uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	int n = 0;

	if (v < 0)
		buf[n++] = '-';
	n += fs_fmt_u64(buf + n, mag / FS_FIX_SCALE);
	n += put_frac(buf + n, mag % FS_FIX_SCALE, 8);
	buf[n] = 0;
	return n;
}

int fs_fmt_time(char *buf, int64_t ns)
{
	int64_t sec = ns / NS_PER_S, sub = ns % NS_PER_S, days, sod, y;
	unsigned m, d;
	char *p = buf;

	if (sub < 0) {
		sub += NS_PER_S;
		sec--;
	}
	days = sec / 86400;
	sod = sec % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	/* int64 ns spans 1677..2262: always four year digits. */
	put_digits(p, (uint64_t)y, 4);
	p[4] = '-';
	put_digits(p + 5, m, 2);
	p[7] = '-';
	put_digits(p + 8, d, 2);
	p[10] = 'T';
	put_digits(p + 11, (uint64_t)(sod / 3600), 2);
	p[13] = ':';
	put_digits(p + 14, (uint64_t)(sod / 60 % 60), 2);
	p[16] = ':';
	put_digits(p + 17, (uint64_t)(sod % 60), 2);
	p += 19;
	p += put_frac(p, (uint64_t)sub, 9);
	*p++ = 'Z';
	*p = 0;
	return (int)(p - buf);
}

/* Append the short string u at p; return its length. */
static int put_str(char *p, const char *u)
{
	size_t n = strlen(u);

	memcpy(p, u, n);
	return (int)n;
}

/* Append the number v and the unit u at p; return the length. */
static int put_part(char *p, uint64_t v, const char *u)
{
	int n = fs_fmt_u64(p, v);

	return n + put_str(p + n, u);
}

int fs_fmt_duration(char *buf, int64_t ns)
{
	uint64_t mag = ns < 0 ? 0 - (uint64_t)ns : (uint64_t)ns, s;
	int n = 0;

	if (ns < 0)
		buf[n++] = '-';
	if (mag == 0) {
		n += put_str(buf + n, "0s");
	} else if (mag < 1000) {
		n += put_part(buf + n, mag, "ns");
	} else if (mag < 1000000) {
		n += fs_fmt_u64(buf + n, mag / 1000);
		n += put_frac(buf + n, mag % 1000, 3);
		n += put_str(buf + n, "us");
	} else if (mag < (uint64_t)NS_PER_S) {
		n += fs_fmt_u64(buf + n, mag / 1000000);
		n += put_frac(buf + n, mag % 1000000, 6);
		n += put_str(buf + n, "ms");
	} else {
		s = mag / NS_PER_S;
		if (s >= 86400)
			n += put_part(buf + n, s / 86400, "d");
		if (s % 86400 >= 3600)
			n += put_part(buf + n, s % 86400 / 3600, "h");
		if (s % 3600 >= 60)
			n += put_part(buf + n, s % 3600 / 60, "m");
		if (s % 60 || mag % NS_PER_S) {
			n += fs_fmt_u64(buf + n, s % 60);
			n += put_frac(buf + n, mag % NS_PER_S, 9);
			buf[n++] = 's';
		}
	}
	buf[n] = 0;
	return n;
}

uint64_t fs_hash64(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--) {
		h ^= *b++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

const char *fs_trim_cell(const char *s, size_t *n)
{
	while (*n && (*s == ' ' || *s == '\t'))
		s++, (*n)--;
	while (*n && (s[*n - 1] == ' ' || s[*n - 1] == '\t' ||
		      s[*n - 1] == '\r'))
		(*n)--;
	return s;
}

int fs_why_at(char *why, size_t whyn, const char *unit, uint64_t line,
	      const char *fmt, va_list ap)
{
	int n = snprintf(why, whyn, "%s %llu: ", unit,
			 (unsigned long long)line);

	if (n >= 0 && (size_t)n < whyn)
		vsnprintf(why + n, whyn - n, fmt, ap);
	return -1;
}

uint64_t fs_id(const char *s, size_t n)
{
	const char *p = s;
	uint64_t v;

	n = len_of(s, n);
	if (scan_u64(&p, s + n, &v) > 0 && p == s + n)
		return v;
	return fs_hash64(s, n);
}

int64_t fs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int64_t fs_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}
