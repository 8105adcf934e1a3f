/*
 * opt.c - option values: parse through the bounded parsers of parse.c,
 * or end with a usage error (exit 2) that names the option, the value
 * and what was wanted.  Every tool's numeric and duration options go
 * through here, so they all read and fail alike.
 */
#include <getopt.h>
#include <math.h>
#include <string.h>

#include "fs.h"

int fs_getopt(int argc, char **argv, const char *shortopts,
	      const struct option *longopts)
{
	char spec[64];
	int c;

	snprintf(spec, sizeof(spec), ":%s", shortopts);
	opterr = 0;
	c = getopt_long(argc, argv, spec, longopts, NULL);
	if (c == ':')
		fs_usage_error("option '%s' needs an argument",
			       argv[optind - 1]);
	if (c == '?') {
		if (optopt)
			fs_usage_error("unknown option '-%c'", optopt);
		fs_usage_error("unknown option '%s'", argv[optind - 1]);
	}
	return c;
}

int64_t fs_opt_i64(const char *opt, const char *s, int64_t lo, int64_t hi)
{
	int64_t v;

	if (fs_parse_i64(s, (size_t)-1, lo, hi, &v) < 0)
		fs_usage_error("bad %s '%s': want a whole number from %lld "
			       "to %lld", opt, s, (long long)lo, (long long)hi);
	return v;
}

double fs_opt_f64(const char *opt, const char *s, double lo, double hi)
{
	double v;

	if (fs_parse_f64(s, (size_t)-1, &v) < 0 || !isfinite(v) ||
	    v < lo || v > hi)
		fs_usage_error("bad %s '%s': want a number from %g to %g", opt,
			       s, lo, hi);
	return v;
}

int64_t fs_opt_duration(const char *opt, const char *s, size_t n,
			int64_t lo, int64_t hi)
{
	int64_t v;
	int len = (int)(n == (size_t)-1 ? strlen(s) : n);

	if (fs_parse_duration(s, n, &v) < 0 || v < lo || v > hi)
		fs_usage_error("bad %s '%.*s': want a duration such as 250ms, "
			       "2s or 1m30s, %s", opt, len, s,
			       lo > 0 ? "above zero" : "zero or more");
	return v;
}
