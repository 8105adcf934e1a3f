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

#define LONGOPTS_MAX 64

/* Whether the tool's own options already take short c or long name. */
static int has_short(const char *shortopts, int c)
{
	return strchr(shortopts, c) != NULL;
}

static int has_long(const struct option *lo, const char *name)
{
	for (; lo->name; lo++)
		if (strcmp(lo->name, name) == 0)
			return 1;
	return 0;
}

/*
 * The tool's options plus the Kafka options every tool takes (-X, -F,
 * -e, --exit-at-end, --connect-timeout; fs_kafka_opt) and the
 * checkpoint options (--state, --job, --stage, --checkpoint-interval;
 * fs_pipeline_opt), each only where the tool has no option of that name
 * itself.
 */
static const struct option *merged(const char *shortopts,
				   const struct option *longopts, char *spec,
				   size_t n)
{
	static struct option all[LONGOPTS_MAX];
	static const struct option common[] = {
		{ "connect-timeout", required_argument, NULL,
		  FS_OPT_CONNECT_TIMEOUT },
		{ "exit-at-end", no_argument, NULL, FS_OPT_EXIT_AT_END },
		{ "state", required_argument, NULL, FS_OPT_STATE },
		{ "job", required_argument, NULL, FS_OPT_JOB },
		{ "stage", required_argument, NULL, FS_OPT_STAGE },
		{ "checkpoint-interval", required_argument, NULL,
		  FS_OPT_CKPT_INTERVAL },
	};
	size_t i = 0, len;

	snprintf(spec, n, ":%s", shortopts);
	len = strlen(spec);
	if (!has_short(shortopts, 'X') && len + 2 < n)
		len += (size_t)snprintf(spec + len, n - len, "X:");
	if (!has_short(shortopts, 'F') && len + 2 < n)
		len += (size_t)snprintf(spec + len, n - len, "F:");
	if (!has_short(shortopts, 'e') && len + 1 < n)
		snprintf(spec + len, n - len, "e");
	for (; longopts[i].name; i++) {
		if (i + 7 >= LONGOPTS_MAX)
			fs_bug("more than %d long options", LONGOPTS_MAX - 7);
		all[i] = longopts[i];
	}
	for (size_t j = 0; j < sizeof(common) / sizeof(common[0]); j++)
		if (!has_long(longopts, common[j].name))
			all[i++] = common[j];
	memset(&all[i], 0, sizeof(all[i]));
	return all;
}

int fs_getopt(int argc, char **argv, const char *shortopts,
	      const struct option *longopts)
{
	char spec[80];
	const struct option *lo = merged(shortopts, longopts, spec,
					 sizeof(spec));
	int c;

	opterr = 0;
	for (;;) {
		c = getopt_long(argc, argv, spec, lo, NULL);
		if (c == ':')
			fs_usage_error("option '%s' needs an argument",
				       argv[optind - 1]);
		if (c == '?') {
			if (optopt)
				fs_usage_error("unknown option '-%c'", optopt);
			fs_usage_error("unknown option '%s'",
				       argv[optind - 1]);
		}
		if (c == -1 || (c < 256 && has_short(shortopts, c)) ||
		    (!fs_kafka_opt(c, optarg) && !fs_pipeline_opt(c, optarg)))
			return c;
	}
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
