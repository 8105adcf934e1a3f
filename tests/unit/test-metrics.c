/*
 * test-metrics.c - unit tests of libcommon/metrics.c: the Prometheus
 * text file (written, read back and checked line by line), the once a
 * second rewrite, failure on a bad path, and the progress line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs.h"

static char dir[64];

static int setup(void **st)
{
	(void)st;
	snprintf(dir, sizeof(dir), "/tmp/fs-test-metrics.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
	char cmd[128];

	(void)st;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The whole file at path, NUL terminated (caller frees), or NULL. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = fs_xmalloc(1 << 16);
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line))) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p++;
	}
	return 0;
}

/*
 * The value of the sample line that starts with prefix (name and
 * labels), read back with strtod; NAN when there is none.
 */
static double sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p = text;
	char *end;
	double v;

	while (p && *p) {
		if (!strncmp(p, prefix, n) && p[n] == ' ') {
			v = strtod(p + n + 1, &end);
			return *end == '\n' ? v : NAN;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NAN;
}

/*
 * Every line is "# HELP name text", "# TYPE name kind" or
 * name{tool="..."[,quantile="q"]} value, and every sample's family has a
 * TYPE line before it.
 */
static void check_syntax(const char *text)
{
	char typed[4096] = " ";
	const char *p = text, *nl, *brace;
	char name[256], *end;
	size_t n, tl = 1;

	while (*p) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		if (!strncmp(p, "# HELP fs_", 10)) {
			p = nl + 1;
			continue;
		}
		if (!strncmp(p, "# TYPE fs_", 10)) {
			n = strcspn(p + 7, " ");
			assert_true(n < sizeof(name) - 2);
			memcpy(name, p + 7, n);
			name[n] = 0;
			assert_true(tl + n + 2 < sizeof(typed));
			memcpy(typed + tl, name, n);
			tl += n;
			typed[tl++] = ' ';
			typed[tl] = 0;
			p = nl + 1;
			continue;
		}
		brace = strchr(p, '{');
		assert_true(brace && brace < nl && !strncmp(p, "fs_", 3));
		n = (size_t)(brace - p);
		memcpy(name, p, n);
		name[n] = 0;
		/* A summary's _sum and _count belong to its family. */
		if (!strstr(typed, name)) {
			if (n > 4 && !strcmp(name + n - 4, "_sum"))
				name[n - 4] = 0;
			else if (n > 6 && !strcmp(name + n - 6, "_count"))
				name[n - 6] = 0;
		}
		assert_non_null(strstr(typed, name));
		assert_true(!strncmp(brace, "{tool=\"test-metrics\"", 20));
		p = strstr(brace, "} ");
		assert_true(p && p < nl);
		if (strncmp(p + 2, "NaN\n", 4) && strncmp(p + 2, "+Inf\n", 5) &&
		    strncmp(p + 2, "-Inf\n", 5)) {
			strtod(p + 2, &end);
			assert_true(end == nl);
		}
		p = nl + 1;
	}
}

static void test_null(void **st)
{
	uint64_t c = 0;
	double g = 0;
	struct fs_hist h;

	(void)st;
	fs_hist_init(&h);
	assert_null(fs_metrics_open(NULL));
	fs_metrics_counter(NULL, "x", "x", &c);
	fs_metrics_gauge(NULL, "y", "y", &g);
	fs_metrics_summary(NULL, "z", "z", &h);
	fs_metrics_tick(NULL);
	fs_metrics_close(NULL);
}

/* Register one of each, close, read the file back. */
static void test_file(void **st)
{
	char path[128], tmp[140], *text, pfx[160];
	uint64_t records = 42, big = UINT64_MAX / 4;
	double lag = 1.25, bad = NAN, inf = INFINITY;
	struct fs_metrics *m;
	struct fs_hist h;
	struct stat sb;
	int i;

	(void)st;
	snprintf(path, sizeof(path), "%s/m.prom", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fs_hist_init(&h);
	for (i = 1; i <= 1000; i++)
		fs_hist_add(&h, (int64_t)i * 1000000);	/* 1..1000 ms */
	m = fs_metrics_open(path);
	assert_non_null(m);
	/* The file exists (empty) from open on. */
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	fs_metrics_counter(m, "records_in_total", "Records read.", &records);
	fs_metrics_counter(m, "big_total", "A \\ tricky\nhelp.", &big);
	fs_metrics_gauge(m, "lag_seconds", "Event-time lag.", &lag);
	fs_metrics_gauge(m, "bad-name", "Not a number.", &bad);
	fs_metrics_gauge(m, "fs_inf", "Infinite.", &inf);
	fs_metrics_summary(m, "latency_seconds", "Latency.", &h);
	records = 43;	/* values are read at write time */
	fs_metrics_close(m);
	assert_int_not_equal(stat(tmp, &sb), 0);	/* no temp file left */
	text = slurp(path);
	assert_non_null(text);
	check_syntax(text);
	assert_true(has_line(text, "# HELP fs_records_in_total Records read."));
	assert_true(has_line(text, "# TYPE fs_records_in_total counter"));
	assert_true(has_line(text,
		"fs_records_in_total{tool=\"test-metrics\"} 43"));
	assert_true(has_line(text,
			     "# HELP fs_big_total A \\\\ tricky\\nhelp."));
	assert_true(sample(text, "fs_big_total{tool=\"test-metrics\"}") ==
		    (double)(UINT64_MAX / 4));
	assert_true(has_line(text, "# TYPE fs_lag_seconds gauge"));
	assert_true(has_line(text,
			     "fs_lag_seconds{tool=\"test-metrics\"} 1.25"));
	assert_true(has_line(text, "fs_bad_name{tool=\"test-metrics\"} NaN"));
	assert_true(has_line(text, "fs_inf{tool=\"test-metrics\"} +Inf"));
	assert_true(has_line(text, "# TYPE fs_latency_seconds summary"));
	for (i = 0; i < 4; i++) {
		static const char *const q[] = {"0.5", "0.9", "0.99", "0.999"};
		static const double want[] = {0.5, 0.9, 0.99, 0.999};
		double v;

		snprintf(pfx, sizeof(pfx), "fs_latency_seconds{tool=\""
			 "test-metrics\",quantile=\"%s\"}", q[i]);
		v = sample(text, pfx);
		if (!(fabs(v - want[i]) <= want[i] / 64))
			fail_msg("%s = %g, want %g", pfx, v, want[i]);
	}
	assert_true(fabs(sample(text, "fs_latency_seconds_sum"
				"{tool=\"test-metrics\"}") - 500.5) < 1e-9);
	assert_true(sample(text, "fs_latency_seconds_count"
			   "{tool=\"test-metrics\"}") == 1000);
	free(text);
}

/* tick rewrites the file about once a second, not more often. */
static void test_tick(void **st)
{
	char path[128], *text;
	uint64_t n = 1;
	struct fs_metrics *m;
	int64_t start;
	long ticks = 0;

	(void)st;
	snprintf(path, sizeof(path), "%s/tick.prom", dir);
	m = fs_metrics_open(path);
	fs_metrics_counter(m, "n_total", "Ticks.", &n);
	start = fs_mono_ns();
	/* Within the first ~0.9 s nothing new is written. */
	while (fs_mono_ns() - start < 900000000LL) {
		n++;
		ticks++;
		fs_metrics_tick(m);
	}
	text = slurp(path);
	assert_string_equal(text, "");
	free(text);
	/* Then a write comes within ~1.2 s of open, with a current value. */
	while (fs_mono_ns() - start < 1500000000LL) {
		n++;
		fs_metrics_tick(m);
		text = slurp(path);
		if (*text) {
			double v = sample(text, "fs_n_total"
					  "{tool=\"test-metrics\"}");

			assert_true(v >= 1 && v <= (double)n);
			free(text);
			break;
		}
		free(text);
	}
	assert_true(fs_mono_ns() - start < 1500000000LL);
	assert_true(ticks > 1000);
	fs_metrics_close(m);
	text = slurp(path);
	assert_true(sample(text, "fs_n_total{tool=\"test-metrics\"}") ==
		    (double)n);
	free(text);
}

/* A path in a missing folder: the tool dies with exit 1 at open. */
static void test_bad_path(void **st)
{
	char path[160];
	int status;
	pid_t pid;

	(void)st;
	snprintf(path, sizeof(path), "%s/no/such/dir/m.prom", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 2);
		fs_metrics_open(path);
		_exit(99);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), FS_EXIT_FAIL);
}

/* The progress line, forced on with FS_PROGRESS=1 into a file. */
static void test_progress(void **st)
{
	char path[128], *text;
	int fd, saved, due = 0, i;
	int64_t start;

	(void)st;
	snprintf(path, sizeof(path), "%s/progress", dir);
	setenv("FS_PROGRESS", "1", 1);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	saved = dup(2);
	dup2(fd, 2);
	/* Not due at once, and at most ~4 times a second after. */
	for (i = 0; i < 1000; i++)
		due += fs_progress_due();
	assert_int_equal(due, 0);
	start = fs_mono_ns();
	while (fs_mono_ns() - start < 1100000000LL)
		due += fs_progress_due();
	fs_progress("%d records", 1234);
	fs_progress_done();
	fs_progress_done();	/* a second done writes nothing */
	dup2(saved, 2);
	close(saved);
	close(fd);
	unsetenv("FS_PROGRESS");
	assert_true(due >= 3 && due <= 5);
	text = slurp(path);
	assert_string_equal(text, "\r1234 records\033[K\r\033[K");
	free(text);
}

int tool_main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_tick),
		cmocka_unit_test(test_bad_path),
		cmocka_unit_test(test_progress),
	};

	(void)argc;
	(void)argv;
	return cmocka_run_group_tests(tests, setup, teardown);
}
